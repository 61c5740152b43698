//! The control directives: each device's directives, the checks on their
//! payloads and the state changes they make. An answer is an empty
//! `Alexa.Response`, plus the properties Home Assistant's handler reports
//! itself (the thermostat's setpoint and mode, the lock's state), or the
//! scene's `ActivationStarted`.

use serde_json::Value;

use super::answer::{Fault, Reply, UNKNOWN_ERROR};
use super::directive::{field, number, temperature, whole_number};
use super::properties::{lock_state, mode_property, round_even, setpoint_property};
use crate::devices::{Device, MAX_MIREDS, MAX_TEMP, MIN_MIREDS, MIN_TEMP, Mode};
use crate::json::{J, obj};

/// Whether any demo device handles `(namespace, name)`.
pub(super) fn is_known(namespace: &str, name: &str) -> bool {
    matches!(
        (namespace, name),
        ("Alexa.PowerController", "TurnOn" | "TurnOff")
            | (
                "Alexa.BrightnessController",
                "SetBrightness" | "AdjustBrightness"
            )
            | ("Alexa.ColorController", "SetColor")
            | (
                "Alexa.ColorTemperatureController",
                "SetColorTemperature" | "IncreaseColorTemperature" | "DecreaseColorTemperature"
            )
            | (
                "Alexa.ThermostatController",
                "SetTargetTemperature" | "AdjustTargetTemperature" | "SetThermostatMode"
            )
            | ("Alexa.LockController", "Lock" | "Unlock")
            | ("Alexa.SceneController", "Activate")
    )
}

impl Device {
    /// Run a control directive against this device: `INVALID_DIRECTIVE`
    /// for an interface it does not have or a directive it does not take.
    pub(super) fn control(
        &mut self,
        namespace: &str,
        name: &str,
        payload: &Value,
        now: &str,
    ) -> Result<Reply, Fault> {
        if !self.interfaces().contains(&namespace) {
            return Err(Fault::unsupported());
        }
        match self {
            Device::Light {
                on,
                brightness,
                hue,
                saturation,
                mireds,
            } => Light {
                on,
                brightness,
                hue,
                saturation,
                mireds,
            }
            .control(namespace, name, payload),
            Device::Switch { on } => switch(on, namespace, name),
            Device::Thermostat {
                mode,
                last_on,
                target,
                ..
            } => Thermostat {
                mode,
                last_on,
                target,
            }
            .control(namespace, name, payload),
            Device::Lock { locked } => lock(locked, namespace, name),
            Device::Scene => activate(namespace, name, now),
            Device::Sensor { .. } => Err(Fault::unsupported()),
        }
    }
}

/// A light's state, borrowed from its [`Device::Light`] for one directive.
struct Light<'a> {
    on: &'a mut bool,
    /// Home Assistant's 1–255 scale, kept while the light is off.
    brightness: &'a mut u8,
    hue: &'a mut f64,
    saturation: &'a mut f64,
    /// `Some(mireds)` in white mode, `None` in color mode.
    mireds: &'a mut Option<u32>,
}

