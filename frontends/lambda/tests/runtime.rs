//! The real `bootstrap` binary under a loopback Lambda Runtime API (issue 8:
//! malformed and oversized input through the Lambda handler).
//!
//! What it is for: proving, on the binary Lambda runs, that every event gets
//! exactly one answer and the process lives on, whatever the bytes: deeply
//! nested JSON, a payload at Lambda's 6 MB limit, bytes that are not UTF-8,
//! an empty body and truncated JSON, between valid events. The test plays
//! Lambda's Runtime API (`/2018-06-01/runtime/...`, HTTP/1.1 with
//! keep-alive, chunked bodies understood), hands out one event per
//! `GET .../invocation/next`, records every `.../response`, `.../error` and
//! `init/error`, and reads the binary's stdout (its JSON log lines and EMF
//! metrics lines), as CloudWatch would.
//!
//! It also proves that proxy variables in the function's environment route
//! nothing (issue 13): Home Assistant and the Parameters and Secrets
//! extension are reached directly, the token never through a proxy.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lee_testkit::{
    AlexaSchema, Fault, FaultServer, ParameterExtension, check_emf, directive, header,
};
use serde_json::{Value, json};

const PREFIX: &str = "/2018-06-01/runtime";
/// The longest the test waits for the runtime to do the next thing.
const WAIT: Duration = Duration::from_secs(20);
/// The Alexa token of the ReportState, looked for in every stdout line.
const TOKEN: &str = "lambda-test-token-77";
const ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:lee";
/// Lambda's limit for a synchronous invocation's payload.
const SIX_MIB: usize = 6 * 1024 * 1024;

/// What the runtime did, as the Runtime API saw it.
#[derive(Clone, Debug)]
enum Posted {
    /// `GET .../invocation/next`: the runtime waits for an event.
    Polled,
    /// `POST .../invocation/{id}/response`.
    Response { id: String, body: Vec<u8> },
    /// `POST .../invocation/{id}/error`.
    Error { id: String, body: Vec<u8> },
    /// `POST .../init/error`.
    InitError(Vec<u8>),
    /// Anything else (answered 404).
    Unexpected(String),
}

/// Events waiting for a `GET .../next`; `closed` releases a held poll.
#[derive(Default)]
struct Queue {
    events: VecDeque<(String, Vec<u8>)>,
    closed: bool,
}

type SharedQueue = Arc<(Mutex<Queue>, Condvar)>;

/// A loopback stand-in for the Lambda Runtime API.
struct RuntimeApi {
    /// `127.0.0.1:port`, as Lambda sets `AWS_LAMBDA_RUNTIME_API`.
    address: String,
    queue: SharedQueue,
    posted: Receiver<Posted>,
    /// Everything received so far, in order.
    seen: Vec<Posted>,
}

impl RuntimeApi {
    fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let address = listener.local_addr().expect("local addr").to_string();
        let queue: SharedQueue = Arc::default();
        let (tx, posted) = mpsc::channel();
        let shared = Arc::clone(&queue);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (queue, tx) = (Arc::clone(&shared), tx.clone());
                thread::spawn(move || serve(stream, &queue, &tx));
            }
        });
        RuntimeApi {
            address,
            queue,
            posted,
            seen: Vec::new(),
        }
    }

    /// Queue an event for the next poll.
    fn push(&self, id: &str, body: Vec<u8>) {
        let (queue, ready) = &*self.queue;
        queue
            .lock()
            .expect("queue")
            .events
            .push_back((id.to_string(), body));
        ready.notify_all();
    }

    /// The next thing the runtime does; fails fast if the process exits,
    /// and after [`WAIT`].
    fn next(&mut self, bootstrap: &mut Bootstrap, waiting_for: &str) -> Posted {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.posted.recv_timeout(Duration::from_millis(100)) {
                Ok(posted) => {
                    self.seen.push(posted.clone());
                    return posted;
                }
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(status) = bootstrap.exited() {
                        panic!("bootstrap exited ({status}) while {waiting_for}");
                    }
                    assert!(
                        Instant::now() < deadline,
                        "nothing from bootstrap in {WAIT:?} while {waiting_for}"
                    );
                }
                Err(RecvTimeoutError::Disconnected) => unreachable!("the server never stops"),
            }
        }
    }

    /// Wait until the runtime polls for its next event.
    fn await_poll(&mut self, bootstrap: &mut Bootstrap, after: &str) {
        match self.next(bootstrap, &format!("waiting for a poll after {after}")) {
            Posted::Polled => {}
            other => panic!("after {after}, expected a poll, got {other:?}"),
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        let (queue, ready) = &*self.queue;
        queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .closed = true;
        ready.notify_all();
    }
}

