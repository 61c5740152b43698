//! The REST API, as much of it as lee's engine ops use: `GET /api/`,
//! `GET /api/states` and `GET /api/states/<entity_id>` (the devices as Home
//! Assistant's state objects), and `POST /api/services/<domain>/<service>`
//! for the switching services (answering the states that changed). 401
//! without a token, 404 for any other path.

use lee_core::bridge::{Method, RestRequest};
use serde_json::{Map, Value};

use crate::devices::{Device, Endpoint};
use crate::{DemoHome, UNAUTHORIZED};

/// The services the demo's devices answer to; another is 400.
const SERVICES: [&str; 12] = [
    "light/turn_on",
    "light/turn_off",
    "light/toggle",
    "switch/turn_on",
    "switch/turn_off",
    "switch/toggle",
    "homeassistant/turn_on",
    "homeassistant/turn_off",
    "homeassistant/toggle",
    "lock/lock",
    "lock/unlock",
    "scene/turn_on",
];

impl DemoHome {
    /// Home Assistant's answer to `request`: the HTTP status and the body.
    pub(crate) fn answer_rest(&mut self, request: &RestRequest<'_>) -> (u16, Vec<u8>) {
        match (request.method, request.path, request.token) {
            (_, _, None) => (401, UNAUTHORIZED.to_vec()),
            (Method::Get, "/api/", Some(_)) => (200, br#"{"message":"API running."}"#.to_vec()),
            (Method::Get, "/api/states", Some(_)) => {
                let now = self.now();
                let states: Vec<Value> = self.endpoints.iter().map(|e| e.state(&now)).collect();
                (200, Value::Array(states).to_string().into_bytes())
            }
            (Method::Get, path, Some(_)) => {
                let now = self.now();
                match path
                    .strip_prefix("/api/states/")
                    .and_then(|id| self.endpoints.iter().find(|e| e.entity_id() == id))
                {
                    Some(endpoint) => (200, endpoint.state(&now).to_string().into_bytes()),
                    None => (404, br#"{"message":"Entity not found."}"#.to_vec()),
                }
            }
            (Method::Post, path, Some(_)) => match path.strip_prefix("/api/services/") {
                Some(service) => self.call_service(service, request.body),
                None => (404, b"404: Not Found".to_vec()),
            },
        }
    }

    /// `POST /api/services/<domain>/<service>`: the switching services of
    /// the demo's devices; answers the states that changed, as Home
    /// Assistant does.
    fn call_service(&mut self, service: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let targets = service_targets(body);
        let now = self.now();
        let mut changed = Vec::new();
        for endpoint in &mut self.endpoints {
            if !targets.iter().any(|t| *t == endpoint.entity_id()) {
                continue;
            }
            if endpoint.device.call_service(service) {
                changed.push(endpoint.state(&now));
            }
        }
        if SERVICES.contains(&service) {
            (200, Value::Array(changed).to_string().into_bytes())
        } else {
            (400, br#"{"message":"Service not found."}"#.to_vec())
        }
    }
}

/// The entity ids a service call's data names in `entity_id` (one or a
/// list); none for a body that is not such JSON.
fn service_targets(body: &[u8]) -> Vec<String> {
    let data: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match &data["entity_id"] {
        Value::String(id) => vec![id.clone()],
        Value::Array(ids) => ids
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

impl Device {
    /// Run `service` (`<domain>/<service>`) on this device: whether it
    /// applies (and so the device's state is in the answer).
    fn call_service(&mut self, service: &str) -> bool {
        match (self, service) {
            (
                Device::Light { on, .. } | Device::Switch { on },
                "light/turn_on" | "switch/turn_on" | "homeassistant/turn_on",
            ) => *on = true,
            (
                Device::Light { on, .. } | Device::Switch { on },
                "light/turn_off" | "switch/turn_off" | "homeassistant/turn_off",
            ) => *on = false,
            (
                Device::Light { on, .. } | Device::Switch { on },
                "light/toggle" | "switch/toggle" | "homeassistant/toggle",
            ) => *on = !*on,
            (Device::Lock { locked }, "lock/lock") => *locked = true,
            (Device::Lock { locked }, "lock/unlock") => *locked = false,
            (Device::Scene, "scene/turn_on") => {}
            _ => return false,
        }
        true
    }

    /// The state and attributes Home Assistant's REST API shows.
    fn rest_state(&self, attributes: &mut Map<String, Value>) -> String {
        match self {
            Device::Light {
                on,
                brightness,
                hue,
                saturation,
                mireds,
            } => {
                if *on {
                    attributes.insert("brightness".into(), (*brightness).into());
                    match mireds {
                        Some(m) => attributes.insert("color_temp".into(), (*m).into()),
                        None => attributes.insert(
                            "hs_color".into(),
                            serde_json::json!([hue, (saturation * 1000.0).round() / 10.0]),
                        ),
                    };
                }
                attributes.insert(
                    "supported_color_modes".into(),
                    serde_json::json!(["color_temp", "hs"]),
                );
                if *on { "on" } else { "off" }.to_string()
            }
            Device::Switch { on } => if *on { "on" } else { "off" }.to_string(),
            Device::Thermostat {
                mode,
                target,
                current,
                ..
            } => {
                attributes.insert("temperature".into(), (*target).into());
                attributes.insert("current_temperature".into(), (*current).into());
                attributes.insert(
                    "hvac_modes".into(),
                    serde_json::json!(["heat", "cool", "auto", "off"]),
                );
                mode.alexa().to_ascii_lowercase()
            }
            Device::Lock { locked } => if *locked { "locked" } else { "unlocked" }.to_string(),
            Device::Sensor { celsius } => {
                attributes.insert("unit_of_measurement".into(), "°C".into());
                attributes.insert("device_class".into(), "temperature".into());
                celsius.to_string()
            }
            Device::Scene => "unknown".to_string(),
        }
    }
}

impl Endpoint {
    /// The entity's state object as Home Assistant's REST API shows it.
    fn state(&self, now: &str) -> Value {
        let mut attributes = Map::new();
        let state = self.device.rest_state(&mut attributes);
        attributes.insert("friendly_name".into(), self.friendly_name.into());
        serde_json::json!({
            "entity_id": self.entity_id(),
            "state": state,
            "attributes": attributes,
            "last_changed": now,
            "last_updated": now,
            "context": {"id": "01HQDEMO000000000000000000", "parent_id": null, "user_id": null},
        })
    }
}
