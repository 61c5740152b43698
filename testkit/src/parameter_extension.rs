//! A loopback stand-in for the AWS Parameters and Secrets Lambda Extension
//! ([`ParameterExtension`]), which lee's configuration reads Parameter Store
//! through: it answers as the extension does, and can be made to fail or
//! hang.

use std::io::{BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::fault::{Received, read_request};

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
