//! The typed calls of [`Client`], one per endpoint `nomadctl` uses; the transport, errors and
//! blocking-query plumbing are in the parent module.

use super::*;

/// Typed helpers, one per endpoint the CLI uses.
impl Client {
    pub fn jobs(&self, prefix: &str) -> Result<Vec<JobListStub>, ClientError> {
        Ok(self.get("/v1/jobs", &prefix_query(prefix))?.0)
    }

    pub fn job(&self, id: &str) -> Result<Job, ClientError> {
        Ok(self.get(&format!("/v1/job/{}", seg(id)), &[])?.0)
    }

    /// Registers `job`; `enforce_index` = Some(i) is `-check-index i`.
    pub fn register_job(
        &self,
        job: &Job,
        enforce_index: Option<u64>,
    ) -> Result<JobRegisterResponse, ClientError> {
        let req = JobRegisterRequest {
            job: job.clone(),
            enforce_index: enforce_index.is_some(),
            job_modify_index: enforce_index.unwrap_or(0),
            policy_override: false,
        };
        self.post("/v1/jobs", &[], &req)
    }

    pub fn deregister_job(
        &self,
        id: &str,
        purge: bool,
    ) -> Result<JobDeregisterResponse, ClientError> {
        let purge = if purge { "true" } else { "false" };
        self.delete(&format!("/v1/job/{}", seg(id)), &[("purge", purge)])
    }

    pub fn job_allocations(&self, id: &str, all: bool) -> Result<Vec<Allocation>, ClientError> {
        let all = if all { "true" } else { "false" };
        let path = format!("/v1/job/{}/allocations", seg(id));
        Ok(self.get(&path, &[("all", all)])?.0)
    }

    pub fn job_evaluations(&self, id: &str) -> Result<Vec<Evaluation>, ClientError> {
        Ok(self
            .get(&format!("/v1/job/{}/evaluations", seg(id)), &[])?
            .0)
    }

    pub fn job_summary(&self, id: &str) -> Result<JobSummary, ClientError> {
        Ok(self.get(&format!("/v1/job/{}/summary", seg(id)), &[])?.0)
    }

    pub fn job_versions(&self, id: &str, diffs: bool) -> Result<JobVersionsResponse, ClientError> {
        let q: &[(&str, &str)] = if diffs { &[("diffs", "true")] } else { &[] };
        Ok(self.get(&format!("/v1/job/{}/versions", seg(id)), q)?.0)
    }

    /// A dry run of the scheduler for `job` (`POST /v1/job/:id/plan`), with the diff.
    pub fn plan_job(&self, job: &Job, diff: bool) -> Result<crate::JobPlanResponse, ClientError> {
        let req = crate::JobPlanRequest {
            job: job.clone(),
            diff,
            policy_override: false,
        };
        self.post(&format!("/v1/job/{}/plan", seg(&job.id)), &[], &req)
    }

    /// Registers an earlier version's spec again (`POST /v1/job/:id/revert`).
    pub fn revert_job(
        &self,
        id: &str,
        version: u64,
        enforce_prior: Option<u64>,
    ) -> Result<JobRegisterResponse, ClientError> {
        let req = crate::job::JobRevertRequest {
            job_id: id.to_string(),
            job_version: version,
            enforce_prior_version: enforce_prior,
        };
        self.post(&format!("/v1/job/{}/revert", seg(id)), &[], &req)
    }

    /// Server-side parse of an HCL job (`POST /v1/jobs/parse`), canonicalized.
    pub fn parse_job(&self, hcl: &str) -> Result<Job, ClientError> {
        let req = JobsParseRequest {
            job_hcl: hcl.to_string(),
            canonicalize: true,
            ..JobsParseRequest::default()
        };
        self.post("/v1/jobs/parse", &[], &req)
    }

    pub fn allocations(&self, prefix: &str) -> Result<Vec<Allocation>, ClientError> {
        Ok(self.get("/v1/allocations", &prefix_query(prefix))?.0)
    }

    pub fn allocation(&self, id: &str) -> Result<Allocation, ClientError> {
        Ok(self.get(&format!("/v1/allocation/{}", seg(id)), &[])?.0)
    }

    pub fn allocation_blocking(
        &self,
        id: &str,
        opts: &QueryOptions,
    ) -> Result<(Allocation, QueryMeta), ClientError> {
        self.get_blocking(&format!("/v1/allocation/{}", seg(id)), &[], opts)
    }

    pub fn stop_allocation(&self, id: &str) -> Result<AllocStopResponse, ClientError> {
        let path = format!("/v1/allocation/{}/stop", seg(id));
        self.post(&path, &[], &serde_json::json!({}))
    }

