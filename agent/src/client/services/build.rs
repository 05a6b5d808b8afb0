//! From a `service` block of a running allocation to what the catalog stores and what the checks
//! probe: the interpolated name, tags and meta, the address and port the address mode picks, and
//! each check's target.

use crate::client::taskenv::{self, NodeInfo};
use api::{
    Allocation, Service, ServiceCheck, ServiceRegistration, Task, TaskGroup, CHECK_CRITICAL,
    ON_UPDATE_IGNORE,
};
use std::collections::BTreeMap;

/// One registration and the checks that keep its status.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltService {
    pub reg: ServiceRegistration,
    /// nomad or consul (empty is nomad).
    pub provider: String,
    pub checks: Vec<CheckSpec>,
}

/// What one check probes, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckSpec {
    /// Stable for the same check of the same registration.
    pub id: String,
    pub check: ServiceCheck,
    pub target: Target,
    pub service: String,
    pub group: String,
    /// The task owning the service; empty for a group service.
    pub task: String,
    /// The task a script check runs in.
    pub exec_task: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Http { url: String },
    Tcp { addr: String },
    Script { command: String, args: Vec<String> },
}

/// Why a service block cannot be registered: its address or port does not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceBuildError {
    #[error(
        "address_mode \"driver\" needs a driver that gives the task an address of its own (docker)"
    )]
    NoDriverAddress,
    #[error("the allocation has no port {0:?}")]
    NoSuchPort(String),
}

/// Where an allocation's services live: who owns them and what the interpolation sees.
pub struct Owner<'a> {
    pub alloc: &'a Allocation,
    pub group: &'a TaskGroup,
    /// None for the group's own services.
    pub task: Option<&'a Task>,
    /// The task's environment (or the group's NOMAD_* variables for group services).
    pub env: &'a BTreeMap<String, String>,
    pub node: &'a NodeInfo,
    /// The task's address on the driver's own network, if it has one (docker).
    pub task_ip: Option<&'a str>,
}

fn host_addr(addr: &str, port: i64) -> String {
    if addr.contains(':') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    }
}

