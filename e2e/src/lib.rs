//! The one harness every end-to-end test uses: it starts the real `nomad-agent` binaries on free
//! loopback ports with their own data dirs, runs `nomadctl` against them, waits on conditions with
//! deadlines (never fixed sleeps), and kills what it started when dropped.
//!
//! Binaries come from the cargo target dir (`cargo build --bins` first; `scripts/test` does it),
//! or from `NOMAD_AGENT_BIN` / `NOMADCTL_BIN`.

pub mod cluster;
pub mod docker;
pub mod exec_ws;
pub mod nginx;
pub mod sim;
pub mod tls;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn bin(name: &str, env: &str) -> PathBuf {
    if let Ok(p) = std::env::var(env) {
        return PathBuf::from(p);
    }
    // A test runs from target/<profile>/deps/, a bench binary from target/<profile>/.
    let exe = std::env::current_exe().unwrap_or_default();
    let here = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if here.join(name).exists() {
        return here.join(name);
    }
    here.parent().map(|p| p.join(name)).unwrap_or_default()
}

pub fn agent_bin() -> PathBuf {
    bin("nomad-agent", "NOMAD_AGENT_BIN")
}

pub fn nomadctl_bin() -> PathBuf {
    bin("nomadctl", "NOMADCTL_BIN")
}

/// A free TCP port on 127.0.0.1 (the OS picks; the listener is closed again at once).
/// Resident memory of a process in KiB (VmRSS), for the bench binaries.
pub fn rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The value after a bench binary's flag `name`, as a number; the error names the flag and
/// ends with the binary's usage.
pub fn flag_number(
    args: &mut impl Iterator<Item = String>,
    name: &str,
    usage: &str,
) -> Result<usize> {
    let v = args
        .next()
        .with_context(|| format!("{name} needs a value\n{usage}"))?;
    v.parse()
        .with_context(|| format!("{name} {v:?} is not a number\n{usage}"))
}

pub fn free_port() -> u16 {
    listen_on_a_test_port()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// Test listeners' ports come from below the kernel's ephemeral range (32768-60999 here). The
/// harness restarts a server on the port it had; while it is down, an outgoing connection or a
/// `bind(:0)` anywhere on the machine could take that port if it were an ephemeral one, and the
/// restart then failed with "address already in use".
const TEST_PORTS: std::ops::Range<u16> = 20_000..32_768;

/// A listener on a free loopback port of `TEST_PORTS`, tried in a pseudo-random order so that
/// tests running side by side rarely try the same ports.
fn listen_on_a_test_port() -> Option<TcpListener> {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let span = u64::from(TEST_PORTS.end - TEST_PORTS.start);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut x = (u64::from(std::process::id()) << 32)
        ^ u64::from(nanos)
        ^ call.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        | 1;
    for _ in 0..256 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let port = TEST_PORTS.start + (x % span) as u16;
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            return Some(l);
        }
    }
    None
}

/// `count` distinct free loopback ports: all listeners are held until every port is picked, so
/// the OS cannot hand out one port twice.
pub fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..count).filter_map(|_| listen_on_a_test_port()).collect();
    let mut ports: Vec<u16> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok().map(|a| a.port()))
        .collect();
    while ports.len() < count {
        ports.push(free_port());
    }
    ports
}

/// Polls `f` until it returns Some or the deadline passes.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Result<T> {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(20);
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(250));
    }
}

/// One `nomad-agent` process.
pub struct Agent {
    pub http_port: u16,
    pub rpc_port: u16,
    pub data_dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
    log_path: PathBuf,
    /// Whether `start` waits for this agent's client node to be ready (dev agents) or only for
    /// its HTTP API (servers).
    has_client: bool,
    /// Extra environment for the agent process (e.g. DOCKER_HOST).
    pub env: Vec<(String, String)>,
    /// Set when the agent serves HTTPS: the harness and `nomadctl` then use the CLI certificate.
    pub tls: Option<std::sync::Arc<tls::TlsFiles>>,
    /// Sent as `X-Nomad-Token` by `get` and as `NOMAD_TOKEN` by `ctl` (an agent with ACLs on).
    pub token: Option<String>,
}

impl Agent {
    /// A dev agent (server + client) on free ports with a data dir under `dir`.
    pub fn dev(dir: &Path) -> Result<Agent> {
        Self::dev_with(dir, &[])
    }

