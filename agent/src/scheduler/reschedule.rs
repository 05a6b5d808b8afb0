//! Rescheduling failed allocations: whether the group's ReschedulePolicy allows another attempt,
//! and when (delay with constant, exponential or fibonacci backoff, capped by max_delay).

use api::{Allocation, RescheduleEvent, ReschedulePolicy, RescheduleTracker};

/// How many events an unlimited policy keeps: enough to compute the next backoff step.
const UNLIMITED_HISTORY: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Replace now; the replacement waited `delay` nanoseconds.
    Now { delay: i64 },
    /// Replace at `wait_until` (Unix nanoseconds).
    Later { wait_until: i64, delay: i64 },
    /// The policy forbids another attempt: the allocation stays failed.
    Never,
}

fn nanos(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// When the allocation failed: the latest FinishedAt of its tasks (RFC 3339, set by the client),
/// else its last modification time.
fn failed_at(a: &Allocation) -> i64 {
    let finished = a
        .task_states
        .values()
        .filter_map(|t| parse_rfc3339(&t.finished_at))
        .max();
    match finished {
        Some(t) => t,
        None if a.modify_time > 0 => a.modify_time,
        None => a.create_time,
    }
}

pub use api::time::parse_rfc3339;

fn events(a: &Allocation) -> &[RescheduleEvent] {
    a.reschedule_tracker
        .as_ref()
        .map(|t| t.events.as_slice())
        .unwrap_or(&[])
}

/// The delay before the next attempt, from the previous attempts' delays.
pub fn next_delay(policy: &ReschedulePolicy, prior: &[RescheduleEvent]) -> i64 {
    let base = nanos(policy.delay);
    let max = nanos(policy.max_delay);
    let d = match policy.delay_function.as_str() {
        "exponential" => match prior.last() {
            Some(last) if last.delay > 0 => last.delay.saturating_mul(2),
            _ => base,
        },
        "fibonacci" => match prior {
            [.., a, b] if a.delay > 0 && b.delay > 0 => a.delay.saturating_add(b.delay),
            _ => base,
        },
        _ => base,
    };
    if max > 0 {
        d.min(max)
    } else {
        d
    }
}

/// `eval_id` is the running evaluation: a follow-up evaluation created for this allocation
/// replaces it even if the clock is slightly early.
pub fn verdict(
    a: &Allocation,
    policy: Option<&ReschedulePolicy>,
    now: i64,
    eval_id: &str,
) -> Verdict {
    // An operator's `job eval -force-reschedule` overrides the policy: replace it now.
    if a.desired_transition.should_force_reschedule() {
        return Verdict::Now { delay: 0 };
    }
    let Some(policy) = policy else {
        return Verdict::Never;
    };
    let prior = events(a);
    if !policy.unlimited {
        let interval = nanos(policy.interval);
        let recent = prior
            .iter()
            .filter(|e| interval == 0 || e.reschedule_time > now.saturating_sub(interval))
            .count();
        if policy.attempts <= 0 || recent >= policy.attempts as usize {
            return Verdict::Never;
        }
    }
    let delay = next_delay(policy, prior);
    let wait_until = failed_at(a).saturating_add(delay);
    if wait_until <= now || (!a.followup_eval_id.is_empty() && a.followup_eval_id == eval_id) {
        Verdict::Now { delay }
    } else {
        Verdict::Later { wait_until, delay }
    }
}

/// The tracker of the replacement: the previous attempts that still matter plus this one.
pub fn next_tracker(
    a: &Allocation,
    policy: Option<&ReschedulePolicy>,
    now: i64,
    delay: i64,
) -> RescheduleTracker {
    let mut kept: Vec<RescheduleEvent> = match policy {
        Some(p) if !p.unlimited && !p.interval.is_zero() => {
            let interval = nanos(p.interval);
            events(a)
                .iter()
                .filter(|e| e.reschedule_time > now.saturating_sub(interval))
                .cloned()
                .collect()
        }
        _ => events(a).to_vec(),
    };
    if policy.is_some_and(|p| p.unlimited) && kept.len() >= UNLIMITED_HISTORY {
        kept.drain(..kept.len() + 1 - UNLIMITED_HISTORY);
    }
    kept.push(RescheduleEvent {
        reschedule_time: now,
        prev_alloc_id: a.id.clone(),
        prev_node_id: a.node_id.clone(),
        delay,
    });
    RescheduleTracker { events: kept }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const S: i64 = 1_000_000_000;

    fn policy(attempts: i32, func: &str) -> ReschedulePolicy {
        ReschedulePolicy {
            attempts,
            interval: Duration::from_secs(3600),
            delay: Duration::from_secs(5),
            delay_function: func.into(),
            max_delay: Duration::from_secs(60),
            unlimited: false,
        }
    }

    fn failed(at: i64, prior_delays: &[i64]) -> Allocation {
        Allocation {
            modify_time: at,
            reschedule_tracker: Some(RescheduleTracker {
                events: prior_delays
                    .iter()
                    .map(|d| RescheduleEvent {
                        reschedule_time: at,
                        delay: *d,
                        ..RescheduleEvent::default()
                    })
                    .collect(),
            }),
            ..Allocation::default()
        }
    }

    #[test]
    fn delays_by_function() {
        let p = policy(10, "exponential");
        assert_eq!(next_delay(&p, &[]), 5 * S);
        assert_eq!(
            next_delay(
                &p,
                &failed(0, &[5 * S, 10 * S])
                    .reschedule_tracker
                    .unwrap_or_default()
                    .events
            ),
            20 * S
        );
        assert_eq!(
            next_delay(
                &p,
                &failed(0, &[40 * S])
                    .reschedule_tracker
                    .unwrap_or_default()
                    .events
            ),
            60 * S
        );
        let f = policy(10, "fibonacci");
        assert_eq!(
            next_delay(
                &f,
                &failed(0, &[5 * S, 5 * S, 10 * S])
                    .reschedule_tracker
                    .unwrap_or_default()
                    .events
            ),
            15 * S
        );
        let c = policy(10, "constant");
        assert_eq!(
            next_delay(
                &c,
                &failed(0, &[5 * S])
                    .reschedule_tracker
                    .unwrap_or_default()
                    .events
            ),
            5 * S
        );
    }

    #[test]
    fn verdict_table() {
        let p = policy(1, "constant");
        let now = 1000 * S;
        assert_eq!(
            verdict(&failed(now - 10 * S, &[]), Some(&p), now, ""),
            Verdict::Now { delay: 5 * S }
        );
        assert_eq!(
            verdict(&failed(now - 2 * S, &[]), Some(&p), now, ""),
            Verdict::Later {
                wait_until: now + 3 * S,
                delay: 5 * S
            }
        );
        // One attempt already used within the interval.
        assert_eq!(
            verdict(&failed(now - 10 * S, &[5 * S]), Some(&p), now, ""),
            Verdict::Never
        );
        assert_eq!(verdict(&failed(now, &[]), None, now, ""), Verdict::Never);
        // Forced: now, whatever the policy or its attempts left.
        let mut forced = failed(now - 10 * S, &[5 * S]);
        forced.desired_transition.force_reschedule = Some(true);
        assert_eq!(
            verdict(&forced, Some(&p), now, ""),
            Verdict::Now { delay: 0 }
        );
        assert_eq!(verdict(&forced, None, now, ""), Verdict::Now { delay: 0 });
        let mut unlimited = policy(0, "constant");
        unlimited.unlimited = true;
        assert!(matches!(
            verdict(
                &failed(now - 10 * S, &[5 * S; 30]),
                Some(&unlimited),
                now,
                ""
            ),
            Verdict::Now { .. }
        ));
    }

    #[test]
    fn tracker_appends_and_trims() {
        let now = 5000 * S;
        let mut a = failed(now, &[S, S]);
        a.id = "old".into();
        a.node_id = "n1".into();
        let t = next_tracker(&a, Some(&policy(5, "constant")), now, 7);
        assert_eq!(t.events.len(), 3);
        assert_eq!(t.events[2].prev_alloc_id, "old");
        assert_eq!(t.events[2].delay, 7);
    }
}
