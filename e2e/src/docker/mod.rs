//! Servers in Docker containers, for tests that need a real network between them (partitions).
//!
//! No registry is reachable, so the image is made here: the agent binary plus exactly the shared
//! libraries `ldd` names, piped through `tar` into `docker import`. Each cluster gets two private
//! networks: `raft` carries the servers' own traffic and is what a test cuts; `api` only carries
//! the test's HTTP requests, so a cut-off server can still be asked what it thinks.
//! Everything created carries labels naming this process, and is removed on drop; leftovers of
//! a killed test run are removed by the next run on the same host.

use crate::cluster::job_json;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

mod image;
pub use image::agent_image;

pub const HTTP_PORT: u16 = 4646;
pub const RPC_PORT: u16 = 4647;

const CLUSTER_LABEL: &str = "nomad.e2e.cluster";
const PID_LABEL: &str = "nomad.e2e.pid";
const HOST_LABEL: &str = "nomad.e2e.host";
/// Longer than the contract's bound on a write that cannot reach a quorum (< 15 s), so a server
/// that never answers shows up as an error rather than a hung test.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `docker` and returns its trimmed stdout, or an error carrying its stderr.
fn docker(args: &[&str]) -> Result<String> {
    let out = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running docker")?;
    if !out.status.success() {
        bail!(
            "docker {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Whether a Docker Engine answers, with the reason when it does not.
pub fn docker_usable() -> Result<(), String> {
    docker(&["info", "--format", "{{.ServerVersion}}"])
        .map(|_| ())
        .map_err(|e| format!("{e:#}"))
}

/// Ok when a Docker Engine answers; otherwise an error that says what to install. A test never
/// passes by skipping.
pub fn require_docker(test: &str) -> Result<()> {
    docker_usable().map_err(|why| {
        anyhow!(
            "{test} needs a running Docker Engine (apt-get install docker.io, then start it): {why}"
        )
    })
}

/// Waits until no container of allocation `alloc_id` is left (the driver removes them on stop).
pub fn wait_containers_gone(alloc_id: &str, timeout: Duration) -> Result<()> {
    crate::wait_for("the allocation's containers removed", timeout, || {
        let out = std::process::Command::new("docker")
            .args(["ps", "-aq", "--filter"])
            .arg(format!("label=com.nomad-rs.alloc_id={alloc_id}"))
            .output()
            .ok()?;
        out.stdout.is_empty().then_some(())
    })
}

/// One server container.
#[derive(Debug, Clone)]
pub struct ContainerServer {
    /// The agent's node name, `server-N` (1-based).
    pub node: String,
    pub container: String,
    /// Address on the `raft` network: the agent binds and advertises its rpc port here.
    pub raft_ip: Ipv4Addr,
    /// Address on the `api` network, which only the test uses.
    pub api_ip: Ipv4Addr,
}

impl ContainerServer {
    pub fn address(&self) -> String {
        format!("http://{}:{HTTP_PORT}", self.api_ip)
    }

    pub fn rpc_addr(&self) -> String {
        format!("{}:{RPC_PORT}", self.raft_ip)
    }
}

/// A private docker network and the first three octets of its /24.
struct Network {
    name: String,
    prefix: [u8; 3],
}

impl Network {
    fn ip(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(self.prefix[0], self.prefix[1], self.prefix[2], host)
    }
}

/// Servers in containers on two private networks (see the module doc). Dropping it removes the
/// containers and the networks, also when a test panics.
pub struct DockerCluster {
    pub servers: Vec<ContainerServer>,
    /// Client agents in containers (same shape: a node name and two addresses).
    pub clients: Vec<ContainerServer>,
    /// Names and labels everything this cluster creates.
    prefix: String,
    image: String,
    /// Index 0 is `raft`, 1 is `api`; fewer while `start` is still creating them.
    networks: Vec<Network>,
    /// Whether each server is attached to the `raft` network.
    connected: Vec<bool>,
    http: ureq::Agent,
}

impl DockerCluster {
    /// Starts `n` servers with `--bootstrap-expect n`, each retry-joining all of them, and waits
    /// for every HTTP API to answer (not for a leader: see `wait_leader`).
    pub fn start(n: usize) -> Result<DockerCluster> {
        let image = agent_image()?;
        remove_orphans();
        let prefix = format!("nomad-e2e-{}-{:04x}", std::process::id(), random() & 0xffff);
        let http = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(HTTP_TIMEOUT))
            .build()
            .into();
        let mut cluster = DockerCluster {
            servers: Vec::new(),
            clients: Vec::new(),
            prefix: prefix.clone(),
            image: image.clone(),
            networks: Vec::new(),
            connected: Vec::new(),
            http,
        };
        // From here on, an early return drops `cluster`, which removes what was made so far.
        for role in ["raft", "api"] {
            let net = create_network(&prefix, role)?;
            cluster.networks.push(net);
        }
        let hosts: Vec<u8> = (0..n).map(|i| 11 + i as u8).collect();
        let joins: Vec<String> = hosts
            .iter()
            .map(|h| format!("{}:{RPC_PORT}", cluster.networks[0].ip(*h)))
            .collect();
        for (i, host) in hosts.iter().enumerate() {
            let server = ContainerServer {
                node: format!("server-{}", i + 1),
                container: format!("{prefix}-server-{}", i + 1),
                raft_ip: cluster.networks[0].ip(*host),
                api_ip: cluster.networks[1].ip(*host),
            };
            cluster.servers.push(server.clone());
            cluster.connected.push(true);
            cluster.create_server(&image, &prefix, &server, n, &joins)?;
        }
        for i in 0..n {
            let url = format!("{}/v1/status/leader", cluster.servers[i].address());
            let answered =
                crate::wait_for("the server's HTTP API", Duration::from_secs(60), || {
                    cluster.http.get(&url).call().ok().map(|_| ())
                });
            if let Err(e) = answered {
                bail!("{}: {e}\n{}", cluster.servers[i].node, cluster.logs(i));
            }
        }
        Ok(cluster)
    }

    fn create_server(
        &self,
        image: &str,
        prefix: &str,
        s: &ContainerServer,
        expect: usize,
        joins: &[String],
    ) -> Result<()> {
        let raft_ip = s.raft_ip.to_string();
        let expect = expect.to_string();
        let mut args: Vec<&str> = vec!["create", "--name", &s.container, "--hostname", &s.node];
        let labels = labels(prefix);
        for l in &labels {
            args.extend(["--label", l]);
        }
        args.extend(["--network", &self.networks[0].name, "--ip", &raft_ip]);
        args.push(image);
        args.extend(["--server", "--bootstrap-expect", &expect]);
        for j in joins {
            args.extend(["--retry-join", j]);
        }
        args.extend(["--node", &s.node, "--data-dir", "/data"]);
        args.extend(["--config", "/etc/nomad.hcl"]);
        docker(&args)?;

        // The rpc listener stays on the raft network, HTTP listens everywhere so the test reaches
        // it through the api network whatever happens to the raft one.
        let config = format!(
            "bind_addr = \"{raft_ip}\"\naddresses {{\n  http = \"0.0.0.0\"\n}}\n\
             advertise {{\n  rpc = \"{raft_ip}:{RPC_PORT}\"\n}}\n"
        );
        self.configure_and_start(s, &config)
    }

    /// Puts `config` at /etc/nomad.hcl of the created container, attaches it to the api network
    /// and starts it.
    fn configure_and_start(&self, c: &ContainerServer, config: &str) -> Result<()> {
        let file = tempfile::NamedTempFile::new()?;
        std::fs::write(file.path(), config)?;
        let src = file.path().display().to_string();
        docker(&["cp", &src, &format!("{}:/etc/nomad.hcl", c.container)])?;
        let api_ip = c.api_ip.to_string();
        docker(&[
            "network",
            "connect",
            "--ip",
            &api_ip,
            &self.networks[1].name,
            &c.container,
        ])?;
        docker(&["start", &c.container])?;
        Ok(())
    }

    /// Waits until every server still on the raft network names the same leader, itself on the
    /// raft network, and returns its index.
    pub fn wait_leader(&self, timeout: Duration) -> Result<usize> {
        crate::wait_for("one leader all connected servers agree on", timeout, || {
            let mut agreed = None;
            for i in (0..self.servers.len()).filter(|i| self.connected[*i]) {
                let leader = self.leader_seen_by(i).ok()??;
                if agreed.is_some_and(|a| a != leader) {
                    return None;
                }
                agreed = Some(leader);
            }
            agreed.filter(|l| self.connected[*l])
        })
        .map_err(|e| anyhow!("{e}\n{}", self.all_logs()))
    }

    /// The index of the server `i` names as leader (GET /v1/status/leader), None when it knows
    /// none or names an address that is not one of ours.
    pub fn leader_seen_by(&self, i: usize) -> Result<Option<usize>> {
        let (code, body) = self.get(i, "/v1/status/leader")?;
        if code != 200 {
            bail!(
                "{}: /v1/status/leader answered {code}: {body}",
                self.servers[i].node
            );
        }
        let addr: String = serde_json::from_str(&body)
            .with_context(|| format!("/v1/status/leader body {body:?}"))?;
        Ok(self.servers.iter().position(|s| s.rpc_addr() == addr))
    }

    /// A client agent in its own container, on the raft network (where the servers' rpc ports
    /// are) and the api network, raw_exec enabled. Returns its index in `clients`.
    pub fn add_client(&mut self, name: &str) -> Result<usize> {
        let host = 11 + (self.servers.len() + self.clients.len()) as u8;
        let c = ContainerServer {
            node: name.to_string(),
            container: format!("{}-{name}", self.prefix),
            raft_ip: self.networks[0].ip(host),
            api_ip: self.networks[1].ip(host),
        };
        let raft_ip = c.raft_ip.to_string();
        let mut args: Vec<String> = ["create", "--name", &c.container, "--hostname", name]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for l in labels(&self.prefix) {
            args.extend(["--label".to_string(), l]);
        }
        args.extend(
            [
                "--network",
                &self.networks[0].name,
                "--ip",
                &raft_ip,
                &self.image,
                "--client",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        for s in &self.servers {
            args.extend(["--servers".to_string(), s.rpc_addr()]);
        }
        args.extend(
            [
                "--node",
                name,
                "--data-dir",
                "/data",
                "--config",
                "/etc/nomad.hcl",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        docker(&refs)?;
        self.clients.push(c.clone());
        let config = format!(
            "bind_addr = \"{raft_ip}\"\naddresses {{\n  http = \"0.0.0.0\"\n}}\n\
             advertise {{\n  http = \"{}:{HTTP_PORT}\"\n}}\n\
             plugin \"raw_exec\" {{\n  config {{\n    enabled = true\n  }}\n}}\n",
            c.api_ip
        );
        self.configure_and_start(&c, &config)?;
        Ok(self.clients.len() - 1)
    }

    /// Takes a container off the raft network.
    fn leave_raft_network(&self, c: &ContainerServer) -> Result<()> {
        docker(&[
            "network",
            "disconnect",
            &self.networks[0].name,
            &c.container,
        ])?;
        Ok(())
    }

    /// Puts a container back on the raft network with its old address.
    fn rejoin_raft_network(&self, c: &ContainerServer) -> Result<()> {
        let ip = c.raft_ip.to_string();
        let net = &self.networks[0].name;
        docker(&["network", "connect", "--ip", &ip, net, &c.container])?;
        Ok(())
    }

    /// Cuts client `i` off the raft network: it can no longer reach any server.
    pub fn disconnect_client(&mut self, i: usize) -> Result<()> {
        self.leave_raft_network(&self.clients[i])
    }

    /// Puts client `i` back on the raft network with its old address.
    pub fn reconnect_client(&mut self, i: usize) -> Result<()> {
        self.rejoin_raft_network(&self.clients[i])
    }

    /// Processes in client `i`'s container whose command line contains `needle`.
    pub fn client_processes(&self, i: usize, needle: &str) -> Result<usize> {
        let out = docker(&["exec", &self.clients[i].container, "ps", "-o", "args"])?;
        Ok(out
            .lines()
            .filter(|l| l.contains(needle) && !l.contains("ps -o"))
            .count())
    }

    /// Client `i`'s output (`docker logs`).
    pub fn client_logs(&self, i: usize) -> String {
        container_logs(&self.clients[i].container)
    }

    /// Cuts server `i` off the raft network (its HTTP API stays reachable on the api network).
    pub fn disconnect(&mut self, i: usize) -> Result<()> {
        self.leave_raft_network(&self.servers[i])?;
        self.connected[i] = false;
        Ok(())
    }

    /// Puts server `i` back on the raft network with its old address.
    pub fn reconnect(&mut self, i: usize) -> Result<()> {
        self.rejoin_raft_network(&self.servers[i])?;
        self.connected[i] = true;
        Ok(())
    }

    /// POST /v1/jobs of `cluster::job_json(id)` to server `i`: (status, body), whatever the
    /// status; an error only when no answer came within the client's timeout.
    pub fn register_job(&self, i: usize, id: &str) -> Result<(u16, String)> {
        let url = format!("{}/v1/jobs", self.servers[i].address());
        let mut resp = self
            .http
            .post(&url)
            .header("Content-Type", "application/json")
            .send(job_json(id).as_str())
            .with_context(|| format!("POST {url}"))?;
        let code = resp.status().as_u16();
        Ok((code, resp.body_mut().read_to_string().unwrap_or_default()))
    }

    /// The job IDs server `i` lists; with `stale`, from its own state without asking the leader.
    pub fn jobs_on(&self, i: usize, stale: bool) -> Result<Vec<String>> {
        let path = if stale {
            "/v1/jobs?stale=true"
        } else {
            "/v1/jobs"
        };
        let (code, body) = self.get(i, path)?;
        if code != 200 {
            bail!(
                "{}: GET {path} answered {code}: {body}",
                self.servers[i].node
            );
        }
        let jobs: Value = serde_json::from_str(&body).context("decoding the job list")?;
        let ids = jobs
            .as_array()
            .context("the job list is not an array")?
            .iter()
            .filter_map(|j| j["ID"].as_str().map(str::to_string))
            .collect();
        Ok(ids)
    }

    /// POST a JSON `body` to `path` on server `i`: (status, body).
    pub fn post(&self, i: usize, path: &str, body: &str) -> Result<(u16, String)> {
        let url = format!("{}{path}", self.servers[i].address());
        let mut resp = self
            .http
            .post(&url)
            .header("Content-Type", "application/json")
            .send(body)
            .with_context(|| format!("POST {url}"))?;
        let code = resp.status().as_u16();
        Ok((code, resp.body_mut().read_to_string().unwrap_or_default()))
    }

    /// GET `path` on server `i`: (status, body).
    pub fn get(&self, i: usize, path: &str) -> Result<(u16, String)> {
        let url = format!("{}{path}", self.servers[i].address());
        let mut resp = self
            .http
            .get(&url)
            .call()
            .with_context(|| format!("GET {url}"))?;
        let code = resp.status().as_u16();
        Ok((code, resp.body_mut().read_to_string().unwrap_or_default()))
    }

    /// The JSON server `i` answers at `path`; None when it does not answer 200 with JSON.
    pub fn get_json(&self, i: usize, path: &str) -> Option<Value> {
        self.get(i, path)
            .ok()
            .and_then(|(code, body)| (code == 200).then_some(body))
            .and_then(|b| serde_json::from_str::<Value>(&b).ok())
    }

    /// The JSON array server `i` answers at `path`; empty when there is none.
    pub fn get_array(&self, i: usize, path: &str) -> Vec<Value> {
        self.get_json(i, path)
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    /// Server `i`'s output (`docker logs`).
    pub fn logs(&self, i: usize) -> String {
        container_logs(&self.servers[i].container)
    }

    /// Every server's output, each under a header, for a failing test's message.
    pub fn all_logs(&self) -> String {
        (0..self.servers.len())
            .map(|i| {
                format!(
                    "--- {} ({}) ---\n{}",
                    self.servers[i].node,
                    self.servers[i].container,
                    self.logs(i)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A container's output (`docker logs`), or why it could not be read.
fn container_logs(container: &str) -> String {
    let out = Command::new("docker")
        .args(["logs", container])
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(o) => format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => format!("(docker logs failed: {e})"),
    }
}

impl Drop for DockerCluster {
    fn drop(&mut self) {
        for s in self.clients.iter().chain(&self.servers) {
            if let Err(e) = docker(&["rm", "-f", "-v", &s.container]) {
                eprintln!("cleanup: {e:#}");
            }
        }
        for n in &self.networks {
            if let Err(e) = docker(&["network", "rm", &n.name]) {
                eprintln!("cleanup: {e:#}");
            }
        }
    }
}

fn random() -> u64 {
    RandomState::new().build_hasher().finish()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

fn labels(prefix: &str) -> [String; 3] {
    [
        format!("{CLUSTER_LABEL}={prefix}"),
        format!("{PID_LABEL}={}", std::process::id()),
        format!("{HOST_LABEL}={}", hostname()),
    ]
}

/// Creates an internal bridge network on a random 10.x.y.0/24 that overlaps neither a route of
/// this host nor another docker network. Internal networks give the containers no default
/// route, so a server cut off the raft network cannot reach its peers some other way.
fn create_network(prefix: &str, role: &str) -> Result<Network> {
    let name = format!("{prefix}-{role}");
    let taken = taken_subnets();
    let mut last_error = None;
    for _ in 0..20 {
        let r = random();
        let candidate = [10, 128 + (r % 127) as u8, (r >> 8) as u8];
        let base = u32::from(Ipv4Addr::new(candidate[0], candidate[1], candidate[2], 0));
        if taken
            .iter()
            .any(|(net, len)| overlaps(base, 24, *net, *len))
        {
            continue;
        }
        let subnet = format!("{}.{}.{}.0/24", candidate[0], candidate[1], candidate[2]);
        let mut args = vec!["network", "create", "--driver", "bridge", "--internal"];
        args.extend(["--subnet", &subnet]);
        let labels = labels(prefix);
        for l in &labels {
            args.extend(["--label", l]);
        }
        args.push(&name);
        // Another test may take the same subnet between our check and this call: try again.
        match docker(&args) {
            Ok(_) => {
                return Ok(Network {
                    name,
                    prefix: candidate,
                })
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow!("no free 10.x.y.0/24 subnet found")))
        .with_context(|| format!("creating docker network {name}"))
}

fn overlaps(a: u32, a_len: u32, b: u32, b_len: u32) -> bool {
    let len = a_len.min(b_len);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    a & mask == b & mask
}

/// IPv4 subnets in use: this host's routes (the default route aside) and docker's networks.
fn taken_subnets() -> Vec<(u32, u32)> {
    let mut taken = Vec::new();
    // /proc/net/route prints each address as the hex of its in-memory (network order) u32.
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    for line in routes.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (Some(dest), Some(mask)) = (cols.get(1), cols.get(7)) else {
            continue;
        };
        let parse = |h: &str| u32::from_str_radix(h, 16).ok().map(|v| v.to_ne_bytes());
        if let (Some(d), Some(m)) = (parse(dest), parse(mask)) {
            let len = u32::from_be_bytes(m).count_ones();
            if len > 0 {
                taken.push((u32::from_be_bytes(d), len));
            }
        }
    }
    let ids = docker(&["network", "ls", "-q"]).unwrap_or_default();
    let mut args = vec![
        "network",
        "inspect",
        "--format",
        "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
    ];
    args.extend(ids.split_whitespace());
    for subnet in docker(&args).unwrap_or_default().split_whitespace() {
        let Some((ip, len)) = subnet.split_once('/') else {
            continue;
        };
        if let (Ok(ip), Ok(len)) = (ip.parse::<Ipv4Addr>(), len.parse::<u32>()) {
            taken.push((u32::from(ip), len.min(32)));
        }
    }
    taken
}

/// Removes containers and networks an earlier, killed run of these tests left on this host:
/// those labelled with this host's name and the pid of a process that no longer exists.
fn remove_orphans() {
    let host = hostname();
    let format =
        format!("{{{{.ID}}}} {{{{.Label \"{PID_LABEL}\"}}}} {{{{.Label \"{HOST_LABEL}\"}}}}");
    let filter = format!("label={CLUSTER_LABEL}");
    let orphaned = |list: String| -> Vec<String> {
        list.lines()
            .filter_map(|l| {
                let mut cols = l.split_whitespace();
                let (id, pid, h) = (cols.next()?, cols.next()?, cols.next()?);
                let dead = !Path::new("/proc").join(pid).exists();
                (h == host && dead).then(|| id.to_string())
            })
            .collect()
    };
    let containers =
        docker(&["ps", "-a", "--filter", &filter, "--format", &format]).unwrap_or_default();
    for id in orphaned(containers) {
        let _ = docker(&["rm", "-f", "-v", &id]);
    }
    let networks =
        docker(&["network", "ls", "--filter", &filter, "--format", &format]).unwrap_or_default();
    for id in orphaned(networks) {
        let _ = docker(&["network", "rm", &id]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_overlap() {
        let net = |a, b, c| u32::from(Ipv4Addr::new(a, b, c, 0));
        assert!(overlaps(net(10, 200, 3), 24, net(10, 0, 0), 8));
        assert!(overlaps(net(10, 200, 3), 24, net(10, 200, 3), 24));
        assert!(!overlaps(net(10, 200, 3), 24, net(10, 200, 4), 24));
        assert!(!overlaps(net(10, 200, 3), 24, net(172, 17, 0), 16));
    }
}