/// One HTTP/1.1 request.
struct Request {
    method: String,
    path: String,
    close: bool,
    body: Vec<u8>,
}

/// Serve requests on one connection until it closes.
fn serve(stream: TcpStream, queue: &(Mutex<Queue>, Condvar), posted: &Sender<Posted>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        let invocation = |suffix: &str| {
            request
                .path
                .strip_prefix(PREFIX)?
                .strip_prefix("/invocation/")?
                .strip_suffix(suffix)
                .map(str::to_string)
        };
        let accepted = b"{\"status\":\"OK\"}".to_vec();
        let (status, headers, body) = match request.method.as_str() {
            "GET" if request.path == format!("{PREFIX}/invocation/next") => {
                let _ = posted.send(Posted::Polled);
                let (lock, ready) = queue;
                let mut waiting = lock.lock().expect("queue");
                let (id, event) = loop {
                    if let Some(event) = waiting.events.pop_front() {
                        break event;
                    }
                    if waiting.closed {
                        return;
                    }
                    waiting = ready.wait(waiting).expect("queue");
                };
                drop(waiting);
                let deadline = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock")
                    + Duration::from_secs(10);
                let headers = vec![
                    ("Lambda-Runtime-Aws-Request-Id", id),
                    (
                        "Lambda-Runtime-Deadline-Ms",
                        deadline.as_millis().to_string(),
                    ),
                    ("Lambda-Runtime-Invoked-Function-Arn", ARN.to_string()),
                    ("Content-Type", "application/json".to_string()),
                ];
                (200, headers, event)
            }
            "POST" => {
                let record = if let Some(id) = invocation("/response") {
                    Posted::Response {
                        id,
                        body: request.body,
                    }
                } else if let Some(id) = invocation("/error") {
                    Posted::Error {
                        id,
                        body: request.body,
                    }
                } else if request.path == format!("{PREFIX}/init/error") {
                    Posted::InitError(request.body)
                } else {
                    Posted::Unexpected(format!("POST {}", request.path))
                };
                let status = if matches!(record, Posted::Unexpected(_)) {
                    404
                } else {
                    202
                };
                let _ = posted.send(record);
                (status, Vec::new(), accepted)
            }
            method => {
                let _ = posted.send(Posted::Unexpected(format!("{method} {}", request.path)));
                (404, Vec::new(), Vec::new())
            }
        };
        let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        if writer.write_all(head.as_bytes()).is_err()
            || writer.write_all(&body).is_err()
            || request.close
        {
            return;
        }
    }
}

/// Read one request (body by `Content-Length` or chunked); `None` when the
/// connection closes.
fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let (mut length, mut chunked, mut close) = (0, false, false);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "content-length" => length = value.parse().ok()?,
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" => close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let body = if chunked {
        read_chunked(reader)?
    } else {
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        body
    };
    Some(Request {
        method,
        path,
        close,
        body,
    })
}

/// A chunked body: `size[;ext]\r\n data \r\n` ... `0\r\n` trailers `\r\n`.
fn read_chunked(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            loop {
                let mut trailer = String::new();
                if reader.read_line(&mut trailer).ok()? == 0 || trailer.trim_end().is_empty() {
                    return Some(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).ok()?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf).ok()?;
    }
}

/// The `bootstrap` process, killed when dropped (a failing test included).
struct Bootstrap {
    child: Child,
    stdout: Option<JoinHandle<Vec<Vec<u8>>>>,
}

impl Bootstrap {
    /// Start it the way Lambda starts a `provided` runtime: only Lambda's
    /// variables (no `BASE_URL`: directives are answered
    /// BRIDGE_UNREACHABLE), plus `extra`.
    fn start(runtime_api: &str, extra: &[(&str, &str)]) -> Bootstrap {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", "lee")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_REGION", "us-east-1")
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start bootstrap");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let reader = thread::spawn(move || {
            let mut lines = Vec::new();
            loop {
                let mut line = Vec::new();
                match stdout.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return lines,
                    Ok(_) => lines.push(line),
                }
            }
        });
        Bootstrap {
            child,
            stdout: Some(reader),
        }
    }

    /// How it exited, if it has.
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Kill it and return every line it wrote to stdout.
    fn stop(mut self) -> Vec<Vec<u8>> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stdout
            .take()
            .expect("stdout reader")
            .join()
            .expect("stdout reader thread")
    }
}

