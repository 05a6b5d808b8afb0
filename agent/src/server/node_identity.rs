//! Which node is calling. A node registers with a secret it made; the servers keep its SHA-256
//! and check every later call against it, so one node can neither pass for another nor touch
//! another node's allocations and services.

use super::{Server, ServerError};
pub(super) use crate::rpc::node_secret::secret_hash;
use crate::rpc::{ClientCall, NodeAuth};
use crate::state::Tables;

/// The outcome of checking a call's [`NodeAuth`] against this server's state.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Identity {
    /// The call needs no node (a catalog read), or its node proved itself.
    Proven,
    /// This server has not seen the node's registration yet (a follower a little behind): the
    /// leader can tell.
    NotHereYet,
    Denied(String),
}

/// Whether `auth` proves `node_id`, by the hashes in `state`.
fn prove(state: &Tables, auth: Option<&NodeAuth>, node_id: &str) -> Identity {
    let Some(auth) = auth else {
        return Identity::Denied(format!(
            "a call about node {node_id} carries no node secret"
        ));
    };
    if auth.node_id != node_id {
        return Identity::Denied(format!(
            "node {} may not act for node {node_id}",
            auth.node_id
        ));
    }
    match state.node_secret_hash(node_id) {
        None => Identity::NotHereYet,
        Some(known) if known == secret_hash(&auth.secret) => Identity::Proven,
        Some(_) => Identity::Denied(format!("wrong secret for node {node_id}")),
    }
}

/// Checks the caller of `call` (a registration is checked when it is applied, with the secret
/// it carries).
pub(super) fn authenticate(state: &Tables, call: &ClientCall, auth: Option<&NodeAuth>) -> Identity {
    match call {
        ClientCall::NodeRegister(_)
        | ClientCall::Catalog { .. }
        | ClientCall::ResolveToken { .. } => Identity::Proven,
        ClientCall::NodeHeartbeat { node_id }
        | ClientCall::NodeAllocations { node_id, .. }
        | ClientCall::ServiceSync { node_id, .. } => prove(state, auth, node_id),
        ClientCall::UpdateAllocs(_)
        | ClientCall::ServiceUpdate { .. }
        | ClientCall::TaskVariables { .. }
        | ClientCall::PreviousAllocation { .. } => match auth {
            Some(a) => prove(state, auth, &a.node_id),
            None => Identity::Denied("the call carries no node secret".into()),
        },
    }
}

/// On the leader, after [`authenticate`]: every allocation and service the call touches must
/// belong to the calling node.
pub(super) fn check_ownership(
    state: &Tables,
    call: &ClientCall,
    auth: Option<&NodeAuth>,
) -> Result<(), ServerError> {
    let Some(node) = auth.map(|a| a.node_id.as_str()) else {
        return Ok(());
    };
    let alloc_is_mine = |alloc_id: &str| -> Result<(), ServerError> {
        match state.alloc(alloc_id) {
            Some(a) if a.node_id != node => Err(ServerError::Forbidden(format!(
                "allocation {alloc_id} runs on another node than {node}"
            ))),
            _ => Ok(()),
        }
    };
    let registration_is_mine = |r: &api::ServiceRegistration| -> Result<(), ServerError> {
        if r.node_id != node {
            return Err(ServerError::Forbidden(format!(
                "service registration {} names node {}, not the calling node {node}",
                r.id, r.node_id
            )));
        }
        alloc_is_mine(&r.alloc_id)
    };
    match call {
        ClientCall::UpdateAllocs(updates) => updates.iter().try_for_each(|u| alloc_is_mine(&u.id)),
        ClientCall::ServiceUpdate { upsert, delete } => {
            upsert.iter().try_for_each(registration_is_mine)?;
            delete
                .iter()
                .try_for_each(|id| match state.service_registration(id) {
                    Some(r) if r.node_id != node => Err(ServerError::Forbidden(format!(
                        "service registration {id} belongs to node {}",
                        r.node_id
                    ))),
                    _ => Ok(()),
                })
        }
        ClientCall::ServiceSync { registrations, .. } => {
            registrations.iter().try_for_each(registration_is_mine)
        }
        ClientCall::PreviousAllocation { alloc_id } => alloc_is_mine(alloc_id),
        _ => Ok(()),
    }
}

