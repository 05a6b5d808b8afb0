//! One HTTP/1.1 request with a deadline, for http checks and the Consul agent API: the request in
//! one write, the response head parsed with httparse and the first [`BODY_LIMIT`] bytes of the
//! body kept. Connections are closed with a reset, so a thousand probes a second leave no sockets
//! in TIME_WAIT and cost no FIN exchange.
//!
//! A check keeps its connection open between probes when the server allows it (HTTP/1.1, a framed
//! body, no `Connection: close`), as Envoy's health checker does: a new connection per probe costs
//! the kernel more than the probe itself. A kept connection is used for at most
//! [`MAX_REUSE_AGE`], and a probe that fails on one is tried again at once on a new connection,
//! so a stale connection never makes a check fail.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Consul keeps the first 4 KB of a check's output.
pub const BODY_LIMIT: usize = 4096;
/// The largest response head read, and the most of a body read past the limit to keep the
/// connection usable.
const HEAD_LIMIT: usize = 64 * 1024;
const DRAIN_LIMIT: usize = 64 * 1024;
/// A kept connection is replaced by a new one this often, so a server that stopped accepting new
/// connections is noticed.
pub const MAX_REUSE_AGE: Duration = Duration::from_secs(30);

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A connection a check keeps between probes.
pub struct Connection {
    io: Box<dyn Io>,
    /// (tls, host, port) it was opened to.
    peer: (bool, String, u16),
    opened: std::time::Instant,
}

pub struct Request1<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a BTreeMap<String, Vec<String>>,
    pub body: &'a [u8],
    pub tls_skip_verify: bool,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    /// "200 OK"
    pub status_line: String,
    pub body: String,
}

/// Why a request could not be sent or its answer not read. Check outputs and Consul errors show
/// it after the URL, so each message says what was wrong with the request or the server.
#[derive(Debug, thiserror::Error)]
pub enum HttpCheckError {
    #[error("{0:?} is not an http:// or https:// URL")]
    NotHttpUrl(String),
    #[error("{0:?}: unclosed [ in the host")]
    UnclosedBracket(String),
    #[error("{0:?}: bad port")]
    BadPort(String),
    #[error("{0:?} has no host")]
    NoHost(String),
    #[error("{0:?}: the path holds spaces or control characters")]
    BadPath(String),
    #[error("{0:?} is not an HTTP method")]
    BadMethod(String),
    #[error("header {0:?} is not a valid HTTP header")]
    BadHeader(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("the connection closed before a response")]
    ClosedBeforeResponse,
    #[error("the response head is too large")]
    HeadTooLarge,
    #[error("not an HTTP response: {0}")]
    NotHttp(#[source] httparse::Error),
    #[error("{host:?} is not a TLS server name: {source}")]
    BadServerName {
        host: String,
        #[source]
        source: rustls::pki_types::InvalidDnsNameError,
    },
    #[error("TLS: {0}")]
    Tls(#[source] std::io::Error),
    #[error("TLS setup: {0}")]
    TlsSetup(#[source] rustls::Error),
    #[error("timed out after {}", api::duration::format_duration(*.0))]
    TimedOut(Duration),
}

/// The parts of an http(s) URL a request needs.
#[derive(Debug, Clone, PartialEq)]
struct Url {
    tls: bool,
    /// Host as written, without brackets.
    host: String,
    port: u16,
    /// Path and query.
    target: String,
}

fn parse_url(url: &str) -> Result<Url, HttpCheckError> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        return Err(HttpCheckError::NotHttpUrl(url.to_string()));
    };
    let (authority, target) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| HttpCheckError::UnclosedBracket(url.to_string()))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p
                .parse()
                .map_err(|_| HttpCheckError::BadPort(url.to_string()))?,
            None => default_port,
        };
        (h.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse()
                    .map_err(|_| HttpCheckError::BadPort(url.to_string()))?,
            ),
            None => (authority.to_string(), default_port),
        }
    };
    if host.is_empty() {
        return Err(HttpCheckError::NoHost(url.to_string()));
    }
    if target.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(HttpCheckError::BadPath(url.to_string()));
    }
    Ok(Url {
        tls,
        host,
        port,
        target,
    })
}

