//! Cross-crate integration tests for lee.
//!
//! The library is empty on purpose: the tests live in `tests/` and exercise
//! lee-core (and, as they arrive, the host adapters and frontends) the way a
//! frontend uses them: storage sized from budget-checked capacities, a clock
//! the test controls, and a scripted Home Assistant in place of the network.
