//! Task events in Nomad's wording, and the clock formats the API uses (Unix nanoseconds, RFC 3339).

use api::TaskEvent;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use api::time::now_nanos;

/// RFC 3339 in UTC with nanoseconds, as Go prints `time.Time` in JSON
/// ("2024-05-01T12:00:00.123456789Z").
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    api::time::rfc3339_nanos(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

pub fn rfc3339_now() -> String {
    rfc3339(SystemTime::now())
}

pub fn event(kind: &str, message: &str) -> TaskEvent {
    TaskEvent {
        event_type: kind.to_string(),
        time: now_nanos(),
        display_message: message.to_string(),
        details: BTreeMap::new(),
        ..Default::default()
    }
}

pub fn received() -> TaskEvent {
    event(api::EVENT_RECEIVED, "Task received by client")
}

pub fn setup() -> TaskEvent {
    event(api::EVENT_TASK_SETUP, "Building Task Directory")
}

pub fn started() -> TaskEvent {
    event(api::EVENT_STARTED, "Task started by client")
}

pub fn terminated(exit: &crate::drivers::ExitResult) -> TaskEvent {
    let mut e = event(api::EVENT_TERMINATED, "");
    e.exit_code = exit.exit_code.map(i64::from).unwrap_or(-1);
    e.signal = exit.signal.map(i64::from).unwrap_or(0);
    e.display_message = match (&exit.exit_code, &exit.err) {
        (None, Some(why)) => format!("Exit Code: unknown ({why})"),
        _ => format!("Exit Code: {}, Signal: {}", e.exit_code, e.signal),
    };
    if let Some(why) = &exit.err {
        e.message = why.clone();
    }
    e.details
        .insert("exit_code".into(), e.exit_code.to_string());
    e.details.insert("signal".into(), e.signal.to_string());
    if exit.oom_killed {
        e.details.insert("oom_killed".into(), "true".into());
    }
    e
}

pub fn restarting(delay: Duration, reason: &str) -> TaskEvent {
    let mut e = event(
        api::EVENT_RESTARTING,
        &format!(
            "Task restarting in {}",
            api::duration::format_duration(delay)
        ),
    );
    e.restart_reason = reason.to_string();
    e.details
        .insert("restart_reason".into(), reason.to_string());
    e
}

pub fn not_restarting(reason: &str, fails_task: bool) -> TaskEvent {
    let mut e = event(api::EVENT_NOT_RESTARTING, reason);
    e.fails_task = fails_task;
    e.restart_reason = reason.to_string();
    e
}

pub fn killing(timeout: Duration, signal: &str) -> TaskEvent {
    let what = if signal.is_empty() || signal.eq_ignore_ascii_case("SIGINT") {
        "interrupt".to_string()
    } else {
        signal.to_string()
    };
    let mut e = event(
        api::EVENT_KILLING,
        &format!(
            "Sent {what}. Waiting {} before force killing",
            api::duration::format_duration(timeout)
        ),
    );
    e.kill_timeout = i64::try_from(timeout.as_nanos()).unwrap_or(i64::MAX);
    e
}

pub fn killed() -> TaskEvent {
    event(api::EVENT_KILLED, "Task successfully killed")
}

pub fn driver_failure(err: &str, fails_task: bool) -> TaskEvent {
    let mut e = event(api::EVENT_DRIVER_FAILURE, err);
    e.driver_error = err.to_string();
    e.fails_task = fails_task;
    e
}

/// Nomad's `TaskArtifactDownloadFailed`; the api crate has no constant for it.
pub const EVENT_ARTIFACT_DOWNLOAD_FAILED: &str = "Failed Artifact Download";

pub fn downloading_artifacts() -> TaskEvent {
    event(
        api::EVENT_DOWNLOADING_ARTIFACTS,
        "Client is downloading artifacts",
    )
}

/// Not `fails_task`: as in Nomad, a failed download is retried under the restart policy.
pub fn artifact_download_failed(err: &str) -> TaskEvent {
    let mut e = event(EVENT_ARTIFACT_DOWNLOAD_FAILED, err);
    e.message = err.to_string();
    e.details.insert("download_error".into(), err.to_string());
    e
}

pub fn setup_failure(err: &str) -> TaskEvent {
    let mut e = event(api::EVENT_SETUP_FAILURE, err);
    e.fails_task = true;
    e
}

/// check_restart asked for a restart (Nomad's `TaskRestartSignal`).
pub fn restart_signaled(reason: &str) -> TaskEvent {
    let mut e = event(api::EVENT_RESTART_SIGNALED, reason);
    e.restart_reason = reason.to_string();
    e
}

/// An operator's `alloc signal`.
pub fn signaling(signal: &str) -> TaskEvent {
    let mut e = event(api::EVENT_SIGNALING, "Task being sent a signal");
    e.details.insert("signal".into(), signal.to_string());
    e
}

/// Between deregistering the task's services and killing it.
pub fn waiting_shutdown_delay(delay: Duration) -> TaskEvent {
    event(
        api::EVENT_WAITING_SHUTDOWN_DELAY,
        &format!(
            "Waiting for shutdown_delay of {} before killing the task.",
            api::duration::format_duration(delay)
        ),
    )
}

/// A part of the task's setup that does not stop it failed (a service that cannot register).
pub fn hook_failed(err: &str) -> TaskEvent {
    let mut e = event(api::EVENT_TASK_HOOK_FAILED, err);
    e.message = err.to_string();
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(951_782_400 + 3661, 5); // 2000-02-29 01:01:01
        assert_eq!(rfc3339(t), "2000-02-29T01:01:01.000000005Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_735_689_599); // last second of 2024
        assert_eq!(rfc3339(t), "2024-12-31T23:59:59.000000000Z");
    }

    #[test]
    fn killing_message_names_the_signal() {
        let e = killing(Duration::from_secs(5), "");
        assert_eq!(
            e.display_message,
            "Sent interrupt. Waiting 5s before force killing"
        );
        assert_eq!(
            killing(Duration::from_secs(1), "SIGTERM").display_message,
            "Sent SIGTERM. Waiting 1s before force killing"
        );
    }
}
