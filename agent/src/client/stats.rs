//! Measuring resource usage from /proc: the host's memory, cores and disks, and each task's
//! process tree (its main process and every descendant: a docker container's processes are the
//! init process's descendants on the host too). CPU is a rate, so every measurement takes two
//! samples [`SAMPLE`] apart. The parsers are pure and tested on fixed text.

use api::stats::*;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

/// Between the two samples of a CPU measurement.
pub const SAMPLE: Duration = Duration::from_millis(250);

fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf with a valid name only reads a system constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn page_size() -> u64 {
    // SAFETY: as above.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(p).unwrap_or(4096)
}

fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Fields of /proc/<pid>/stat after the command name: (ppid, user ticks, system ticks, rss pages).
pub fn parse_pid_stat(text: &str) -> Option<(i32, u64, u64, u64)> {
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is the state (field 3); ppid is field 4, utime 14, stime 15, rss 24.
    let ppid = f.get(1)?.parse().ok()?;
    let utime = f.get(11)?.parse().ok()?;
    let stime = f.get(12)?.parse().ok()?;
    let rss = f.get(21)?.parse().ok()?;
    Some((ppid, utime, stime, rss))
}

/// One sample of a process tree: user and system ticks, resident bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TreeSample {
    pub user: u64,
    pub system: u64,
    pub rss: u64,
}

/// `root` and its descendants among `procs` (pid -> (ppid, user, system, rss pages)).
pub fn tree_sample(root: i32, procs: &HashMap<i32, (i32, u64, u64, u64)>, page: u64) -> TreeSample {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for (pid, (ppid, ..)) in procs {
        children.entry(*ppid).or_default().push(*pid);
    }
    let mut out = TreeSample::default();
    let mut stack = vec![root];
    let mut seen = std::collections::HashSet::new();
    while let Some(pid) = stack.pop() {
        if !seen.insert(pid) {
            continue;
        }
        if let Some((_, u, s, rss)) = procs.get(&pid) {
            out.user += u;
            out.system += s;
            out.rss += rss * page;
        }
        stack.extend(children.get(&pid).into_iter().flatten());
    }
    out
}

fn all_procs() -> HashMap<i32, (i32, u64, u64, u64)> {
    let mut out = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Some(v) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|t| parse_pid_stat(&t))
        {
            out.insert(pid, v);
        }
    }
    out
}

fn sample_tasks(pids: &BTreeMap<String, i32>) -> BTreeMap<String, TreeSample> {
    let procs = all_procs();
    let page = page_size();
    pids.iter()
        .map(|(task, pid)| (task.clone(), tree_sample(*pid, &procs, page)))
        .collect()
}

/// The usage of an allocation's running tasks (`pids`: each task's main process), measured over
/// [`SAMPLE`]. `mhz_per_core` turns a share of a core into Nomad's MHz "ticks".
pub async fn alloc_usage(pids: BTreeMap<String, i32>, mhz_per_core: f64) -> AllocResourceUsage {
    let p = pids.clone();
    let first = tokio::task::spawn_blocking(move || sample_tasks(&p))
        .await
        .unwrap_or_default();
    tokio::time::sleep(SAMPLE).await;
    let second = tokio::task::spawn_blocking(move || sample_tasks(&pids))
        .await
        .unwrap_or_default();
    let hz = clock_ticks_per_sec();
    let secs = SAMPLE.as_secs_f64();
    let now = now_nanos();
    let mut total = ResourceUsage::default();
    let mut tasks = BTreeMap::new();
    for (task, b) in second {
        let a = first.get(&task).copied().unwrap_or(b);
        let pct = |after: u64, before: u64| after.saturating_sub(before) as f64 / hz / secs * 100.0;
        let user = pct(b.user, a.user);
        let system = pct(b.system, a.system);
        let usage = ResourceUsage {
            memory_stats: MemoryStats {
                rss: b.rss,
                usage: b.rss,
                measured: vec!["RSS".into()],
                ..Default::default()
            },
            cpu_stats: CpuStats {
                user_mode: user,
                system_mode: system,
                percent: user + system,
                total_ticks: (user + system) / 100.0 * mhz_per_core,
                measured: vec!["System Mode".into(), "User Mode".into(), "Percent".into()],
                ..Default::default()
            },
        };
        total.add(&usage);
        tasks.insert(
            task,
            TaskResourceUsage {
                resource_usage: usage,
                timestamp: now,
                pids: None,
            },
        );
    }
    AllocResourceUsage {
        resource_usage: total,
        tasks,
        timestamp: now,
    }
}