impl Owner<'_> {
    fn job_id(&self) -> &str {
        &self.alloc.job_id
    }

    fn task_name(&self) -> &str {
        self.task.map_or("", |t| t.name.as_str())
    }

    /// `${JOB}-${TASKGROUP}[-${TASK}]`: Nomad's default service name.
    fn base(&self) -> String {
        match self.task {
            Some(t) => format!("{}-{}-{}", self.job_id(), self.group.name, t.name),
            None => format!("{}-{}", self.job_id(), self.group.name),
        }
    }

    fn interpolate(&self, s: &str) -> String {
        let mut env = self.env.clone();
        env.insert("JOB".into(), self.job_id().to_string());
        env.insert("TASKGROUP".into(), self.group.name.clone());
        env.insert("TASK".into(), self.task_name().to_string());
        env.insert("BASE".into(), self.base());
        taskenv::interpolate(s, &env, self.node)
    }

    fn node_ip(&self) -> String {
        self.node
            .attributes
            .get("unique.network.ip-address")
            .cloned()
            .unwrap_or_default()
    }

    /// The address and port a port label (or number) resolves to under an address mode.
    fn resolve(&self, port: &str, mode: &str) -> Result<(String, i64), ServiceBuildError> {
        let driver_ip = || {
            self.task_ip
                .map(str::to_string)
                .ok_or(ServiceBuildError::NoDriverAddress)
        };
        if port.is_empty() {
            let addr = if mode == "driver" {
                driver_ip()?
            } else {
                self.node_ip()
            };
            return Ok((addr, 0));
        }
        if let Some(n) = api::service_rules::port_number(port) {
            let addr = if mode == "driver" {
                driver_ip()?
            } else {
                self.node_ip()
            };
            return Ok((addr, n));
        }
        let p = self
            .alloc
            .allocated_resources
            .shared
            .ports
            .iter()
            .find(|p| p.label == port)
            .ok_or_else(|| ServiceBuildError::NoSuchPort(port.to_string()))?;
        let host_ip = if p.host_ip.is_empty() {
            self.node_ip()
        } else {
            p.host_ip.clone()
        };
        match mode {
            "driver" => Ok((driver_ip()?, if p.to > 0 { p.to } else { p.value })),
            // Without a network namespace of the allocation's own, "alloc" is the host's
            // address, as in Nomad's host network mode.
            _ => Ok((host_ip, p.value)),
        }
    }

    /// The registration and checks of one service block.
    pub fn build(&self, svc: &Service) -> Result<BuiltService, ServiceBuildError> {
        let name = if svc.name.is_empty() {
            self.base()
        } else {
            self.interpolate(&svc.name)
        };
        let (mut address, port) = self.resolve(&svc.port_label, &svc.address_mode)?;
        if !svc.address.is_empty() {
            address = self.interpolate(&svc.address);
        }
        let owner = match self.task {
            Some(t) => t.name.clone(),
            None => format!("group-{}", self.group.name),
        };
        let id = format!(
            "_nomad-task-{}-{owner}-{name}-{}",
            self.alloc.id, svc.port_label
        );
        let mut checks = Vec::new();
        for (i, c) in svc.checks.iter().enumerate() {
            checks.push(self.check(&id, i, &name, svc, c)?);
        }
        let reg = ServiceRegistration {
            id,
            service_name: name,
            namespace: if self.alloc.namespace.is_empty() {
                "default".into()
            } else {
                self.alloc.namespace.clone()
            },
            node_id: self.node.id.clone(),
            datacenter: self.node.datacenter.clone(),
            job_id: self.alloc.job_id.clone(),
            alloc_id: self.alloc.id.clone(),
            tags: self.tags(svc),
            address,
            port,
            meta: svc
                .meta
                .iter()
                .map(|(k, v)| (k.clone(), self.interpolate(v)))
                .collect(),
            ..Default::default()
        };
        Ok(BuiltService {
            reg,
            provider: svc.provider.clone(),
            checks,
        })
    }

    /// A canary (not promoted yet) registers with `canary_tags` when the service has some.
    fn tags(&self, svc: &Service) -> Vec<String> {
        let canary = self
            .alloc
            .deployment_status
            .as_ref()
            .is_some_and(|d| d.canary);
        let tags = if canary && !svc.canary_tags.is_empty() {
            &svc.canary_tags
        } else {
            &svc.tags
        };
        tags.iter().map(|t| self.interpolate(t)).collect()
    }

    fn check(
        &self,
        reg_id: &str,
        index: usize,
        service: &str,
        svc: &Service,
        c: &ServiceCheck,
    ) -> Result<CheckSpec, ServiceBuildError> {
        let mut check = c.clone();
        if check.name.is_empty() {
            check.name = format!("service: {service:?} check");
        }
        if check.initial_status.is_empty() {
            check.initial_status = CHECK_CRITICAL.into();
        }
        let target = match c.check_type.as_str() {
            "script" => Target::Script {
                command: self.interpolate(&c.command),
                args: c.args.iter().map(|a| self.interpolate(a)).collect(),
            },
            kind => {
                let port = if c.port_label.is_empty() {
                    &svc.port_label
                } else {
                    &c.port_label
                };
                let mode = if c.address_mode.is_empty() {
                    "host"
                } else {
                    &c.address_mode
                };
                let (addr, port) = self.resolve(port, mode)?;
                let addr = host_addr(&addr, port);
                if kind == "http" {
                    let scheme = if c.protocol.is_empty() {
                        "http"
                    } else {
                        &c.protocol
                    };
                    let path = self.interpolate(&c.path);
                    let sep = if path.starts_with('/') { "" } else { "/" };
                    Target::Http {
                        url: format!("{scheme}://{addr}{sep}{path}"),
                    }
                } else {
                    Target::Tcp { addr }
                }
            }
        };
        let exec_task = match self.task {
            Some(t) => t.name.clone(),
            None => api::job::check_task(self.group, svc, c).to_string(),
        };
        Ok(CheckSpec {
            id: format!("{reg_id}-check-{index}"),
            check,
            target,
            service: service.to_string(),
            group: self.group.name.clone(),
            task: self.task_name().to_string(),
            exec_task,
        })
    }
}

