//! Support for lee's cross-crate integration tests (the tests live in `tests/`).
//!
//! What it is for: the pieces several test files need to judge lee against
//! the outside world rather than against lee's own idea of it: Amazon's
//! Alexa Smart Home schema ([`AlexaSchema`]), the real Home Assistant set up
//! by `../shared/ha` ([`RealHa`], in [`real_ha`]), and a loopback HTTP server
//! that misbehaves on demand ([`FaultServer`], in [`fault`]) for what real
//! Home Assistant will not do: refuse, hang, answer late, send HTML or half a
//! body, or present a certificate lee must not trust ([`tls`]). Directives
//! are built as Alexa sends them ([`directive`]) and answers read with
//! [`header`] and [`property`]; a bridge is configured as the Lambda's
//! environment would ([`bridge_from_env`]). The other stand-ins and checks
//! have a module each: a keep-alive server ([`keep_alive`]), the network a
//! frozen Lambda sees ([`stale`]), the Parameters and Secrets extension
//! ([`parameter_extension`]), log capture and EMF checks ([`logs`]).

pub mod fault;
pub mod keep_alive;
pub mod logs;
pub mod parameter_extension;
pub mod real_ha;
pub mod stale;
pub mod tls;

pub use fault::{Fault, FaultServer, Received};
pub use keep_alive::KeepAliveServer;
pub use logs::{capture_logs, check_emf};
pub use parameter_extension::ParameterExtension;
pub use real_ha::{RealHa, RelayedHa};

use std::path::PathBuf;

use serde_json::Value;

/// The development environment's shared folder: `$LEE_SHARED`, else
/// `../shared` next to the workspace, else `/work/shared`.
pub fn shared_dir() -> PathBuf {
    let candidates = [
        std::env::var_os("LEE_SHARED").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared")),
        Some(PathBuf::from("/work/shared")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("alexa/schema").is_dir())
        .expect("the shared folder with alexa/schema: set LEE_SHARED")
}

/// Amazon's Alexa Smart Home message schema (draft-04).
pub struct AlexaSchema(jsonschema::Validator);

impl AlexaSchema {
    /// Load `alexa/schema/alexa_smart_home_message_schema.json`.
    pub fn load() -> AlexaSchema {
        let path = shared_dir().join("alexa/schema/alexa_smart_home_message_schema.json");
        let text = std::fs::read(&path).expect("read the Alexa schema");
        let schema: Value = serde_json::from_slice(&text).expect("the schema is JSON");
        AlexaSchema(jsonschema::draft4::new(&schema).expect("the schema compiles as draft-04"))
    }

    /// Every violation of the schema in `value`.
    pub fn violations(&self, value: &Value) -> Vec<String> {
        self.0.iter_errors(value).map(|e| e.to_string()).collect()
    }

    /// Panic with every violation unless `message` is a valid message to Alexa.
    pub fn assert_valid(&self, message: &[u8]) -> Value {
        let value: Value = serde_json::from_slice(message)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(message)));
        let errors = self.violations(&value);
        assert!(
            errors.is_empty(),
            "schema violations: {errors:?}\nin {value}"
        );
        value
    }
}

/// A bridge (minimum capacities) configured as the Lambda would be by these
/// environment variables, and the configuration problems it found.
pub fn bridge_from_env(vars: &[(&str, &str)]) -> lee_host::Bridge {
    bridge_sized(vars, lee_core::budget::Capacities::MINIMUM)
}

/// As [`bridge_from_env`], with the given capacities.
pub fn bridge_sized(
    vars: &[(&str, &str)],
    capacities: lee_core::budget::Capacities,
) -> lee_host::Bridge {
    let (config, problems) = lee_host::config::Config::from_env(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    });
    lee_host::Bridge::new(config, problems, capacities).expect("the capacities fit")
}

/// An Alexa directive as Alexa sends it. With an `endpoint`, the token goes
/// in the endpoint's scope and the header gets a correlationToken
/// (`lee-correlation`); without one, in `payload.grantee` for AcceptGrant and
/// in `payload.scope` otherwise (Discovery).
pub fn directive(
    namespace: &str,
    name: &str,
    endpoint: Option<&str>,
    payload: Value,
    token: &str,
) -> Vec<u8> {
    let scope = serde_json::json!({"type": "BearerToken", "token": token});
    let mut header = serde_json::json!({
        "namespace": namespace, "name": name, "payloadVersion": "3",
        "messageId": "lee-test-message",
    });
    let mut directive = serde_json::json!({"payload": payload});
    match endpoint {
        Some(id) => {
            header["correlationToken"] = "lee-correlation".into();
            directive["endpoint"] =
                serde_json::json!({"scope": scope, "endpointId": id, "cookie": {}});
        }
        None if name == "AcceptGrant" => directive["payload"]["grantee"] = scope,
        None => directive["payload"]["scope"] = scope,
    }
    directive["header"] = header;
    serde_json::to_vec(&serde_json::json!({ "directive": directive })).expect("JSON")
}

/// A Lambda Function URL request (payload format 2.0) as Lambda delivers it,
/// from the address `203.0.113.7`: `secret` goes in `x-lee-secret`, `body`
/// (an op, say) in the body as text.
pub fn function_url(
    method: &str,
    path: &str,
    secret: Option<&str>,
    body: Option<&Value>,
) -> Vec<u8> {
    let mut headers = serde_json::json!({"content-type": "application/json"});
    if let Some(secret) = secret {
        headers["x-lee-secret"] = secret.into();
    }
    let mut request = serde_json::json!({
        "version": "2.0", "rawPath": path, "headers": headers,
        "requestContext": {"http": {"method": method, "path": path, "sourceIp": "203.0.113.7"}},
        "isBase64Encoded": false,
    });
    if let Some(body) = body {
        request["body"] = body.to_string().into();
    }
    serde_json::to_vec(&request).expect("JSON")
}

/// The `event.header` namespace and name of an answer to Alexa; panics when
/// either is missing or not a string.
pub fn header(answer: &Value) -> (&str, &str) {
    let header = &answer["event"]["header"];
    match (header["namespace"].as_str(), header["name"].as_str()) {
        (Some(namespace), Some(name)) => (namespace, name),
        _ => panic!("no string event.header namespace and name in {answer}"),
    }
}

/// The `value` of the answer's `context.properties` entry with this
/// `namespace` and `name`, if it has one.
pub fn property<'a>(answer: &'a Value, namespace: &str, name: &str) -> Option<&'a Value> {
    answer["context"]["properties"]
        .as_array()?
        .iter()
        .find(|p| p["namespace"] == namespace && p["name"] == name)
        .map(|p| &p["value"])
}
