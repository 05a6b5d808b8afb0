//! What a `service` or `check` block must satisfy. One set of rules for both doors: the job file
//! decoder reports them at the block's line, `Job::validate` (API submissions) by name.

use crate::job::{
    Service, ServiceCheck, CHECK_CRITICAL, CHECK_PASSING, CHECK_WARNING, ON_UPDATE_IGNORE,
    ON_UPDATE_IGNORE_WARNINGS, ON_UPDATE_REQUIRE_HEALTHY, SERVICE_PROVIDER_CONSUL,
    SERVICE_PROVIDER_NOMAD,
};
use std::collections::BTreeSet;
use std::time::Duration;

/// Consul and Nomad probe no faster than this.
pub const MIN_CHECK_INTERVAL: Duration = Duration::from_secs(1);

pub const CHECK_TYPES: &[&str] = &["http", "tcp", "script"];
const ADDRESS_MODES: &[&str] = &["auto", "host", "driver", "alloc"];
const CHECK_ADDRESS_MODES: &[&str] = &["host", "driver", "alloc"];

/// A port given as a number rather than a label.
pub fn port_number(port: &str) -> Option<i64> {
    port.parse::<i64>().ok()
}

/// Why `port` names no port of the group, if it does not.
pub fn unknown_port(port: &str, labels: &BTreeSet<String>) -> Option<String> {
    if port.is_empty() || labels.contains(port) {
        return None;
    }
    if let Some(n) = port_number(port) {
        return (!(1..=65535).contains(&n)).then(|| format!("port {n} is out of range"));
    }
    let known = if labels.is_empty() {
        "the group's network block defines no port".to_string()
    } else {
        let list: Vec<&str> = labels.iter().map(String::as_str).collect();
        format!("known ports: {}", list.join(", "))
    };
    Some(format!(
        "port {port:?} is not a port label of the group ({known})"
    ))
}

/// A name Nomad (and DNS) accepts: letters, digits and dashes, 1 to 63 characters, not starting
/// or ending with a dash. Names still holding `${...}` are checked once interpolated, on the
/// client.
pub fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.contains("${") {
        return None;
    }
    let ok = name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    (!ok).then(|| {
        format!(
            "service name {name:?} must be 1-63 letters, digits and dashes, not starting or \
             ending with a dash"
        )
    })
}

impl Service {
    /// What is wrong with the block itself and its checks, ports aside.
    pub fn own_problems(&self) -> Vec<String> {
        let mut out: Vec<String> = name_problem(&self.name).into_iter().collect();
        if ![SERVICE_PROVIDER_NOMAD, SERVICE_PROVIDER_CONSUL, ""].contains(&self.provider.as_str())
        {
            out.push(format!(
                "service provider {:?} must be \"nomad\" or \"consul\"",
                self.provider
            ));
        }
        if !self.address_mode.is_empty() && !ADDRESS_MODES.contains(&self.address_mode.as_str()) {
            out.push(format!(
                "address_mode {:?} must be one of auto, host, driver, alloc",
                self.address_mode
            ));
        }
        if !self.address.is_empty() && !matches!(self.address_mode.as_str(), "" | "auto") {
            out.push("a service's address can only be set with address_mode \"auto\"".into());
        }
        for c in &self.checks {
            let needs_port = matches!(c.check_type.as_str(), "http" | "tcp");
            if needs_port && self.port_label.is_empty() && c.port_label.is_empty() {
                out.push(format!(
                    "{} check {:?} needs a port: set `port` in the service or the check",
                    c.check_type, c.name
                ));
            }
            out.extend(c.problems());
        }
        out
    }

    /// Every problem, including ports that are not labels of the group's network.
    pub fn problems(&self, labels: &BTreeSet<String>) -> Vec<String> {
        let mut out = self.own_problems();
        out.extend(unknown_port(&self.port_label, labels));
        for c in &self.checks {
            out.extend(unknown_port(&c.port_label, labels));
        }
        out
    }
}

