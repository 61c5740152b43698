//! The printed report: time per invocation, how invocations found the
//! connection, each kind of event, memory and heap, the engine's cache and
//! slots, and the bill of lee beside the new-connection baseline's, as
//! plain-text tables.

use std::fmt::Write as _;
use std::time::Duration;

use crate::billing::{
    ARM64_USD_PER_GB_SECOND, Binds, FREE_GB_SECONDS, FREE_REQUESTS, Projection,
    USD_PER_MILLION_REQUESTS,
};
use crate::failures::Failures;
use crate::measure::{Billed, Sample, Spread};
use crate::network::{Arrival, NEW_CONNECTION_RTTS};

/// Everything a run measured, and what it was.
pub struct Run<'a> {
    /// What was replayed, in words.
    pub workload: String,
    /// Which Home Assistant answered, in words.
    pub home: String,
    /// The modeled link, in words.
    pub network: String,
    /// The kinds of event, indexed by [`Sample::kind`].
    pub kinds: &'a [String],
    /// Every invocation, in order.
    pub samples: &'a [Sample],
    /// Why the events that failed failed.
    pub failures: &'a Failures,
    /// Invocations left out of the heap figures.
    pub warmup: usize,
    /// Peak resident memory before the first event, bytes.
    pub rss_before: Option<u64>,
    /// Peak resident memory after the last, bytes.
    pub rss_peak: Option<u64>,
    /// The engine's counters at the end: cache hits, cache misses, slot loads.
    pub engine: (u64, u64, u64),
    /// The function's memory size.
    pub memory_mb: u32,
    /// The monthly volume to price.
    pub monthly: u64,
    /// lee's bill: measured, and its modeled wait on the link.
    pub lee: Projection,
    /// The baseline's: a new connection every invocation.
    pub baseline: Projection,
    /// lee's if it took no time of its own.
    pub floor: Projection,
}

/// Why events failed, when any did: a run of errors measures errors, not lee.
fn write_failures(out: &mut String, failures: &Failures, n: u64) -> std::fmt::Result {
    if failures.total() == 0 {
        return Ok(());
    }
    writeln!(
        out,
        "failed: {} of {} events were answered with an error, so their rows measure errors:",
        thousands(failures.total()),
        thousands(n)
    )?;
    let (rows, other) = failures.by_reason();
    for (kind, reason, count) in rows {
        writeln!(out, "  {:>8}  {kind}: {reason}", thousands(count))?;
    }
    if other > 0 {
        writeln!(out, "  {:>8}  for other reasons", thousands(other))?;
    }
    writeln!(out)
}

/// `n` with thousands separated: `10,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 10.0 {
        format!("{ms:.3} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// US dollars: cents, or four decimals below a cent.
pub fn usd(x: f64) -> String {
    if x > 0.0 && x < 0.01 {
        format!("${x:.4}")
    } else {
        format!("${x:.2}")
    }
}

/// How much less `lee` is than `baseline`, percent (0 when both are 0).
fn saved_percent(lee: f64, baseline: f64) -> f64 {
    if baseline > 0.0 {
        (1.0 - lee / baseline) * 100.0
    } else {
        0.0
    }
}

fn binds(b: Binds) -> &'static str {
    match b {
        Binds::Requests => "requests",
        Binds::Compute => "GB-seconds",
    }
}

/// The report, ready to print.
pub fn render(run: &Run<'_>) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write_report(&mut out, run);
    out
}

