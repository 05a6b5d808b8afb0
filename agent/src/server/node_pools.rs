//! Node pool writes: create or replace, and delete (refused while a node or a job uses the pool).

use super::{Server, ServerError};
use crate::state::Command;
use api::node_pool::NodePool;

impl Server {
    pub async fn node_pool_upsert(&self, pool: NodePool) -> Result<u64, ServerError> {
        pool.validate().map_err(ServerError::Invalid)?;
        self.apply_or_refuse(Command::NodePoolUpsert { pools: vec![pool] })
            .await
    }

    pub async fn node_pool_delete(&self, name: &str) -> Result<u64, ServerError> {
        let state = self
            .state
            .read(|t| (t.node_pool_exists(name), t.node_pool_in_use(name)));
        match state {
            (false, _) => {
                return Err(ServerError::NotFound(format!(
                    "node pool {name:?} not found"
                )))
            }
            (true, Some(why)) => return Err(ServerError::Invalid(why)),
            (true, None) => {}
        }
        self.apply_or_refuse(Command::NodePoolDelete {
            names: vec![name.to_string()],
        })
        .await
    }
}
