//! `lee-cost`: what lee costs to run on AWS Lambda, measured.
//!
//! What it is for: replaying a workload through the same engine the Lambda
//! runs (`lee_host::Bridge::handle`, with the Lambda's log formatting,
//! written nowhere) and turning what each invocation took into the bill:
//! duration as Lambda bills it, GB-seconds, how many invocations a month the
//! free tier covers and which of its caps binds, and the monthly cost past
//! it at arm64 prices, next to the floor where lee adds nothing to Home
//! Assistant's latency. Over a modeled link to Home Assistant (`--rtt`,
//! `--after-idle`, `--dns`; see `network`) it prices lee, which keeps its
//! connection, beside the baseline that opens a new one every invocation,
//! as Home Assistant's documented Lambda does. It also reports lee's own
//! time (engine time less the wait on Home Assistant), allocations per
//! event after a warm-up (a counting global allocator), peak RSS, cache
//! hits, module slot loads and what the slots held (the most arenas lent at
//! once, reclaims, working memory zeroed). `--pin-slots` pins every module
//! slot, to weigh LUGS's reclaim policies against keeping every module.
//!
//! The flow: build the bridge against the embedded demo home (default,
//! optionally slowed by `--ha-latency`) or a real Home Assistant
//! (`--ha-url`, `--token-file`) → ask it for a Discovery and make the built-in mix from the
//! endpoints it lists, or open `--events FILE` → for each invocation draw
//! how it finds the connection, read the clock, the allocator, the engine's
//! counters around `handle` (the requests it sent among them), and add the modeled
//! wait on the link for lee and for the baseline → print the tables and
//! write the SVG chart (`--chart`).
//!
//! What it must never do: print or log a token (the token file is read into
//! the bridge's configuration and the events, never echoed; errors name the
//! file, not its content), or hold bridge logic of its own.

mod alloc;
mod billing;
mod chart;
mod failures;
mod latency;
mod measure;
mod network;
mod report;
mod workload;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use lee_core::bridge::{Answered, Transport};
use lee_core::budget::Capacities;
use lee_core::metrics::Counter;
use lee_demo::DemoHome;
use lee_host::config::{BaseUrl, Config, Secret};
use lee_host::transport::HttpsTransport;
use lee_host::{Bridge, MonotonicClock, Outcome};

use crate::billing::Projection;
use crate::failures::{Answer, Failures};
use crate::latency::{Latency, Slowed};
use crate::measure::{Billed, Sample};
use crate::network::{Arrival, Arrivals, Link, Share};
use crate::workload::{Mix, Replay};

/// Every allocation of the process, counted.
#[global_allocator]
static HEAP: alloc::Counting = alloc::Counting::new();

/// The deployed function's timeout (deploy/template.yaml), passed as each
/// invocation's remaining time.
const LAMBDA_TIMEOUT: Duration = Duration::from_secs(10);

/// The token the demo home is sent: any non-empty token will do.
const DEMO_TOKEN: &str = "lee-cost-demo-token";

