//! The cost of `?filter=` on a listing: parsing an expression, matching it against items already
//! in JSON form, and the path the API takes (`QueryOpts::keep`: each item turned into JSON, then
//! matched), next to the cost of answering the same listing unfiltered (encoding it as the
//! response body). 10,000 job stubs with a summary and meta, as `GET /v1/jobs?meta=true` lists.
//!
//! Run: `cargo bench -p api --bench filter`

use api::filter::Filter;
use api::{JobListStub, JobSummary, TaskGroupSummary};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

const ITEMS: usize = 10_000;
const RUNS: usize = 15;

const EXPRESSIONS: [(&str, &str); 4] = [
    ("equality", r#"Status == "running""#),
    ("regex", r#"ID matches "^web-[0-9]+5$""#),
    (
        "nested and/or",
        r#"Meta.team == "payments" and (Priority == 60 or Type == "batch")"#,
    ),
    (
        "selector in map",
        r#""g" in JobSummary.Summary and JobSummary.Summary.g.Running == 2"#,
    ),
];

fn stubs() -> Vec<JobListStub> {
    (0..ITEMS)
        .map(|i| {
            let mut summary = BTreeMap::new();
            summary.insert(
                "g".to_string(),
                TaskGroupSummary {
                    running: (i % 5) as i64,
                    ..Default::default()
                },
            );
            let mut meta = BTreeMap::new();
            meta.insert(
                "team".to_string(),
                ["payments", "search", "ops"][i % 3].to_string(),
            );
            JobListStub {
                id: format!("web-{i}"),
                name: format!("web-{i}"),
                namespace: "default".into(),
                job_type: if i % 4 == 0 { "batch" } else { "service" }.into(),
                priority: (i % 100) as i32,
                datacenters: vec!["dc1".into()],
                status: if i % 7 == 0 { "dead" } else { "running" }.into(),
                version: (i % 3) as u64,
                job_summary: Some(JobSummary {
                    job_id: format!("web-{i}"),
                    namespace: "default".into(),
                    summary,
                    ..Default::default()
                }),
                meta: Some(meta),
                ..Default::default()
            }
        })
        .collect()
}

/// The fastest and the median of `RUNS` timings of `f`.
fn time(mut f: impl FnMut()) -> (Duration, Duration) {
    let mut all: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    all.sort();
    (all[0], all[RUNS / 2])
}

fn per_item(d: Duration) -> String {
    format!("{:.0} ns", d.as_nanos() as f64 / ITEMS as f64)
}

fn main() {
    let items = stubs();
    let values: Vec<serde_json::Value> = items
        .iter()
        .map(|s| serde_json::to_value(s).expect("a stub encodes"))
        .collect();
    let (_, encode) = time(|| {
        black_box(serde_json::to_vec(&items).expect("the list encodes"));
    });
    println!(
        "{ITEMS} job stubs; the unfiltered answer's encoding: {:.2} ms ({} per item)\n",
        encode.as_secs_f64() * 1e3,
        per_item(encode)
    );
    println!(
        "{:<16} {:>8} {:>8} {:>14} {:>16}",
        "expression", "parse", "matched", "match/item", "to JSON+match"
    );
    for (name, expr) in EXPRESSIONS {
        let (parse, _) = time(|| {
            for _ in 0..100 {
                black_box(Filter::parse(black_box(expr)).expect("a valid expression"));
            }
        });
        let filter = Filter::parse(expr).expect("a valid expression");
        let matched = values.iter().filter(|v| filter.matches(v)).count();
        let (_, on_values) = time(|| {
            black_box(values.iter().filter(|v| filter.matches(v)).count());
        });
        let (_, on_structs) = time(|| {
            let kept = items
                .iter()
                .filter(|s| serde_json::to_value(s).is_ok_and(|v| filter.matches(&v)))
                .count();
            black_box(kept);
        });
        println!(
            "{name:<16} {:>6.1} µs {matched:>8} {:>14} {:>16}",
            parse.as_secs_f64() * 1e6 / 100.0,
            per_item(on_values),
            per_item(on_structs)
        );
    }
}
