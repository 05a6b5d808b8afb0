//! A blocking HTTP client for the `/v1` API, the way `nomadctl` (and tests) talk to an agent.
//!
//! Blocking on purpose: this crate has no async runtime (DESIGN.md). `ureq` gives one thread per
//! request, which is all a CLI needs; blocking queries (`?index=N&wait=..`) simply park the thread.

use crate::{
    AllocStopResponse, Allocation, Evaluation, Job, JobDeregisterResponse, JobListStub,
    JobRegisterRequest, JobRegisterResponse, JobSummary, JobVersionsResponse, JobsParseRequest,
    Node, NodeListStub, RaftConfiguration, ServerMembers,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::Read;
use std::time::Duration;
use ureq::http::Response;
use ureq::Body;

mod client_endpoints;
mod endpoints;

pub const DEFAULT_ADDRESS: &str = "http://127.0.0.1:4646";

/// Responses larger than this are refused rather than read into memory.
const MAX_BODY_BYTES: u64 = 512 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    /// The agent answered with a non-2xx status; `body` is its message.
    #[error("Unexpected response code: {status} ({})", body.trim())]
    Http { status: u16, body: String },
    /// No answer: connection refused, DNS, timeout. The string names the request.
    #[error("{0}")]
    Transport(String),
    /// An answer we could not understand.
    #[error("{0}")]
    Decode(String),
}

impl ClientError {
    /// A 404 from the agent: the thing asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Http { status: 404, .. })
    }
}

/// What the agent said about the freshness of a read (Nomad's `X-Nomad-*` headers).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryMeta {
    /// `X-Nomad-Index`: pass it back as `index` to block until something newer exists.
    pub last_index: u64,
    pub known_leader: bool,
    /// Milliseconds since the answering server last heard from the leader.
    pub last_contact_ms: u64,
    /// `X-Nomad-NextToken` of a paged listing: where the next page starts.
    pub next_token: Option<String>,
}

/// A blocking query: return once the index is above `wait_index`, or after `wait_time`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryOptions {
    pub wait_index: u64,
    pub wait_time: Option<Duration>,
}

impl QueryOptions {
    pub fn blocking(wait_index: u64, wait_time: Duration) -> Self {
        QueryOptions {
            wait_index,
            wait_time: Some(wait_time),
        }
    }

    fn pairs(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.wait_index > 0 {
            out.push(("index".to_string(), self.wait_index.to_string()));
        }
        if let Some(w) = self.wait_time {
            // Nomad accepts Go durations; milliseconds keep sub-second waits exact.
            out.push(("wait".to_string(), format!("{}ms", w.as_millis())));
        }
        out
    }
}

/// Which log stream of a task to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    Stdout,
    Stderr,
}

impl LogKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::Stdout => "stdout",
            LogKind::Stderr => "stderr",
        }
    }
}

/// Where a log read starts: `offset` bytes from the start or from the end of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOrigin {
    Start,
    End,
}

#[derive(Clone)]
pub struct Client {
    address: String,
    token: Option<String>,
    /// `-namespace` / `NOMAD_NAMESPACE`: sent as `?namespace=` unless a call names its own.
    namespace: Option<String>,
    agent: ureq::Agent,
    /// Where connections go ("https://host:port"), when `address` carries a server name.
    connect_to: String,
    tls: Option<crate::client_tls::TlsOptions>,
}

enum Method {
    Get,
    Put,
    Post,
    Delete,
}

impl Method {
    fn name(&self) -> &'static str {
        match self {
            Method::Get => "Get",
            Method::Put => "Put",
            Method::Post => "Post",
            Method::Delete => "Delete",
        }
    }
}

fn normalize_address(address: &str) -> String {
    let address = address.trim().trim_end_matches('/');
    if address.contains("://") {
        address.to_string()
    } else {
        format!("http://{address}")
    }
}

fn agent_config() -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    ureq::Agent::config_builder()
        // Non-2xx answers carry the agent's message; we want to read it, not lose it.
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(10)))
}

impl Client {
    /// A client for the agent at `address` ("http://host:port"; a bare "host:port" gets http://).
    /// An https:// address trusts the system's roots; see [`Client::new_with_tls`].
    pub fn new(address: &str) -> Client {
        let address = normalize_address(address);
        Client {
            agent: ureq::Agent::new_with_config(agent_config().build()),
            connect_to: address.clone(),
            address,
            token: None,
            namespace: None,
            tls: None,
        }
    }

