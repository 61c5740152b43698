//! Which Home Assistant token each kind of request uses, in one place.
//!
//! | request | token |
//! |---|---|
//! | an Alexa directive | its own bearer token; without one, `LONG_LIVED_ACCESS_TOKEN` in debug mode only |
//! | an engine op | `HA_TOKEN`, else the Parameter Store parameter `HA_TOKEN_PARAMETER`, else `LONG_LIVED_ACCESS_TOKEN` |
//! | a custom-skill request | its account-linked token (the ops token only with `SKILL_USES_OPS_TOKEN`) |
//! | the health check (`GET /api/`) | `LONG_LIVED_ACCESS_TOKEN`, if any |
//! | the doctor | the ops token, named by where it came from |
//!
//! The embedded demo home accepts any token: with it, the health check and
//! ops send a stand-in when none is configured.

use crate::config::{Config, Secret};
use crate::ops::Refused;
use crate::parameters::ParameterToken;

/// What the embedded demo home is sent when no token is configured.
const DEMO_TOKEN: &str = "lee-demo-home";

/// The configured tokens, and the Parameter Store parameter's cached value.
pub(super) struct Tokens {
    ha_token: Option<Secret>,
    long_lived: Option<Secret>,
    debug: bool,
    parameter: Option<ParameterToken>,
    /// Home Assistant is the embedded demo home.
    demo: bool,
}

impl Tokens {
    /// The tokens `config` names; `demo` when Home Assistant is the
    /// embedded demo home.
    pub(super) fn new(config: &Config, demo: bool) -> Tokens {
        Tokens {
            ha_token: config.ha_token.clone(),
            long_lived: config.long_lived_token.clone(),
            debug: config.debug,
            parameter: config.token_parameter.clone().map(ParameterToken::new),
            demo,
        }
    }

    /// For a directive that carries no token: the long-lived token, in
    /// debug mode only.
    pub(super) fn for_directive_without_one(&self) -> Option<&str> {
        self.debug
            .then_some(self.long_lived.as_ref())
            .flatten()
            .map(Secret::expose)
    }

    /// For the health check's `GET /api/`.
    pub(super) fn for_health_check(&self) -> Option<&str> {
        let demo = self.demo.then_some(DEMO_TOKEN);
        self.long_lived.as_ref().map(Secret::expose).or(demo)
    }

    /// For the doctor: the ops token and where it came from, or why there is none.
    pub(super) fn for_doctor(&mut self) -> Result<crate::doctor::Token, String> {
        let source = match (&self.ha_token, &self.parameter) {
            (Some(_), _) => "HA_TOKEN".to_string(),
            (None, Some(parameter)) => format!("HA_TOKEN_PARAMETER {}", parameter.name()),
            (None, None) => "LONG_LIVED_ACCESS_TOKEN".to_string(),
        };
        match self.for_ops() {
            Ok(secret) => Ok(crate::doctor::Token { secret, source }),
            Err(Refused::TokenParameter(why)) => Err(format!("{source} could not be read: {why}")),
            Err(_) => Err("no token is configured (HA_TOKEN, HA_TOKEN_PARAMETER or LONG_LIVED_ACCESS_TOKEN); directives do not need one, they carry Alexa's".to_string()),
        }
    }

    /// For an engine op (reading the parameter when it is due).
    pub(super) fn for_ops(&mut self) -> Result<Secret, Refused> {
        if let Some(token) = &self.ha_token {
            return Ok(token.clone());
        }
        match &mut self.parameter {
            Some(parameter) => parameter.get().map_err(Refused::TokenParameter),
            None => self
                .long_lived
                .clone()
                .or_else(|| self.demo.then(|| Secret::new(DEMO_TOKEN.into())))
                .ok_or(Refused::NoToken),
        }
    }
}
