//! The kept-alive connection to Home Assistant across a frozen Lambda
//! (FIELD.md §1): reused while it is fresh; replaced, without a write into
//! it, once it has been idle for the keep-alive timeout by either clock,
//! since a frozen sandbox's monotonic clock may not have moved; the timeout
//! as `KEEPALIVE_TIMEOUT_S` sets it. And against the real Home Assistant, a
//! connection the server closed unseen costs nothing but a new connection.
//!
//! The freeze is a manual clock: no test here sleeps.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use lee_core::bridge::Answered;
use lee_core::budget::Capacities;
use lee_host::Bridge;
use lee_host::config::Config;
use lee_host::connection::{Clocks, Stamp};
use lee_host::transport::HttpsTransport;
use lee_testkit::stale::StaleRelay;
use lee_testkit::{KeepAliveServer, RealHa, directive, header};

const HA_BODY: &[u8] = br#"{"event":{"header":{"namespace":"Alexa","name":"Response","payloadVersion":"3","messageId":"x","correlationToken":"lee-correlation"},"payload":{}},"context":{"properties":[]}}"#;

const SMART_HOME: &str = "POST /api/alexa/smart_home HTTP/1.1";

/// Clocks that move only when told: the monotonic clock and the wall clock
/// apart, as in a freeze.
#[derive(Debug)]
struct ManualClocks(Mutex<Stamp>);

impl ManualClocks {
    fn new() -> Arc<ManualClocks> {
        Arc::new(ManualClocks(Mutex::new(Stamp {
            monotonic: std::time::Instant::now(),
            wall: SystemTime::now(),
        })))
    }

    /// The sandbox was frozen for `wall`, and its monotonic clock moved `monotonic`.
    fn freeze(&self, monotonic: Duration, wall: Duration) {
        let mut now = self.0.lock().unwrap();
        now.monotonic += monotonic;
        now.wall += wall;
    }
}

impl Clocks for ManualClocks {
    fn now(&self) -> Stamp {
        *self.0.lock().unwrap()
    }
}

fn turn_on() -> Vec<u8> {
    directive(
        "Alexa.PowerController",
        "TurnOn",
        Some("switch#ac"),
        serde_json::json!({}),
        "token",
    )
}

/// A bridge to `url` whose connections read `clocks`, configured by `vars`.
fn bridge(url: &str, vars: &[(&str, &str)], clocks: Arc<ManualClocks>) -> Bridge {
    let (config, problems) = Config::from_env(|name| match name {
        "BASE_URL" => Some(url.to_string()),
        _ => vars
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string()),
    });
    assert!(problems.is_empty(), "{problems:?}");
    let transport = HttpsTransport::with_clocks(&config, lee_host::MonotonicClock::new(), clocks)
        .unwrap()
        .unwrap();
    Bridge::with_transport(
        config,
        problems,
        Capacities::MINIMUM,
        Some(Box::new(transport)),
    )
    .unwrap()
}

fn assert_turned_on(bridge: &mut Bridge) {
    let answer = bridge.answer(&turn_on(), None);
    assert_eq!(
        answer.outcome,
        Answered::PassedThrough,
        "{}",
        String::from_utf8_lossy(answer.body)
    );
}

#[test]
fn a_connection_idle_past_the_keep_alive_timeout_is_replaced_without_a_write_into_it() {
    // (monotonic, wall) time of the freeze that outlasts the default 60 s.
    let freezes = [
        (
            "a monotonic clock that stood still",
            Duration::ZERO,
            Duration::from_secs(61),
        ),
        (
            "a wall clock set back",
            Duration::from_secs(61),
            Duration::ZERO,
        ),
    ];
    for (how, monotonic, wall) in freezes {
        let server = KeepAliveServer::start(HA_BODY);
        let relay = StaleRelay::start(&server.url);
        let clocks = ManualClocks::new();
        let mut bridge = bridge(&relay.url, &[], Arc::clone(&clocks));
        assert_turned_on(&mut bridge);
        // Idle for 59 s: still reused.
        clocks.freeze(Duration::ZERO, Duration::from_secs(59));
        assert_turned_on(&mut bridge);
        assert_eq!(relay.connections(), 1, "{how}: reused within the timeout");
        // Frozen past the timeout; the server closed the connection unseen.
        relay.server_closes_idle_connections();
        clocks.freeze(monotonic, wall);
        assert_turned_on(&mut bridge);
        assert_eq!(
            relay.resets(),
            0,
            "{how}: lee wrote into the dead connection"
        );
        assert_eq!(relay.connections(), 2, "{how}");
        assert_eq!(server.count(SMART_HOME), 3, "{how}");
    }
}

#[test]
fn keepalive_timeout_s_sets_how_long_a_connection_is_reused() {
    let server = KeepAliveServer::start(HA_BODY);
    let relay = StaleRelay::start(&server.url);
    let clocks = ManualClocks::new();
    let mut bridge = bridge(
        &relay.url,
        &[("KEEPALIVE_TIMEOUT_S", "5")],
        Arc::clone(&clocks),
    );
    assert_turned_on(&mut bridge);
    clocks.freeze(Duration::from_secs(4), Duration::from_secs(4));
    assert_turned_on(&mut bridge);
    assert_eq!(relay.connections(), 1, "idle 4 s of 5: reused");
    clocks.freeze(Duration::from_secs(5), Duration::from_secs(5));
    assert_turned_on(&mut bridge);
    assert_eq!(relay.connections(), 2, "idle 5 s of 5: replaced");
}

#[test]
fn a_connection_real_home_assistant_closed_unseen_costs_only_a_new_connection() {
    let Some(ha) = RealHa::from_env() else {
        return;
    };
    let relay = StaleRelay::start(&ha.url);
    let clocks = ManualClocks::new();
    let mut bridge = bridge(&relay.url, &[], clocks);
    let report = directive(
        "Alexa",
        "ReportState",
        Some("light#bed_light"),
        serde_json::json!({}),
        &ha.token,
    );
    for round in 0..3 {
        let answer = bridge.answer(&report, Some(Duration::from_secs(10)));
        assert_eq!(
            answer.outcome,
            Answered::PassedThrough,
            "round {round}: {}",
            String::from_utf8_lossy(answer.body)
        );
        let v: serde_json::Value = serde_json::from_slice(answer.body).unwrap();
        assert_eq!(header(&v), ("Alexa", "StateReport"));
        relay.server_closes_idle_connections();
    }
    assert_eq!(
        relay.resets(),
        2,
        "each later round met the closed connection"
    );
    assert_eq!(relay.connections(), 3);
}
