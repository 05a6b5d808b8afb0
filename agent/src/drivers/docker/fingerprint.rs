//! Whether the Docker Engine answers here, and which version it is, in Nomad's attribute names.

use super::engine::block_on_engine;
use api::DriverInfo;
use std::collections::BTreeMap;
use std::time::Duration;

/// A healthy engine answers /version in milliseconds; this only bounds a hung one.
const FINGERPRINT_TIMEOUT: Duration = Duration::from_secs(5);

fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub fn fingerprint(endpoint: Option<&str>) -> DriverInfo {
    let version = block_on_engine(endpoint, FINGERPRINT_TIMEOUT, |docker| async move {
        docker.version().await
    });
    match version {
        Ok(v) => {
            let mut attributes = BTreeMap::from([
                ("driver.docker".to_string(), "1".to_string()),
                (
                    "driver.docker.version".to_string(),
                    v.version.unwrap_or_default(),
                ),
                (
                    "driver.docker.volumes.enabled".to_string(),
                    "true".to_string(),
                ),
            ]);
            if let Some(os) = v.os {
                attributes.insert("driver.docker.os_type".to_string(), os);
            }
            DriverInfo {
                attributes,
                detected: true,
                healthy: true,
                health_description: "Healthy".into(),
                update_time: now_nanos(),
            }
        }
        Err(e) => DriverInfo {
            attributes: BTreeMap::new(),
            detected: false,
            healthy: false,
            health_description: format!("Failed to connect to docker daemon: {e}"),
            update_time: now_nanos(),
        },
    }
}
