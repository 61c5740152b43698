//! The kept-alive connection to Home Assistant across a frozen Lambda:
//! which connection may be reused, and when a request that failed is sent
//! once more.
//!
//! Lambda freezes the sandbox between invocations. Meanwhile the server
//! (Home Assistant's aiohttp, nginx: 75 s; Apache: 5 s) closes the idle
//! keep-alive connection, and the frozen process never sees that close. Two
//! rules keep the first directive after a quiet evening from failing:
//!
//! 1. **Idle too long, not reused.** A connection idle for
//!    `KEEPALIVE_TIMEOUT_S` (default [`DEFAULT_KEEP_ALIVE`], below the 75 s
//!    of aiohttp and nginx) is closed instead of reused. Idle time is
//!    measured on both the monotonic and the wall clock, and the larger
//!    counts: a monotonic clock need not advance while the sandbox is frozen,
//!    the wall clock does (and a wall clock set back cannot shorten it).
//! 2. **Closed unread, sent again.** See [`Attempt::closed_unread`]: a
//!    request that failed on a reused connection before any byte of an
//!    answer, by a reset, a broken pipe or an end of stream, is sent once
//!    more on a fresh connection.
//!
//! The pieces: [`Lifecycle`] is the state the transport and its connections
//! share; [`TrackConnections`] is a ureq connector at the end of the
//! connector chain that wraps every new connection in a [`Tracked`], which
//! records when it was last used, how many requests it carried, and whether
//! an answer began on the current one.

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};

/// How long a connection may stay idle and still be reused, unless
/// `KEEPALIVE_TIMEOUT_S` says otherwise: below the 75 s after which Home
/// Assistant's own server (aiohttp; measured with the harness: it closed an
/// idle connection after 75 s) and nginx close one, with room for the
/// request's own travel time.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(60);

/// A moment on both clocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The monotonic clock, which may stand still while the sandbox is frozen.
    pub monotonic: std::time::Instant,
    /// The wall clock, which keeps going through a freeze.
    pub wall: SystemTime,
}

impl Stamp {
    /// How long it has been from `earlier` to `self`: the larger of the two
    /// clocks' differences (a wall clock that went back counts as zero).
    pub fn since(self, earlier: Stamp) -> Duration {
        let monotonic = self.monotonic.saturating_duration_since(earlier.monotonic);
        let wall = self.wall.duration_since(earlier.wall).unwrap_or_default();
        monotonic.max(wall)
    }
}

/// Where the connections read the time. Tests move a manual one to stand
/// for a freeze.
pub trait Clocks: Send + Sync + fmt::Debug {
    /// Now, on both clocks.
    fn now(&self) -> Stamp;
}

/// The system's clocks.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClocks;

impl Clocks for SystemClocks {
    fn now(&self) -> Stamp {
        Stamp {
            monotonic: std::time::Instant::now(),
            wall: SystemTime::now(),
        }
    }
}

/// What the current request's connection did, as far as the rule for
/// sending it again needs to know.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attempt {
    /// It went out on a connection that had carried a request before.
    pub reused: bool,
    /// How long that connection had been idle.
    pub idle: Duration,
    /// At least one byte of an answer arrived.
    pub answer_began: bool,
}

impl Attempt {
    /// Whether a request that failed with `error` may be sent again on a
    /// fresh connection: the rule that keeps the first directive after a
    /// freeze from failing, and the only place lee sends a request twice.
    ///
    /// It may when the connection was **reused**, **no byte of an answer
    /// arrived**, and the connection ended by a **reset, a broken pipe or an
    /// end of stream**. A server reads requests on a kept-alive connection one
    /// at a time and answers each before it reads the next; one that closes
    /// the connection without answering closed it while it was idle, before
    /// the request arrived (or, on a reset, as the request arrived into a
    /// connection it had already closed). It never read this request, so Home
    /// Assistant cannot have acted on it, and sending it once more is safe
    /// even for a directive that turns something on.
    ///
    /// It may not on a fresh connection: there the same failure can mean the
    /// server read the request and then died, and a request that may have
    /// reached Home Assistant is never sent twice. Nor on a timeout (the
    /// server may be working on it), nor once an answer began.
    pub fn closed_unread(&self, error: &io::Error) -> bool {
        self.reused
            && !self.answer_began
            && matches!(
                error.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
            )
    }
}

#[derive(Debug)]
struct Shared {
    keep_alive: Duration,
    /// Connections made before the current generation are not reused.
    generation: u64,
    attempt: Attempt,
}

/// The state the transport and its connections share.
#[derive(Clone, Debug)]
pub struct Lifecycle {
    shared: Arc<Mutex<Shared>>,
    clocks: Arc<dyn Clocks>,
}

