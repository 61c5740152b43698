//! The memory budget: one place that adds up every fixed capacity of the core.
//!
//! What it is for: lee runs in a 128 MB Lambda. Everything the core holds is
//! sized when it is built: the cache (entry table and value bytes), the slot
//! pool (slot table and arenas) and the buffers an event and Home Assistant's
//! answer are read into. [`Capacities`] names those sizes; [`MemoryBudget`]
//! knows how much of the Lambda's memory is left for them after what lee does
//! not control (the binary, the async runtime, TLS, and headroom for the
//! allocator and the Lambda extensions that share the sandbox), and refuses a
//! configuration that would not fit, saying by how much.
//!
//! The three presets ([`Capacities::MINIMUM`], [`Capacities::STANDARD`],
//! [`Capacities::MAXIMUM`]) are the starting points a deployment picks from;
//! memory-budget.md explains how each number was sized.
//!
//! Invariant (property-tested): [`MemoryBudget::check`] accepts a
//! configuration exactly when its total, computed without overflow, is no
//! more than the budget's available bytes.

use core::fmt;
use core::mem::size_of;

use crate::cache::EntrySlot;
use crate::discovery::{Tracked, tracked_for};
use crate::slots::SlotEntry;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// The sizes of everything the core holds for the life of the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacities {
    /// Cache entries (one [`EntrySlot`] each).
    pub cache_entries: usize,
    /// Bytes of keys and values the cache can hold.
    pub cache_bytes: usize,
    /// Modules that can have a slot (one [`SlotEntry`] each).
    pub slots: usize,
    /// Bytes in one slot arena.
    pub arena_size: usize,
    /// Arenas in the slot pool.
    pub arenas: usize,
    /// Largest event accepted, in bytes.
    pub event_buffer: usize,
    /// Largest Home Assistant answer accepted, in bytes.
    pub response_buffer: usize,
}

impl Capacities {
    /// For the smallest homes and the tightest memory: a few dozen devices.
    pub const MINIMUM: Capacities = Capacities {
        cache_entries: 64,
        cache_bytes: 256 * KIB,
        slots: 8,
        arena_size: 16 * KIB,
        arenas: 8,
        event_buffer: 64 * KIB,
        response_buffer: 512 * KIB,
    };

    /// The default: a home of a few hundred entities.
    pub const STANDARD: Capacities = Capacities {
        cache_entries: 512,
        cache_bytes: 2 * MIB,
        slots: 16,
        arena_size: 64 * KIB,
        arenas: 16,
        event_buffer: 256 * KIB,
        response_buffer: MIB,
    };

    /// For large homes: thousands of entities, Discovery answers of megabytes.
    pub const MAXIMUM: Capacities = Capacities {
        cache_entries: 4096,
        cache_bytes: 16 * MIB,
        slots: 32,
        arena_size: 256 * KIB,
        arenas: 32,
        event_buffer: MIB,
        response_buffer: 6 * MIB,
    };

    /// Bytes each part needs, and their total.
    pub fn usage(&self) -> Usage {
        let cache = self
            .cache_entries
            .saturating_mul(size_of::<EntrySlot>())
            .saturating_add(self.cache_bytes);
        let slots = self
            .slots
            .saturating_mul(size_of::<SlotEntry>())
            .saturating_add(self.arena_size.saturating_mul(self.arenas));
        // The Discovery guard tracks the endpoints of an answer as big as
        // the response buffer.
        let tracked = tracked_for(self.response_buffer).saturating_mul(size_of::<Tracked>());
        let buffers = self
            .event_buffer
            .saturating_add(self.response_buffer)
            .saturating_add(tracked);
        Usage {
            cache,
            slots,
            buffers,
            total: cache.saturating_add(slots).saturating_add(buffers),
        }
    }
}

impl Default for Capacities {
    fn default() -> Self {
        Capacities::STANDARD
    }
}

/// Bytes needed by each part of a configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// Cache entry table and value bytes.
    pub cache: usize,
    /// Slot table and arenas.
    pub slots: usize,
    /// Event and response buffers, and the Discovery guard's tracking of
    /// the endpoints in a response.
    pub buffers: usize,
    /// The sum (saturating: `usize::MAX` means "more than can be counted").
    pub total: usize,
}

/// Memory lee needs that is not the core's to size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reserved {
    /// The binary's text and data, mapped and resident.
    pub binary: usize,
    /// The async runtime, the Lambda runtime client and the allocator's own use.
    pub runtime: usize,
    /// TLS: root certificates and per-connection buffers.
    pub tls: usize,
    /// Slack for fragmentation, transient parsing, and Lambda extensions
    /// (such as the Parameters and Secrets extension) that share the memory.
    pub headroom: usize,
}

impl Reserved {
    /// The sum of the reservations (saturating).
    pub fn total(&self) -> usize {
        self.binary
            .saturating_add(self.runtime)
            .saturating_add(self.tls)
            .saturating_add(self.headroom)
    }
}

/// How much memory the core's fixed capacities may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryBudget {
    /// The memory the function is given.
    pub limit: usize,
    /// What is set aside for everything else.
    pub reserved: Reserved,
}

impl MemoryBudget {
    /// A 128 MB Lambda (AWS counts Lambda memory in MiB).
    pub const LAMBDA_128_MB: MemoryBudget = MemoryBudget {
        limit: 128 * MIB,
        reserved: Reserved {
            binary: 8 * MIB,
            runtime: 8 * MIB,
            tls: 8 * MIB,
            headroom: 48 * MIB,
        },
    };

    /// Bytes left for the core after the reservations.
    pub fn available(&self) -> usize {
        self.limit.saturating_sub(self.reserved.total())
    }

