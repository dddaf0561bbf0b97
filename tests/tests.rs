//! govwatch's integration tests: one test binary, one module per area.
//! Tests that need the shared real data say "NOT RUN" plainly when it is
//! absent (see `support::shared`).

mod support;

mod alerts;
mod alerts_smtp;
mod article;
mod browser;
mod calendar;
mod cli;
mod conformance;
mod county;
mod crash;
mod daemon;
mod exports;
mod fetch_hostile;
mod fetch_http;
mod hostile_exports;
mod identity;
mod inspect;
mod linkcheck;
mod masking;
mod officer_words;
mod own_docnos;
mod packaging;
mod repost_labelled;
mod reposts;
mod search_exact;
mod smtp;
mod web;
