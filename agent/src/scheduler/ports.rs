//! Port assignment for a task group's network block on one node.

use super::fit::dynamic_range;
use super::ids::Rng;
use api::{AllocatedPort, Node, TaskGroup};
use std::collections::HashSet;

/// How many random picks to try before scanning the range: a mostly empty range almost always
/// succeeds on the first try, and the scan bounds the worst case.
const RANDOM_TRIES: usize = 20;

/// Whether the group asks for any port at all (most batch jobs do not; skip the work then).
pub fn wants_ports(tg: &TaskGroup) -> bool {
    tg.networks
        .iter()
        .any(|n| !n.reserved_ports.is_empty() || !n.dynamic_ports.is_empty())
}

/// Picks host ports for the group on this node. Static ports must be free; dynamic ones are drawn
/// from the node's range with the seeded RNG. The error is the exhausted dimension as Nomad names it.
pub fn assign_ports(
    tg: &TaskGroup,
    node: &Node,
    used: &HashSet<i64>,
    rng: &mut Rng,
) -> Result<Vec<AllocatedPort>, String> {
    let host_ip = node.address();
    let mut taken: HashSet<i64> = HashSet::new();
    let mut out = Vec::new();
    for net in &tg.networks {
        for p in &net.reserved_ports {
            // A "static" port with value 0 is really dynamic; treat it as such below.
            if p.value <= 0 {
                continue;
            }
            if used.contains(&p.value) || !taken.insert(p.value) {
                return Err(format!(
                    "network: reserved port collision {}={}",
                    p.label, p.value
                ));
            }
            out.push(AllocatedPort {
                label: p.label.clone(),
                value: p.value,
                to: p.to,
                host_ip: host_ip.clone(),
            });
        }
    }
    let (lo, hi) = dynamic_range(node);
    let span = (hi - lo + 1) as u64;
    for net in &tg.networks {
        let dynamic = net
            .dynamic_ports
            .iter()
            .chain(net.reserved_ports.iter().filter(|p| p.value <= 0));
        for p in dynamic {
            let free = |port: i64| !used.contains(&port) && !taken.contains(&port);
            let mut pick = None;
            for _ in 0..RANDOM_TRIES {
                let cand = lo + rng.below(span) as i64;
                if free(cand) {
                    pick = Some(cand);
                    break;
                }
            }
            if pick.is_none() {
                let start = rng.below(span) as i64;
                pick = (0..span as i64)
                    .map(|i| lo + (start + i) % span as i64)
                    .find(|c| free(*c));
            }
            let Some(value) = pick else {
                return Err("network: dynamic port selection failed".into());
            };
            taken.insert(value);
            out.push(AllocatedPort {
                label: p.label.clone(),
                value,
                to: p.to,
                host_ip: host_ip.clone(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::{NetworkResource, Port};

    fn group(static_ports: &[(&str, i64)], dynamic: &[&str]) -> TaskGroup {
        TaskGroup {
            networks: vec![NetworkResource {
                reserved_ports: static_ports
                    .iter()
                    .map(|(l, v)| Port {
                        label: l.to_string(),
                        value: *v,
                        ..Port::default()
                    })
                    .collect(),
                dynamic_ports: dynamic
                    .iter()
                    .map(|l| Port {
                        label: l.to_string(),
                        ..Port::default()
                    })
                    .collect(),
                ..NetworkResource::default()
            }],
            ..TaskGroup::default()
        }
    }

    #[test]
    fn static_collision_names_label() {
        let tg = group(&[("http", 8080)], &[]);
        let used: HashSet<i64> = [8080].into_iter().collect();
        let err = assign_ports(&tg, &Node::default(), &used, &mut Rng::new(1));
        assert_eq!(
            err,
            Err("network: reserved port collision http=8080".into())
        );
    }

    #[test]
    fn dynamic_ports_are_distinct_and_in_range() {
        let mut node = Node::default();
        node.node_resources.min_dynamic_port = 30000;
        node.node_resources.max_dynamic_port = 30003;
        let tg = group(&[], &["a", "b", "c"]);
        let used: HashSet<i64> = [30001].into_iter().collect();
        let ports = assign_ports(&tg, &node, &used, &mut Rng::new(3)).unwrap_or_default();
        let mut values: Vec<i64> = ports.iter().map(|p| p.value).collect();
        values.sort();
        assert_eq!(values, vec![30000, 30002, 30003]);
        let tg = group(&[], &["a", "b", "c", "d"]);
        let err = assign_ports(&tg, &node, &used, &mut Rng::new(3));
        assert_eq!(err, Err("network: dynamic port selection failed".into()));
    }
}
