//! `alloc status ID`: one allocation, its tasks' resources and recent events.

use crate::commands::lookup;
use crate::format::{self, kv, table_with};
use anyhow::Result;
use api::client::Client;
use api::{Allocation, CheckQueryResult, TaskEvent, TaskState};
use std::collections::BTreeMap;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// An allocation id or unique prefix
    pub alloc: String,
    /// Show full ids, exact times and all events
    #[arg(long)]
    pub verbose: bool,
    #[command(flatten)]
    pub output: crate::output_flags::OutputFlags,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let alloc = lookup::alloc(client, &args.alloc, args.verbose)?;
    if args.output.print(&alloc)? {
        return Ok(0);
    }
    // Check results live on the client running the allocation; a finished one has none.
    let checks = if alloc.terminal() {
        Ok(BTreeMap::new())
    } else {
        client
            .allocation_checks(&alloc.id)
            .map_err(|e| e.to_string())
    };
    print!(
        "{}",
        render(&alloc, &checks, args.verbose, format::now_nanos())
    );
    Ok(0)
}

/// `Nomad Service Checks:` with each check's status and what its last probe said.
pub fn checks_section(
    checks: &Result<BTreeMap<String, CheckQueryResult>, String>,
    verbose: bool,
) -> String {
    let results = match checks {
        Ok(r) if r.is_empty() => return String::new(),
        Ok(r) => r,
        Err(e) => {
            return format!(
                "\nNomad Service Checks:\n(the client running it did not answer: {e})\n"
            )
        }
    };
    let mut sorted: Vec<&CheckQueryResult> = results.values().collect();
    sorted.sort_by(|a, b| (&a.service, &a.task, &a.check).cmp(&(&b.service, &b.task, &b.check)));
    let rows = sorted
        .iter()
        .map(|c| {
            let mut output = c.output.split_whitespace().collect::<Vec<_>>().join(" ");
            if !verbose && output.chars().count() > 60 {
                output = output.chars().take(57).collect::<String>() + "...";
            }
            let task = if c.task.is_empty() {
                "(group)".to_string()
            } else {
                c.task.clone()
            };
            vec![
                c.service.clone(),
                task,
                c.check.clone(),
                c.mode.clone(),
                c.status.clone(),
                output,
            ]
        })
        .collect();
    format!(
        "\nNomad Service Checks:\n{}",
        table_with(
            &["Service", "Task", "Name", "Mode", "Status", "Output"],
            rows
        )
    )
}

pub fn render(
    a: &Allocation,
    checks: &Result<BTreeMap<String, CheckQueryResult>, String>,
    verbose: bool,
    now: i64,
) -> String {
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
    out.push_str(&checks_section(checks, verbose));
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
    fn checks_show_status_and_output() {
        let mut m = BTreeMap::new();
        m.insert(
            "c1".to_string(),
            CheckQueryResult {
                id: "c1".into(),
                check: "alive".into(),
                group: "web".into(),
                mode: "healthiness".into(),
                output: "dial tcp 127.0.0.1:1: connection refused".into(),
                service: "web".into(),
                status: "critical".into(),
                ..Default::default()
            },
        );
        assert_eq!(
            checks_section(&Ok(m), false),
            "\nNomad Service Checks:\n\
             Service  Task     Name   Mode         Status    Output\n\
             web      (group)  alive  healthiness  critical  dial tcp 127.0.0.1:1: connection refused\n"
        );
        assert_eq!(checks_section(&Ok(BTreeMap::new()), false), "");
        assert!(checks_section(&Err("gone".into()), false).contains("did not answer: gone"));
    }

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