    /// A client that speaks HTTPS with `tls`: its CA, client certificate and server name.
    pub fn new_with_tls(
        address: &str,
        tls: Option<&crate::client_tls::TlsOptions>,
    ) -> Result<Client, ClientError> {
        let Some(tls) = tls else {
            return Ok(Client::new(address));
        };
        let connect_to = normalize_address(address);
        let (agent, address) = tls.agent(agent_config(), &connect_to)?;
        Ok(Client {
            address,
            token: None,
            namespace: None,
            agent,
            connect_to,
            tls: Some(tls.clone()),
        })
    }

    /// `NOMAD_ADDR` (default http://127.0.0.1:4646), `NOMAD_TOKEN` and the TLS variables
    /// (`NOMAD_CACERT` ...), as the nomad CLI reads them.
    pub fn from_env() -> Result<Client, ClientError> {
        let addr = std::env::var("NOMAD_ADDR")
            .ok()
            .filter(|a| !a.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_ADDRESS.to_string());
        let token = std::env::var("NOMAD_TOKEN").ok().filter(|t| !t.is_empty());
        let namespace = std::env::var("NOMAD_NAMESPACE").ok();
        let tls = crate::client_tls::TlsOptions::from_env()?;
        Ok(Client::new_with_tls(&addr, tls.as_ref())?
            .with_token(token)
            .with_namespace(namespace))
    }

    pub fn with_token(mut self, token: Option<String>) -> Client {
        self.token = token;
        self
    }

    pub fn with_namespace(mut self, namespace: Option<String>) -> Client {
        self.namespace = namespace.filter(|n| !n.is_empty());
        self
    }

    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// The ACL token sent with every request, if any.
    /// The agent's address as given ("https://127.0.0.1:4646"): where a connection made
    /// outside this client (the exec WebSocket) goes.
    pub fn connect_address(&self) -> &str {
        &self.connect_to
    }

    /// The TLS settings, for a connection made outside this client.
    pub fn tls(&self) -> Option<&crate::client_tls::TlsOptions> {
        self.tls.as_ref()
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Response<Body>, ClientError> {
        let url = self.url(path);
        let transport = |e: ureq::Error| {
            ClientError::Transport(format!("{} {:?}: {}", method.name(), url, describe(&e)))
        };
        let extra = match &self.namespace {
            Some(ns) if !query.iter().any(|(k, _)| *k == "namespace") => {
                Some(("namespace", ns.as_str()))
            }
            _ => None,
        };
        let pairs = query.iter().map(|(k, v)| (*k, *v)).chain(extra);
        let token = self.token.as_deref();
        let resp = match (&method, body) {
            (Method::Get, _) => with_token(self.agent.get(&url), token)
                .query_pairs(pairs)
                .call(),
            (Method::Delete, _) => with_token(self.agent.delete(&url), token)
                .query_pairs(pairs)
                .call(),
            (Method::Put, b) | (Method::Post, b) => {
                let req = if matches!(method, Method::Put) {
                    self.agent.put(&url)
                } else {
                    self.agent.post(&url)
                };
                let req = with_token(req, token)
                    .query_pairs(pairs)
                    .header("Content-Type", "application/json");
                req.send(b.unwrap_or_default())
            }
        }
        .map_err(transport)?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(http_error(resp))
    }

    fn decode<T: DeserializeOwned>(resp: Response<Body>) -> Result<(T, QueryMeta), ClientError> {
        let meta = query_meta(&resp);
        let text = resp
            .into_body()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_string()
            .map_err(|e| ClientError::Decode(format!("reading response: {}", describe(&e))))?;
        let value = serde_json::from_str(&text)
            .map_err(|e| ClientError::Decode(format!("decoding response: {e}")))?;
        Ok((value, meta))
    }

    /// GET `path` (e.g. "/v1/jobs") with query pairs; JSON-decodes the body.
    pub fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<(T, QueryMeta), ClientError> {
        Self::decode(self.send(Method::Get, path, query, None)?)
    }

    /// GET with blocking-query options on top of `query`.
    pub fn get_blocking<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        opts: &QueryOptions,
    ) -> Result<(T, QueryMeta), ClientError> {
        let extra = opts.pairs();
        let mut all: Vec<(&str, &str)> = query.to_vec();
        all.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        self.get(path, &all)
    }

