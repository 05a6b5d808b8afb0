//! One fragment per page: which API answers it reads, and which template shows them. A read
//! the token may not make shows "not allowed" in place of the page (or of that part of it).

use super::api::{enc, Api, ApiError};
use super::render;
use axum::http::Uri;
use axum::response::Response;
use minijinja::{context, Value};
use serde_json::Value as Json;
use std::collections::HashMap;

fn query(uri: &Uri) -> HashMap<String, String> {
    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// "3m ago" from Unix nanoseconds (Nomad's times), for the templates; "-" when missing.
pub fn ago(nanos: Value) -> String {
    let nanos = i64::try_from(nanos).unwrap_or(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    if nanos <= 0 {
        return "-".into();
    }
    let secs = (now - nanos / 1_000_000_000).max(0);
    match secs {
        0..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86400),
    }
}

/// The page, or "not allowed" / the error in its place.
fn page(name: &str, got: Result<Value, ApiError>) -> Response {
    match got {
        Ok(ctx) => render(name, ctx),
        Err(e) => render(
            "denied.html",
            context! { error => Value::from_serialize(&e) },
        ),
    }
}

/// A part of a page that may be denied on its own (a token that reads jobs but not nodes).
fn part(got: Result<Json, ApiError>) -> Value {
    match got {
        Ok(v) => Value::from_serialize(&v),
        Err(e) => Value::from_serialize(
            serde_json::json!({ "Denied": e.forbidden(), "Error": e.message }),
        ),
    }
}

pub async fn fragment(api: Api, uri: Uri) -> Response {
    let path = uri
        .path()
        .trim_start_matches("/ui/f")
        .trim_matches('/')
        .to_string();
    let q = query(&uri);
    let ns = q
        .get("namespace")
        .cloned()
        .unwrap_or_else(|| "default".into());
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        [] | ["jobs"] => page("jobs.html", jobs(&api).await),
        ["jobs", id] => page("job.html", job(&api, id, &ns).await),
        ["allocations", id] => page("alloc.html", alloc(&api, id).await),
        ["nodes"] => page("nodes.html", nodes(&api).await),
        ["nodes", id] => page("node.html", node(&api, id).await),
        ["servers"] => page("servers.html", servers(&api).await),
        ["services"] => page("services.html", services(&api).await),
        ["run"] => render("run.html", context! {}),
        _ => render(
            "denied.html",
            context! { error => context! { status => 404, message => format!("no page {path:?}") } },
        ),
    }
}

async fn jobs(api: &Api) -> Result<Value, ApiError> {
    let jobs = api.get("/v1/jobs?namespace=*").await?;
    Ok(context! { jobs => Value::from_serialize(&jobs) })
}

/// Each version with its diff against the one before, as `job history -p` prints it.
fn versions_with_diffs(v: &Json) -> Json {
    let versions = v["Versions"].as_array().cloned().unwrap_or_default();
    let diffs = v["Diffs"].as_array().cloned().unwrap_or_default();
    let list: Vec<Json> = versions
        .into_iter()
        .enumerate()
        .map(|(i, job)| {
            let text = diffs
                .get(i)
                .and_then(|d| serde_json::from_value::<api::diff::JobDiff>(d.clone()).ok())
                .map(|d| api::diff_text::job_text(&d, false))
                .unwrap_or_default();
            serde_json::json!({
                "Version": job["Version"],
                "Stable": job["Stable"],
                "SubmitTime": job["SubmitTime"],
                "Diff": text,
            })
        })
        .collect();
    Json::Array(list)
}

async fn job(api: &Api, id: &str, ns: &str) -> Result<Value, ApiError> {
    let base = format!("/v1/job/{}", enc(id));
    let nsq = format!("namespace={}", enc(ns));
    let job = api.get(format!("{base}?{nsq}")).await?;
    let (summary, allocs, evals, deployment, versions) = tokio::join!(
        api.get(format!("{base}/summary?{nsq}")),
        api.get(format!("{base}/allocations?{nsq}")),
        api.get(format!("{base}/evaluations?{nsq}")),
        api.get(format!("{base}/deployment?{nsq}")),
        api.get(format!("{base}/versions?diffs=true&{nsq}")),
    );
    let versions = versions.map(|v| versions_with_diffs(&v));
    Ok(context! {
        job => Value::from_serialize(&job),
        summary => part(summary),
        allocs => part(allocs),
        evals => part(evals),
        deployment => part(deployment),
        versions => part(versions),
        ns => ns,
    })
}