/// Replay a workload through lee's engine and project its AWS Lambda bill:
/// billed duration, GB-seconds, free-tier headroom and monthly cost (arm64).
#[derive(Parser, Debug)]
#[command(name = "lee-cost", version)]
struct Args {
    /// Replay the events of this NDJSON file (one JSON event per line)
    /// instead of the built-in mix.
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
    /// Invocations to run (default: 10 000 of the mix, or each event of
    /// --events once; more than the file holds starts it over).
    #[arg(short = 'n', long, value_name = "N")]
    invocations: Option<u64>,
    /// A real Home Assistant, e.g. http://127.0.0.1:8123 (default: the
    /// embedded demo home). The built-in mix then only reads, unless --control.
    #[arg(long, value_name = "URL", requires = "token_file")]
    ha_url: Option<String>,
    /// A file holding a Home Assistant long-lived token (for --ha-url).
    #[arg(long, value_name = "FILE", requires = "ha_url")]
    token_file: Option<PathBuf>,
    /// With --ha-url, also send the mix's control directives (they switch
    /// that home's devices).
    #[arg(long, requires = "ha_url")]
    control: bool,
    /// Delay added to every Home Assistant request: `30ms`, or a uniform
    /// range `20ms..80ms` (seeded, so runs repeat).
    #[arg(long, value_name = "LATENCY")]
    ha_latency: Option<Latency>,
    /// Round-trip time between the Lambda and Home Assistant, modeled on
    /// top of what is measured: a request on a kept connection waits 1 round
    /// trip, one on a new connection 3 (TCP, TLS 1.3, the request). With
    /// --ha-url it adds to that link's own, measured; `0ms` adds nothing.
    #[arg(long, value_name = "TIME", default_value = "50ms", value_parser = humantime::parse_duration)]
    rtt: Duration,
    /// Share of invocations that arrive after the connection's idle limit
    /// (lee's KEEPALIVE_TIMEOUT_S, 60 s, below the server's 75 s) and so
    /// open a new connection, as a cold start does. A home whose directives
    /// come minutes apart: 80% or more.
    #[arg(long, value_name = "PERCENT", default_value = "30%")]
    after_idle: Share,
    /// A DNS lookup, paid by every new connection (lee's are after the
    /// idle limit, when its 60 s DNS cache has expired too; the baseline's
    /// are every invocation).
    #[arg(long, value_name = "TIME", default_value = "0ms", value_parser = humantime::parse_duration)]
    dns: Duration,
    /// The function's memory size, MB.
    #[arg(long, value_name = "MB", default_value_t = 128,
          value_parser = clap::value_parser!(u32).range(128..=10240))]
    memory_mb: u32,
    /// The monthly volume to price.
    #[arg(long, value_name = "N", default_value_t = 3_000_000)]
    monthly: u64,
    /// Invocations left out of the heap figures (first ones).
    #[arg(long, value_name = "N", default_value_t = 100)]
    warmup: usize,
    /// Where to write the SVG chart.
    #[arg(long, value_name = "FILE", default_value = "lee-cost.svg")]
    chart: PathBuf,
    /// Seed of the mix, the latency draws and which invocations arrive
    /// after the idle limit.
    #[arg(long, value_name = "N", default_value_t = 2026)]
    seed: u64,
    /// Pin every module slot (as `Policy::Never`): each module stays loaded
    /// from its first use, to weigh LUGS's reclaim policies against keeping
    /// everything (memory-budget.md).
    #[arg(long)]
    pin_slots: bool,
}

