//! `lee`: the stdio harness. Newline-delimited JSON events on stdin (or
//! pretty-printed documents), one JSON answer per line on stdout, logs on
//! stderr.
//!
//! What it is for: piping events through the same bridge the Lambda runs,
//! by hand or from scripts, against a Home Assistant (`--ha-url`, or
//! `BASE_URL` in the environment) or, when none is configured, the embedded
//! demo home (`--demo`). Every event gets exactly one answer, in order; a
//! bad event gets an error answer on its line and the rest go on. The exit
//! code is non-zero only for usage errors and a broken stdin or stdout.
//!
//! What it must never do: hold bridge logic (that lives in lee-core and
//! lee-host), drop or reorder an event, or grow with the input's size.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use lee_demo::DemoHome;
use lee_host::config::{BaseUrl, Config, Secret};
use lee_host::logging::{JsonLogs, level_from};
use lee_host::{Bridge, Handled};

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, util::SubscriberInitExt};

use lee_stdio::doctor;
use lee_stdio::frames::{Frame, Frames};

/// Answer Alexa Smart Home directives (and lee's health and diagnostics
/// events) read from stdin, one JSON answer per line on stdout.
#[derive(Parser, Debug)]
#[command(name = "lee", version, about)]
struct Args {
    /// Home Assistant's address, e.g. https://ha.example.com:8123 (default: BASE_URL).
    #[arg(long, value_name = "URL", global = true)]
    ha_url: Option<String>,
    /// A file holding a Home Assistant long-lived token, used for directives
    /// that carry no token of their own and for the health check.
    #[arg(long, value_name = "FILE", global = true)]
    token_file: Option<PathBuf>,
    /// Answer from the embedded demo home instead of a Home Assistant
    /// (the default when no address is configured).
    #[arg(long, conflicts_with = "ha_url")]
    demo: bool,
    /// Pretty-print each answer (several lines per answer).
    #[arg(long)]
    pretty: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

/// What to do instead of answering events.
#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Check the setup from here, one line per check with its fix (exit
    /// status 1 when a check failed): the settings, the AWS region, DNS,
    /// TCP, TLS, Home Assistant's API and token, a Discovery and what Alexa
    /// would refuse in it, account linking, timing.
    Doctor {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (level, level_problem) = match level_from(|name| std::env::var(name).ok()) {
        Ok(level) => (level, None),
        Err(why) => (LevelFilter::INFO, Some(why)),
    };
    tracing_subscriber::registry()
        .with(JsonLogs::new(io::stderr).with_filter(level))
        .init();
    if let Some(why) = level_problem {
        tracing::warn!("configuration: {why}");
    }

    let (mut config, mut problems) = Config::from_env(|name| std::env::var(name).ok());
    if let Some(url) = &args.ha_url {
        problems.retain(|p| p.variable != "BASE_URL");
        match BaseUrl::parse(url) {
            Ok(url) => config.base_url = Some(url),
            Err(why) => {
                eprintln!("lee: --ha-url {why}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(path) = &args.token_file {
        match Secret::from_file(path) {
            Ok(token) => {
                config.long_lived_token = Some(token);
                // The harness uses the token for events that carry none.
                config.debug = true;
            }
            Err(why) => {
                eprintln!("lee: {why}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(Command::Doctor { json }) = args.command {
        let token_file = args.token_file.as_ref().map(|p| p.display().to_string());
        return doctor::run(&config, &problems, token_file.as_deref(), json);
    }
    // Only an unset BASE_URL means the demo home: one set but unusable is
    // a mistake to fix, never a quiet switch to the demo.
    if !args.demo
        && config.base_url.is_none()
        && std::env::var("BASE_URL").is_ok()
        && let Some(problem) = problems.iter().find(|p| p.variable == "BASE_URL")
    {
        eprintln!("lee: {problem} (or unset BASE_URL to answer from the demo home)");
        return ExitCode::from(2);
    }
    let demo = args.demo || config.base_url.is_none();
    let capacities = config.tuning.capacities;
    let started = if demo {
        problems.retain(|p| p.variable != "BASE_URL");
        config.base_url = None;
        tracing::info!("answering from the embedded demo home");
        Bridge::with_transport(
            config,
            problems,
            capacities,
            Some(Box::new(DemoHome::new())),
        )
    } else {
        Bridge::new(config, problems, capacities)
    };
    let mut bridge = match started {
        Ok(bridge) => bridge,
        Err(e) => {
            eprintln!("lee: {e}");
            return ExitCode::from(2);
        }
    };
    for problem in bridge.problems() {
        tracing::warn!("configuration: {problem}");
    }

    match run(&mut bridge, capacities.event_buffer, args.pretty) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lee: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Answer every frame of stdin on stdout, in order.
fn run(bridge: &mut Bridge, limit: usize, pretty: bool) -> io::Result<()> {
    let stdin = io::stdin().lock();
    let mut out = BufWriter::new(io::stdout().lock());
    let mut frames = Frames::new(stdin, limit);
    while let Some(frame) = frames.next_frame()? {
        let handled = match &frame {
            Frame::Event(bytes) => bridge.handle(bytes, None),
            Frame::Oversized(len) => bridge.handle_oversized(*len),
        };
        write_answer(&mut out, &handled, pretty)?;
        // Each answer leaves as soon as it is ready: a pipe reader may be waiting.
        out.flush()?;
    }
    Ok(())
}

fn write_answer(out: &mut impl Write, handled: &Handled<'_>, pretty: bool) -> io::Result<()> {
    if pretty && let Ok(value) = serde_json::from_slice::<serde_json::Value>(handled.body) {
        serde_json::to_writer_pretty(&mut *out, &value)?;
    } else if handled.body.contains(&b'\n') || handled.body.contains(&b'\r') {
        // Raw line breaks in JSON can only be whitespace between tokens, so
        // they can become spaces: one answer stays on one line.
        let one_line: Vec<u8> = handled
            .body
            .iter()
            .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b })
            .collect();
        out.write_all(&one_line)?;
    } else {
        out.write_all(handled.body)?;
    }
    out.write_all(b"\n")
}