impl Light<'_> {
    /// Power, brightness, color and color temperature; each answers an
    /// empty `Alexa.Response`.
    fn control(mut self, namespace: &str, name: &str, payload: &Value) -> Result<Reply, Fault> {
        match (namespace, name) {
            ("Alexa.PowerController", "TurnOn" | "TurnOff") => *self.on = name == "TurnOn",
            ("Alexa.BrightnessController", "SetBrightness") => self.set_brightness(payload)?,
            ("Alexa.BrightnessController", "AdjustBrightness") => {
                self.adjust_brightness(payload)?;
            }
            ("Alexa.ColorController", "SetColor") => self.set_color(payload)?,
            ("Alexa.ColorTemperatureController", "SetColorTemperature") => {
                self.set_color_temperature(payload)?;
            }
            (
                "Alexa.ColorTemperatureController",
                "IncreaseColorTemperature" | "DecreaseColorTemperature",
            ) => self.step_color_temperature(name == "IncreaseColorTemperature")?,
            _ => return Err(Fault::unsupported()),
        }
        Ok(Reply::response())
    }

    /// `SetBrightness`: a percentage, 0–100.
    fn set_brightness(&mut self, payload: &Value) -> Result<(), Fault> {
        let percent = whole_number(payload, "brightness", 0.0..=100.0, "brightness")?;
        self.set_level(round_even(percent * 255.0 / 100.0));
        Ok(())
    }

    /// `AdjustBrightness`: a change of −100 to 100 percentage points, from
    /// 0 for a light that is off.
    fn adjust_brightness(&mut self, payload: &Value) -> Result<(), Fault> {
        let delta = whole_number(
            payload,
            "brightnessDelta",
            -100.0..=100.0,
            "brightness delta",
        )?;
        let current = if *self.on {
            f64::from(*self.brightness)
        } else {
            0.0
        };
        let step = round_even(delta * 255.0 / 100.0);
        self.set_level((current + step).clamp(0.0, 255.0));
        Ok(())
    }

    /// Set the light to `level` (0–255, already clamped): 0 turns it off
    /// and keeps its brightness for the next `TurnOn`, as Home Assistant
    /// does.
    fn set_level(&mut self, level: f64) {
        if level < 1.0 {
            *self.on = false;
        } else {
            *self.on = true;
            *self.brightness = level.min(255.0) as u8;
        }
    }

    /// `SetColor`: hue 0–360, saturation and brightness 0–1; turns the
    /// light on in color mode.
    fn set_color(&mut self, payload: &Value) -> Result<(), Fault> {
        let color = field(payload, "color");
        let h = number(color.and_then(|c| c.get("hue")))?;
        let s = number(color.and_then(|c| c.get("saturation")))?;
        let b = number(color.and_then(|c| c.get("brightness")))?;
        if !(0.0..=360.0).contains(&h) || !(0.0..=1.0).contains(&s) || !(0.0..=1.0).contains(&b) {
            return Err(Fault::out_of_range("color", color.unwrap_or(&Value::Null)));
        }
        // Like Home Assistant, the color's brightness leaves the light's alone.
        (*self.on, *self.hue, *self.saturation, *self.mireds) = (true, h, s, None);
        Ok(())
    }

    /// `SetColorTemperature`: Alexa's 1000–10000 K; turns the light on in
    /// white mode.
    fn set_color_temperature(&mut self, payload: &Value) -> Result<(), Fault> {
        let kelvin = whole_number(
            payload,
            "colorTemperatureInKelvin",
            1000.0..=10000.0,
            "color temperature",
        )?;
        // Clamped to the light's range, stored in mireds as Home Assistant does.
        let kelvin = kelvin.clamp(
            f64::from(1_000_000 / MAX_MIREDS),
            f64::from(1_000_000 / MIN_MIREDS),
        ) as u32;
        (*self.on, *self.mireds) = (true, Some(1_000_000 / kelvin.max(1)));
        Ok(())
    }

    /// `IncreaseColorTemperature` (`cooler`, fewer mireds) or
    /// `DecreaseColorTemperature`: 50 mireds within the light's range.
    fn step_color_temperature(&mut self, cooler: bool) -> Result<(), Fault> {
        // Home Assistant fails here unless the light is on in white mode.
        let (true, Some(current)) = (*self.on, *self.mireds) else {
            return Err(Fault::internal(UNKNOWN_ERROR));
        };
        let next = if cooler {
            current.saturating_sub(50).max(MIN_MIREDS)
        } else {
            current.saturating_add(50).min(MAX_MIREDS)
        };
        *self.mireds = Some(next);
        Ok(())
    }
}

