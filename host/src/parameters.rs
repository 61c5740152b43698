//! The one client of AWS Systems Manager Parameter Store: the AWS Parameters
//! and Secrets Lambda Extension, asked over HTTP on this machine (no AWS
//! SDK), and the ops token read through it.
//!
//! [`ParameterStore::get`] asks the extension on
//! `localhost:$PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` for
//! `GET /systemsmanager/parameters/get?name=...&withDecryption=true` with the
//! header `X-Aws-Parameters-Secrets-Token: $AWS_SESSION_TOKEN`, within the
//! time it is given, and answers the value, `None` for a parameter that does
//! not exist, or a [`Failure`] saying why, never with a value or the session
//! token. It never goes through a proxy from the environment: the extension
//! is on this machine. Its users: `ParameterToken` (the ops token,
//! `HA_TOKEN_PARAMETER`) and [`crate::reload`] (the configuration under
//! `PARAMETER_PREFIX`).
//!
//! With `HA_TOKEN_PARAMETER` set (a parameter name such as `/lee/ha_token`,
//! ideally a SecureString), the token is read when an op first needs it
//! (never at init) and kept for `SSM_CACHE_TTL` seconds (default 300). The
//! value is a [`Secret`]: it is never logged.
//!
//! The settings ([`Extension`], [`TokenParameter`]) are read and checked by
//! [`crate::config`]; this module only asks the extension, so it depends on
//! the configuration and never the other way round.

use std::fmt;
use std::time::{Duration, Instant};

use crate::config::{Extension, Secret};
// The setting and the name rule belong to the configuration, which reads
// them; they stay reachable here, where the client that uses them lives.
pub use crate::config::{TokenParameter, is_parameter_name};

/// How long reading the ops token may take.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(2);

/// The most of an answer read: a parameter's value is at most 8 KB, so a
/// longer answer is not the extension's.
const ANSWER_LIMIT: u64 = 256 * 1024;

/// Why the extension gave no value (never holding one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// `AWS_SESSION_TOKEN` is not set, so the extension was not asked.
    NoSessionToken,
    /// The extension could not be reached, or did not answer in time.
    NoAnswer,
    /// The extension answered this HTTP status, neither a value nor "no
    /// such parameter".
    Refused(u16),
    /// The answer's body could not be read.
    Unreadable,
    /// The answer is not JSON.
    NotJson,
    /// The answer has no `Parameter.Value`.
    NoValue,
}

impl Failure {
    /// How the core's retry rules ([`lee_core::retry`]) should treat it: a
    /// missing session token or an answer that is not the extension's will
    /// not change on a repeat; no answer, or a cut-off one, may.
    pub fn as_retried(self) -> lee_core::failure::Failure {
        use lee_core::failure::Failure as Core;
        match self {
            Failure::NoSessionToken => Core::Status(401),
            Failure::NoAnswer => Core::SendFailed,
            Failure::Refused(status) => Core::Status(status),
            Failure::Unreadable => Core::ResponseTruncated,
            Failure::NotJson | Failure::NoValue => Core::Status(500),
        }
    }

    /// What went wrong, in one sentence (without the HTTP status).
    pub fn says(self) -> &'static str {
        match self {
            Failure::NoSessionToken => {
                "AWS_SESSION_TOKEN is not set, so the Parameters and Secrets extension cannot be asked"
            }
            Failure::NoAnswer => "the Parameters and Secrets extension did not answer",
            Failure::Refused(_) => "the Parameters and Secrets extension refused the request",
            Failure::Unreadable => {
                "the Parameters and Secrets extension's answer could not be read"
            }
            Failure::NotJson => "the Parameters and Secrets extension did not answer JSON",
            Failure::NoValue => {
                "the Parameters and Secrets extension's answer has no Parameter.Value"
            }
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.says())?;
        if let Failure::Refused(status) = self {
            write!(f, " with HTTP {status}")?;
        }
        Ok(())
    }
}

