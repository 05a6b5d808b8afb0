//! Whether the Docker Engine answers here, and which version it is, in Nomad's attribute names.

use super::engine::block_on_engine;
use api::DriverInfo;
use std::collections::BTreeMap;
use std::time::Duration;

/// A healthy engine answers /version in milliseconds; this only bounds a hung one.
const FINGERPRINT_TIMEOUT: Duration = Duration::from_secs(5);

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
            crate::drivers::healthy_driver(attributes)
        }
        Err(e) => {
            crate::drivers::undetected_driver(format!("Failed to connect to docker daemon: {e}"))
        }
    }
}
