//! A cluster of server-only agents, each its own process on loopback ports, for the tests of the
//! replicated control plane: start N servers that bootstrap together, find the leader they agree
//! on, kill -9 and restart servers on their own data dirs, add a fresh server, and write or read
//! jobs through any one of them. Every process dies when the `Cluster` drops.

use crate::tls::TlsFiles;
use crate::{free_ports, wait_for, Agent};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

/// Longer than the agent's bounded wait for a quorum (< 15 s): a write that cannot commit must
/// come back as the agent's error, not as our timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// An answer of one server, whatever its status.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.body)
            .with_context(|| format!("decoding a {} answer: {}", self.status, self.body))
    }
}

/// Sends one request with `REQUEST_TIMEOUT`; any status is an answer, only no answer is an error.
pub fn send(method: &str, url: &str, body: Option<&str>) -> Result<Reply> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(REQUEST_TIMEOUT))
        .build()
        .into();
    send_with(&agent, method, url, body)
}

/// `send` through `agent` (an HTTPS one, say).
pub fn send_with(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    body: Option<&str>,
) -> Result<Reply> {
    let resp = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        ("DELETE", _) => agent.delete(url).call(),
        ("POST", Some(b)) => agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(b),
        ("POST", None) => agent.post(url).send_empty(),
        ("PUT", Some(b)) => agent
            .put(url)
            .header("Content-Type", "application/json")
            .send(b),
        ("PUT", None) => agent.put(url).send_empty(),
        _ => bail!("unsupported method {method}"),
    };
    let mut resp = resp.with_context(|| format!("{method} {url}"))?;
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (k.as_str().to_ascii_lowercase(), value)
        })
        .collect();
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// The body of a small service job. A server-only cluster has no client, so it is stored and
/// evaluated but never placed: no process is started for it.
pub fn job_json(id: &str) -> String {
    json!({
        "Job": {
            "ID": id,
            "Name": id,
            "Type": "service",
            "Datacenters": ["dc1"],
            "TaskGroups": [{
                "Name": "g",
                "Count": 1,
                "Tasks": [{
                    "Name": "t",
                    "Driver": "raw_exec",
                    "Config": {"command": "/bin/sleep", "args": ["3600"]},
                    "Resources": {"CPU": 20, "MemoryMB": 32}
                }]
            }]
        }
    })
    .to_string()
}

/// The rows of a `nomadctl` table as header -> cell maps. Columns are found where the header's
/// names start (Nomad's headers may hold one space, "Raft Version"; columns are 2+ apart).
pub fn parse_table(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let mut starts = vec![0];
    let bytes = header.as_bytes();
    for i in 2..bytes.len() {
        if bytes[i] != b' ' && bytes[i - 1] == b' ' && bytes[i - 2] == b' ' {
            starts.push(i);
        }
    }
    let cell = |line: &str, k: usize| {
        let end = starts.get(k + 1).copied().unwrap_or(usize::MAX);
        let from = starts[k].min(line.len());
        let to = end.min(line.len());
        line.get(from..to).unwrap_or("").trim().to_string()
    };
    let names: Vec<String> = (0..starts.len()).map(|k| cell(header, k)).collect();
    lines
        .map(|line| {
            names
                .iter()
                .enumerate()
                .map(|(k, name)| (name.clone(), cell(line, k)))
                .collect()
        })
        .collect()
}

pub struct Cluster {
    /// Declared before `dir`: the processes die before their data dirs are removed.
    pub servers: Vec<Agent>,
    /// Client agents (`--client --servers ...`), also before `dir`.
    pub clients: Vec<Agent>,
    /// How many servers the cluster was started with (its `bootstrap_expect`).
    expect: usize,
    extra_config: String,
    /// HCL added at the top level of each server's config (a `template` block, say).
    agent_config: String,
    /// Certificates when every agent runs with TLS on (see `start_tls`).
    tls: Option<Arc<TlsFiles>>,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// `n` servers as separate processes on free loopback ports, `bootstrap_expect = n`, each
    /// retry-joining all of them. `extra_config` is HCL put inside each server's `server { }`
    /// block (e.g. "raft_snapshot_threshold = 50\nraft_trailing_logs = 10"). Returns once every
    /// HTTP API answers; the servers may not have elected a leader yet (see `wait_leader`).
    pub fn start(n: usize, extra_config: &str) -> Result<Cluster> {
        Self::start_with(n, extra_config, "")
    }