impl Lifecycle {
    /// Connections that are not reused after `keep_alive` idle, timed by `clocks`.
    pub fn new(keep_alive: Duration, clocks: Arc<dyn Clocks>) -> Self {
        Lifecycle {
            shared: Arc::new(Mutex::new(Shared {
                keep_alive,
                generation: 0,
                attempt: Attempt::default(),
            })),
            clocks,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // Nothing can be left half-written under this lock: recover from a
        // panic elsewhere rather than spread it.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A request is about to be sent: forget what the last one did.
    pub fn begin(&self) {
        self.lock().attempt = Attempt::default();
    }

    /// What the current request's connection did.
    pub fn attempt(&self) -> Attempt {
        self.lock().attempt
    }

    /// Never reuse a connection open now: the next request gets a fresh one.
    pub fn retire_open_connections(&self) {
        self.lock().generation += 1;
    }
}

/// The last connector of the chain: wraps each new connection in a [`Tracked`].
#[derive(Debug)]
pub struct TrackConnections(pub Lifecycle);

impl<In: Transport> Connector<In> for TrackConnections {
    type Out = Tracked<In>;

    fn connect(
        &self,
        _details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Tracked<In>>, ureq::Error> {
        let Some(inner) = chained else {
            return Ok(None);
        };
        let generation = self.0.lock().generation;
        Ok(Some(Tracked {
            inner,
            lifecycle: self.0.clone(),
            generation,
            last_used: self.0.clocks.now(),
            requests: 0,
            sending: false,
        }))
    }
}

/// One connection, with what the rules need to know of it.
#[derive(Debug)]
pub struct Tracked<T> {
    inner: T,
    lifecycle: Lifecycle,
    generation: u64,
    last_used: Stamp,
    /// Requests started on this connection.
    requests: u32,
    /// Between the first write of a request and the first wait for its answer.
    sending: bool,
}

impl<T: Transport> Transport for Tracked<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let now = self.lifecycle.clocks.now();
        if !self.sending {
            // The first write of a new request.
            self.sending = true;
            self.lifecycle.lock().attempt = Attempt {
                reused: self.requests > 0,
                idle: now.since(self.last_used),
                answer_began: false,
            };
            self.requests = self.requests.saturating_add(1);
        }
        self.last_used = now;
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.sending = false;
        let progress = self.inner.await_input(timeout);
        if matches!(progress, Ok(true)) {
            self.lifecycle.lock().attempt.answer_began = true;
        }
        self.last_used = self.lifecycle.clocks.now();
        progress
    }

    fn is_open(&mut self) -> bool {
        let now = self.lifecycle.clocks.now();
        let reusable = {
            let shared = self.lifecycle.lock();
            self.generation == shared.generation && now.since(self.last_used) < shared.keep_alive
        };
        reusable && self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(monotonic_s: u64, wall_s: u64) -> Stamp {
        // One origin for every stamp of a test.
        static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let origin = *ORIGIN.get_or_init(std::time::Instant::now);
        Stamp {
            monotonic: origin + Duration::from_secs(monotonic_s),
            wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + wall_s),
        }
    }

    #[test]
    fn a_freeze_counts_though_the_monotonic_clock_stood_still() {
        // Frozen for an hour: the monotonic clock moved 1 s, the wall clock 3600 s.
        assert_eq!(stamp(1, 3600).since(stamp(0, 0)), Duration::from_secs(3600));
    }

    #[test]
    fn a_wall_clock_set_back_does_not_shorten_idle_time() {
        assert_eq!(stamp(90, 0).since(stamp(0, 100)), Duration::from_secs(90));
    }

    #[test]
    fn only_a_reused_connection_closed_before_any_answer_is_sent_again() {
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        let reused = Attempt {
            reused: true,
            idle: Duration::from_secs(30),
            answer_began: false,
        };
        for kind in [
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::ConnectionAborted,
            io::ErrorKind::BrokenPipe,
            io::ErrorKind::UnexpectedEof,
        ] {
            assert!(reused.closed_unread(&io::Error::from(kind)), "{kind:?}");
        }
        // A fresh connection: the server may have read it, then died.
        let fresh = Attempt {
            reused: false,
            ..reused
        };
        assert!(!fresh.closed_unread(&reset));
        // An answer began: the server read it.
        let answered = Attempt {
            answer_began: true,
            ..reused
        };
        assert!(!answered.closed_unread(&reset));
        // A timeout: the server may be working on it.
        assert!(!reused.closed_unread(&io::Error::from(io::ErrorKind::TimedOut)));
        assert!(!reused.closed_unread(&io::Error::from(io::ErrorKind::ConnectionRefused)));
    }
}