    pub fn evaluations(&self, prefix: &str) -> Result<Vec<Evaluation>, ClientError> {
        Ok(self.get("/v1/evaluations", &prefix_query(prefix))?.0)
    }

    pub fn evaluation(&self, id: &str) -> Result<Evaluation, ClientError> {
        Ok(self.get(&format!("/v1/evaluation/{}", seg(id)), &[])?.0)
    }

    pub fn evaluation_blocking(
        &self,
        id: &str,
        opts: &QueryOptions,
    ) -> Result<(Evaluation, QueryMeta), ClientError> {
        self.get_blocking(&format!("/v1/evaluation/{}", seg(id)), &[], opts)
    }

    pub fn eval_allocations(&self, id: &str) -> Result<Vec<Allocation>, ClientError> {
        Ok(self
            .get(&format!("/v1/evaluation/{}/allocations", seg(id)), &[])?
            .0)
    }

    pub fn eval_allocations_blocking(
        &self,
        id: &str,
        opts: &QueryOptions,
    ) -> Result<(Vec<Allocation>, QueryMeta), ClientError> {
        let path = format!("/v1/evaluation/{}/allocations", seg(id));
        self.get_blocking(&path, &[], opts)
    }

    pub fn nodes(&self, prefix: &str) -> Result<Vec<NodeListStub>, ClientError> {
        Ok(self.get("/v1/nodes", &prefix_query(prefix))?.0)
    }

    pub fn node(&self, id: &str) -> Result<Node, ClientError> {
        Ok(self.get(&format!("/v1/node/{}", seg(id)), &[])?.0)
    }

    /// Marks a node eligible or ineligible for new work.
    pub fn node_eligibility(
        &self,
        id: &str,
        eligible: bool,
    ) -> Result<crate::NodeUpdateResponse, ClientError> {
        let req = crate::NodeEligibilityRequest {
            node_id: id.to_string(),
            eligibility: if eligible {
                crate::NODE_ELIGIBLE
            } else {
                crate::NODE_INELIGIBLE
            }
            .to_string(),
        };
        self.post(&format!("/v1/node/{id}/eligibility"), &[], &req)
    }

    /// Starts a drain (`Some(spec)`) or ends it (`None`, then `mark_eligible`).
    pub fn node_drain(
        &self,
        id: &str,
        spec: Option<crate::DrainSpec>,
        mark_eligible: bool,
    ) -> Result<crate::NodeUpdateResponse, ClientError> {
        let req = crate::NodeDrainRequest {
            node_id: id.to_string(),
            drain_spec: spec,
            mark_eligible,
        };
        self.post(&format!("/v1/node/{id}/drain"), &[], &req)
    }

    pub fn node_allocations(&self, id: &str) -> Result<Vec<Allocation>, ClientError> {
        Ok(self
            .get(&format!("/v1/node/{}/allocations", seg(id)), &[])?
            .0)
    }

    /// `GET /v1/services`: service names (and their tags) per namespace; `"*"` for all.
    pub fn services(
        &self,
        namespace: &str,
    ) -> Result<Vec<crate::ServiceRegistrationListStub>, ClientError> {
        Ok(self.get("/v1/services", &[("namespace", namespace)])?.0)
    }

    /// `GET /v1/service/:name`: its registered instances.
    pub fn service(
        &self,
        name: &str,
        namespace: &str,
    ) -> Result<Vec<crate::ServiceRegistration>, ClientError> {
        Ok(self
            .get(
                &format!("/v1/service/{}", seg(name)),
                &[("namespace", namespace)],
            )?
            .0)
    }

    pub fn delete_service(&self, name: &str, id: &str, namespace: &str) -> Result<(), ClientError> {
        self.delete_no_content(
            &format!("/v1/service/{}/{}", seg(name), seg(id)),
            &[("namespace", namespace)],
        )
    }

    /// The live results of an allocation's checks, by check id.
    pub fn allocation_checks(
        &self,
        alloc_id: &str,
    ) -> Result<std::collections::BTreeMap<String, crate::CheckQueryResult>, ClientError> {
        Ok(self
            .get(
                &format!("/v1/client/allocation/{}/checks", seg(alloc_id)),
                &[],
            )?
            .0)
    }

    /// Renders a template once against the live catalog (the agent's renderer). A template
    /// that does not render comes back as an API error naming its file and line.
    pub fn render_template(&self, name: &str, template: &str) -> Result<String, ClientError> {
        #[derive(serde::Deserialize)]
        struct Rendered {
            #[serde(rename = "Output")]
            output: String,
        }
        let body = serde_json::json!({ "Name": name, "Template": template });
        let r: Rendered = self.post("/v1/agent/template/render", &[], &body)?;
        Ok(r.output)
    }

