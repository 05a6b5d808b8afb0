//! `eval status ID`: one evaluation and, if any, why it could not place everything.

use crate::commands::lookup;
use crate::format::{self, kv};
use crate::placement;
use anyhow::Result;
use api::client::Client;
use api::Evaluation;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// An evaluation id or unique prefix
    pub eval: String,
    /// Show full ids and exact times
    #[arg(long)]
    pub verbose: bool,
    #[command(flatten)]
    pub output: crate::output_flags::OutputFlags,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let eval = lookup::eval(client, &args.eval, args.verbose)?;
    if args.output.print(&eval)? {
        return Ok(0);
    }
    print!("{}", render(&eval, args.verbose, format::now_nanos()));
    Ok(0)
}

pub fn render(e: &Evaluation, verbose: bool, now: i64) -> String {
    let when = |t: i64| {
        if verbose {
            format::rfc3339(t)
        } else {
            format::ago(t, now)
        }
    };
    let failed = !e.failed_tg_allocs.is_empty();
    let mut pairs = vec![
        ("ID", format::id(&e.id, verbose)),
        ("Create Time", when(e.create_time)),
        ("Modify Time", when(e.modify_time)),
        ("Status", e.status.clone()),
        ("Status Description", format::or_none(&e.status_description)),
        ("Type", e.eval_type.clone()),
        ("TriggeredBy", e.triggered_by.clone()),
        ("Job ID", e.job_id.clone()),
    ];
    if !e.node_id.is_empty() {
        pairs.push(("Node ID", format::id(&e.node_id, verbose)));
    }
    pairs.push(("Priority", e.priority.to_string()));
    pairs.push(("Placement Failures", failed.to_string()));
    let mut out = kv(&pairs);
    if failed {
        out.push_str("\n==> Failed Placements\n");
        out.push_str(&placement::eval_status_block(e, verbose));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::tests::sample_failed_eval;

    #[test]
    fn failed_eval_shows_its_placements() {
        let mut e = sample_failed_eval();
        e.eval_type = "service".into();
        e.priority = 50;
        let out = render(&e, false, 0);
        assert!(out.starts_with("ID                 = 4b1f4b2c\n"), "{out}");
        assert!(
            out.contains("Placement Failures = true\n\n==> Failed Placements\nTask Group \"web\""),
            "{out}"
        );
    }
}
