//! Which Home Assistant services an engine op may call.
//!
//! lee's ops token can do anything in the home. So ops may not call, by
//! default, the services that can take over a Home Assistant or open a home
//! ([`DENIED`]), nor open a cover that is a garage door, a gate or a door
//! ([`OPENS_A_COVER`], [`OPENING_CLASSES`]: decided on the entity's
//! `device_class`, read before the call). `OPS_ALLOW_SERVICES` lifts entries
//! (`lock.unlock`, or a whole domain as `mqtt.*`); `OPS_DENY_SERVICES` adds
//! more. An allow wins over both lists.
//!
//! The list, and why:
//!
//! | denied | because it |
//! |---|---|
//! | `homeassistant.*` | stops, restarts and reconfigures Home Assistant; its `turn_on`/`toggle` reach every domain, locks and covers included |
//! | `hassio.*`, `update.*`, `backup.*` | runs add-ons and host commands, installs software, copies the whole configuration |
//! | `shell_command.*`, `command_line.*`, `python_script.*`, `pyscript.*` | runs code on the Home Assistant host |
//! | `rest_command.*`, `mqtt.*`, `zwave_js.*`, `zha.*` | sends any request or message, or commands any device (lock codes included) behind Home Assistant's own checks |
//! | `recorder.*` | purges or disables the home's history |
//! | `lock.unlock`, `lock.open` | opens a door |
//! | `alarm_control_panel.alarm_disarm` | disarms the alarm |
//! | `scene.apply`, `scene.create` | sets any entity to any state, locks included, from its data |
//! | `camera.snapshot`, `camera.record` | writes files where its data says |
//! | `cover.open_cover`, `cover.toggle`, `cover.set_cover_position` on a `garage`, `gate` or `door` cover | opens the home |

/// Services (`domain.service`, or `domain.*` for a whole domain) ops may not
/// call unless `OPS_ALLOW_SERVICES` lifts them.
pub const DENIED: &[&str] = &[
    "homeassistant.*",
    "hassio.*",
    "update.*",
    "backup.*",
    "shell_command.*",
    "command_line.*",
    "python_script.*",
    "pyscript.*",
    "rest_command.*",
    "mqtt.*",
    "zwave_js.*",
    "zha.*",
    "recorder.*",
    "lock.unlock",
    "lock.open",
    "alarm_control_panel.alarm_disarm",
    "scene.apply",
    "scene.create",
    "camera.snapshot",
    "camera.record",
];

/// Cover services that open what they target.
pub const OPENS_A_COVER: &[&str] = &["open_cover", "toggle", "set_cover_position"];

/// The cover `device_class`es whose opening opens the home.
pub const OPENING_CLASSES: &[&str] = &["garage", "gate", "door"];

/// Keys a service call's `data` may not carry: targets go through the op's
/// checked `entity_id`, `entity_ids` and `area` arguments.
pub const TARGET_KEYS: &[&str] = &[
    "entity_id",
    "area_id",
    "device_id",
    "floor_id",
    "label_id",
    "target",
];

/// What the configuration allows and denies beyond [`DENIED`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServicePolicy {
    /// `OPS_ALLOW_SERVICES`: lifted from every denial.
    pub allowed: Vec<String>,
    /// `OPS_DENY_SERVICES`: denied besides [`DENIED`].
    pub denied: Vec<String>,
}

/// Whether an op may call a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Yes.
    Allowed,
    /// No: it is on a deny list.
    Denied,
    /// Only after each cover it targets has been read and found not to be
    /// a garage door, gate or door.
    UnlessItOpensTheHome,
}

