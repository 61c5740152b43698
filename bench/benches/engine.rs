//! The engine's standing decisions, each on its own: the cache at capacity
//! (gets, and puts that must evict), the circuit breaker and the retry plan
//! deciding about one call, and module slots being loaded and reclaimed.
//!
//! Sizes are the core's presets (`lee_core::budget::Capacities`): the cache
//! at `STANDARD` (512 entries, 2 MiB) and `MAXIMUM` (4096 entries, 16 MiB),
//! filled with 571-byte Home Assistant states under `ha.state/...` keys so
//! the entry table, not the arena, is what is full; the slot pool at
//! `STANDARD` (16 arenas of 64 KiB). Time is passed in, as the core always
//! takes it: no clock is read and nothing sleeps.
//!
//! `cargo bench -p lee-bench --bench engine` (criterion; filter with a name,
//! e.g. `-- cache/`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use lee_core::breaker::{Breaker, BreakerConfig, BreakerState};
use lee_core::budget::Capacities;
use lee_core::cache::{Cache, EntrySlot};
use lee_core::module::ModuleId;
use lee_core::retry::{Backoff, Decision, Effect, Failure, RetryPlan, SplitMix64, classify};
use lee_core::slots::{Load, Policy, SlotEntry, SlotPool};
use lee_core::time::Instant;

/// A Home Assistant state as `GET /api/states/<entity_id>` answers it: what
/// the cache holds for `ha.state` ops.
const STATE: &[u8] = br#"{"entity_id":"light.kitchen_lights","state":"on","attributes":{"min_color_temp_kelvin":2000,"max_color_temp_kelvin":6535,"min_mireds":153,"max_mireds":500,"effect_list":["rainbow","none"],"supported_color_modes":["hs","color_temp"],"color_mode":"hs","brightness":180,"hs_color":[345,75],"rgb_color":[255,63,111],"xy_color":[0.59,0.274],"friendly_name":"Kitchen Lights","supported_features":4},"last_changed":"2024-03-20T10:00:00.000000+00:00","last_updated":"2024-03-20T10:00:00.000000+00:00","context":{"id":"01HSD7Q9Y3ZKX6W1V2T8R4M5N0","parent_id":null,"user_id":null}}"#;

/// The module the cached states belong to.
const HA_CLIENT: ModuleId = ModuleId(2);

/// How long a state is cached (the `ha.state` op's TTL).
const STATE_TTL: Duration = Duration::from_secs(5);

/// Where the benchmarks' time starts: an hour after the origin, so nothing
/// saturates.
const START: Instant = Instant::from_millis(3_600_000);

type BoxedCache = Cache<Box<[EntrySlot]>, Box<[u8]>>;

/// `count` distinct state keys.
fn state_keys(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| format!("ha.state/light.entity_{i:05}").into_bytes())
        .collect()
}

/// A cache of `capacities`' size holding one state under each of `keys`,
/// which fill its entry table exactly.
fn full_cache(capacities: Capacities, keys: &[Vec<u8>], now: Instant) -> BoxedCache {
    let mut cache = Cache::new(
        vec![EntrySlot::EMPTY; capacities.cache_entries].into_boxed_slice(),
        vec![0u8; capacities.cache_bytes].into_boxed_slice(),
    );
    for key in keys {
        cache
            .insert(key, HA_CLIENT, STATE, STATE_TTL, now)
            .expect("a state fits");
    }
    assert_eq!(cache.len(), cache.entry_capacity());
    assert_eq!(cache.stats().evictions, 0, "the keys fit exactly");
    cache
}

fn cache_at_capacity(c: &mut Criterion) {
    let mut group = c.benchmark_group("cache");
    let now = START;
    for capacities in [Capacities::STANDARD, Capacities::MAXIMUM] {
        let entries = capacities.cache_entries;
        // Eight times the capacity: a key comes round again long after it
        // was evicted, so every put is of an absent key into a full table.
        let keys = state_keys(entries * 8);
        let mut cache = full_cache(capacities, &keys[..entries], now);

        // Hits on every cached key, in a scattered order (a stride coprime
        // with the capacity), so the scan position averages out.
        let mut at = 0;
        group.bench_function(
            BenchmarkId::new("get_hit_at_capacity", format!("{entries}_entries")),
            |b| {
                b.iter(|| {
                    at = (at + 197) % entries;
                    cache.get(black_box(&keys[at]), now).map(<[u8]>::len)
                })
            },
        );
        assert_eq!(cache.stats().misses, 0);
        group.bench_function(
            BenchmarkId::new("get_miss_at_capacity", format!("{entries}_entries")),
            |b| {
                b.iter(|| {
                    cache
                        .get(black_box(b"ha.state/light.absent"), now)
                        .is_some()
                })
            },
        );

        let before = cache.stats().evictions;
        let mut next = entries;
        group.bench_function(
            BenchmarkId::new("put_evicting_at_capacity", format!("{entries}_entries")),
            |b| {
                b.iter(|| {
                    next = (next + 1) % keys.len();
                    cache.insert(black_box(&keys[next]), HA_CLIENT, STATE, STATE_TTL, now)
                })
            },
        );
        let stats = cache.stats();
        assert_eq!(stats.replacements, 0, "every put was of an absent key");
        assert_eq!(
            stats.evictions - before,
            stats.insertions - entries as u64,
            "every put evicted one entry"
        );
        assert_eq!(cache.len(), entries);
    }
    group.finish();
}