    /// `start`, with `agent_config` added at the top level of every server's config file.
    pub fn start_with(n: usize, extra_config: &str, agent_config: &str) -> Result<Cluster> {
        Self::start_inner(n, extra_config, agent_config, None)
    }

    /// `start` with TLS on for rpc and HTTP, client certificates verified: each server gets the
    /// server certificate of `tls`, the harness and `nomadctl` the CLI one.
    pub fn start_tls(n: usize, tls: Arc<TlsFiles>) -> Result<Cluster> {
        Self::start_inner(n, "", "", Some(tls))
    }

    fn start_inner(
        n: usize,
        extra_config: &str,
        agent_config: &str,
        tls: Option<Arc<TlsFiles>>,
    ) -> Result<Cluster> {
        let dir = tempfile::tempdir().context("creating the cluster's temp dir")?;
        let ports = free_ports(2 * n);
        let (http_ports, rpc_ports) = ports.split_at(n);
        let mut cluster = Cluster {
            servers: Vec::with_capacity(n),
            clients: Vec::new(),
            expect: n,
            extra_config: extra_config.to_string(),
            agent_config: agent_config.to_string(),
            tls,
            dir,
        };
        let join: Vec<String> = rpc_ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        for (http_port, rpc_port) in http_ports.iter().zip(rpc_ports) {
            cluster.spawn(*http_port, *rpc_port, &join)?;
        }
        Ok(cluster)
    }

    /// Starts server number `servers.len()` with its own data dir, log and config file.
    fn spawn(&mut self, http_port: u16, rpc_port: u16, join: &[String]) -> Result<usize> {
        let index = self.servers.len();
        let name = format!("server-{}", index + 1);
        let home = self.dir.path().join(&name);
        std::fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
        let data_dir = home.join("data");
        let config = home.join("server.hcl");
        let config_text = format!(
            "server {{\n  enabled = true\n  bootstrap_expect = {}\n  {}\n}}\n{}\n{}",
            self.expect,
            self.extra_config.trim(),
            self.agent_config,
            self.tls
                .as_ref()
                .map(|t| t.agent_block("server"))
                .unwrap_or_default()
        );
        std::fs::write(&config, config_text)
            .with_context(|| format!("writing {}", config.display()))?;
        let mut args: Vec<String> = [
            "--server",
            "--bootstrap-expect",
            &self.expect.to_string(),
            "--data-dir",
            &data_dir.display().to_string(),
            "--bind",
            "127.0.0.1",
            "--http-port",
            &http_port.to_string(),
            "--rpc-port",
            &rpc_port.to_string(),
            "--node",
            &name,
            "--config",
            &config.display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for peer in join {
            args.push("--retry-join".to_string());
            args.push(peer.clone());
        }
        let agent = Agent::with_args_tls(
            data_dir,
            home.join("agent.log"),
            (http_port, rpc_port),
            args,
            Vec::new(),
            self.tls.clone(),
        )
        .with_context(|| format!("starting {name}"))?;
        self.servers.push(agent);
        Ok(index)
    }

    /// Indexes of the servers whose process this harness has running.
    pub fn live(&self) -> Vec<usize> {
        (0..self.servers.len())
            .filter(|&i| self.servers[i].pid().is_some())
            .collect()
    }

    /// "127.0.0.1:<rpc port>", the way `/v1/status/leader` and the raft configuration name it.
    pub fn rpc_address(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.servers[i].rpc_port)
    }

    pub fn address(&self, i: usize) -> String {
        self.servers[i].address()
    }

    /// The leader as server `i` sees it ("" when it knows none).
    pub fn leader_seen_by(&self, i: usize) -> Result<String> {
        let reply = self.http(i, "GET", "/v1/status/leader", None)?;
        if !reply.is_success() {
            bail!(
                "/v1/status/leader answered {}: {}",
                reply.status,
                reply.body
            );
        }
        Ok(reply.json()?.as_str().unwrap_or_default().to_string())
    }

    /// The index of the server that leads, once every live server names the same one.
    pub fn wait_leader(&self, timeout: Duration) -> Result<usize> {
        let live = self.live();
        if live.is_empty() {
            bail!("no server is running");
        }
        wait_for("all live servers to agree on a leader", timeout, || {
            let mut seen = BTreeSet::new();
            for &i in &live {
                seen.insert(self.leader_seen_by(i).ok()?);
            }
            if seen.len() != 1 {
                return None;
            }
            let leader = seen.into_iter().next()?;
            live.iter()
                .copied()
                .find(|&i| !leader.is_empty() && self.rpc_address(i) == leader)
        })
        .map_err(|e| anyhow!("{e}\n{}", self.report()))
    }