    pub fn deployments(&self, prefix: &str) -> Result<Vec<crate::Deployment>, ClientError> {
        Ok(self.get("/v1/deployments", &prefix_query(prefix))?.0)
    }

    pub fn deployment_blocking(
        &self,
        id: &str,
        opts: &QueryOptions,
    ) -> Result<(crate::Deployment, QueryMeta), ClientError> {
        self.get_blocking(&format!("/v1/deployment/{}", seg(id)), &[], opts)
    }

    /// The job's newest deployment, if it has one.
    pub fn job_latest_deployment(
        &self,
        job: &str,
    ) -> Result<Option<crate::Deployment>, ClientError> {
        Ok(self
            .get(&format!("/v1/job/{}/deployment", seg(job)), &[])?
            .0)
    }

    /// Promotes the canaries of every group, or of `groups`.
    pub fn promote_deployment(
        &self,
        id: &str,
        groups: Option<Vec<String>>,
    ) -> Result<crate::DeploymentUpdateResponse, ClientError> {
        let req = crate::DeploymentPromoteRequest {
            deployment_id: id.to_string(),
            all: groups.is_none(),
            groups,
        };
        self.post(&format!("/v1/deployment/promote/{}", seg(id)), &[], &req)
    }

    /// Pauses (`pause`) or resumes a deployment.
    pub fn pause_deployment(
        &self,
        id: &str,
        pause: bool,
    ) -> Result<crate::DeploymentUpdateResponse, ClientError> {
        let req = crate::DeploymentPauseRequest {
            deployment_id: id.to_string(),
            pause,
        };
        self.post(&format!("/v1/deployment/pause/{}", seg(id)), &[], &req)
    }

    pub fn fail_deployment(
        &self,
        id: &str,
    ) -> Result<crate::DeploymentUpdateResponse, ClientError> {
        let body = serde_json::json!({ "DeploymentID": id });
        self.post(&format!("/v1/deployment/fail/{}", seg(id)), &[], &body)
    }

    /// The leader's RPC address ("ip:port"), empty when there is none.
    pub fn status_leader(&self) -> Result<String, ClientError> {
        Ok(self.get("/v1/status/leader", &[])?.0)
    }

    pub fn status_peers(&self) -> Result<Vec<String>, ClientError> {
        Ok(self.get("/v1/status/peers", &[])?.0)
    }

    pub fn agent_self(&self) -> Result<serde_json::Value, ClientError> {
        Ok(self.get("/v1/agent/self", &[])?.0)
    }

    pub fn agent_members(&self) -> Result<ServerMembers, ClientError> {
        Ok(self.get("/v1/agent/members", &[])?.0)
    }

    /// The servers' raft configuration; `stale` lets a server without a leader answer from its
    /// own state.
    pub fn raft_configuration(&self, stale: bool) -> Result<RaftConfiguration, ClientError> {
        Ok(self
            .get("/v1/operator/raft/configuration", &stale_query(stale))?
            .0)
    }

    /// Removes a server from the raft configuration, named by its rpc address or its raft id.
    /// Both are passed through as given: the server checks that exactly one names a peer.
    pub fn remove_raft_peer(
        &self,
        address: Option<&str>,
        id: Option<&str>,
    ) -> Result<(), ClientError> {
        let mut query = Vec::new();
        if let Some(a) = address {
            query.push(("address", a));
        }
        if let Some(i) = id {
            query.push(("id", i));
        }
        self.delete_no_content("/v1/operator/raft/peer", &query)
    }

    /// A task's log as raw bytes (`plain=true`). With `follow` the agent keeps the response open
    /// and the reader blocks for new output; it ends when the agent closes the stream.
    pub fn logs(
        &self,
        alloc_id: &str,
        task: &str,
        kind: LogKind,
        follow: bool,
        origin: LogOrigin,
        offset: u64,
    ) -> Result<impl Read + Send + 'static, ClientError> {
        let path = format!("/v1/client/fs/logs/{}", seg(alloc_id));
        let offset = offset.to_string();
        let query = [
            ("task", task),
            ("type", kind.as_str()),
            ("follow", if follow { "true" } else { "false" }),
            (
                "origin",
                match origin {
                    LogOrigin::Start => "start",
                    LogOrigin::End => "end",
                },
            ),
            ("offset", offset.as_str()),
            ("plain", "true"),
        ];
        let resp = self.send(Method::Get, &path, &query, None)?;
        Ok(resp.into_body().into_with_config().limit(u64::MAX).reader())
    }
}
