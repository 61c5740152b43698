//! `Alexa.Discovery` `Discover`: the endpoints as Home Assistant 2024.3
//! describes them (display category, names, its manufacturer attributes,
//! one capability per interface with the properties it reports), in its
//! member order.

use super::answer::Reply;
use crate::devices::{Endpoint, Mode};
use crate::json::{J, obj};

/// The Home Assistant version the demo answers as (`softwareVersion`).
const HA_VERSION: &str = "2024.3.3";

/// The `Discover.Response` listing `endpoints`.
pub(super) fn discover(endpoints: &[Endpoint]) -> Reply {
    Reply::new(
        "Alexa.Discovery",
        "Discover.Response",
        obj([(
            "endpoints",
            J::Arr(endpoints.iter().map(Endpoint::discovery).collect()),
        )]),
    )
}

impl Endpoint {
    /// The endpoint's Discovery entry, in Home Assistant's member order.
    fn discovery(&self) -> J {
        let entity_id = self.entity_id();
        let domain = self.id.split('#').next().unwrap_or_default();
        let capabilities = self
            .device
            .interfaces()
            .iter()
            .map(|&interface| capability(interface))
            .collect();
        obj([
            ("displayCategories", J::Arr(vec![J::Static(self.category)])),
            ("cookie", obj([])),
            ("endpointId", J::Static(self.id)),
            ("friendlyName", J::Static(self.friendly_name)),
            (
                "description",
                J::Str(format!("{entity_id} via Home Assistant")),
            ),
            ("manufacturerName", J::Static("Home Assistant")),
            (
                "additionalAttributes",
                obj([
                    ("manufacturer", J::Static("Home Assistant")),
                    ("model", J::Str(domain.to_string())),
                    ("softwareVersion", J::Static(HA_VERSION)),
                    ("customIdentifier", J::Str(format!("-{entity_id}"))),
                ]),
            ),
            ("capabilities", J::Arr(capabilities)),
        ])
    }
}

/// One interface's Discovery entry.
fn capability(interface: &'static str) -> J {
    let mut members = vec![
        ("type", J::Static("AlexaInterface")),
        ("interface", J::Static(interface)),
        ("version", J::Static("3")),
    ];
    let supported = supported_properties(interface);
    if !supported.is_empty() {
        let names = supported
            .iter()
            .map(|&name| obj([("name", J::Static(name))]))
            .collect();
        members.push((
            "properties",
            obj([
                ("supported", J::Arr(names)),
                ("proactivelyReported", J::Bool(true)),
                ("retrievable", J::Bool(true)),
            ]),
        ));
    }
    match interface {
        "Alexa.SceneController" => members.push(("supportsDeactivation", J::Bool(false))),
        "Alexa.ThermostatController" => members.push((
            "configuration",
            obj([
                ("supportsScheduling", J::Bool(false)),
                (
                    "supportedModes",
                    J::Arr(
                        Mode::SUPPORTED
                            .iter()
                            .map(|m| J::Static(m.alexa()))
                            .collect(),
                    ),
                ),
            ]),
        )),
        _ => {}
    }
    J::from(members)
}

/// The properties an interface reports (none for `Alexa` and the scene).
fn supported_properties(interface: &str) -> &'static [&'static str] {
    match interface {
        "Alexa.PowerController" => &["powerState"],
        "Alexa.BrightnessController" => &["brightness"],
        "Alexa.ColorController" => &["color"],
        "Alexa.ColorTemperatureController" => &["colorTemperatureInKelvin"],
        "Alexa.ContactSensor" => &["detectionState"],
        "Alexa.ThermostatController" => &["thermostatMode", "targetSetpoint"],
        "Alexa.TemperatureSensor" => &["temperature"],
        "Alexa.LockController" => &["lockState"],
        "Alexa.EndpointHealth" => &["connectivity"],
        _ => &[],
    }
}
