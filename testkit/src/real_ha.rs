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
        RealHa::required(RealHa::harness_env(), "Home Assistant harness")
    }

    /// The harness at `found` (its URL and token file); when there is none,
    /// a skip that says `what` is missing, or a failure with `LEE_REQUIRE_HA`.
    fn required(found: Option<(String, String)>, what: &str) -> Option<RealHa> {
        let Some((url, token_file)) = found else {
            assert!(
                std::env::var_os("LEE_REQUIRE_HA").is_none(),
                "LEE_REQUIRE_HA is set but the {what} is not running"
            );
            eprintln!("the {what} is not running: skipping (CI sets LEE_REQUIRE_HA)");
            return None;
        };
        let token = std::fs::read_to_string(&token_file)
            .unwrap_or_else(|e| panic!("read the {what}'s token file {token_file}: {e}"))
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
        match (
            std::env::var("LEE_HA_URL"),
            std::env::var("LEE_HA_TOKEN_FILE"),
        ) {
            (Ok(url), Ok(file)) => Some((url, file)),
            _ => env_file("LEE_HA_HOME", "lee-ha"),
        }
    }

    /// The second harness instance, the one tests may add entities to (the
    /// shared one keeps its 53 Alexa endpoints): its state directory is
    /// `LEE_HA_BIG_HOME`, else `lee-ha-big` in the cache directory, where
    /// `.ci/run` starts it (`LEE_HA_HOME=… LEE_HA_PORT=8124 start.sh`).
    /// `None` when it does not run, unless `LEE_REQUIRE_HA` is set.
    pub fn big_home() -> Option<RealHa> {
        RealHa::required(
            env_file("LEE_HA_BIG_HOME", "lee-ha-big"),
            "second Home Assistant (LEE_HA_BIG_HOME)",
        )
    }

    /// The instance set up without Home Assistant's `alexa:` integration
    /// (`LEE_HA_ALEXA=off`): `/api/` answers, `POST /api/alexa/smart_home`
    /// is 404, as in a home where `alexa: smart_home:` was never added. Its
    /// state directory is `LEE_HA_NOALEXA_HOME`, else `lee-ha-noalexa` in
    /// the cache directory, where `.ci/run` starts it (port 8125). `None`
    /// when it does not run, unless `LEE_REQUIRE_HA` is set.
    pub fn without_alexa() -> Option<RealHa> {
        RealHa::required(
            env_file("LEE_HA_NOALEXA_HOME", "lee-ha-noalexa"),
            "Home Assistant without alexa: (LEE_HA_NOALEXA_HOME)",
        )
    }

    /// Send `method path` with `body` (JSON) to this Home Assistant with its
    /// token, over plain HTTP on loopback; its status and body.
    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        use std::io::{Read, Write};
        let address = self
            .url
            .strip_prefix("http://")
            .expect("the harness serves plain http on loopback");
        let mut stream = std::net::TcpStream::connect(address).expect("connect to Home Assistant");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.token,
            body.len()
        );
        stream.write_all(head.as_bytes()).expect("send the request");
        stream.write_all(body).expect("send the body");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).expect("read the answer");
        let split = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("an HTTP answer");
        let head = String::from_utf8_lossy(&answer[..split]).to_string();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        let mut body = answer[split + 4..].to_vec();
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            body = unchunk(&body);
        }
        (status, body)
    }
}

/// The body of a chunked HTTP answer.
fn unchunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") else {
            return body;
        };
        let size = std::str::from_utf8(&raw[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            return body;
        }
        let start = line_end + 2;
        body.extend_from_slice(&raw[start..start + size]);
        raw = &raw[start + size + 2..];
    }
}

/// `LEE_HA_URL` and `LEE_HA_TOKEN_FILE` from the env file `start.sh` wrote
/// in the state directory named by `home_var`, else `default_dir` in the
/// cache directory.
fn env_file(home_var: &str, default_dir: &str) -> Option<(String, String)> {
    let home = std::env::var(home_var)
        .ok()
        .map(PathBuf::from)
        .or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
            Some(cache.join(default_dir))
        })?;
    let env = std::fs::read_to_string(home.join("env")).ok()?;
    let get = |key: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_string)
    };
    Some((get("LEE_HA_URL")?, get("LEE_HA_TOKEN_FILE")?))
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
