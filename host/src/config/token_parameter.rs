//! `HA_TOKEN_PARAMETER`: where the ops token lives in Parameter Store and how
//! to ask the Parameters and Secrets extension for it
//! (`PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`, `SSM_CACHE_TTL`,
//! `AWS_SESSION_TOKEN`), and the rule for a Parameter Store name. The client
//! that reads the token is [`crate::parameters`]; this is only its setting.

use std::time::Duration;

use super::Secret;

/// Where the token lives and how to ask for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenParameter {
    /// The parameter's name.
    pub name: String,
    /// The extension's port.
    pub port: u16,
    /// `AWS_SESSION_TOKEN`, which the extension demands.
    pub session_token: Option<Secret>,
    /// How long a value is kept.
    pub ttl: Duration,
}

/// Whether `name` is a Parameter Store name: 1 to 1011 characters of
/// letters, digits and `_ . - /`.
pub fn is_parameter_name(name: &str) -> bool {
    (1..=1011).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b))
}

/// `HA_TOKEN_PARAMETER` with the extension's port and the TTL, when set.
pub(super) fn read_token_parameter(
    var: &impl Fn(&str) -> Option<String>,
    problem: &mut impl FnMut(&'static str, String),
) -> Option<TokenParameter> {
    let name = var("HA_TOKEN_PARAMETER").filter(|n| !n.trim().is_empty())?;
    let name = name.trim().to_string();
    let port = match var("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT") {
        None => Some(2773),
        Some(raw) => raw.trim().parse::<u16>().ok().filter(|&p| p > 0),
    };
    let ttl = match var("SSM_CACHE_TTL") {
        None => Some(300),
        Some(raw) => raw.trim().parse::<u64>().ok().filter(|&s| s <= 86_400),
    };
    match (is_parameter_name(&name), port, ttl) {
        (false, _, _) => problem(
            "HA_TOKEN_PARAMETER",
            "must be a Parameter Store name: letters, digits and _ . - /".into(),
        ),
        (_, None, _) => problem(
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
            "must be a port number".into(),
        ),
        (_, _, None) => problem(
            "SSM_CACHE_TTL",
            "must be whole seconds, at most 86400".into(),
        ),
        (true, Some(port), Some(ttl)) => {
            return Some(TokenParameter {
                name,
                port,
                session_token: var("AWS_SESSION_TOKEN")
                    .filter(|t| !t.is_empty())
                    .map(Secret::new),
                ttl: Duration::from_secs(ttl),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::read;

    #[test]
    fn parameter_names_are_checked() {
        assert!(is_parameter_name("/lee/ha_token"));
        assert!(is_parameter_name("lee.ha-token"));
        for bad in ["", "a b", "/lee/tok?en", "x&y=z", &"a".repeat(1012)] {
            assert!(!is_parameter_name(bad), "{bad}");
        }
    }

    #[test]
    fn the_token_parameter_takes_the_extension_defaults_and_checks_each_value() {
        let (c, problems) = read(&[
            ("BASE_URL", "http://h"),
            ("HA_TOKEN_PARAMETER", " /lee/ha_token "),
            ("AWS_SESSION_TOKEN", "session"),
        ]);
        assert!(problems.is_empty(), "{problems:?}");
        let parameter = c.token_parameter.unwrap();
        assert_eq!(
            (parameter.name.as_str(), parameter.port),
            ("/lee/ha_token", 2773)
        );
        assert_eq!(parameter.ttl, Duration::from_secs(300));
        assert_eq!(parameter.session_token.unwrap().expose(), "session");
        for (name, value) in [
            ("HA_TOKEN_PARAMETER", "lee token"),
            ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "0"),
            ("SSM_CACHE_TTL", "86401"),
        ] {
            let mut vars = vec![("BASE_URL", "http://h"), ("HA_TOKEN_PARAMETER", "/lee/t")];
            vars.push((name, value));
            let (c, problems) = read(&vars);
            assert!(c.token_parameter.is_none());
            let variables: Vec<&str> = problems.iter().map(|p| p.variable).collect();
            assert_eq!(variables, [name]);
        }
    }
}
