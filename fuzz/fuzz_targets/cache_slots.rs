//! The cache (`lee_core::cache::Cache`) and the module slots
//! (`lee_core::slots::SlotPool`), each driven by a sequence of operations
//! built with `arbitrary` and checked after every one against a model.
//!
//! Cache: a naive LRU written the obvious way (no arena, no compaction)
//! must give the same answers, hold the same entries and count the same; so
//! the cache never exceeds its capacities, never returns an expired entry,
//! and a `get` after a `put` returns the same bytes unless evicted.
//!
//! Slots: a slot is reclaimed only when its policy, pin and operations in
//! flight allow it (never one in flight), and always when its policy says
//! it must be; loads, failures and counters are what the model expects; no
//! arena is shared: what a module kept stays, scratch is free again once no
//! operation is in flight, and every fresh byte (kept or scratch) is zero.
#![no_main]

use core::time::Duration;

use arbitrary::Arbitrary;
use lee_core::cache::{Cache, CacheError, CacheStats, EntrySlot, MAX_KEY_LEN};
use lee_core::module::ModuleId;
use lee_core::slots::{ArenaFull, Load, Policy, SlotEntry, SlotError, SlotId, SlotPool};
use lee_core::time::Instant;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Input {
    Cache(CacheRun),
    Slots(SlotRun),
}

fuzz_target!(|input: Input| match input {
    Input::Cache(run) => run_cache(run),
    Input::Slots(run) => run_slots(run),
});

/// A point on the timeline: near its start, or near its very end (where
/// every addition saturates).
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Start {
    Early(u16),
    Late(u32),
}

impl Start {
    fn instant(self) -> Instant {
        match self {
            Start::Early(ms) => Instant::from_millis(ms.into()),
            Start::Late(micros) => Instant::from_micros(u64::MAX - u64::from(micros)),
        }
    }
}

/// A span of time: tens of milliseconds (so instants meet expiries
/// exactly), microseconds, or anything.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Span {
    Tens(u8),
    Micros(u16),
    Any(u64),
}

impl Span {
    fn duration(self) -> Duration {
        match self {
            Span::Tens(n) => Duration::from_millis(u64::from(n % 8) * 10),
            Span::Micros(us) => Duration::from_micros(us.into()),
            Span::Any(us) => Duration::from_micros(us),
        }
    }
}

// ----------------------------------------------------------------- cache --

#[derive(Arbitrary, Debug)]
struct CacheRun {
    entries: u8,
    bytes: u16,
    start: Start,
    ops: Vec<CacheOp>,
}

/// Keys from a tiny alphabet (so equal keys and shared prefixes are common),
/// a pair whose 32-bit table hashes collide, short raw keys, and keys around
/// the longest allowed.
#[derive(Arbitrary, Debug, Clone)]
enum Key {
    Tiny(u8),
    Colliding(bool),
    Raw(Vec<u8>),
    Long(u8),
}

impl Key {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Key::Tiny(bits) => {
                let len = usize::from(bits >> 6);
                (0..len)
                    .map(|i| if bits >> i & 1 == 0 { b'a' } else { b'b' })
                    .collect()
            }
            Key::Colliding(second) => {
                let key: &[u8] = if *second {
                    b"ha.state/light.119517"
                } else {
                    b"ha.state/light.103038"
                };
                key.to_vec()
            }
            Key::Raw(raw) => raw.iter().take(12).copied().collect(),
            Key::Long(n) => vec![b'k'; MAX_KEY_LEN - 2 + usize::from(n % 4)],
        }
    }
}

#[derive(Arbitrary, Debug)]
enum CacheOp {
    Insert {
        key: Key,
        module: u8,
        len: u16,
        ttl: Span,
    },
    Get(Key),
    InvalidateKey(Key),
    InvalidateModule(u8),
    InvalidatePrefix(Key),
    Purge,
    Clear,
    Advance(Span),
}

struct RefEntry {
    key: Vec<u8>,
    value: Vec<u8>,
    module: u16,
    expires_at: Instant,
    /// Clock reading at the last insert or hit.
    used: u64,
}