    /// Accept `capacities` if they fit in what is available, else say by how much they do not.
    pub fn check(&self, capacities: &Capacities) -> Result<Fit, OverBudget> {
        let usage = capacities.usage();
        let available = self.available();
        if usage.total <= available {
            Ok(Fit {
                usage,
                available,
                spare: available - usage.total,
            })
        } else {
            Err(OverBudget {
                usage,
                available,
                over_by: usage.total - available,
            })
        }
    }
}

impl Default for MemoryBudget {
    fn default() -> Self {
        MemoryBudget::LAMBDA_128_MB
    }
}

/// A configuration that fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fit {
    /// What it needs.
    pub usage: Usage,
    /// What the budget had.
    pub available: usize,
    /// What is left over.
    pub spare: usize,
}

/// A configuration that does not fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverBudget {
    /// What it needs.
    pub usage: Usage,
    /// What the budget had.
    pub available: usize,
    /// How much too much.
    pub over_by: usize,
}

impl fmt::Display for OverBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the configuration needs {} bytes (cache {}, slots {}, buffers {}) \
             but the memory budget leaves {} bytes: over by {} bytes ({} KiB)",
            self.usage.total,
            self.usage.cache,
            self.usage.slots,
            self.usage.buffers,
            self.available,
            self.over_by,
            self.over_by.div_ceil(KIB),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::ToString;

    #[test]
    fn every_preset_fits_a_128_mb_lambda_with_the_reservations() {
        let budget = MemoryBudget::default();
        for preset in [
            Capacities::MINIMUM,
            Capacities::STANDARD,
            Capacities::MAXIMUM,
        ] {
            let fit = budget.check(&preset).unwrap();
            assert!(fit.spare > 0);
        }
        assert_eq!(budget.available(), 56 * MIB);
    }

    /// The figures quoted in memory-budget.md (64-bit targets, where a
    /// `SlotEntry` is 88 bytes).
    #[cfg(target_pointer_width = "64")]
    #[test]
    fn preset_totals_match_memory_budget_md() {
        let budget = MemoryBudget::default();
        let totals = [
            Capacities::MINIMUM,
            Capacities::STANDARD,
            Capacities::MAXIMUM,
        ]
        .map(|c| (c.usage().total, budget.check(&c).unwrap().spare));
        assert_eq!(
            totals,
            [
                (1_084_120, 57_636_136),
                (4_670_872, 54_049_384),
                (33_819_416, 24_900_840)
            ]
        );
        let oversized = Capacities {
            cache_bytes: 64 * MIB,
            ..Capacities::STANDARD
        };
        assert_eq!(budget.check(&oversized).unwrap_err().over_by, 10_962_328);
    }

    #[test]
    fn usage_counts_tables_as_well_as_bytes() {
        let caps = Capacities {
            cache_entries: 10,
            cache_bytes: 1000,
            slots: 3,
            arena_size: 100,
            arenas: 4,
            event_buffer: 7,
            response_buffer: 11,
        };
        let u = caps.usage();
        assert_eq!(u.cache, 10 * size_of::<EntrySlot>() + 1000);
        assert_eq!(u.slots, 3 * size_of::<SlotEntry>() + 400);
        assert_eq!(u.buffers, 18 + size_of::<Tracked>());
        assert_eq!(u.total, u.cache + u.slots + u.buffers);
    }

    #[test]
    fn refuses_an_oversized_cache_saying_by_how_much() {
        let budget = MemoryBudget::default();
        let caps = Capacities {
            cache_bytes: 64 * MIB,
            ..Capacities::STANDARD
        };
        let over = budget.check(&caps).unwrap_err();
        assert_eq!(over.over_by, caps.usage().total - 56 * MIB);
        let message = over.to_string();
        assert!(message.contains("over by"), "{message}");
        assert!(message.contains(&over.over_by.to_string()), "{message}");
    }

    #[test]
    fn overflowing_sizes_are_refused_not_wrapped() {
        let caps = Capacities {
            arena_size: usize::MAX / 2,
            arenas: 3,
            ..Capacities::MINIMUM
        };
        assert_eq!(caps.usage().total, usize::MAX);
        assert!(MemoryBudget::default().check(&caps).is_err());
    }

    proptest! {
        #[test]
        fn accepts_exactly_the_configurations_that_fit(
            cache_entries in 0usize..1 << 20,
            cache_bytes in 0usize..1 << 28,
            slots in 0usize..1 << 12,
            arena_size in 0usize..1 << 22,
            arenas in 0usize..1 << 8,
            event_buffer in 0usize..1 << 24,
            response_buffer in 0usize..1 << 24,
            limit in 0usize..1 << 30,
        ) {
            let caps = Capacities {
                cache_entries, cache_bytes, slots, arena_size, arenas, event_buffer, response_buffer,
            };
            let budget = MemoryBudget { limit, ..MemoryBudget::default() };
            let exact: u128 = cache_entries as u128 * size_of::<EntrySlot>() as u128
                + cache_bytes as u128
                + slots as u128 * size_of::<SlotEntry>() as u128
                + arena_size as u128 * arenas as u128
                + event_buffer as u128
                + response_buffer as u128
                + (response_buffer / crate::discovery::MIN_ENDPOINT_BYTES + 1) as u128
                    * size_of::<Tracked>() as u128;
            let available = (limit as u128).saturating_sub(budget.reserved.total() as u128);
            match budget.check(&caps) {
                Ok(fit) => {
                    prop_assert!(exact <= available);
                    prop_assert_eq!(fit.spare as u128, available - exact);
                }
                Err(over) => {
                    prop_assert!(exact > available);
                    prop_assert_eq!(over.over_by as u128, exact - available);
                }
            }
        }
    }
}
