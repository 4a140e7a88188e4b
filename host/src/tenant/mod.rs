//! Tenants: a database and role of their own on a shared server that dbarena starts on
//! first use (with the plugin's pooler in front) and keeps.
//!
//! Records: each tenant is recorded as the labels of a small Docker volume named
//! `dbarena-tenant-NAME` (never mounted). Docker is dbarena's only store; a volume costs
//! one fast API call, lists by label, survives restarts of the server and the pooler, and
//! is removed by id like every other object in the [`Journal`](crate::provision::Journal).
//! The server itself is the lock against two tenants of one name: the plugin's create
//! step fails when its role or database exists, and a failed create removes only the
//! record it made (by owner token).

pub mod ops;
pub mod record;
pub mod server;

pub use record::TenantRecord;

/// Tenant names the host accepts (the contract's rule): lowercase letters, digits and
/// '_', starting with a letter, at most 40 so `NAME_user`/`NAME_db` fit every engine.
pub fn validate_name(name: &str) -> anyhow::Result<()> {
    let ok = (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        anyhow::bail!(
            "invalid --name '{}' for a tenant: use lowercase letters, digits and '_' (up to 40, starting with a letter)",
            name.escape_debug()
        )
    }
}

/// Instances and tenants share one namespace (`url`, `env`, `destroy` take either): an
/// instance may not take a tenant's name.
pub async fn refuse_tenant_name<B: crate::container::ContainerBackend>(backend: &B, name: &str) -> anyhow::Result<()> {
    if record::find(backend, name).await?.is_some() {
        anyhow::bail!("'{name}' is the name of a tenant; instances and tenants share names, choose another --name");
    }
    Ok(())
}

/// A tenant may not take an instance's (or any container's) name, its own server's included.
pub async fn refuse_instance_name<B: crate::container::ContainerBackend>(
    backend: &B,
    name: &str,
) -> anyhow::Result<()> {
    if backend.inspect_container(name).await.is_ok() {
        anyhow::bail!(
            "'{name}' is the name of an instance or container; instances and tenants share names, choose another --name"
        );
    }
    Ok(())
}

/// A fresh tenant name like `t_k3v9q2xa` (36^8 names: collisions are negligible, and the
/// server refuses one anyway).
pub fn generate_name() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let suffix: String = (0..8)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect();
    format!("t_{suffix}")
}

/// The shared server of `engine@version`: one per engine and version.
pub fn server_name(engine: &str, version: &str) -> String {
    let version: String = version
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("dbarena-shared-{engine}-{version}")
}

/// The pooler container in front of shared server `server`.
pub fn pooler_name(server: &str) -> String {
    format!("{server}-pooler")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names_are_plain_lowercase() {
        for ok in ["a", "app_1", "t_k3v9q2xa"] {
            validate_name(ok).unwrap();
        }
        for bad in ["", "A", "1a", "a-b", "a b", "a\"b", "é", &"a".repeat(41)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        let n = generate_name();
        validate_name(&n).unwrap();
        assert_ne!(n, generate_name());
        assert_eq!(server_name("postgres", "17"), "dbarena-shared-postgres-17");
        crate::instance::validate_name(&pooler_name(&server_name("postgres", "17"))).unwrap();
    }
}
