//! Arenas: a module's working memory, and the pool's memory it comes from.
//!
//! The slot pool ([`crate::slots`]) carves its memory into arenas of one
//! size and lends one to each loaded module; which slot holds which arena,
//! and when it gives it back, is the pool's business (its policies). This
//! module is the memory side of that: an arena lent for an operation
//! ([`Arena`]) hands out two kinds of memory, from its two ends:
//!
//! - [`Arena::alloc`]: kept until the slot is reclaimed (state a module
//!   reuses from one operation to the next, a parsed table say), so the
//!   slot's policy decides how long those bytes live;
//! - [`Arena::scratch`]: one operation's working memory (a directive's
//!   unescaped token, an op's request), zeroed and given back as soon as
//!   the slot has no operation in flight, so a module that stays loaded
//!   does not fill its arena operation after operation.
//!
//! Every byte handed out is zero: what a slot kept is zeroed when the slot
//! is reclaimed and its arena goes back to the pool, so nothing a handler
//! wrote, a token included, outlives the slot. The bytes are zeroed, not
//! returned to the operating system: an arena's pages, once written, stay
//! resident (a load takes the free arena of lowest index, so the arenas
//! used stay the first few), and reclaiming bounds how many arenas are lent
//! at once and how long what a module kept stays readable. An arena's memory
//! never leaves its fixed range of the pool's.

use core::num::NonZeroU16;

/// A bump allocator over one slot's arena, lent for the duration of an operation.
///
/// Every allocation is a fresh, zeroed range of the arena. What
/// [`Arena::alloc`] hands out (from the arena's start) is kept until the slot
/// is reclaimed, which zeroes it: bytes allocated by earlier operations since
/// the module was loaded stay reachable through [`Arena::retained`], which is
/// how a module keeps state from one operation to the next. What
/// [`Arena::scratch`] hands out (from the arena's end) is the operation's
/// alone: zeroed and free again once the slot has no operation in flight.
pub struct Arena<'a> {
    retained: &'a mut [u8],
    rest: &'a mut [u8],
    used: &'a mut u32,
    scratch: &'a mut u32,
}

/// The arena has fewer free bytes than were asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArenaFull {
    /// Bytes asked for.
    pub requested: usize,
    /// Bytes still free in the arena.
    pub available: usize,
}

impl<'a> Arena<'a> {
    /// The arena over `memory`, one whole arena of the pool, of which the
    /// first `used` bytes were kept by earlier operations and the last
    /// `scratch` bytes are lent to operations still in flight. Both counts
    /// grow as this arena hands out memory.
    #[inline]
    fn over(memory: &'a mut [u8], used: &'a mut u32, scratch: &'a mut u32) -> Arena<'a> {
        let size = memory.len();
        let kept = (*used as usize).min(size);
        let (retained, rest) = memory.split_at_mut(kept);
        let free = size - kept - (*scratch as usize).min(size - kept);
        Arena {
            retained,
            rest: &mut rest[..free],
            used,
            scratch,
        }
    }

    /// Take `len` zeroed bytes from the arena.
    pub fn alloc(&mut self, len: usize) -> Result<&'a mut [u8], ArenaFull> {
        if len > self.rest.len() {
            return Err(ArenaFull {
                requested: len,
                available: self.rest.len(),
            });
        }
        let rest = core::mem::take(&mut self.rest);
        let (taken, rest) = rest.split_at_mut(len);
        self.rest = rest;
        // `len` fits in the remaining arena, whose size fits in u32 (checked at pool construction).
        *self.used = self.used.saturating_add(len as u32);
        Ok(taken)
    }

