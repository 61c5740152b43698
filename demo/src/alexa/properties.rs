//! A device's state as Alexa properties (`context.properties`): what
//! ReportState and every successful answer to a directive with an endpoint
//! report, in Home Assistant's order and with its values (a light that is
//! off reports no brightness or color), each with `timeOfSample` and
//! `uncertaintyInMilliseconds`.

use crate::devices::{Device, Mode};
use crate::json::{J, obj};

/// One entry of `context.properties`.
#[derive(Debug)]
pub(super) struct Property {
    namespace: &'static str,
    name: &'static str,
    value: J,
}

impl Property {
    pub(super) fn new(namespace: &'static str, name: &'static str, value: J) -> Property {
        Property {
            namespace,
            name,
            value,
        }
    }

    fn render(self, now: &str) -> J {
        obj([
            ("name", J::Static(self.name)),
            ("namespace", J::Static(self.namespace)),
            ("value", self.value),
            ("timeOfSample", J::Str(now.to_string())),
            ("uncertaintyInMilliseconds", J::Int(0)),
        ])
    }
}

/// The answer's `context`: the handler's own properties (`added`) first,
/// then the state read before the change (`before`), skipping what the
/// handler set.
pub(super) fn context(added: Vec<Property>, before: Vec<Property>, now: &str) -> J {
    let mut properties = added;
    for p in before {
        if !properties
            .iter()
            .any(|q| q.namespace == p.namespace && q.name == p.name)
        {
            properties.push(p);
        }
    }
    let properties = properties.into_iter().map(|p| p.render(now)).collect();
    obj([("properties", J::Arr(properties))])
}

impl Device {
    /// The current properties, in Home Assistant's order; like Home
    /// Assistant, a property without a value (a light's color temperature
    /// while it is off or in color mode) is left out.
    pub(super) fn properties(&self) -> Vec<Property> {
        let mut properties = match self {
            Device::Light {
                on: true,
                brightness,
                hue,
                saturation,
                mireds,
            } => light_on(*brightness, *hue, *saturation, *mireds),
            // Home Assistant reads no brightness and no color from a light that is off.
            Device::Light { on: false, .. } => {
                let color = obj([
                    ("hue", J::Int(0)),
                    ("saturation", J::Float(0.0)),
                    ("brightness", J::Float(0.0)),
                ]);
                light(false, 0, color)
            }
            Device::Switch { on } => vec![
                power(*on),
                Property::new(
                    "Alexa.ContactSensor",
                    "detectionState",
                    J::Static(if *on { "DETECTED" } else { "NOT_DETECTED" }),
                ),
            ],
            Device::Thermostat {
                mode,
                target,
                current,
                ..
            } => vec![
                power(*mode != Mode::Off),
                mode_property(*mode),
                setpoint_property(*target),
                Property::new("Alexa.TemperatureSensor", "temperature", celsius(*current)),
            ],
            Device::Lock { locked } => vec![lock_state(*locked)],
            Device::Sensor { celsius: c } => vec![Property::new(
                "Alexa.TemperatureSensor",
                "temperature",
                celsius(*c),
            )],
            Device::Scene => Vec::new(),
        };
        if self.interfaces().contains(&"Alexa.EndpointHealth") {
            properties.push(Property::new(
                "Alexa.EndpointHealth",
                "connectivity",
                obj([("value", J::Static("OK"))]),
            ));
        }
        properties
    }
}

/// A light's `powerState`, `brightness` (percent) and `color`.
fn light(on: bool, percent: i64, color: J) -> Vec<Property> {
    vec![
        power(on),
        Property::new("Alexa.BrightnessController", "brightness", J::Int(percent)),
        Property::new("Alexa.ColorController", "color", color),
    ]
}

/// A light that is on: its brightness (1–255) as a percentage and as the
/// color's brightness, and its color temperature in white mode.
fn light_on(brightness: u8, hue: f64, saturation: f64, mireds: Option<u32>) -> Vec<Property> {
    let level = f64::from(brightness) / 255.0;
    let color = obj([
        ("hue", J::Float(hue)),
        ("saturation", J::Float(saturation)),
        ("brightness", J::Float(level)),
    ]);
    let mut properties = light(true, round_even(level * 100.0) as i64, color);
    if let Some(mireds) = mireds {
        properties.push(Property::new(
            "Alexa.ColorTemperatureController",
            "colorTemperatureInKelvin",
            J::Int(i64::from(1_000_000 / mireds.max(1))),
        ));
    }
    properties
}

/// `powerState`.
fn power(on: bool) -> Property {
    Property::new(
        "Alexa.PowerController",
        "powerState",
        J::Static(if on { "ON" } else { "OFF" }),
    )
}

/// A temperature property value.
fn celsius(value: f64) -> J {
    obj([("value", J::Float(value)), ("scale", J::Static("CELSIUS"))])
}

/// Python's `round`: halves to even.
pub(super) fn round_even(x: f64) -> f64 {
    x.round_ties_even()
}

/// The lock's `lockState`.
pub(super) fn lock_state(locked: bool) -> Property {
    Property::new(
        "Alexa.LockController",
        "lockState",
        J::Static(if locked { "LOCKED" } else { "UNLOCKED" }),
    )
}

/// The thermostat's `thermostatMode`.
pub(super) fn mode_property(mode: Mode) -> Property {
    Property::new(
        "Alexa.ThermostatController",
        "thermostatMode",
        J::Static(mode.alexa()),
    )
}

/// The thermostat's `targetSetpoint`, °C.
pub(super) fn setpoint_property(celsius_value: f64) -> Property {
    Property::new(
        "Alexa.ThermostatController",
        "targetSetpoint",
        celsius(celsius_value),
    )
}
