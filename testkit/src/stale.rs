//! The network a frozen Lambda sees (FIELD.md §1), on loopback: a TCP relay
//! between lee and a server that hides the server's close of a connection.
//!
//! While the Lambda sandbox is frozen, the server closes the idle keep-alive
//! connection; the frozen client never processes that close. When it thaws
//! it writes its next request into the dead connection and gets a reset
//! before any byte of an answer: the server never read the request.
//!
//! [`StaleRelay`] does exactly that. It passes bytes both ways until the
//! server closes its side (on its own, or when a test calls
//! [`StaleRelay::server_closes_idle_connections`]); from then on the client
//! sees nothing, and its next write is answered with a reset (the relay
//! closes the client's socket with the written bytes unread, which makes the
//! kernel send RST). The relay counts the connections it accepted and the
//! resets it sent. TLS passes through it untouched.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One relayed connection.
struct Link {
    /// The relay's connection to the server.
    upstream: TcpStream,
    /// Signalled once the server's side has closed and the relay has let go
    /// of everything but the unread client socket.
    server_gone: Receiver<()>,
}

/// A relay that hides the server's close from the client (see the module).
pub struct StaleRelay {
    /// `http://127.0.0.1:port` or `https://127.0.0.1:port`, as the target's.
    pub url: String,
    links: Arc<Mutex<Vec<Link>>>,
    accepted: Arc<AtomicUsize>,
    resets: Arc<AtomicUsize>,
}

impl StaleRelay {
    /// A relay in front of `target_url` (`http://` or `https://` and a
    /// loopback `host:port`).
    pub fn start(target_url: &str) -> StaleRelay {
        let (scheme, authority) = target_url
            .trim_end_matches('/')
            .split_once("://")
            .expect("a URL with a scheme");
        let target: SocketAddr = authority.parse().expect("a loopback host:port");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("{scheme}://{}", listener.local_addr().expect("local addr"));
        let links = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let resets = Arc::new(AtomicUsize::new(0));
        let (list, count, reset_count) = (
            Arc::clone(&links),
            Arc::clone(&accepted),
            Arc::clone(&resets),
        );
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                let Ok(upstream) = TcpStream::connect(target) else {
                    continue;
                };
                let link = relay(client, upstream, Arc::clone(&reset_count));
                list.lock().expect("lock").push(link);
            }
        });
        StaleRelay {
            url,
            links,
            accepted,
            resets,
        }
    }

    /// The server closes every connection, as a server does when its
    /// keep-alive timeout passes during a freeze. The clients are not told;
    /// returns once the relay has hidden every close.
    pub fn server_closes_idle_connections(&self) {
        let links: Vec<Link> = std::mem::take(&mut *self.links.lock().expect("lock"));
        for link in links {
            let _ = link.upstream.shutdown(Shutdown::Both);
            let _ = link.server_gone.recv_timeout(Duration::from_secs(5));
        }
    }

    /// TCP connections the client opened through the relay.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Writes answered with a reset because the server had closed.
    pub fn resets(&self) -> usize {
        self.resets.load(Ordering::SeqCst)
    }
}

/// Pump one connection both ways; see the module for what happens once the
/// server's side closes.
fn relay(client: TcpStream, upstream: TcpStream, resets: Arc<AtomicUsize>) -> Link {
    let server_closed = Arc::new(AtomicBool::new(false));
    let (gone_tx, server_gone) = mpsc::channel();
    let (mut to_client, mut from_server) = (
        client.try_clone().expect("clone client"),
        upstream.try_clone().expect("clone upstream"),
    );
    let closed = Arc::clone(&server_closed);
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from_server.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to_client.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        // The server has closed: hide it. This thread's handle on the client
        // socket goes; the other thread keeps the socket open, unread.
        closed.store(true, Ordering::SeqCst);
        drop(to_client);
        let _ = gone_tx.send(());
    });
    let mut to_server = upstream.try_clone().expect("clone upstream");
    thread::spawn(move || {
        let mut client = client;
        let mut buf = [0u8; 16 * 1024];
        loop {
            // Wait for the client's bytes without taking them, so that a
            // close with them unread is a reset.
            match client.peek(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = to_server.shutdown(Shutdown::Both);
                    return;
                }
                Ok(_) if server_closed.load(Ordering::SeqCst) => {
                    resets.fetch_add(1, Ordering::SeqCst);
                    drop(client);
                    return;
                }
                Ok(_) => {}
            }
            let n = match client.read(&mut buf) {
                Ok(0) | Err(_) => 0,
                Ok(n) => n,
            };
            if n == 0 || to_server.write_all(&buf[..n]).is_err() {
                let _ = to_server.shutdown(Shutdown::Both);
                return;
            }
        }
    });
    Link {
        upstream,
        server_gone,
    }
}
