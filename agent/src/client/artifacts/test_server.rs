//! A tiny HTTP/1.1 server on loopback for the artifact tests: serves the bytes it was given per
//! path, optionally answering 503 a set number of times first, and counts the requests. A real
//! socket, so the real client (ureq) is what gets tested.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

#[derive(Default)]
struct Route {
    body: Vec<u8>,
    /// 503 answers still to give before the body.
    failures_left: u32,
    hits: u32,
}

pub struct TestServer {
    addr: SocketAddr,
    routes: Arc<Mutex<BTreeMap<String, Route>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    pub fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let routes: Arc<Mutex<BTreeMap<String, Route>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (routes, stop) = (routes.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    if let Ok(c) = conn {
                        serve(c, &routes);
                    }
                }
            })
        };
        TestServer {
            addr,
            routes,
            stop,
            thread: Some(thread),
        }
    }

    /// Serves `body` at `path` (which starts with '/'), after `failures` answers of 503.
    pub fn put(&self, path: &str, body: &[u8], failures: u32) {
        self.routes.lock().unwrap().insert(
            path.to_string(),
            Route {
                body: body.to_vec(),
                failures_left: failures,
                hits: 0,
            },
        );
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn hits(&self, path: &str) -> u32 {
        self.routes.lock().unwrap().get(path).map_or(0, |r| r.hits)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(conn: TcpStream, routes: &Mutex<BTreeMap<String, Route>>) {
    let mut reader = BufReader::new(&conn);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Skip the headers: no test sends a body.
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let path = target.split('?').next().unwrap_or("/");
    let (status, body) = {
        let mut routes = routes.lock().unwrap();
        match routes.get_mut(path) {
            None => ("404 Not Found", b"not found".to_vec()),
            Some(r) => {
                r.hits += 1;
                if r.failures_left > 0 {
                    r.failures_left -= 1;
                    ("503 Service Unavailable", b"try later".to_vec())
                } else {
                    ("200 OK", r.body.clone())
                }
            }
        }
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut w = &conn;
    let _ = w.write_all(head.as_bytes());
    let _ = w.write_all(&body);
    let _ = w.flush();
}
