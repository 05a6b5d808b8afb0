//! Job file blocks that steer the scheduler beyond placement: `node_pool` and `disconnect`.

use super::parse_hcl;
use std::time::Duration;

fn group(body: &str) -> String {
    format!(
        "job \"j\" {{\n  node_pool = \"gpu\"\n  group \"g\" {{\n{body}\n    task \"t\" {{\n      driver = \"raw_exec\"\n    }}\n  }}\n}}\n"
    )
}

#[test]
fn node_pool_and_disconnect_are_read() {
    let src = group(
        "    disconnect {\n      lost_after = \"6h\"\n      replace = false\n      reconcile = \"keep_original\"\n    }",
    );
    let job = parse_hcl(&src, "t.nomad").unwrap();
    assert_eq!(job.node_pool, "gpu");
    let d = job.task_groups[0].disconnect.clone().unwrap();
    assert_eq!(d.lost_after, Duration::from_secs(6 * 3600));
    assert_eq!(
        (d.replace, d.reconcile.as_str()),
        (Some(false), "keep_original")
    );

    let job = parse_hcl(&group("    max_client_disconnect = \"1h\""), "t.nomad").unwrap();
    let rules = job.task_groups[0].disconnect_rules().unwrap();
    assert!(rules.replace);
    assert_eq!(rules.lost_after, 3_600_000_000_000);
}

#[test]
fn disconnect_mistakes_are_named_with_their_place() {
    let err = |body: &str| parse_hcl(&group(body), "t.nomad").unwrap_err().to_string();
    let e = err("    disconnect {\n      stop_on_client_after = \"1h\"\n    }");
    assert!(e.starts_with("t.nomad:5:7:"), "{e}");
    assert!(
        e.contains("\"stop_on_client_after\" is not supported"),
        "{e}"
    );
    let e = err("    disconnect {\n      reconcile = \"newest\"\n    }");
    assert!(e.contains("must be one of best_score"), "{e}");
    let e = err(
        "    max_client_disconnect = \"1h\"\n    disconnect {\n      lost_after = \"1h\"\n    }",
    );
    assert!(e.contains("not both"), "{e}");
    let e = parse_hcl("job \"j\" {\n  node_pool = \"a b\"\n}\n", "t.nomad")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("t.nomad:2:15:") && e.contains("invalid node pool name"),
        "{e}"
    );
}

#[test]
fn sysbatch_jobs_parse_with_batch_defaults_and_no_rescheduling() {
    let src = "job \"gc\" {\n  type = \"sysbatch\"\n  group \"g\" {\n    task \"t\" {\n      driver = \"raw_exec\"\n    }\n  }\n}\n";
    let mut job = parse_hcl(src, "t.nomad").unwrap();
    job.canonicalize();
    assert!(job.validate().is_ok());
    let g = &job.task_groups[0];
    assert_eq!(g.restart_policy.as_ref().map(|r| r.attempts), Some(3));
    assert!(g.reschedule_policy.is_none());
    let e = parse_hcl(&src.replace("sysbatch", "sysbach"), "t.nomad")
        .unwrap_err()
        .to_string();
    assert!(e.contains("did you mean \"sysbatch\""), "{e}");
}