    /// Take `len` zeroed bytes from the arena's end for this operation only:
    /// they are zeroed and given back when the slot's last operation in
    /// flight is released, whatever the slot's policy.
    pub fn scratch(&mut self, len: usize) -> Result<&'a mut [u8], ArenaFull> {
        let available = self.rest.len();
        if len > available {
            return Err(ArenaFull {
                requested: len,
                available,
            });
        }
        let rest = core::mem::take(&mut self.rest);
        let (rest, taken) = rest.split_at_mut(available - len);
        self.rest = rest;
        // As in `alloc`: `len` fits in the arena, whose size fits in u32.
        *self.scratch = self.scratch.saturating_add(len as u32);
        Ok(taken)
    }

    /// Copy `bytes` into the arena.
    pub fn alloc_copy(&mut self, bytes: &[u8]) -> Result<&'a mut [u8], ArenaFull> {
        let dst = self.alloc(bytes.len())?;
        dst.copy_from_slice(bytes);
        Ok(dst)
    }

    /// Bytes allocated by earlier operations since the module was loaded.
    pub fn retained(&mut self) -> &mut [u8] {
        self.retained
    }

    /// Bytes still free.
    pub fn available(&self) -> usize {
        self.rest.len()
    }
}

/// The arena lent to a slot, stored as its index + 1 so that an
/// `Option<Lent>` takes two bytes (and a slot table entry 88 on 64-bit
/// targets, the figure `memory-budget.md` quotes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lent(NonZeroU16);

impl Lent {
    /// At most `u16::MAX` arenas (see `Arenas::new_zeroed`): the last
    /// index, `u16::MAX - 1`, is stored as `u16::MAX`.
    #[inline]
    pub(crate) fn new(index: u16) -> Lent {
        Lent(NonZeroU16::MIN.saturating_add(index))
    }

    #[inline]
    pub(crate) fn index(self) -> usize {
        usize::from(self.0.get() - 1)
    }
}

/// The pool's memory carved into arenas of one size: how many are lent now
/// and at most, each arena's range of the memory, and the zeroing that gives
/// an arena back fresh. Which arenas are lent is the slot table's record.
pub(crate) struct Arenas<M> {
    memory: M,
    size: usize,
    count: usize,
    in_use: usize,
    high_water: usize,
}

impl<M> Arenas<M>
where
    M: AsRef<[u8]> + AsMut<[u8]>,
{
    /// `memory`, all zero already, carved into arenas of `size` bytes; `None`
    /// when that leaves no arena or `size` does not fit in u32. Debug builds
    /// check that the memory is zero.
    pub(crate) fn new_zeroed(memory: M, size: usize) -> Option<Self> {
        debug_assert!(memory.as_ref().iter().all(|&b| b == 0), "memory not zeroed");
        let count = memory.as_ref().len().checked_div(size).unwrap_or(0);
        if count == 0 || size > u32::MAX as usize {
            return None;
        }
        Some(Arenas {
            memory,
            size,
            // Arena indices are u16; more arenas than that are left unused.
            count: count.min(u16::MAX as usize),
            in_use: 0,
            high_water: 0,
        })
    }

    /// Size of one arena in bytes.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Arenas in the pool.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// Arenas lent now.
    pub(crate) fn in_use(&self) -> usize {
        self.in_use
    }

    /// The most arenas ever lent at once.
    pub(crate) fn high_water(&self) -> usize {
        self.high_water
    }

    /// Lend the free arena of lowest index (so the arenas used, and the
    /// pages made resident, stay the first few), if `is_lent` leaves one.
    pub(crate) fn lend_free(&mut self, is_lent: impl Fn(Lent) -> bool) -> Option<Lent> {
        let lent = (0..self.count as u16)
            .map(Lent::new)
            .find(|&lent| !is_lent(lent))?;
        self.in_use += 1;
        self.high_water = self.high_water.max(self.in_use);
        Some(lent)
    }

    /// The lent arena for an operation: see [`Arena::over`] for `used` and
    /// `scratch`. `None` if the arena is not in the memory.
    pub(crate) fn arena<'a>(
        &'a mut self,
        lent: Lent,
        used: &'a mut u32,
        scratch: &'a mut u32,
    ) -> Option<Arena<'a>> {
        let start = lent.index() * self.size;
        let memory = self.memory.as_mut().get_mut(start..start + self.size)?;
        Some(Arena::over(memory, used, scratch))
    }

    /// Zero the last `scratch` bytes of the lent arena (the scratch of
    /// operations no longer in flight): free again. Returns the bytes zeroed.
    pub(crate) fn give_back_scratch(&mut self, lent: Lent, scratch: u32) -> u64 {
        let scratch = (scratch as usize).min(self.size);
        let end = (lent.index() + 1) * self.size;
        if let Some(bytes) = self.memory.as_mut().get_mut(end - scratch..end) {
            bytes.fill(0);
        }
        scratch as u64
    }

    /// Zero the first `used` bytes of the lent arena (what its slot kept)
    /// and take the arena back. Returns the bytes zeroed.
    pub(crate) fn give_back(&mut self, lent: Lent, used: u32) -> u64 {
        let used = (used as usize).min(self.size);
        let start = lent.index() * self.size;
        if let Some(bytes) = self.memory.as_mut().get_mut(start..start + used) {
            bytes.fill(0);
        }
        self.in_use -= 1;
        used as u64
    }

    /// All of the pool's memory, for tests to read.
    #[cfg(test)]
    pub(crate) fn memory(&self) -> &[u8] {
        self.memory.as_ref()
    }

    /// Use only the first `count` arenas, to make exhaustion easy to reach in tests.
    #[cfg(test)]
    pub(crate) fn use_only(&mut self, count: usize) {
        self.count = count.min(self.count);
    }
}

