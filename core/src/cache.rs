//! A fixed-capacity TTL cache with LRU eviction, over storage the caller owns.
//!
//! # What it is for
//!
//! Home Assistant answers that lee needs again within seconds — an entity's
//! state for an Alexa `ReportState`, the body of a Discovery response — are
//! kept here for a short TTL, so a burst of directives costs one HA round trip
//! instead of many. Every entry is tagged with the [`ModuleId`] that produced
//! it, and keys are namespaced strings such as `ha.state/light.kitchen`, so a
//! state-changing operation can invalidate exactly what it touched: one key
//! ([`Cache::invalidate_key`]), everything under a prefix such as
//! `ha.state/light.` ([`Cache::invalidate_prefix`]), or everything a module
//! produced ([`Cache::invalidate_module`]).
//!
//! # Storage
//!
//! The cache never allocates. Like smoltcp's socket buffers, the caller hands
//! it two buffers and their lengths are the capacities, so a configuration
//! preset can size the cache at run time:
//!
//! * an entry table, `E: AsRef<[EntrySlot]> + AsMut<[EntrySlot]>` — one
//!   [`EntrySlot`] (32 bytes, see its docs) per entry the cache may hold;
//! * a byte arena, `B: AsRef<[u8]> + AsMut<[u8]>` — every entry's key bytes
//!   followed by its value bytes, contiguous. Arenas longer than `u32::MAX`
//!   bytes are used only up to `u32::MAX`.
//!
//! `[EntrySlot; 64]` and `[u8; 8192]` work on bare metal, `Box<[EntrySlot]>`
//! and `Box<[u8]>` (or `Vec`, or `&mut [T]`) in the frontends. `as_ref` and
//! `as_mut` must keep returning the same slice, as all of those do.
//!
//! The arena is log-structured: a new entry is appended at the *tail*;
//! removing an entry only releases its bytes logically (the live-byte count
//! drops, and the tail steps back if the entry was the last one). When an
//! insert fits logically but not between the tail and the end of the arena,
//! the live entries are sorted by offset and slid to the front with
//! `copy_within` (compaction), and the insert appends after them.
//!
//! The entry table is dense: live entries occupy `slots[..len]` in no
//! particular order, and removal moves the last live slot into the hole.
//! Recency is a per-entry `u64` tick taken from a counter that advances on
//! every insert and every hit; the least recently used entry is the one with
//! the smallest tick.
//!
//! # Complexity (n = live entries, k = key length, v = value length)
//!
//! * [`get`](Cache::get): O(n) scan comparing 4-byte hashes, plus an O(k)
//!   full-key comparison on each hash match. No data moves.
//! * [`insert`](Cache::insert): O(n + k + v), plus O(n) per entry evicted,
//!   plus, when the tail has run out of room, one compaction costing
//!   O(n log n + live bytes). Compaction happens only when the tail reaches
//!   the end of the arena, so its cost is amortised over the appends that
//!   filled it; the worst case is a nearly full arena where every insert
//!   compacts (a memmove of at most the arena size).
//! * invalidation and [`purge_expired`](Cache::purge_expired): O(n) (plus
//!   O(n · k) prefix comparisons). [`clear`](Cache::clear): O(entry capacity).
//!
//! This is meant for a few thousand entries at most, where a linear scan of a
//! compact table beats maintaining an index in memory the caller must supply.
//!
//! # Behaviour
//!
//! * An entry with `now >= expires_at` is never returned: [`Cache::get`]
//!   removes it and counts an expiration and a miss.
//! * Keys are hashed with [`stable_hash`] (never a randomly seeded hasher),
//!   folded to 32 bits; a hash match is always confirmed by comparing the full
//!   key, so colliding keys never see each other's values.
//! * An insert that does not fit first drops expired entries, then evicts
//!   least recently used entries until it fits. These decisions depend only
//!   on the entry count and the live-byte count, never on fragmentation, so
//!   which entries survive is independent of the arena's layout.
//! * An insert that can never fit (key plus value longer than the arena, an
//!   empty entry table, a key longer than `u16::MAX`) returns a
//!   [`CacheError`] and stores nothing. An older value for the same key is
//!   removed, because it is no longer the latest answer; nothing else changes.
//! * A zero TTL (or one shorter than a microsecond, or an insert at the very
//!   end of the timeline) means "do not cache": nothing is stored and any
//!   existing entry for the key is removed, since it is now stale.
//! * No input panics, and nothing allocates.
//!
//! # Invariants (checked by the tests after every operation)
//!
//! 1. `len <= entry_capacity`; `slots[..len]` are live, `slots[len..]` are
//!    [`EntrySlot::EMPTY`].
//! 2. Every live entry's bytes `offset .. offset + key_len + value_len` lie
//!    inside `0 .. tail`, `tail <= byte_capacity`, and no two overlap.
//! 3. `bytes_used()` equals the sum of live key and value lengths, hence
//!    `bytes_used() <= byte_capacity()`.
//! 4. No two live entries have the same key; ticks are distinct and below
//!    the next tick to be handed out.

use core::fmt;
use core::time::Duration;

use crate::hash::stable_hash;
use crate::module::ModuleId;
use crate::time::Instant;

// Offsets and lengths are stored as `u32` and widened with `as usize`; that is
// lossless only where `usize` has at least 32 bits.
const _: () = assert!(usize::BITS >= 32);

/// One row of the entry table; the caller allocates these, the cache fills them.
///
/// `size_of::<EntrySlot>()` is 32 bytes on both 32- and 64-bit targets (its
/// fields: expiry and recency tick, `u64` each; key hash, arena offset and
/// value length, `u32` each; key length and module id, `u16` each). Count it
/// in the memory budget: 1 024 entries cost 32 KiB of table plus the arena.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EntrySlot {
    expires_at: Instant,
    tick: u64,
    hash: u32,
    offset: u32,
    value_len: u32,
    key_len: u16,
    module: u16,
}

const _: () = assert!(core::mem::size_of::<EntrySlot>() == 32);

impl EntrySlot {
    /// An unused slot, for building entry tables in `const` and `no_std`
    /// code: `[EntrySlot::EMPTY; 64]`.
    pub const EMPTY: EntrySlot = EntrySlot {
        expires_at: Instant::ZERO,
        tick: 0,
        hash: 0,
        offset: 0,
        value_len: 0,
        key_len: 0,
        module: 0,
    };

    /// Key plus value bytes this entry occupies in the arena.
    fn size(&self) -> u32 {
        // Both parts were checked to fit the arena together when inserted.
        u32::from(self.key_len).saturating_add(self.value_len)
    }

    fn key_range(&self) -> core::ops::Range<usize> {
        let start = self.offset as usize;
        start..start + usize::from(self.key_len)
    }

    fn value_range(&self) -> core::ops::Range<usize> {
        let start = self.offset as usize + usize::from(self.key_len);
        start..start + self.value_len as usize
    }

    fn is_expired(&self, now: Instant) -> bool {
        now >= self.expires_at
    }
}