/// The cache's rules, written the obvious way with std.
struct Reference {
    entry_capacity: usize,
    byte_capacity: usize,
    entries: Vec<RefEntry>,
    clock: u64,
    stats: CacheStats,
}

impl Reference {
    fn used(&self) -> usize {
        self.entries
            .iter()
            .map(|e| e.key.len() + e.value.len())
            .sum()
    }

    fn fits(&self, needed: usize) -> bool {
        self.entries.len() < self.entry_capacity && self.byte_capacity - self.used() >= needed
    }

    fn position(&self, key: &[u8]) -> Option<usize> {
        self.entries.iter().position(|e| e.key == key)
    }

    fn remove_where(&mut self, doomed: impl Fn(&RefEntry) -> bool) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| !doomed(e));
        before - self.entries.len()
    }

    fn drop_key(&mut self, key: &[u8]) {
        if let Some(i) = self.position(key) {
            self.entries.remove(i);
            self.stats.invalidations += 1;
        }
    }

    fn insert(
        &mut self,
        key: &[u8],
        module: u16,
        value: &[u8],
        ttl: Duration,
        now: Instant,
    ) -> Result<(), CacheError> {
        if key.len() > MAX_KEY_LEN {
            self.stats.rejections += 1;
            return Err(CacheError::KeyTooLong {
                len: key.len(),
                max: MAX_KEY_LEN,
            });
        }
        let expires = now.saturating_add(ttl);
        if expires <= now {
            self.drop_key(key);
            return Ok(());
        }
        if self.entry_capacity == 0 {
            self.stats.rejections += 1;
            return Err(CacheError::NoEntryCapacity);
        }
        let needed = key.len() + value.len();
        if needed > self.byte_capacity {
            self.drop_key(key);
            self.stats.rejections += 1;
            return Err(CacheError::TooLarge {
                needed,
                capacity: self.byte_capacity,
            });
        }
        if let Some(i) = self.position(key) {
            self.entries.remove(i);
            self.stats.replacements += 1;
        }
        if !self.fits(needed) {
            self.stats.expirations += self.remove_where(|e| now >= e.expires_at) as u64;
            while !self.fits(needed) {
                let lru = (0..self.entries.len())
                    .min_by_key(|&i| self.entries[i].used)
                    .expect("an empty cache fits anything that fits its capacity");
                self.entries.remove(lru);
                self.stats.evictions += 1;
            }
        }
        self.clock += 1;
        self.entries.push(RefEntry {
            key: key.to_vec(),
            value: value.to_vec(),
            module,
            expires_at: expires,
            used: self.clock,
        });
        self.stats.insertions += 1;
        Ok(())
    }

    fn get(&mut self, key: &[u8], now: Instant) -> Option<Vec<u8>> {
        let Some(i) = self.position(key) else {
            self.stats.misses += 1;
            return None;
        };
        if now >= self.entries[i].expires_at {
            self.entries.remove(i);
            self.stats.expirations += 1;
            self.stats.misses += 1;
            return None;
        }
        self.clock += 1;
        self.entries[i].used = self.clock;
        self.stats.hits += 1;
        Some(self.entries[i].value.clone())
    }
}

/// A distinct-looking value for the `n`th operation.
fn value_for(n: usize, len: usize) -> Vec<u8> {
    let seed = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes();
    (0..len).map(|i| seed[i % 8] ^ (i as u8)).collect()
}

