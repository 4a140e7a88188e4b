//! Turns command-line instance options into the plugin contract's `options`.

use crate::cli::InstanceArgs;
use crate::plugin::bindings::{Mode, Options};
use anyhow::{Context, bail};
use rand::Rng;
use rand::distr::Alphanumeric;

/// Splits `postgres@16` into `("postgres", "16")`; no `@` means the default version ("").
pub fn split_engine_ref(reference: &str) -> (&str, &str) {
    reference.split_once('@').unwrap_or((reference, ""))
}

/// Parses a memory size such as `512m`, `2g` or `1GiB` (binary units, as Docker reads them).
pub fn parse_memory(size: &str) -> anyhow::Result<u64> {
    let config = parse_size::Config::new().with_binary();
    config
        .parse_size(size)
        .with_context(|| format!("invalid --memory '{size}': use a size like 512m or 2g"))
}

/// A 24-character password with upper, lower and digit characters (it satisfies SQL Server's
/// complexity rule) and nothing that needs quoting in a shell or URL.
pub fn generate_password() -> String {
    let mut rng = rand::rng();
    loop {
        let candidate: String = (&mut rng).sample_iter(&Alphanumeric).take(24).map(char::from).collect();
        let has = |f: fn(&char) -> bool| candidate.chars().any(|c| f(&c));
        if has(char::is_ascii_uppercase) && has(char::is_ascii_lowercase) && has(char::is_ascii_digit) {
            return candidate;
        }
    }
}

fn parse_env(pairs: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => bail!("invalid --env '{pair}': expected KEY=VALUE"),
        })
        .collect()
}

/// Builds the plugin options for `version`, generating a password when none was given.
pub fn plugin_options(args: &InstanceArgs, version: &str) -> anyhow::Result<Options> {
    Ok(Options {
        version: version.to_string(),
        user: args.user.clone(),
        password: args.password.clone().unwrap_or_else(generate_password),
        database: args.database.clone(),
        mode: if args.durable { Mode::Durable } else { Mode::Fast },
        persistent: args.persistent,
        memory_limit_bytes: args.memory.as_deref().map(parse_memory).transpose()?,
        extra: parse_env(&args.env)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_use_binary_units() {
        assert_eq!(parse_memory("512m").unwrap(), 512 << 20);
        assert_eq!(parse_memory("2g").unwrap(), 2 << 30);
        assert_eq!(parse_memory("1GiB").unwrap(), 1 << 30);
        assert!(parse_memory("lots").is_err());
    }

    #[test]
    fn generated_passwords_are_strong_and_distinct() {
        let a = generate_password();
        assert_eq!(a.len(), 24);
        assert_ne!(a, generate_password());
    }

    #[test]
    fn env_pairs_need_a_key() {
        assert_eq!(parse_env(&["A=b=c".into()]).unwrap(), vec![("A".into(), "b=c".into())]);
        assert!(parse_env(&["=x".into()]).is_err());
        assert!(parse_env(&["noequals".into()]).is_err());
    }

    #[test]
    fn engine_refs_split_on_at() {
        assert_eq!(split_engine_ref("postgres@16"), ("postgres", "16"));
        assert_eq!(split_engine_ref("redis"), ("redis", ""));
    }
}