    fn write<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: &B,
    ) -> Result<T, ClientError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| ClientError::Decode(format!("encoding request: {e}")))?;
        Self::decode(self.send(method, path, query, Some(bytes))?).map(|(v, _)| v)
    }

    pub fn put<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        body: &B,
    ) -> Result<T, ClientError> {
        self.write(Method::Put, path, query, body)
    }

    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        body: &B,
    ) -> Result<T, ClientError> {
        self.write(Method::Post, path, query, body)
    }

    pub fn delete<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ClientError> {
        Self::decode(self.send(Method::Delete, path, query, None)?).map(|(v, _)| v)
    }

    /// DELETE of an endpoint that answers success with an empty body: only the status counts,
    /// whatever the body holds is drained and ignored.
    pub fn delete_no_content(&self, path: &str, query: &[(&str, &str)]) -> Result<(), ClientError> {
        self.no_content(Method::Delete, path, query)
    }

    /// PUT with no body, for endpoints that answer an empty 200 (`/v1/agent/force-leave`).
    pub fn put_no_content(&self, path: &str, query: &[(&str, &str)]) -> Result<(), ClientError> {
        self.no_content(Method::Put, path, query)
    }

    fn no_content(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<(), ClientError> {
        let resp = self.send(method, path, query, None)?;
        resp.into_body()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_vec()
            .map_err(|e| ClientError::Decode(format!("reading response: {}", describe(&e))))?;
        Ok(())
    }
}

fn with_token<B>(req: ureq::RequestBuilder<B>, token: Option<&str>) -> ureq::RequestBuilder<B> {
    match token {
        Some(t) => req.header("X-Nomad-Token", t),
        None => req,
    }
}

fn stale_query(stale: bool) -> Vec<(&'static str, &'static str)> {
    if stale {
        vec![("stale", "true")]
    } else {
        Vec::new()
    }
}

fn prefix_query(prefix: &str) -> Vec<(&str, &str)> {
    if prefix.is_empty() {
        Vec::new()
    } else {
        vec![("prefix", prefix)]
    }
}

/// Percent-encodes one path segment (ids are usually safe, job names may not be).
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn header<'a>(resp: &'a Response<Body>, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

fn query_meta(resp: &Response<Body>) -> QueryMeta {
    QueryMeta {
        last_index: header(resp, "X-Nomad-Index")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        known_leader: header(resp, "X-Nomad-KnownLeader") == Some("true"),
        last_contact_ms: header(resp, "X-Nomad-LastContact")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        next_token: header(resp, "X-Nomad-NextToken").map(String::from),
    }
}

fn http_error(resp: Response<Body>) -> ClientError {
    let status = resp.status();
    let body = resp
        .into_body()
        .with_config()
        .limit(64 * 1024)
        .lossy_utf8(true)
        .read_to_string()
        .unwrap_or_default();
    let body = if body.trim().is_empty() {
        status.canonical_reason().unwrap_or("").to_string()
    } else {
        body
    };
    ClientError::Http {
        status: status.as_u16(),
        body,
    }
}

/// ureq's messages prefix "io: "; the OS message alone reads like Nomad's ("connection refused").
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) => {
            let text = io.to_string();
            // "Connection refused (os error 111)" -> "connection refused"
            let text = match text.find(" (os error") {
                Some(i) => &text[..i],
                None => &text,
            };
            let mut chars = text.chars();
            let text: String = match chars.next() {
                Some(c) => c.to_lowercase().chain(chars).collect(),
                None => String::new(),
            };
            match tls_hint(&text) {
                Some(hint) => format!("{text}: {hint}"),
                None => text,
            }
        }
        other => {
            let text = other.to_string();
            match tls_hint(&text) {
                Some(hint) => format!("{text}: {hint}"),
                None => text,
            }
        }
    }
}

