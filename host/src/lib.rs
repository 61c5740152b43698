//! lee-host: the std side of lee, shared by every frontend (the Lambda
//! binary, the stdio harness, the cost driver).
//!
//! What it is for: turning lee-core's decisions into a running bridge. It
//! reads the configuration from the environment ([`config`]), talks HTTPS to
//! Home Assistant with one long-lived ureq agent ([`transport`]), supplies
//! the clock and randomness the core asks for, and owns the engine's memory:
//! the cache, the slot pool and the answer buffer, all sized from
//! budget-checked [`Capacities`](lee_core::budget::Capacities).
//!
//! The modules: [`bridge`] answers one event (the event loop and routing,
//! with a file per kind of event); [`config`] and [`reload`] read the
//! configuration; [`transport`] and [`connection`] talk to Home Assistant;
//! [`ops`] and [`services`] are the engine ops and what they may call;
//! [`skill`] reads and writes custom-skill messages; [`logging`], [`emf`]
//! and [`report`] are what lee tells the world; [`parameters`] reads the
//! ops token from Parameter Store.
//!
//! What it must never do: panic on an event, grow memory with an event's
//! size, or let a token reach a log line or an answer.

pub mod bridge;
mod clock;
pub mod config;
pub mod connection;
pub mod doctor;
pub mod emf;
pub mod logging;
pub mod ops;
pub mod parameters;
pub mod reload;
pub mod report;
pub mod services;
mod skill;
pub mod tls;
pub mod tls_failure;
pub mod transport;

pub use bridge::{Answer, Bridge, Handled, Invocation, Outcome, Stages, StartError};
pub use clock::MonotonicClock;
pub use config::MIN_RESPONSE_BUFFER;