/// Where events come from.
enum Source {
    Mix(Mix),
    File(Replay),
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("lee-cost: {why}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    // The Lambda's log lines, formatted as it formats them, then dropped:
    // their cost is part of each invocation's. (Set once: a second run, in
    // the tests, keeps the first one's.)
    {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        tracing_subscriber::registry()
            .with(tracing_subscriber::Layer::with_filter(
                lee_host::logging::JsonLogs::new(std::io::sink),
                tracing_subscriber::filter::LevelFilter::INFO,
            ))
            .try_init()
            .ok();
    }

    let Harness {
        mut bridge,
        token,
        home,
        target,
    } = build_bridge(args)?;
    if args.pin_slots {
        bridge.pin_every_slot();
    }
    let mut event = Vec::with_capacity(Capacities::STANDARD.event_buffer);

    let (mut source, workload, short_workload, invocations) = match &args.events {
        Some(path) => {
            let replay =
                Replay::open(path).map_err(|e| format!("--events {}: {e}", path.display()))?;
            let workload = format!("the events of {}", replay.path().display());
            let file = path.file_name().unwrap_or(path.as_os_str());
            let short = format!("the events of {}", file.to_string_lossy());
            let n = args.invocations.unwrap_or(replay.events);
            (Source::File(replay), workload, short, n)
        }
        None => {
            let discovery = workload::discovery(&token);
            let answer = bridge.handle(&discovery, Some(LAMBDA_TIMEOUT));
            let control = args.ha_url.is_none() || args.control;
            let mix = Mix::from_discovery(answer.body, &token, control, args.seed)?;
            let workload = format!(
                "the built-in mix (seed {}{})",
                args.seed,
                if control { "" } else { ", reads only" }
            );
            (
                Source::Mix(mix),
                workload.clone(),
                workload,
                args.invocations.unwrap_or(10_000),
            )
        }
    };

    let link = Link {
        rtt: args.rtt,
        dns: args.dns,
    };
    let mut arrivals = Arrivals::new(args.after_idle, args.seed);
    let mut kinds: Vec<String> = Vec::new();
    // Room for the samples up front, so a push seldom moves them (never inside a
    // measurement: the heap is read before the push).
    let mut samples: Vec<Sample> = Vec::with_capacity(invocations.min(1 << 20) as usize);
    let mut failures = Failures::default();
    let progress = progress_bar(invocations);
    let rss_before = lee_host::report::peak_rss();
    for _ in 0..invocations {
        let kind = match &mut source {
            Source::Mix(mix) => mix.next_event(&mut event).to_string(),
            Source::File(replay) => replay
                .next_event(&mut event)
                .map_err(|e| format!("--events: {e}"))?,
        };
        let kind = match kinds.iter().position(|k| *k == kind) {
            Some(index) => index,
            None => {
                kinds.push(kind);
                kinds.len() - 1
            }
        };
        let arrival = arrivals.draw();
        let heap_before = HEAP.tally();
        let started = Instant::now();
        let handled = bridge.handle(&event, Some(LAMBDA_TIMEOUT));
        let ok = succeeded(handled.outcome);
        // A failed answer's start, kept on the stack to say why afterwards.
        let failed = (!ok).then(|| Answer::keep(handled.outcome, handled.body));
        // The Lambda writes its EMF metrics line before it answers: part of the cost.
        if let Some(line) = bridge.metrics_line("lee", None) {
            std::hint::black_box(line);
        }
        let engine = started.elapsed();
        let heap = HEAP.tally().since(heap_before);
        // What the bridge measured of this event.
        let invocation = bridge.last_invocation();
        let requests = invocation.ha_requests;
        samples.push(Sample {
            kind,
            engine,
            ha_wait: invocation.ha_time,
            arrival,
            network: link.lee(arrival, requests),
            baseline_network: link.baseline(requests),
            heap,
            cache_hits: invocation.cache_hits,
            slot_loads: invocation.slot_loads,
            ok,
        });
        if let Some(answer) = &failed {
            failures.count(&kinds[kind], answer);
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    let rss_peak = lee_host::report::peak_rss();

    let n = samples.len() as u64;
    let project = |billed: fn(&Sample) -> u64| {
        let total = samples.iter().map(billed).sum();
        Projection::new(total, n, args.memory_mb, args.monthly)
    };
    let (lee, baseline, floor) = (
        project(Sample::billed_ms),
        project(Sample::baseline_ms),
        project(Sample::floor_ms),
    );
    let workload = if args.pin_slots {
        format!("{workload}, every module slot pinned")
    } else {
        workload
    };
    let dns = if args.dns.is_zero() {
        String::new()
    } else {
        format!(", DNS {}", millis(args.dns))
    };
    let network = format!(
        "RTT {}{dns}, {} of invocations after the idle limit",
        millis(args.rtt),
        args.after_idle
    );
    let metrics = bridge.metrics();
    let run = report::Run {
        workload,
        home,
        network: network.clone(),
        kinds: &kinds,
        samples: &samples,
        failures: &failures,
        warmup: args.warmup,
        rss_before,
        rss_peak,
        engine: (
            metrics.get(Counter::CacheHits),
            metrics.get(Counter::CacheMisses),
            metrics.get(Counter::SlotLoads),
        ),
        memory_mb: args.memory_mb,
        monthly: args.monthly,
        lee,
        baseline,
        floor,
    };
    let mut text = report::render(&run);
    text.push_str(&slots_line(&mut bridge));
    let of =
        |arrivals: &[Arrival]| Billed::of(samples.iter().filter(|s| arrivals.contains(&s.arrival)));
    let figure = chart::Figure {
        scenario: [
            format!("arm64, {} MB · {network}", args.memory_mb),
            format!(
                "{short_workload}, {} invocations · Home Assistant: {target}",
                report::thousands(n)
            ),
        ],
        bars: [
            of(&[Arrival::Warm]),
            of(&[Arrival::AfterIdle, Arrival::Cold]),
            of(&Arrival::ALL),
        ],
        lee_gb_s: lee.gb_seconds_each,
        baseline_gb_s: baseline.gb_seconds_each,
        monthly: args.monthly,
    };
    let charted = chart::draw(&args.chart, &figure);
    if charted.is_ok() {
        text.push_str(&format!("chart: {}\n", args.chart.display()));
    }
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        // A reader that stopped early (`| head`) is not a failure.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(format!("stdout: {e}")),
        _ => {}
    }
    charted
}

/// The module slots after the run, from the diagnostics report: the most
/// arenas lent at once, reclaims, and the working memory zeroed and given
/// back.
fn slots_line(bridge: &mut Bridge) -> String {
    let report: serde_json::Value =
        serde_json::from_slice(bridge.handle(br#"{"diagnostics": true}"#, None).body)
            .unwrap_or_default();
    let slots = &report["slots"];
    let modules = slots["modules"].as_array().map_or(&[][..], Vec::as_slice);
    let sum = |field: &str| -> u64 { modules.iter().filter_map(|m| m[field].as_u64()).sum() };
    let arena = slots["arena_size"].as_u64().unwrap_or(0);
    let high_water = slots["high_water_bytes"].as_u64().unwrap_or(0);
    format!(
        "module slots: at most {} of {} arenas lent at once ({} KiB of {} KiB); {} reclaims; \
         {} bytes of working memory zeroed and given back\n",
        high_water.checked_div(arena).unwrap_or(0),
        slots["arenas"],
        high_water / 1024,
        slots["arenas"].as_u64().unwrap_or(0) * arena / 1024,
        report::thousands(sum("unloads")),
        report::thousands(sum("bytes_reclaimed")),
    )
}

/// A duration in milliseconds, as few digits as it needs: `50 ms`, `0.25 ms`.
fn millis(d: Duration) -> String {
    format!("{} ms", d.as_secs_f64() * 1e3)
}

/// The bridge and what the driver needs beside it.
struct Harness {
    bridge: Bridge,
    /// The token its events carry.
    token: String,
    /// Which Home Assistant it talks to, in words.
    home: String,
    /// The same, in a few words (the chart's title).
    target: String,
}

/// The bridge against the demo home or `--ha-url`.
fn build_bridge(args: &Args) -> Result<Harness, String> {
    let slowed = match args.ha_latency {
        Some(latency) => format!(", {latency} added to each request"),
        None => ", no added latency".to_string(),
    };
    let (config, problems, transport, token, home, target): (
        _,
        _,
        Box<dyn Transport + Send>,
        _,
        _,
        _,
    ) = match (&args.ha_url, &args.token_file) {
        (Some(url), Some(token_file)) => {
            let token = read_token(token_file)?;
            let (mut config, mut problems) = Config::from_env(|name| std::env::var(name).ok());
            problems.retain(|p| p.variable != "BASE_URL");
            config.base_url = Some(BaseUrl::parse(url).map_err(|why| format!("--ha-url {why}"))?);
            config.long_lived_token = Some(Secret::new(token.clone()));
            config.ha_token = Some(Secret::new(token.clone()));
            // Events from a file that carry no token use this one, as in the stdio harness.
            config.debug = true;
            let https = HttpsTransport::new(&config, MonotonicClock::new())
                .map_err(|e| format!("{}: {}", e.variable, e.message))?
                .ok_or("--ha-url gave no transport")?;
            let home = format!("{url}{slowed}");
            let slowed = Slowed::new(https, args.ha_latency, args.seed);
            (config, problems, Box::new(slowed), token, home, url.clone())
        }
        _ => {
            let config = Config {
                long_lived_token: Some(Secret::new(DEMO_TOKEN.into())),
                ha_token: Some(Secret::new(DEMO_TOKEN.into())),
                ..Config::default()
            };
            let home = format!(
                "the embedded demo home{slowed} (Home Assistant's Alexa API, and the REST \
                     paths of its ops: states and the switching services)"
            );
            let demo = Slowed::new(DemoHome::new(), args.ha_latency, args.seed);
            (
                config,
                Vec::new(),
                Box::new(demo),
                DEMO_TOKEN.to_string(),
                home,
                "the embedded demo home".to_string(),
            )
        }
    };
    let target = match args.ha_latency {
        Some(latency) => format!("{target}, {latency} added"),
        None => target,
    };
    let bridge = Bridge::with_transport(config, problems, Capacities::STANDARD, Some(transport))
        .map_err(|e| e.to_string())?;
    if let Some(problem) = bridge.problems().first() {
        return Err(format!("configuration: {problem}"));
    }
    Ok(Harness {
        bridge,
        token,
        home,
        target,
    })
}

/// The token in `path`, trimmed; errors never show its content, nor the
/// path when it may be a token (see [`Secret::from_file`]).
fn read_token(path: &std::path::Path) -> Result<String, String> {
    Secret::from_file(path).map(|token| token.expose().to_string())
}

/// Whether an event was answered as asked rather than with an error.
fn succeeded(outcome: Outcome) -> bool {
    match outcome {
        Outcome::Directive(answered) => answered == Answered::PassedThrough,
        Outcome::Op(ok) | Outcome::Skill(ok) | Outcome::Doctor(ok) => ok,
        Outcome::Http(status) => status < 400,
        Outcome::Health | Outcome::Diagnostics => true,
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {human_pos}/{human_len} invocations, {eta} left")
    {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The process's allocator counts what this thread allocates (other
    /// tests may add to it meanwhile, never take away).
    #[test]
    fn the_global_allocator_counts() {
        let before = HEAP.tally();
        let block = std::hint::black_box(vec![7u8; 64 * 1024]);
        let during = HEAP.tally().since(before);
        drop(block);
        let after = HEAP.tally().since(before);
        assert!(during.allocations >= 1, "{during:?}");
        assert!(during.allocated >= 64 * 1024, "{during:?}");
        assert!(after.freed >= 64 * 1024, "{after:?}");
    }

    #[test]
    fn outcomes_that_are_errors_are_not_ok() {
        use lee_core::alexa::ErrorType;
        use lee_core::bridge::Reason;
        assert!(succeeded(Outcome::Directive(Answered::PassedThrough)));
        assert!(!succeeded(Outcome::Directive(Answered::Error(
            ErrorType::BridgeUnreachable,
            Reason::NotConfigured
        ))));
        assert!(succeeded(Outcome::Op(true)) && !succeeded(Outcome::Op(false)));
        assert!(succeeded(Outcome::Http(200)) && !succeeded(Outcome::Http(401)));
    }

    #[test]
    fn the_demo_bridge_answers_the_whole_mix() {
        let args = Args::parse_from(["lee-cost"]);
        let Harness {
            mut bridge,
            token,
            home,
            ..
        } = build_bridge(&args).unwrap();
        assert!(home.contains("demo home"));
        let discovery = bridge
            .handle(&workload::discovery(&token), None)
            .body
            .to_vec();
        let mut mix = Mix::from_discovery(&discovery, &token, true, 1).unwrap();
        let mut event = Vec::new();
        let mut waited = Duration::ZERO;
        let (mut directive_requests, mut op_requests) = (0, 0);
        for _ in 0..300 {
            let kind = mix.next_event(&mut event);
            let outcome = bridge.handle(&event, None).outcome;
            assert!(succeeded(outcome), "{kind}: {outcome:?}");
            let invocation = bridge.last_invocation();
            waited += invocation.ha_time;
            match outcome {
                Outcome::Op(_) => op_requests += invocation.ha_requests,
                _ => directive_requests += invocation.ha_requests,
            }
        }
        assert!(waited > Duration::ZERO);
        assert!(bridge.metrics().get(Counter::CacheHits) > 0);
        // The link is priced for every request: the directives' and the ops'.
        assert!(
            directive_requests > 0 && op_requests > 0,
            "{directive_requests} {op_requests}"
        );
    }

    /// Two scenarios run end to end: two charts, each titled with its own.
    #[test]
    fn two_scenarios_draw_two_charts_each_titled_with_its_own() {
        let chart = |scenario: &[&str]| {
            let path = std::env::temp_dir().join(format!(
                "lee-cost-run-{}-{}.svg",
                std::process::id(),
                scenario.join("")
            ));
            let mut argv = vec!["lee-cost", "-n", "300", "--chart"];
            argv.push(path.to_str().unwrap());
            argv.extend(scenario);
            run(&Args::parse_from(argv)).unwrap();
            let svg = std::fs::read_to_string(&path).unwrap();
            std::fs::remove_file(&path).unwrap();
            svg
        };
        let near = chart(&["--rtt", "50ms"]);
        let far = chart(&[
            "--rtt",
            "100ms",
            "--after-idle",
            "80%",
            "--memory-mb",
            "256",
        ]);
        assert_ne!(near, far);
        assert!(
            near.contains("arm64, 128 MB · RTT 50 ms, 30% of invocations after the idle limit")
        );
        assert!(
            far.contains("arm64, 256 MB · RTT 100 ms, 80% of invocations after the idle limit")
        );
        for svg in [&near, &far] {
            assert!(svg.contains("the built-in mix (seed 2026), 300 invocations"));
            assert!(svg.contains("Home Assistant: the embedded demo home"));
        }
    }

    #[test]
    fn the_network_options_default_to_50_ms_and_30_percent_after_idle() {
        let args = Args::parse_from(["lee-cost"]);
        assert_eq!(args.rtt, Duration::from_millis(50));
        assert_eq!(args.after_idle.to_string(), "30%");
        assert_eq!(args.dns, Duration::ZERO);
        let args = Args::parse_from([
            "lee-cost",
            "--rtt",
            "120ms",
            "--after-idle",
            "80%",
            "--dns",
            "20ms",
            "--ha-latency",
            "20ms..80ms",
        ]);
        assert_eq!(args.rtt, Duration::from_millis(120));
        assert_eq!(args.after_idle.fraction(), 0.8);
        assert_eq!(args.dns, Duration::from_millis(20));
        assert_eq!(
            args.ha_latency.map(|l| l.max),
            Some(Duration::from_millis(80))
        );
        assert!(Args::try_parse_from(["lee-cost", "--after-idle", "30"]).is_err());
        assert!(Args::try_parse_from(["lee-cost", "--rtt", "50"]).is_err());
    }

    #[test]
    fn a_missing_or_empty_token_file_is_named_not_read_out() {
        // A path that is no file may be a token pasted in its place: not shown.
        let missing = std::path::Path::new("/nonexistent/lee-cost-token");
        let why = read_token(missing).unwrap_err();
        assert!(
            !why.contains("lee-cost-token") && why.contains("--token-file takes the path"),
            "{why}"
        );
        let path = std::env::temp_dir().join(format!("lee-cost-token-{}", std::process::id()));
        std::fs::write(&path, "  \n").unwrap();
        assert!(read_token(&path).unwrap_err().contains("is empty"));
        std::fs::write(&path, "secret-value\n").unwrap();
        assert_eq!(read_token(&path).unwrap(), "secret-value");
        std::fs::remove_file(&path).unwrap();
    }
}
