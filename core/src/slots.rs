//! Module slots: which module holds working memory, and when it is given back.
//!
//! lee is built from modules (the Alexa bridge, HA states, HA services, ...).
//! A module does not hold memory while nobody uses it. On its first use in a
//! warm Lambda it is *loaded* into a slot (LIGS, "load it when it's going to
//! be served"): the slot takes one fixed-size arena from a shared pool, and the
//! module's handlers take their working memory from that arena ([`Arena`]:
//! memory kept until the slot is reclaimed, and one operation's scratch; the
//! [`arena`](crate::arena) module says what each is for and how the bytes
//! are zeroed).
//!
//! [`SlotPool::run`] is one operation: acquire, the arena lent to the work,
//! release. Afterwards the slot is *reclaimed* (LUGS, "let it go when done
//! serving") according to its [`Policy`]:
//!
//! | policy | reclaimed |
//! |---|---|
//! | `Immediate` | as soon as its last operation in flight is released |
//! | `Deferred` | at the end of the invocation ([`SlotPool::end_invocation`]) |
//! | `TimeBased` | once idle for its duration ([`SlotPool::reclaim`]) |
//! | `MemoryPressure` | while the pool is above its pressure threshold, and when a load finds no free arena; least recently used first |
//! | `Never` | never: core modules, and hot operations pinned by the fast path ([`SlotPool::pin`]) |
//!
//! Reclaiming a slot resets its arena (the bytes the module used are zeroed)
//! and returns the arena to the pool, whose free arena of lowest index the
//! next load takes.
//!
//! Invariants, checked by the property tests below:
//! - a slot with an operation in flight is never reclaimed, whatever the policy;
//! - a `Never` or pinned slot, once loaded, stays loaded;
//! - no arena is ever lent to two slots at once, and an arena's memory never
//!   leaves its fixed range of the pool;
//! - every byte handed out is zero, and scratch is zero again once the slot
//!   has no operation in flight.
//!
//! Storage is the caller's: the pool's memory (`M`, carved into
//! `memory.len() / arena_size` arenas) and the slot table (`T`, one
//! [`SlotEntry`] per module that can be registered). Loading a module scans the
//! table for a free arena, which is O(slots × arenas) on a few dozen of each;
//! everything else is O(slots) or better.

use core::fmt;
use core::time::Duration;

pub(crate) use crate::arena::clear;
pub use crate::arena::{Arena, ArenaFull};
use crate::arena::{Arenas, Lent};
use crate::module::ModuleId;
use crate::time::Instant;

/// When a loaded slot is reclaimed. See the module documentation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Policy {
    /// Reclaimed as soon as no operation of the module is in flight.
    Immediate,
    /// Reclaimed at the end of the invocation.
    #[default]
    Deferred,
    /// Reclaimed once nothing has used it for this long.
    TimeBased(Duration),
    /// Kept until the pool passes its pressure threshold or runs out of arenas.
    MemoryPressure,
    /// Never reclaimed.
    Never,
}

/// A slot in the pool's table: which module it holds, by which policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotId(u16);

impl SlotId {
    /// The slot's index in the table.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// How [`SlotPool::acquire`] found the module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    /// It was already loaded: no work.
    Warm,
    /// First load of the module in this process.
    Loaded,
    /// Loaded again after an earlier reclaim.
    Reloaded,
}

/// What went wrong with a slot operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotError {
    /// `arena_size` was zero or bigger than the pool's memory.
    NoArenas,
    /// The slot table has no free entry for another module.
    TableFull,
    /// The module already has a slot.
    AlreadyRegistered(ModuleId),
    /// The slot id does not name a registered slot.
    UnknownSlot(SlotId),
    /// The slot is not loaded, so it has no arena.
    NotLoaded(SlotId),
    /// `release` was called with no operation in flight.
    NotInFlight(SlotId),
    /// Every arena is held by a slot that may not be reclaimed now.
    PoolExhausted,
    /// Too many operations in flight on one slot.
    TooManyInFlight(SlotId),
}

impl fmt::Display for SlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlotError::NoArenas => f.write_str("the arena size leaves no arena in the pool"),
            SlotError::TableFull => f.write_str("the slot table is full"),
            SlotError::AlreadyRegistered(m) => write!(f, "{m} already has a slot"),
            SlotError::UnknownSlot(s) => write!(f, "slot {} is not registered", s.0),
            SlotError::NotLoaded(s) => write!(f, "slot {} is not loaded", s.0),
            SlotError::NotInFlight(s) => write!(f, "slot {} has no operation in flight", s.0),
            SlotError::PoolExhausted => {
                f.write_str("every arena is in use by a slot that cannot be reclaimed")
            }
            SlotError::TooManyInFlight(s) => {
                write!(f, "slot {} has too many operations in flight", s.0)
            }
        }
    }
}

