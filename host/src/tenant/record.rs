//! A tenant's record: the labels of its volume `dbarena-tenant-NAME`. The only reader and
//! writer of `io.dbarena.tenant.*` labels. These volumes carry no `io.dbarena.managed`
//! label, so instance commands never take them for an instance's data.

use crate::container::{BackendError, ContainerBackend};
use crate::plugin::bindings::{Credentials, Tenant};
use std::collections::BTreeMap;

mod key {
    pub const TENANT: &str = "io.dbarena.tenant";
    pub const NAME: &str = "io.dbarena.tenant.name";
    pub const SERVER: &str = "io.dbarena.tenant.server";
    pub const ENGINE: &str = "io.dbarena.tenant.engine";
    pub const VERSION: &str = "io.dbarena.tenant.version";
    pub const USER: &str = "io.dbarena.tenant.user";
    pub const PASSWORD: &str = "io.dbarena.tenant.password";
    pub const DATABASE: &str = "io.dbarena.tenant.database";
    pub const MAX_CONNECTIONS: &str = "io.dbarena.tenant.max-connections";
    pub const CREATED_AT: &str = "io.dbarena.tenant.created-at";
    /// The same owner key as instances: the journal removes only its own.
    pub const OWNER: &str = "io.dbarena.owner";
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TenantRecord {
    pub name: String,
    /// The shared server's instance name.
    pub server: String,
    pub engine: String,
    pub version: String,
    #[serde(skip)]
    pub credentials: Credentials,
    pub max_connections: Option<u32>,
    pub created_at: String,
}

/// The volume that records tenant `name`.
pub fn volume_name(name: &str) -> String {
    format!("dbarena-tenant-{name}")
}

impl TenantRecord {
    pub fn labels(&self, owner: &str) -> BTreeMap<String, String> {
        let c = &self.credentials;
        [
            (key::TENANT, "true".to_string()),
            (key::NAME, self.name.clone()),
            (key::SERVER, self.server.clone()),
            (key::ENGINE, self.engine.clone()),
            (key::VERSION, self.version.clone()),
            (key::USER, c.user.clone()),
            (key::PASSWORD, c.password.clone()),
            (key::DATABASE, c.database.clone()),
            (
                key::MAX_CONNECTIONS,
                self.max_connections.map(|n| n.to_string()).unwrap_or_default(),
            ),
            (key::CREATED_AT, self.created_at.clone()),
            (key::OWNER, owner.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    pub fn from_labels(labels: &BTreeMap<String, String>) -> Option<Self> {
        let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
        if get(key::TENANT) != "true" || get(key::NAME).is_empty() || get(key::SERVER).is_empty() {
            return None;
        }
        Some(Self {
            name: get(key::NAME),
            server: get(key::SERVER),
            engine: get(key::ENGINE),
            version: get(key::VERSION),
            credentials: Credentials {
                user: get(key::USER),
                password: get(key::PASSWORD),
                database: get(key::DATABASE),
            },
            max_connections: get(key::MAX_CONNECTIONS).parse().ok(),
            created_at: get(key::CREATED_AT),
        })
    }

    /// The contract's view of the tenant.
    pub fn tenant(&self) -> Tenant {
        Tenant {
            name: self.name.clone(),
            credentials: self.credentials.clone(),
            max_connections: self.max_connections,
        }
    }
}

/// Every tenant, of every server, by name.
pub async fn all<B: ContainerBackend>(backend: &B) -> anyhow::Result<Vec<TenantRecord>> {
    let mut all: Vec<TenantRecord> = backend
        .list_volumes(&[format!("{}=true", key::TENANT)])
        .await?
        .iter()
        .filter_map(|v| TenantRecord::from_labels(&v.labels))
        .collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(all)
}

/// Tenant `name`, if recorded.
pub async fn find<B: ContainerBackend>(backend: &B, name: &str) -> anyhow::Result<Option<TenantRecord>> {
    match backend.inspect_volume(&volume_name(name)).await {
        Ok(v) => Ok(v.and_then(|v| TenantRecord::from_labels(&v.labels))),
        Err(BackendError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_and_foreign_volumes_are_not_tenants() {
        let t = TenantRecord {
            name: "app".into(),
            server: "dbarena-shared-postgres-17".into(),
            engine: "postgres".into(),
            version: "17".into(),
            credentials: Credentials {
                user: "app_user".into(),
                password: "p=w\"x".into(),
                database: "app_db".into(),
            },
            max_connections: Some(5),
            created_at: "2026-01-01T00:00:00Z".into(),
        };
        let labels = t.labels("tok");
        assert_eq!(labels["io.dbarena.owner"], "tok");
        assert!(!crate::instance::record::is_managed(&labels));
        assert_eq!(TenantRecord::from_labels(&labels), Some(t));
        assert_eq!(TenantRecord::from_labels(&BTreeMap::new()), None);
    }
}
