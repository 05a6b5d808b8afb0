//! One render: a minijinja template in strict mode (an undefined name is an error, not an empty
//! string) against a [`View`] of the catalog. Errors name the template's file and line.

use super::context::View;
use minijinja::{Environment, Error, UndefinedBehavior};
use std::path::Path;
use std::sync::Arc;

/// "file:line: kind: detail (in `the line`)", from minijinja's error and its chain; `source` is
/// the text of the template named `name`, for quoting the line.
fn describe(e: &Error, name: &str, source: &str) -> String {
    let at = match (e.name(), e.line()) {
        (Some(n), Some(l)) => format!("{n}:{l}: "),
        (Some(n), None) => format!("{n}: "),
        _ => String::new(),
    };
    let mut msg = format!("{at}{}", e.kind());
    if let Some(d) = e.detail() {
        msg.push_str(": ");
        msg.push_str(d);
    }
    let mut cause = std::error::Error::source(e);
    while let Some(s) = cause {
        msg.push_str(&format!(" ({s})"));
        cause = s.source();
    }
    if e.name() == Some(name) {
        if let Some(text) = e.line().and_then(|l| source.lines().nth(l.wrapping_sub(1))) {
            msg.push_str(&format!(" (in `{}`)", text.trim()));
        }
    }
    msg
}

/// Renders `source` (named `name`, the template file's path) against `view`. `{% include %}`
/// and `{% import %}` find files relative to `dir`.
pub fn render(
    name: &str,
    source: &str,
    dir: Option<&Path>,
    view: &Arc<View>,
) -> Result<String, String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    if let Some(d) = dir {
        env.set_loader(minijinja::path_loader(d));
    }
    view.install(&mut env);
    let describe = |e: Error| describe(&e, name, source);
    env.add_template_owned(name.to_string(), source.to_string())
        .map_err(describe)?;
    let tmpl = env.get_template(name).map_err(describe)?;
    tmpl.render(view.context()).map_err(describe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::{Catalog, CatalogNode};
    use api::ServiceRegistration;
    use std::collections::BTreeMap;

    fn reg(name: &str, addr: &str, port: i64, status: &str, tags: &[&str]) -> ServiceRegistration {
        ServiceRegistration {
            id: format!("{name}-{addr}-{port}"),
            service_name: name.into(),
            namespace: "default".into(),
            node_id: "n1".into(),
            job_id: "job".into(),
            alloc_id: "a".into(),
            address: addr.into(),
            port,
            check_status: status.into(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn view() -> Arc<View> {
        let catalog = Catalog {
            services: vec![
                reg("web", "10.0.0.2", 80, "passing", &["v2"]),
                reg("web", "10.0.0.1", 80, "", &["v1"]),
                reg("web", "10.0.0.3", 80, "critical", &["v1"]),
                reg("db", "10.0.0.9", 5432, "critical", &[]),
            ],
            nodes: vec![CatalogNode {
                id: "n1".into(),
                name: "client-1".into(),
                ..Default::default()
            }],
            index: 7,
        };
        Arc::new(View::new(
            &catalog,
            &BTreeMap::from([("rack".to_string(), "r1".to_string())]),
        ))
    }

    #[test]
    fn services_hold_healthy_instances_sorted() {
        let out = render(
            "t.j2",
            "{% for name, list in services|items %}{{ name }}:{% for i in list %} {{ i.address }}@{{ i.node }}{% endfor %}\n{% endfor %}{{ meta.rack }}",
            None,
            &view(),
        )
        .unwrap();
        assert_eq!(out, "db:\nweb: 10.0.0.1@client-1 10.0.0.2@client-1\nr1");
    }

    #[test]
    fn service_function_filters_by_tag_and_health() {
        let t = "{{ service('web', 'v1')|length }} {{ service('web', tag='v1', include_unhealthy=true)|length }} {{ service('nope')|length }} {{ service('db', include_unhealthy=true)[0].check_status }}";
        assert_eq!(render("t.j2", t, None, &view()).unwrap(), "1 2 0 critical");
        std::env::set_var("NOMAD_RS_TEMPLATE_TEST", "yes");
        assert_eq!(
            render("t.j2", "{{ env('NOMAD_RS_TEMPLATE_TEST') }}", None, &view()).unwrap(),
            "yes"
        );
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let err = render("/etc/t.j2", "ok\n{% for x in %}", None, &view()).unwrap_err();
        assert!(err.starts_with("/etc/t.j2:2: syntax error"), "{err}");
        let err = render("/etc/t.j2", "a\nb\n{{ nope.x }}", None, &view()).unwrap_err();
        assert!(err.starts_with("/etc/t.j2:3: undefined value"), "{err}");
        assert!(err.ends_with("(in `{{ nope.x }}`)"), "{err}");
        let err = render("t.j2", "{{ service('web', colour='red') }}", None, &view()).unwrap_err();
        assert!(err.contains("colour"), "{err}");
    }
}
