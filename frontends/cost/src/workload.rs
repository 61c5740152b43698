//! The events to replay: the built-in mix, made from what a Discovery
//! answer lists, or the lines of an NDJSON file.
//!
//! The mix, per thousand events: 5 Discovery, 450 ReportState, 400 control
//! directives (each endpoint gets only those its interfaces take: power,
//! brightness, color, color temperature, thermostat, lock, scene), 120
//! `ha.state` engine ops and 25 `ha.health`. The endpoint and the values
//! are drawn from a seeded generator, so equal seeds give equal workloads.
//! Directives carry the token in their scope and a correlationToken of
//! Alexa's usual length, as Alexa's do; events are made one at a time, so
//! a long run holds one in memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek};
use std::path::{Path, PathBuf};

use lee_core::retry::SplitMix64;
use serde_json::{Value, json};

/// What a mix entry sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// `Alexa.Discovery` `Discover`.
    Discovery,
    /// An endpoint directive: namespace, name and how its payload is made.
    Directive(&'static str, &'static str, Payload),
    /// `ha.state` of an endpoint's entity.
    State,
    /// `ha.health`.
    Health,
}

/// How a directive's payload is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Payload {
    Empty,
    Brightness,
    BrightnessDelta,
    Color,
    ColorTemperature,
    Setpoint,
}

impl Payload {
    fn make(self, rng: &mut SplitMix64) -> Value {
        let mut pick = |n: u64| rng.next_u64() % n;
        match self {
            Payload::Empty => json!({}),
            Payload::Brightness => json!({ "brightness": pick(101) }),
            Payload::BrightnessDelta => json!({ "brightnessDelta": pick(41) as i64 - 20 }),
            Payload::Color => json!({
                "color": { "hue": pick(360) as f64, "saturation": 0.8, "brightness": 0.9 }
            }),
            Payload::ColorTemperature => {
                json!({ "colorTemperatureInKelvin": 2700 + 100 * pick(38) })
            }
            Payload::Setpoint => json!({
                "targetSetpoint": { "value": 18 + pick(8), "scale": "CELSIUS" }
            }),
        }
    }
}

/// The mix, per thousand: (what, interface an endpoint needs, weight).
/// `None` needs no endpoint; `Some("")` takes any endpoint.
const MIX: [(Action, Option<&str>, u32); 14] = [
    (Action::Discovery, None, 5),
    (
        Action::Directive("Alexa", "ReportState", Payload::Empty),
        Some(""),
        450,
    ),
    (
        Action::Directive("Alexa.PowerController", "TurnOn", Payload::Empty),
        Some("Alexa.PowerController"),
        100,
    ),
    (
        Action::Directive("Alexa.PowerController", "TurnOff", Payload::Empty),
        Some("Alexa.PowerController"),
        100,
    ),
    (
        Action::Directive(
            "Alexa.BrightnessController",
            "SetBrightness",
            Payload::Brightness,
        ),
        Some("Alexa.BrightnessController"),
        40,
    ),
    (
        Action::Directive(
            "Alexa.BrightnessController",
            "AdjustBrightness",
            Payload::BrightnessDelta,
        ),
        Some("Alexa.BrightnessController"),
        20,
    ),
    (
        Action::Directive("Alexa.ColorController", "SetColor", Payload::Color),
        Some("Alexa.ColorController"),
        20,
    ),
    (
        Action::Directive(
            "Alexa.ColorTemperatureController",
            "SetColorTemperature",
            Payload::ColorTemperature,
        ),
        Some("Alexa.ColorTemperatureController"),
        20,
    ),
    (
        Action::Directive(
            "Alexa.ThermostatController",
            "SetTargetTemperature",
            Payload::Setpoint,
        ),
        Some("Alexa.ThermostatController"),
        40,
    ),
    (
        Action::Directive("Alexa.LockController", "Lock", Payload::Empty),
        Some("Alexa.LockController"),
        15,
    ),
    (
        Action::Directive("Alexa.LockController", "Unlock", Payload::Empty),
        Some("Alexa.LockController"),
        15,
    ),
    (
        Action::Directive("Alexa.SceneController", "Activate", Payload::Empty),
        Some("Alexa.SceneController"),
        30,
    ),
    (Action::State, Some(""), 120),
    (Action::Health, None, 25),
];