    /// A live server other than `leader` (the first one).
    pub fn follower_of(&self, leader: usize) -> Result<usize> {
        self.live()
            .into_iter()
            .find(|&i| i != leader)
            .ok_or_else(|| anyhow!("no live server besides the leader {leader}"))
    }

    /// SIGKILL, as a crash would. The data dir stays for `restart`.
    pub fn kill(&mut self, i: usize) {
        self.servers[i].kill();
    }

    /// Starts server `i` again on the same ports and data dir (killing it first if it runs).
    pub fn restart(&mut self, i: usize) -> Result<()> {
        self.servers[i].kill();
        self.servers[i]
            .start()
            .with_context(|| format!("restarting server {i}"))
    }

    /// A new server with an empty data dir that retry-joins every server started so far.
    pub fn add_server(&mut self) -> Result<usize> {
        let join: Vec<String> = (0..self.servers.len())
            .map(|i| self.rpc_address(i))
            .collect();
        let ports = free_ports(2);
        self.spawn(ports[0], ports[1], &join)
    }

    /// A new server with an empty data dir that knows no other server: it joins only when told
    /// to (`server join`).
    pub fn add_lone_server(&mut self) -> Result<usize> {
        let ports = free_ports(2);
        self.spawn(ports[0], ports[1], &[])
    }

    /// A client agent named `name` with its own data dir, joined to every server, raw_exec
    /// enabled. Returns once its HTTP API answers; its node registers shortly after.
    pub fn add_client(&mut self, name: &str) -> Result<usize> {
        self.add_client_with_env(name, &[])
    }

    /// `add_client` with extra environment for the agent (DOCKER_HOST, say).
    pub fn add_client_with_env(&mut self, name: &str, env: &[(&str, &str)]) -> Result<usize> {
        self.add_client_with(name, env, "")
    }

    /// `add_client` with extra environment and `config` (HCL) added to its config file.
    pub fn add_client_with(
        &mut self,
        name: &str,
        env: &[(&str, &str)],
        config: &str,
    ) -> Result<usize> {
        let home = self.dir.path().join(name);
        std::fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
        // Tasks may run as nobody: the path to their directories must be traversable.
        std::fs::set_permissions(
            self.dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )?;
        let path = home.join("client.hcl");
        std::fs::write(
            &path,
            format!(
                "plugin \"raw_exec\" {{\n  config {{\n    enabled = true\n  }}\n}}\n{config}\n{}",
                self.tls
                    .as_ref()
                    .map(|t| t.agent_block("client"))
                    .unwrap_or_default()
            ),
        )?;
        let config = path;
        let ports = free_ports(2);
        let servers: Vec<String> = (0..self.servers.len())
            .map(|i| self.rpc_address(i))
            .collect();
        let mut args: Vec<String> = [
            "--client",
            "--node",
            name,
            "--data-dir",
            &home.join("data").display().to_string(),
            "--bind",
            "127.0.0.1",
            "--http-port",
            &ports[0].to_string(),
            "--rpc-port",
            &ports[1].to_string(),
            "--config",
            &config.display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for s in servers {
            args.extend(["--servers".to_string(), s]);
        }
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let agent = Agent::with_args_tls(
            home.join("data"),
            home.join("agent.log"),
            (ports[0], ports[1]),
            args,
            env,
            self.tls.clone(),
        )
        .with_context(|| format!("starting client {name}"))?;
        self.clients.push(agent);
        Ok(self.clients.len() - 1)
    }

    /// SIGKILL of client `i`'s agent; its tasks, in their own sessions, keep running.
    pub fn kill_client(&mut self, i: usize) {
        self.clients[i].kill();
    }

    /// Starts client `i` again on its data dir.
    pub fn restart_client(&mut self, i: usize) -> Result<()> {
        self.clients[i].kill();
        self.clients[i]
            .start()
            .with_context(|| format!("restarting client {i}"))
    }

    /// One request to server `i` (`path` starts with "/v1/").
    pub fn http(&self, i: usize, method: &str, path: &str, body: Option<&str>) -> Result<Reply> {
        let url = format!("{}{path}", self.address(i));
        match &self.tls {
            None => send(method, &url, body),
            Some(tls) => send_with(&tls.https_agent(Some(REQUEST_TIMEOUT))?, method, &url, body),
        }
    }

    /// `GET path` from client `i`'s own API, with `token` as `X-Nomad-Token`: status and body.
    pub fn client_get(&self, i: usize, path: &str, token: &str) -> Result<(u16, Vec<u8>)> {
        let agent = match &self.tls {
            None => ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(REQUEST_TIMEOUT))
                .build()
                .into(),
            Some(tls) => tls.https_agent(Some(REQUEST_TIMEOUT))?,
        };
        let url = format!("{}{path}", self.clients[i].address());
        let mut resp = agent
            .get(&url)
            .header("X-Nomad-Token", token)
            .call()
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_vec().unwrap_or_default();
        Ok((status, body))
    }