fn run_cache(run: CacheRun) {
    let entries = usize::from(run.entries % 9);
    let bytes = usize::from(run.bytes % 600);
    let mut cache = Cache::new(vec![EntrySlot::EMPTY; entries], vec![0xa5u8; bytes]);
    let mut model = Reference {
        entry_capacity: entries,
        byte_capacity: bytes,
        entries: Vec::new(),
        clock: 0,
        stats: CacheStats::default(),
    };
    let mut now = run.start.instant();
    for (n, op) in run.ops.iter().enumerate() {
        match op {
            CacheOp::Insert {
                key,
                module,
                len,
                ttl,
            } => {
                let key = key.bytes();
                let module = u16::from(module % 3);
                let value = value_for(n, usize::from(len % 300));
                let ttl = ttl.duration();
                let got = cache.insert(&key, ModuleId(module), &value, ttl, now);
                let expected = model.insert(&key, module, &value, ttl, now);
                assert_eq!(got, expected, "insert #{n}");
            }
            CacheOp::Get(key) => {
                let key = key.bytes();
                let got = cache.get(&key, now).map(<[u8]>::to_vec);
                let expected = model.get(&key, now);
                assert_eq!(got, expected, "get #{n} of {key:?}");
            }
            CacheOp::InvalidateKey(key) => {
                let key = key.bytes();
                let expected = model.remove_where(|e| e.key == key);
                model.stats.invalidations += expected as u64;
                assert_eq!(cache.invalidate_key(&key), expected == 1);
            }
            CacheOp::InvalidateModule(module) => {
                let module = u16::from(module % 4);
                let expected = model.remove_where(|e| e.module == module);
                model.stats.invalidations += expected as u64;
                assert_eq!(cache.invalidate_module(ModuleId(module)), expected);
            }
            CacheOp::InvalidatePrefix(prefix) => {
                let prefix = prefix.bytes();
                let expected = model.remove_where(|e| e.key.starts_with(&prefix));
                model.stats.invalidations += expected as u64;
                assert_eq!(cache.invalidate_prefix(&prefix), expected);
            }
            CacheOp::Purge => {
                let expected = model.remove_where(|e| now >= e.expires_at);
                model.stats.expirations += expected as u64;
                assert_eq!(cache.purge_expired(now), expected);
                assert!(cache.iter().all(|e| now < e.expires_at));
            }
            CacheOp::Clear => {
                model.stats.invalidations += model.entries.len() as u64;
                model.entries.clear();
                cache.clear();
            }
            CacheOp::Advance(span) => now = now.saturating_add(span.duration()),
        }
        // Capacities, and exactly the model's entries and counters.
        assert!(cache.len() <= cache.entry_capacity());
        assert!(cache.bytes_used() <= cache.byte_capacity());
        assert_eq!(
            (cache.entry_capacity(), cache.byte_capacity()),
            (entries, bytes)
        );
        assert_eq!(cache.iter().count(), cache.len());
        let stored_bytes: usize = cache.iter().map(|e| e.key.len() + e.value.len()).sum();
        assert_eq!(cache.bytes_used(), stored_bytes);
        assert_eq!(cache.bytes_used(), model.used());
        let mut stored: Vec<_> = cache
            .iter()
            .map(|e| (e.key.to_vec(), e.value.to_vec(), e.module.0, e.expires_at))
            .collect();
        stored.sort();
        let mut expected: Vec<_> = model
            .entries
            .iter()
            .map(|e| (e.key.clone(), e.value.clone(), e.module, e.expires_at))
            .collect();
        expected.sort();
        assert_eq!(stored, expected, "after op #{n}");
        assert_eq!(cache.stats(), model.stats, "after op #{n}");
        for module in 0..4u16 {
            let usage = cache.module_usage(ModuleId(module));
            let mine = model.entries.iter().filter(|e| e.module == module);
            assert_eq!(usage.entries, mine.clone().count());
            assert_eq!(
                usage.bytes,
                mine.map(|e| e.key.len() + e.value.len()).sum::<usize>()
            );
        }
    }
}

// ----------------------------------------------------------------- slots --

