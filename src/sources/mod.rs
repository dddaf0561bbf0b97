//! Where items come from: fetching (`fetch`, the only IO here), charset
//! decoding (`charset`), and parsing feeds (`feed`) and column pages (`page`).
//! Exports (CSV/XLSX) will join as `export`.

pub mod charset;
pub mod export;
pub mod feed;
pub mod fetch;
pub mod page;