/// Counters of one slot, or of the whole pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotStats {
    /// First loads.
    pub loads: u64,
    /// Loads after an earlier reclaim.
    pub reloads: u64,
    /// Reclaims.
    pub unloads: u64,
    /// Bytes handed out, then zeroed and given back: what a slot kept, when
    /// it is reclaimed; scratch, when its operations end.
    pub bytes_reclaimed: u64,
}

impl SlotStats {
    fn record_load(&mut self, load: Load) {
        match load {
            Load::Warm => {}
            Load::Loaded => self.loads = self.loads.saturating_add(1),
            Load::Reloaded => self.reloads = self.reloads.saturating_add(1),
        }
    }

    fn record_unload(&mut self, bytes: u64) {
        self.unloads = self.unloads.saturating_add(1);
        self.bytes_reclaimed = self.bytes_reclaimed.saturating_add(bytes);
    }
}

/// One entry of the slot table. Public so callers can supply the table's
/// storage (`[SlotEntry::EMPTY; N]`); its fields are the pool's business.
#[derive(Clone, Copy, Debug)]
pub struct SlotEntry {
    module: ModuleId,
    name: &'static str,
    policy: Policy,
    registered: bool,
    pinned: bool,
    arena: Option<Lent>,
    used: u32,
    /// Bytes lent as scratch from the arena's end to the operations in flight.
    scratch: u32,
    in_flight: u16,
    last_used: Instant,
    stats: SlotStats,
}

impl SlotEntry {
    /// An unused table entry.
    pub const EMPTY: SlotEntry = SlotEntry {
        module: ModuleId(0),
        name: "",
        policy: Policy::Deferred,
        registered: false,
        pinned: false,
        arena: None,
        used: 0,
        scratch: 0,
        in_flight: 0,
        last_used: Instant::ZERO,
        stats: SlotStats {
            loads: 0,
            reloads: 0,
            unloads: 0,
            bytes_reclaimed: 0,
        },
    };

    fn reclaimable_by(&self, trigger: Trigger, now: Instant) -> bool {
        if self.arena.is_none() || self.in_flight > 0 || self.pinned {
            return false;
        }
        match (self.policy, trigger) {
            (Policy::Never, _) => false,
            (Policy::Immediate, _) => true,
            (Policy::Deferred, Trigger::EndOfInvocation) => true,
            (Policy::TimeBased(idle), Trigger::Idle | Trigger::EndOfInvocation) => {
                now.saturating_duration_since(self.last_used) >= idle
            }
            (Policy::MemoryPressure, Trigger::Pressure) => true,
            _ => false,
        }
    }
}

impl Default for SlotEntry {
    fn default() -> Self {
        SlotEntry::EMPTY
    }
}

/// Why the pool is looking for slots to reclaim.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trigger {
    EndOfInvocation,
    Idle,
    Pressure,
}

/// A read-only view of one slot, for diagnostics (the LUGS slot table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotView {
    /// The slot.
    pub id: SlotId,
    /// The module it holds.
    pub module: ModuleId,
    /// The module's name as registered.
    pub name: &'static str,
    /// Its reclaim policy.
    pub policy: Policy,
    /// Pinned by the fast path: never reclaimed while pinned.
    pub pinned: bool,
    /// Whether it holds an arena now.
    pub loaded: bool,
    /// Operations in flight.
    pub in_flight: u16,
    /// Bytes of its arena handed out since it was loaded.
    pub bytes_used: usize,
    /// Its counters.
    pub stats: SlotStats,
}

/// Counters and gauges of the whole pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Size of one arena in bytes.
    pub arena_size: usize,
    /// Arenas in the pool.
    pub arenas: usize,
    /// Arenas lent to slots now.
    pub arenas_in_use: usize,
    /// The most arenas ever lent at once.
    pub high_water_arenas: usize,
    /// The most bytes of arenas ever lent at once (`high_water_arenas × arena_size`).
    pub high_water_bytes: usize,
    /// Loads that failed because no arena could be found.
    pub exhausted: u64,
    /// Loads, reloads, unloads and bytes reclaimed over all slots.
    pub totals: SlotStats,
}

/// One operation run by [`SlotPool::run`]: what the work gave back, and what
/// happened to the slot around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ran<R> {
    /// What the work returned.
    pub value: R,
    /// How the module was found.
    pub load: Load,
    /// Whether the slot was reclaimed on release.
    pub reclaimed: bool,
}

/// The pool of arenas and the table of module slots.
pub struct SlotPool<M, T> {
    arenas: Arenas<M>,
    table: T,
    pressure_percent: u8,
    exhausted: u64,
}

