//! The `periodic` block: a batch job that never runs itself; the leader launches a child,
//! `<job>/periodic-<unix time>`, at each time its cron schedules name.

use super::cron::{time_zone, CronSpec};
use serde::{Deserialize, Serialize};

pub const PERIODIC_SPEC_CRON: &str = "cron";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PeriodicConfig {
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// One cron expression (`cron` in a job file).
    #[serde(default)]
    pub spec: String,
    /// Several (`crons`); the next launch is the earliest any of them names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub specs: Vec<String>,
    #[serde(default = "cron_type")]
    pub spec_type: String,
    /// Skip a launch while an earlier child still runs.
    #[serde(default)]
    pub prohibit_overlap: bool,
    /// IANA name; empty means UTC.
    #[serde(default)]
    pub time_zone: String,
}

fn enabled_by_default() -> bool {
    true
}

fn cron_type() -> String {
    PERIODIC_SPEC_CRON.into()
}

impl Default for PeriodicConfig {
    fn default() -> Self {
        PeriodicConfig {
            enabled: true,
            spec: String::new(),
            specs: Vec::new(),
            spec_type: cron_type(),
            prohibit_overlap: false,
            time_zone: String::new(),
        }
    }
}

/// The id of the child launched at `unix_secs`, as Nomad names it.
pub fn periodic_child_id(parent: &str, unix_secs: i64) -> String {
    format!("{parent}/periodic-{unix_secs}")
}

impl PeriodicConfig {
    fn expressions(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.spec)
            .filter(|s| !s.is_empty())
            .chain(&self.specs)
    }

    /// Everything wrong with the block, each saying what to fix.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.spec_type != PERIODIC_SPEC_CRON {
            out.push(format!(
                "periodic spec type {:?} is not supported: only cron",
                self.spec_type
            ));
        }
        match (self.spec.is_empty(), self.specs.is_empty()) {
            (true, true) => out.push("a periodic block needs cron or crons".into()),
            (false, false) => out.push("a periodic block takes cron or crons, not both".into()),
            _ => {}
        }
        for e in self.expressions() {
            if let Err(m) = CronSpec::parse(e) {
                out.push(format!("periodic cron {e:?}: {m}"));
            }
        }
        if let Err(m) = time_zone(&self.time_zone) {
            out.push(format!("periodic time_zone: {m}"));
        }
        out
    }

    /// The first launch strictly after `after` (Unix seconds), over every expression; `None`
    /// when the block is disabled, broken, or names no later time.
    pub fn next_launch(&self, after: i64) -> Option<i64> {
        if !self.enabled {
            return None;
        }
        let tz = time_zone(&self.time_zone).ok()?;
        self.expressions()
            .filter_map(|e| CronSpec::parse(e).ok()?.next_after(after, &tz))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_launch_takes_the_earliest_expression() {
        let p = PeriodicConfig {
            specs: vec!["0 12 * * *".into(), "30 * * * *".into()],
            ..PeriodicConfig::default()
        };
        assert!(p.problems().is_empty());
        // 2026-12-07T11:07:00Z -> 11:30.
        assert_eq!(p.next_launch(1_796_641_620), Some(1_796_643_000));
        let off = PeriodicConfig {
            enabled: false,
            ..p
        };
        assert_eq!(off.next_launch(0), None);
        let both = PeriodicConfig {
            spec: "* * * * *".into(),
            specs: vec!["* * * * *".into()],
            ..PeriodicConfig::default()
        };
        assert!(both.problems()[0].contains("not both"));
    }
}
