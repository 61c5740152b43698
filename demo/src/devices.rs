//! The six made-up devices: what each one is (its endpoint id, name and
//! display category), the state it keeps, its state when the home is built,
//! its limits, and the Alexa interfaces it has. How the two APIs read and
//! change that state is theirs: `alexa::properties` and `alexa::control`,
//! `rest`.

use crate::ENDPOINT_IDS;

/// The thermostat's setpoint limits, °C (Home Assistant's climate defaults).
pub(crate) const MIN_TEMP: f64 = 7.0;
pub(crate) const MAX_TEMP: f64 = 35.0;

/// The light's color temperature range in mireds (6535 K to 2000 K), as
/// Home Assistant's demo lights have it.
pub(crate) const MIN_MIREDS: u32 = 153;
pub(crate) const MAX_MIREDS: u32 = 500;

/// One endpoint: its id, name, display category and device.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    pub(crate) id: &'static str,
    pub(crate) friendly_name: &'static str,
    pub(crate) category: &'static str,
    pub(crate) device: Device,
}

impl Endpoint {
    /// Home Assistant's entity id: `light.living_room` for `light#living_room`.
    pub(crate) fn entity_id(&self) -> String {
        self.id.replacen('#', ".", 1)
    }
}

/// A thermostat mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Heat,
    Cool,
    Auto,
    Off,
}

impl Mode {
    /// In Discovery's order.
    pub(crate) const SUPPORTED: [Mode; 4] = [Mode::Heat, Mode::Cool, Mode::Auto, Mode::Off];

    pub(crate) fn alexa(self) -> &'static str {
        match self {
            Mode::Heat => "HEAT",
            Mode::Cool => "COOL",
            Mode::Auto => "AUTO",
            Mode::Off => "OFF",
        }
    }

    pub(crate) fn from_alexa(name: &str) -> Option<Mode> {
        Mode::SUPPORTED.into_iter().find(|m| m.alexa() == name)
    }
}

/// The state of one device.
#[derive(Clone, Debug)]
pub(crate) enum Device {
    Light {
        on: bool,
        /// Home Assistant's 1–255 scale, kept while the light is off.
        brightness: u8,
        /// Degrees, 0–360.
        hue: f64,
        /// 0–1.
        saturation: f64,
        /// `Some(mireds)` in white mode, `None` in color mode.
        mireds: Option<u32>,
    },
    Switch {
        on: bool,
    },
    Thermostat {
        mode: Mode,
        /// The mode `TurnOn` returns to.
        last_on: Mode,
        /// °C.
        target: f64,
        /// °C.
        current: f64,
    },
    Lock {
        locked: bool,
    },
    Sensor {
        /// °C.
        celsius: f64,
    },
    Scene,
}

/// The six endpoints as a new home has them, in Discovery order.
pub(crate) fn initial_endpoints() -> [Endpoint; 6] {
    [
        Endpoint {
            id: ENDPOINT_IDS[0],
            friendly_name: "Living Room Light",
            category: "LIGHT",
            device: Device::Light {
                on: false,
                brightness: 180,
                hue: 28.55,
                saturation: 0.67974,
                mireds: Some(370),
            },
        },
        Endpoint {
            id: ENDPOINT_IDS[1],
            friendly_name: "Coffee Maker",
            category: "SMARTPLUG",
            device: Device::Switch { on: false },
        },
        Endpoint {
            id: ENDPOINT_IDS[2],
            friendly_name: "Hallway Thermostat",
            category: "THERMOSTAT",
            device: Device::Thermostat {
                mode: Mode::Heat,
                last_on: Mode::Heat,
                target: 20.0,
                current: 19.5,
            },
        },
        Endpoint {
            id: ENDPOINT_IDS[3],
            friendly_name: "Front Door",
            category: "SMARTLOCK",
            device: Device::Lock { locked: true },
        },
        Endpoint {
            id: ENDPOINT_IDS[4],
            friendly_name: "Outside Temperature",
            category: "TEMPERATURE_SENSOR",
            device: Device::Sensor { celsius: 15.6 },
        },
        Endpoint {
            id: ENDPOINT_IDS[5],
            friendly_name: "Movie Night",
            category: "SCENE_TRIGGER",
            device: Device::Scene,
        },
    ]
}

impl Device {
    /// The interfaces, in Home Assistant's Discovery order.
    pub(crate) fn interfaces(&self) -> &'static [&'static str] {
        match self {
            Device::Light { .. } => &[
                "Alexa.PowerController",
                "Alexa.BrightnessController",
                "Alexa.ColorController",
                "Alexa.ColorTemperatureController",
                "Alexa.EndpointHealth",
                "Alexa",
            ],
            Device::Switch { .. } => &[
                "Alexa.PowerController",
                "Alexa.ContactSensor",
                "Alexa.EndpointHealth",
                "Alexa",
            ],
            Device::Thermostat { .. } => &[
                "Alexa.PowerController",
                "Alexa.ThermostatController",
                "Alexa.TemperatureSensor",
                "Alexa.EndpointHealth",
                "Alexa",
            ],
            Device::Lock { .. } => &["Alexa.LockController", "Alexa.EndpointHealth", "Alexa"],
            Device::Sensor { .. } => &["Alexa.TemperatureSensor", "Alexa.EndpointHealth", "Alexa"],
            Device::Scene => &["Alexa.SceneController", "Alexa"],
        }
    }
}