/// The extension, as one client: its port, the session token it demands
/// and one connection pool.
#[derive(Debug)]
pub struct ParameterStore {
    port: u16,
    session_token: Option<Secret>,
    agent: ureq::Agent,
}

impl ParameterStore {
    /// A client of the extension `extension` describes (nothing is asked yet).
    pub fn new(extension: &Extension) -> ParameterStore {
        let agent = ureq::Agent::config_builder()
            // The extension is on this machine: never through a proxy variable.
            .proxy(None)
            .http_status_as_error(false)
            .build()
            .new_agent();
        ParameterStore {
            port: extension.port,
            session_token: extension.session_token.clone(),
            agent,
        }
    }

    /// `AWS_SESSION_TOKEN`, for the log redactor.
    pub fn session_token(&self) -> Option<&Secret> {
        self.session_token.as_ref()
    }

    /// The value of parameter `name` (decrypted), `None` when there is no
    /// such parameter (the extension answers 400 or 404), or why not; the
    /// whole exchange ends within `timeout`.
    pub fn get(&self, name: &str, timeout: Duration) -> Result<Option<String>, Failure> {
        let session = self.session_token.as_ref().ok_or(Failure::NoSessionToken)?;
        let url = format!(
            "http://localhost:{}/systemsmanager/parameters/get?name={}&withDecryption=true",
            self.port,
            percent_encode(name),
        );
        let mut response = self
            .agent
            .get(&url)
            .header("X-Aws-Parameters-Secrets-Token", session.expose())
            .config()
            .timeout_global(Some(timeout))
            .build()
            .call()
            .map_err(|_| Failure::NoAnswer)?;
        match response.status().as_u16() {
            200 => {}
            // The extension answers 400 (ParameterNotFound) for a name with
            // no parameter.
            400 | 404 => return Ok(None),
            status => return Err(Failure::Refused(status)),
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(ANSWER_LIMIT)
            .read_to_vec()
            .map_err(|_| Failure::Unreadable)?;
        let body: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|_| Failure::NotJson)?;
        let value = body["Parameter"]["Value"]
            .as_str()
            .ok_or(Failure::NoValue)?;
        Ok(Some(value.to_string()))
    }
}

/// A parameter name in a query string: `/` and anything not a letter,
/// digit or `_ . -` as `%XX`.
fn percent_encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"_.-".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The token read from Parameter Store, kept for its TTL.
pub(crate) struct ParameterToken {
    name: String,
    ttl: Duration,
    store: ParameterStore,
    kept: Option<(Instant, Secret)>,
}

impl ParameterToken {
    pub(crate) fn new(parameter: TokenParameter) -> Self {
        ParameterToken {
            store: ParameterStore::new(&parameter.extension),
            ttl: parameter.extension.ttl,
            name: parameter.name,
            kept: None,
        }
    }

    /// The parameter's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The token: the kept value while fresh, else read from the extension.
    pub(crate) fn get(&mut self) -> Result<Secret, &'static str> {
        if let Some((at, token)) = &self.kept
            && at.elapsed() < self.ttl
        {
            return Ok(token.clone());
        }
        let value = self
            .store
            .get(&self.name, TOKEN_TIMEOUT)
            .map_err(Failure::says)?;
        let value = value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or("the parameter HA_TOKEN_PARAMETER names has no value")?;
        let token = Secret::new(value.to_string());
        self.kept = Some((Instant::now(), token.clone()));
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_session_token_it_says_so() {
        let mut token = ParameterToken::new(TokenParameter {
            name: "/lee/ha_token".into(),
            extension: Extension {
                port: 9,
                session_token: None,
                ttl: Duration::from_secs(300),
            },
        });
        assert!(token.get().unwrap_err().contains("AWS_SESSION_TOKEN"));
    }

    #[test]
    fn names_are_percent_encoded() {
        assert_eq!(
            percent_encode("/lee/prod/BASE_URL"),
            "%2Flee%2Fprod%2FBASE_URL"
        );
    }
}
