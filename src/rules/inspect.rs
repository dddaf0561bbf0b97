//! Website inspection (政府网站检查): stale and empty columns, dead links,
//! personal data in published items, unhealthy sources. Pure.
