//! The registry's push worker: what changed goes to the servers (one call per batch, a full
//! reconciliation after any failure or every few minutes), then to Consul for the services that
//! ask for it.

use super::consul::{self, ConsulAgent};
use super::{sync, ServiceRegistry, FULL_SYNC_EVERY, MAX_BACKOFF};
use api::ServiceRegistration;
use std::sync::Arc;
use std::time::{Duration, Instant};

impl ServiceRegistry {
    /// Pushes what changed, forever: to the servers, then to Consul.
    pub(super) async fn push_loop(self: Arc<Self>) {
        let mut backoff = Duration::from_millis(250);
        let mut last_full = Instant::now();
        loop {
            let batch = tokio::select! {
                b = self.queue.next() => b,
                _ = tokio::time::sleep(FULL_SYNC_EVERY.saturating_sub(last_full.elapsed())) => {
                    self.queue.full();
                    continue;
                }
            };
            if batch.full {
                last_full = Instant::now();
            }
            match self.push_servers(&batch).await {
                Ok(()) => backoff = Duration::from_millis(250),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot update the service catalog, retrying");
                    self.queue.retry(batch);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
            self.queue.pushed(batch.generation);
            if let Some(agent) = &self.consul {
                if let Err(e) = self.push_consul(agent, &batch).await {
                    tracing::warn!(error = %e, "cannot update Consul; retrying everything");
                    tokio::time::sleep(backoff).await;
                    self.queue.full();
                }
            }
        }
    }

    async fn push_servers(&self, batch: &sync::Batch) -> Result<(), crate::rpc::RpcError> {
        if batch.full {
            let all = self.registrations();
            self.rpc.service_sync(&self.node.id, all).await?;
            return Ok(());
        }
        if batch.upsert.is_empty() && batch.delete.is_empty() {
            return Ok(());
        }
        let upsert: Vec<ServiceRegistration> = {
            let inner = self.inner();
            batch
                .upsert
                .iter()
                .filter_map(|id| inner.entries.get(id).map(|e| e.reg.clone()))
                .collect()
        };
        let delete = batch.delete.iter().cloned().collect();
        self.rpc.service_update(upsert, delete).await?;
        Ok(())
    }

    async fn push_consul(
        &self,
        agent: &ConsulAgent,
        batch: &sync::Batch,
    ) -> Result<(), consul::ConsulError> {
        for id in &batch.consul_delete {
            agent.deregister(id).await?;
        }
        type Work = (
            ServiceRegistration,
            Vec<(String, String, Duration, String, String)>,
        );
        let (register, refresh): (Vec<Work>, Vec<Work>) = {
            let mut inner = self.inner();
            let mut register = Vec::new();
            let mut refresh = Vec::new();
            for (id, e) in inner.entries.iter_mut().filter(|(_, e)| e.consul) {
                let new = batch.full || batch.upsert.contains(id);
                if !new && !batch.consul_refresh.contains(id) {
                    continue;
                }
                let mut checks = Vec::new();
                for c in &e.checks {
                    let st = c.state();
                    let output = st.last.map(|r| r.output).unwrap_or_default();
                    e.consul_pushed
                        .insert(c.spec.id.clone(), (st.status.clone(), Instant::now()));
                    let ttl = consul::ttl_for(c.spec.check.interval, c.spec.check.timeout);
                    checks.push((
                        c.spec.id.clone(),
                        c.spec.check.name.clone(),
                        ttl,
                        st.status,
                        output,
                    ));
                }
                let work = (e.reg.clone(), checks);
                if new {
                    register.push(work);
                } else {
                    refresh.push(work);
                }
            }
            (register, refresh)
        };
        for (reg, checks) in &register {
            let ttl: Vec<consul::TtlCheck> = checks
                .iter()
                .map(|(id, name, ttl, status, output)| consul::TtlCheck {
                    id,
                    name,
                    ttl: *ttl,
                    status,
                    output,
                })
                .collect();
            agent.register(reg, &ttl).await?;
        }
        for (_, checks) in register.iter().chain(&refresh) {
            for (id, _, _, status, output) in checks {
                agent.update_check(id, status, output).await?;
            }
        }
        Ok(())
    }
}
