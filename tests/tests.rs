//! govwatch's integration tests: one test binary, one module per area.
//! Tests that need the shared real data say "NOT RUN" plainly when it is
//! absent (see `support::shared`).

mod support;
// The fuzz targets, seeds and mutator, shared with `cargo bench --bench fuzz`.
#[path = "../benches/fuzzing/mod.rs"]
mod fuzzing;

mod alerts;
mod alerts_smtp;
mod article;
mod browser;
mod calendar;
mod cli;
mod config_bounds;
mod conformance;
mod console_hostile;
mod console_nodes;
mod county;
mod crash;
mod daemon;
mod exports;
mod fetch_hostile;
mod fetch_http;
mod fuzz_short;
mod hostile_exports;
mod hostile_run;
mod identity;
mod inspect;
mod linkcheck;
mod masking;
mod multinode;
mod officer_words;
mod own_docnos;
mod packaging;
mod repost_labelled;
mod reposts;
mod search_exact;
mod smtp;
mod store_copy;
mod web;
