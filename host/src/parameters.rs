//! The ops token from AWS Systems Manager Parameter Store, through the AWS
//! Parameters and Secrets Lambda Extension (no AWS SDK).
//!
//! With `HA_TOKEN_PARAMETER` set (a parameter name such as `/lee/ha_token`,
//! ideally a SecureString), lee asks the extension on
//! `localhost:$PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` (default 2773) for
//! `GET /systemsmanager/parameters/get?name=...&withDecryption=true` with the
//! header `X-Aws-Parameters-Secrets-Token: $AWS_SESSION_TOKEN`, when an op
//! first needs the token (never at init), and keeps the value for
//! `SSM_CACHE_TTL` seconds (default 300). The value is a [`Secret`]: it is
//! never logged, and a failure says what went wrong without it.
//!
//! The setting itself ([`TokenParameter`]) is read and checked by
//! [`crate::config`]; this module only asks the extension, so it depends on
//! the configuration and never the other way round.

use std::time::{Duration, Instant};

use crate::config::Secret;
// The setting and the name rule belong to the configuration, which reads
// them; they stay reachable here, where the client that uses them lives.
pub use crate::config::{TokenParameter, is_parameter_name};

/// The token read from Parameter Store, kept for its TTL.
pub(crate) struct ParameterToken {
    parameter: TokenParameter,
    agent: Option<ureq::Agent>,
    kept: Option<(Instant, Secret)>,
}

impl ParameterToken {
    pub(crate) fn new(parameter: TokenParameter) -> Self {
        ParameterToken {
            parameter,
            agent: None,
            kept: None,
        }
    }

    /// The token: the kept value while fresh, else read from the extension.
    pub(crate) fn get(&mut self) -> Result<Secret, &'static str> {
        if let Some((at, token)) = &self.kept
            && at.elapsed() < self.parameter.ttl
        {
            return Ok(token.clone());
        }
        let session = self.parameter.session_token.as_ref().ok_or(
            "AWS_SESSION_TOKEN is not set, so the Parameters and Secrets extension cannot be asked",
        )?;
        let agent = self.agent.get_or_insert_with(|| {
            ureq::Agent::config_builder()
                // The extension is on this machine: never through a proxy variable.
                .proxy(None)
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(2)))
                .build()
                .new_agent()
        });
        let url = format!(
            "http://localhost:{}/systemsmanager/parameters/get?name={}&withDecryption=true",
            self.parameter.port,
            self.parameter.name.replace('/', "%2F"),
        );
        let mut response = agent
            .get(&url)
            .header("X-Aws-Parameters-Secrets-Token", session.expose())
            .call()
            .map_err(|_| "the Parameters and Secrets extension did not answer")?;
        if response.status() != 200 {
            return Err("the Parameters and Secrets extension refused to read HA_TOKEN_PARAMETER");
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_vec()
            .map_err(|_| "the Parameters and Secrets extension's answer could not be read")?;
        let body: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|_| "the Parameters and Secrets extension did not answer JSON")?;
        let value = body["Parameter"]["Value"]
            .as_str()
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
            port: 9,
            session_token: None,
            ttl: Duration::from_secs(300),
        });
        assert!(token.get().unwrap_err().contains("AWS_SESSION_TOKEN"));
    }
}
