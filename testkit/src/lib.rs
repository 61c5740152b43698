//! Support for lee's cross-crate integration tests (the tests live in `tests/`).
//!
//! What it is for: the pieces several test files need to judge lee against
//! the outside world rather than against lee's own idea of it: Amazon's
//! Alexa Smart Home schema ([`AlexaSchema`]), the real Home Assistant set up
//! by `../shared/ha` ([`RealHa`]), and a loopback HTTP server that
//! misbehaves on demand ([`FaultServer`]) for what real Home Assistant will
//! not do: refuse, hang, answer late, send HTML or half a body, or present
//! a certificate lee must not trust ([`tls`]). Directives are built as Alexa
//! sends them ([`directive`]) and answers read with [`header`] and
//! [`property`].

pub mod keep_alive;
pub mod stale;
pub mod tls;

pub use keep_alive::KeepAliveServer;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

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

    /// Panic with every violation unless `message` is a valid message to Alexa.
    pub fn assert_valid(&self, message: &[u8]) -> Value {
        let value: Value = serde_json::from_slice(message)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(message)));
        let errors: Vec<String> = self.0.iter_errors(&value).map(|e| e.to_string()).collect();
        assert!(
            errors.is_empty(),
            "schema violations: {errors:?}\nin {value}"
        );
        value
    }
}

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

/// A bridge (minimum capacities) configured as the Lambda would be by these
/// environment variables, and the configuration problems it found.
pub fn bridge_from_env(vars: &[(&str, &str)]) -> lee_host::Bridge {
    bridge_sized(vars, lee_core::budget::Capacities::MINIMUM)
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

/// What the fault server does with one request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status, content type and body.
    Respond(u16, &'static str, Vec<u8>),
    /// Read the request, then never answer (until the client gives up).
    Hang,
    /// Wait, then answer.
    Late(Duration, u16, Vec<u8>),
    /// Declare a longer body than is sent, send part of it, then close.
    Truncate(Vec<u8>),
    /// Close the connection without a word.
    Close,
    /// Pass the request to the server at this `host:port` and its answer
    /// back, recording the answer's body (a tap between lee and real HA).
    Relay(String),
}

/// A request the fault server received.
#[derive(Clone, Debug)]
pub struct Received {
    /// The request line, e.g. `POST /api/alexa/smart_home HTTP/1.1`.
    pub request_line: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body, byte for byte.
    pub body: Vec<u8>,
}

impl Received {
    /// The value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A loopback HTTP/1.1 server that serves one scripted [`Fault`] per request.
pub struct FaultServer {
    /// `http://127.0.0.1:port`.
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    relayed: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl FaultServer {
    /// Serve `script`, one entry per request in order; requests after the
    /// script ends are closed at once.
    pub fn start(script: Vec<Fault>) -> FaultServer {
        Self::serve_with(move |n| script.get(n).cloned().unwrap_or(Fault::Close))
    }

    /// Relay every request to `ha_url` (`http://host:port`), recording what
    /// Home Assistant answered, byte for byte.
    pub fn relay_to(ha_url: &str) -> FaultServer {
        let target = ha_url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        Self::serve_with(move |_| Fault::Relay(target.clone()))
    }

    fn serve_with(fault_for: impl Fn(usize) -> Fault + Send + 'static) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let relayed = Arc::new(Mutex::new(Vec::new()));
        let (log, answers) = (Arc::clone(&received), Arc::clone(&relayed));
        thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { continue };
                let fault = fault_for(n);
                let (log, answers) = (Arc::clone(&log), Arc::clone(&answers));
                thread::spawn(move || serve(stream, fault, &log, &answers));
            }
        });
        FaultServer {
            url,
            received,
            relayed,
        }
    }

    /// The requests received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// The bodies relayed back from the real server, in order.
    pub fn relayed(&self) -> Vec<Vec<u8>> {
        self.relayed.lock().expect("lock").clone()
    }
}

fn serve(
    stream: TcpStream,
    fault: Fault,
    log: &Mutex<Vec<Received>>,
    relayed: &Mutex<Vec<Vec<u8>>>,
) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut writer = stream;
    let Some(request) = read_request(&mut reader) else {
        return;
    };
    log.lock().expect("lock").push(request.clone());
    let respond = |w: &mut TcpStream, status: u16, content_type: &str, body: &[u8]| {
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = w.write_all(head.as_bytes());
        let _ = w.write_all(body);
    };
    match fault {
        Fault::Respond(status, content_type, body) => {
            respond(&mut writer, status, content_type, &body)
        }
        Fault::Late(delay, status, body) => {
            thread::sleep(delay);
            respond(&mut writer, status, "application/json", &body);
        }
        Fault::Hang => thread::sleep(Duration::from_secs(60)),
        Fault::Truncate(body) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len() * 2
            );
            let _ = writer.write_all(head.as_bytes());
            let _ = writer.write_all(&body);
        }
        Fault::Close => {}
        Fault::Relay(target) => {
            let response = relay(&target, &request);
            relayed.lock().expect("lock").push(body_of(&response));
            let _ = writer.write_all(&response);
        }
    }
}