#[derive(Arbitrary, Debug)]
struct SlotRun {
    arena_size: u8,
    arenas: u8,
    spare: u8,
    table: u8,
    pressure: u8,
    modules: Vec<(u8, PolicyChoice)>,
    start: Start,
    ops: Vec<SlotOp>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum PolicyChoice {
    Immediate,
    Deferred,
    TimeBased(u16),
    MemoryPressure,
    Never,
}

impl PolicyChoice {
    fn policy(self) -> Policy {
        match self {
            PolicyChoice::Immediate => Policy::Immediate,
            PolicyChoice::Deferred => Policy::Deferred,
            PolicyChoice::TimeBased(ms) => Policy::TimeBased(Duration::from_millis(ms.into())),
            PolicyChoice::MemoryPressure => Policy::MemoryPressure,
            PolicyChoice::Never => Policy::Never,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum SlotOp {
    Acquire(u8),
    Release(u8),
    Write(u8, u8),
    Scratch(u8, u8),
    Advance(Span),
    EndInvocation,
    Reclaim,
    Pin(u8),
    Unpin(u8),
}

/// What the model knows of one registered slot.
struct Known {
    id: SlotId,
    policy: Policy,
    pinned: bool,
    in_flight: u32,
    loaded: bool,
    ever_loaded: bool,
    last_used: Instant,
    /// What the module wrote into its arena since it was loaded.
    written: Vec<u8>,
    /// Scratch bytes lent to its operations in flight.
    scratch: usize,
    loads: u64,
    reloads: u64,
    unloads: u64,
    bytes_reclaimed: u64,
}

impl Known {
    fn idle(&self) -> bool {
        self.loaded && self.in_flight == 0 && !self.pinned
    }

    /// Reclaimable when an arena is needed or the pool is above its threshold.
    fn under_pressure(&self) -> bool {
        self.idle() && matches!(self.policy, Policy::Immediate | Policy::MemoryPressure)
    }

    /// Reclaimable for being idle (by `reclaim` or at the end of an invocation).
    fn timed_out(&self, now: Instant) -> bool {
        match self.policy {
            Policy::Immediate => self.idle(),
            Policy::TimeBased(d) => {
                self.idle() && now.saturating_duration_since(self.last_used) >= d
            }
            _ => false,
        }
    }

    fn end_of_invocation(&self, now: Instant) -> bool {
        self.timed_out(now) || (self.idle() && self.policy == Policy::Deferred)
    }
}

fn run_slots(run: SlotRun) {
    let arena_size = usize::from(run.arena_size % 64) + 1;
    let arenas = usize::from(run.arenas % 7);
    let memory = vec![0x5au8; arenas * arena_size + usize::from(run.spare) % arena_size];
    let table = usize::from(run.table % 9);
    let mut pool = match SlotPool::new(
        memory,
        vec![SlotEntry::EMPTY; table],
        arena_size,
        run.pressure,
    ) {
        Ok(pool) => {
            assert!(arenas > 0);
            pool
        }
        Err(e) => {
            assert_eq!((e, arenas), (SlotError::NoArenas, 0));
            return;
        }
    };
    let pressure = usize::from(run.pressure.min(100));
    let above_pressure = |in_use: usize| in_use * 100 > arenas * pressure;

    let mut now = run.start.instant();
    let mut slots: Vec<Known> = Vec::new();
    let mut modules: Vec<u16> = Vec::new();
    for (module, choice) in run.modules.iter().take(12) {
        let module = u16::from(module % 10);
        let policy = choice.policy();
        let got = pool.register(ModuleId(module), "fuzz", policy);
        if modules.contains(&module) {
            assert_eq!(got, Err(SlotError::AlreadyRegistered(ModuleId(module))));
        } else if modules.len() == table {
            assert_eq!(got, Err(SlotError::TableFull));
        } else {
            let id = got.expect("a free table entry");
            assert_eq!(id.index(), modules.len());
            assert_eq!(pool.find(ModuleId(module)), Some(id));
            modules.push(module);
            slots.push(Known {
                id,
                policy,
                pinned: false,
                in_flight: 0,
                loaded: false,
                ever_loaded: false,
                last_used: Instant::ZERO,
                written: Vec::new(),
                scratch: 0,
                loads: 0,
                reloads: 0,
                unloads: 0,
                bytes_reclaimed: 0,
            });
        }
    }
    if slots.is_empty() {
        return;
    }
    let mut exhausted = 0u64;
    let mut high_water = 0usize;
    let mut fill = 1u8;

    for (n, &op) in run.ops.iter().enumerate() {
        let count = slots.len();
        let pick = |i: u8| usize::from(i) % count;
        let in_use_before = slots.iter().filter(|s| s.loaded).count();
        // Which slots this operation may reclaim, and how many at most.
        let mut may_unload: Vec<bool> = vec![false; slots.len()];
        let mut at_most = usize::MAX;
        let mut reported: Option<usize> = None;
        match op {
            SlotOp::Acquire(i) => {
                let i = pick(i);
                let was_loaded = slots[i].loaded;
                if !was_loaded && in_use_before == arenas {
                    for (j, s) in slots.iter().enumerate() {
                        may_unload[j] = s.under_pressure();
                    }
                    at_most = 1;
                } else {
                    at_most = 0;
                }
                let got = pool.acquire(slots[i].id, now);
                match got {
                    Ok(load) => {
                        let expected = if was_loaded {
                            Load::Warm
                        } else if slots[i].ever_loaded {
                            Load::Reloaded
                        } else {
                            Load::Loaded
                        };
                        assert_eq!(load, expected, "op #{n}");
                        match load {
                            Load::Loaded => slots[i].loads += 1,
                            Load::Reloaded => slots[i].reloads += 1,
                            Load::Warm => {}
                        }
                        let s = &mut slots[i];
                        s.in_flight += 1;
                        s.last_used = now;
                        s.ever_loaded = true;
                        s.loaded = true;
                        if !was_loaded {
                            s.written.clear();
                        }
                    }
                    Err(SlotError::PoolExhausted) => {
                        assert!(!was_loaded);
                        assert_eq!(in_use_before, arenas, "exhausted with a free arena");
                        assert!(
                            !slots.iter().any(Known::under_pressure),
                            "exhausted though a slot could be reclaimed"
                        );
                        exhausted += 1;
                    }
                    Err(e) => panic!("acquire: {e:?}"),
                }
            }
            SlotOp::Release(i) => {
                let i = pick(i);
                let got = pool.release(slots[i].id, now);
                if slots[i].in_flight == 0 {
                    assert_eq!(got, Err(SlotError::NotInFlight(slots[i].id)));
                    at_most = 0;
                } else {
                    slots[i].in_flight -= 1;
                    slots[i].last_used = now;
                    if slots[i].in_flight == 0 {
                        slots[i].bytes_reclaimed += slots[i].scratch as u64;
                        slots[i].scratch = 0;
                    }
                    for (j, s) in slots.iter().enumerate() {
                        may_unload[j] = s.under_pressure();
                    }
                    let reclaimed = got.expect("release of an operation in flight");
                    reported = Some(usize::from(reclaimed));
                }
            }
            SlotOp::Write(i, len) | SlotOp::Scratch(i, len) => {
                let i = pick(i);
                at_most = 0;
                if slots[i].in_flight > 0 {
                    let kept = matches!(op, SlotOp::Write(..));
                    let len = usize::from(len % 24);
                    let mut arena = pool.arena(slots[i].id).expect("in flight, so loaded");
                    let available = arena_size - slots[i].written.len() - slots[i].scratch;
                    assert_eq!(arena.available(), available);
                    let taken = if kept {
                        arena.alloc(len)
                    } else {
                        arena.scratch(len)
                    };
                    match taken {
                        Ok(bytes) => {
                            assert!(bytes.iter().all(|&b| b == 0), "a fresh byte is not zero");
                            fill = fill.wrapping_add(1).max(1);
                            bytes.fill(fill);
                            if kept {
                                slots[i].written.extend(std::iter::repeat_n(fill, len));
                            } else {
                                slots[i].scratch += len;
                            }
                        }
                        Err(full) => {
                            assert!(len > available);
                            assert_eq!(
                                full,
                                ArenaFull {
                                    requested: len,
                                    available
                                }
                            );
                        }
                    }
                }
            }
            SlotOp::Advance(span) => {
                at_most = 0;
                now = now.saturating_add(span.duration());
            }
            SlotOp::EndInvocation => {
                for (j, s) in slots.iter().enumerate() {
                    may_unload[j] = s.end_of_invocation(now);
                }
                reported = Some(pool.end_invocation(now));
            }
            SlotOp::Reclaim => {
                for (j, s) in slots.iter().enumerate() {
                    may_unload[j] = s.timed_out(now) || s.under_pressure();
                }
                reported = Some(pool.reclaim(now));
            }
            SlotOp::Pin(i) => {
                at_most = 0;
                let i = pick(i);
                pool.pin(slots[i].id).expect("registered");
                slots[i].pinned = true;
            }
            SlotOp::Unpin(i) => {
                at_most = 0;
                let i = pick(i);
                pool.unpin(slots[i].id).expect("registered");
                slots[i].pinned = false;
            }
        }

        // Follow what was reclaimed, checking it was allowed.
        let mut unloaded = 0;
        for (j, s) in slots.iter_mut().enumerate() {
            let loaded = pool.is_loaded(s.id);
            if s.loaded && !loaded {
                assert!(s.in_flight == 0, "op #{n}: slot {j} reclaimed in flight");
                assert!(!s.pinned, "op #{n}: pinned slot {j} reclaimed");
                assert!(
                    may_unload[j],
                    "op #{n} ({op:?}): slot {j} ({:?}) reclaimed",
                    s.policy
                );
                s.unloads += 1;
                s.bytes_reclaimed += s.written.len() as u64;
                s.written.clear();
                s.scratch = 0;
                s.loaded = false;
                unloaded += 1;
            }
            assert_eq!(
                loaded, s.loaded,
                "op #{n} ({op:?}): slot {j} loaded unexpectedly"
            );
            if s.in_flight > 0 {
                assert!(loaded, "op #{n}: slot {j} in flight but not loaded");
            }
        }
        assert!(unloaded <= at_most, "op #{n} ({op:?}) reclaimed {unloaded}");
        let in_use = slots.iter().filter(|s| s.loaded).count();
        high_water = high_water.max(in_use);

        // What must have been reclaimed.
        match op {
            SlotOp::Release(i) => {
                let s = &slots[pick(i)];
                if let Some(reclaimed) = reported {
                    assert_eq!(reclaimed == 1, !s.loaded, "op #{n}: release's answer");
                    if s.policy == Policy::Immediate && s.in_flight == 0 && !s.pinned {
                        assert!(!s.loaded, "op #{n}: idle Immediate slot kept");
                    }
                    if above_pressure(in_use) {
                        assert!(
                            !slots.iter().any(Known::under_pressure),
                            "op #{n}: pressure"
                        );
                    }
                }
            }
            SlotOp::EndInvocation => {
                assert_eq!(reported, Some(unloaded));
                assert!(
                    !slots.iter().any(|s| s.end_of_invocation(now)),
                    "op #{n}: kept"
                );
            }
            SlotOp::Reclaim => {
                assert_eq!(reported, Some(unloaded));
                assert!(
                    !slots.iter().any(|s| s.timed_out(now)),
                    "op #{n}: idle slot kept"
                );
                if above_pressure(in_use) {
                    assert!(
                        !slots.iter().any(Known::under_pressure),
                        "op #{n}: pressure"
                    );
                }
            }
            _ => {}
        }

        // Views, arenas and counters agree with the model.
        for (j, s) in slots.iter().enumerate() {
            let view = pool.view(s.id).expect("registered");
            assert_eq!(view.loaded, s.loaded);
            assert_eq!(view.pinned, s.pinned);
            assert_eq!(u32::from(view.in_flight), s.in_flight);
            assert_eq!(view.policy, s.policy);
            assert_eq!(view.bytes_used, s.written.len(), "slot {j}");
            assert_eq!(
                (
                    view.stats.loads,
                    view.stats.reloads,
                    view.stats.unloads,
                    view.stats.bytes_reclaimed
                ),
                (s.loads, s.reloads, s.unloads, s.bytes_reclaimed),
                "slot {j} counters"
            );
            if s.loaded {
                let mut arena = pool.arena(s.id).expect("loaded");
                assert_eq!(
                    arena.retained(),
                    &s.written[..],
                    "op #{n}: slot {j}'s bytes changed"
                );
            } else {
                assert_eq!(pool.arena(s.id).err(), Some(SlotError::NotLoaded(s.id)));
            }
        }
        let stats = pool.stats();
        assert_eq!(stats.arenas, arenas);
        assert_eq!(stats.arena_size, arena_size);
        assert_eq!(stats.arenas_in_use, in_use);
        assert_eq!(stats.high_water_arenas, high_water);
        assert_eq!(stats.high_water_bytes, high_water * arena_size);
        assert_eq!(stats.exhausted, exhausted);
    }
}
