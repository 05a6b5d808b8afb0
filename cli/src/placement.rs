//! Why allocations could not be placed, in Nomad's words (`FailedTGAllocs` of an evaluation).
//! Used by the eval monitor and by `eval status`.

use api::{AllocationMetric, Evaluation};

/// "Task Group "web" (failed to place 1 allocation):" for one group.
pub fn group_header(group: &str, metric: &AllocationMetric) -> String {
    let failed = metric.coalesced_failures + 1;
    let plural = if failed == 1 { "" } else { "s" };
    format!("Task Group {group:?} (failed to place {failed} allocation{plural}):")
}

/// The reasons, one "* ..." line each (without indentation).
pub fn metric_lines(metric: &AllocationMetric) -> Vec<String> {
    let mut out = Vec::new();
    if metric.nodes_evaluated == 0 {
        out.push("* No nodes were eligible for evaluation".to_string());
    }
    for (dc, available) in &metric.nodes_available {
        if *available == 0 {
            out.push(format!("* No nodes are available in datacenter {dc:?}"));
        }
    }
    for (class, n) in &metric.class_filtered {
        out.push(format!("* Class {class:?}: {n} nodes excluded by filter"));
    }
    for (constraint, n) in &metric.constraint_filtered {
        out.push(format!(
            "* Constraint {constraint:?}: {n} nodes excluded by filter"
        ));
    }
    if metric.nodes_exhausted > 0 {
        out.push(format!(
            "* Resources exhausted on {} nodes",
            metric.nodes_exhausted
        ));
    }
    for (class, n) in &metric.class_exhausted {
        out.push(format!("* Class {class:?} exhausted on {n} nodes"));
    }
    for (dim, n) in &metric.dimension_exhausted {
        out.push(format!("* Dimension {dim:?} exhausted on {n} nodes"));
    }
    for quota in &metric.quota_exhausted {
        out.push(format!("* Quota limit hit {quota:?}"));
    }
    out
}

/// The "waiting for additional capacity" sentence, when the servers keep a blocked eval.
pub fn blocked_line(eval: &Evaluation, verbose: bool) -> Option<String> {
    if eval.blocked_eval.is_empty() {
        return None;
    }
    Some(format!(
        "Evaluation {:?} waiting for additional capacity to place remainder",
        crate::format::id(&eval.blocked_eval, verbose)
    ))
}

/// The block `eval status` prints under "==> Failed Placements".
pub fn eval_status_block(eval: &Evaluation, verbose: bool) -> String {
    let mut out = String::new();
    for (group, metric) in &eval.failed_tg_allocs {
        out.push_str(&group_header(group, metric));
        out.push('\n');
        for line in metric_lines(metric) {
            out.push_str(&format!("  {line}\n"));
        }
        out.push('\n');
    }
    if let Some(line) = blocked_line(eval, verbose) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeMap;

    pub fn sample_failed_eval() -> Evaluation {
        let metric = AllocationMetric {
            nodes_evaluated: 1,
            nodes_filtered: 1,
            nodes_in_pool: 1,
            constraint_filtered: BTreeMap::from([("missing drivers".to_string(), 1)]),
            nodes_exhausted: 1,
            dimension_exhausted: BTreeMap::from([("memory".to_string(), 1)]),
            ..Default::default()
        };
        Evaluation {
            id: "4b1f4b2c-0000-0000-0000-000000000000".into(),
            job_id: "example".into(),
            status: "complete".into(),
            triggered_by: "job-register".into(),
            blocked_eval: "9e0a7c11-0000-0000-0000-000000000000".into(),
            failed_tg_allocs: BTreeMap::from([("web".to_string(), metric)]),
            ..Default::default()
        }
    }

    #[test]
    fn failed_placement_text_matches_nomad() {
        let eval = sample_failed_eval();
        assert_eq!(
            eval_status_block(&eval, false),
            "Task Group \"web\" (failed to place 1 allocation):\n\
             \x20 * Constraint \"missing drivers\": 1 nodes excluded by filter\n\
             \x20 * Resources exhausted on 1 nodes\n\
             \x20 * Dimension \"memory\" exhausted on 1 nodes\n\
             \n\
             Evaluation \"9e0a7c11\" waiting for additional capacity to place remainder\n"
        );
    }

    #[test]
    fn coalesced_failures_are_counted_and_empty_dcs_named() {
        let metric = AllocationMetric {
            coalesced_failures: 2,
            nodes_available: BTreeMap::from([("dc9".to_string(), 0)]),
            ..Default::default()
        };
        assert_eq!(
            group_header("web", &metric),
            "Task Group \"web\" (failed to place 3 allocations):"
        );
        assert_eq!(
            metric_lines(&metric),
            vec![
                "* No nodes were eligible for evaluation".to_string(),
                "* No nodes are available in datacenter \"dc9\"".to_string()
            ]
        );
    }
}