/// Send `request` to `target` and return the raw response.
fn relay(target: &str, request: &Received) -> Vec<u8> {
    let mut upstream = TcpStream::connect(target).expect("connect to the relay target");
    let mut head = format!("{}\r\n", request.request_line);
    for (name, value) in request.headers.iter().filter(|(n, _)| n != "connection") {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("connection: close\r\n\r\n");
    upstream
        .write_all(head.as_bytes())
        .expect("relay the request head");
    upstream
        .write_all(&request.body)
        .expect("relay the request body");
    let mut response = Vec::new();
    upstream
        .read_to_end(&mut response)
        .expect("read the relayed response");
    response
}

/// The body of a raw `Content-Length` response.
fn body_of(response: &[u8]) -> Vec<u8> {
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    assert!(
        !head.contains("transfer-encoding: chunked"),
        "the relay records Content-Length bodies only"
    );
    response[split + 4..].to_vec()
}

pub(crate) fn read_request(reader: &mut impl BufRead) -> Option<Received> {
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        request_line: request_line.trim_end().to_string(),
        headers,
        body,
    })
}

/// A loopback stand-in for the AWS Parameters and Secrets Lambda Extension:
/// `GET /systemsmanager/parameters/get?name=...` answers the parameter as
/// the extension does (`{"Parameter": {"Name", "Value", ...}}`), 400 for a
/// name with no parameter, 401 without the right
/// `X-Aws-Parameters-Secrets-Token`.
pub struct ParameterExtension {
    /// The port it listens on (`PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`).
    pub port: u16,
    parameters: Arc<Mutex<std::collections::BTreeMap<String, String>>>,
    requests: Arc<Mutex<usize>>,
    failing: Arc<Mutex<bool>>,
    hanging: Arc<Mutex<bool>>,
}

impl ParameterExtension {
    /// Listen, accepting only `session_token`.
    pub fn start(session_token: &str) -> ParameterExtension {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        let parameters = Arc::new(Mutex::new(std::collections::BTreeMap::new()));
        let requests = Arc::new(Mutex::new(0));
        let failing = Arc::new(Mutex::new(false));
        let hanging = Arc::new(Mutex::new(false));
        let (store, count, broken, hung) = (
            Arc::clone(&parameters),
            Arc::clone(&requests),
            Arc::clone(&failing),
            Arc::clone(&hanging),
        );
        let session_token = session_token.to_string();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
                let mut writer = stream;
                // One connection may carry several requests (keep-alive).
                while let Some(request) = read_request(&mut reader) {
                    *count.lock().expect("lock") += 1;
                    if *hung.lock().expect("lock") {
                        thread::sleep(Duration::from_secs(5));
                    }
                    let (status, body) = if *broken.lock().expect("lock") {
                        (500, "\"internal error\"".to_string())
                    } else {
                        parameter_answer(&request, &session_token, &store)
                    };
                    let head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    if writer.write_all(head.as_bytes()).is_err()
                        || writer.write_all(body.as_bytes()).is_err()
                    {
                        break;
                    }
                }
            }
        });
        ParameterExtension {
            port,
            parameters,
            requests,
            failing,
            hanging,
        }
    }

    /// From now on take 5 s to answer each request, as a hung extension would.
    pub fn hang(&self) {
        *self.hanging.lock().expect("lock") = true;
    }

    /// From now on answer every request 500, as a failing extension would.
    pub fn fail(&self) {
        *self.failing.lock().expect("lock") = true;
    }

    /// Set parameter `name` to `value`.
    pub fn set(&self, name: &str, value: &str) {
        self.parameters
            .lock()
            .expect("lock")
            .insert(name.to_string(), value.to_string());
    }

    /// Delete parameter `name`.
    pub fn remove(&self, name: &str) {
        self.parameters.lock().expect("lock").remove(name);
    }

    /// Requests answered so far.
    pub fn requests(&self) -> usize {
        *self.requests.lock().expect("lock")
    }
}

fn parameter_answer(
    request: &Received,
    session_token: &str,
    store: &Mutex<std::collections::BTreeMap<String, String>>,
) -> (u16, String) {
    if request.header("x-aws-parameters-secrets-token") != Some(session_token) {
        return (401, "\"unauthorized\"".into());
    }
    let target = request.request_line.split(' ').nth(1).unwrap_or("");
    let Some(query) = target.strip_prefix("/systemsmanager/parameters/get?") else {
        return (404, "\"not found\"".into());
    };
    let name = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("name="))
        .map(percent_decode)
        .unwrap_or_default();
    match store.lock().expect("lock").get(&name) {
        Some(value) => (
            200,
            serde_json::json!({"Parameter": {
                "ARN": format!("arn:aws:ssm:us-east-1:000000000000:parameter{name}"),
                "DataType": "text", "Name": name, "Type": "SecureString",
                "Value": value, "Version": 1, "Selector": null, "SourceResult": null,
                "LastModifiedDate": "2026-11-28T00:00:00Z"}, "ResultMetadata": {}})
            .to_string(),
        ),
        None => (400, "ParameterNotFound".into()),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Run `f` with lee's JSON log layer capturing every line at every level
/// (trace included) on this thread; the lines, in order.
pub fn capture_logs<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
    lee_host::logging::capture(f)
}