/// One kind of event in the mix, with the endpoints it can go to.
#[derive(Clone, Debug)]
struct Entry {
    action: Action,
    weight: u32,
    endpoints: Vec<String>,
}

/// The built-in mix over a home's endpoints.
pub struct Mix {
    entries: Vec<Entry>,
    total_weight: u32,
    rng: SplitMix64,
    token: String,
    correlation: String,
    serial: u64,
}

/// A Discovery directive, as Alexa sends it, with `token` in its scope.
pub fn discovery(token: &str) -> Vec<u8> {
    let event = json!({"directive": {
        "header": {
            "namespace": "Alexa.Discovery", "name": "Discover",
            "payloadVersion": "3", "messageId": "lee-cost-discovery",
        },
        "payload": {"scope": {"type": "BearerToken", "token": token}},
    }});
    serde_json::to_vec(&event).unwrap_or_default()
}

/// Each endpoint of a Discovery answer: its id and its interfaces.
fn endpoints(answer: &Value) -> Vec<(String, Vec<String>)> {
    let Some(listed) = answer["event"]["payload"]["endpoints"].as_array() else {
        return Vec::new();
    };
    listed
        .iter()
        .filter_map(|endpoint| {
            let id = endpoint["endpointId"].as_str()?.to_string();
            let interfaces = endpoint["capabilities"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["interface"].as_str().map(str::to_string))
                .collect();
            Some((id, interfaces))
        })
        .collect()
}

impl Mix {
    /// The mix over the endpoints of `discovery_answer`, control directives
    /// only when `control`, every directive carrying `token`, drawn from a
    /// generator seeded with `seed`. `Err` says why there is no mix.
    pub fn from_discovery(
        discovery_answer: &[u8],
        token: &str,
        control: bool,
        seed: u64,
    ) -> Result<Mix, String> {
        let answer: Value = serde_json::from_slice(discovery_answer)
            .map_err(|_| "the Discovery answer is not JSON".to_string())?;
        let endpoints = endpoints(&answer);
        if endpoints.is_empty() {
            let why = answer["event"]["payload"]["message"]
                .as_str()
                .unwrap_or("no endpoints");
            return Err(format!("Discovery found nothing to replay: {why}"));
        }
        let entries: Vec<Entry> = MIX
            .iter()
            .filter(|(action, _, _)| control || !is_control(*action))
            .filter_map(|&(action, needs, weight)| {
                let endpoints: Vec<String> = match needs {
                    None => Vec::new(),
                    Some(interface) => endpoints
                        .iter()
                        .filter(|(_, has)| {
                            interface.is_empty() || has.iter().any(|i| i == interface)
                        })
                        .map(|(id, _)| id.clone())
                        .collect(),
                };
                (needs.is_none() || !endpoints.is_empty()).then_some(Entry {
                    action,
                    weight,
                    endpoints,
                })
            })
            .collect();
        Ok(Mix {
            total_weight: entries.iter().map(|e| e.weight).sum(),
            entries,
            rng: SplitMix64::new(seed),
            token: token.to_string(),
            // Alexa's correlation tokens are opaque base64 of about this length.
            correlation: "AAAAAAAAAQBe8ATzt+PzWVqbUXXQAv6J".repeat(16),
            serial: 0,
        })
    }

