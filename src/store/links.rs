//! The link checker's memory per URL (`link_checks`).