fn breaker_decisions(c: &mut Criterion) {
    let mut group = c.benchmark_group("breaker");
    let start = START;

    let mut closed = Breaker::new(BreakerConfig::DEFAULT);
    group.bench_function("closed_admit_then_record_success", |b| {
        b.iter(|| {
            let permit = closed.try_acquire(black_box(start)).expect("closed");
            closed.record_success(permit, start);
        })
    });

    let mut open = Breaker::new(BreakerConfig::DEFAULT);
    for _ in 0..BreakerConfig::DEFAULT.failure_threshold() {
        let permit = open.try_acquire(start).expect("closed");
        open.record_failure(permit, start);
    }
    let during_cool_down = start.saturating_add(Duration::from_secs(1));
    assert_eq!(open.state(during_cool_down), BreakerState::Open);
    group.bench_function("open_reject_during_cool_down", |b| {
        b.iter(|| open.try_acquire(black_box(during_cool_down)).is_err())
    });

    // Five failures open it, a call is rejected, the cool-down passes, the
    // probe is admitted and its success closes the breaker: 13 decisions.
    let mut cycling = Breaker::new(BreakerConfig::DEFAULT);
    let mut now = start;
    let cool_down = BreakerConfig::DEFAULT.cool_down();
    group.bench_function("open_after_5_failures_then_probe_and_close", |b| {
        b.iter(|| {
            for _ in 0..5 {
                let permit = cycling.try_acquire(now).expect("closed");
                cycling.record_failure(permit, now);
            }
            let rejected = cycling.try_acquire(now).is_err();
            now = now.saturating_add(cool_down);
            let probe = cycling.try_acquire(now).expect("the probe");
            cycling.record_success(probe, now);
            now = now.saturating_add(Duration::from_secs(1));
            rejected
        })
    });
    assert_eq!(cycling.state(now), BreakerState::Closed);
    group.finish();
}

fn retry_decisions(c: &mut Criterion) {
    let mut group = c.benchmark_group("retry");
    let failures = [
        Failure::ConnectRefused,
        Failure::DnsFailure,
        Failure::ConnectTimeout,
        Failure::TlsFailure,
        Failure::SendFailed,
        Failure::ReadTimeout,
        Failure::ResponseTruncated,
        Failure::ResponseTooLarge,
        Failure::Status(503),
    ];
    group.bench_function("classify_9_failures_for_a_side_effect", |b| {
        b.iter(|| {
            black_box(&failures)
                .iter()
                .filter(|f| classify(**f, Effect::SideEffect).is_retriable())
                .count()
        })
    });

    // The bridge's plan for one directive: default backoff, 7.5 s budget,
    // 250 ms minimum attempt.
    let arrived = START;
    let plan = RetryPlan::new(
        Backoff::DEFAULT,
        arrived.saturating_add(Duration::from_millis(7_500)),
        Duration::from_millis(250),
    );
    let mut jitter = SplitMix64::new(7);
    let soon = arrived.saturating_add(Duration::from_millis(12));
    let cases = [
        (
            "decide_retry_after_connect_refused",
            Failure::ConnectRefused,
            soon,
        ),
        (
            "decide_give_up_side_effect_after_read_timeout",
            Failure::ReadTimeout,
            soon,
        ),
        (
            "decide_give_up_deadline_too_close",
            Failure::ConnectRefused,
            arrived.saturating_add(Duration::from_millis(7_300)),
        ),
    ];
    for (name, failure, now) in cases {
        let decision = plan.decide(1, failure, Effect::SideEffect, now, &mut jitter);
        assert_eq!(
            matches!(decision, Decision::RetryAt(_)),
            name.contains("retry"),
            "{name}: {decision:?}"
        );
        group.bench_function(name, |b| {
            b.iter(|| {
                plan.decide(
                    black_box(1),
                    black_box(failure),
                    Effect::SideEffect,
                    now,
                    &mut jitter,
                )
            })
        });
    }
    group.finish();
}

type BoxedPool = SlotPool<Box<[u8]>, Box<[SlotEntry]>>;