    /// The next event into `out` (cleared first); returns its kind.
    pub fn next_event(&mut self, out: &mut Vec<u8>) -> &'static str {
        out.clear();
        self.serial += 1;
        let mut roll = (self.rng.next_u64() % u64::from(self.total_weight)) as u32;
        let entry = self
            .entries
            .iter()
            .find(|e| {
                let here = roll < e.weight;
                roll = roll.saturating_sub(e.weight);
                here
            })
            .unwrap_or(&self.entries[0]);
        let endpoint = match entry.endpoints.len() {
            0 => "",
            n => &entry.endpoints[(self.rng.next_u64() % n as u64) as usize],
        };
        let (kind, event) = match entry.action {
            Action::Discovery => ("Discover", None),
            Action::Health => ("ha.health", Some(json!({"op": "ha.health"}))),
            Action::State => (
                "ha.state",
                Some(json!({"op": "ha.state", "entity_id": endpoint.replace('#', ".")})),
            ),
            Action::Directive(namespace, name, payload) => {
                let payload = payload.make(&mut self.rng);
                let event = json!({"directive": {
                    "header": {
                        "namespace": namespace, "name": name, "payloadVersion": "3",
                        "messageId": format!("lee-cost-{}", self.serial),
                        "correlationToken": self.correlation,
                    },
                    "endpoint": {
                        "scope": {"type": "BearerToken", "token": self.token},
                        "endpointId": endpoint, "cookie": {},
                    },
                    "payload": payload,
                }});
                (name, Some(event))
            }
        };
        match event {
            Some(event) => {
                // Writing a Value into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, &event);
            }
            None => out.extend_from_slice(&discovery(&self.token)),
        }
        kind
    }

    /// The endpoints the mix sends to, each once, in Discovery order.
    #[cfg(test)]
    fn endpoint_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = Vec::new();
        for id in self.entries.iter().flat_map(|e| &e.endpoints) {
            if !ids.contains(&id.as_str()) {
                ids.push(id);
            }
        }
        ids
    }
}

fn is_control(action: Action) -> bool {
    matches!(action, Action::Directive(_, name, _) if name != "ReportState")
}

/// An NDJSON file of events, replayed line by line (blank lines skipped),
/// from the start again when asked for more than it holds.
pub struct Replay {
    path: PathBuf,
    reader: BufReader<File>,
    /// The events in one pass over the file.
    pub events: u64,
}