async fn alloc(api: &Api, id: &str) -> Result<Value, ApiError> {
    let alloc = api.get(format!("/v1/allocation/{}", enc(id))).await?;
    let live = alloc["ClientStatus"] == "running" || alloc["ClientStatus"] == "pending";
    let (checks, stats) = if live {
        tokio::join!(
            api.get(format!("/v1/client/allocation/{}/checks", enc(id))),
            api.get(format!("/v1/client/allocation/{}/stats", enc(id))),
        )
    } else {
        (Ok(Json::Null), Ok(Json::Null))
    };
    Ok(context! {
        alloc => Value::from_serialize(&alloc),
        checks => part(checks),
        stats => part(stats),
    })
}

async fn nodes(api: &Api) -> Result<Value, ApiError> {
    let nodes = api.get("/v1/nodes").await?;
    Ok(context! { nodes => Value::from_serialize(&nodes) })
}

async fn node(api: &Api, id: &str) -> Result<Value, ApiError> {
    let node = api.get(format!("/v1/node/{}", enc(id))).await?;
    let allocs = api.get(format!("/v1/node/{}/allocations", enc(id))).await;
    let mut attrs: Vec<(String, Json)> = node["Attributes"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    attrs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(context! {
        node => Value::from_serialize(&node),
        attributes => Value::from_serialize(&attrs),
        allocs => part(allocs),
    })
}

async fn servers(api: &Api) -> Result<Value, ApiError> {
    let (members, leader, raft) = tokio::join!(
        api.get("/v1/agent/members"),
        api.get("/v1/status/leader"),
        api.get("/v1/operator/raft/configuration"),
    );
    Ok(context! {
        members => part(members),
        leader => part(leader),
        raft => part(raft),
    })
}

/// An instance's health from its allocation's check results for that service: critical when
/// any check is, passing when all pass, "-" when the service has no checks.
fn instance_health(checks: &Json, service: &str) -> &'static str {
    let mine: Vec<&Json> = checks
        .as_object()
        .map(|m| m.values().filter(|c| c["Service"] == service).collect())
        .unwrap_or_default();
    if mine.is_empty() {
        "-"
    } else if mine.iter().all(|c| c["Status"] == "passing") {
        "passing"
    } else if mine.iter().any(|c| c["Status"] == "critical") {
        "critical"
    } else {
        "warning"
    }
}

async fn services(api: &Api) -> Result<Value, ApiError> {
    let list = api.get("/v1/services?namespace=*").await?;
    let mut services = Vec::new();
    // Each allocation's checks once, however many of its services are listed.
    let mut checks: HashMap<String, Json> = HashMap::new();
    for ns in list.as_array().into_iter().flatten() {
        let namespace = ns["Namespace"].as_str().unwrap_or("default").to_string();
        for s in ns["Services"].as_array().into_iter().flatten() {
            let name = s["ServiceName"].as_str().unwrap_or("").to_string();
            let mut instances = api
                .get(format!(
                    "/v1/service/{}?namespace={}",
                    enc(&name),
                    enc(&namespace)
                ))
                .await
                .unwrap_or(Json::Null);
            for i in instances.as_array_mut().into_iter().flatten() {
                let alloc = i["AllocID"].as_str().unwrap_or("").to_string();
                if !checks.contains_key(&alloc) {
                    let got = api
                        .get(format!("/v1/client/allocation/{}/checks", enc(&alloc)))
                        .await
                        .unwrap_or(Json::Null);
                    checks.insert(alloc.clone(), got);
                }
                let health = checks
                    .get(&alloc)
                    .map_or("-", |c| instance_health(c, &name));
                i["Health"] = Json::from(health);
            }
            services.push(serde_json::json!({
                "Name": name,
                "Namespace": namespace,
                "Tags": s["Tags"],
                "Instances": instances,
            }));
        }
    }
    Ok(context! { services => Value::from_serialize(&services) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_instance_is_as_healthy_as_its_worst_check() {
        let checks = json!({
            "a": {"Service": "web", "Status": "passing"},
            "b": {"Service": "web", "Status": "critical"},
            "c": {"Service": "db", "Status": "passing"},
        });
        assert_eq!(instance_health(&checks, "web"), "critical");
        assert_eq!(instance_health(&checks, "db"), "passing");
        assert_eq!(instance_health(&checks, "cache"), "-");
        assert_eq!(instance_health(&Json::Null, "web"), "-");
    }
}