fn valid_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The request line, headers and body, ready to write.
fn request_bytes(r: &Request1<'_>, url: &Url, keep_alive: bool) -> Result<Vec<u8>, HttpCheckError> {
    if !valid_token(r.method) {
        return Err(HttpCheckError::BadMethod(r.method.to_string()));
    }
    let host = if url.host.contains(':') {
        format!("[{}]:{}", url.host, url.port)
    } else {
        format!("{}:{}", url.host, url.port)
    };
    let mut out = format!(
        "{} {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: nomad-rs/health-check\r\n",
        r.method, url.target
    );
    if !keep_alive {
        out.push_str("Connection: close\r\n");
    }
    for (k, values) in r.headers {
        for v in values {
            if !valid_token(k) || v.contains(['\r', '\n']) {
                return Err(HttpCheckError::BadHeader(k.clone()));
            }
            out.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    if !r.body.is_empty() || matches!(r.method, "POST" | "PUT" | "PATCH") {
        out.push_str(&format!("Content-Length: {}\r\n", r.body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(r.body);
    Ok(bytes)
}

/// How the body after the head is delimited.
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// Reads one response: its head, then up to [`BODY_LIMIT`] bytes of its body (more, and thrown
/// away, when that leaves the connection usable for another request). Also says whether it is.
async fn read_response<S: AsyncRead + Unpin + ?Sized>(
    stream: &mut S,
) -> Result<(Reply, bool), HttpCheckError> {
    let mut buf: Vec<u8> = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    let (status, status_line, framing, head_len, keep) = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(HttpCheckError::ClosedBeforeResponse);
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let code = resp.code.unwrap_or(0);
                let line = format!("{code} {}", resp.reason.unwrap_or(""))
                    .trim_end()
                    .to_string();
                let header = |name: &str| {
                    resp.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
                };
                let framing = if header("transfer-encoding").is_some_and(|v| v.contains("chunked"))
                {
                    Framing::Chunked
                } else if let Some(l) = header("content-length").and_then(|v| v.parse().ok()) {
                    Framing::Length(l)
                } else {
                    Framing::UntilClose
                };
                let keep = resp.version == Some(1)
                    && !header("connection").is_some_and(|v| v.contains("close"));
                break (code, line, framing, len, keep);
            }
            Ok(httparse::Status::Partial) if buf.len() < HEAD_LIMIT => continue,
            Ok(httparse::Status::Partial) => return Err(HttpCheckError::HeadTooLarge),
            Err(e) => return Err(HttpCheckError::NotHttp(e)),
        }
    };
    let mut raw = buf.split_off(head_len);
    let chunked_done = |raw: &[u8]| raw.ends_with(b"0\r\n\r\n");
    // How much to read: the whole body when it is small enough to drain, else what is kept.
    let wanted = match framing {
        Framing::Length(l) if l <= DRAIN_LIMIT => l,
        Framing::Length(_) | Framing::UntilClose => BODY_LIMIT,
        Framing::Chunked => DRAIN_LIMIT,
    };
    let mut closed = false;
    while raw.len() < wanted && !(matches!(framing, Framing::Chunked) && chunked_done(&raw)) {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                closed = true;
                break;
            }
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
        }
    }
    let reusable = keep
        && !closed
        && match framing {
            Framing::Length(l) => raw.len() == l,
            Framing::Chunked => chunked_done(&raw),
            Framing::UntilClose => false,
        };
    let mut body = match framing {
        Framing::Chunked => dechunk(&raw),
        _ => raw,
    };
    body.truncate(BODY_LIMIT);
    let reply = Reply {
        status,
        status_line,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    Ok((reply, reusable))
}

/// The data of a chunked body, as far as it goes.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return out;
        };
        if size == 0 {
            return out;
        }
        let data = &raw[eol + 2..];
        let take = size.min(data.len());
        out.extend_from_slice(&data[..take]);
        if take < size || data.len() < size + 2 {
            return out;
        }
        raw = &data[size + 2..];
    }
}

async fn exchange(stream: &mut dyn Io, request: &[u8]) -> Result<(Reply, bool), HttpCheckError> {
    stream.write_all(request).await?;
    stream.flush().await?;
    read_response(stream).await
}

/// A new connection to the URL's host (TLS for https).
async fn connect(url: &Url, tls_skip_verify: bool) -> Result<Connection, HttpCheckError> {
    let tcp = TcpStream::connect((url.host.as_str(), url.port)).await?;
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_zero_linger();
    let io: Box<dyn Io> = if url.tls {
        let name = rustls::pki_types::ServerName::try_from(url.host.clone()).map_err(|source| {
            HttpCheckError::BadServerName {
                host: url.host.clone(),
                source,
            }
        })?;
        let config = tls_config(tls_skip_verify).map_err(HttpCheckError::TlsSetup)?;
        let connector = tokio_rustls::TlsConnector::from(config);
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(HttpCheckError::Tls)?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    Ok(Connection {
        io,
        peer: (url.tls, url.host.clone(), url.port),
        opened: std::time::Instant::now(),
    })
}

/// Accepts any certificate: `tls_skip_verify = true`, asked for by the job.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The two TLS configurations, built once: verifying against the webpki roots, or not at all.
fn tls_config(skip_verify: bool) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    static VERIFY: OnceLock<Result<Arc<rustls::ClientConfig>, rustls::Error>> = OnceLock::new();
    static SKIP: OnceLock<Result<Arc<rustls::ClientConfig>, rustls::Error>> = OnceLock::new();
    let build = |skip: bool| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let cfg = if skip {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth()
        } else {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        Ok(Arc::new(cfg))
    };
    let cell = if skip_verify { &SKIP } else { &VERIFY };
    cell.get_or_init(|| build(skip_verify)).clone()
}