/// Per-core (name, user, system, idle, total) jiffies from /proc/stat; `cpu0`, `cpu1`, ...
pub fn parse_proc_stat(text: &str) -> Vec<(String, u64, u64, u64, u64)> {
    text.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let name = f.next()?.to_string();
            let v: Vec<u64> = f.filter_map(|x| x.parse().ok()).collect();
            // user nice system idle iowait irq softirq steal
            let user = v.first()? + v.get(1).unwrap_or(&0);
            let system = v.get(2)? + v.get(5).unwrap_or(&0) + v.get(6).unwrap_or(&0);
            let idle = v.get(3)? + v.get(4).unwrap_or(&0);
            let total: u64 = v.iter().take(8).sum();
            Some((name, user, system, idle, total))
        })
        .collect()
}

/// (total, available, free) bytes from /proc/meminfo.
pub fn parse_meminfo(text: &str) -> (u64, u64, u64) {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| {
                v.trim_start_matches(':')
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0)
            * 1024
    };
    (field("MemTotal"), field("MemAvailable"), field("MemFree"))
}

/// The file system holding `path`: its size, use and inodes.
pub fn disk(path: &Path) -> Option<HostDiskStats> {
    let s = nix::sys::statvfs::statvfs(path).ok()?;
    let frag = s.fragment_size();
    let size = s.blocks() * frag;
    let available = s.blocks_available() * frag;
    let used = size.saturating_sub(s.blocks_free() * frag);
    let pct = |used: u64, total: u64| {
        if total == 0 {
            0.0
        } else {
            used as f64 * 100.0 / total as f64
        }
    };
    Some(HostDiskStats {
        device: String::new(),
        mountpoint: path.display().to_string(),
        size,
        used,
        available,
        used_percent: pct(used, used + available),
        inodes_used_percent: pct(s.files().saturating_sub(s.files_free()), s.files()),
    })
}

/// Seconds since the host booted.
pub fn uptime_secs() -> u64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

/// The host, measured over [`SAMPLE`]: memory, each core, and the disks of `/` and `alloc_base`.
pub async fn host_stats(alloc_base: &Path, mhz_per_core: f64) -> HostStats {
    let read = || std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let first = parse_proc_stat(&read());
    tokio::time::sleep(SAMPLE).await;
    let second = parse_proc_stat(&read());
    let mut cpus = Vec::new();
    let mut busy_share = 0.0;
    for (name, u, s, i, t) in &second {
        let Some((_, u0, s0, i0, t0)) = first.iter().find(|c| &c.0 == name) else {
            continue;
        };
        let dt = t.saturating_sub(*t0).max(1) as f64;
        let user = u.saturating_sub(*u0) as f64 * 100.0 / dt;
        let system = s.saturating_sub(*s0) as f64 * 100.0 / dt;
        let idle = i.saturating_sub(*i0) as f64 * 100.0 / dt;
        busy_share += (user + system) / 100.0;
        cpus.push(HostCpuStats {
            cpu: name.clone(),
            user,
            system,
            idle,
            total: user + system,
        });
    }
    let (total, available, free) =
        parse_meminfo(&std::fs::read_to_string("/proc/meminfo").unwrap_or_default());
    let uptime = uptime_secs();
    let mut disks: Vec<HostDiskStats> = [Path::new("/"), alloc_base]
        .iter()
        .filter_map(|p| disk(p))
        .collect();
    disks.dedup_by(|a, b| a.mountpoint == b.mountpoint);
    HostStats {
        memory: HostMemoryStats {
            total,
            available,
            used: total.saturating_sub(available),
            free,
        },
        cpu: cpus,
        disk_stats: disks,
        uptime,
        cpu_ticks_consumed: busy_share * mhz_per_core,
        timestamp: now_nanos(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_stat_fields_survive_odd_command_names() {
        let text = "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 100 0 0 0 37 12 0 0 20 0 1 0 5000 10000000 512 18446744073709551615";
        assert_eq!(parse_pid_stat(text), Some((1, 37, 12, 512)));
        assert_eq!(parse_pid_stat("garbage"), None);
    }

    #[test]
    fn a_tree_sums_its_descendants_only() {
        let procs = HashMap::from([
            (10, (1, 5, 1, 100)),
            (11, (10, 3, 2, 50)),
            (12, (11, 1, 1, 10)),
            (20, (1, 100, 100, 1000)),
        ]);
        let s = tree_sample(10, &procs, 4096);
        assert_eq!((s.user, s.system, s.rss), (9, 4, 160 * 4096));
        assert_eq!(tree_sample(99, &procs, 4096), TreeSample::default());
    }

    #[test]
    fn host_files_parse() {
        let stat = "cpu  10 0 5 100 0 0 0 0 0 0\ncpu0 4 1 2 50 3 0 1 0 0 0\ncpu1 6 0 3 50 0 0 0 0 0 0\nintr 1 2\n";
        let cpus = parse_proc_stat(stat);
        assert_eq!(cpus.len(), 2);
        assert_eq!(cpus[0], ("cpu0".to_string(), 5, 3, 53, 61));
        let mem = "MemTotal:       1000 kB\nMemFree:         200 kB\nMemAvailable:    600 kB\n";
        assert_eq!(parse_meminfo(mem), (1_024_000, 614_400, 204_800));
    }
}
