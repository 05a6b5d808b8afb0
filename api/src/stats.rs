//! Resource usage as the client measures it: `/v1/client/stats` (the host) and
//! `/v1/client/allocation/:id/stats` (an allocation's tasks), in Nomad's shape.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostStats {
    pub memory: HostMemoryStats,
    #[serde(rename = "CPU")]
    pub cpu: Vec<HostCpuStats>,
    pub disk_stats: Vec<HostDiskStats>,
    /// Seconds since boot.
    pub uptime: u64,
    /// MHz consumed over the sample, over all cores.
    #[serde(rename = "CPUTicksConsumed")]
    pub cpu_ticks_consumed: f64,
    /// Unix nanoseconds of the sample.
    pub timestamp: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostMemoryStats {
    pub total: u64,
    pub available: u64,
    pub used: u64,
    pub free: u64,
}

/// One core's time over the sample, in percent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostCpuStats {
    #[serde(rename = "CPU")]
    pub cpu: String,
    pub user: f64,
    pub system: f64,
    pub idle: f64,
    pub total: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostDiskStats {
    pub device: String,
    pub mountpoint: String,
    pub size: u64,
    pub used: u64,
    pub available: u64,
    pub used_percent: f64,
    pub inodes_used_percent: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocResourceUsage {
    /// The sum over the tasks.
    pub resource_usage: ResourceUsage,
    pub tasks: BTreeMap<String, TaskResourceUsage>,
    pub timestamp: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskResourceUsage {
    pub resource_usage: ResourceUsage,
    pub timestamp: i64,
    /// Per process; not measured separately here.
    pub pids: Option<BTreeMap<String, ResourceUsage>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceUsage {
    pub memory_stats: MemoryStats,
    pub cpu_stats: CpuStats,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MemoryStats {
    /// Resident bytes of the task's processes.
    #[serde(rename = "RSS")]
    pub rss: u64,
    pub cache: u64,
    pub swap: u64,
    pub usage: u64,
    pub max_usage: u64,
    pub kernel_usage: u64,
    pub kernel_max_usage: u64,
    /// Which of the fields were measured (the others are zero).
    pub measured: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CpuStats {
    /// Percent of one core spent in the kernel and in user space over the sample.
    pub system_mode: f64,
    pub user_mode: f64,
    /// MHz consumed: the share of a core times its speed.
    pub total_ticks: f64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
    /// Percent of one core.
    pub percent: f64,
    pub measured: Vec<String>,
}

impl ResourceUsage {
    /// Adds `other` into this sum (allocation totals from their tasks).
    pub fn add(&mut self, other: &ResourceUsage) {
        self.memory_stats.rss += other.memory_stats.rss;
        self.memory_stats.usage += other.memory_stats.usage;
        self.cpu_stats.system_mode += other.cpu_stats.system_mode;
        self.cpu_stats.user_mode += other.cpu_stats.user_mode;
        self.cpu_stats.total_ticks += other.cpu_stats.total_ticks;
        self.cpu_stats.percent += other.cpu_stats.percent;
        if self.memory_stats.measured.is_empty() {
            self.memory_stats.measured = other.memory_stats.measured.clone();
            self.cpu_stats.measured = other.cpu_stats.measured.clone();
        }
    }
}
