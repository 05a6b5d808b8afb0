//! Namespace writes: create or replace, and delete (refused while a job lives there).

use super::{Server, ServerError};
use crate::state::Command;
use api::namespace::Namespace;

impl Server {
    pub async fn namespace_upsert(&self, ns: Namespace) -> Result<u64, ServerError> {
        Namespace::validate_name(&ns.name).map_err(ServerError::Invalid)?;
        let (index, _) = self
            .raft
            .apply(Command::NamespaceUpsert {
                namespaces: vec![ns],
            })
            .await
            .map_err(ServerError::Raft)?;
        Ok(index)
    }

    pub async fn namespace_delete(&self, name: &str) -> Result<u64, ServerError> {
        let state = self
            .state
            .read(|t| (t.namespace_exists(name), t.namespace_in_use(name)));
        match state {
            (false, _) => {
                return Err(ServerError::NotFound(format!(
                    "namespace {name:?} not found"
                )))
            }
            (true, Some(why)) => return Err(ServerError::Invalid(why)),
            (true, None) => {}
        }
        self.apply_or_refuse(Command::NamespaceDelete {
            names: vec![name.to_string()],
        })
        .await
    }
}