    /// A dev agent with `--acl-enabled`, bootstrapped: its management token is in `token`.
    pub fn dev_acl(dir: &Path) -> Result<Agent> {
        let mut a = Self::dev_unstarted(dir, &["--acl-enabled"]);
        // Until the bootstrap, only the open endpoints answer: wait for health, not the node.
        a.has_client = false;
        a.start()?;
        let (status, body) = request("POST", &format!("{}/v1/acl/bootstrap", a.address()), None)?;
        if status != 200 {
            bail!("ACL bootstrap answered {status}: {body}");
        }
        let token: Value = serde_json::from_str(&body)?;
        let secret = token["SecretID"]
            .as_str()
            .ok_or_else(|| anyhow!("no SecretID in {body}"))?;
        a.token = Some(secret.to_string());
        a.has_client = true;
        wait_for("the dev agent's node", Duration::from_secs(30), || {
            let nodes = a.get("/v1/nodes").ok()?;
            (nodes.as_array()?.iter().any(|n| n["Status"] == "ready")).then_some(())
        })?;
        Ok(a)
    }

    /// A dev agent with extra flags.
    pub fn dev_with(dir: &Path, extra: &[&str]) -> Result<Agent> {
        let mut a = Self::dev_unstarted(dir, extra);
        a.start()?;
        Ok(a)
    }

    fn dev_unstarted(dir: &Path, extra: &[&str]) -> Agent {
        let data_dir = dir.join("data");
        // Distinct: two separate picks can get the same port back.
        let ports = free_ports(2);
        let (http_port, rpc_port) = (ports[0], ports[1]);
        let args = vec![
            "--dev".to_string(),
            "--data-dir".to_string(),
            data_dir.display().to_string(),
            "--http-port".to_string(),
            http_port.to_string(),
            "--rpc-port".to_string(),
            rpc_port.to_string(),
            "--node".to_string(),
            "e2e-node".to_string(),
        ];
        let args = args
            .into_iter()
            .chain(extra.iter().map(|s| s.to_string()))
            .collect();
        Agent {
            http_port,
            rpc_port,
            data_dir,
            args,
            child: None,
            log_path: dir.join("agent.log"),
            has_client: true,
            env: Vec::new(),
            tls: None,
            token: None,
        }
    }

    /// An agent started with exactly `args` (a server of a cluster, say). `start` waits only for
    /// its HTTP API, since a server alone has no node to wait for.
    pub fn with_args(
        data_dir: PathBuf,
        log_path: PathBuf,
        http_port: u16,
        rpc_port: u16,
        args: Vec<String>,
    ) -> Result<Agent> {
        Self::with_args_env(data_dir, log_path, http_port, rpc_port, args, Vec::new())
    }

    /// `with_args` with extra environment for the agent process.
    pub fn with_args_env(
        data_dir: PathBuf,
        log_path: PathBuf,
        http_port: u16,
        rpc_port: u16,
        args: Vec<String>,
        env: Vec<(String, String)>,
    ) -> Result<Agent> {
        Self::with_args_tls(data_dir, log_path, (http_port, rpc_port), args, env, None)
    }

    /// `with_args_env` for an agent that serves HTTPS with the certificates of `tls`.
    pub fn with_args_tls(
        data_dir: PathBuf,
        log_path: PathBuf,
        (http_port, rpc_port): (u16, u16),
        args: Vec<String>,
        env: Vec<(String, String)>,
        tls: Option<std::sync::Arc<tls::TlsFiles>>,
    ) -> Result<Agent> {
        let mut a = Agent {
            http_port,
            rpc_port,
            data_dir,
            args,
            child: None,
            log_path,
            has_client: false,
            env,
            tls,
            token: None,
        };
        a.start()?;
        Ok(a)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn address(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.http_port)
    }

