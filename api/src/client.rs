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
    agent: ureq::Agent,
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
            address,
            token: None,
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
        let address = normalize_address(address);
        let (agent, address) = tls.agent(agent_config(), &address)?;
        Ok(Client {
            address,
            token: None,
            agent,
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
        let tls = crate::client_tls::TlsOptions::from_env()?;
        Ok(Client::new_with_tls(&addr, tls.as_ref())?.with_token(token))
    }

    pub fn with_token(mut self, token: Option<String>) -> Client {
        self.token = token;
        self
    }

    pub fn address(&self) -> &str {
        &self.address
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
        let pairs = query.iter().map(|(k, v)| (*k, *v));
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
        let resp = self.send(Method::Delete, path, query, None)?;
        resp.into_body()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_vec()
            .map_err(|e| ClientError::Decode(format!("reading response: {}", describe(&e))))?;
        Ok(())
    }
}

/// Typed helpers, one per endpoint the CLI uses.
impl Client {
    pub fn jobs(&self, prefix: &str) -> Result<Vec<JobListStub>, ClientError> {
        Ok(self.get("/v1/jobs", &prefix_query(prefix))?.0)
    }

    pub fn job(&self, id: &str) -> Result<Job, ClientError> {
        Ok(self.get(&format!("/v1/job/{}", seg(id)), &[])?.0)
    }

    /// Registers `job`; `enforce_index` = Some(i) is `-check-index i`.
    pub fn register_job(
        &self,
        job: &Job,
        enforce_index: Option<u64>,
    ) -> Result<JobRegisterResponse, ClientError> {
        let req = JobRegisterRequest {
            job: job.clone(),
            enforce_index: enforce_index.is_some(),
            job_modify_index: enforce_index.unwrap_or(0),
            policy_override: false,
        };
        self.post("/v1/jobs", &[], &req)
    }

    pub fn deregister_job(
        &self,
        id: &str,
        purge: bool,
    ) -> Result<JobDeregisterResponse, ClientError> {
        let purge = if purge { "true" } else { "false" };
        self.delete(&format!("/v1/job/{}", seg(id)), &[("purge", purge)])
    }

    pub fn job_allocations(&self, id: &str, all: bool) -> Result<Vec<Allocation>, ClientError> {
        let all = if all { "true" } else { "false" };
        let path = format!("/v1/job/{}/allocations", seg(id));
        Ok(self.get(&path, &[("all", all)])?.0)
    }

    pub fn job_evaluations(&self, id: &str) -> Result<Vec<Evaluation>, ClientError> {
        Ok(self
            .get(&format!("/v1/job/{}/evaluations", seg(id)), &[])?
            .0)
    }

    pub fn job_summary(&self, id: &str) -> Result<JobSummary, ClientError> {
        Ok(self.get(&format!("/v1/job/{}/summary", seg(id)), &[])?.0)
    }

    pub fn job_versions(&self, id: &str, diffs: bool) -> Result<JobVersionsResponse, ClientError> {
        let q: &[(&str, &str)] = if diffs { &[("diffs", "true")] } else { &[] };
        Ok(self.get(&format!("/v1/job/{}/versions", seg(id)), q)?.0)
    }

    /// A dry run of the scheduler for `job` (`POST /v1/job/:id/plan`), with the diff.
    pub fn plan_job(&self, job: &Job, diff: bool) -> Result<crate::JobPlanResponse, ClientError> {
        let req = crate::JobPlanRequest {
            job: job.clone(),
            diff,
            policy_override: false,
        };
        self.post(&format!("/v1/job/{}/plan", seg(&job.id)), &[], &req)
    }

    /// Registers an earlier version's spec again (`POST /v1/job/:id/revert`).
    pub fn revert_job(
        &self,
        id: &str,
        version: u64,
        enforce_prior: Option<u64>,
    ) -> Result<JobRegisterResponse, ClientError> {
        let req = crate::job::JobRevertRequest {
            job_id: id.to_string(),
            job_version: version,
            enforce_prior_version: enforce_prior,
        };
        self.post(&format!("/v1/job/{}/revert", seg(id)), &[], &req)
    }

    /// Server-side parse of an HCL job (`POST /v1/jobs/parse`), canonicalized.
    pub fn parse_job(&self, hcl: &str) -> Result<Job, ClientError> {
        let req = JobsParseRequest {
            job_hcl: hcl.to_string(),
            canonicalize: true,
        };
        self.post("/v1/jobs/parse", &[], &req)
    }

    pub fn allocations(&self, prefix: &str) -> Result<Vec<Allocation>, ClientError> {
        Ok(self.get("/v1/allocations", &prefix_query(prefix))?.0)
    }

    pub fn allocation(&self, id: &str) -> Result<Allocation, ClientError> {
        Ok(self.get(&format!("/v1/allocation/{}", seg(id)), &[])?.0)
    }

