//! Where items come from: fetching (`fetch`, the only IO here; `address`
//! decides which addresses it may reach), charset
//! decoding (`charset`), and parsing feeds (`feed`) and column pages (`page`).
//! Exports (CSV/XLSX) will join as `export`.

pub mod address;
pub mod article;
pub mod charset;
pub mod export;
pub mod feed;
pub mod fetch;
pub mod page;
