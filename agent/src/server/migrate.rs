//! `ephemeral_disk { migrate = true }` across nodes: a replacement placed on another node than
//! its predecessor asks the servers where that predecessor ran. The answer carries a migrate
//! token made from the old node's secret hash (see `rpc::node_secret`), which the old node
//! checks before it streams the data.

use super::{Server, ServerError};
use crate::rpc::node_secret::migrate_token;
use crate::rpc::PreviousAllocation;

impl Server {
    /// The predecessor of `alloc_id` to fetch data from, when the allocation's group migrates
    /// its data and the predecessor ran on another node. `node`, when given, must be the node
    /// the allocation runs on (the caller).
    pub fn previous_allocation(
        &self,
        alloc_id: &str,
        node: Option<&str>,
    ) -> Result<Option<PreviousAllocation>, ServerError> {
        self.state.read(|t| {
            let alloc = t
                .alloc(alloc_id)
                .ok_or_else(|| ServerError::NotFound(format!("allocation {alloc_id} not found")))?;
            if node.is_some_and(|n| n != alloc.node_id) {
                return Err(ServerError::Forbidden(format!(
                    "allocation {alloc_id} does not run on the calling node"
                )));
            }
            let job = alloc
                .job
                .clone()
                .or_else(|| t.job_version(&alloc.namespace, &alloc.job_id, alloc.job_version));
            let migrates = job
                .as_deref()
                .and_then(|j| j.lookup_group(&alloc.task_group))
                .is_some_and(|g| g.migrates_data());
            if !migrates || alloc.previous_allocation.is_empty() {
                return Ok(None);
            }
            // Collected already, or on the same node (handed over there without the servers).
            let Some(prev) = t.alloc(&alloc.previous_allocation) else {
                return Ok(None);
            };
            if prev.node_id == alloc.node_id {
                return Ok(None);
            }
            let (Some(node), Some(hash)) =
                (t.node(&prev.node_id), t.node_secret_hash(&prev.node_id))
            else {
                return Ok(None);
            };
            Ok(Some(PreviousAllocation {
                alloc_id: prev.id.clone(),
                node_id: node.id.clone(),
                node_name: node.name.clone(),
                http_addr: node.http_addr.clone(),
                terminal: prev.client_terminal(),
                migrate_token: migrate_token(hash, &prev.id),
            }))
        })
    }
}