impl Drop for Bootstrap {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An event and the words at least one of which a clear error about it says
/// (lowercase).
struct Malformed {
    name: &'static str,
    body: Vec<u8>,
    clues: &'static [&'static str],
}

fn malformed_events() -> Vec<Malformed> {
    let mut six_mib = b"{\"padding\": \"".to_vec();
    six_mib.resize(six_mib.len() + SIX_MIB, b'x');
    six_mib.extend_from_slice(b"\"}");
    vec![
        Malformed {
            name: "100 000 nested arrays",
            body: ["[".repeat(100_000), "]".repeat(100_000)]
                .concat()
                .into_bytes(),
            clues: &["deep", "depth", "nest", "recursion"],
        },
        Malformed {
            name: "a 6 MiB payload",
            body: six_mib,
            clues: &["large", "limit", "bytes", "size"],
        },
        Malformed {
            name: "bytes that are not UTF-8",
            body: b"{\"directive\": {\"header\": {\"namespace\": \"Alexa\", \"name\": \"Report\xff\xfeState\"}}}"
                .to_vec(),
            clues: &["utf-8", "utf8", "unicode"],
        },
        Malformed {
            name: "an empty body",
            body: Vec::new(),
            clues: &["empty", "ends early", "eof", "end of"],
        },
        Malformed {
            name: "truncated JSON",
            body: br#"{"directive": {"header":"#.to_vec(),
            clues: &["truncated", "ends early", "eof", "end of"],
        },
    ]
}

/// How the runtime answered one invocation.
#[derive(Debug)]
enum Answer {
    Response(Vec<u8>),
    Error(Vec<u8>),
}

/// Feed every event in turn, one per poll; check each gets exactly one
/// answer and the process stays alive; return the answers and stdout.
fn run(extra_env: &[(&str, &str)], events: &[(String, Vec<u8>)]) -> (Vec<Answer>, Vec<Vec<u8>>) {
    let mut api = RuntimeApi::start();
    let mut bootstrap = Bootstrap::start(&api.address, extra_env);
    api.await_poll(&mut bootstrap, "start");
    let mut answers = Vec::new();
    for (n, (name, event)) in events.iter().enumerate() {
        let id = request_id(n);
        api.push(&id, event.clone());
        let answer = match api.next(&mut bootstrap, &format!("answering {name}")) {
            Posted::Response { id: to, body } if to == id => Answer::Response(body),
            Posted::Error { id: to, body } if to == id => Answer::Error(body),
            other => panic!("{name}: expected the answer to {id}, got {other:?}"),
        };
        // The next poll comes after every post about this invocation.
        api.await_poll(&mut bootstrap, name);
        assert!(bootstrap.exited().is_none(), "bootstrap died after {name}");
        answers.push(answer);
    }
    let stdout = bootstrap.stop();
    for posted in &api.seen {
        match posted {
            Posted::InitError(body) => {
                panic!("init error: {}", String::from_utf8_lossy(body))
            }
            Posted::Unexpected(request) => panic!("unexpected request: {request}"),
            _ => {}
        }
    }
    // Exactly one answer per invocation, nothing else posted.
    for (n, (name, _)) in events.iter().enumerate() {
        let id = request_id(n);
        let count = api
            .seen
            .iter()
            .filter(|p| matches!(p, Posted::Response { id: to, .. } | Posted::Error { id: to, .. } if *to == id))
            .count();
        assert_eq!(count, 1, "{name} ({id}) was answered {count} times");
    }
    let answered = api
        .seen
        .iter()
        .filter(|p| !matches!(p, Posted::Polled))
        .count();
    assert_eq!(
        answered,
        events.len(),
        "posts besides one answer per event: {:?}",
        api.seen
    );
    (answers, stdout)
}

/// The request id of the `n`th invocation.
fn request_id(n: usize) -> String {
    format!("c0ffee00-0000-4000-8000-{n:012}")
}

/// Whether `text` names at least one of `clues` (case-insensitive).
fn says_any(text: &str, clues: &[&str]) -> bool {
    let text = text.to_lowercase();
    clues.iter().any(|clue| text.contains(clue))
}