impl Server {
    /// Takes the secret out of a registering node and checks it against the one the node first
    /// registered with. Returns the hash to store.
    pub(super) fn registration_secret(&self, node: &mut api::Node) -> Result<String, ServerError> {
        let secret = std::mem::take(&mut node.secret_id);
        if secret.len() < 16 {
            return Err(ServerError::Invalid(
                "node registration needs a SecretID of at least 16 characters (the client \
                 agent makes one and keeps it in its data dir)"
                    .into(),
            ));
        }
        let hash = secret_hash(&secret);
        match self.state.snapshot().node_secret_hash(&node.id) {
            Some(known) if known != hash => Err(ServerError::Forbidden(format!(
                "node {} is registered with another secret; a node that lost its data dir \
                 must come back under a new id",
                node.id
            ))),
            _ => Ok(hash),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_with(node: &str, secret: &str) -> Tables {
        let mut t = Tables::default();
        t.node_secrets.insert(node.to_string(), secret_hash(secret));
        t
    }

    fn auth(node: &str, secret: &str) -> Option<NodeAuth> {
        Some(NodeAuth {
            node_id: node.into(),
            secret: secret.into(),
        })
    }

    #[test]
    fn only_the_right_secret_proves_a_node() {
        let t = state_with("n1", "secret-one-secret-one");
        let hb = |node: &str| ClientCall::NodeHeartbeat {
            node_id: node.into(),
        };
        let good = auth("n1", "secret-one-secret-one");
        assert_eq!(authenticate(&t, &hb("n1"), good.as_ref()), Identity::Proven);
        let wrong = auth("n1", "guess");
        assert!(matches!(
            authenticate(&t, &hb("n1"), wrong.as_ref()),
            Identity::Denied(m) if m.contains("wrong secret")
        ));
        // n1's own secret does not let it act for n2.
        assert!(matches!(
            authenticate(&t, &hb("n2"), good.as_ref()),
            Identity::Denied(m) if m.contains("may not act for")
        ));
        assert!(matches!(
            authenticate(&t, &hb("n1"), None),
            Identity::Denied(_)
        ));
        let unknown = auth("n3", "whatever-whatever");
        assert_eq!(
            authenticate(&t, &hb("n3"), unknown.as_ref()),
            Identity::NotHereYet
        );
        let catalog = ClientCall::Catalog {
            min_index: 0,
            wait_ms: 0,
        };
        assert_eq!(authenticate(&t, &catalog, None), Identity::Proven);
    }

    #[test]
    fn a_node_cannot_update_another_nodes_allocation_or_service() {
        let mut t = state_with("n1", "secret-one-secret-one");
        t.put_alloc(api::Allocation {
            id: "a2".into(),
            node_id: "n2".into(),
            ..Default::default()
        });
        let me = auth("n1", "secret-one-secret-one");
        let update = ClientCall::UpdateAllocs(vec![api::AllocClientUpdate {
            id: "a2".into(),
            ..Default::default()
        }]);
        let err = check_ownership(&t, &update, me.as_ref()).unwrap_err();
        assert!(err.to_string().contains("another node"), "{err}");
        let register = ClientCall::ServiceUpdate {
            upsert: vec![api::ServiceRegistration {
                id: "s".into(),
                node_id: "n2".into(),
                alloc_id: "a2".into(),
                ..Default::default()
            }],
            delete: vec![],
        };
        assert!(check_ownership(&t, &register, me.as_ref()).is_err());
        // Nor get the migrate token for another node's allocation's predecessor.
        let migrate = ClientCall::PreviousAllocation {
            alloc_id: "a2".into(),
        };
        assert!(check_ownership(&t, &migrate, me.as_ref()).is_err());
        assert!(matches!(
            authenticate(&t, &migrate, None),
            Identity::Denied(_)
        ));
        let own = ClientCall::UpdateAllocs(vec![api::AllocClientUpdate {
            id: "unknown".into(),
            ..Default::default()
        }]);
        assert!(check_ownership(&t, &own, me.as_ref()).is_ok());
    }
}
