//! The status of one check as its results come in: Consul's thresholds
//! (`success_before_passing`, `failures_before_critical`), the streak `check_restart` counts, and
//! the last result for `alloc status`. Pure: no IO, no clock of its own.

use api::{ServiceCheck, CHECK_CRITICAL, CHECK_PASSING, CHECK_WARNING};
use std::time::Duration;

/// One probe's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeResult {
    /// passing, warning or critical.
    pub status: &'static str,
    pub output: String,
    /// An http check's response status; 0 otherwise.
    pub status_code: i64,
    /// Unix nanoseconds.
    pub at: i64,
}

#[derive(Debug, Clone)]
pub struct CheckState {
    /// The status the check reports (after thresholds).
    pub status: String,
    /// The output and time of the result that set `status`.
    pub status_output: String,
    pub status_at: i64,
    /// The newest result, whatever it did to the status.
    pub last: Option<ProbeResult>,
    successes: u32,
    failures: u32,
    /// Unhealthy results in a row, for check_restart.
    unhealthy: u32,
    passed_once: bool,
}

impl CheckState {
    pub fn new(check: &ServiceCheck) -> Self {
        let status = if check.initial_status.is_empty() {
            CHECK_CRITICAL
        } else {
            &check.initial_status
        };
        CheckState {
            status: status.to_string(),
            status_output: String::new(),
            status_at: 0,
            last: None,
            successes: 0,
            failures: 0,
            unhealthy: 0,
            passed_once: false,
        }
    }

    /// Whether a probe has ever passed; until then a fresh instance is probed more often.
    pub fn passed_once(&self) -> bool {
        self.passed_once
    }

    /// Takes a result in. Returns true when the reported status changed.
    pub fn record(&mut self, check: &ServiceCheck, r: ProbeResult) -> bool {
        let restart_counts = check.check_restart.as_ref().is_some_and(|c| {
            r.status == CHECK_CRITICAL || (r.status == CHECK_WARNING && !c.ignore_warnings)
        });
        self.unhealthy = if restart_counts {
            self.unhealthy + 1
        } else {
            0
        };
        let (streak, needed) = if r.status == CHECK_PASSING {
            self.passed_once = true;
            self.failures = 0;
            self.successes += 1;
            (self.successes, check.success_before_passing.max(1))
        } else {
            self.successes = 0;
            self.failures += 1;
            (self.failures, check.failures_before_critical.max(1))
        };
        let changed = self.status != r.status && streak >= needed;
        if changed {
            self.status = r.status.to_string();
            self.status_output = r.output.clone();
            self.status_at = r.at;
        }
        self.last = Some(r);
        changed
    }

    /// `check_restart`: whether the task must restart now: `limit` unhealthy results in a row,
    /// and the grace after the task's start is over. Saying yes starts the count again.
    pub fn restart_due(&mut self, check: &ServiceCheck, since_start: Duration) -> bool {
        let Some(cr) = &check.check_restart else {
            return false;
        };
        if cr.limit == 0 || since_start < cr.grace || self.unhealthy < cr.limit {
            return false;
        }
        self.unhealthy = 0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::CheckRestart;

    fn result(status: &'static str) -> ProbeResult {
        ProbeResult {
            status,
            output: format!("it is {status}"),
            status_code: 0,
            at: 1,
        }
    }

    #[test]
    fn starts_critical_unless_told_and_follows_each_result() {
        let c = ServiceCheck::default();
        let mut s = CheckState::new(&c);
        assert_eq!(s.status, "critical");
        assert!(!s.record(&c, result(CHECK_CRITICAL)), "no change");
        assert!(s.record(&c, result(CHECK_PASSING)));
        assert!(s.passed_once());
        assert!(s.record(&c, result(CHECK_WARNING)));
        assert_eq!(s.status_output, "it is warning");
        let passing = ServiceCheck {
            initial_status: "passing".into(),
            ..Default::default()
        };
        assert_eq!(CheckState::new(&passing).status, "passing");
    }

    #[test]
    fn thresholds_need_results_in_a_row() {
        let c = ServiceCheck {
            success_before_passing: 2,
            failures_before_critical: 3,
            ..Default::default()
        };
        let mut s = CheckState::new(&c);
        assert!(!s.record(&c, result(CHECK_PASSING)));
        assert!(
            !s.record(&c, result(CHECK_CRITICAL)),
            "the streak is broken"
        );
        assert!(!s.record(&c, result(CHECK_PASSING)));
        assert!(s.record(&c, result(CHECK_PASSING)), "two in a row");
        assert!(!s.record(&c, result(CHECK_CRITICAL)));
        assert!(!s.record(&c, result(CHECK_CRITICAL)));
        assert_eq!(s.status, "passing");
        assert!(s.record(&c, result(CHECK_CRITICAL)), "three in a row");
        assert_eq!(s.last.as_ref().map(|r| r.status), Some(CHECK_CRITICAL));
    }

    #[test]
    fn check_restart_counts_unhealthy_results_after_the_grace() {
        let mut c = ServiceCheck {
            check_restart: Some(CheckRestart {
                limit: 2,
                grace: Duration::from_secs(10),
                ignore_warnings: true,
            }),
            ..Default::default()
        };
        let mut s = CheckState::new(&c);
        s.record(&c, result(CHECK_CRITICAL));
        s.record(&c, result(CHECK_WARNING));
        assert!(
            !s.restart_due(&c, Duration::from_secs(60)),
            "warnings ignored"
        );
        s.record(&c, result(CHECK_CRITICAL));
        s.record(&c, result(CHECK_CRITICAL));
        assert!(!s.restart_due(&c, Duration::from_secs(1)), "in the grace");
        assert!(s.restart_due(&c, Duration::from_secs(11)));
        assert!(!s.restart_due(&c, Duration::from_secs(11)), "counted again");
        if let Some(cr) = c.check_restart.as_mut() {
            cr.ignore_warnings = false;
        }
        s.record(&c, result(CHECK_WARNING));
        s.record(&c, result(CHECK_WARNING));
        assert!(s.restart_due(&c, Duration::from_secs(11)));
    }
}