    /// POSTs a small service job `id` to server `i`: (status, body).
    pub fn register_job(&self, i: usize, id: &str) -> Result<(u16, String)> {
        let reply = self.http(i, "POST", "/v1/jobs", Some(&job_json(id)))?;
        Ok((reply.status, reply.body))
    }

    /// Registers `id` through server `i`, retrying until a write is acknowledged (after an
    /// election, say). Re-registering an unchanged job is harmless.
    pub fn register_job_until_ok(&self, i: usize, id: &str, timeout: Duration) -> Result<()> {
        let mut last = String::new();
        wait_for(
            &format!("job {id} to be registered"),
            timeout,
            || match self.register_job(i, id) {
                Ok((status, _)) if (200..300).contains(&status) => Some(()),
                Ok((status, body)) => {
                    last = format!("{status}: {body}");
                    None
                }
                Err(e) => {
                    last = format!("{e:#}");
                    None
                }
            },
        )
        .map_err(|e| anyhow!("{e}; last answer {last}\n{}", self.report()))
    }

    /// The job list of server `i` (`GET /v1/jobs`, `?stale=true` to answer from its own state).
    pub fn jobs_list(&self, i: usize, stale: bool) -> Result<Vec<Value>> {
        let path = if stale {
            "/v1/jobs?stale=true"
        } else {
            "/v1/jobs"
        };
        let reply = self.http(i, "GET", path, None)?;
        if !reply.is_success() {
            bail!("GET {path} on server {i}: {} {}", reply.status, reply.body);
        }
        let mut jobs = match reply.json()? {
            Value::Array(a) => a,
            other => bail!("GET {path} on server {i} is not a list: {other}"),
        };
        jobs.sort_by(|a, b| a["ID"].as_str().cmp(&b["ID"].as_str()));
        Ok(jobs)
    }

    /// The ids of the jobs server `i` has, sorted.
    pub fn jobs_on(&self, i: usize, stale: bool) -> Result<Vec<String>> {
        Ok(self
            .jobs_list(i, stale)?
            .iter()
            .filter_map(|j| j["ID"].as_str().map(String::from))
            .collect())
    }

    /// Waits until server `i`'s own state (stale read) holds every job of `ids`.
    pub fn wait_jobs_on(&self, i: usize, ids: &BTreeSet<String>, timeout: Duration) -> Result<()> {
        let mut missing = ids.len();
        wait_for(
            &format!("server {i} to hold {} jobs", ids.len()),
            timeout,
            || {
                let have: BTreeSet<String> = self.jobs_on(i, true).ok()?.into_iter().collect();
                missing = ids.difference(&have).count();
                (missing == 0).then_some(())
            },
        )
        .map_err(|e| anyhow!("{e}: {missing} still missing\n{}", self.report()))
    }

    /// Waits until every live server answers the same stale job list (full content, not just
    /// ids) and returns it.
    pub fn wait_same_jobs(&self, timeout: Duration) -> Result<Vec<Value>> {
        let live = self.live();
        let mut last: Vec<Result<Vec<Value>>> = Vec::new();
        wait_for("all live servers to hold the same jobs", timeout, || {
            last = live.iter().map(|&i| self.jobs_list(i, true)).collect();
            let first = last.first()?.as_ref().ok()?;
            last.iter()
                .all(|l| l.as_ref().is_ok_and(|l| l == first))
                .then(|| first.clone())
        })
        .map_err(|e| {
            let views: Vec<String> = live
                .iter()
                .zip(&last)
                .map(|(i, l)| match l {
                    Ok(jobs) => format!("server {i}: {}", Value::Array(jobs.clone())),
                    Err(e) => format!("server {i}: {e:#}"),
                })
                .collect();
            anyhow!("{e}\n{}\n{}", views.join("\n"), self.report())
        })
    }

