//! The typed calls of [`Client`] that reach a client node: an allocation's files, signals,
//! restarts and resource usage, and a node's host usage.

use super::*;
use crate::fs::AllocFileInfo;
use crate::stats::{AllocResourceUsage, HostStats};

impl Client {
    pub fn alloc_fs_list(
        &self,
        alloc_id: &str,
        path: &str,
    ) -> Result<Vec<AllocFileInfo>, ClientError> {
        let p = format!("/v1/client/fs/ls/{}", seg(alloc_id));
        Ok(self.get(&p, &[("path", path)])?.0)
    }

    pub fn alloc_fs_stat(&self, alloc_id: &str, path: &str) -> Result<AllocFileInfo, ClientError> {
        let p = format!("/v1/client/fs/stat/{}", seg(alloc_id));
        Ok(self.get(&p, &[("path", path)])?.0)
    }

    /// A file's bytes from `offset`, at most `limit` of them (all with None).
    pub fn alloc_fs_read(
        &self,
        alloc_id: &str,
        path: &str,
        offset: u64,
        limit: Option<u64>,
    ) -> Result<impl Read + Send + 'static, ClientError> {
        let p = format!("/v1/client/fs/readat/{}", seg(alloc_id));
        let offset = offset.to_string();
        let limit = limit.map(|l| l.to_string());
        let mut query = vec![("path", path), ("offset", offset.as_str())];
        if let Some(l) = &limit {
            query.push(("limit", l.as_str()));
        }
        let resp = self.send(Method::Get, &p, &query, None)?;
        Ok(resp.into_body().into_with_config().limit(u64::MAX).reader())
    }

    /// Nomad's stream of `{"Data", "File", "Offset"}` frames for a file, following it.
    pub fn alloc_fs_stream(
        &self,
        alloc_id: &str,
        path: &str,
        origin: LogOrigin,
        offset: u64,
    ) -> Result<impl Read + Send + 'static, ClientError> {
        let p = format!("/v1/client/fs/stream/{}", seg(alloc_id));
        let offset = offset.to_string();
        let origin = match origin {
            LogOrigin::Start => "start",
            LogOrigin::End => "end",
        };
        let query = [
            ("path", path),
            ("origin", origin),
            ("offset", offset.as_str()),
        ];
        let resp = self.send(Method::Get, &p, &query, None)?;
        Ok(resp.into_body().into_with_config().limit(u64::MAX).reader())
    }

    pub fn signal_alloc(
        &self,
        alloc_id: &str,
        task: &str,
        signal: &str,
    ) -> Result<(), ClientError> {
        let p = format!("/v1/client/allocation/{}/signal", seg(alloc_id));
        let body = serde_json::json!({ "Task": task, "Signal": signal });
        self.post::<_, serde_json::Value>(&p, &[], &body)
            .map(|_| ())
    }

    pub fn restart_alloc(&self, alloc_id: &str, task: &str, all: bool) -> Result<(), ClientError> {
        let p = format!("/v1/client/allocation/{}/restart", seg(alloc_id));
        let body = serde_json::json!({ "TaskName": task, "AllTasks": all });
        self.post::<_, serde_json::Value>(&p, &[], &body)
            .map(|_| ())
    }

    pub fn alloc_stats(&self, alloc_id: &str) -> Result<AllocResourceUsage, ClientError> {
        let p = format!("/v1/client/allocation/{}/stats", seg(alloc_id));
        Ok(self.get(&p, &[])?.0)
    }

    pub fn host_stats(&self, node_id: &str) -> Result<HostStats, ClientError> {
        Ok(self.get("/v1/client/stats", &[("node_id", node_id)])?.0)
    }
}
