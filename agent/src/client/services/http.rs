//! One HTTP/1.1 request with a deadline, for http checks and the Consul agent API: hyper on a
//! fresh connection (plain or rustls), the status line and the first [`BODY_LIMIT`] bytes of the
//! body. A fresh connection per probe is what a health check should measure.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Consul keeps the first 4 KB of a check's output.
pub const BODY_LIMIT: usize = 4096;

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

fn parse_url(url: &str) -> Result<Url, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        return Err(format!("{url:?} is not an http:// or https:// URL"));
    };
    let (authority, target) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{url:?}: unclosed [ in the host"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| format!("{url:?}: bad port"))?,
            None => default_port,
        };
        (h.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse().map_err(|_| format!("{url:?}: bad port"))?,
            ),
            None => (authority.to_string(), default_port),
        }
    };
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    Ok(Url {
        tls,
        host,
        port,
        target,
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
fn tls_config(skip_verify: bool) -> Result<Arc<rustls::ClientConfig>, String> {
    static VERIFY: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    static SKIP: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    let build = |skip: bool| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?;
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

async fn exchange<S>(stream: S, req: Request<Full<Bytes>>) -> Result<Reply, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let result = async {
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let mut body = resp.into_body();
        let mut out = Vec::new();
        while out.len() < BODY_LIMIT {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        let room = BODY_LIMIT - out.len();
                        out.extend_from_slice(&data[..data.len().min(room)]);
                    }
                }
                Some(Err(e)) => return Err(e.to_string()),
                None => break,
            }
        }
        Ok(Reply {
            status: status.as_u16(),
            status_line: format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
            .trim_end()
            .to_string(),
            body: String::from_utf8_lossy(&out).into_owned(),
        })
    }
    .await;
    driver.abort();
    result
}

/// Sends the request on a new connection; the whole exchange must end within `timeout`.
pub async fn send(r: Request1<'_>) -> Result<Reply, String> {
    let url = parse_url(r.url)?;
    let host_header = if url.host.contains(':') {
        format!("[{}]:{}", url.host, url.port)
    } else {
        format!("{}:{}", url.host, url.port)
    };
    let method = hyper::Method::from_bytes(r.method.as_bytes())
        .map_err(|_| format!("{:?} is not an HTTP method", r.method))?;
    let mut builder = Request::builder()
        .method(method)
        .uri(&url.target)
        .header(hyper::header::HOST, &host_header)
        .header(hyper::header::USER_AGENT, "nomad-rs/health-check")
        .header(hyper::header::CONNECTION, "close");
    for (k, values) in r.headers {
        for v in values {
            builder = builder.header(k.as_str(), v.as_str());
        }
    }
    let req = builder
        .body(Full::new(Bytes::copy_from_slice(r.body)))
        .map_err(|e| format!("building the request: {e}"))?;
    let work = async {
        let tcp = TcpStream::connect((url.host.as_str(), url.port))
            .await
            .map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        if !url.tls {
            return exchange(tcp, req).await;
        }
        let name = rustls::pki_types::ServerName::try_from(url.host.clone())
            .map_err(|e| format!("{:?} is not a TLS server name: {e}", url.host))?;
        let connector = tokio_rustls::TlsConnector::from(tls_config(r.tls_skip_verify)?);
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        exchange(tls, req).await
    };
    match tokio::time::timeout(r.timeout, work).await {
        Ok(res) => res,
        Err(_) => Err(format!(
            "timed out after {}",
            api::duration::format_duration(r.timeout)
        )),
    }
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
        .unwrap_err();
        assert!(err.contains("timed out"), "{err}");
        drop(l);
    }
}