/// The whole sequence with `extra_env` set.
fn malformed_input_is_answered_and_processing_continues(extra_env: &[(&str, &str)]) {
    let schema = AlexaSchema::load();
    let health = br#"{"health_check": true}"#.to_vec();
    let report_state = directive(
        "Alexa",
        "ReportState",
        Some("light.kitchen"),
        json!({}),
        TOKEN,
    );
    let malformed = malformed_events();
    let mut events = vec![
        ("a health event".to_string(), health.clone()),
        ("a ReportState".to_string(), report_state),
    ];
    events.extend(
        malformed
            .iter()
            .map(|m| (m.name.to_string(), m.body.clone())),
    );
    events.push(("the final health event".to_string(), health));

    let (answers, stdout) = run(extra_env, &events);

    // The valid events, answered normally, the last one after all the rest.
    for n in [0, events.len() - 1] {
        let Answer::Response(body) = &answers[n] else {
            panic!("{}: not answered normally: {:?}", events[n].0, answers[n]);
        };
        let report: Value = serde_json::from_slice(body).expect("the health report is JSON");
        assert!(
            report["lee"]["version"].is_string() && report["home_assistant"]["reachable"] == false,
            "{}: not a health report: {report}",
            events[n].0
        );
    }
    let Answer::Response(body) = &answers[1] else {
        panic!("the ReportState: {:?}", answers[1]);
    };
    let answer = schema.assert_valid(body);
    assert_eq!(header(&answer), ("Alexa", "ErrorResponse"), "{answer}");
    assert_eq!(answer["event"]["payload"]["type"], "BRIDGE_UNREACHABLE");
    assert_eq!(
        answer["event"]["header"]["correlationToken"],
        "lee-correlation"
    );

    // Each malformed event: a clear error, as Alexa reads errors.
    for (m, answer) in malformed.iter().zip(&answers[2..]) {
        let (how, message) = match answer {
            Answer::Response(body) => {
                let answer = schema.assert_valid(body);
                assert_eq!(
                    header(&answer),
                    ("Alexa", "ErrorResponse"),
                    "{}: {answer}",
                    m.name
                );
                let payload = &answer["event"]["payload"];
                assert_eq!(payload["type"], "INVALID_DIRECTIVE", "{}: {answer}", m.name);
                let message = payload["message"].as_str().unwrap_or_default().to_string();
                ("response INVALID_DIRECTIVE", message)
            }
            Answer::Error(body) => {
                let error: Value = serde_json::from_slice(body)
                    .unwrap_or_else(|e| panic!("{}: the error report is not JSON: {e}", m.name));
                let error_type = error["errorType"].as_str().unwrap_or_default();
                assert!(
                    !error_type.is_empty(),
                    "{}: no errorType in {error}",
                    m.name
                );
                let message = error["errorMessage"].as_str().unwrap_or_default();
                (
                    "error",
                    format!("{error_type}: {message}").trim_end().to_string(),
                )
            }
        };
        eprintln!("{}: {how}: {message}", m.name);
        assert!(
            says_any(&message, m.clues),
            "{}: the {how} does not say what is wrong (one of {:?}): {message:?}",
            m.name,
            m.clues
        );
        // Alexa's answer should be lee's own error, not a function error
        // (which Alexa shows as "device is not responding").
        assert!(
            matches!(answer, Answer::Response(_)),
            "{}: answered with a function error, not lee's ErrorResponse: {message}",
            m.name
        );
    }

    // stdout, as CloudWatch reads it: JSON lines, EMF lines valid, no token,
    // and every invocation leaves a line carrying its request id.
    let mut emf = 0;
    for line in &stdout {
        let text = std::str::from_utf8(line)
            .unwrap_or_else(|e| panic!("a stdout line is not UTF-8 ({e}): {line:?}"));
        assert!(!text.contains(TOKEN), "the token reached stdout: {text}");
        let value: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("a stdout line is not JSON ({e}): {text}"));
        assert!(value.is_object(), "a stdout line is not an object: {text}");
        if value.get("_aws").is_some() {
            emf += 1;
            if let Err(problems) = check_emf(text.trim_end()) {
                panic!("EMF line violates the specification: {problems:?}\n{text}");
            }
        }
    }
    assert_eq!(emf, events.len(), "one EMF line per invocation");
    for (n, (name, _)) in events.iter().enumerate() {
        let id = request_id(n);
        assert!(
            stdout
                .iter()
                .any(|line| String::from_utf8_lossy(line).contains(&id)),
            "no stdout line for {name} ({id})"
        );
    }
}