/// A pool of the `STANDARD` size (16 arenas of 64 KiB) with room for `slots`
/// modules, reclaiming `MemoryPressure` slots above `pressure_percent`.
fn standard_pool(slots: usize, pressure_percent: u8) -> BoxedPool {
    let c = Capacities::STANDARD;
    SlotPool::new(
        vec![0u8; c.arena_size * c.arenas].into_boxed_slice(),
        vec![SlotEntry::EMPTY; slots].into_boxed_slice(),
        c.arena_size,
        pressure_percent,
    )
    .expect("arenas")
}

fn slot_load_and_unload(c: &mut Criterion) {
    let mut group = c.benchmark_group("slots");
    let c_std = Capacities::STANDARD;
    let start = START;

    // The host's pool: 80 % pressure threshold, its three modules.
    let mut pool = standard_pool(c_std.slots, 80);
    let alexa = pool
        .register(ModuleId(1), "alexa", Policy::Deferred)
        .expect("room");
    let client = pool
        .register(
            ModuleId(2),
            "ha.client",
            Policy::TimeBased(Duration::from_secs(30)),
        )
        .expect("room");
    let services = pool
        .register(ModuleId(3), "ha.services", Policy::Immediate)
        .expect("room");

    pool.acquire(alexa, start).expect("loads");
    pool.release(alexa, start).expect("in flight");
    group.bench_function("acquire_release_warm_deferred_slot", |b| {
        b.iter(|| {
            let load = pool.acquire(black_box(alexa), start).expect("warm");
            pool.release(alexa, start).expect("in flight");
            load
        })
    });
    assert_eq!(pool.acquire(alexa, start), Ok(Load::Warm));
    pool.release(alexa, start).expect("in flight");

    // One directive's life of the Alexa module: loaded, the token unescaped
    // into its arena, released, reclaimed at the end of the invocation.
    group.bench_function("load_use_183_bytes_and_end_invocation_deferred_slot", |b| {
        b.iter(|| {
            let load = pool.acquire(black_box(alexa), start).expect("loads");
            let mut arena = pool.arena(alexa).expect("loaded");
            arena
                .alloc_copy(lee_bench::TOKEN.as_bytes())
                .expect("room for a token");
            pool.release(alexa, start).expect("in flight");
            pool.end_invocation(start);
            load
        });
        // Checked here, where the loop ran: a filter may skip this bench.
        assert!(!pool.is_loaded(alexa));
    });

    group.bench_function("load_and_unload_immediate_slot", |b| {
        b.iter(|| {
            let load = pool.acquire(black_box(services), start).expect("loads");
            pool.release(services, start).expect("reclaimed");
            load
        })
    });
    group.bench_function("load_use_4_kib_and_unload_immediate_slot", |b| {
        b.iter(|| {
            pool.acquire(black_box(services), start).expect("loads");
            let mut arena = pool.arena(services).expect("loaded");
            arena.alloc(4096).expect("room")[..8].copy_from_slice(b"scratch!");
            pool.release(services, start).expect("reclaimed")
        })
    });
    assert!(!pool.is_loaded(services));

    let mut now = start;
    let idle = Duration::from_secs(31);
    group.bench_function("load_then_reclaim_idle_time_based_slot", |b| {
        b.iter(|| {
            pool.acquire(black_box(client), now).expect("loads");
            pool.release(client, now).expect("in flight");
            now = now.saturating_add(idle);
            pool.reclaim(now)
        })
    });
    assert!(!pool.is_loaded(client));

    // Every arena held: 17 `MemoryPressure` modules take turns on 16
    // arenas, so each load first reclaims the least recently used one.
    let arenas = c_std.arenas;
    let mut full = standard_pool(arenas + 1, 100);
    let modules: Vec<_> = (0..=arenas)
        .map(|i| {
            full.register(ModuleId(i as u16), "module", Policy::MemoryPressure)
                .expect("room")
        })
        .collect();
    let mut now = start;
    for &slot in &modules[..arenas] {
        full.acquire(slot, now).expect("a free arena");
        full.release(slot, now).expect("in flight");
        now = now.saturating_add(Duration::from_millis(1));
    }
    assert_eq!(full.stats().arenas_in_use, arenas);
    let mut turn = arenas;
    group.bench_function(
        format!("load_evicting_lru_from_full_pool_of_{arenas}_arenas"),
        |b| {
            b.iter(|| {
                let slot = modules[turn];
                turn = (turn + 1) % modules.len();
                let load = full.acquire(black_box(slot), now).expect("evicts one");
                full.release(slot, now).expect("in flight");
                now = now.saturating_add(Duration::from_millis(1));
                load
            })
        },
    );
    let stats = full.stats();
    assert_eq!(stats.arenas_in_use, arenas);
    assert_eq!(
        stats.totals.unloads,
        stats.totals.loads + stats.totals.reloads - arenas as u64,
        "every load past the arena count evicted one slot"
    );
    group.finish();
}

criterion_group!(
    benches,
    cache_at_capacity,
    breaker_decisions,
    retry_decisions,
    slot_load_and_unload
);
criterion_main!(benches);