/// Sends the request on a new connection, closed afterwards; the whole exchange must end within
/// `timeout`.
pub async fn send(r: Request1<'_>) -> Result<Reply, HttpCheckError> {
    let url = parse_url(r.url)?;
    let request = request_bytes(&r, &url, false)?;
    let work = async {
        let mut c = connect(&url, r.tls_skip_verify).await?;
        exchange(&mut *c.io, &request).await.map(|(reply, _)| reply)
    };
    tokio::time::timeout(r.timeout, work)
        .await
        .unwrap_or_else(|_| Err(HttpCheckError::TimedOut(r.timeout)))
}

/// Sends the request on the connection kept in `slot` when there is a fresh one to the same
/// server (falling back to a new connection if it fails), and keeps the connection there for the
/// next call when the server allows.
pub async fn send_reusing(
    r: Request1<'_>,
    slot: &mut Option<Connection>,
) -> Result<Reply, HttpCheckError> {
    let url = parse_url(r.url)?;
    let request = request_bytes(&r, &url, true)?;
    let peer = (url.tls, url.host.clone(), url.port);
    let work = async {
        if let Some(mut c) = slot.take() {
            if c.peer == peer && c.opened.elapsed() < MAX_REUSE_AGE {
                if let Ok((reply, reusable)) = exchange(&mut *c.io, &request).await {
                    if reusable {
                        *slot = Some(c);
                    }
                    return Ok(reply);
                }
            }
        }
        let mut c = connect(&url, r.tls_skip_verify).await?;
        let (reply, reusable) = exchange(&mut *c.io, &request).await?;
        if reusable {
            *slot = Some(c);
        }
        Ok(reply)
    };
    tokio::time::timeout(r.timeout, work)
        .await
        .unwrap_or_else(|_| Err(HttpCheckError::TimedOut(r.timeout)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn urls_split_into_what_a_request_needs() {
        let u = parse_url("http://10.0.0.1:8080/health?x=1").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.target.as_str()),
            (false, "10.0.0.1", 8080, "/health?x=1")
        );
        let u = parse_url("https://[::1]/").unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port), (true, "::1", 443));
        assert_eq!(parse_url("http://h").unwrap().target, "/");
        assert!(parse_url("ftp://h/").is_err());
        assert!(parse_url("http://:80/").is_err());
    }

    /// Answers one connection with `reply` and hands back what it received.
    async fn one_shot(reply: &'static str) -> (String, tokio::task::JoinHandle<String>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let h = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.unwrap();
            s.write_all(reply.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        (addr, h)
    }

    #[tokio::test]
    async fn sends_method_headers_and_body_and_reads_the_status() {
        let (addr, seen) =
            one_shot("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\ndown").await;
        let headers = BTreeMap::from([("X-Probe".to_string(), vec!["yes".to_string()])]);
        let reply = send(Request1 {
            method: "POST",
            url: &format!("http://{addr}/health"),
            headers: &headers,
            body: b"ping",
            tls_skip_verify: false,
            timeout: Duration::from_secs(5),
        })
        .await
        .unwrap();
        assert_eq!(reply.status, 503);
        assert_eq!(reply.status_line, "503 Service Unavailable");
        assert_eq!(reply.body, "down");
        let req = seen.await.unwrap();
        assert!(req.starts_with("POST /health HTTP/1.1\r\n"), "{req}");
        assert!(req.to_ascii_lowercase().contains("x-probe: yes"), "{req}");
        assert!(req.ends_with("ping"), "{req}");
    }

    #[test]
    fn chunked_bodies_are_decoded() {
        assert_eq!(
            dechunk(b"4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n"),
            b"Wikipedia"
        );
        assert_eq!(dechunk(b"4\r\nWi"), b"Wi");
    }

    #[tokio::test]
    async fn chunked_and_unframed_replies_are_read() {
        let (addr, _) =
            one_shot("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
                .await;
        let get = |addr: String| async move {
            send(Request1 {
                method: "GET",
                url: &format!("http://{addr}/"),
                headers: &BTreeMap::new(),
                body: b"",
                tls_skip_verify: false,
                timeout: Duration::from_secs(5),
            })
            .await
        };
        assert_eq!(get(addr).await.unwrap().body, "abc");
        let (addr, _) = one_shot("HTTP/1.0 204 No Content\r\n\r\n").await;
        let r = get(addr).await.unwrap();
        assert_eq!(
            (r.status, r.status_line.as_str(), r.body.as_str()),
            (204, "204 No Content", "")
        );
        let bad = BTreeMap::from([("X-Bad".to_string(), vec!["a\r\nb".to_string()])]);
        let err = send(Request1 {
            method: "GET",
            url: "http://127.0.0.1:1/",
            headers: &bad,
            body: b"",
            tls_skip_verify: false,
            timeout: Duration::from_secs(1),
        })
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("not a valid HTTP header"), "{err}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let err = send(Request1 {
            method: "GET",
            url: &format!("http://{addr}/"),
            headers: &BTreeMap::new(),
            body: b"",
            tls_skip_verify: false,
            timeout: Duration::from_millis(200),
        })
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("timed out"), "{err}");
        drop(l);
    }
}