    /// `GET /v1/operator/raft/configuration` on server `i`.
    pub fn raft_configuration(&self, i: usize, stale: bool) -> Result<Value> {
        let path = if stale {
            "/v1/operator/raft/configuration?stale=true"
        } else {
            "/v1/operator/raft/configuration"
        };
        let reply = self.http(i, "GET", path, None)?;
        if !reply.is_success() {
            bail!("GET {path} on server {i}: {} {}", reply.status, reply.body);
        }
        reply.json()
    }

    /// Runs `nomadctl` against server `i`.
    pub fn ctl(&self, i: usize, args: &[&str]) -> Output {
        self.servers[i].ctl(args)
    }

    pub fn log(&self, i: usize) -> String {
        self.servers[i].log()
    }

    /// The highest index server `i`'s log says raft purged its log up to (0: none yet).
    pub fn purged_upto(&self, i: usize) -> u64 {
        self.logged_max(i, "raft: log purged", "upto")
    }

    /// The largest value of the number `field=` in the lines of server `i`'s log that say
    /// `message` (0: none).
    pub fn logged_max(&self, i: usize, message: &str, field: &str) -> u64 {
        let key = format!("{field}=");
        self.log(i)
            .lines()
            .filter(|l| l.contains(message))
            .filter_map(|l| {
                l.split(key.as_str())
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .max()
            .unwrap_or(0)
    }

    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.servers[i].data_dir.clone()
    }

    /// Waits until server 0 lists exactly `n` nodes, all ready; returns each node's `field`
    /// ("Name", "Datacenter", ...) by node id.
    pub fn wait_ready_nodes(
        &self,
        n: usize,
        field: &str,
        timeout: Duration,
    ) -> Result<BTreeMap<String, String>> {
        wait_for(&format!("{n} ready nodes"), timeout, || {
            let nodes = self.http(0, "GET", "/v1/nodes", None).ok()?.json().ok()?;
            let nodes = nodes.as_array()?;
            (nodes.len() == n && nodes.iter().all(|x| x["Status"] == "ready")).then(|| {
                nodes
                    .iter()
                    .map(|x| {
                        let id = x["ID"].as_str().unwrap_or("").to_string();
                        (id, x[field].as_str().unwrap_or("").to_string())
                    })
                    .collect()
            })
        })
        .map_err(|e| anyhow!("{e}\n{}", self.report()))
    }

    /// What each server says about the leader and the end of its log: for failure messages.
    pub fn report(&self) -> String {
        let mut out = String::new();
        for (i, s) in self.servers.iter().enumerate() {
            let view = if s.pid().is_some() {
                match self.leader_seen_by(i) {
                    Ok(l) => format!("leader seen: {l:?}"),
                    Err(e) => format!("leader seen: error {e:#}"),
                }
            } else {
                "killed".to_string()
            };
            let log = s.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            out.push_str(&format!(
                "--- server {i} (rpc {}, http {}): {view} ---\n{tail}\n",
                self.rpc_address(i),
                s.http_port
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_split_on_header_columns_even_with_spaced_names() {
        let text = "Name      Address   Port  Status  Leader  Raft Version  Build\n\
                    a.global  10.0.0.1  4648  alive   false   3             0.1.0\n\
                    b.global  10.0.0.2  4648  failed  true    3\n";
        let rows = parse_table(text);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["Name"], "a.global");
        assert_eq!(rows[0]["Raft Version"], "3");
        assert_eq!(rows[0]["Build"], "0.1.0");
        assert_eq!(rows[1]["Status"], "failed");
        assert_eq!(rows[1]["Leader"], "true");
        assert_eq!(rows[1]["Build"], "");
        assert!(parse_table("").is_empty());
    }

    #[test]
    fn ports_are_distinct() {
        let ports: BTreeSet<u16> = free_ports(6).into_iter().collect();
        assert_eq!(ports.len(), 6);
        assert!(!ports.contains(&0));
    }

    #[test]
    fn the_job_body_is_a_register_request() {
        let body: Value = serde_json::from_str(&job_json("web-1")).unwrap_or_default();
        assert_eq!(body["Job"]["ID"], "web-1");
        assert_eq!(
            body["Job"]["TaskGroups"][0]["Tasks"][0]["Driver"],
            "raw_exec"
        );
    }
}
