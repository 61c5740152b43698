//! A counting global allocator: every allocation and free of the process
//! goes to the system allocator, and is counted on the way (calls and
//! bytes), so the driver can say how many allocations one event cost and
//! whether the heap grows from event to event.
//!
//! The counters are process-wide atomics (relaxed: each is a plain tally,
//! read between events on the thread that runs them), so an allocation
//! made on another thread while an event runs is counted with that event.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The system allocator, counting.
pub struct Counting {
    allocations: AtomicU64,
    allocated: AtomicU64,
    freed: AtomicU64,
}

/// The counters at one moment, or the difference between two moments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Calls that obtained memory: `alloc`, `alloc_zeroed` and `realloc`.
    pub allocations: u64,
    /// Bytes those calls obtained (a `realloc` counts its new size).
    pub allocated: u64,
    /// Bytes given back (a `realloc` gives back its old size).
    pub freed: u64,
}

impl Tally {
    /// What happened between `before` and `self`.
    pub fn since(self, before: Tally) -> Tally {
        Tally {
            allocations: self.allocations.wrapping_sub(before.allocations),
            allocated: self.allocated.wrapping_sub(before.allocated),
            freed: self.freed.wrapping_sub(before.freed),
        }
    }

    /// How much the live heap grew (negative: shrank).
    pub fn live_change(self) -> i64 {
        self.allocated as i64 - self.freed as i64
    }
}

impl Counting {
    /// An allocator with every counter at zero.
    pub const fn new() -> Self {
        Counting {
            allocations: AtomicU64::new(0),
            allocated: AtomicU64::new(0),
            freed: AtomicU64::new(0),
        }
    }

    /// The counters now.
    pub fn tally(&self) -> Tally {
        Tally {
            allocations: self.allocations.load(Relaxed),
            allocated: self.allocated.load(Relaxed),
            freed: self.freed.load(Relaxed),
        }
    }

    fn obtained(&self, ptr: *mut u8, size: usize) -> *mut u8 {
        if !ptr.is_null() {
            self.allocations.fetch_add(1, Relaxed);
            self.allocated.fetch_add(size as u64, Relaxed);
        }
        ptr
    }
}

// SAFETY: every method forwards to `System` with the caller's own arguments,
// so `System` upholds GlobalAlloc's contract; the counting around it only
// touches atomics and never allocates.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's `layout` has a non-zero size, as `alloc` requires.
        let ptr = unsafe { System.alloc(layout) };
        self.obtained(ptr, layout.size())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        self.obtained(ptr, layout.size())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller passes a block this allocator (that is, `System`)
        // gave out, with the layout it was given out with.
        unsafe { System.dealloc(ptr, layout) };
        self.freed.fetch_add(layout.size() as u64, Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller passes a block `System` gave out with `layout`
        // and a valid non-zero `new_size`, as `realloc` requires.
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        if !moved.is_null() {
            // On failure the old block is still the caller's: nothing was freed.
            self.freed.fetch_add(layout.size() as u64, Relaxed);
        }
        self.obtained(moved, new_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_subtract_and_say_how_the_heap_changed() {
        let before = Tally {
            allocations: 10,
            allocated: 1000,
            freed: 400,
        };
        let after = Tally {
            allocations: 13,
            allocated: 1300,
            freed: 1500,
        };
        let between = after.since(before);
        assert_eq!(
            between,
            Tally {
                allocations: 3,
                allocated: 300,
                freed: 1100
            }
        );
        assert_eq!(between.live_change(), -800);
    }

    /// A private instance, called directly: its counts are exact, whatever
    /// other tests allocate meanwhile through the global one.
    #[test]
    #[allow(unsafe_code)]
    fn counts_each_call_and_its_bytes() {
        let heap = Counting::new();
        let layout = Layout::from_size_align(100, 8).unwrap();
        // SAFETY: a non-zero size.
        let ptr = unsafe { heap.alloc(layout) };
        assert!(!ptr.is_null());
        // SAFETY: `ptr` came from `heap` with `layout`; 250 is non-zero.
        let ptr = unsafe { heap.realloc(ptr, layout, 250) };
        assert!(!ptr.is_null());
        let bigger = Layout::from_size_align(250, 8).unwrap();
        // SAFETY: `ptr` is the reallocated block, now of layout `bigger`.
        unsafe { heap.dealloc(ptr, bigger) };
        // SAFETY: a non-zero size.
        let zeroed = unsafe { heap.alloc_zeroed(layout) };
        // SAFETY: `alloc_zeroed` returned 100 readable bytes.
        assert!(
            unsafe { std::slice::from_raw_parts(zeroed, 100) }
                .iter()
                .all(|&b| b == 0)
        );
        assert_eq!(
            heap.tally(),
            Tally {
                allocations: 3,
                allocated: 100 + 250 + 100,
                freed: 100 + 250,
            }
        );
        // SAFETY: `zeroed` came from `heap` with `layout`.
        unsafe { heap.dealloc(zeroed, layout) };
        assert_eq!(heap.tally().live_change(), 0);
    }
}
