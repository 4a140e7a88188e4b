/// Builds a container environment in insertion order, skipping unset values.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Env(Vec<(String, String)>);

impl Env {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`, replacing an earlier value of the same name.
    pub fn set(mut self, name: &str, value: impl Into<String>) -> Self {
        let value = value.into();
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_string(), value)),
        }
        self
    }

    /// Sets `name` only when `value` is `Some`.
    pub fn set_opt(self, name: &str, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(v) => self.set(name, v),
            None => self,
        }
    }

    /// Appends user-supplied pairs (e.g. `--env` extras), overriding earlier ones.
    pub fn extend(self, pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        pairs.into_iter().fold(self, |env, (k, v)| env.set(&k, v))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn build(self) -> Vec<(String, String)> {
        self.0
    }
}

/// Refuses `--env` keys the plugin manages itself (credentials, data directory): an
/// override would break readiness and the printed connection info. The error names the
/// `env` field.
pub fn reject_managed_env(extra: &[(String, String)], managed: &[&str]) -> Result<(), crate::types::PluginError> {
    match extra.iter().find(|(k, _)| managed.contains(&k.as_str())) {
        Some((key, _)) => Err(crate::field_error(
            "env",
            format!("'{key}' is managed by dbarena; use --user, --password and --database instead"),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::{Env, reject_managed_env};

    #[test]
    fn managed_keys_are_refused_naming_the_env_field() {
        let extra = vec![("TZ".to_string(), "UTC".to_string())];
        assert!(reject_managed_env(&extra, &["PGDATA"]).is_ok());
        let extra = vec![("TZ".to_string(), "UTC".to_string()), ("PGDATA".into(), "/x".into())];
        let err = reject_managed_env(&extra, &["PGDATA"]).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("env"));
        assert!(err.message.contains("'PGDATA' is managed"), "{}", err.message);
    }

    #[test]
    fn later_values_replace_earlier_ones_in_place() {
        let env = Env::new()
            .set("A", "1")
            .set_opt("B", None::<String>)
            .set("C", "3")
            .extend([("A".to_string(), "9".to_string())]);
        assert_eq!(env.get("B"), None);
        assert_eq!(env.build(), vec![("A".into(), "9".into()), ("C".into(), "3".into())]);
    }
}