impl<M, T> SlotPool<M, T>
where
    M: AsRef<[u8]> + AsMut<[u8]>,
    T: AsRef<[SlotEntry]> + AsMut<[SlotEntry]>,
{
    /// A pool carving `memory` into arenas of `arena_size` bytes, with one
    /// table entry in `table` per module that can be registered.
    ///
    /// `pressure_percent` is the share of arenas in use above which
    /// `MemoryPressure` slots are reclaimed (clamped to 0..=100). The memory
    /// and table are cleared.
    pub fn new(
        mut memory: M,
        table: T,
        arena_size: usize,
        pressure_percent: u8,
    ) -> Result<Self, SlotError> {
        clear(memory.as_mut());
        Self::new_zeroed(memory, table, arena_size, pressure_percent)
    }

    /// As [`SlotPool::new`], for `memory` that is all zero already (fresh
    /// from `alloc_zeroed`, say), which is then left untouched: its pages stay
    /// out of the process's resident memory, and out of its start time, until
    /// arenas use them. An arena's first user must get zeroed memory, so
    /// memory that is not zero breaks that promise; debug builds check it.
    pub fn new_zeroed(
        memory: M,
        mut table: T,
        arena_size: usize,
        pressure_percent: u8,
    ) -> Result<Self, SlotError> {
        let arenas = Arenas::new_zeroed(memory, arena_size).ok_or(SlotError::NoArenas)?;
        table.as_mut().fill(SlotEntry::EMPTY);
        Ok(SlotPool {
            arenas,
            table,
            pressure_percent: pressure_percent.min(100),
            exhausted: 0,
        })
    }

    /// Give `module` a slot with a reclaim policy. Nothing is loaded yet.
    pub fn register(
        &mut self,
        module: ModuleId,
        name: &'static str,
        policy: Policy,
    ) -> Result<SlotId, SlotError> {
        if self.find(module).is_some() {
            return Err(SlotError::AlreadyRegistered(module));
        }
        let table = self.table.as_mut();
        let index = table
            .iter()
            .position(|e| !e.registered)
            .filter(|&i| i <= u16::MAX as usize)
            .ok_or(SlotError::TableFull)?;
        table[index] = SlotEntry {
            module,
            name,
            policy,
            registered: true,
            ..SlotEntry::EMPTY
        };
        Ok(SlotId(index as u16))
    }

    /// The slot registered for `module`.
    pub fn find(&self, module: ModuleId) -> Option<SlotId> {
        self.table
            .as_ref()
            .iter()
            .position(|e| e.registered && e.module == module)
            .map(|i| SlotId(i as u16))
    }

    /// Start an operation on the slot's module, loading it if needed (LIGS).
    ///
    /// Every successful `acquire` must be matched by one [`release`](Self::release).
    pub fn acquire(&mut self, slot: SlotId, now: Instant) -> Result<Load, SlotError> {
        let entry = *self.entry(slot)?;
        if entry.in_flight == u16::MAX {
            return Err(SlotError::TooManyInFlight(slot));
        }
        let load = match entry.arena {
            Some(_) => Load::Warm,
            None => {
                let mut lent = self.lend_free_arena();
                if lent.is_none() {
                    self.reclaim_one(Trigger::Pressure, now);
                    lent = self.lend_free_arena();
                }
                let Some(lent) = lent else {
                    self.exhausted = self.exhausted.saturating_add(1);
                    return Err(SlotError::PoolExhausted);
                };
                let e = self.entry_mut(slot)?;
                e.arena = Some(lent);
                e.used = 0;
                // `loads` counts the first load only, so it is 1 from then on.
                if e.stats.loads > 0 {
                    Load::Reloaded
                } else {
                    Load::Loaded
                }
            }
        };
        let e = self.entry_mut(slot)?;
        e.in_flight += 1;
        e.last_used = now;
        e.stats.record_load(load);
        Ok(load)
    }

    /// The arena of a loaded slot, for the operation in flight.
    pub fn arena(&mut self, slot: SlotId) -> Result<Arena<'_>, SlotError> {
        let entry = self
            .table
            .as_mut()
            .get_mut(slot.index())
            .filter(|e| e.registered)
            .ok_or(SlotError::UnknownSlot(slot))?;
        let lent = entry.arena.ok_or(SlotError::NotLoaded(slot))?;
        self.arenas
            .arena(lent, &mut entry.used, &mut entry.scratch)
            .ok_or(SlotError::NotLoaded(slot))
    }

    /// One operation on the slot's module: [`acquire`](Self::acquire) it
    /// (loading it if needed), lend `work` its arena, and
    /// [`release`](Self::release) it, also when the work failed, so the
    /// slot's policy applies.
    pub fn run<R>(
        &mut self,
        slot: SlotId,
        now: Instant,
        work: impl FnOnce(&mut Arena<'_>) -> R,
    ) -> Result<Ran<R>, SlotError> {
        let load = self.acquire(slot, now)?;
        let value = match self.arena(slot) {
            Ok(mut arena) => work(&mut arena),
            Err(e) => {
                self.release(slot, now)?;
                return Err(e);
            }
        };
        let reclaimed = self.release(slot, now)?;
        Ok(Ran {
            value,
            load,
            reclaimed,
        })
    }

    /// End an operation on the slot (LUGS). Returns whether the slot was
    /// reclaimed: an `Immediate` slot with nothing left in flight is, and
    /// `MemoryPressure` slots are while the pool is above its threshold.
    pub fn release(&mut self, slot: SlotId, now: Instant) -> Result<bool, SlotError> {
        let e = self.entry_mut(slot)?;
        if e.in_flight == 0 {
            return Err(SlotError::NotInFlight(slot));
        }
        e.in_flight -= 1;
        e.last_used = now;
        let immediate = e.reclaimable_by(Trigger::Idle, now) && e.policy == Policy::Immediate;
        if e.in_flight == 0 {
            self.give_back_scratch(slot);
        }
        let mut reclaimed = false;
        if immediate {
            self.unload(slot);
            reclaimed = true;
        }
        while self.above_pressure() && self.reclaim_one(Trigger::Pressure, now) {}
        Ok(reclaimed || !self.is_loaded(slot))
    }

    /// The invocation is over: reclaim `Deferred` slots and idle `TimeBased`
    /// ones. Returns how many slots were reclaimed.
    pub fn end_invocation(&mut self, now: Instant) -> usize {
        self.reclaim_all(Trigger::EndOfInvocation, now)
    }

    /// Reclaim `TimeBased` slots idle for their duration, and `MemoryPressure`
    /// slots while the pool is above its threshold. Returns how many were reclaimed.
    pub fn reclaim(&mut self, now: Instant) -> usize {
        let mut n = self.reclaim_all(Trigger::Idle, now);
        while self.above_pressure() && self.reclaim_one(Trigger::Pressure, now) {
            n += 1;
        }
        n
    }

    /// Pin a slot for the fast path: it is never reclaimed until unpinned.
    pub fn pin(&mut self, slot: SlotId) -> Result<(), SlotError> {
        self.entry_mut(slot)?.pinned = true;
        Ok(())
    }

    /// Undo [`pin`](Self::pin); the slot's own policy applies again.
    pub fn unpin(&mut self, slot: SlotId) -> Result<(), SlotError> {
        self.entry_mut(slot)?.pinned = false;
        Ok(())
    }

    /// Whether the slot holds an arena now.
    pub fn is_loaded(&self, slot: SlotId) -> bool {
        self.entry(slot).is_ok_and(|e| e.arena.is_some())
    }

    /// A view of one slot.
    pub fn view(&self, slot: SlotId) -> Result<SlotView, SlotError> {
        let e = self.entry(slot)?;
        Ok(SlotView {
            id: slot,
            module: e.module,
            name: e.name,
            policy: e.policy,
            pinned: e.pinned,
            loaded: e.arena.is_some(),
            in_flight: e.in_flight,
            bytes_used: e.used as usize,
            stats: e.stats,
        })
    }

    /// Views of every registered slot, in table order.
    pub fn views(&self) -> impl Iterator<Item = SlotView> + '_ {
        (0..self.table.as_ref().len()).filter_map(|i| self.view(SlotId(i as u16)).ok())
    }

    /// Counters and gauges of the whole pool.
    pub fn stats(&self) -> PoolStats {
        let mut totals = SlotStats::default();
        for e in self.table.as_ref().iter().filter(|e| e.registered) {
            totals.loads = totals.loads.saturating_add(e.stats.loads);
            totals.reloads = totals.reloads.saturating_add(e.stats.reloads);
            totals.unloads = totals.unloads.saturating_add(e.stats.unloads);
            totals.bytes_reclaimed = totals
                .bytes_reclaimed
                .saturating_add(e.stats.bytes_reclaimed);
        }
        let arenas = &self.arenas;
        PoolStats {
            arena_size: arenas.size(),
            arenas: arenas.count(),
            arenas_in_use: arenas.in_use(),
            high_water_arenas: arenas.high_water(),
            high_water_bytes: arenas.high_water().saturating_mul(arenas.size()),
            exhausted: self.exhausted,
            totals,
        }
    }

    fn entry(&self, slot: SlotId) -> Result<&SlotEntry, SlotError> {
        self.table
            .as_ref()
            .get(slot.index())
            .filter(|e| e.registered)
            .ok_or(SlotError::UnknownSlot(slot))
    }

    fn entry_mut(&mut self, slot: SlotId) -> Result<&mut SlotEntry, SlotError> {
        self.table
            .as_mut()
            .get_mut(slot.index())
            .filter(|e| e.registered)
            .ok_or(SlotError::UnknownSlot(slot))
    }

    fn lend_free_arena(&mut self) -> Option<Lent> {
        let table = self.table.as_ref();
        self.arenas
            .lend_free(|lent| table.iter().any(|e| e.arena == Some(lent)))
    }

    fn above_pressure(&self) -> bool {
        self.arenas.in_use() * 100 > self.arenas.count() * self.pressure_percent as usize
    }

    /// Reclaim the least recently used slot reclaimable by `trigger`.
    fn reclaim_one(&mut self, trigger: Trigger, now: Instant) -> bool {
        let victim = self
            .table
            .as_ref()
            .iter()
            .enumerate()
            .filter(|(_, e)| e.registered && e.reclaimable_by(trigger, now))
            .min_by_key(|(_, e)| e.last_used)
            .map(|(i, _)| SlotId(i as u16));
        match victim {
            Some(slot) => {
                self.unload(slot);
                true
            }
            None => false,
        }
    }

    fn reclaim_all(&mut self, trigger: Trigger, now: Instant) -> usize {
        let mut n = 0;
        for i in 0..self.table.as_ref().len() {
            let slot = SlotId(i as u16);
            if self
                .entry(slot)
                .is_ok_and(|e| e.reclaimable_by(trigger, now))
            {
                self.unload(slot);
                n += 1;
            }
        }
        n
    }

    /// Zero the scratch the slot's operations used; it is free again.
    fn give_back_scratch(&mut self, slot: SlotId) {
        let Some(entry) = self.table.as_mut().get_mut(slot.index()) else {
            return;
        };
        let scratch = core::mem::take(&mut entry.scratch);
        if let Some(lent) = entry.arena {
            let zeroed = self.arenas.give_back_scratch(lent, scratch);
            entry.stats.bytes_reclaimed = entry.stats.bytes_reclaimed.saturating_add(zeroed);
        }
    }

    /// Zero what the slot used, return its arena to the pool.
    fn unload(&mut self, slot: SlotId) {
        self.give_back_scratch(slot);
        let Some(entry) = self.table.as_mut().get_mut(slot.index()) else {
            return;
        };
        let Some(lent) = entry.arena.take() else {
            return;
        };
        let used = core::mem::take(&mut entry.used);
        entry.stats.record_unload(self.arenas.give_back(lent, used));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ARENA: usize = 64;

    fn pool(arenas: usize, pressure: u8) -> SlotPool<[u8; 8 * ARENA], [SlotEntry; 8]> {
        let mut p = SlotPool::new([0; 8 * ARENA], [SlotEntry::EMPTY; 8], ARENA, pressure).unwrap();
        p.arenas.use_only(arenas); // fewer arenas than the memory holds, to make exhaustion easy to reach
        p
    }

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    #[should_panic(expected = "memory not zeroed")]
    fn a_pool_from_zeroed_memory_is_checked_in_debug_builds() {
        let mut memory = vec![0u8; 4096];
        memory[100] = 1;
        let _ = SlotPool::new_zeroed(
            memory.into_boxed_slice(),
            vec![SlotEntry::EMPTY; 1].into_boxed_slice(),
            4096,
            80,
        );
    }

    #[test]
    fn a_new_pool_clears_every_dirty_page_of_its_memory() {
        let mut memory = vec![0u8; 3 * 4096 + 100];
        for at in [0, 4095, 2 * 4096 + 17, 3 * 4096 + 99] {
            memory[at] = 0xA5;
        }
        let pool = SlotPool::new(
            memory.into_boxed_slice(),
            vec![SlotEntry::EMPTY; 2].into_boxed_slice(),
            4096,
            80,
        )
        .unwrap();
        assert!(pool.arenas.memory().iter().all(|&b| b == 0));
    }

    #[test]
    fn rejects_a_pool_without_arenas() {
        assert_eq!(
            SlotPool::new([0u8; 10], [SlotEntry::EMPTY; 1], 11, 80).err(),
            Some(SlotError::NoArenas)
        );
        assert_eq!(
            SlotPool::new([0u8; 10], [SlotEntry::EMPTY; 1], 0, 80).err(),
            Some(SlotError::NoArenas)
        );
    }

    #[test]
    fn registration_is_unique_and_bounded() {
        let mut p = SlotPool::new([0u8; 64], [SlotEntry::EMPTY; 2], 32, 80).unwrap();
        let a = p.register(ModuleId(1), "alexa", Policy::Never).unwrap();
        assert_eq!(
            p.register(ModuleId(1), "again", Policy::Never),
            Err(SlotError::AlreadyRegistered(ModuleId(1)))
        );
        p.register(ModuleId(2), "states", Policy::Deferred).unwrap();
        assert_eq!(
            p.register(ModuleId(3), "services", Policy::Deferred),
            Err(SlotError::TableFull)
        );
        assert_eq!(p.find(ModuleId(1)), Some(a));
        assert_eq!(p.find(ModuleId(9)), None);
        assert_eq!(
            p.acquire(SlotId(7), t(0)),
            Err(SlotError::UnknownSlot(SlotId(7)))
        );
    }

    #[test]
    fn loads_on_first_use_and_reloads_after_reclaim() {
        let mut p = pool(2, 100);
        let s = p
            .register(ModuleId(1), "services", Policy::Immediate)
            .unwrap();
        assert!(!p.is_loaded(s));
        assert_eq!(p.acquire(s, t(0)), Ok(Load::Loaded));
        assert!(p.is_loaded(s));
        assert_eq!(p.acquire(s, t(1)), Ok(Load::Warm));
        assert_eq!(
            p.release(s, t(2)),
            Ok(false),
            "one operation still in flight"
        );
        assert_eq!(p.release(s, t(3)), Ok(true));
        assert!(!p.is_loaded(s));
        assert_eq!(p.release(s, t(4)), Err(SlotError::NotInFlight(s)));
        assert_eq!(p.acquire(s, t(5)), Ok(Load::Reloaded));
        let v = p.view(s).unwrap();
        assert_eq!((v.stats.loads, v.stats.reloads, v.stats.unloads), (1, 1, 1));
    }

    #[test]
    fn arena_hands_out_zeroed_bytes_and_keeps_them_until_reclaim() {
        let mut p = pool(1, 100);
        let s = p.register(ModuleId(1), "states", Policy::Deferred).unwrap();
        p.acquire(s, t(0)).unwrap();
        {
            let mut arena = p.arena(s).unwrap();
            let a = arena.alloc_copy(b"Bearer secret").unwrap();
            let b = arena.alloc(4).unwrap();
            assert_eq!(b, &[0, 0, 0, 0]);
            a[0] = b'b';
            assert_eq!(arena.available(), ARENA - 17);
            assert_eq!(
                arena.alloc(ARENA),
                Err(ArenaFull {
                    requested: ARENA,
                    available: ARENA - 17
                })
            );
        }
        p.release(s, t(1)).unwrap();
        // A later operation in the same invocation sees what the module kept.
        p.acquire(s, t(2)).unwrap();
        assert_eq!(&p.arena(s).unwrap().retained()[..13], b"bearer secret");
        p.release(s, t(3)).unwrap();
        assert_eq!(p.end_invocation(t(4)), 1);
        assert_eq!(p.view(s).unwrap().stats.bytes_reclaimed, 17);
        // The reclaimed bytes were wiped before the arena went back to the pool.
        assert!(p.arenas.memory().iter().all(|&b| b == 0));
        assert_eq!(p.arena(s).err(), Some(SlotError::NotLoaded(s)));
    }

    #[test]
    fn scratch_is_the_operations_alone_and_zero_again_when_none_is_in_flight() {
        let mut p = pool(1, 100);
        let s = p.register(ModuleId(1), "ha.client", Policy::Never).unwrap();
        let ran = p
            .run(s, t(0), |arena| {
                arena.alloc_copy(b"kept").unwrap();
                let request = arena.scratch(8).unwrap();
                assert_eq!(request, &[0; 8]);
                request.copy_from_slice(b"GET /api");
                assert_eq!(arena.available(), ARENA - 12);
                assert_eq!(
                    arena.scratch(ARENA),
                    Err(ArenaFull {
                        requested: ARENA,
                        available: ARENA - 12
                    })
                );
            })
            .unwrap();
        assert_eq!((ran.load, ran.reclaimed), (Load::Loaded, false));
        // The scratch was zeroed and is free again; what was kept stays.
        assert_eq!(&p.arenas.memory()[..4], b"kept");
        assert!(p.arenas.memory()[4..].iter().all(|&b| b == 0));
        assert_eq!(p.view(s).unwrap().stats.bytes_reclaimed, 8);
        // An operation still in flight keeps its scratch from a nested one.
        p.acquire(s, t(1)).unwrap();
        p.arena(s).unwrap().scratch(2).unwrap().fill(7);
        p.run(s, t(2), |arena| {
            assert_eq!(arena.available(), ARENA - 6);
            arena.scratch(1).unwrap().fill(9);
        })
        .unwrap();
        assert_eq!(&p.arenas.memory()[ARENA - 3..ARENA], &[9, 7, 7]);
        p.release(s, t(3)).unwrap();
        assert!(p.arenas.memory()[4..].iter().all(|&b| b == 0));
        assert_eq!(p.arena(s).unwrap().available(), ARENA - 4);
    }

    #[test]
    fn run_releases_the_slot_whatever_the_work_returned() {
        let mut p = pool(1, 100);
        let s = p
            .register(ModuleId(1), "ha.services", Policy::Immediate)
            .unwrap();
        let ran = p
            .run(s, t(0), |arena| -> Result<(), ArenaFull> {
                arena.scratch(3)?.fill(1);
                arena.scratch(ARENA).map(drop)
            })
            .unwrap();
        assert!(ran.value.is_err());
        assert!(ran.reclaimed);
        assert!(!p.is_loaded(s));
        assert!(p.arenas.memory().iter().all(|&b| b == 0));
        assert_eq!(
            p.run(SlotId(5), t(1), |_| ()).err(),
            Some(SlotError::UnknownSlot(SlotId(5)))
        );
    }

    #[test]
    fn each_policy_reclaims_at_its_moment() {
        let mut p = pool(8, 100);
        let immediate = p.register(ModuleId(1), "i", Policy::Immediate).unwrap();
        let deferred = p.register(ModuleId(2), "d", Policy::Deferred).unwrap();
        let timed = p
            .register(ModuleId(3), "t", Policy::TimeBased(Duration::from_secs(60)))
            .unwrap();
        let pressure = p
            .register(ModuleId(4), "p", Policy::MemoryPressure)
            .unwrap();
        let never = p.register(ModuleId(5), "n", Policy::Never).unwrap();
        let all = [immediate, deferred, timed, pressure, never];
        for s in all {
            p.acquire(s, t(0)).unwrap();
            p.release(s, t(0)).unwrap();
        }
        let loaded = |p: &SlotPool<_, _>| all.map(|s| p.is_loaded(s));
        assert_eq!(loaded(&p), [false, true, true, true, true]);
        assert_eq!(p.reclaim(t(59_999)), 0);
        assert_eq!(p.end_invocation(t(59_999)), 1);
        assert_eq!(loaded(&p), [false, false, true, true, true]);
        assert_eq!(p.reclaim(t(60_000)), 1);
        assert_eq!(loaded(&p), [false, false, false, true, true]);
        assert_eq!(
            p.reclaim(t(10_000_000)) + p.end_invocation(t(10_000_000)),
            0
        );
        assert_eq!(loaded(&p), [false, false, false, true, true]);
    }

    #[test]
    fn memory_pressure_reclaims_least_recently_used_first() {
        // Threshold 50 % of 4 arenas: at most 2 in use after a release.
        let mut p = pool(4, 50);
        let slots: [SlotId; 3] = core::array::from_fn(|i| {
            p.register(ModuleId(i as u16), "p", Policy::MemoryPressure)
                .unwrap()
        });
        for (i, s) in slots.iter().enumerate() {
            p.acquire(*s, t(i as u64)).unwrap();
        }
        p.release(slots[1], t(10)).unwrap();
        p.release(slots[0], t(11)).unwrap();
        // Three in use > 50 %: the least recently used idle one (slot 1) goes.
        assert!(!p.is_loaded(slots[1]));
        assert!(p.is_loaded(slots[0]));
        assert!(p.is_loaded(slots[2]), "in flight, never reclaimed");
        assert_eq!(p.stats().arenas_in_use, 2);
        assert_eq!(p.stats().high_water_arenas, 3);
        assert_eq!(p.stats().high_water_bytes, 3 * ARENA);
    }

    #[test]
    fn exhausted_pool_reclaims_pressure_slots_then_fails_cleanly() {
        let mut p = pool(2, 100);
        let keep = p.register(ModuleId(1), "core", Policy::Never).unwrap();
        let spare = p
            .register(ModuleId(2), "p", Policy::MemoryPressure)
            .unwrap();
        let deferred = p.register(ModuleId(3), "d", Policy::Deferred).unwrap();
        let other = p.register(ModuleId(4), "d2", Policy::Deferred).unwrap();
        for s in [keep, spare] {
            p.acquire(s, t(0)).unwrap();
            p.release(s, t(0)).unwrap();
        }
        assert_eq!(p.acquire(deferred, t(1)), Ok(Load::Loaded));
        assert!(!p.is_loaded(spare), "the pressure slot made room");
        assert_eq!(p.acquire(other, t(2)), Err(SlotError::PoolExhausted));
        assert_eq!(p.stats().exhausted, 1);
        assert!(p.is_loaded(keep) && p.is_loaded(deferred));
    }

    #[test]
    fn pinned_slots_survive_every_trigger_until_unpinned() {
        let mut p = pool(1, 0);
        let hot = p.register(ModuleId(1), "alexa", Policy::Immediate).unwrap();
        p.pin(hot).unwrap();
        p.acquire(hot, t(0)).unwrap();
        assert_eq!(p.release(hot, t(1)), Ok(false));
        assert_eq!(p.reclaim(t(1_000_000)) + p.end_invocation(t(1_000_000)), 0);
        assert!(p.is_loaded(hot));
        assert!(p.view(hot).unwrap().pinned);
        p.unpin(hot).unwrap();
        p.acquire(hot, t(2)).unwrap();
        assert_eq!(p.release(hot, t(3)), Ok(true));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Acquire(usize),
        Release(usize),
        Write(usize, u8),
        Scratch(usize, u8),
        Advance(u64),
        EndInvocation,
        Reclaim,
        Pin(usize),
        Unpin(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..6usize).prop_map(Op::Acquire),
            3 => (0..6usize).prop_map(Op::Release),
            2 => (0..6usize, 1..=255u8).prop_map(|(s, b)| Op::Write(s, b)),
            2 => (0..6usize, 1..=255u8).prop_map(|(s, b)| Op::Scratch(s, b)),
            2 => (0..120_000u64).prop_map(Op::Advance),
            1 => Just(Op::EndInvocation),
            1 => Just(Op::Reclaim),
            1 => (0..6usize).prop_map(Op::Pin),
            1 => (0..6usize).prop_map(Op::Unpin),
        ]
    }

    const POLICIES: [Policy; 6] = [
        Policy::Immediate,
        Policy::Deferred,
        Policy::TimeBased(Duration::from_secs(30)),
        Policy::MemoryPressure,
        Policy::Never,
        Policy::MemoryPressure,
    ];

    proptest! {
        /// In-flight, `Never` and pinned slots are never reclaimed; arenas are
        /// never shared; what an in-flight module wrote stays intact; the pool's
        /// gauges agree with the table.
        #[test]
        fn reclaim_respects_in_flight_pins_and_policies(
            arenas in 1usize..=6,
            pressure in 0u8..=100,
            ops in proptest::collection::vec(op(), 1..200),
        ) {
            let mut p = pool(arenas, pressure);
            let slots: std::vec::Vec<SlotId> = POLICIES
                .iter()
                .enumerate()
                .map(|(i, &policy)| p.register(ModuleId(i as u16), "m", policy).unwrap())
                .collect();
            let mut in_flight = [0u32; 6];
            let mut pinned = [false; 6];
            // What each loaded slot's module wrote into its arena, in order.
            let mut written: [std::vec::Vec<u8>; 6] = Default::default();
            let mut now = 0u64;
            for op in ops {
                let before: std::vec::Vec<bool> = slots.iter().map(|&s| p.is_loaded(s)).collect();
                match op {
                    Op::Acquire(i) => {
                        if p.acquire(slots[i], t(now)).is_ok() {
                            in_flight[i] += 1;
                        }
                    }
                    Op::Release(i) => {
                        let r = p.release(slots[i], t(now));
                        prop_assert_eq!(r.is_ok(), in_flight[i] > 0);
                        if r.is_ok() {
                            in_flight[i] -= 1;
                        }
                    }
                    Op::Write(i, b) => {
                        if in_flight[i] > 0 {
                            let mut arena = p.arena(slots[i]).unwrap();
                            if arena.alloc_copy(&[b]).is_ok() {
                                written[i].push(b);
                            }
                        }
                    }
                    Op::Scratch(i, b) => {
                        if in_flight[i] > 0 {
                            let mut arena = p.arena(slots[i]).unwrap();
                            if let Ok(bytes) = arena.scratch(2) {
                                prop_assert_eq!(&bytes[..], &[0, 0][..]);
                                bytes.fill(b);
                            }
                        }
                    }
                    Op::Advance(ms) => now += ms,
                    Op::EndInvocation => { p.end_invocation(t(now)); }
                    Op::Reclaim => { p.reclaim(t(now)); }
                    Op::Pin(i) => { p.pin(slots[i]).unwrap(); pinned[i] = true; }
                    Op::Unpin(i) => { p.unpin(slots[i]).unwrap(); pinned[i] = false; }
                }
                for (i, &s) in slots.iter().enumerate() {
                    let loaded = p.is_loaded(s);
                    if before[i] && (in_flight[i] > 0 || pinned[i] || POLICIES[i] == Policy::Never) {
                        prop_assert!(loaded, "slot {} reclaimed while protected", i);
                    }
                    if in_flight[i] > 0 {
                        prop_assert!(loaded);
                    }
                    if loaded {
                        let mut arena = p.arena(s).unwrap();
                        prop_assert_eq!(&arena.retained()[..], &written[i][..]);
                    }
                    if loaded && in_flight[i] == 0 {
                        // Past what the module kept, its arena is zero again.
                        let index = p.table[s.index()].arena.unwrap().index();
                        let kept = written[i].len();
                        let arena = &p.arenas.memory()[index * ARENA..(index + 1) * ARENA];
                        prop_assert!(arena[kept..].iter().all(|&b| b == 0), "scratch not given back");
                    }
                    if !loaded {
                        written[i].clear();
                    }
                }
                let arenas_lent: std::vec::Vec<usize> =
                    p.table.iter().filter_map(|e| e.arena.map(Lent::index)).collect();
                let mut distinct = arenas_lent.clone();
                distinct.sort_unstable();
                distinct.dedup();
                prop_assert_eq!(distinct.len(), arenas_lent.len(), "an arena lent twice");
                prop_assert!(arenas_lent.iter().all(|&a| a < arenas));
                for free in (0..arenas).filter(|a| !arenas_lent.contains(a)) {
                    let arena = &p.arenas.memory()[free * ARENA..(free + 1) * ARENA];
                    prop_assert!(arena.iter().all(|&b| b == 0), "a free arena is not zero");
                }
                let stats = p.stats();
                prop_assert_eq!(stats.arenas_in_use, arenas_lent.len());
                prop_assert!(stats.high_water_arenas >= stats.arenas_in_use);
                prop_assert!(stats.high_water_arenas <= arenas);
            }
        }
    }
}