fn write_report(out: &mut String, run: &Run<'_>) -> std::fmt::Result {
    let samples = run.samples;
    let n = samples.len() as u64;
    writeln!(
        out,
        "lee-cost: {} invocations of {} through lee_host::Bridge::handle",
        thousands(n),
        run.workload
    )?;
    writeln!(out, "Home Assistant: {}", run.home)?;
    writeln!(
        out,
        "link to it (modeled, added to the measured time): {}",
        run.network
    )?;
    writeln!(
        out,
        "  lee keeps its connection: 1 RTT a request, {NEW_CONNECTION_RTTS} RTT (TCP, TLS 1.3, \
         the request) on a new one, after the idle limit or cold"
    )?;
    writeln!(
        out,
        "  baseline: a new connection every invocation, as Home Assistant's documented Lambda \
         and haaska: {NEW_CONNECTION_RTTS} RTT; lee's engine and Home Assistant time"
    )?;
    writeln!(
        out,
        "  (an invocation that sends no request, answered from lee's cache, waits on no link, \
         for both)"
    )?;
    writeln!(out)?;

    writeln!(
        out,
        "{:<24}{:>11}{:>11}{:>11}{:>11}",
        "per invocation", "mean", "median", "p99", "max"
    )?;
    let rows: [(&str, Spread); 5] = [
        (
            "engine (wall)",
            Spread::of(samples.iter().map(|s| s.engine)),
        ),
        (
            "waiting on HA",
            Spread::of(samples.iter().map(|s| s.ha_wait)),
        ),
        (
            "lee's own time",
            Spread::of(samples.iter().map(Sample::own)),
        ),
        (
            "link, lee (modeled)",
            Spread::of(samples.iter().map(|s| s.network)),
        ),
        (
            "link, baseline",
            Spread::of(samples.iter().map(|s| s.baseline_network)),
        ),
    ];
    for (name, spread) in rows {
        writeln!(
            out,
            "  {name:<22}{:>11}{:>11}{:>11}{:>11}",
            ms(spread.mean),
            ms(spread.p50),
            ms(spread.p99),
            ms(spread.max)
        )?;
    }
    writeln!(out)?;

    writeln!(
        out,
        "{:<32}{:>8}{:>14}{:>18}",
        "by arrival", "count", "lee billed", "baseline billed"
    )?;
    for arrival in Arrival::ALL {
        let billed = Billed::of(samples.iter().filter(|s| s.arrival == arrival));
        writeln!(
            out,
            "  {:<30}{:>8}{:>14}{:>18}",
            arrival.describe(),
            thousands(billed.count),
            format!("{:.2} ms", billed.lee),
            format!("{:.2} ms", billed.baseline),
        )?;
    }
    writeln!(out, "  (means)")?;
    writeln!(out)?;

    writeln!(
        out,
        "{:<22}{:>8}{:>6}{:>11}{:>11}{:>11}{:>9}{:>9}{:>7}{:>7}",
        "by kind",
        "count",
        "ok",
        "engine",
        "HA wait",
        "lee's own",
        "billed",
        "allocs",
        "hits",
        "loads"
    )?;
    // The most frequent kinds first.
    let mut by_count: Vec<(usize, u32)> = (0..run.kinds.len())
        .map(|index| {
            (
                index,
                samples.iter().filter(|s| s.kind == index).count() as u32,
            )
        })
        .filter(|&(_, count)| count > 0)
        .collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (index, count) in by_count {
        let kind = &run.kinds[index];
        let of_kind: Vec<&Sample> = samples.iter().filter(|s| s.kind == index).collect();
        let sum = |f: fn(&Sample) -> Duration| of_kind.iter().map(|s| f(s)).sum::<Duration>();
        let after_warmup: Vec<&Sample> = samples
            .iter()
            .skip(run.warmup)
            .filter(|s| s.kind == index)
            .collect();
        let allocs = if after_warmup.is_empty() {
            "-".to_string()
        } else {
            let total: u64 = after_warmup.iter().map(|s| s.heap.allocations).sum();
            format!("{:.1}", total as f64 / after_warmup.len() as f64)
        };
        let ok = of_kind.iter().filter(|s| s.ok).count() as f64 / f64::from(count);
        writeln!(
            out,
            "  {:<20}{:>8}{:>6}{:>11}{:>11}{:>11}{:>9}{:>9}{:>7}{:>7}",
            kind,
            thousands(u64::from(count)),
            format!("{:.0}%", ok * 100.0),
            ms(sum(|s| s.engine) / count),
            ms(sum(|s| s.ha_wait) / count),
            ms(sum(Sample::own) / count),
            format!(
                "{:.2}",
                of_kind.iter().map(|s| s.billed_ms()).sum::<u64>() as f64 / f64::from(count)
            ),
            allocs,
            thousands(of_kind.iter().map(|s| s.cache_hits).sum()),
            thousands(of_kind.iter().map(|s| s.slot_loads).sum()),
        )?;
    }
    writeln!(
        out,
        "  (means; billed in ms; allocs per event after warm-up; cache hits and slot loads are totals)"
    )?;
    writeln!(out)?;
    write_failures(out, run.failures, n)?;

    match (run.rss_peak, run.rss_before) {
        (Some(peak), Some(before)) => writeln!(
            out,
            "memory: peak RSS {} (VmHWM; {} before the first event, the driver's own buffers included)",
            mib(peak),
            mib(before)
        )?,
        _ => writeln!(out, "memory: peak RSS unknown (no /proc/self/status)")?,
    }
    let steady = samples.get(run.warmup..).unwrap_or_default();
    if steady.is_empty() {
        writeln!(
            out,
            "heap: no events after the warm-up of {}",
            thousands(run.warmup as u64)
        )?;
    } else {
        let count = steady.len() as f64;
        let allocations: Vec<u64> = steady.iter().map(|s| s.heap.allocations).collect();
        let bytes: u64 = steady.iter().map(|s| s.heap.allocated).sum();
        writeln!(
            out,
            "heap after warm-up ({} events, first {} excluded): {:.1} allocations and {} bytes \
             per event (min {}, max {} allocations)",
            thousands(steady.len() as u64),
            thousands(run.warmup as u64),
            allocations.iter().sum::<u64>() as f64 / count,
            thousands((bytes as f64 / count).round() as u64),
            allocations.iter().min().unwrap_or(&0),
            allocations.iter().max().unwrap_or(&0),
        )?;
        let (first, second) = steady.split_at(steady.len() / 2);
        let growth = |half: &[Sample]| half.iter().map(|s| s.heap.live_change()).sum::<i64>();
        let (first, second) = (growth(first), growth(second));
        let verdict = match (first, second) {
            (0, 0) => "every allocation freed within its event: no per-event growth".to_string(),
            (_, 0) => "settled: no growth in the second half".to_string(),
            _ => format!(
                "still growing: {:+.1} bytes per event in the second half",
                second as f64 / (steady.len() - steady.len() / 2) as f64
            ),
        };
        writeln!(
            out,
            "  live heap change over them: {:+} bytes (first half {first:+}, second half \
             {second:+}): {verdict}",
            first + second
        )?;
    }
    let (hits, misses, loads) = run.engine;
    let reads = hits + misses;
    writeln!(
        out,
        "engine: {} cache hits, {} misses{}; {} slot loads (LUGS)",
        thousands(hits),
        thousands(misses),
        if reads > 0 {
            format!(
                " ({:.1}% of cacheable reads)",
                hits as f64 * 100.0 / reads as f64
            )
        } else {
            String::new()
        },
        thousands(loads)
    )?;
    writeln!(out)?;

    writeln!(
        out,
        "cost: arm64, {} MB; ${ARM64_USD_PER_GB_SECOND} per GB-s, ${USD_PER_MILLION_REQUESTS:.2} \
         per 1M requests; free tier {} requests and {} GB-s a month",
        run.memory_mb,
        thousands(FREE_REQUESTS),
        thousands(FREE_GB_SECONDS as u64),
    )?;
    writeln!(
        out,
        "  (durations from this {} machine around Bridge::handle: not a Lambda core, and \
         without the runtime's own round trip or cold starts)",
        std::env::consts::ARCH
    )?;
    writeln!(
        out,
        "{:<34}{:>14}{:>14}{:>22}",
        "", "lee", "baseline", "floor (HA + link)"
    )?;
    let (lee, base, floor) = (&run.lee, &run.baseline, &run.floor);
    let mut row =
        |name: &str, [a, b, c]: [String; 3]| writeln!(out, "  {name:<32}{a:>14}{b:>14}{c:>22}");
    let billed: [fn(&Sample) -> u64; 3] =
        [Sample::billed_ms, Sample::baseline_ms, Sample::floor_ms];
    let spreads = billed.map(|f| Spread::of(samples.iter().map(|s| Duration::from_millis(f(s)))));
    row(
        "billed per invocation, mean",
        [lee, base, floor].map(|p| format!("{:.2} ms", p.billed_ms)),
    )?;
    row(
        "  median",
        spreads.map(|s| format!("{} ms", s.p50.as_millis())),
    )?;
    row(
        "  p99",
        spreads.map(|s| format!("{} ms", s.p99.as_millis())),
    )?;
    row(
        "GB-s per 1,000 invocations",
        [lee, base, floor].map(|p| format!("{:.4}", p.gb_seconds_each * 1000.0)),
    )?;
    let monthly_gb_s = |p: &Projection| p.gb_seconds_each * run.monthly as f64;
    row(
        &format!("GB-s at {} a month", thousands(run.monthly)),
        [lee, base, floor].map(|p| thousands(monthly_gb_s(p).round() as u64)),
    )?;
    row(
        "free a month (both caps)",
        [lee, base, floor].map(|p| thousands(p.free.invocations())),
    )?;
    row(
        "free a month, GB-s cap alone",
        [lee, base, floor].map(|p| thousands(p.free.by_compute)),
    )?;
    row(
        "cap that binds",
        [lee, base, floor].map(|p| binds(p.free.binds()).to_string()),
    )?;
    row(
        &format!("free GB-s used at {}", thousands(run.monthly)),
        [lee, base, floor].map(|p| format!("{:.1}%", monthly_gb_s(p) / FREE_GB_SECONDS * 100.0)),
    )?;
    let volume = format!("{} a month:", thousands(run.monthly));
    row(
        &format!("{volume} requests"),
        [lee, base, floor].map(|p| usd(p.cost.requests)),
    )?;
    row("  compute", [lee, base, floor].map(|p| usd(p.cost.compute)))?;
    row("  total", [lee, base, floor].map(|p| usd(p.cost.total())))?;
    writeln!(
        out,
        "lee saves {} a month at {} invocations against the baseline, and bills {:.0}% \
         fewer GB-s: {:.1} ms an invocation instead of {:.1}, so the free GB-s last to {} \
         invocations a month instead of {}",
        usd(base.cost.total() - lee.cost.total()),
        thousands(run.monthly),
        saved_percent(lee.gb_seconds_each, base.gb_seconds_each),
        lee.billed_ms,
        base.billed_ms,
        thousands(lee.free.by_compute),
        thousands(base.free.by_compute),
    )?;
    writeln!(
        out,
        "lee's own time adds {} a month at {} invocations",
        usd(lee.cost.total() - floor.cost.total()),
        thousands(run.monthly),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::Tally;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(3_200_000_000), "3,200,000,000");
        assert_eq!(usd(0.4), "$0.40");
        assert_eq!(usd(0.001_23), "$0.0012");
        assert_eq!(usd(0.0), "$0.00");
    }

    #[test]
    fn the_report_says_what_it_costs_and_which_cap_binds() {
        let ms = Duration::from_millis;
        let sample = |kind, engine_us, wait_us, allocations, arrival, network| Sample {
            kind,
            engine: Duration::from_micros(engine_us),
            ha_wait: Duration::from_micros(wait_us),
            arrival,
            network: ms(network),
            baseline_network: ms(150),
            heap: Tally {
                allocations,
                allocated: 100,
                freed: 100,
            },
            cache_hits: 0,
            slot_loads: 0,
            ok: true,
        };
        let samples = [
            sample(0, 900, 100, 50, Arrival::Cold, 150),
            sample(1, 1500, 1200, 10, Arrival::Warm, 50),
            sample(1, 800, 700, 12, Arrival::AfterIdle, 150),
        ];
        let kinds = ["Discover".to_string(), "ReportState".to_string()];
        let total = |f: fn(&Sample) -> u64| samples.iter().map(f).sum::<u64>();
        let (lee, baseline, floor) = (
            total(Sample::billed_ms),
            total(Sample::baseline_ms),
            total(Sample::floor_ms),
        );
        // 151 + 52 + 151; 151 + 152 + 151; 151 + 52 + 151.
        assert_eq!((lee, baseline, floor), (354, 454, 354));
        let mut failures = Failures::default();
        failures.count(
            "ReportState",
            &crate::failures::Answer::keep(
                crate::Outcome::Op(false),
                br#"{"error":{"code":"unreachable","message":"Home Assistant could not be reached: connection refused"}}"#,
            ),
        );
        let run = Run {
            workload: "a test".into(),
            home: "none".into(),
            network: "RTT 50 ms, 30% of invocations after the idle limit".into(),
            kinds: &kinds,
            samples: &samples,
            failures: &failures,
            warmup: 1,
            rss_before: Some(4 << 20),
            rss_peak: Some(6 << 20),
            engine: (3, 1, 2),
            memory_mb: 128,
            monthly: 3_000_000,
            lee: Projection::new(lee, 3, 128, 3_000_000),
            baseline: Projection::new(baseline, 3, 128, 3_000_000),
            floor: Projection::new(floor, 3, 128, 3_000_000),
        };
        let report = render(&run);
        assert!(report.contains("3 invocations of a test"), "{report}");
        assert!(
            report.contains("RTT 50 ms, 30% of invocations after"),
            "{report}"
        );
        assert!(report.contains("peak RSS 6.0 MiB"), "{report}");
        assert!(
            report.contains("failed: 1 of 3 events were answered with an error"),
            "{report}"
        );
        assert!(
            report.contains(
                "1  ReportState: unreachable: Home Assistant could not be reached: connection refused"
            ),
            "{report}"
        );
        let none = Failures::default();
        let clean = render(&Run {
            workload: "a test".into(),
            home: "none".into(),
            network: "RTT 50 ms".into(),
            failures: &none,
            ..run
        });
        assert!(!clean.contains("failed:"), "{clean}");
        // After the one warm-up event: 11 allocations per event.
        assert!(report.contains("11.0 allocations"), "{report}");
        assert!(report.contains("no per-event growth"), "{report}");
        assert!(report.contains("75.0% of cacheable reads"), "{report}");
        // The warm invocation: 1 RTT for lee, 3 for the baseline.
        let warm = report
            .lines()
            .find(|l| l.contains("warm (connection"))
            .unwrap();
        assert!(
            warm.contains("52.00 ms") && warm.contains("152.00 ms"),
            "{warm}"
        );
        let mean = report
            .lines()
            .find(|l| l.contains("billed per invocation, mean"))
            .unwrap();
        assert!(
            mean.contains("118.00 ms") && mean.contains("151.33 ms"),
            "{mean}"
        );
        assert!(report.contains("cap that binds"), "{report}");
        // 2 M paid requests at $0.20 a million, for both: nothing saved, but
        // 22% fewer GB-s.
        let total = report.lines().find(|l| l.contains("  total")).unwrap();
        assert_eq!(total.matches("$0.40").count(), 3, "{total}");
        assert!(report.contains("lee saves $0.00 a month"), "{report}");
        assert!(report.contains("bills 22% fewer GB-s"), "{report}");
        assert!(report.contains("adds $0.00 a month"), "{report}");
        // At 30 M a month both pay for GB-s past the free 400,000: 442,500
        // for lee, 567,500 for the baseline.
        let busy = |billed| Projection::new(billed, 3, 128, 30_000_000);
        let busy = render(&Run {
            workload: "a busy test".into(),
            home: "none".into(),
            network: "RTT 50 ms".into(),
            monthly: 30_000_000,
            lee: busy(lee),
            baseline: busy(baseline),
            floor: busy(floor),
            ..run
        });
        assert!(busy.contains("442,500"), "{busy}");
        assert!(busy.contains("567,500"), "{busy}");
        assert!(busy.contains("lee saves $1.67 a month"), "{busy}");
        // A heap that grows by 64 bytes an event, after the warm-up.
        let mut growing = samples;
        for s in &mut growing {
            s.heap.allocated += 64;
        }
        let grows = render(&Run {
            samples: &growing,
            ..run
        });
        assert!(
            grows.contains("+128 bytes (first half +64, second half +64): still growing: +64.0"),
            "{grows}"
        );
    }
}
