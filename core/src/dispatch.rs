//! Dispatch, the gateway: from `(interface, operation)` to the handler that serves it.
//!
//! What it is for: an engine op names an interface and an operation, such
//! as `("ha", "states")`. The [`Gateway`] holds a fixed-capacity table of
//! [`Route`]s, one per `(interface, operation)`; each names the module slot
//! its handler runs in and whether its answers may be cached. (Directives
//! do not come through a gateway: one handler serves them all and none is
//! cached, so they run in the Alexa module's slot directly, with
//! [`SlotPool::run`].)
//!
//! The flow of [`Gateway::dispatch`]:
//! 1. look the route up; an unknown route is [`DispatchError::UnknownRoute`];
//! 2. cache first: when the call carries a cache key and the route is
//!    cacheable, a fresh cached answer is copied out and returned, and the
//!    handler's module slot is not touched at all;
//! 3. otherwise run the handler in the route's slot ([`SlotPool::run`]:
//!    acquired, loading the module if needed; its arena lent as the handler's
//!    working memory next to the caller's output buffer; released always,
//!    even when the handler fails, so the slot's reclaim policy applies), and
//!    cache a successful answer.
//!
//! What it must never do: run a handler for a cache hit, or leave a slot
//! acquired after dispatch returns.

use core::fmt;
use core::time::Duration;

use crate::cache::{Cache, EntrySlot};
use crate::hash::stable_hash;
use crate::slots::{Arena, Load, SlotEntry, SlotError, SlotId, SlotPool};
use crate::time::Instant;

/// Whether a route's answers may be cached, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caching {
    /// Never cached (service calls, anything with a side effect).
    Never,
    /// Cached for this long when the call carries a cache key.
    For(Duration),
}

/// One row of the route table.
#[derive(Clone, Copy, Debug)]
pub struct Route<H> {
    /// The interface, e.g. `ha`.
    pub interface: &'static str,
    /// The operation served, e.g. `ha.states`.
    pub operation: &'static str,
    /// The module slot the handler runs in.
    pub slot: SlotId,
    /// Whether answers are cached.
    pub caching: Caching,
    /// What the caller runs for this route (a function, an enum, ...).
    pub handler: H,
    interface_hash: u64,
}

impl<H> Route<H> {
    /// A route from `(interface, operation)` to `handler`, run in `slot`.
    pub fn new(
        interface: &'static str,
        operation: &'static str,
        slot: SlotId,
        caching: Caching,
        handler: H,
    ) -> Self {
        Route {
            interface,
            operation,
            slot,
            caching,
            handler,
            interface_hash: stable_hash(interface.as_bytes()),
        }
    }
}

/// One call to dispatch.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    /// The interface named by the event.
    pub interface: &'a str,
    /// The operation named by the event.
    pub operation: &'a str,
    /// The key its answer is cached under, when the answer may be shared.
    pub cache_key: Option<&'a [u8]>,
}

/// How a call was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// From the cache; no handler ran and no slot was touched.
    Cached {
        /// Bytes written to the output buffer.
        len: usize,
    },
    /// By the handler.
    Handled {
        /// Bytes written to the output buffer.
        len: usize,
        /// How the handler's module was found.
        load: Load,
        /// Whether the slot was reclaimed on release.
        reclaimed: bool,
        /// Whether the answer was stored in the cache.
        cached: bool,
    },
}

impl Served {
    /// Bytes written to the output buffer.
    pub fn len(&self) -> usize {
        match *self {
            Served::Cached { len } | Served::Handled { len, .. } => len,
        }
    }

    /// Whether the answer is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a call was not served. `E` is the handler's own error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DispatchError<E> {
    /// No route for `(interface, operation)`.
    UnknownRoute,
    /// The route table is full.
    TableFull,
    /// A route for the same `(interface, operation)` already exists.
    DuplicateRoute,
    /// The handler's module could not be given a slot.
    Slot(SlotError),
    /// The output buffer is smaller than the answer.
    OutputTooSmall {
        /// Bytes the answer needs.
        needed: usize,
        /// Bytes the buffer has.
        capacity: usize,
    },
    /// The handler failed.
    Handler(E),
}