    pub fn allocation_blocking(
        &self,
        id: &str,
        opts: &QueryOptions,
    ) -> Result<(Allocation, QueryMeta), ClientError> {
        self.get_blocking(&format!("/v1/allocation/{}", seg(id)), &[], opts)
    }

    pub fn stop_allocation(&self, id: &str) -> Result<AllocStopResponse, ClientError> {
        let path = format!("/v1/allocation/{}/stop", seg(id));
        self.post(&path, &[], &serde_json::json!({}))
    }

    pub fn evaluations(&self, prefix: &str) -> Result<Vec<Evaluation>, ClientError> {
        Ok(self.get("/v1/evaluations", &prefix_query(prefix))?.0)
    }

    pub fn evaluation(&self, id: &str) -> Result<Evaluation, ClientError> {
        Ok(self.get(&format!("/v1/evaluation/{}", seg(id)), &[])?.0)
    }

    pub fn evaluation_blocking(
        &self,
        id: &str,
        opts: &QueryOptions,
    ) -> Result<(Evaluation, QueryMeta), ClientError> {
        self.get_blocking(&format!("/v1/evaluation/{}", seg(id)), &[], opts)
    }

    pub fn eval_allocations(&self, id: &str) -> Result<Vec<Allocation>, ClientError> {
        Ok(self
            .get(&format!("/v1/evaluation/{}/allocations", seg(id)), &[])?
            .0)
    }

    pub fn eval_allocations_blocking(
        &self,
        id: &str,
        opts: &QueryOptions,
    ) -> Result<(Vec<Allocation>, QueryMeta), ClientError> {
        let path = format!("/v1/evaluation/{}/allocations", seg(id));
        self.get_blocking(&path, &[], opts)
    }

    pub fn nodes(&self, prefix: &str) -> Result<Vec<NodeListStub>, ClientError> {
        Ok(self.get("/v1/nodes", &prefix_query(prefix))?.0)
    }

    pub fn node(&self, id: &str) -> Result<Node, ClientError> {
        Ok(self.get(&format!("/v1/node/{}", seg(id)), &[])?.0)
    }

    /// Marks a node eligible or ineligible for new work.
    pub fn node_eligibility(
        &self,
        id: &str,
        eligible: bool,
    ) -> Result<crate::NodeUpdateResponse, ClientError> {
        let req = crate::NodeEligibilityRequest {
            node_id: id.to_string(),
            eligibility: if eligible {
                crate::NODE_ELIGIBLE
            } else {
                crate::NODE_INELIGIBLE
            }
            .to_string(),
        };
        self.post(&format!("/v1/node/{id}/eligibility"), &[], &req)
    }

    /// Starts a drain (`Some(spec)`) or ends it (`None`, then `mark_eligible`).
    pub fn node_drain(
        &self,
        id: &str,
        spec: Option<crate::DrainSpec>,
        mark_eligible: bool,
    ) -> Result<crate::NodeUpdateResponse, ClientError> {
        let req = crate::NodeDrainRequest {
            node_id: id.to_string(),
            drain_spec: spec,
            mark_eligible,
        };
        self.post(&format!("/v1/node/{id}/drain"), &[], &req)
    }

    pub fn node_allocations(&self, id: &str) -> Result<Vec<Allocation>, ClientError> {
        Ok(self
            .get(&format!("/v1/node/{}/allocations", seg(id)), &[])?
            .0)
    }

    /// `GET /v1/services`: service names (and their tags) per namespace; `"*"` for all.
    pub fn services(
        &self,
        namespace: &str,
    ) -> Result<Vec<crate::ServiceRegistrationListStub>, ClientError> {
        Ok(self.get("/v1/services", &[("namespace", namespace)])?.0)
    }

    /// `GET /v1/service/:name`: its registered instances.
    pub fn service(
        &self,
        name: &str,
        namespace: &str,
    ) -> Result<Vec<crate::ServiceRegistration>, ClientError> {
        Ok(self
            .get(
                &format!("/v1/service/{}", seg(name)),
                &[("namespace", namespace)],
            )?
            .0)
    }

    pub fn delete_service(&self, name: &str, id: &str, namespace: &str) -> Result<(), ClientError> {
        self.delete_no_content(
            &format!("/v1/service/{}/{}", seg(name), seg(id)),
            &[("namespace", namespace)],
        )
    }

    /// The live results of an allocation's checks, by check id.
    pub fn allocation_checks(
        &self,
        alloc_id: &str,
    ) -> Result<std::collections::BTreeMap<String, crate::CheckQueryResult>, ClientError> {
        Ok(self
            .get(
                &format!("/v1/client/allocation/{}/checks", seg(alloc_id)),
                &[],
            )?
            .0)
    }