/// Why an insert was refused. A refused insert stores nothing; it removes an
/// older entry for the same key (now stale) and counts a rejection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheError {
    /// Key plus value need more bytes than the whole arena holds.
    TooLarge {
        /// Key length plus value length, in bytes (`usize::MAX` if that sum
        /// overflows).
        needed: usize,
        /// The cache's byte capacity.
        capacity: usize,
    },
    /// The entry table has no slots at all, so nothing can ever be cached.
    NoEntryCapacity,
    /// The key is longer than [`MAX_KEY_LEN`] bytes.
    KeyTooLong {
        /// The key's length in bytes.
        len: usize,
        /// The longest key accepted.
        max: usize,
    },
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::TooLarge { needed, capacity } => write!(
                f,
                "cache entry needs {needed} bytes but the cache holds {capacity}"
            ),
            CacheError::NoEntryCapacity => f.write_str("cache has no entry slots"),
            CacheError::KeyTooLong { len, max } => {
                write!(f, "cache key is {len} bytes, longer than the {max} allowed")
            }
        }
    }
}

impl core::error::Error for CacheError {}

/// The longest key the cache accepts, in bytes.
pub const MAX_KEY_LEN: usize = u16::MAX as usize;

/// Counters of everything the cache has done since it was created. All
/// saturate at `u64::MAX` instead of wrapping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// `get` calls that returned a value.
    pub hits: u64,
    /// `get` calls that returned nothing (absent or expired key).
    pub misses: u64,
    /// Entries stored by `insert`, replacements included.
    pub insertions: u64,
    /// Stored entries that replaced an existing entry for the same key (also
    /// counted in `insertions`).
    pub replacements: u64,
    /// Unexpired entries removed to make room for an insert.
    pub evictions: u64,
    /// Expired entries removed, whether by `get`, `insert` making room, or
    /// `purge_expired`.
    pub expirations: u64,
    /// Entries removed at the caller's request: `invalidate_*`, `clear`, and
    /// zero-TTL inserts over an existing key.
    pub invalidations: u64,
    /// Inserts refused with a [`CacheError`].
    pub rejections: u64,
}

/// How much of the cache one module occupies (see [`Cache::module_usage`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModuleUsage {
    /// Entries tagged with the module, expired ones not yet removed included.
    pub entries: usize,
    /// Key plus value bytes of those entries.
    pub bytes: usize,
}

/// A read-only view of one stored entry, from [`Cache::iter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryView<'a> {
    /// The entry's key.
    pub key: &'a [u8],
    /// The entry's value.
    pub value: &'a [u8],
    /// The module the entry was inserted for.
    pub module: ModuleId,
    /// The first instant at which the entry is expired.
    pub expires_at: Instant,
}

/// A TTL cache with LRU eviction, bounded in entries and bytes, over an entry
/// table `E` and a byte arena `B` supplied by the caller (see the
/// [module docs](self)).
pub struct Cache<E, B> {
    entries: E,
    bytes: B,
    /// Live entries, in `slots[..len]`.
    len: usize,
    entry_capacity: usize,
    byte_capacity: u32,
    /// Where the next entry's bytes are appended.
    tail: u32,
    /// Key plus value bytes of live entries.
    live: u32,
    next_tick: u64,
    stats: CacheStats,
}

impl<E, B> fmt::Debug for Cache<E, B>
where
    E: AsRef<[EntrySlot]>,
    B: AsRef<[u8]>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("len", &self.len)
            .field("entry_capacity", &self.entry_capacity)
            .field("bytes_used", &self.live)
            .field("byte_capacity", &self.byte_capacity)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn key_hash(key: &[u8]) -> u32 {
    let h = stable_hash(key);
    // Fold rather than truncate so both halves of the hash contribute.
    (h ^ (h >> 32)) as u32
}

fn bump(counter: &mut u64, by: usize) {
    *counter = counter.saturating_add(u64::try_from(by).unwrap_or(u64::MAX));
}

