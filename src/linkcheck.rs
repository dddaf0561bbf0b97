//! Checking links (IO): HEAD, then GET when HEAD is refused, bounded per host.
