//! lee's benchmarks. The library is empty: the benchmarks live in
//! `benches/`, each saying at its top what it measures and how. Run them with
//! `cargo bench -p lee-bench`; those that need the real Home Assistant of
//! `../shared/ha` skip when its harness is not running.