    /// Renders a template once against the live catalog (the agent's renderer). A template
    /// that does not render comes back as an API error naming its file and line.
    pub fn render_template(&self, name: &str, template: &str) -> Result<String, ClientError> {
        #[derive(serde::Deserialize)]
        struct Rendered {
            #[serde(rename = "Output")]
            output: String,
        }
        let body = serde_json::json!({ "Name": name, "Template": template });
        let r: Rendered = self.post("/v1/agent/template/render", &[], &body)?;
        Ok(r.output)
    }

    pub fn deployments(&self, prefix: &str) -> Result<Vec<crate::Deployment>, ClientError> {
        Ok(self.get("/v1/deployments", &prefix_query(prefix))?.0)
    }

    pub fn deployment_blocking(
        &self,
        id: &str,
        opts: &QueryOptions,
    ) -> Result<(crate::Deployment, QueryMeta), ClientError> {
        self.get_blocking(&format!("/v1/deployment/{}", seg(id)), &[], opts)
    }

    /// The job's newest deployment, if it has one.
    pub fn job_latest_deployment(
        &self,
        job: &str,
    ) -> Result<Option<crate::Deployment>, ClientError> {
        Ok(self
            .get(&format!("/v1/job/{}/deployment", seg(job)), &[])?
            .0)
    }

    /// Promotes the canaries of every group, or of `groups`.
    pub fn promote_deployment(
        &self,
        id: &str,
        groups: Option<Vec<String>>,
    ) -> Result<crate::DeploymentUpdateResponse, ClientError> {
        let req = crate::DeploymentPromoteRequest {
            deployment_id: id.to_string(),
            all: groups.is_none(),
            groups,
        };
        self.post(&format!("/v1/deployment/promote/{}", seg(id)), &[], &req)
    }

    /// Pauses (`pause`) or resumes a deployment.
    pub fn pause_deployment(
        &self,
        id: &str,
        pause: bool,
    ) -> Result<crate::DeploymentUpdateResponse, ClientError> {
        let req = crate::DeploymentPauseRequest {
            deployment_id: id.to_string(),
            pause,
        };
        self.post(&format!("/v1/deployment/pause/{}", seg(id)), &[], &req)
    }

    pub fn fail_deployment(
        &self,
        id: &str,
    ) -> Result<crate::DeploymentUpdateResponse, ClientError> {
        let body = serde_json::json!({ "DeploymentID": id });
        self.post(&format!("/v1/deployment/fail/{}", seg(id)), &[], &body)
    }

    /// The leader's RPC address ("ip:port"), empty when there is none.
    pub fn status_leader(&self) -> Result<String, ClientError> {
        Ok(self.get("/v1/status/leader", &[])?.0)
    }

    pub fn status_peers(&self) -> Result<Vec<String>, ClientError> {
        Ok(self.get("/v1/status/peers", &[])?.0)
    }

    pub fn agent_self(&self) -> Result<serde_json::Value, ClientError> {
        Ok(self.get("/v1/agent/self", &[])?.0)
    }

    pub fn agent_members(&self) -> Result<ServerMembers, ClientError> {
        Ok(self.get("/v1/agent/members", &[])?.0)
    }

    /// The servers' raft configuration; `stale` lets a server without a leader answer from its
    /// own state.
    pub fn raft_configuration(&self, stale: bool) -> Result<RaftConfiguration, ClientError> {
        Ok(self
            .get("/v1/operator/raft/configuration", &stale_query(stale))?
            .0)
    }

    /// Removes a server from the raft configuration, named by its rpc address or its raft id.
    /// Both are passed through as given: the server checks that exactly one names a peer.
    pub fn remove_raft_peer(
        &self,
        address: Option<&str>,
        id: Option<&str>,
    ) -> Result<(), ClientError> {
        let mut query = Vec::new();
        if let Some(a) = address {
            query.push(("address", a));
        }
        if let Some(i) = id {
            query.push(("id", i));
        }
        self.delete_no_content("/v1/operator/raft/peer", &query)
    }

    /// A task's log as raw bytes (`plain=true`). With `follow` the agent keeps the response open
    /// and the reader blocks for new output; it ends when the agent closes the stream.
    pub fn logs(
        &self,
        alloc_id: &str,
        task: &str,
        kind: LogKind,
        follow: bool,
        origin: LogOrigin,
        offset: u64,
    ) -> Result<impl Read + Send + 'static, ClientError> {
        let path = format!("/v1/client/fs/logs/{}", seg(alloc_id));
        let offset = offset.to_string();
        let query = [
            ("task", task),
            ("type", kind.as_str()),
            ("follow", if follow { "true" } else { "false" }),
            (
                "origin",
                match origin {
                    LogOrigin::Start => "start",
                    LogOrigin::End => "end",
                },
            ),
            ("offset", offset.as_str()),
            ("plain", "true"),
        ];
        let resp = self.send(Method::Get, &path, &query, None)?;
        Ok(resp.into_body().into_with_config().limit(u64::MAX).reader())
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
pub(crate) fn seg(s: &str) -> String {
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