/// healthiness, or readiness for checks a deployment ignores.
pub fn check_mode(c: &ServiceCheck) -> &'static str {
    if c.on_update == ON_UPDATE_IGNORE {
        "readiness"
    } else {
        "healthiness"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::{AllocatedPort, Job};
    use std::time::Duration;

    fn alloc() -> Allocation {
        let mut a = Allocation {
            id: "a1".into(),
            namespace: "default".into(),
            job_id: "web".into(),
            task_group: "front".into(),
            job: Some(std::sync::Arc::new(Job::default())),
            ..Default::default()
        };
        std::sync::Arc::make_mut(&mut a.allocated_resources)
            .shared
            .ports = vec![AllocatedPort {
            label: "http".into(),
            value: 23456,
            to: 8080,
            host_ip: "10.0.0.5".into(),
        }];
        a
    }

    fn node() -> NodeInfo {
        NodeInfo {
            id: "n1".into(),
            datacenter: "dc1".into(),
            attributes: BTreeMap::from([(
                "unique.network.ip-address".to_string(),
                "10.0.0.9".to_string(),
            )]),
            ..Default::default()
        }
    }

    fn with_owner<T>(task: Option<&Task>, ip: Option<&str>, f: impl FnOnce(&Owner) -> T) -> T {
        let a = alloc();
        let group = TaskGroup {
            name: "front".into(),
            ..Default::default()
        };
        let env = BTreeMap::from([("NOMAD_ALLOC_INDEX".to_string(), "3".to_string())]);
        let n = node();
        f(&Owner {
            alloc: &a,
            group: &group,
            task,
            env: &env,
            node: &n,
            task_ip: ip,
        })
    }

    fn check(kind: &str) -> ServiceCheck {
        ServiceCheck {
            check_type: kind.into(),
            path: "health".into(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            ..Default::default()
        }
    }

    #[test]
    fn names_default_and_interpolate() {
        let task = Task {
            name: "srv".into(),
            ..Default::default()
        };
        let svc = Service {
            port_label: "http".into(),
            tags: vec!["idx-${NOMAD_ALLOC_INDEX}".into()],
            ..Default::default()
        };
        let b = with_owner(Some(&task), None, |o| o.build(&svc)).unwrap();
        assert_eq!(b.reg.service_name, "web-front-srv");
        assert_eq!(b.reg.id, "_nomad-task-a1-srv-web-front-srv-http");
        assert_eq!(b.reg.tags, ["idx-3"]);
        assert_eq!((b.reg.address.as_str(), b.reg.port), ("10.0.0.5", 23456));
        let named = Service {
            name: "${TASKGROUP}-${TASK}-api".into(),
            ..svc.clone()
        };
        let b = with_owner(None, None, |o| o.build(&named)).unwrap();
        assert_eq!(b.reg.service_name, "front--api");
        assert_eq!(b.reg.id, "_nomad-task-a1-group-front-front--api-http");
    }

    #[test]
    fn address_modes_pick_host_or_driver_addresses() {
        let mut svc = Service {
            name: "s".into(),
            port_label: "http".into(),
            address_mode: "driver".into(),
            checks: vec![check("http"), check("tcp")],
            ..Default::default()
        };
        let b = with_owner(None, Some("172.17.0.2"), |o| o.build(&svc)).unwrap();
        assert_eq!((b.reg.address.as_str(), b.reg.port), ("172.17.0.2", 8080));
        // Checks probe the host's port unless told otherwise.
        assert_eq!(
            b.checks[0].target,
            Target::Http {
                url: "http://10.0.0.5:23456/health".into()
            }
        );
        assert_eq!(
            b.checks[1].target,
            Target::Tcp {
                addr: "10.0.0.5:23456".into()
            }
        );
        assert_eq!(b.checks[0].check.name, "service: \"s\" check");
        assert_eq!(b.checks[0].check.initial_status, "critical");
        let err = with_owner(None, None, |o| o.build(&svc))
            .unwrap_err()
            .to_string();
        assert!(err.contains("address_mode \"driver\""), "{err}");
        svc.address_mode = "alloc".into();
        svc.address = "web-${NOMAD_ALLOC_INDEX}.example".into();
        let b = with_owner(None, None, |o| o.build(&svc)).unwrap();
        assert_eq!(
            (b.reg.address.as_str(), b.reg.port),
            ("web-3.example", 23456)
        );
        svc.port_label = "9090".into();
        svc.address.clear();
        let b = with_owner(None, None, |o| o.build(&svc)).unwrap();
        assert_eq!((b.reg.address.as_str(), b.reg.port), ("10.0.0.9", 9090));
    }

    #[test]
    fn script_checks_run_in_the_named_task() {
        let mut c = check("script");
        c.command = "/bin/check".into();
        c.args = vec!["${NOMAD_ALLOC_INDEX}".into()];
        let svc = Service {
            name: "s".into(),
            task_name: "main".into(),
            checks: vec![c],
            ..Default::default()
        };
        let b = with_owner(None, None, |o| o.build(&svc)).unwrap();
        assert_eq!(b.checks[0].exec_task, "main");
        assert_eq!(
            b.checks[0].target,
            Target::Script {
                command: "/bin/check".into(),
                args: vec!["3".into()]
            }
        );
    }
}