/// What to do about a TLS failure, in the terms of Nomad's environment variables.
fn tls_hint(error: &str) -> Option<&'static str> {
    if error.contains("UnknownIssuer") {
        Some("the agent's certificate is not signed by a CA this client trusts; set NOMAD_CACERT to the cluster's CA file")
    } else if error.contains("CertificateRequired") || error.contains("HandshakeFailure") {
        Some("the agent requires a client certificate; set NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY")
    } else if error.contains("NotValidForName") {
        Some("the agent's certificate does not name this address; set NOMAD_TLS_SERVER_NAME to a name it carries (server.<region>.nomad)")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_error_reads_like_nomad() {
        let e = ClientError::Http {
            status: 404,
            body: "job not found\n".into(),
        };
        assert_eq!(
            e.to_string(),
            "Unexpected response code: 404 (job not found)"
        );
        assert!(e.is_not_found());
    }

    #[test]
    fn address_gets_a_scheme_and_loses_trailing_slash() {
        assert_eq!(
            Client::new("127.0.0.1:4646").address(),
            "http://127.0.0.1:4646"
        );
        assert_eq!(Client::new("http://h:1/").address(), "http://h:1");
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(seg("web-1.a_b~"), "web-1.a_b~");
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn blocking_options_become_query_pairs() {
        let q = QueryOptions::blocking(7, Duration::from_secs(2)).pairs();
        assert_eq!(
            q,
            vec![
                ("index".into(), "7".into()),
                ("wait".into(), "2000ms".into())
            ]
        );
        assert!(QueryOptions::default().pairs().is_empty());
    }

    /// Serves one canned HTTP answer on a loopback port; the thread returns the request line.
    fn one_shot_server(answer: &str) -> (String, std::thread::JoinHandle<String>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let answer = answer.to_string();
        let handle = std::thread::spawn(move || {
            let Ok((stream, _)) = listener.accept() else {
                return String::new();
            };
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            // Requests without a body end at the blank line after the headers.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let _ = reader.get_mut().write_all(answer.as_bytes());
            request_line.trim_end().to_string()
        });
        (addr, handle)
    }

    #[test]
    fn remove_raft_peer_accepts_an_empty_200() {
        let (addr, server) = one_shot_server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        let result = Client::new(&addr).remove_raft_peer(Some("127.0.0.1:4647"), None);
        assert_eq!(result, Ok(()));
        assert_eq!(
            server.join().unwrap(),
            "DELETE /v1/operator/raft/peer?address=127.0.0.1%3A4647 HTTP/1.1"
        );
    }

    #[test]
    fn remove_raft_peer_reports_the_agents_refusal() {
        let (addr, server) = one_shot_server(
            "HTTP/1.1 404 Not Found\r\nContent-Length: 19\r\n\r\nunknown raft peer 9",
        );
        let result = Client::new(&addr).remove_raft_peer(None, Some("9"));
        assert_eq!(
            result,
            Err(ClientError::Http {
                status: 404,
                body: "unknown raft peer 9".into()
            })
        );
        assert_eq!(
            server.join().unwrap(),
            "DELETE /v1/operator/raft/peer?id=9 HTTP/1.1"
        );
    }

    #[test]
    fn raft_configuration_asks_for_stale_only_when_told() {
        let body = r#"{"Index":5,"Servers":[{"ID":"1","Node":"s1.global","Address":"127.0.0.1:4647","Leader":true,"Voter":true,"RaftProtocol":"3"}]}"#;
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        for (stale, path) in [
            (true, "/v1/operator/raft/configuration?stale=true"),
            (false, "/v1/operator/raft/configuration"),
        ] {
            let (addr, server) = one_shot_server(&answer);
            let config = Client::new(&addr).raft_configuration(stale).unwrap();
            assert_eq!(config.index, 5);
            assert_eq!(config.servers.len(), 1);
            assert!(config.servers[0].leader);
            assert_eq!(config.servers[0].address, "127.0.0.1:4647");
            assert_eq!(server.join().unwrap(), format!("GET {path} HTTP/1.1"));
        }
    }

    #[test]
    fn refused_connection_is_a_transport_error() {
        // Port 1 on loopback: nothing listens there in a test environment.
        let c = Client::new("http://127.0.0.1:1");
        match c.status_leader() {
            Err(ClientError::Transport(msg)) => {
                assert!(msg.contains("/v1/status/leader"), "{msg}");
                assert!(msg.ends_with("connection refused"), "{msg}");
            }
            other => panic!("expected a transport error, got {other:?}"),
        }
    }
}
