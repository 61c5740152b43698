//! lee's benchmarks (criterion). The library is empty: the benchmarks live in
//! `benches/`, each named after what it measures. Run them with
//! `cargo bench -p lee-bench`; those that need the real Home Assistant of
//! `../shared/ha` skip when its harness is not running.
