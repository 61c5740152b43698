//! A loopback HTTP/1.1 server that misbehaves on demand ([`FaultServer`]),
//! for what real Home Assistant will not do: refuse, hang, answer late, send
//! HTML or half a body, or close without a word; or that relays to the real
//! one and records its answers. [`Received`] is a request as a server read
//! it, and `read_request` reads one; the other loopback servers share it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

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

/// One request from `reader`; `None` at the end of the stream (a client that
/// closed its kept-alive connection sent no request) or on a broken one.
pub(crate) fn read_request(reader: &mut impl BufRead) -> Option<Received> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).ok()? == 0 {
        return None;
    }
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
