//! lee-stdio's library half: the parts of the stdio harness that other crates
//! (the fuzz targets) reach, separate from the `lee` binary's argument
//! handling and I/O loop.
//!
//! What it is for: [`frames`] cuts a byte stream into events, one per line or
//! one pretty-printed document over several lines, with a bound on what is
//! kept. The `lee` binary reads stdin through it. [`doctor`] is `lee doctor`.
//!
//! What it must never do: hold bridge logic (that lives in lee-core and
//! lee-host), or grow with the input's size.

pub mod doctor;
pub mod frames;