impl ServiceCheck {
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let what = if self.name.is_empty() {
            format!("{} check", self.check_type)
        } else {
            format!("check {:?}", self.name)
        };
        match self.check_type.as_str() {
            "" => out.push("a check needs a type: http, tcp or script".into()),
            "http" => {
                if self.path.is_empty() {
                    out.push(format!("{what} needs a path, e.g. path = \"/health\""));
                }
                if !["", "http", "https"].contains(&self.protocol.as_str()) {
                    out.push(format!(
                        "{what}: protocol {:?} must be \"http\" or \"https\"",
                        self.protocol
                    ));
                }
                if !self.method.is_empty() && !self.method.bytes().all(|b| b.is_ascii_alphabetic())
                {
                    out.push(format!(
                        "{what}: method {:?} is not an HTTP method",
                        self.method
                    ));
                }
            }
            "tcp" => {}
            "script" => {
                if self.command.is_empty() {
                    out.push(format!("{what} needs a command"));
                }
            }
            "grpc" => out.push(format!("{what}: grpc checks are not supported")),
            other => out.push(format!(
                "check type {other:?} must be one of http, tcp, script"
            )),
        }
        if self.interval < MIN_CHECK_INTERVAL {
            out.push(format!(
                "{what} needs an interval of at least 1s, e.g. interval = \"10s\""
            ));
        }
        if self.timeout.is_zero() {
            out.push(format!("{what} needs a timeout, e.g. timeout = \"2s\""));
        }
        if ![CHECK_PASSING, CHECK_WARNING, CHECK_CRITICAL, ""]
            .contains(&self.initial_status.as_str())
        {
            out.push(format!(
                "{what}: initial_status {:?} must be passing, warning or critical",
                self.initial_status
            ));
        }
        if ![
            ON_UPDATE_REQUIRE_HEALTHY,
            ON_UPDATE_IGNORE_WARNINGS,
            ON_UPDATE_IGNORE,
            "",
        ]
        .contains(&self.on_update.as_str())
        {
            out.push(format!(
                "{what}: on_update {:?} must be require_healthy, ignore_warnings or ignore",
                self.on_update
            ));
        }
        if !self.address_mode.is_empty()
            && !CHECK_ADDRESS_MODES.contains(&self.address_mode.as_str())
        {
            out.push(format!(
                "{what}: address_mode {:?} must be one of host, driver, alloc",
                self.address_mode
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(l: &[&str]) -> BTreeSet<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    fn check(t: &str) -> ServiceCheck {
        ServiceCheck {
            check_type: t.into(),
            path: "/".into(),
            command: "true".into(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            ..Default::default()
        }
    }

    #[test]
    fn ports_must_be_labels_or_numbers() {
        let l = labels(&["http"]);
        assert_eq!(unknown_port("http", &l), None);
        assert_eq!(unknown_port("8080", &l), None);
        assert_eq!(unknown_port("", &l), None);
        assert_eq!(
            unknown_port("htp", &l).unwrap(),
            "port \"htp\" is not a port label of the group (known ports: http)"
        );
        assert!(unknown_port("70000", &l).unwrap().contains("out of range"));
        assert!(unknown_port("x", &labels(&[]))
            .unwrap()
            .contains("defines no port"));
    }

    #[test]
    fn checks_need_what_their_type_uses() {
        for t in CHECK_TYPES {
            assert!(check(t).problems().is_empty(), "{t}");
        }
        let mut c = check("http");
        c.path.clear();
        assert!(c.problems()[0].contains("needs a path"));
        let mut c = check("tcp");
        c.interval = Duration::from_millis(10);
        assert!(c.problems()[0].contains("at least 1s"));
        assert!(check("grpc").problems()[0].contains("not supported"));
        let mut c = check("tcp");
        c.initial_status = "ok".into();
        assert!(c.problems()[0].contains("initial_status"));
    }

    #[test]
    fn services_name_their_problems() {
        let mut s = Service {
            name: "web_1".into(),
            checks: vec![check("tcp")],
            ..Default::default()
        };
        let p = s.problems(&labels(&["http"]));
        assert!(p[0].contains("letters, digits and dashes"), "{p:?}");
        assert!(p[1].contains("needs a port"), "{p:?}");
        s.name = "${JOB}-web".into();
        s.port_label = "http".into();
        assert!(s.problems(&labels(&["http"])).is_empty());
    }
}
