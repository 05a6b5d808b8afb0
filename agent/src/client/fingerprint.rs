//! Node fingerprint: what this machine is (kernel, OS, CPU, memory, disk, address) and which
//! drivers work here, in the attribute names Nomad uses so constraints written for Nomad apply.

use super::ClientConfig;
use crate::drivers::Drivers;
use api::{Node, NodeCpuResources, NodeDiskResources, NodeMemoryResources, NodeResources};
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
    let mut driver_infos = BTreeMap::new();
    for (name, d) in drivers {
        let info = d.fingerprint();
        if info.detected {
            attrs.extend(info.attributes.clone());
        }
        driver_infos.insert(name.clone(), info);
    }
    Node {
        id: node_id.to_string(),
        name: cfg.node_name.clone(),
        datacenter: cfg.datacenter.clone(),
        node_class: cfg.node_class.clone(),
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
        status: api::NODE_STATUS_READY.into(),
        scheduling_eligibility: api::NODE_ELIGIBLE.into(),
        status_updated_at: super::events::now_nanos() / 1_000_000_000,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
