//! What a task's templates may read of Nomad Variables: its workload identity's paths, as in
//! Nomad — `nomad/jobs`, `nomad/jobs/<job>`, `nomad/jobs/<job>/<group>` and
//! `nomad/jobs/<job>/<group>/<task>` in the allocation's namespace — asked for by the node that
//! runs the allocation.

use super::super::{Server, ServerError};
use crate::rpc::TaskVariables;
use crate::state::Table;
use std::time::Duration;

/// The paths a task's workload identity reads.
pub fn workload_paths(job: &str, group: &str, task: &str) -> [String; 4] {
    [
        "nomad/jobs".to_string(),
        format!("nomad/jobs/{job}"),
        format!("nomad/jobs/{job}/{group}"),
        format!("nomad/jobs/{job}/{group}/{task}"),
    ]
}

impl Server {
    /// The variables task `task` of `alloc_id` may read, once they change past `min_index` (or
    /// after `wait`). `node` is the calling node (none: this agent's own client, in process);
    /// another node's allocation is refused.
    pub async fn task_variables(
        &self,
        alloc_id: &str,
        task: &str,
        node: Option<&str>,
        min_index: u64,
        wait: Duration,
    ) -> Result<TaskVariables, ServerError> {
        let alloc = self
            .state
            .read(|t| t.alloc(alloc_id))
            .ok_or_else(|| ServerError::NotFound(format!("allocation {alloc_id} not found")))?;
        if let Some(node) = node {
            if node.is_empty() || alloc.node_id != node {
                return Err(ServerError::Forbidden(format!(
                    "allocation {alloc_id} does not run on the calling node"
                )));
            }
        }
        let snap = self.state.wait_for(Table::Variables, min_index, wait).await;
        let index = snap.variables_index();
        let stored: Vec<_> = workload_paths(&alloc.job_id, &alloc.task_group, task)
            .iter()
            .filter_map(|p| snap.variable(&alloc.namespace, p))
            .collect();
        drop(snap);
        let mut vars = Vec::with_capacity(stored.len());
        for v in stored {
            vars.push(self.var_open(&v).await?);
        }
        Ok(TaskVariables { vars, index })
    }
}
