//! How lee reaches Parameter Store, as configuration: the AWS Parameters and
//! Secrets Lambda Extension's settings ([`Extension`]:
//! `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`, `SSM_CACHE_TTL`,
//! `AWS_SESSION_TOKEN`), read here and nowhere else; `HA_TOKEN_PARAMETER`,
//! where the ops token lives ([`TokenParameter`]); and the rule for a
//! Parameter Store name. The client that asks the extension is
//! [`crate::parameters`]; these are only its settings.

use std::time::Duration;

use super::Secret;

/// How to ask the Parameters and Secrets extension, and how long what it
/// answers stays current.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    /// The extension's port (`PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`,
    /// default 2773).
    pub port: u16,
    /// `AWS_SESSION_TOKEN`, which the extension demands.
    pub session_token: Option<Secret>,
    /// How long a value is kept (`SSM_CACHE_TTL` seconds, default 300).
    pub ttl: Duration,
}

/// Where the token lives and how to ask for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenParameter {
    /// The parameter's name.
    pub name: String,
    /// How to ask the extension for it.
    pub extension: Extension,
}

/// Whether `name` is a Parameter Store name: 1 to 1011 characters of
/// letters, digits and `_ . - /`.
pub fn is_parameter_name(name: &str) -> bool {
    (1..=1011).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b))
}

/// The extension's settings; each one set wrongly is a problem naming its
/// variable, and then there are none.
pub(crate) fn read_extension(
    var: &impl Fn(&str) -> Option<String>,
    problem: &mut impl FnMut(&'static str, String),
) -> Option<Extension> {
    let port = match var("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT") {
        None => Some(2773),
        Some(raw) => raw.trim().parse::<u16>().ok().filter(|&p| p > 0),
    };
    if port.is_none() {
        problem(
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
            "must be a port number".into(),
        );
    }
    let ttl = match var("SSM_CACHE_TTL") {
        None => Some(300),
        Some(raw) => raw.trim().parse::<u64>().ok().filter(|&s| s <= 86_400),
    };
    if ttl.is_none() {
        problem(
            "SSM_CACHE_TTL",
            "must be whole seconds, at most 86400".into(),
        );
    }
    Some(Extension {
        port: port?,
        session_token: var("AWS_SESSION_TOKEN")
            .filter(|t| !t.is_empty())
            .map(Secret::new),
        ttl: Duration::from_secs(ttl?),
    })
}

/// `HA_TOKEN_PARAMETER` with the extension's settings, when set.
pub(super) fn read_token_parameter(
    var: &impl Fn(&str) -> Option<String>,
    problem: &mut impl FnMut(&'static str, String),
) -> Option<TokenParameter> {
    let name = var("HA_TOKEN_PARAMETER").filter(|n| !n.trim().is_empty())?;
    let name = name.trim().to_string();
    let named = is_parameter_name(&name);
    if !named {
        problem(
            "HA_TOKEN_PARAMETER",
            "must be a Parameter Store name: letters, digits and _ . - /".into(),
        );
    }
    let extension = read_extension(var, problem)?;
    named.then_some(TokenParameter { name, extension })
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
            (parameter.name.as_str(), parameter.extension.port),
            ("/lee/ha_token", 2773)
        );
        assert_eq!(parameter.extension.ttl, Duration::from_secs(300));
        assert_eq!(
            parameter.extension.session_token.unwrap().expose(),
            "session"
        );
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

    #[test]
    fn every_setting_set_wrongly_is_a_problem_naming_its_variable() {
        let (c, problems) = read(&[
            ("BASE_URL", "http://h"),
            ("HA_TOKEN_PARAMETER", "lee token"),
            ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "70000"),
            ("SSM_CACHE_TTL", "-1"),
        ]);
        assert!(c.token_parameter.is_none());
        let variables: Vec<&str> = problems.iter().map(|p| p.variable).collect();
        assert_eq!(
            variables,
            [
                "HA_TOKEN_PARAMETER",
                "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
                "SSM_CACHE_TTL"
            ]
        );
    }
}