impl ServicePolicy {
    /// Read a list of `domain.service` or `domain.*` entries, comma
    /// separated; the entries that are not, as the problem's message.
    pub fn parse_list(raw: &str) -> Result<Vec<String>, String> {
        let mut entries = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let valid = entry.split_once('.').is_some_and(|(domain, service)| {
                is_name(domain) && (service == "*" || is_name(service))
            });
            if !valid {
                return Err(format!(
                    "{entry:?} is not domain.service or domain.* (e.g. lock.unlock, mqtt.*)"
                ));
            }
            entries.push(entry.to_ascii_lowercase());
        }
        Ok(entries)
    }

    /// Whether an op may call `domain.service`.
    pub fn verdict(&self, domain: &str, service: &str) -> Verdict {
        let matches = |entry: &str| match entry.split_once('.') {
            Some((d, "*")) => d.eq_ignore_ascii_case(domain),
            Some((d, s)) => d.eq_ignore_ascii_case(domain) && s.eq_ignore_ascii_case(service),
            None => false,
        };
        if self.allowed.iter().any(|e| matches(e)) {
            return Verdict::Allowed;
        }
        if DENIED.iter().any(|e| matches(e)) || self.denied.iter().any(|e| matches(e)) {
            return Verdict::Denied;
        }
        if domain.eq_ignore_ascii_case("cover")
            && OPENS_A_COVER
                .iter()
                .any(|s| s.eq_ignore_ascii_case(service))
        {
            return Verdict::UnlessItOpensTheHome;
        }
        Verdict::Allowed
    }
}

/// Whether a cover of this `device_class` opens the home.
pub fn opens_the_home(device_class: Option<&str>) -> bool {
    device_class.is_some_and(|class| OPENING_CLASSES.contains(&class))
}

/// A Home Assistant domain or service name: lowercase letters, digits, `_`.
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_takes_over_or_opens_a_home_is_denied_by_default() {
        let policy = ServicePolicy::default();
        for (domain, service) in [
            ("homeassistant", "stop"),
            ("homeassistant", "turn_on"),
            ("shell_command", "anything"),
            ("hassio", "addon_start"),
            ("lock", "unlock"),
            ("lock", "open"),
            ("alarm_control_panel", "alarm_disarm"),
            ("mqtt", "publish"),
            ("scene", "apply"),
        ] {
            assert_eq!(
                policy.verdict(domain, service),
                Verdict::Denied,
                "{domain}.{service}"
            );
        }
        for (domain, service) in [
            ("light", "turn_on"),
            ("lock", "lock"),
            ("alarm_control_panel", "alarm_arm_away"),
            ("scene", "turn_on"),
            ("cover", "close_cover"),
        ] {
            assert_eq!(
                policy.verdict(domain, service),
                Verdict::Allowed,
                "{domain}.{service}"
            );
        }
        assert_eq!(
            policy.verdict("cover", "open_cover"),
            Verdict::UnlessItOpensTheHome
        );
    }

    #[test]
    fn the_lists_lift_and_add_entries() {
        let policy = ServicePolicy {
            allowed: ServicePolicy::parse_list("lock.unlock, cover.open_cover,mqtt.*").unwrap(),
            denied: ServicePolicy::parse_list("light.turn_off").unwrap(),
        };
        assert_eq!(policy.verdict("lock", "unlock"), Verdict::Allowed);
        assert_eq!(policy.verdict("lock", "open"), Verdict::Denied);
        assert_eq!(policy.verdict("mqtt", "publish"), Verdict::Allowed);
        assert_eq!(policy.verdict("cover", "open_cover"), Verdict::Allowed);
        assert_eq!(policy.verdict("light", "turn_off"), Verdict::Denied);
        assert_eq!(
            ServicePolicy::parse_list("lock.unlock, unlock").unwrap_err(),
            "\"unlock\" is not domain.service or domain.* (e.g. lock.unlock, mqtt.*)"
        );
        assert!(ServicePolicy::parse_list("Lock.*").is_err());
    }

    #[test]
    fn garage_doors_gates_and_doors_open_the_home() {
        assert!(opens_the_home(Some("garage")));
        assert!(opens_the_home(Some("gate")));
        assert!(opens_the_home(Some("door")));
        assert!(!opens_the_home(Some("blind")));
        assert!(!opens_the_home(None));
    }
}