/// Check one log line against CloudWatch's Embedded Metric Format
/// specification
/// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>):
/// the root is a JSON object with an `_aws` object holding a numeric
/// `Timestamp` (ms since the epoch) and a `CloudWatchMetrics` array of
/// MetricDirectives; each directive has exactly `Namespace` (1–255
/// characters), `Dimensions` (an array of dimension sets, each an array of
/// at most 30 unique names) and `Metrics` (at most 100 MetricDefinitions of
/// `Name`, optional `Unit` from CloudWatch's list, optional
/// `StorageResolution` 1 or 60); every dimension named is a root member with
/// a string value of 1–1024 characters; every metric named is a root member
/// holding a number or an array of at most 100 numbers. Returns every
/// violation found.
pub fn check_emf(line: &str) -> Result<(), Vec<String>> {
    const UNITS: [&str; 27] = [
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ];
    let mut problems = Vec::new();
    let root: Value = match serde_json::from_str(line) {
        Ok(Value::Object(root)) => Value::Object(root),
        _ => return Err(vec!["the line is not one JSON object".into()]),
    };
    let aws = &root["_aws"];
    if !aws.is_object() {
        return Err(vec!["no _aws object".into()]);
    }
    if !aws["Timestamp"].is_u64() {
        problems.push("_aws.Timestamp is not a whole number of milliseconds".into());
    }
    let Some(directives) = aws["CloudWatchMetrics"].as_array() else {
        return Err(vec!["_aws.CloudWatchMetrics is not an array".into()]);
    };
    for (d, directive) in directives.iter().enumerate() {
        let Some(members) = directive.as_object() else {
            problems.push(format!("directive {d} is not an object"));
            continue;
        };
        for key in members.keys() {
            if !["Namespace", "Dimensions", "Metrics"].contains(&key.as_str()) {
                problems.push(format!("directive {d} has the extra member {key}"));
            }
        }
        match directive["Namespace"].as_str() {
            Some(ns) if (1..=255).contains(&ns.chars().count()) => {}
            _ => problems.push(format!("directive {d}: Namespace must be 1-255 characters")),
        }
        match directive["Dimensions"].as_array() {
            None => problems.push(format!("directive {d}: Dimensions is not an array")),
            Some(sets) => {
                for set in sets {
                    let Some(names) = set.as_array() else {
                        problems.push(format!("directive {d}: a dimension set is not an array"));
                        continue;
                    };
                    if names.len() > 30 {
                        problems.push(format!("directive {d}: more than 30 dimensions"));
                    }
                    let mut seen = std::collections::BTreeSet::new();
                    for name in names {
                        let Some(name) = name.as_str() else {
                            problems.push(format!("directive {d}: a dimension is not a string"));
                            continue;
                        };
                        if !seen.insert(name) {
                            problems.push(format!("directive {d}: dimension {name} repeated"));
                        }
                        match root[name].as_str() {
                            Some(v) if (1..=1024).contains(&v.chars().count()) => {}
                            _ => problems.push(format!(
                                "dimension {name} has no string value of 1-1024 characters"
                            )),
                        }
                    }
                }
            }
        }
        match directive["Metrics"].as_array() {
            None => problems.push(format!("directive {d}: Metrics is not an array")),
            Some(metrics) if metrics.len() > 100 => {
                problems.push(format!("directive {d}: more than 100 metrics"));
            }
            Some(metrics) => {
                for metric in metrics {
                    let Some(name) = metric["Name"]
                        .as_str()
                        .filter(|n| (1..=255).contains(&n.len()))
                    else {
                        problems.push(format!("directive {d}: a metric has no Name"));
                        continue;
                    };
                    if let Some(unit) = metric.get("Unit")
                        && !unit.as_str().is_some_and(|u| UNITS.contains(&u))
                    {
                        problems.push(format!("metric {name}: unit {unit} is not CloudWatch's"));
                    }
                    if let Some(resolution) = metric.get("StorageResolution")
                        && resolution != 1
                        && resolution != 60
                    {
                        problems.push(format!("metric {name}: StorageResolution must be 1 or 60"));
                    }
                    let value = &root[name];
                    let ok = value.is_number()
                        || value
                            .as_array()
                            .is_some_and(|v| v.len() <= 100 && v.iter().all(Value::is_number));
                    if !ok {
                        problems.push(format!("metric {name} has no numeric value"));
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}