impl<E: fmt::Display> fmt::Display for DispatchError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DispatchError::UnknownRoute => {
                f.write_str("no route serves this interface and operation")
            }
            DispatchError::TableFull => f.write_str("the route table is full"),
            DispatchError::DuplicateRoute => {
                f.write_str("that interface and operation already have a route")
            }
            DispatchError::Slot(e) => write!(f, "module slot: {e}"),
            DispatchError::OutputTooSmall { needed, capacity } => write!(
                f,
                "the answer needs {needed} bytes but the output buffer holds {capacity}"
            ),
            DispatchError::Handler(e) => write!(f, "handler: {e}"),
        }
    }
}

/// The route table: at most `N` routes.
pub struct Gateway<H, const N: usize> {
    routes: heapless::Vec<Route<H>, N>,
}

impl<H, const N: usize> Default for Gateway<H, N> {
    fn default() -> Self {
        Gateway {
            routes: heapless::Vec::new(),
        }
    }
}

impl<H, const N: usize> Gateway<H, N> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a route. Two routes may not serve the same `(interface, operation)`.
    pub fn add<E>(&mut self, route: Route<H>) -> Result<(), DispatchError<E>> {
        if self.routes.iter().any(|r| {
            r.interface_hash == route.interface_hash
                && r.interface == route.interface
                && r.operation == route.operation
        }) {
            return Err(DispatchError::DuplicateRoute);
        }
        self.routes
            .push(route)
            .map_err(|_| DispatchError::TableFull)
    }

    /// The route serving `(interface, operation)`.
    pub fn route<E>(
        &self,
        interface: &str,
        operation: &str,
    ) -> Result<&Route<H>, DispatchError<E>> {
        let hash = stable_hash(interface.as_bytes());
        self.routes
            .iter()
            .find(|r| {
                r.interface_hash == hash && r.interface == interface && r.operation == operation
            })
            .ok_or(DispatchError::UnknownRoute)
    }

    /// The routes, in the order they were added.
    pub fn routes(&self) -> &[Route<H>] {
        &self.routes
    }

    /// Serve one call: cache first, else the route's handler in its module
    /// slot. `handler` is given the route's handler value, the slot's arena,
    /// the cache (a handler that fetches many answers at once may file them
    /// all) and the output buffer, and returns how many bytes it wrote.
    #[allow(clippy::too_many_arguments)]
    pub fn dispatch<E, CE, CB, M, T>(
        &self,
        call: &Call<'_>,
        now: Instant,
        cache: &mut Cache<CE, CB>,
        slots: &mut SlotPool<M, T>,
        out: &mut [u8],
        handler: impl FnOnce(&H, &mut Arena<'_>, &mut Cache<CE, CB>, &mut [u8]) -> Result<usize, E>,
    ) -> Result<Served, DispatchError<E>>
    where
        CE: AsRef<[EntrySlot]> + AsMut<[EntrySlot]>,
        CB: AsRef<[u8]> + AsMut<[u8]>,
        M: AsRef<[u8]> + AsMut<[u8]>,
        T: AsRef<[SlotEntry]> + AsMut<[SlotEntry]>,
    {
        let route = self.route(call.interface, call.operation)?;
        let cache_for = match (route.caching, call.cache_key) {
            (Caching::For(ttl), Some(key)) => Some((key, ttl)),
            _ => None,
        };
        if let Some((key, _)) = cache_for
            && let Some(hit) = cache.get(key, now)
        {
            let capacity = out.len();
            let dst = out
                .get_mut(..hit.len())
                .ok_or(DispatchError::OutputTooSmall {
                    needed: hit.len(),
                    capacity,
                })?;
            dst.copy_from_slice(hit);
            return Ok(Served::Cached { len: hit.len() });
        }

        let module = slots.view(route.slot).map_err(DispatchError::Slot)?.module;
        let ran = slots
            .run(route.slot, now, |arena| {
                handler(&route.handler, arena, cache, out)
            })
            .map_err(DispatchError::Slot)?;
        let (load, reclaimed) = (ran.load, ran.reclaimed);
        let len = ran.value.map_err(DispatchError::Handler)?;
        let answer = out.get(..len).ok_or(DispatchError::OutputTooSmall {
            needed: len,
            capacity: out.len(),
        })?;
        let cached = match cache_for {
            Some((key, ttl)) => {
                !ttl.is_zero() && cache.insert(key, module, answer, ttl, now).is_ok()
            }
            None => false,
        };
        Ok(Served::Handled {
            len,
            load,
            reclaimed,
            cached,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::module::ModuleId;
    use crate::slots::Policy;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::vec::Vec;

    type TestCache = Cache<[EntrySlot; 32], [u8; 4096]>;
    type TestSlots = SlotPool<[u8; 1024], [SlotEntry; 4]>;

    /// What a route's handler does, as data.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Handler {
        Discovery,
        Control,
        Fail,
    }

    const TTL: Duration = Duration::from_secs(5);

    struct Engine {
        gateway: Gateway<Handler, 4>,
        cache: TestCache,
        slots: TestSlots,
        bridge: SlotId,
        runs: u32,
    }

    impl Engine {
        fn new(policy: Policy) -> Self {
            let mut slots = SlotPool::new([0; 1024], [SlotEntry::EMPTY; 4], 320, 100).unwrap();
            let bridge = slots.register(ModuleId(7), "alexa", policy).unwrap();
            let mut gateway = Gateway::new();
            for (interface, operation, caching, handler) in [
                (
                    "Alexa.Discovery",
                    "Discover",
                    Caching::For(TTL),
                    Handler::Discovery,
                ),
                (
                    "Alexa.PowerController",
                    "TurnOn",
                    Caching::Never,
                    Handler::Control,
                ),
                (
                    "Alexa.PowerController",
                    "TurnOff",
                    Caching::Never,
                    Handler::Control,
                ),
                (
                    "Alexa.PowerController",
                    "Explode",
                    Caching::For(TTL),
                    Handler::Fail,
                ),
            ] {
                gateway
                    .add::<()>(Route::new(interface, operation, bridge, caching, handler))
                    .unwrap();
            }
            Engine {
                gateway,
                cache: Cache::new([EntrySlot::EMPTY; 32], [0; 4096]),
                slots,
                bridge,
                runs: 0,
            }
        }

        fn call(
            &mut self,
            interface: &str,
            operation: &str,
            key: Option<&[u8]>,
            now: Instant,
            out: &mut [u8],
        ) -> Result<Served, DispatchError<&'static str>> {
            let call = Call {
                interface,
                operation,
                cache_key: key,
            };
            let runs = &mut self.runs;
            self.gateway.dispatch(
                &call,
                now,
                &mut self.cache,
                &mut self.slots,
                out,
                |handler, arena, _cache, out| {
                    *runs += 1;
                    // Scratch work in the slot's arena, as a real handler would.
                    arena.alloc_copy(b"scratch").map_err(|_| "arena full")?;
                    let answer: &[u8] = match handler {
                        Handler::Discovery => b"{\"endpoints\":[]}",
                        Handler::Control => b"{\"ok\":true}",
                        Handler::Fail => return Err("HA said no"),
                    };
                    out.get_mut(..answer.len())
                        .ok_or("too small")?
                        .copy_from_slice(answer);
                    Ok(answer.len())
                },
            )
        }
    }

    #[test]
    fn routes_by_interface_and_operation_else_unknown() {
        let e = Engine::new(Policy::Deferred);
        let exact = e
            .gateway
            .route::<()>("Alexa.PowerController", "Explode")
            .unwrap();
        assert_eq!(exact.handler, Handler::Fail);
        let turn_on = e
            .gateway
            .route::<()>("Alexa.PowerController", "TurnOn")
            .unwrap();
        assert_eq!(turn_on.handler, Handler::Control);
        assert_eq!(
            e.gateway
                .route::<()>("Alexa.PowerController", "Toggle")
                .err(),
            Some(DispatchError::UnknownRoute),
            "no route serves a whole interface"
        );
        assert_eq!(
            e.gateway.route::<()>("Alexa.Discovery", "TurnOn").err(),
            Some(DispatchError::UnknownRoute)
        );
        assert_eq!(
            e.gateway.route::<()>("Alexa.LockController", "Lock").err(),
            Some(DispatchError::UnknownRoute)
        );
    }

    #[test]
    fn table_refuses_duplicates_and_overflow() {
        let mut g: Gateway<Handler, 2> = Gateway::new();
        let slot = Engine::new(Policy::Deferred).bridge;
        let r = |op| Route::new("ha", op, slot, Caching::Never, Handler::Control);
        g.add::<()>(r("states")).unwrap();
        assert_eq!(g.add::<()>(r("states")), Err(DispatchError::DuplicateRoute));
        g.add::<()>(r("state")).unwrap();
        assert_eq!(g.add::<()>(r("find")), Err(DispatchError::TableFull));
        assert_eq!(g.routes().len(), 2);
    }

    #[test]
    fn a_cache_hit_never_touches_the_module_slot() {
        let mut e = Engine::new(Policy::Immediate);
        let mut out = [0u8; 64];
        let first = e
            .call(
                "Alexa.Discovery",
                "Discover",
                Some(b"discovery"),
                Instant::ZERO,
                &mut out,
            )
            .unwrap();
        assert_eq!(
            first,
            Served::Handled {
                len: 16,
                load: Load::Loaded,
                reclaimed: true,
                cached: true
            }
        );
        let before = e.slots.view(e.bridge).unwrap();
        out.fill(0);
        let second = e
            .call(
                "Alexa.Discovery",
                "Discover",
                Some(b"discovery"),
                Instant::from_millis(4_999),
                &mut out,
            )
            .unwrap();
        assert_eq!(second, Served::Cached { len: 16 });
        assert_eq!(&out[..16], b"{\"endpoints\":[]}");
        assert_eq!(e.runs, 1, "the handler did not run");
        assert_eq!(
            e.slots.view(e.bridge).unwrap(),
            before,
            "the slot was not touched"
        );
        assert!(!e.slots.is_loaded(e.bridge));
        // Once the TTL is over the handler runs again, in a reloaded slot.
        let third = e
            .call(
                "Alexa.Discovery",
                "Discover",
                Some(b"discovery"),
                Instant::from_millis(5_000),
                &mut out,
            )
            .unwrap();
        assert!(matches!(
            third,
            Served::Handled {
                load: Load::Reloaded,
                ..
            }
        ));
        assert_eq!(e.runs, 2);
    }

    #[test]
    fn uncacheable_routes_and_keyless_calls_always_run_the_handler() {
        let mut e = Engine::new(Policy::Deferred);
        let mut out = [0u8; 64];
        for _ in 0..3 {
            let served = e
                .call(
                    "Alexa.PowerController",
                    "TurnOn",
                    Some(b"light.kitchen"),
                    Instant::ZERO,
                    &mut out,
                )
                .unwrap();
            assert!(matches!(served, Served::Handled { cached: false, .. }));
            e.call("Alexa.Discovery", "Discover", None, Instant::ZERO, &mut out)
                .unwrap();
        }
        assert_eq!(e.runs, 6);
        assert!(e.cache.is_empty());
    }

    #[test]
    fn a_failing_handler_releases_its_slot_and_caches_nothing() {
        let mut e = Engine::new(Policy::Immediate);
        let mut out = [0u8; 64];
        let err = e
            .call(
                "Alexa.PowerController",
                "Explode",
                Some(b"k"),
                Instant::ZERO,
                &mut out,
            )
            .unwrap_err();
        assert_eq!(err, DispatchError::Handler("HA said no"));
        let view = e.slots.view(e.bridge).unwrap();
        assert_eq!(view.in_flight, 0);
        assert!(!view.loaded, "Immediate policy applied after the failure");
        assert!(e.cache.is_empty());
    }

    #[test]
    fn a_cached_answer_larger_than_the_output_is_a_clear_error() {
        let mut e = Engine::new(Policy::Deferred);
        let mut big = [0u8; 64];
        e.call(
            "Alexa.Discovery",
            "Discover",
            Some(b"d"),
            Instant::ZERO,
            &mut big,
        )
        .unwrap();
        let mut small = [0u8; 4];
        assert_eq!(
            e.call(
                "Alexa.Discovery",
                "Discover",
                Some(b"d"),
                Instant::ZERO,
                &mut small
            ),
            Err(DispatchError::OutputTooSmall {
                needed: 16,
                capacity: 4
            })
        );
    }

    #[test]
    fn an_exhausted_pool_is_reported_and_the_handler_does_not_run() {
        let mut e = Engine::new(Policy::Deferred);
        let mut out = [0u8; 64];
        // Three arenas of 320 bytes, all held by modules that may not be reclaimed.
        for i in 0..3u16 {
            let s = e
                .slots
                .register(ModuleId(100 + i), "core", Policy::Never)
                .unwrap();
            e.slots.acquire(s, Instant::ZERO).unwrap();
            e.slots.release(s, Instant::ZERO).unwrap();
        }
        assert_eq!(
            e.call("Alexa.Discovery", "Discover", None, Instant::ZERO, &mut out),
            Err(DispatchError::Slot(SlotError::PoolExhausted))
        );
        assert_eq!(e.runs, 0);
        assert_eq!(e.slots.view(e.bridge).unwrap().in_flight, 0);
    }

    #[derive(Clone, Debug)]
    enum Step {
        Discover(u8),
        Control,
        Advance(u64),
        EndInvocation,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0u8..3).prop_map(Step::Discover),
            2 => Just(Step::Control),
            2 => (0u64..3_000).prop_map(Step::Advance),
            1 => Just(Step::EndInvocation),
        ]
    }

    proptest! {
        /// Against a model of which answers are fresh: a hit is served from the
        /// cache with the slot untouched and the handler not run; a miss runs
        /// the handler exactly once; no slot is ever left in flight.
        #[test]
        fn cache_first_dispatch_matches_the_model(
            immediate in any::<bool>(),
            steps in proptest::collection::vec(step(), 1..100),
        ) {
            let policy = if immediate { Policy::Immediate } else { Policy::Deferred };
            let mut e = Engine::new(policy);
            let mut fresh_until: BTreeMap<u8, u64> = BTreeMap::new();
            let mut now = 0u64;
            let mut out = [0u8; 64];
            for step in steps {
                match step {
                    Step::Discover(k) => {
                        let key: Vec<u8> = std::format!("discovery/{k}").into_bytes();
                        let before = (e.runs, e.slots.view(e.bridge).unwrap());
                        let served = e
                            .call("Alexa.Discovery", "Discover", Some(&key), Instant::from_millis(now), &mut out)
                            .unwrap();
                        let fresh = fresh_until.get(&k).is_some_and(|&t| now < t);
                        if fresh {
                            prop_assert_eq!(served, Served::Cached { len: 16 });
                            prop_assert_eq!((e.runs, e.slots.view(e.bridge).unwrap()), before);
                        } else {
                            let handled = matches!(served, Served::Handled { cached: true, .. });
                            prop_assert!(handled);
                            prop_assert_eq!(e.runs, before.0 + 1);
                            fresh_until.insert(k, now + 5_000);
                        }
                        prop_assert_eq!(&out[..16], b"{\"endpoints\":[]}");
                    }
                    Step::Control => {
                        let runs = e.runs;
                        e.call("Alexa.PowerController", "TurnOff", None, Instant::from_millis(now), &mut out)
                            .unwrap();
                        prop_assert_eq!(e.runs, runs + 1);
                    }
                    Step::Advance(ms) => now += ms,
                    Step::EndInvocation => {
                        e.slots.end_invocation(Instant::from_millis(now));
                    }
                }
                prop_assert_eq!(e.slots.view(e.bridge).unwrap().in_flight, 0);
            }
        }
    }
}
