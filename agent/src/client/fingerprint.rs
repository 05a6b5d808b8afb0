//! Node fingerprint: what this machine is (kernel, OS, CPU, memory, disk, address) and which
//! drivers work here, in the attribute names Nomad uses so constraints written for Nomad apply.

use super::ClientConfig;
use crate::drivers::Drivers;
use api::{
    DriverInfo, Node, NodeCpuResources, NodeDiskResources, NodeEvent, NodeMemoryResources,
    NodeResources,
};
use std::collections::BTreeMap;
use std::path::Path;

/// Nomad's default dynamic port range.
pub const MIN_DYNAMIC_PORT: i64 = 20000;
pub const MAX_DYNAMIC_PORT: i64 = 32000;

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// `key=value` lines of /etc/os-release, quotes removed.
fn os_release(text: &str, key: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
}

/// MHz of the first CPU in /proc/cpuinfo; 1000 when the kernel does not say (some VMs, ARM).
fn cpu_mhz(cpuinfo: &str) -> u64 {
    cpuinfo
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim() == "cpu MHz")
        .and_then(|(_, v)| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .filter(|v| *v > 0)
        .unwrap_or(1000)
}

/// MemTotal of /proc/meminfo in bytes.
fn mem_total_bytes(meminfo: &str) -> u64 {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn disk_free_mb(dir: &Path) -> u64 {
    nix::sys::statvfs::statvfs(dir)
        .map(|s| s.blocks_available() * s.fragment_size() / (1024 * 1024))
        .unwrap_or(0)
}

fn arch() -> &'static str {
    // Nomad reports Go's names.
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// Builds the node this client registers.
pub fn fingerprint(cfg: &ClientConfig, node_id: &str, drivers: &Drivers) -> Node {
    let mut attrs = BTreeMap::new();
    let kernel_version = read("/proc/sys/kernel/osrelease").trim().to_string();
    attrs.insert("kernel.name".to_string(), std::env::consts::OS.to_string());
    attrs.insert("kernel.version".to_string(), kernel_version);
    let rel = read("/etc/os-release");
    attrs.insert(
        "os.name".to_string(),
        os_release(&rel, "ID").unwrap_or_else(|| "linux".into()),
    );
    attrs.insert(
        "os.version".to_string(),
        os_release(&rel, "VERSION_ID").unwrap_or_default(),
    );
    attrs.insert("cpu.arch".to_string(), arch().to_string());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get() as u64)
        .unwrap_or(1);
    let mhz = cpu_mhz(&read("/proc/cpuinfo"));
    let compute = if cfg.cpu_total_compute > 0 {
        cfg.cpu_total_compute
    } else {
        cores * mhz
    };
    attrs.insert("cpu.numcores".to_string(), cores.to_string());
    attrs.insert("cpu.frequency".to_string(), mhz.to_string());
    attrs.insert("cpu.totalcompute".to_string(), compute.to_string());
    let mem_bytes = if cfg.memory_total_mb > 0 {
        cfg.memory_total_mb * 1024 * 1024
    } else {
        mem_total_bytes(&read("/proc/meminfo"))
    };
    attrs.insert("memory.totalbytes".to_string(), mem_bytes.to_string());
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| cfg.node_name.clone());
    attrs.insert("unique.hostname".to_string(), hostname);
    attrs.insert("unique.network.ip-address".to_string(), cfg.bind_ip.clone());
    attrs.insert(
        "nomad.version".to_string(),
        env!("CARGO_PKG_VERSION").to_string(),
    );
    let driver_infos = driver_infos(drivers);
    for info in driver_infos.values().filter(|i| i.detected) {
        attrs.extend(info.attributes.clone());
    }
    Node {
        id: node_id.to_string(),
        name: cfg.node_name.clone(),
        datacenter: cfg.datacenter.clone(),
        node_class: cfg.node_class.clone(),
        node_pool: if cfg.node_pool.is_empty() {
            api::node_pool::default_pool()
        } else {
            cfg.node_pool.clone()
        },
        http_addr: cfg.http_addr.clone(),
        attributes: attrs,
        meta: cfg.meta.clone(),
        node_resources: NodeResources {
            cpu: NodeCpuResources {
                cpu_shares: compute as i64,
                total_cpu_cores: cores as i64,
            },
            memory: NodeMemoryResources {
                memory_mb: (mem_bytes / (1024 * 1024)) as i64,
            },
            disk: NodeDiskResources {
                disk_mb: disk_free_mb(&cfg.data_dir) as i64,
            },
            min_dynamic_port: MIN_DYNAMIC_PORT,
            max_dynamic_port: MAX_DYNAMIC_PORT,
        },
        drivers: driver_infos,
        host_volumes: cfg.host_volumes.clone(),
        status: api::NODE_STATUS_READY.into(),
        scheduling_eligibility: api::NODE_ELIGIBLE.into(),
        status_updated_at: super::events::now_nanos() / 1_000_000_000,
        ..Default::default()
    }
}

/// Asks every driver whether it works here now (the docker driver asks the engine).
pub fn driver_infos(drivers: &Drivers) -> BTreeMap<String, DriverInfo> {
    drivers
        .iter()
        .map(|(name, d)| (name.clone(), d.fingerprint()))
        .collect()
}

