//! `DISCOVERY_GUARD` and `DISCOVERY_PRIORITY`: what lee does with a
//! Discover.Response Alexa would refuse (see [`lee_core::discovery`]).
//!
//! | variable | values |
//! |---|---|
//! | `DISCOVERY_GUARD` | `repair` (default): leave out the endpoints Alexa would refuse; `report`: pass Home Assistant's answer on unchanged, findings reported; `off`: no check |
//! | `DISCOVERY_PRIORITY` | past 300 endpoints, which are kept: a comma-separated list of domains (`light`), entity ids (`switch.kitchen`) and patterns (`sensor.*_temperature`), first match ranks first; then entity ids in order. Default [`DEFAULT_PRIORITY`] |

use lee_core::discovery::{DEFAULT_PRIORITY, Mode, Priority};

/// What the Discovery guard does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveryGuard {
    /// `None`: off.
    pub mode: Option<Mode>,
    /// The `DISCOVERY_PRIORITY` list, checked by [`Priority::parse`].
    pub priority: String,
}

impl Default for DiscoveryGuard {
    fn default() -> Self {
        DiscoveryGuard {
            mode: Some(Mode::Repair),
            priority: DEFAULT_PRIORITY.to_string(),
        }
    }
}

impl DiscoveryGuard {
    /// The priority list, ready for the guard.
    pub fn priority(&self) -> Priority<'_> {
        // Checked when read; an unusable list never reaches here, but if it
        // did, every endpoint ranking the same is the safe reading.
        Priority::parse(&self.priority).unwrap_or_else(|_| {
            Priority::parse("").expect("an empty priority list is always usable")
        })
    }

    /// The setting's name for reports: `repair`, `report` or `off`.
    pub fn mode_name(&self) -> &'static str {
        match self.mode {
            Some(Mode::Repair) => "repair",
            Some(Mode::Report) => "report",
            None => "off",
        }
    }
}

/// Read `DISCOVERY_GUARD` and `DISCOVERY_PRIORITY`; a bad value is a
/// problem and the default stays.
pub(super) fn read_discovery_guard(
    var: &impl Fn(&str) -> Option<String>,
    problem: &mut impl FnMut(&'static str, String),
) -> DiscoveryGuard {
    let mut guard = DiscoveryGuard::default();
    if let Some(raw) = var("DISCOVERY_GUARD") {
        match raw.trim().to_ascii_lowercase().as_str() {
            "repair" | "" => guard.mode = Some(Mode::Repair),
            "report" => guard.mode = Some(Mode::Report),
            "off" => guard.mode = None,
            _ => problem(
                "DISCOVERY_GUARD",
                format!(
                    "must be repair (leave out what Alexa would refuse), report (only say so) \
                     or off, not {raw:?}; repair is used"
                ),
            ),
        }
    }
    if let Some(raw) = var("DISCOVERY_PRIORITY") {
        match Priority::parse(raw.trim()) {
            Ok(_) => guard.priority = raw.trim().to_string(),
            Err(why) => problem(
                "DISCOVERY_PRIORITY",
                format!("{why}; the default order ({DEFAULT_PRIORITY}) is used"),
            ),
        }
    }
    guard
}

#[cfg(test)]
mod tests {
    use super::super::tests::read;
    use lee_core::discovery::Mode;

    #[test]
    fn repair_by_default_report_or_off_when_asked() {
        let (c, problems) = read(&[("BASE_URL", "http://h")]);
        assert!(problems.is_empty());
        assert_eq!(c.discovery.mode, Some(Mode::Repair));
        assert_eq!(c.discovery.priority().rank(b"light#x"), 0);
        let (c, _) = read(&[("BASE_URL", "http://h"), ("DISCOVERY_GUARD", "Report")]);
        assert_eq!(c.discovery.mode, Some(Mode::Report));
        let (c, _) = read(&[("BASE_URL", "http://h"), ("DISCOVERY_GUARD", "off")]);
        assert_eq!(c.discovery.mode, None);
        let (c, _) = read(&[
            ("BASE_URL", "http://h"),
            ("DISCOVERY_PRIORITY", " switch, light.kitchen "),
        ]);
        assert_eq!(c.discovery.priority().rank(b"light#kitchen"), 1);
    }

    #[test]
    fn a_bad_value_names_the_setting_and_keeps_the_default() {
        let (c, problems) = read(&[
            ("BASE_URL", "http://h"),
            ("DISCOVERY_GUARD", "fix"),
            ("DISCOVERY_PRIORITY", "light;switch"),
        ]);
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "DISCOVERY_GUARD: must be repair (leave out what Alexa would refuse), report (only say so) or off, not \"fix\"; repair is used",
                "DISCOVERY_PRIORITY: has ';', which no entity id has: use domains (light), entity ids (switch.kitchen) and * (sensor.*_temperature); the default order (light,switch,fan,cover,lock,climate,media_player,vacuum,scene,script,input_boolean) is used",
            ]
        );
        assert_eq!(c.discovery.mode, Some(Mode::Repair));
    }
}