/// Make `bytes` all zero, writing only the 4 KiB pages that are not zero
/// already. Fresh zeroed memory from the operating system is not resident
/// until written (reading it maps the shared zero page), so a large pool or
/// cache costs resident memory only as it is used.
pub(crate) fn clear(bytes: &mut [u8]) {
    for page in bytes.chunks_mut(4096) {
        if page.iter().any(|&b| b != 0) {
            page.fill(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_bytes_come_from_the_start_and_scratch_from_the_end() {
        let mut memory = [0u8; 16];
        let (mut used, mut scratch) = (0, 0);
        let mut arena = Arena::over(&mut memory, &mut used, &mut scratch);
        arena.alloc_copy(b"kept").unwrap();
        arena.scratch(3).unwrap().copy_from_slice(b"tmp");
        assert_eq!(arena.available(), 9);
        assert_eq!(
            arena.alloc(10),
            Err(ArenaFull {
                requested: 10,
                available: 9
            })
        );
        assert_eq!(arena.scratch(9).unwrap(), &[0; 9]);
        assert_eq!(arena.available(), 0);
        assert_eq!((used, scratch), (4, 12));
        assert_eq!(&memory[..4], b"kept");
        assert_eq!(&memory[13..], b"tmp");
        // The next operation sees what was kept, and none of the scratch in flight.
        scratch = 3;
        let mut arena = Arena::over(&mut memory, &mut used, &mut scratch);
        assert_eq!(arena.retained(), b"kept");
        assert_eq!(arena.available(), 9);
    }

    #[test]
    fn an_arena_given_back_is_zero_and_lent_arenas_are_counted() {
        let mut arenas = Arenas::new_zeroed([0u8; 32], 8).unwrap();
        assert_eq!((arenas.count(), arenas.size()), (4, 8));
        let lent = arenas.lend_free(|lent| lent.index() < 2).unwrap();
        assert_eq!(lent.index(), 2);
        let (mut used, mut scratch) = (0, 0);
        let mut arena = arenas.arena(lent, &mut used, &mut scratch).unwrap();
        arena.alloc(3).unwrap().fill(1);
        arena.scratch(2).unwrap().fill(2);
        assert_eq!(&arenas.memory()[16..24], &[1, 1, 1, 0, 0, 0, 2, 2]);
        arenas.give_back_scratch(lent, 2);
        assert_eq!(&arenas.memory()[16..24], &[1, 1, 1, 0, 0, 0, 0, 0]);
        let other = arenas.lend_free(|lent| lent == Lent::new(2)).unwrap();
        assert_eq!(other.index(), 0);
        assert_eq!((arenas.in_use(), arenas.high_water()), (2, 2));
        assert_eq!(arenas.lend_free(|_| true), None);
        arenas.give_back(lent, 3);
        arenas.give_back(other, 0);
        assert!(arenas.memory().iter().all(|&b| b == 0));
        assert_eq!((arenas.in_use(), arenas.high_water()), (0, 2));
        assert!(Arenas::new_zeroed([0u8; 7], 8).is_none());
        assert!(Arenas::new_zeroed([0u8; 7], 0).is_none());
    }
}