    pub fn start(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)?;
        let child = Command::new(agent_bin())
            .args(&self.args)
            .env("NOMAD_LOG", "info,openraft=warn")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", agent_bin().display()))?;
        self.child = Some(child);
        let has_client = self.has_client;
        wait_for(
            "the agent's HTTP API (and its node, if a client)",
            Duration::from_secs(30),
            || {
                if !has_client {
                    return self.answers("/v1/agent/health").then_some(());
                }
                let nodes = self.get("/v1/nodes").ok()?;
                (nodes.as_array()?.iter().any(|n| n["Status"] == "ready")).then_some(())
            },
        )
        .map_err(|e| anyhow!("{e}\n--- agent log ---\n{}", self.log()))
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Some(status) = c.try_wait()? {
                    if !status.success() {
                        bail!("agent exited with {status}\n{}", self.log());
                    }
                    return Ok(());
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    bail!("agent did not stop within 20s of SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Runs `nomadctl` against this agent.
    pub fn ctl(&self, args: &[&str]) -> Output {
        self.ctl_in(args, None)
    }

    pub fn ctl_in(&self, args: &[&str], cwd: Option<&Path>) -> Output {
        self.ctl_env(args, cwd, &[])
    }

    /// `nomadctl` with extra environment variables (`NOMAD_VAR_*`, ...).
    pub fn ctl_env(&self, args: &[&str], cwd: Option<&Path>, env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(nomadctl_bin());
        cmd.args(args)
            .envs(env.iter().copied())
            .env("NOMAD_ADDR", self.address())
            .stdin(Stdio::null());
        if let Some(tls) = &self.tls {
            cmd.envs(tls.cli_env());
        }
        if let Some(token) = &self.token {
            cmd.env("NOMAD_TOKEN", token);
        }
        if let Some(d) = cwd {
            cmd.current_dir(d);
        }
        cmd.output().unwrap_or_else(|e| Output {
            status: std::os::unix::process::ExitStatusExt::from_raw(127 << 8),
            stdout: Vec::new(),
            stderr: format!("could not run nomadctl: {e}").into_bytes(),
        })
    }

    /// Whether the HTTP API answers `path` at all, whatever the status: health is 500 until the
    /// server knows a leader, which the first of three servers cannot before the others start.
    pub fn answers(&self, path: &str) -> bool {
        let url = format!("{}{path}", self.address());
        match &self.tls {
            None => request("GET", &url, None).is_ok(),
            Some(tls) => tls.https_agent(None).is_ok_and(|agent| {
                matches!(
                    agent.get(&url).call(),
                    Ok(_) | Err(ureq::Error::StatusCode(_))
                )
            }),
        }
    }

    pub fn get(&self, path: &str) -> Result<Value> {
        match &self.tls {
            None if self.token.is_some() => {
                let url = format!("{}{path}", self.address());
                let (status, body) = request_with("GET", &url, None, self.token.as_deref())?;
                if status != 200 {
                    bail!("GET {path}: {status} {body}");
                }
                Ok(serde_json::from_str(&body)?)
            }
            None => get_json(&self.address(), path),
            Some(tls) => {
                let mut resp = tls
                    .https_agent(None)?
                    .get(&format!("{}{path}", self.address()))
                    .call()?;
                if !resp.status().is_success() {
                    bail!("GET {path}: {}", resp.status());
                }
                Ok(resp.body_mut().read_json()?)
            }
        }
    }
}

impl Drop for Agent {
    /// The agent, then every task it started: raw_exec and exec tasks run in their own sessions
    /// and would outlive a killed agent, reparented to init. They work under the data dir.
    fn drop(&mut self) {
        self.kill();
        kill_processes_under(&self.data_dir);
    }
}

/// SIGKILL to every process whose working directory is under `dir`.
pub fn kill_processes_under(dir: &Path) {
    let Ok(root) = dir.canonicalize() else {
        return;
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(&root)) {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

pub fn get_json(addr: &str, path: &str) -> Result<Value> {
    let mut resp = ureq::get(&format!("{addr}{path}")).call()?;
    Ok(resp.body_mut().read_json()?)
}

/// Sends a request and returns (status, body text) whatever the status.
pub fn request(method: &str, url: &str, body: Option<&str>) -> Result<(u16, String)> {
    request_with(method, url, body, None)
}

/// `request` with an ACL token in `X-Nomad-Token`.
pub fn request_with(
    method: &str,
    url: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> Result<(u16, String)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let token = token.unwrap_or("");
    let mut resp = match (method, body) {
        ("GET", _) => agent.get(url).header("X-Nomad-Token", token).call()?,
        ("DELETE", _) => agent.delete(url).header("X-Nomad-Token", token).call()?,
        ("POST", Some(b)) => agent.post(url).header("X-Nomad-Token", token).send(b)?,
        ("POST", None) => agent
            .post(url)
            .header("X-Nomad-Token", token)
            .send_empty()?,
        ("PUT", Some(b)) => agent.put(url).header("X-Nomad-Token", token).send(b)?,
        _ => bail!("unsupported method {method}"),
    };
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    Ok((status, text))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Processes whose command line contains `marker`, found through /proc.
pub fn processes_with(marker: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(marker) && !cmd.contains("nomadctl") {
                // Skip zombies: they are dead.
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                if stat
                    .rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z'))
                {
                    continue;
                }
                out.push(pid);
            }
        }
    }
    out
}

/// Kills, when dropped, every process whose command line holds its marker: a test's own tasks,
/// even when an assertion fails half-way.
pub struct TaskGuard(pub String);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        kill_processes_with(&self.0);
    }
}

impl Agent {
    /// The instances of a service in the catalog (`GET /v1/service/:name`), none on error.
    pub fn service_instances(&self, name: &str) -> Vec<Value> {
        self.get(&format!("/v1/service/{name}"))
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }
}

/// Kills every process whose command line holds `marker` (tests' own tasks, at cleanup).
pub fn kill_processes_with(marker: &str) {
    for pid in processes_with(marker) {
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
}