/// A switch's `TurnOn` and `TurnOff`.
fn switch(on: &mut bool, namespace: &str, name: &str) -> Result<Reply, Fault> {
    match (namespace, name) {
        ("Alexa.PowerController", "TurnOn" | "TurnOff") => {
            *on = name == "TurnOn";
            Ok(Reply::response())
        }
        _ => Err(Fault::unsupported()),
    }
}

/// A thermostat's state, borrowed from its [`Device::Thermostat`] for one
/// directive.
struct Thermostat<'a> {
    mode: &'a mut Mode,
    /// The mode `TurnOn` returns to.
    last_on: &'a mut Mode,
    /// °C.
    target: &'a mut f64,
}

impl Thermostat<'_> {
    /// Power, target setpoint and mode.
    fn control(self, namespace: &str, name: &str, payload: &Value) -> Result<Reply, Fault> {
        match (namespace, name) {
            ("Alexa.PowerController", "TurnOn") => {
                *self.mode = *self.last_on;
                Ok(Reply::response())
            }
            ("Alexa.PowerController", "TurnOff") => {
                *self.mode = Mode::Off;
                Ok(Reply::response())
            }
            ("Alexa.ThermostatController", "SetTargetTemperature") => {
                let setpoint = temperature(field(payload, "targetSetpoint"), false)?;
                self.set_target(setpoint)
            }
            ("Alexa.ThermostatController", "AdjustTargetTemperature") => {
                let delta = temperature(field(payload, "targetSetpointDelta"), true)?;
                let setpoint = *self.target + delta;
                self.set_target(setpoint)
            }
            ("Alexa.ThermostatController", "SetThermostatMode") => self.set_mode(payload),
            _ => Err(Fault::unsupported()),
        }
    }

    /// Set the target to `setpoint` °C, within the thermostat's limits; the
    /// answer reports the new setpoint.
    fn set_target(self, setpoint: f64) -> Result<Reply, Fault> {
        if !(MIN_TEMP..=MAX_TEMP).contains(&setpoint) {
            return Err(Fault::temperature_out_of_range(setpoint));
        }
        *self.target = setpoint;
        Ok(Reply::response().adding(setpoint_property(setpoint)))
    }

    /// `SetThermostatMode`; the answer reports the new mode.
    fn set_mode(self, payload: &Value) -> Result<Reply, Fault> {
        // Alexa sends {"value": "HEAT"}; Home Assistant also takes a bare string.
        let requested = match field(payload, "thermostatMode") {
            Some(Value::String(s)) => Some(s.as_str()),
            Some(m) => m.get("value").and_then(Value::as_str),
            None => None,
        };
        let Some(requested) = requested else {
            return Err(Fault::internal(UNKNOWN_ERROR));
        };
        let Some(new) = Mode::from_alexa(requested) else {
            return Err(Fault::unsupported_thermostat_mode(requested));
        };
        *self.mode = new;
        if new != Mode::Off {
            *self.last_on = new;
        }
        Ok(Reply::response().adding(mode_property(new)))
    }
}

/// A lock's `Lock` and `Unlock`; the answer reports the new `lockState`.
fn lock(locked: &mut bool, namespace: &str, name: &str) -> Result<Reply, Fault> {
    match (namespace, name) {
        ("Alexa.LockController", "Lock" | "Unlock") => {
            *locked = name == "Lock";
            Ok(Reply::response().adding(lock_state(*locked)))
        }
        _ => Err(Fault::unsupported()),
    }
}

/// A scene's `Activate`: `ActivationStarted`, stamped `now`.
fn activate(namespace: &str, name: &str, now: &str) -> Result<Reply, Fault> {
    match (namespace, name) {
        ("Alexa.SceneController", "Activate") => Ok(Reply::new(
            "Alexa.SceneController",
            "ActivationStarted",
            obj([
                ("cause", obj([("type", J::Static("VOICE_INTERACTION"))])),
                ("timestamp", J::Str(now.to_string())),
            ]),
        )),
        _ => Err(Fault::unsupported()),
    }
}
