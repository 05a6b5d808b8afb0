//! `job dispatch`: a child of a parameterized job, registered with the dispatch's meta and
//! payload, named `<parent>/dispatch-<unix time>-<8 hex>` as in Nomad.

use super::{Server, ServerError};
use api::{Job, JobDispatchRequest, JobDispatchResponse};
use base64::Engine;

impl Server {
    pub async fn job_dispatch(
        &self,
        namespace: &str,
        parent_id: &str,
        req: JobDispatchRequest,
    ) -> Result<JobDispatchResponse, ServerError> {
        let parent = self
            .state
            .read(|t| t.job(namespace, parent_id))
            .ok_or_else(|| ServerError::NotFound(format!("job {parent_id:?} not found")))?;
        let Some(params) = parent
            .parameterized_job
            .as_ref()
            .filter(|_| !parent.dispatched)
        else {
            return Err(ServerError::Invalid(format!(
                "job {parent_id:?} is not a parameterized job: only those can be dispatched"
            )));
        };
        if parent.stop {
            return Err(ServerError::Invalid(format!(
                "job {parent_id:?} is stopped: it cannot be dispatched"
            )));
        }
        let payload = base64::engine::general_purpose::STANDARD
            .decode(req.payload.as_bytes())
            .map_err(|e| ServerError::Invalid(format!("the payload is not valid base64: {e}")))?;
        params
            .check_dispatch(&req.meta, payload.len())
            .map_err(ServerError::Invalid)?;
        let now = super::now_nanos();
        let suffix = &super::new_id()[..8];
        let mut child: Job = (*parent).clone();
        child.id = format!("{parent_id}/dispatch-{}-{suffix}", now / 1_000_000_000);
        child.name = child.id.clone();
        child.parent_id = parent_id.to_string();
        child.dispatched = true;
        child.payload = req.payload;
        child.meta.extend(req.meta);
        child.version = 0;
        child.create_index = 0;
        child.modify_index = 0;
        child.job_modify_index = 0;
        let resp = self.job_register(child.clone(), None).await?;
        Ok(JobDispatchResponse {
            dispatched_job_id: child.id,
            eval_id: resp.eval_id,
            eval_create_index: resp.eval_create_index,
            job_create_index: resp.index,
            index: resp.index,
        })
    }
}