impl<E, B> Cache<E, B>
where
    E: AsRef<[EntrySlot]> + AsMut<[EntrySlot]>,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    /// A cache holding up to `entries.len()` entries and `bytes.len()` bytes
    /// of keys and values. Whatever the buffers held is discarded.
    pub fn new(entries: E, mut bytes: B) -> Self {
        crate::slots::clear(bytes.as_mut());
        Self::new_zeroed(entries, bytes)
    }

    /// As [`Cache::new`], for `bytes` that are all zero already (fresh from
    /// `alloc_zeroed`, say), which are then left untouched: the operating
    /// system's zeroed pages stay out of the process's resident memory, and
    /// out of its start time, until entries use them. Bytes that are not zero
    /// are never read as data, but would stay in memory until overwritten.
    pub fn new_zeroed(mut entries: E, bytes: B) -> Self {
        entries.as_mut().fill(EntrySlot::EMPTY);
        debug_assert!(bytes.as_ref().iter().all(|&b| b == 0), "bytes not zeroed");
        let entry_capacity = entries.as_ref().len();
        let byte_capacity = u32::try_from(bytes.as_ref().len()).unwrap_or(u32::MAX);
        Cache {
            entries,
            bytes,
            len: 0,
            entry_capacity,
            byte_capacity,
            tail: 0,
            live: 0,
            next_tick: 0,
            stats: CacheStats::default(),
        }
    }

    /// The value cached for `key`, if there is one and it has not expired at
    /// `now`. A hit makes the entry the most recently used. An expired entry
    /// is removed and counted as an expiration and a miss.
    pub fn get(&mut self, key: &[u8], now: Instant) -> Option<&[u8]> {
        let Some(index) = self.find(key) else {
            bump(&mut self.stats.misses, 1);
            return None;
        };
        if self.slots()[index].is_expired(now) {
            self.remove_at(index);
            bump(&mut self.stats.expirations, 1);
            bump(&mut self.stats.misses, 1);
            return None;
        }
        let tick = self.take_tick();
        let slot = &mut self.entries.as_mut()[index];
        slot.tick = tick;
        let range = slot.value_range();
        bump(&mut self.stats.hits, 1);
        Some(&self.bytes.as_ref()[range])
    }

    /// Caches `value` under `key` for `ttl` from `now`, tagged with `module`,
    /// replacing any entry with the same key.
    ///
    /// If it does not fit, expired entries are dropped first, then the least
    /// recently used entries are evicted until it does. A zero TTL stores
    /// nothing and removes any existing entry for `key`.
    ///
    /// # Errors
    ///
    /// [`CacheError::KeyTooLong`] if `key` exceeds [`MAX_KEY_LEN`],
    /// [`CacheError::NoEntryCapacity`] if the entry table is empty, and
    /// [`CacheError::TooLarge`] if key plus value exceed the byte capacity.
    /// Nothing is stored, and an older entry for `key` is removed (counted
    /// as an invalidation), since it no longer holds the latest answer.
    pub fn insert(
        &mut self,
        key: &[u8],
        module: ModuleId,
        value: &[u8],
        ttl: Duration,
        now: Instant,
    ) -> Result<(), CacheError> {
        let Ok(key_len) = u16::try_from(key.len()) else {
            return Err(self.reject(CacheError::KeyTooLong {
                len: key.len(),
                max: MAX_KEY_LEN,
            }));
        };
        let hash = key_hash(key);
        let expires_at = now.saturating_add(ttl);
        if expires_at <= now {
            if let Some(index) = self.find_hashed(key, hash) {
                self.remove_at(index);
                bump(&mut self.stats.invalidations, 1);
            }
            return Ok(());
        }
        if self.entry_capacity == 0 {
            return Err(self.reject(CacheError::NoEntryCapacity));
        }
        let needed = key.len().checked_add(value.len());
        let (needed, value_len) = match needed.map(u32::try_from) {
            Some(Ok(n)) if n <= self.byte_capacity => (n, n - u32::from(key_len)),
            _ => {
                // The older value for `key` is stale now that a newer answer
                // exists: serving it would be wrong, so it goes too.
                if let Some(index) = self.find_hashed(key, hash) {
                    self.remove_at(index);
                    bump(&mut self.stats.invalidations, 1);
                }
                return Err(self.reject(CacheError::TooLarge {
                    needed: needed.unwrap_or(usize::MAX),
                    capacity: self.byte_capacity as usize,
                }));
            }
        };

        // From here on the insert cannot fail: evicting everything would
        // leave at least one slot and `needed` bytes.
        let replaced = match self.find_hashed(key, hash) {
            Some(index) => {
                self.remove_at(index);
                true
            }
            None => false,
        };
        if !self.fits(needed) {
            let expired = self.remove_expired(now);
            bump(&mut self.stats.expirations, expired);
            while !self.fits(needed) {
                let Some(victim) = self.least_recently_used() else {
                    break;
                };
                self.remove_at(victim);
                bump(&mut self.stats.evictions, 1);
            }
        }
        if self.byte_capacity - self.tail < needed {
            self.compact();
        }

        // `fits` guarantees a free slot; compaction leaves `tail == live`, so
        // `tail + needed <= byte_capacity`.
        // An entry with no bytes sits at 0, so it never lies beyond the tail
        // when the tail steps back.
        let offset = if needed == 0 { 0 } else { self.tail };
        let start = offset as usize;
        let arena = self.bytes.as_mut();
        arena[start..start + key.len()].copy_from_slice(key);
        arena[start + key.len()..start + key.len() + value.len()].copy_from_slice(value);
        let tick = self.take_tick();
        self.entries.as_mut()[self.len] = EntrySlot {
            expires_at,
            tick,
            hash,
            offset,
            value_len,
            key_len,
            module: module.0,
        };
        self.len += 1;
        self.tail += needed;
        self.live += needed;
        bump(&mut self.stats.insertions, 1);
        if replaced {
            bump(&mut self.stats.replacements, 1);
        }
        Ok(())
    }

    /// Removes the entry for `key`; `true` if there was one (expired or not).
    pub fn invalidate_key(&mut self, key: &[u8]) -> bool {
        match self.find(key) {
            Some(index) => {
                self.remove_at(index);
                bump(&mut self.stats.invalidations, 1);
                true
            }
            None => false,
        }
    }

    /// Removes every entry inserted for `module`; returns how many.
    pub fn invalidate_module(&mut self, module: ModuleId) -> usize {
        let removed = self.remove_where(|_, slot| slot.module == module.0);
        bump(&mut self.stats.invalidations, removed);
        removed
    }

    /// Removes every entry whose key starts with `prefix` (all of them for an
    /// empty prefix); returns how many.
    pub fn invalidate_prefix(&mut self, prefix: &[u8]) -> usize {
        let removed = self.remove_where(|arena, slot| arena[slot.key_range()].starts_with(prefix));
        bump(&mut self.stats.invalidations, removed);
        removed
    }

    /// Removes every entry expired at `now`; returns how many.
    pub fn purge_expired(&mut self, now: Instant) -> usize {
        let removed = self.remove_expired(now);
        bump(&mut self.stats.expirations, removed);
        removed
    }

    /// Removes every entry (counted as invalidations). Statistics are kept.
    pub fn clear(&mut self) {
        bump(&mut self.stats.invalidations, self.len);
        self.entries.as_mut().fill(EntrySlot::EMPTY);
        self.len = 0;
        self.tail = 0;
        self.live = 0;
    }

    /// Entries currently stored, expired ones not yet removed included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no entries are stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Key plus value bytes of the stored entries.
    pub fn bytes_used(&self) -> usize {
        self.live as usize
    }

    /// The most entries the cache can hold (the entry table's length).
    pub fn entry_capacity(&self) -> usize {
        self.entry_capacity
    }

    /// The most key plus value bytes the cache can hold (the arena's length,
    /// capped at `u32::MAX`).
    pub fn byte_capacity(&self) -> usize {
        self.byte_capacity as usize
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Entries and bytes stored for `module` (a scan of the table).
    pub fn module_usage(&self, module: ModuleId) -> ModuleUsage {
        self.slots()
            .iter()
            .filter(|slot| slot.module == module.0)
            .fold(ModuleUsage::default(), |usage, slot| ModuleUsage {
                entries: usage.entries + 1,
                bytes: usage.bytes + slot.size() as usize,
            })
    }

    /// Every stored entry, in no particular order, expired ones not yet
    /// removed included. For diagnostics: it neither refreshes recency nor
    /// counts hits.
    pub fn iter(&self) -> impl Iterator<Item = EntryView<'_>> {
        let arena = self.bytes.as_ref();
        self.slots().iter().map(move |slot| EntryView {
            key: &arena[slot.key_range()],
            value: &arena[slot.value_range()],
            module: ModuleId(slot.module),
            expires_at: slot.expires_at,
        })
    }

    fn slots(&self) -> &[EntrySlot] {
        &self.entries.as_ref()[..self.len]
    }

    fn reject(&mut self, error: CacheError) -> CacheError {
        bump(&mut self.stats.rejections, 1);
        error
    }

    fn take_tick(&mut self) -> u64 {
        let tick = self.next_tick;
        // 2^64 inserts and hits will not happen; if they did, ties would only
        // blur the LRU order.
        self.next_tick = self.next_tick.saturating_add(1);
        tick
    }

    fn find(&self, key: &[u8]) -> Option<usize> {
        self.find_hashed(key, key_hash(key))
    }

    fn find_hashed(&self, key: &[u8], hash: u32) -> Option<usize> {
        let arena = self.bytes.as_ref();
        self.slots()
            .iter()
            .position(|slot| slot.hash == hash && &arena[slot.key_range()] == key)
    }

    /// Whether an entry of `needed` bytes fits once the arena is compacted.
    fn fits(&self, needed: u32) -> bool {
        self.len < self.entry_capacity && self.byte_capacity - self.live >= needed
    }

    fn least_recently_used(&self) -> Option<usize> {
        self.slots()
            .iter()
            .enumerate()
            .min_by_key(|(_, slot)| slot.tick)
            .map(|(index, _)| index)
    }

    /// Removes the live entry at `index` (which must be `< len`).
    fn remove_at(&mut self, index: usize) {
        let last = self.len - 1;
        let slots = self.entries.as_mut();
        let slot = slots[index];
        slots[index] = slots[last];
        slots[last] = EntrySlot::EMPTY;
        self.len = last;
        self.live -= slot.size();
        if self.len == 0 {
            self.tail = 0;
        } else if slot.offset + slot.size() == self.tail {
            // The last bytes appended: every other entry ends at or before
            // `slot.offset`, so the tail can step back over them.
            self.tail = slot.offset;
        }
    }

    /// Removes every live entry for which `doomed(arena, slot)` holds.
    fn remove_where(&mut self, mut doomed: impl FnMut(&[u8], &EntrySlot) -> bool) -> usize {
        let mut removed = 0;
        let mut index = 0;
        while index < self.len {
            if doomed(self.bytes.as_ref(), &self.entries.as_ref()[index]) {
                // The last slot moves into `index`; look at it next.
                self.remove_at(index);
                removed += 1;
            } else {
                index += 1;
            }
        }
        removed
    }

    fn remove_expired(&mut self, now: Instant) -> usize {
        self.remove_where(|_, slot| slot.is_expired(now))
    }

    /// Slides every live entry's bytes to the front of the arena, in offset
    /// order, so all free bytes follow the tail.
    fn compact(&mut self) {
        let arena = self.bytes.as_mut();
        let live = &mut self.entries.as_mut()[..self.len];
        live.sort_unstable_by_key(|slot| slot.offset);
        let mut cursor = 0u32;
        for slot in live {
            let size = slot.size();
            if slot.offset != cursor {
                let from = slot.offset as usize;
                arena.copy_within(from..from + size as usize, cursor as usize);
                slot.offset = cursor;
            }
            cursor += size;
        }
        self.tail = cursor;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::vec;
    use std::vec::Vec;

    use proptest::prelude::*;

    const LIGHTS: ModuleId = ModuleId(1);
    const SWITCHES: ModuleId = ModuleId(2);

    fn at(millis: u64) -> Instant {
        Instant::from_millis(millis)
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    type TestCache = Cache<Vec<EntrySlot>, Vec<u8>>;

    fn cache(entries: usize, bytes: usize) -> TestCache {
        Cache::new(vec![EntrySlot::EMPTY; entries], vec![0; bytes])
    }

    impl<E, B> Cache<E, B>
    where
        E: AsRef<[EntrySlot]> + AsMut<[EntrySlot]>,
        B: AsRef<[u8]> + AsMut<[u8]>,
    {
        /// Asserts the invariants listed in the module docs.
        fn check_invariants(&self) {
            let all = self.entries.as_ref();
            assert!(self.len <= self.entry_capacity);
            assert_eq!(all.len(), self.entry_capacity);
            assert!(all[self.len..].iter().all(|s| *s == EntrySlot::EMPTY));
            assert!(self.tail <= self.byte_capacity);
            let live = self.slots();
            let mut sum = 0u64;
            for (i, a) in live.iter().enumerate() {
                assert!(u64::from(a.offset) + u64::from(a.size()) <= u64::from(self.tail));
                assert!(a.tick < self.next_tick);
                assert_eq!(a.hash, key_hash(&self.bytes.as_ref()[a.key_range()]));
                sum += u64::from(a.size());
                for b in &live[i + 1..] {
                    let disjoint = a.size() == 0
                        || b.size() == 0
                        || a.offset + a.size() <= b.offset
                        || b.offset + b.size() <= a.offset;
                    assert!(disjoint, "overlapping entries {a:?} {b:?}");
                    assert_ne!(a.tick, b.tick);
                    assert_ne!(
                        self.bytes.as_ref()[a.key_range()],
                        self.bytes.as_ref()[b.key_range()]
                    );
                }
            }
            assert_eq!(sum, u64::from(self.live));
        }
    }

    // Two keys whose 64-bit hashes differ but fold to the same 32 bits the
    // table stores (found by brute force over `ha.state/light.N`).
    const COLLIDING: [&[u8]; 2] = [b"ha.state/light.103038", b"ha.state/light.119517"];

    #[test]
    fn entry_slot_is_32_bytes_and_tables_build_in_const() {
        assert_eq!(core::mem::size_of::<EntrySlot>(), 32);
        const TABLE: [EntrySlot; 4] = [EntrySlot::EMPTY; 4];
        let mut c = Cache::new(TABLE, [0u8; 64]);
        c.insert(b"k", LIGHTS, b"v", secs(1), at(0)).unwrap();
        assert_eq!(c.get(b"k", at(0)), Some(&b"v"[..]));
        assert_eq!(EntrySlot::default(), EntrySlot::EMPTY);
    }

    #[test]
    #[should_panic(expected = "bytes not zeroed")]
    fn a_cache_from_zeroed_bytes_is_checked_in_debug_builds() {
        let _ = Cache::new_zeroed([EntrySlot::EMPTY; 2], [0u8, 0, 7, 0]);
    }

    #[test]
    fn new_clears_the_storage_it_is_given() {
        let mut c = Cache::new([EntrySlot::EMPTY; 2], [0u8; 16]);
        c.insert(b"k", LIGHTS, b"v", secs(1), at(0)).unwrap();
        let Cache { entries, bytes, .. } = c;
        let c = Cache::new(entries, bytes);
        assert!(c.is_empty());
        assert_eq!(c.bytes_used(), 0);
        assert!(c.entries.iter().all(|s| *s == EntrySlot::EMPTY));
        assert!(c.bytes.iter().all(|b| *b == 0));
    }

    #[test]
    fn hit_miss_and_expiry_at_exactly_expires_at() {
        let mut c = cache(4, 64);
        assert_eq!(c.get(b"a", at(0)), None);
        c.insert(b"a", LIGHTS, b"on", Duration::from_millis(100), at(1_000))
            .unwrap();
        assert_eq!(c.get(b"a", at(1_000)), Some(&b"on"[..]));
        // One microsecond before expiry it is still served...
        let last_valid = at(1_100).saturating_sub(Duration::from_micros(1));
        assert_eq!(c.get(b"a", last_valid), Some(&b"on"[..]));
        assert_eq!(c.iter().next().unwrap().expires_at, at(1_100));
        // ...and at exactly `expires_at` it is gone, and removed.
        assert_eq!(c.get(b"a", at(1_100)), None);
        assert!(c.is_empty());
        assert_eq!(c.bytes_used(), 0);
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.expirations), (2, 2, 1));
        c.check_invariants();
    }

    #[test]
    fn replacing_a_key_keeps_one_entry_with_the_new_value() {
        let mut c = cache(4, 64);
        c.insert(b"a", LIGHTS, b"old value", secs(1), at(0))
            .unwrap();
        c.insert(b"b", LIGHTS, b"other", secs(1), at(0)).unwrap();
        c.insert(b"a", SWITCHES, b"new", secs(10), at(0)).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.bytes_used(), 1 + 3 + 1 + 5);
        // The new TTL applies too.
        assert_eq!(c.get(b"a", at(5_000)), Some(&b"new"[..]));
        assert_eq!(c.module_usage(SWITCHES).entries, 1);
        assert_eq!(c.module_usage(LIGHTS).entries, 1);
        assert_eq!(c.stats().replacements, 1);
        assert_eq!(c.stats().insertions, 3);
        c.check_invariants();
    }

    #[test]
    fn lru_evicts_the_least_recently_used_and_get_refreshes() {
        let mut c = cache(3, 256);
        for key in [b"a", b"b", b"c"] {
            c.insert(key, LIGHTS, b"v", secs(60), at(0)).unwrap();
        }
        // `a` was inserted first but is used now, so `b` is the LRU entry.
        assert!(c.get(b"a", at(1)).is_some());
        c.insert(b"d", LIGHTS, b"v", secs(60), at(2)).unwrap();
        assert_eq!(c.get(b"b", at(3)), None);
        // Now `c` is the oldest; replacing counts as use too.
        c.insert(b"a", LIGHTS, b"w", secs(60), at(4)).unwrap();
        c.insert(b"e", LIGHTS, b"v", secs(60), at(5)).unwrap();
        assert_eq!(c.get(b"c", at(6)), None);
        for key in [b"a", b"d", b"e"] {
            assert!(c.get(key, at(7)).is_some());
        }
        assert_eq!(c.stats().evictions, 2);
        c.check_invariants();
    }

    #[test]
    fn evicts_when_bytes_are_full() {
        let mut c = cache(8, 30);
        c.insert(b"a", LIGHTS, &[1; 9], secs(60), at(0)).unwrap(); // 10 bytes
        c.insert(b"b", LIGHTS, &[2; 9], secs(60), at(0)).unwrap(); // 20
        c.insert(b"c", LIGHTS, &[3; 4], secs(60), at(0)).unwrap(); // 25
        // 12 more bytes need 7 freed: `a` (10) goes, `b` and `c` stay.
        c.insert(b"d", LIGHTS, &[4; 11], secs(60), at(0)).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c.bytes_used(), 10 + 5 + 12);
        assert_eq!(c.get(b"a", at(0)), None);
        assert_eq!(c.get(b"b", at(0)), Some(&[2; 9][..]));
        assert_eq!(c.get(b"c", at(0)), Some(&[3; 4][..]));
        assert_eq!(c.get(b"d", at(0)), Some(&[4; 11][..]));
        // Needing almost everything evicts several entries at once.
        c.insert(b"e", LIGHTS, &[5; 27], secs(60), at(0)).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c.stats().evictions, 4);
        c.check_invariants();
    }

    #[test]
    fn evicts_when_entries_are_full() {
        let mut c = cache(2, 1_000);
        c.insert(b"a", LIGHTS, b"1", secs(60), at(0)).unwrap();
        c.insert(b"b", LIGHTS, b"2", secs(60), at(0)).unwrap();
        c.insert(b"c", LIGHTS, b"3", secs(60), at(0)).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.bytes_used(), 4);
        assert_eq!(c.get(b"a", at(0)), None);
        assert_eq!(c.get(b"c", at(0)), Some(&b"3"[..]));
        assert_eq!(c.stats().evictions, 1);
        c.check_invariants();
    }

    #[test]
    fn expired_entries_go_before_any_lru_eviction() {
        let mut c = cache(3, 256);
        c.insert(b"old", LIGHTS, b"1", secs(60), at(0)).unwrap();
        c.insert(b"short", LIGHTS, b"2", secs(1), at(0)).unwrap();
        c.insert(b"fresh", LIGHTS, b"3", secs(60), at(0)).unwrap();
        c.insert(b"new", LIGHTS, b"4", secs(60), at(2_000)).unwrap();
        // `old` is least recently used, but `short` had expired.
        assert_eq!(c.get(b"old", at(2_000)), Some(&b"1"[..]));
        let s = c.stats();
        assert_eq!((s.expirations, s.evictions), (1, 0));
        c.check_invariants();
    }

    #[test]
    fn too_large_is_rejected_and_drops_only_the_stale_key() {
        let mut c = cache(4, 16);
        c.insert(b"key", LIGHTS, b"small", secs(60), at(0)).unwrap();
        c.insert(b"other", LIGHTS, b"x", secs(1), at(0)).unwrap();
        let before: Vec<_> = c
            .iter()
            .filter(|e| e.key != b"key")
            .map(|e| (e.key.to_vec(), e.value.to_vec()))
            .collect();
        let used = c.bytes_used() - 8;
        // 3 + 14 = 17 > 16, even though `other` has expired by then.
        let err = c.insert(b"key", LIGHTS, &[0; 14], secs(60), at(5_000));
        assert_eq!(
            err,
            Err(CacheError::TooLarge {
                needed: 17,
                capacity: 16
            })
        );
        let after: Vec<_> = c
            .iter()
            .map(|e| (e.key.to_vec(), e.value.to_vec()))
            .collect();
        assert_eq!(before, after, "only the stale value for `key` went");
        assert_eq!(c.bytes_used(), used);
        assert_eq!(c.get(b"key", at(0)), None);
        // Exactly the capacity fits.
        c.insert(b"key", LIGHTS, &[0; 13], secs(60), at(0)).unwrap();
        assert_eq!(c.bytes_used(), 16);
        let s = c.stats();
        assert_eq!(
            (s.rejections, s.invalidations, s.evictions, s.expirations),
            (1, 1, 1, 0)
        );
        c.check_invariants();
    }

    #[test]
    fn no_entry_capacity_and_zero_bytes_are_typed_errors() {
        let mut none = cache(0, 64);
        assert_eq!(
            none.insert(b"k", LIGHTS, b"v", secs(1), at(0)),
            Err(CacheError::NoEntryCapacity)
        );
        assert_eq!(none.get(b"k", at(0)), None);
        let mut tiny = cache(4, 0);
        assert_eq!(
            tiny.insert(b"k", LIGHTS, b"", secs(1), at(0)),
            Err(CacheError::TooLarge {
                needed: 1,
                capacity: 0
            })
        );
        // An empty key with an empty value takes no bytes at all.
        tiny.insert(b"", LIGHTS, b"", secs(1), at(0)).unwrap();
        assert_eq!(tiny.get(b"", at(0)), Some(&b""[..]));
        assert_eq!(none.stats().rejections + tiny.stats().rejections, 2);
        tiny.check_invariants();
    }

    #[test]
    fn over_long_keys_are_a_typed_error_not_a_panic() {
        let mut c = cache(2, 1 << 17);
        let long = vec![b'k'; MAX_KEY_LEN + 1];
        assert_eq!(
            c.insert(&long, LIGHTS, b"v", secs(1), at(0)),
            Err(CacheError::KeyTooLong {
                len: MAX_KEY_LEN + 1,
                max: MAX_KEY_LEN
            })
        );
        assert!(c.is_empty());
        let longest = &long[..MAX_KEY_LEN];
        c.insert(longest, LIGHTS, b"v", secs(1), at(0)).unwrap();
        assert_eq!(c.get(longest, at(0)), Some(&b"v"[..]));
        assert!(!c.invalidate_key(&long));
        c.check_invariants();
    }

    #[test]
    fn zero_ttl_stores_nothing_and_drops_the_stale_value() {
        let mut c = cache(4, 64);
        c.insert(b"a", LIGHTS, b"old", secs(60), at(0)).unwrap();
        c.insert(b"a", LIGHTS, b"new", Duration::ZERO, at(1))
            .unwrap();
        assert_eq!(c.get(b"a", at(1)), None);
        assert!(c.is_empty());
        // Sub-microsecond TTLs round to zero; so does inserting at the end of
        // time, where nothing could outlive `now`.
        c.insert(b"b", LIGHTS, b"x", Duration::from_nanos(999), at(1))
            .unwrap();
        let end = Instant::from_micros(u64::MAX);
        c.insert(b"c", LIGHTS, b"x", secs(60), end).unwrap();
        // Zero TTL wins even over a value that could never fit.
        c.insert(b"d", LIGHTS, &[0; 100], Duration::ZERO, at(1))
            .unwrap();
        assert!(c.is_empty());
        let s = c.stats();
        assert_eq!((s.insertions, s.invalidations, s.rejections), (1, 1, 0));
        // A huge TTL saturates at the end of the timeline instead.
        c.insert(b"e", LIGHTS, b"x", Duration::MAX, at(1)).unwrap();
        assert_eq!(c.iter().next().unwrap().expires_at, end);
        assert_eq!(
            c.get(b"e", Instant::from_micros(u64::MAX - 1)),
            Some(&b"x"[..])
        );
        c.check_invariants();
    }

    #[test]
    fn invalidate_by_key_module_and_prefix() {
        let mut c = cache(8, 256);
        let put = |c: &mut Cache<_, _>, key: &[u8], module| {
            c.insert(key, module, b"v", secs(60), at(0)).unwrap();
        };
        put(&mut c, b"ha.state/light.kitchen", LIGHTS);
        put(&mut c, b"ha.state/light.hall", LIGHTS);
        put(&mut c, b"ha.state/lightning", LIGHTS);
        put(&mut c, b"ha.state/switch.fan", SWITCHES);
        put(&mut c, b"ha.discovery", SWITCHES);

        assert!(c.invalidate_key(b"ha.state/light.hall"));
        assert!(!c.invalidate_key(b"ha.state/light.hall"));
        assert_eq!(c.invalidate_prefix(b"ha.state/light."), 1);
        assert!(c.get(b"ha.state/lightning", at(0)).is_some());
        assert_eq!(c.invalidate_module(SWITCHES), 2);
        assert_eq!(c.invalidate_module(SWITCHES), 0);
        assert_eq!(c.len(), 1);
        assert_eq!(c.invalidate_prefix(b""), 1);
        assert!(c.is_empty());
        assert_eq!(c.stats().invalidations, 5);
        c.check_invariants();
    }

    #[test]
    fn colliding_hashes_never_return_each_others_values() {
        let [a, b] = COLLIDING;
        assert_ne!(stable_hash(a), stable_hash(b));
        assert_eq!(
            key_hash(a),
            key_hash(b),
            "the keys must collide in the table"
        );
        let mut c = cache(4, 256);
        c.insert(a, LIGHTS, b"value of a", secs(60), at(0)).unwrap();
        assert_eq!(c.get(b, at(0)), None);
        assert!(!c.invalidate_key(b));
        c.insert(b, SWITCHES, b"value of b", secs(60), at(0))
            .unwrap();
        assert_eq!(c.len(), 2, "b must not replace a");
        assert_eq!(c.get(a, at(0)), Some(&b"value of a"[..]));
        assert_eq!(c.get(b, at(0)), Some(&b"value of b"[..]));
        assert!(c.invalidate_key(a));
        assert_eq!(c.get(a, at(0)), None);
        assert_eq!(c.get(b, at(0)), Some(&b"value of b"[..]));
        c.check_invariants();
    }

    #[test]
    fn stats_count_every_outcome() {
        let mut c = cache(2, 8);
        c.insert(b"a", LIGHTS, b"1", secs(1), at(0)).unwrap(); // insertion
        c.insert(b"a", LIGHTS, b"2", secs(1), at(0)).unwrap(); // + replacement
        c.get(b"a", at(0)); // hit
        c.get(b"z", at(0)); // miss
        c.get(b"a", at(1_000)); // expiration + miss
        c.insert(b"b", LIGHTS, b"1", secs(1), at(0)).unwrap();
        c.insert(b"c", LIGHTS, b"1", secs(1), at(0)).unwrap();
        c.insert(b"d", LIGHTS, b"1", secs(1), at(0)).unwrap(); // eviction
        let _ = c.insert(b"e", LIGHTS, &[0; 8], secs(1), at(0)); // rejection
        c.invalidate_key(b"c"); // invalidation
        assert_eq!(c.purge_expired(at(1_000)), 1); // expiration
        c.insert(b"f", LIGHTS, b"1", secs(1), at(0)).unwrap();
        c.clear(); // invalidation
        assert_eq!(
            c.stats(),
            CacheStats {
                hits: 1,
                misses: 2,
                insertions: 6,
                replacements: 1,
                evictions: 1,
                expirations: 2,
                invalidations: 2,
                rejections: 1,
            }
        );
        assert!(c.is_empty());
        assert_eq!(c.bytes_used(), 0);
        c.check_invariants();
    }

    #[test]
    fn counters_saturate() {
        let mut c = cache(1, 8);
        c.stats.misses = u64::MAX;
        c.get(b"k", at(0));
        assert_eq!(c.stats().misses, u64::MAX);
    }

    #[test]
    fn compaction_keeps_values_intact() {
        let mut c = cache(8, 64);
        // Fill the arena, punch holes, then insert something that only fits
        // once the live entries have been slid together.
        let value = |i: u8| [i; 7];
        for i in 0..7u8 {
            c.insert(&[b'k', i], LIGHTS, &value(i), secs(60), at(0))
                .unwrap();
        }
        assert_eq!(c.bytes_used(), 7 * 9);
        for i in [1u8, 3, 4] {
            assert!(c.invalidate_key(&[b'k', i]));
        }
        assert_eq!(c.tail, 63, "holes are only freed logically");
        c.insert(b"big", SWITCHES, &[0xee; 24], secs(60), at(0))
            .unwrap();
        assert_eq!(c.stats().evictions, 0, "27 bytes fit in 3 holes");
        assert_eq!(c.tail, 4 * 9 + 27);
        for i in [0u8, 2, 5, 6] {
            assert_eq!(c.get(&[b'k', i], at(0)), Some(&value(i)[..]));
        }
        assert_eq!(c.get(b"big", at(0)), Some(&[0xee; 24][..]));
        c.check_invariants();
    }

    #[test]
    fn removing_the_last_entry_rewinds_the_tail() {
        let mut c = cache(4, 20);
        c.insert(b"a", LIGHTS, &[1; 9], secs(60), at(0)).unwrap();
        c.insert(b"b", LIGHTS, &[2; 4], secs(60), at(0)).unwrap();
        // Replacing the newest entry reuses its bytes without compacting.
        c.insert(b"b", LIGHTS, &[3; 9], secs(60), at(0)).unwrap();
        assert_eq!(c.tail, 20);
        assert_eq!(c.get(b"a", at(0)), Some(&[1; 9][..]));
        assert_eq!(c.get(b"b", at(0)), Some(&[3; 9][..]));
        c.check_invariants();
    }

    #[test]
    fn empty_entries_stay_inside_the_arena_when_the_tail_rewinds() {
        // Found by `prop_never_exceeds_capacity`: a zero-byte entry appended
        // after `a` was left beyond the tail once `a` was removed.
        let mut c = cache(2, 58);
        c.insert(b"a", LIGHTS, &[1; 31], secs(1), at(0)).unwrap();
        c.insert(b"", LIGHTS, b"", secs(1), at(0)).unwrap();
        c.insert(b"a", LIGHTS, b"", Duration::ZERO, at(0)).unwrap();
        c.check_invariants();
        c.insert(b"b", LIGHTS, &[2; 56], secs(1), at(0)).unwrap();
        assert_eq!(c.get(b"", at(0)), Some(&b""[..]));
        assert_eq!(c.get(b"b", at(0)), Some(&[2; 56][..]));
        c.check_invariants();
    }

    #[test]
    fn purge_expired_and_clear() {
        let mut c = cache(4, 64);
        c.insert(b"a", LIGHTS, b"1", secs(1), at(0)).unwrap();
        c.insert(b"b", LIGHTS, b"2", secs(2), at(0)).unwrap();
        c.insert(b"c", LIGHTS, b"3", secs(3), at(0)).unwrap();
        assert_eq!(c.purge_expired(at(999)), 0);
        assert_eq!(c.purge_expired(at(2_000)), 2);
        assert_eq!(c.len(), 1);
        assert_eq!(c.get(b"c", at(2_000)), Some(&b"3"[..]));
        c.clear();
        assert!(c.is_empty());
        assert_eq!(c.get(b"c", at(2_000)), None);
        c.insert(b"d", LIGHTS, &[4; 60], secs(1), at(0)).unwrap();
        c.check_invariants();
    }

    #[test]
    fn module_usage_and_iteration_report_what_is_stored() {
        let mut c = cache(4, 64);
        c.insert(b"l1", LIGHTS, b"abc", secs(1), at(0)).unwrap();
        c.insert(b"l2", LIGHTS, b"de", secs(1), at(0)).unwrap();
        c.insert(b"s1", SWITCHES, b"", secs(1), at(0)).unwrap();
        assert_eq!(
            c.module_usage(LIGHTS),
            ModuleUsage {
                entries: 2,
                bytes: 9
            }
        );
        assert_eq!(
            c.module_usage(SWITCHES),
            ModuleUsage {
                entries: 1,
                bytes: 2
            }
        );
        assert_eq!(c.module_usage(ModuleId(9)), ModuleUsage::default());
        let mut seen: Vec<_> = c.iter().map(|e| (e.key, e.value, e.module)).collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                (&b"l1"[..], &b"abc"[..], LIGHTS),
                (&b"l2"[..], &b"de"[..], LIGHTS),
                (&b"s1"[..], &b""[..], SWITCHES),
            ]
        );
        assert_eq!((c.entry_capacity(), c.byte_capacity()), (4, 64));
        assert_eq!(c.stats().hits, 0, "iteration is not use");
    }

    #[test]
    fn errors_display_their_numbers() {
        let e = CacheError::TooLarge {
            needed: 17,
            capacity: 16,
        };
        assert_eq!(
            std::format!("{e}"),
            "cache entry needs 17 bytes but the cache holds 16"
        );
    }

    // ---- property tests -------------------------------------------------

    #[derive(Clone, Debug)]
    enum Op {
        Insert {
            key: Vec<u8>,
            module: u16,
            len: usize,
            ttl_ms: u64,
        },
        Get(Vec<u8>),
        InvalidateKey(Vec<u8>),
        InvalidateModule(u16),
        InvalidatePrefix(Vec<u8>),
        Purge,
        Advance(u64),
    }

    /// Keys from a tiny alphabet, so equal keys and shared prefixes are
    /// common, plus the pair whose table hashes collide.
    fn key() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            6 => prop::collection::vec(b'a'..=b'b', 0..=3),
            1 => prop::sample::select(COLLIDING.to_vec()).prop_map(<[u8]>::to_vec),
        ]
    }

    /// Times are whole multiples of 10 ms, so a `get` lands exactly on an
    /// entry's `expires_at` often.
    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (key(), 0..3u16, 0..=80usize, (0..=5u64).prop_map(|t| t * 10))
                .prop_map(|(key, module, len, ttl_ms)| Op::Insert { key, module, len, ttl_ms }),
            5 => key().prop_map(Op::Get),
            1 => key().prop_map(Op::InvalidateKey),
            1 => (0..3u16).prop_map(Op::InvalidateModule),
            1 => prop::collection::vec(b'a'..=b'b', 0..=2).prop_map(Op::InvalidatePrefix),
            1 => Just(Op::Purge),
            3 => (0..=3u64).prop_map(|t| Op::Advance(t * 10)),
        ]
    }

    /// Capacities (entries 0..=8, bytes 0..=256), a start time and the ops.
    fn scenario() -> impl Strategy<Value = (usize, usize, u64, Vec<Op>)> {
        (
            0..=8usize,
            0..=256usize,
            0..=1_000u64,
            prop::collection::vec(op(), 0..=80),
        )
    }

    /// A distinct-looking value for the `n`th insert.
    fn value_for(n: u64, len: usize) -> Vec<u8> {
        let seed = n.to_le_bytes();
        (0..len).map(|i| seed[i % 8] ^ (i as u8)).collect()
    }

    /// One [`Op`] as the cache carried it out, with the cache's answer.
    enum Step<'a> {
        Insert(Inserted<'a>),
        Get { key: &'a [u8], got: Option<Vec<u8>> },
        InvalidateKey { key: &'a [u8], removed: bool },
        InvalidateModule { module: u16, removed: usize },
        InvalidatePrefix { prefix: &'a [u8], removed: usize },
        Purge { removed: usize },
        Advance,
    }

    /// An [`Op::Insert`] with its value and TTL worked out, and the cache's
    /// answer.
    struct Inserted<'a> {
        key: &'a [u8],
        module: u16,
        value: Vec<u8>,
        ttl: Duration,
        result: Result<(), CacheError>,
    }

    /// What a property run holds the cache to.
    trait Oracle {
        /// Checks the cache's answer to one operation at `now`, and follows it.
        fn step(&mut self, step: Step<'_>, now: Instant);
        /// Checks the whole cache after every operation.
        fn check(&self, c: &TestCache);
    }

    /// Applies `ops` to a cache of `entries` slots and `bytes` bytes, starting
    /// at `start` ms, and has `oracle` check every answer and the cache after
    /// every operation. What the cache must say about itself whatever the
    /// oracle (counts removed match `len`, a purge leaves nothing expired) is
    /// checked here.
    fn drive(entries: usize, bytes: usize, start: u64, ops: &[Op], oracle: &mut impl Oracle) {
        let mut c = cache(entries, bytes);
        let mut now = at(start);
        for (n, op) in ops.iter().enumerate() {
            let before = c.len();
            let step = match op {
                Op::Insert {
                    key,
                    module,
                    len,
                    ttl_ms,
                } => {
                    let value = value_for(n as u64, *len);
                    let ttl = Duration::from_millis(*ttl_ms);
                    let result = c.insert(key, ModuleId(*module), &value, ttl, now);
                    Step::Insert(Inserted {
                        key,
                        module: *module,
                        value,
                        ttl,
                        result,
                    })
                }
                Op::Get(key) => Step::Get {
                    key,
                    got: c.get(key, now).map(<[u8]>::to_vec),
                },
                Op::InvalidateKey(key) => Step::InvalidateKey {
                    key,
                    removed: c.invalidate_key(key),
                },
                Op::InvalidateModule(module) => {
                    let removed = c.invalidate_module(ModuleId(*module));
                    assert_eq!(before - removed, c.len());
                    Step::InvalidateModule {
                        module: *module,
                        removed,
                    }
                }
                Op::InvalidatePrefix(prefix) => {
                    let removed = c.invalidate_prefix(prefix);
                    assert_eq!(before - removed, c.len());
                    Step::InvalidatePrefix { prefix, removed }
                }
                Op::Purge => {
                    let removed = c.purge_expired(now);
                    assert!(c.iter().all(|e| now < e.expires_at));
                    Step::Purge { removed }
                }
                Op::Advance(ms) => {
                    now = now.saturating_add(Duration::from_millis(*ms));
                    Step::Advance
                }
            };
            oracle.step(step, now);
            oracle.check(&c);
        }
    }

    /// Which property a [`Model`] run checks after every operation.
    #[derive(Clone, Copy, PartialEq)]
    enum Check {
        Capacity,
        NeverExpired,
        LatestValue,
    }

    /// The model-based oracle: checks one property against what a user is
    /// entitled to know.
    struct Model {
        check: Check,
        entries: usize,
        bytes: usize,
        /// The latest value stored for each key, its module and when it
        /// expires. The cache may forget entries (eviction), but must never
        /// contradict this.
        latest: BTreeMap<Vec<u8>, (Vec<u8>, u16, Instant)>,
    }

    impl Oracle for Model {
        fn step(&mut self, step: Step<'_>, now: Instant) {
            match step {
                Step::Insert(ins) => {
                    let Inserted {
                        key,
                        module,
                        value,
                        ttl,
                        result,
                    } = ins;
                    if ttl.is_zero() {
                        assert_eq!(result, Ok(()));
                        self.latest.remove(key);
                    } else if self.entries == 0 {
                        assert_eq!(result, Err(CacheError::NoEntryCapacity));
                    } else if key.len() + value.len() > self.bytes {
                        assert!(matches!(result, Err(CacheError::TooLarge { .. })));
                        self.latest.remove(key);
                    } else {
                        assert_eq!(result, Ok(()));
                        let expires = now.saturating_add(ttl);
                        self.latest.insert(key.to_vec(), (value, module, expires));
                    }
                }
                Step::Get {
                    key,
                    got: Some(got),
                } => {
                    let latest = self.latest.get(key);
                    if self.check == Check::NeverExpired {
                        let (_, _, expires) = latest.expect("value for a key never stored");
                        assert!(now < *expires, "expired entry returned at {now:?}");
                    }
                    if self.check == Check::LatestValue {
                        let (value, _, _) = latest.expect("value for an invalidated key");
                        assert_eq!(&got, value, "stale value for {key:?}");
                    }
                }
                Step::InvalidateKey { key, removed } => {
                    let known = self.latest.remove(key).is_some();
                    assert!(known || !removed);
                }
                Step::InvalidateModule { module, .. } => {
                    self.latest.retain(|_, (_, m, _)| *m != module);
                }
                Step::InvalidatePrefix { prefix, .. } => {
                    self.latest.retain(|key, _| !key.starts_with(prefix));
                }
                Step::Get { got: None, .. } | Step::Purge { .. } | Step::Advance => {}
            }
        }

        fn check(&self, c: &TestCache) {
            match self.check {
                Check::Capacity => {
                    assert!(c.len() <= c.entry_capacity());
                    assert!(c.bytes_used() <= c.byte_capacity());
                    assert_eq!(c.entry_capacity(), self.entries);
                    assert_eq!(c.byte_capacity(), self.bytes);
                    let stored: usize = c.iter().map(|e| e.key.len() + e.value.len()).sum();
                    assert_eq!(c.bytes_used(), stored);
                    assert_eq!(c.iter().count(), c.len());
                    c.check_invariants();
                }
                Check::NeverExpired => {}
                Check::LatestValue => {
                    // Everything stored is what was last inserted for its key.
                    for e in c.iter() {
                        let (value, module, expires) = &self.latest[e.key];
                        assert_eq!(
                            (e.value, e.module.0, e.expires_at),
                            (&value[..], *module, *expires)
                        );
                    }
                }
            }
        }
    }

    fn run(entries: usize, bytes: usize, start: u64, ops: &[Op], check: Check) {
        let mut model = Model {
            check,
            entries,
            bytes,
            latest: BTreeMap::new(),
        };
        drive(entries, bytes, start, ops, &mut model);
    }

    proptest! {
        /// 1. After any operation: `len <= entry_capacity`,
        ///    `bytes_used <= byte_capacity`, `bytes_used` is the sum of the
        ///    stored keys and values, and the internal invariants hold.
        #[test]
        fn prop_never_exceeds_capacity((entries, bytes, start, ops) in scenario()) {
            run(entries, bytes, start, &ops, Check::Capacity);
        }

        /// 2. `get` never returns a value the model says has expired.
        #[test]
        fn prop_never_returns_expired((entries, bytes, start, ops) in scenario()) {
            run(entries, bytes, start, &ops, Check::NeverExpired);
        }

        /// 3. Whatever `get` returns (and whatever is stored) is the value most
        ///    recently inserted for that key: never stale after a replace or an
        ///    invalidation.
        #[test]
        fn prop_returns_latest_value((entries, bytes, start, ops) in scenario()) {
            run(entries, bytes, start, &ops, Check::LatestValue);
        }

        /// 4. The cache behaves exactly like a naive reference LRU with the
        ///    same rules (no arena, no compaction): same answers, same
        ///    entries, same counters. This pins down eviction order and shows
        ///    compaction is invisible.
        #[test]
        fn prop_matches_reference_lru((entries, bytes, start, ops) in scenario()) {
            run_against_reference(entries, bytes, start, &ops);
        }
    }

    /// The same rules as `Cache`, written the obvious way with std.
    struct RefEntry {
        key: Vec<u8>,
        value: Vec<u8>,
        module: u16,
        expires_at: Instant,
        /// Clock reading at the last insert or hit.
        used: u64,
    }

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

        fn remove_where(&mut self, doomed: impl Fn(&RefEntry) -> bool) -> u64 {
            let before = self.entries.len();
            self.entries.retain(|e| !doomed(e));
            (before - self.entries.len()) as u64
        }

        fn insert(
            &mut self,
            key: &[u8],
            module: u16,
            value: &[u8],
            ttl: Duration,
            now: Instant,
        ) -> bool {
            let expires = now.saturating_add(ttl);
            if expires <= now {
                if let Some(i) = self.position(key) {
                    self.entries.remove(i);
                    self.stats.invalidations += 1;
                }
                return true;
            }
            let needed = key.len() + value.len();
            if self.entry_capacity == 0 || needed > self.byte_capacity {
                if let Some(i) = self.position(key) {
                    self.entries.remove(i);
                    self.stats.invalidations += 1;
                }
                self.stats.rejections += 1;
                return false;
            }
            if let Some(i) = self.position(key) {
                self.entries.remove(i);
                self.stats.replacements += 1;
            }
            if !self.fits(needed) {
                self.stats.expirations += self.remove_where(|e| now >= e.expires_at);
                while !self.fits(needed) {
                    let lru = (0..self.entries.len())
                        .min_by_key(|&i| self.entries[i].used)
                        .unwrap();
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
            true
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

    impl Oracle for Reference {
        fn step(&mut self, step: Step<'_>, now: Instant) {
            match step {
                Step::Insert(ins) => {
                    let stored = self.insert(ins.key, ins.module, &ins.value, ins.ttl, now);
                    assert_eq!(ins.result.is_ok(), stored);
                }
                Step::Get { key, got } => assert_eq!(got, self.get(key, now)),
                Step::InvalidateKey { key, removed } => {
                    let expected = self.remove_where(|e| e.key == key);
                    self.stats.invalidations += expected;
                    assert_eq!(removed, expected == 1);
                }
                Step::InvalidateModule { module, removed } => {
                    let expected = self.remove_where(|e| e.module == module);
                    self.stats.invalidations += expected;
                    assert_eq!(removed as u64, expected);
                }
                Step::InvalidatePrefix { prefix, removed } => {
                    let expected = self.remove_where(|e| e.key.starts_with(prefix));
                    self.stats.invalidations += expected;
                    assert_eq!(removed as u64, expected);
                }
                Step::Purge { removed } => {
                    let expected = self.remove_where(|e| now >= e.expires_at);
                    self.stats.expirations += expected;
                    assert_eq!(removed as u64, expected);
                }
                Step::Advance => {}
            }
        }

        fn check(&self, c: &TestCache) {
            let mut stored: Vec<_> = c
                .iter()
                .map(|e| (e.key.to_vec(), e.value.to_vec(), e.module.0, e.expires_at))
                .collect();
            stored.sort();
            let mut expected: Vec<_> = self
                .entries
                .iter()
                .map(|e| (e.key.clone(), e.value.clone(), e.module, e.expires_at))
                .collect();
            expected.sort();
            assert_eq!(stored, expected);
            assert_eq!(c.stats(), self.stats);
            assert_eq!(c.bytes_used(), self.used());
        }
    }

    fn run_against_reference(entries: usize, bytes: usize, start: u64, ops: &[Op]) {
        let mut reference = Reference {
            entry_capacity: entries,
            byte_capacity: bytes,
            entries: Vec::new(),
            clock: 0,
            stats: CacheStats::default(),
        };
        drive(entries, bytes, start, ops, &mut reference);
    }
}
