//! lee-core: the engine at the centre of lee, the Alexa ⇄ Home Assistant bridge.
//!
//! What it is for: every decision lee makes about one event that does not need
//! the outside world. Which handler serves a route ([`dispatch`]), whether an
//! answer is already known ([`cache`]), whether Home Assistant is worth calling
//! right now ([`breaker`]), whether and when to try again ([`retry`]), where a
//! module's working memory lives and when it is given back ([`slots`]), whether
//! a configuration fits in the Lambda's memory at all ([`budget`]), and what
//! happened ([`metrics`]).
//!
//! The flow through it: a frontend classifies an event and asks the gateway to
//! dispatch `(interface, operation)`. A cache hit is answered at once without
//! touching the handler's module; otherwise the module is loaded into a slot
//! on first use (LIGS, "load it when it's going to be served"), the handler
//! runs with the slot's arena as scratch memory and talks to Home Assistant
//! through the frontend's transport, guarded by a breaker and a retry plan that
//! respects the event's deadline. Afterwards the slot is reclaimed according
//! to its policy (LUGS, "let it go when done serving": its arena is zeroed and
//! returned to the pool) and the metrics are updated.
//!
//! What it must never do: perform I/O, read a clock or the environment, or
//! allocate. It is `#![no_std]` and builds with no allocator at all; every
//! collection has a capacity fixed when it is constructed, with storage the
//! caller supplies (arrays on bare metal, boxed slices in the frontends), and
//! a request that would exceed a bound gets a typed error, never growth. Time
//! comes in as an [`Instant`](time::Instant) argument, so every state machine
//! is deterministic under test.
#![cfg_attr(not(test), no_std)]

pub mod alexa;
pub mod arena;
pub mod breaker;
pub mod bridge;
pub mod budget;
pub mod cache;
pub mod discovery;
pub mod dispatch;
pub mod event;
pub mod failure;
pub mod guard;
pub mod ha;
pub mod hash;
pub mod json;
pub mod metrics;
pub mod module;
pub mod retry;
pub mod slots;
pub mod time;
pub mod transport;