impl Replay {
    /// Open `path` and count its events; a file without one is an error.
    pub fn open(path: &Path) -> io::Result<Replay> {
        let mut reader = BufReader::new(File::open(path)?);
        let mut events = 0;
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line)? > 0 {
            if !line.trim_ascii().is_empty() {
                events += 1;
            }
            line.clear();
        }
        if events == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "no events in the file (one JSON event per line)",
            ));
        }
        reader.rewind()?;
        Ok(Replay {
            path: path.to_path_buf(),
            reader,
            events,
        })
    }

    /// The next event into `out` (cleared first, without its line break);
    /// returns its kind.
    pub fn next_event(&mut self, out: &mut Vec<u8>) -> io::Result<String> {
        loop {
            out.clear();
            if self.reader.read_until(b'\n', out)? == 0 {
                // The file was counted as holding events: start over.
                self.reader.rewind()?;
                continue;
            }
            let event = out.trim_ascii();
            if !event.is_empty() {
                let len = event.len();
                let start = event.as_ptr() as usize - out.as_ptr() as usize;
                out.copy_within(start..start + len, 0);
                out.truncate(len);
                return Ok(kind(out));
            }
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What an event is, in a word: a directive's name, an op's name, or the
/// kind of lee's other events.
pub fn kind(event: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<Value>(event) else {
        return "unreadable".into();
    };
    if let Some(name) = value["directive"]["header"]["name"].as_str() {
        return name.into();
    }
    if let Some(op) = value["op"].as_str() {
        return op.into();
    }
    let kind = if value.get("health_check").is_some() {
        "health"
    } else if value.get("diagnostics").is_some() {
        "diagnostics"
    } else if value.get("requestContext").is_some() {
        "http"
    } else if value["request"]["type"].is_string() {
        "skill"
    } else {
        "other"
    };
    kind.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lee_demo::{DemoHome, ENDPOINT_IDS};
    use std::collections::BTreeMap;

    use lee_core::bridge::{Timeouts, Transport};

    /// The demo home's Discovery answer.
    fn demo_discovery() -> Vec<u8> {
        let mut home = DemoHome::new();
        let mut body = vec![0u8; 64 * 1024];
        let timeouts = Timeouts {
            connect: std::time::Duration::from_secs(2),
            total: std::time::Duration::from_secs(7),
        };
        let answer = home
            .post_directive(&discovery("t"), "t", timeouts, &mut body)
            .unwrap();
        body.truncate(answer.len);
        body
    }

    #[test]
    fn the_weights_add_up_to_a_thousand() {
        assert_eq!(MIX.iter().map(|(_, _, w)| w).sum::<u32>(), 1000);
    }

    #[test]
    fn the_demo_mix_reaches_every_demo_endpoint_with_what_it_takes() {
        let mut mix = Mix::from_discovery(&demo_discovery(), "t", true, 1).unwrap();
        assert_eq!(mix.endpoint_ids(), ENDPOINT_IDS);
        assert_eq!(mix.total_weight, 1000);
        let mut counts = BTreeMap::new();
        let mut event = Vec::new();
        for _ in 0..10_000 {
            let kind = mix.next_event(&mut event);
            *counts.entry(kind).or_insert(0u32) += 1;
            let value: Value = serde_json::from_slice(&event).unwrap();
            assert_eq!(super::kind(&event), kind);
            let endpoint = value["directive"]["endpoint"]["endpointId"].as_str();
            match kind {
                "Lock" | "Unlock" => assert_eq!(endpoint, Some("lock#front_door")),
                "SetTargetTemperature" => assert_eq!(endpoint, Some("climate#hallway")),
                "Activate" => assert_eq!(endpoint, Some("scene#movie_night")),
                "ha.state" => {
                    let entity = value["entity_id"].as_str().unwrap();
                    assert!(ENDPOINT_IDS.contains(&entity.replace('.', "#").as_str()));
                }
                _ => {}
            }
        }
        // About 45 % ReportState, about 0.5 % Discovery.
        assert!((4200..4800).contains(&counts["ReportState"]), "{counts:?}");
        assert!((20..90).contains(&counts["Discover"]), "{counts:?}");
        assert_eq!(counts.len(), 14, "{counts:?}");
    }

    #[test]
    fn without_control_the_mix_only_reads() {
        let mut mix = Mix::from_discovery(&demo_discovery(), "t", false, 1).unwrap();
        let mut event = Vec::new();
        for _ in 0..2000 {
            let kind = mix.next_event(&mut event);
            assert!(
                ["Discover", "ReportState", "ha.state", "ha.health"].contains(&kind),
                "{kind}"
            );
        }
    }

    #[test]
    fn equal_seeds_give_equal_workloads() {
        let discovery = demo_discovery();
        let run = |seed| {
            let mut mix = Mix::from_discovery(&discovery, "t", true, seed).unwrap();
            let mut event = Vec::new();
            (0..200)
                .map(|_| {
                    mix.next_event(&mut event);
                    event.clone()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }

    #[test]
    fn an_answer_without_endpoints_has_no_mix() {
        let error = br#"{"event":{"header":{"name":"ErrorResponse"},"payload":{"type":"BRIDGE_UNREACHABLE","message":"connection refused"}}}"#;
        let why = Mix::from_discovery(error, "t", true, 1).err().unwrap();
        assert!(why.contains("connection refused"), "{why}");
    }

    #[test]
    fn a_file_is_replayed_in_order_and_again() {
        let path =
            std::env::temp_dir().join(format!("lee-cost-replay-{}.ndjson", std::process::id()));
        std::fs::write(
            &path,
            "{\"op\": \"ha.health\"}\n\n  {\"health_check\": true}  \r\n{\"directive\":{\"header\":{\"name\":\"TurnOn\"}}}",
        )
        .unwrap();
        let mut replay = Replay::open(&path).unwrap();
        assert_eq!(replay.events, 3);
        let mut event = Vec::new();
        let kinds: Vec<String> = (0..4)
            .map(|_| replay.next_event(&mut event).unwrap())
            .collect();
        assert_eq!(kinds, ["ha.health", "health", "TurnOn", "ha.health"]);
        assert_eq!(event, b"{\"op\": \"ha.health\"}");
        std::fs::write(&path, "\n \n").unwrap();
        assert!(Replay::open(&path).is_err());
        std::fs::remove_file(&path).unwrap();
    }
}
