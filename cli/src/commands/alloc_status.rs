//! `alloc status ID`: one allocation, its tasks' resources and recent events.

use crate::commands::lookup;
use crate::format::{self, kv, table_with};
use anyhow::Result;
use api::client::Client;
use api::{Allocation, TaskEvent, TaskState};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// An allocation id or unique prefix
    pub alloc: String,
    /// Show full ids, exact times and all events
    #[arg(long)]
    pub verbose: bool,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let alloc = lookup::alloc(client, &args.alloc, args.verbose)?;
    print!("{}", render(&alloc, args.verbose, format::now_nanos()));
    Ok(0)
}

pub fn render(a: &Allocation, verbose: bool, now: i64) -> String {
    let when = |t: i64| {
        if verbose {
            format::rfc3339(t)
        } else {
            format::ago(t, now)
        }
    };
    let mut out = kv(&[
        ("ID", format::id(&a.id, verbose)),
        ("Eval ID", format::id(&a.eval_id, verbose)),
        ("Name", a.name.clone()),
        ("Node ID", format::id(&a.node_id, verbose)),
        ("Node Name", a.node_name.clone()),
        ("Job ID", a.job_id.clone()),
        ("Job Version", a.job_version.to_string()),
        ("Client Status", a.client_status.clone()),
        ("Client Description", format::or_none(&a.client_description)),
        ("Desired Status", a.desired_status.clone()),
        (
            "Desired Description",
            format::or_none(&a.desired_description),
        ),
        ("Created", when(a.create_time)),
        ("Modified", when(a.modify_time)),
    ]);
    for name in task_names(a) {
        let state = a.task_states.get(&name).cloned().unwrap_or_default();
        let shown = if state.state.is_empty() {
            "pending"
        } else {
            &state.state
        };
        out.push_str(&format!("\nTask {name:?} is {shown:?}\n"));
        out.push_str("Task Resources:\n");
        out.push_str(&resources_table(a, &name));
        out.push_str("\nTask Events:\n");
        out.push_str(&task_events_header(&state));
        out.push_str("\nRecent Events:\n");
        out.push_str(&events_table(&state.events, verbose));
    }
    out
}

/// Tasks of the allocation's group in job order, else those with a state.
pub fn task_names(a: &Allocation) -> Vec<String> {
    let from_job: Vec<String> = a
        .job
        .as_ref()
        .and_then(|j| j.lookup_group(&a.task_group))
        .map(|g| g.tasks.iter().map(|t| t.name.clone()).collect())
        .unwrap_or_default();
    if from_job.is_empty() {
        a.task_states.keys().cloned().collect()
    } else {
        from_job
    }
}

fn resources_table(a: &Allocation, task: &str) -> String {
    let job_task = a
        .job
        .as_ref()
        .and_then(|j| j.lookup_group(&a.task_group))
        .and_then(|g| g.tasks.iter().find(|t| t.name == task));
    let (cpu, mem) = match a.allocated_resources.tasks.get(task) {
        Some(r) => (r.cpu.cpu_shares, r.memory.memory_mb),
        None => job_task.map_or((0, 0), |t| (t.resources.cpu, t.resources.memory_mb)),
    };
    let disk = job_task.map_or(0, |t| t.resources.disk_mb);
    let addrs: Vec<String> = a
        .allocated_resources
        .shared
        .ports
        .iter()
        .map(|p| format!("{}: {}:{}", p.label, p.host_ip, p.value))
        .collect();
    let mut rows = vec![vec![
        format!("{cpu} MHz"),
        format::mib(mem),
        format::mib(disk),
        addrs.first().cloned().unwrap_or_default(),
    ]];
    for extra in addrs.iter().skip(1) {
        rows.push(vec![
            String::new(),
            String::new(),
            String::new(),
            extra.clone(),
        ]);
    }
    table_with(&["CPU", "Memory", "Disk", "Addresses"], rows)
}

fn task_events_header(s: &TaskState) -> String {
    let or_na = |v: &str| {
        if v.is_empty() {
            "N/A".to_string()
        } else {
            v.to_string()
        }
    };
    kv(&[
        ("Started At", or_na(&s.started_at)),
        ("Finished At", or_na(&s.finished_at)),
        ("Total Restarts", s.restarts.to_string()),
        ("Last Restart", or_na(&s.last_restart)),
    ])
}

/// `Time  Type  Description`, newest first; the last 10 unless verbose.
pub fn events_table(events: &[TaskEvent], verbose: bool) -> String {
    let mut sorted: Vec<&TaskEvent> = events.iter().collect();
    sorted.sort_by_key(|e| std::cmp::Reverse(e.time));
    if !verbose {
        sorted.truncate(10);
    }
    let rows = sorted
        .iter()
        .map(|e| vec![format::rfc3339(e.time), e.event_type.clone(), describe(e)])
        .collect();
    table_with(&["Time", "Type", "Description"], rows)
}

/// The event's display message, or one built from its fields for agents that send none.
pub fn describe(e: &TaskEvent) -> String {
    if !e.display_message.is_empty() {
        return e.display_message.clone();
    }
    match e.event_type.as_str() {
        api::EVENT_TERMINATED => format!("Exit Code: {}", e.exit_code),
        api::EVENT_DRIVER_FAILURE if !e.driver_error.is_empty() => e.driver_error.clone(),
        api::EVENT_RESTARTING if !e.restart_reason.is_empty() => e.restart_reason.clone(),
        _ => e.message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_newest_first_with_descriptions() {
        let sec = 1_000_000_000;
        let ev = |t: i64, ty: &str, msg: &str| TaskEvent {
            event_type: ty.into(),
            time: 1_704_103_200 * sec + t * sec,
            display_message: msg.into(),
            ..Default::default()
        };
        let mut term = ev(2, "Terminated", "");
        term.exit_code = 1;
        let out = events_table(
            &[
                ev(0, "Received", "Task received by client"),
                ev(1, "Started", "Task started by client"),
                term,
            ],
            false,
        );
        assert_eq!(
            out,
            "Time                  Type        Description\n\
             2024-01-01T10:00:02Z  Terminated  Exit Code: 1\n\
             2024-01-01T10:00:01Z  Started     Task started by client\n\
             2024-01-01T10:00:00Z  Received    Task received by client\n"
        );
    }
}
