//! A loopback Home Assistant stand-in that keeps its connections open, as
//! Home Assistant and the proxies in front of it do, over plain HTTP or TLS.
//! It answers each request by its path, records every request it read in
//! full, and counts the connections it accepted: the tests count at the
//! server how often a request really arrived.

use std::io::{BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;

use rustls::{ServerConnection, StreamOwned};

use crate::fault::{Received, read_request};
use crate::tls::{Identity, server_config};

/// What the server answers a request with: status and JSON body.
pub type Answer = fn(&Received) -> (u16, Vec<u8>);

/// [`Answer`], or a closure that answers the same way.
type Answering = dyn Fn(&Received) -> (u16, Vec<u8>) + Send + Sync;

/// A keep-alive HTTP/1.1 server on loopback.
pub struct KeepAliveServer {
    /// `http://127.0.0.1:port` or `https://127.0.0.1:port`.
    pub url: String,
    connections: Arc<Mutex<usize>>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl KeepAliveServer {
    /// Answer every request with `200` and `body`, over plain HTTP.
    pub fn start(body: &'static [u8]) -> KeepAliveServer {
        Self::serve(None, Arc::new(move |_| (200, body.to_vec())))
    }

    /// Answer each request as `answer` says; over TLS with `identity`.
    pub fn answering(answer: Answer, identity: Option<&Identity>) -> KeepAliveServer {
        Self::serve(identity, Arc::new(answer))
    }

    fn serve(identity: Option<&Identity>, answer: Arc<Answering>) -> KeepAliveServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let scheme = if identity.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}", listener.local_addr().expect("local addr"));
        let tls = identity.map(|identity| server_config(identity, None));
        let connections = Arc::new(Mutex::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (count, log) = (Arc::clone(&connections), Arc::clone(&received));
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                *count.lock().expect("lock") += 1;
                let (log, answer, tls) = (Arc::clone(&log), Arc::clone(&answer), tls.clone());
                thread::spawn(move || match tls {
                    None => keep_answering(stream, &log, &*answer),
                    Some(config) => {
                        let Ok(conn) = ServerConnection::new(config) else {
                            return;
                        };
                        keep_answering(StreamOwned::new(conn, stream), &log, &*answer);
                    }
                });
            }
        });
        KeepAliveServer {
            url,
            connections,
            received,
        }
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        *self.connections.lock().expect("lock")
    }

    /// The requests read in full so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// How many requests with this request line (`POST /api/alexa/smart_home
    /// HTTP/1.1`) arrived.
    pub fn count(&self, request_line: &str) -> usize {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| r.request_line == request_line)
            .count()
    }
}

/// Answer requests on one connection until the client closes it.
fn keep_answering<S: Read + Write>(stream: S, log: &Mutex<Vec<Received>>, answer: &Answering) {
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        log.lock().expect("lock").push(request.clone());
        let (status, body) = answer(&request);
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let writer = reader.get_mut();
        if writer.write_all(head.as_bytes()).is_err()
            || writer.write_all(&body).is_err()
            || writer.flush().is_err()
        {
            return;
        }
    }
}
