//! The group's restart policy, applied on each task exit: how many restarts within the interval,
//! the delay between them (with jitter), and what happens when the attempts run out.

use crate::drivers::ExitResult;
use api::RestartPolicy;
use std::time::{Duration, Instant};

pub const REASON_WITHIN_POLICY: &str = "Restart within policy";

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Start again after the delay.
    Restart { delay: Duration, reason: String },
    /// Dead and failed.
    Fail { reason: String },
    /// Dead, successfully (a batch task that exited 0).
    Complete,
}

pub struct RestartTracker {
    policy: RestartPolicy,
    batch: bool,
    count: u32,
    window_start: Instant,
}

impl RestartTracker {
    pub fn new(policy: RestartPolicy, job_type: &str) -> Self {
        RestartTracker {
            policy,
            batch: api::runs_to_completion(job_type),
            count: 0,
            window_start: Instant::now(),
        }
    }

    /// The task exited (or could not start: `exit` is then `None`, with `recoverable` telling
    /// whether trying again can help).
    pub fn on_exit(
        &mut self,
        exit: Option<&ExitResult>,
        recoverable: bool,
        now: Instant,
    ) -> Decision {
        if let Some(e) = exit {
            // A batch task is done once it succeeded; a service task is restarted even after
            // exit 0. An unknown exit (re-attached task) is not run again for batch jobs, so a
            // batch task never runs twice.
            if self.batch && (e.successful() || e.exit_code.is_none()) {
                return Decision::Complete;
            }
        }
        if !recoverable {
            return Decision::Fail {
                reason: "Error was unrecoverable".into(),
            };
        }
        if now.duration_since(self.window_start) > self.policy.interval {
            self.count = 0;
            self.window_start = now;
        }
        self.count += 1;
        let attempts = u32::try_from(self.policy.attempts).unwrap_or(0);
        if self.count <= attempts {
            return Decision::Restart {
                delay: jitter(self.policy.delay),
                reason: REASON_WITHIN_POLICY.into(),
            };
        }
        let interval = api::duration::format_duration(self.policy.interval);
        if self.policy.mode == "delay" {
            // Wait for the interval to end, then start a fresh window.
            let end = self.window_start + self.policy.interval;
            let delay = end
                .saturating_duration_since(now)
                .max(jitter(self.policy.delay));
            self.count = 0;
            self.window_start = now + delay;
            return Decision::Restart {
                delay,
                reason: format!(
                    "Exceeded allowed attempts {} in interval {interval} and mode is \"delay\"",
                    self.policy.attempts
                ),
            };
        }
        Decision::Fail {
            reason: format!(
                "Exceeded allowed attempts {} in interval {interval} and mode is \"fail\"",
                self.policy.attempts
            ),
        }
    }
}

/// The policy delay plus or minus 25%.
fn jitter(delay: Duration) -> Duration {
    let factor = 0.75 + rand::random::<f64>() * 0.5;
    delay.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(attempts: i32, mode: &str) -> RestartPolicy {
        RestartPolicy {
            attempts,
            interval: Duration::from_secs(60),
            delay: Duration::from_secs(4),
            mode: mode.into(),
        }
    }

    fn failed() -> ExitResult {
        ExitResult {
            exit_code: Some(1),
            ..Default::default()
        }
    }

    #[test]
    fn fail_mode_gives_up_after_attempts() {
        let now = Instant::now();
        let mut t = RestartTracker::new(policy(2, "fail"), "service");
        for _ in 0..2 {
            match t.on_exit(Some(&failed()), true, now) {
                Decision::Restart { delay, reason } => {
                    assert!(delay >= Duration::from_secs(3) && delay <= Duration::from_secs(5));
                    assert_eq!(reason, REASON_WITHIN_POLICY);
                }
                d => panic!("{d:?}"),
            }
        }
        let Decision::Fail { reason } = t.on_exit(Some(&failed()), true, now) else {
            panic!()
        };
        assert!(
            reason.contains("Exceeded allowed attempts 2 in interval 1m0s"),
            "{reason}"
        );
        // A new interval starts over.
        let later = now + Duration::from_secs(61);
        assert!(matches!(
            t.on_exit(Some(&failed()), true, later),
            Decision::Restart { .. }
        ));
    }

    #[test]
    fn delay_mode_waits_for_the_interval() {
        let now = Instant::now();
        let mut t = RestartTracker::new(policy(1, "delay"), "service");
        assert!(matches!(
            t.on_exit(Some(&failed()), true, now),
            Decision::Restart { .. }
        ));
        let Decision::Restart { delay, .. } =
            t.on_exit(Some(&failed()), true, now + Duration::from_secs(10))
        else {
            panic!()
        };
        assert!(
            delay >= Duration::from_secs(49) && delay <= Duration::from_secs(51),
            "{delay:?}"
        );
    }

    #[test]
    fn batch_success_completes_and_service_success_restarts() {
        let ok = ExitResult {
            exit_code: Some(0),
            ..Default::default()
        };
        let now = Instant::now();
        assert_eq!(
            RestartTracker::new(policy(2, "fail"), "batch").on_exit(Some(&ok), true, now),
            Decision::Complete
        );
        assert!(matches!(
            RestartTracker::new(policy(2, "fail"), "service").on_exit(Some(&ok), true, now),
            Decision::Restart { .. }
        ));
        assert!(matches!(
            RestartTracker::new(policy(2, "fail"), "service").on_exit(None, false, now),
            Decision::Fail { .. }
        ));
    }
}