/// Takes a fresh fingerprint of the drivers into `node`: their infos, and their `driver.<name>*`
/// attributes (gone with a driver that is no longer detected). Returns an event for each driver
/// whose detection or health changed; none means the node is as the servers know it.
pub fn refresh_drivers(
    node: &mut Node,
    fresh: BTreeMap<String, DriverInfo>,
    now_nanos: i64,
) -> Vec<NodeEvent> {
    let mut events = Vec::new();
    for (name, info) in fresh {
        let before = node.drivers.get(&name);
        let was = before.map_or((false, false), |b| (b.detected, b.healthy));
        if was == (info.detected, info.healthy) {
            continue;
        }
        let message = match (info.detected, info.healthy) {
            (true, true) => format!("Driver {name} is healthy"),
            (true, false) => format!("Driver {name} is unhealthy"),
            (false, _) => format!("Driver {name} is not detected"),
        };
        let mut details = BTreeMap::from([("driver".to_string(), name.clone())]);
        if !info.health_description.is_empty() {
            details.insert("reason".into(), info.health_description.clone());
        }
        events.push(NodeEvent {
            message,
            subsystem: "Driver".into(),
            details,
            timestamp: api::time::rfc3339_secs(now_nanos),
            create_index: 0,
        });
        let own = format!("driver.{name}");
        let own_prefix = format!("{own}.");
        node.attributes
            .retain(|k, _| k != &own && !k.starts_with(&own_prefix));
        if info.detected {
            node.attributes.extend(info.attributes.clone());
        }
        node.drivers.insert(name, info);
    }
    node.events.extend(events.iter().cloned());
    let excess = node.events.len().saturating_sub(api::NODE_MAX_EVENTS);
    node.events.drain(..excess);
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_driver_that_appears_or_goes_changes_the_node_with_an_event() {
        let mut node = Node::default();
        let healthy = DriverInfo {
            detected: true,
            healthy: true,
            attributes: BTreeMap::from([
                ("driver.docker".to_string(), "1".to_string()),
                ("driver.docker.version".to_string(), "24".to_string()),
            ]),
            ..Default::default()
        };
        let gone = DriverInfo {
            health_description: "Failed to connect to docker daemon".into(),
            ..Default::default()
        };
        node.drivers.insert("docker".into(), gone.clone());
        node.attributes
            .insert("driver.dockerish".into(), "kept".into());
        // The same answer again: nothing to tell the servers.
        let same = BTreeMap::from([("docker".to_string(), gone.clone())]);
        assert!(refresh_drivers(&mut node, same, 0).is_empty());
        // Docker started after the agent.
        let up = BTreeMap::from([("docker".to_string(), healthy.clone())]);
        let ev = refresh_drivers(&mut node, up, 0);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].message, "Driver docker is healthy");
        assert_eq!(node.attributes["driver.docker.version"], "24");
        assert!(node.drivers["docker"].healthy);
        // And stopped again: its attributes go, another event says why.
        let down = BTreeMap::from([("docker".to_string(), gone)]);
        let ev = refresh_drivers(&mut node, down, 0);
        assert_eq!(ev[0].message, "Driver docker is not detected");
        assert!(ev[0].details["reason"].contains("Failed to connect"));
        assert!(!node.attributes.contains_key("driver.docker"));
        assert!(!node.attributes.contains_key("driver.docker.version"));
        assert_eq!(node.attributes["driver.dockerish"], "kept");
        assert_eq!(node.events.len(), 2);
        for _ in 0..12 {
            let flip = if node.drivers["docker"].healthy {
                DriverInfo::default()
            } else {
                healthy.clone()
            };
            refresh_drivers(&mut node, BTreeMap::from([("docker".to_string(), flip)]), 0);
        }
        assert_eq!(node.events.len(), api::NODE_MAX_EVENTS);
    }

    #[test]
    fn parses_proc_files() {
        assert_eq!(cpu_mhz("processor\t: 0\ncpu MHz\t\t: 2894.562\n"), 2894);
        assert_eq!(cpu_mhz("processor : 0\n"), 1000);
        assert_eq!(
            mem_total_bytes("MemTotal:       16384 kB\nMemFree: 1 kB\n"),
            16384 * 1024
        );
        let rel = "NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\n";
        assert_eq!(os_release(rel, "ID").as_deref(), Some("debian"));
        assert_eq!(os_release(rel, "VERSION_ID").as_deref(), Some("12"));
    }

    #[test]
    fn fingerprints_this_machine() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ClientConfig {
            node_name: "n1".into(),
            datacenter: "dc1".into(),
            data_dir: dir.path().to_path_buf(),
            drivers: crate::drivers::DriverSettings {
                raw_exec_enabled: true,
                ..Default::default()
            },
            bind_ip: "127.0.0.1".into(),
            ..Default::default()
        };
        let drivers = crate::drivers::builtin_drivers(&crate::drivers::DriverSettings {
            raw_exec_enabled: true,
            ..Default::default()
        });
        let node = fingerprint(&cfg, "id1", &drivers);
        assert_eq!(node.attributes["kernel.name"], "linux");
        assert_eq!(node.attributes["driver.raw_exec"], "1");
        assert_eq!(node.attributes["unique.network.ip-address"], "127.0.0.1");
        assert!(node.node_resources.cpu.cpu_shares > 0);
        assert!(node.node_resources.memory.memory_mb > 0);
        assert!(node.drivers["raw_exec"].healthy);
        assert!(node.ready());
        let off = fingerprint(
            &cfg,
            "id1",
            &crate::drivers::builtin_drivers(&Default::default()),
        );
        assert!(!off.attributes.contains_key("driver.raw_exec"));
        assert_eq!(off.drivers["raw_exec"].health_description, "disabled");
    }
}
