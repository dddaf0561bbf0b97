//! govwatch: watches government portals, hotline and message-board exports for
//! a Chinese local government's disclosure office (政务公开办) and 12345 hotline.
//!
//! The data flows one way (see ARCHITECTURE.md):
//!
//! ```text
//! sources ──fetch/parse──▶ normalize ──▶ store (SQLite: the truth) ──▶ index (tantivy: derived)
//! ```
//!
//! Modules that do IO are named for it (`sources::fetch`, `linkcheck`, `store`,
//! `index`, `poll`, `daemon`, `cli`); everything else is pure and takes `now` and its
//! configuration as arguments.

pub mod alerts;
pub mod calendar;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod findings;
pub mod glossary;
pub mod import;
pub mod index;
pub mod linkcheck;
pub mod mailer;
pub mod model;
pub mod normalize;
pub mod poll;
pub mod rules;
pub mod sources;
pub mod store;
pub mod web;