#[test]
fn malformed_input_through_the_lambda_runtime() {
    malformed_input_is_answered_and_processing_continues(&[]);
}

/// At trace level the runtime library logs each raw event; neither a
/// payload that is not UTF-8 nor the token may get through that way.
#[test]
fn malformed_input_through_the_lambda_runtime_at_trace_level() {
    malformed_input_is_answered_and_processing_continues(&[("LOG_LEVEL", "trace")]);
}

/// A loopback listener standing in for a proxy: counts the connections
/// made to it and closes each at once.
fn counting_listener() -> (String, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let address = format!("http://{}", listener.local_addr().expect("local addr"));
    let connections = Arc::new(Mutex::new(0));
    let counted = Arc::clone(&connections);
    thread::spawn(move || {
        for stream in listener.incoming() {
            *counted.lock().expect("lock") += 1;
            drop(stream);
        }
    });
    (address, connections)
}

/// `HTTP_PROXY`, `HTTPS_PROXY` and `ALL_PROXY` (either case) in the
/// environment are ignored: a directive, the ops token from Parameter Store
/// and the configuration reload all go straight to their servers, and the
/// "proxy" never sees a connection.
#[test]
fn proxy_variables_reroute_nothing() {
    const SESSION: &str = "session-token-for-the-extension";
    const OPS_TOKEN: &str = "ops-token-from-parameter-store";
    let (proxy, proxied) = counting_listener();
    let extension = ParameterExtension::start(SESSION);
    extension.set("/lee/ha_token", OPS_TOKEN);
    let answer = br#"{"event":{"header":{"namespace":"Alexa","name":"Response"},"payload":{}}}"#;
    let state = br#"{"entity_id":"light.x","state":"on","attributes":{}}"#;
    let ha = FaultServer::start(vec![
        Fault::Respond(200, "application/json", answer.to_vec()),
        Fault::Respond(200, "application/json", state.to_vec()),
    ]);
    let port = extension.port.to_string();
    let mut env = vec![
        ("BASE_URL", ha.url.as_str()),
        ("PARAMETER_PREFIX", "/lee/"),
        ("HA_TOKEN_PARAMETER", "/lee/ha_token"),
        ("AWS_SESSION_TOKEN", SESSION),
        ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", port.as_str()),
    ];
    for name in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        env.push((name, proxy.as_str()));
    }
    let events = [
        (
            "a TurnOn".to_string(),
            directive(
                "Alexa.PowerController",
                "TurnOn",
                Some("light#x"),
                json!({}),
                TOKEN,
            ),
        ),
        (
            "an op".to_string(),
            br#"{"op": "ha.state", "entity_id": "light.x"}"#.to_vec(),
        ),
    ];
    let (answers, _) = run(&env, &events);
    assert_eq!(
        *proxied.lock().expect("lock"),
        0,
        "a request went to the proxy"
    );
    let received = ha.received();
    assert_eq!(
        received.len(),
        2,
        "Home Assistant got both requests: {answers:?}"
    );
    assert_eq!(
        received[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        received[1].header("authorization"),
        Some(format!("Bearer {OPS_TOKEN}").as_str())
    );
    assert!(
        extension.requests() > 1,
        "the extension was asked for the configuration and the token"
    );
}

/// The stand-in itself: a chunked body (as hyper may send a POST) with an
/// extension and a trailer, then a second request on the same connection.
#[test]
fn the_stand_in_reads_chunked_and_kept_alive_requests() {
    let wire = b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
        5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n\
        POST /b HTTP/1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    let mut reader = BufReader::new(&wire[..]);
    let first = read_request(&mut reader).expect("the chunked request");
    assert_eq!((first.path.as_str(), first.close), ("/a", false));
    assert_eq!(first.body, b"hello world");
    let second = read_request(&mut reader).expect("the second request");
    assert_eq!(
        (second.method.as_str(), second.path.as_str()),
        ("POST", "/b")
    );
    assert_eq!((second.body.as_slice(), second.close), (&b"ok"[..], true));
    assert!(read_request(&mut reader).is_none());
}
