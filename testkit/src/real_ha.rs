//! The real Home Assistant the harness runs (`../shared/ha/start.sh`): where
//! to find it and its token ([`RealHa`]), and lee talking to it through a
//! recording relay ([`RelayedHa`]), so a test can compare every answer lee
//! gives with what Home Assistant sent.

use std::path::PathBuf;

use crate::bridge_sized;
use crate::fault::FaultServer;

/// The real Home Assistant started by `../shared/ha/start.sh`.
pub struct RealHa {
    /// `LEE_HA_URL`.
    pub url: String,
    /// The long-lived token from `LEE_HA_TOKEN_FILE`.
    pub token: String,
}

impl RealHa {
    /// Home Assistant's address and token from the harness environment
    /// (`LEE_HA_URL`, `LEE_HA_TOKEN_FILE`, as `start.sh` writes them, or its
    /// env file). `None` when no harness is running, unless `LEE_REQUIRE_HA`
    /// is set (as CI sets it): then a missing harness is a failure, not a skip.
    pub fn from_env() -> Option<RealHa> {
        let Some((url, token_file)) = RealHa::harness_env() else {
            assert!(
                std::env::var_os("LEE_REQUIRE_HA").is_none(),
                "LEE_REQUIRE_HA is set but no Home Assistant harness is running"
            );
            eprintln!("no Home Assistant harness running: skipping (CI sets LEE_REQUIRE_HA)");
            return None;
        };
        let token = std::fs::read_to_string(&token_file)
            .expect("read LEE_HA_TOKEN_FILE")
            .trim()
            .to_string();
        Some(RealHa { url, token })
    }

    /// As [`RealHa::from_env`], but quiet and never failing: `None` when the
    /// harness environment or its token file is missing, whatever
    /// `LEE_REQUIRE_HA` says. For callers with a fallback of their own
    /// (the Discovery benchmark builds a synthetic answer instead).
    pub fn locate() -> Option<RealHa> {
        let (url, token_file) = RealHa::harness_env()?;
        let token = std::fs::read_to_string(token_file).ok()?.trim().to_string();
        Some(RealHa { url, token })
    }

    /// `LEE_HA_URL` and `LEE_HA_TOKEN_FILE`, from the environment or the
    /// harness's env file.
    fn harness_env() -> Option<(String, String)> {
        let from_file = || -> Option<(String, String)> {
            let home = std::env::var("LEE_HA_HOME")
                .ok()
                .map(PathBuf::from)
                .or_else(|| {
                    let cache = std::env::var_os("XDG_CACHE_HOME")
                        .map(PathBuf::from)
                        .or_else(|| {
                            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache"))
                        })?;
                    Some(cache.join("lee-ha"))
                })?;
            let env = std::fs::read_to_string(home.join("env")).ok()?;
            let get = |key: &str| {
                env.lines()
                    .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                    .map(str::to_string)
            };
            Some((get("LEE_HA_URL")?, get("LEE_HA_TOKEN_FILE")?))
        };
        match (
            std::env::var("LEE_HA_URL"),
            std::env::var("LEE_HA_TOKEN_FILE"),
        ) {
            (Ok(url), Ok(file)) => Some((url, file)),
            _ => from_file(),
        }
    }
}

/// A bridge (standard capacities, which hold all of the harness's states)
/// talking to the real Home Assistant through a recording relay, so a test
/// can see every request and compare every answer with what HA sent.
pub struct RelayedHa {
    /// The real Home Assistant.
    pub ha: RealHa,
    /// The relay between lee and Home Assistant.
    pub relay: FaultServer,
    /// lee, configured with `BASE_URL` pointing at the relay.
    pub bridge: lee_host::Bridge,
}

impl RelayedHa {
    /// `None` when no harness runs (see [`RealHa::from_env`]). With
    /// `ops_token`, the bridge gets `HA_TOKEN` for engine ops.
    pub fn start(ops_token: bool) -> Option<RelayedHa> {
        let ha = RealHa::from_env()?;
        let relay = FaultServer::relay_to(&ha.url);
        let mut vars = vec![("BASE_URL", relay.url.as_str())];
        if ops_token {
            vars.push(("HA_TOKEN", ha.token.as_str()));
        }
        let bridge = bridge_sized(&vars, lee_core::budget::Capacities::STANDARD);
        Some(RelayedHa { ha, relay, bridge })
    }
}
