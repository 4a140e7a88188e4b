//! `dbarena env` and `dbarena url`: connection details for scripts and shells.
//!
//! Variables are the plugin's (e.g. `PGHOST`, `DATABASE_URL`) plus the connection forms
//! that name one (e.g. `JDBC_URL`). A name two instances both export is prefixed with
//! each instance's name (`PG1_PGHOST`), so nothing is silently overwritten.

use super::Context;
use crate::cli::{EnvArgs, EnvFormat, UrlArgs};
use crate::container::ContainerBackend;
use crate::instance::Instance;
use anyhow::bail;
use std::collections::BTreeMap;
use std::process::ExitCode;

/// Each instance's variables, in order.
fn variables(i: &Instance) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = i.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for form in &i.connection_forms {
        if let Some(name) = &form.env_name
            && !vars.iter().any(|(k, _)| k == name)
        {
            vars.push((name.clone(), form.value.clone()));
        }
    }
    vars
}

/// `pg-1` → `PG_1`: an instance name as an environment-variable prefix (never starting
/// with a digit).
fn prefix(name: &str) -> String {
    let upper: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if upper.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{upper}")
    } else {
        upper
    }
}

/// Merges the instances' variables, prefixing the names more than one of them exports.
fn merge(per_instance: &[(String, Vec<(String, String)>)]) -> Vec<(String, String)> {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, vars) in per_instance {
        for (k, _) in vars {
            *count.entry(k).or_default() += 1;
        }
    }
    per_instance
        .iter()
        .flat_map(|(name, vars)| {
            let count = &count;
            vars.iter().map(move |(k, v)| match count[k.as_str()] {
                1 => (k.clone(), v.clone()),
                _ => (format!("{}_{k}", prefix(name)), v.clone()),
            })
        })
        .collect()
}

/// The variables of `instances`, merged as `dbarena env` prints them (for `run`'s child).
/// Each name is checked again as a connection variable: the plugin's names were checked
/// when returned, but an instance-name prefix can make a name like `PIP_INDEX_URL` out of
/// `INDEX_URL`; such a name is left out with a warning.
pub(crate) fn merged(instances: &[Instance]) -> Vec<(String, String)> {
    let per_instance: Vec<(String, Vec<(String, String)>)> =
        instances.iter().map(|i| (i.name.clone(), variables(i))).collect();
    checked(merge(&per_instance))
}

/// `vars` without the names that are no connection variables (each said in a warning).
fn checked(vars: Vec<(String, String)>) -> Vec<(String, String)> {
    vars.into_iter()
        .filter(|(k, _)| match crate::plugin::host_process::connection_variable(k) {
            Ok(()) => true,
            Err(e) => {
                crate::output::warn(format_args!("not exporting {k}: {e} (rename the instance)"));
                false
            }
        })
        .collect()
}

/// One `KEY=value` line in `format`, which a POSIX shell can source without running
/// anything and which gives back `value` exactly.
///
/// `sh`: single quotes (`'\''` for a quote), from `shell_words`. `dotenv`: single quotes
/// when the value has no `'` or `\` (literal in sh and in every dotenv reader: python-dotenv,
/// Node's dotenv, Docker Compose), else double quotes with `\`, `"`, `$` and `` ` ``
/// escaped: inside double quotes those four are all a shell expands, so `set -a; . .env`
/// runs nothing (backticks were left bare before, and ran). Newlines stay literal inside
/// the quotes (multi-line values, which the dotenv readers accept).
fn line(format: EnvFormat, key: &str, value: &str) -> String {
    match format {
        EnvFormat::Sh => format!("export {key}={}", shell_words::quote(value)),
        EnvFormat::Dotenv if !value.contains(['\'', '\\']) => format!("{key}='{value}'"),
        EnvFormat::Dotenv => {
            let mut escaped = String::with_capacity(value.len() + 8);
            for c in value.chars() {
                if matches!(c, '\\' | '"' | '$' | '`') {
                    escaped.push('\\');
                }
                escaped.push(c);
            }
            format!("{key}=\"{escaped}\"")
        }
        EnvFormat::Json => unreachable!("JSON is written whole"),
    }
}

async fn instances<B: ContainerBackend>(ctx: &Context<B>, names: &[String]) -> anyhow::Result<Vec<Instance>> {
    let mut out = Vec::new();
    for name in names {
        let m = match ctx.managed(name).await {
            Ok(m) => m,
            Err(e) => match crate::tenant::ops::find_view(ctx, name).await? {
                Some(t) => {
                    out.push(crate::tenant::ops::as_instance(&t)?);
                    continue;
                }
                None => return Err(e),
            },
        };
        let i = ctx.instance(&m).await;
        if i.port.is_none() {
            bail!("{name} is not running (start it with `dbarena start {name}`)");
        }
        out.push(i);
    }
    Ok(out)
}

pub async fn env<B: ContainerBackend>(ctx: &Context<B>, args: &EnvArgs) -> anyhow::Result<ExitCode> {
    let instances = if args.names.is_empty() {
        super::up::project_instances(ctx).await?
    } else {
        instances(ctx, &args.names).await?
    };
    print_to(args.format, &instances, args.raw)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the merged variables of `instances` in `format` (also `up`'s output).
pub(crate) fn print(format: EnvFormat, instances: &[Instance]) -> anyhow::Result<()> {
    print_to(format, instances, false)
}

/// [`print`], with terminal escapes in values shown escaped when stdout is a terminal
/// unless `raw` (piped, as in `eval "$(dbarena env)"`, the bytes are exact).
fn print_to(format: EnvFormat, instances: &[Instance], raw: bool) -> anyhow::Result<()> {
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    // Names are valid: the plugin's were validated when returned, and prefixes are too.
    let merged = merged(instances);
    match format {
        EnvFormat::Json => {
            let object: serde_json::Map<String, serde_json::Value> =
                merged.into_iter().map(|(k, v)| (k, v.into())).collect();
            crate::output::print_json(&object)?;
        }
        format => {
            for (k, v) in &merged {
                println!("{}", crate::output::for_terminal(&line(format, k, v), terminal && !raw));
            }
        }
    }
    Ok(())
}

pub async fn url<B: ContainerBackend>(ctx: &Context<B>, args: &UrlArgs) -> anyhow::Result<ExitCode> {
    let i = instances(ctx, std::slice::from_ref(&args.name)).await?.remove(0);
    match i.url {
        Some(url) => println!("{}", crate::output::escape(&url)),
        None => bail!("the {} plugin gives no URL for {}", i.engine, i.name),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn only_names_two_instances_share_are_prefixed() {
        let merged = merge(&[
            ("pg-1".into(), pairs(&[("PGHOST", "a"), ("DATABASE_URL", "u1")])),
            ("cache".into(), pairs(&[("REDIS_URL", "r"), ("DATABASE_URL", "u2")])),
        ]);
        assert_eq!(
            merged,
            pairs(&[
                ("PGHOST", "a"),
                ("PG_1_DATABASE_URL", "u1"),
                ("REDIS_URL", "r"),
                ("CACHE_DATABASE_URL", "u2")
            ])
        );
        assert_eq!(prefix("1st"), "_1ST");
    }

    #[test]
    fn values_are_quoted_for_each_format() {
        let nasty = "p@ss word$'\"\\\nx";
        assert_eq!(line(EnvFormat::Sh, "K", "plain"), "export K=plain");
        let sh = line(EnvFormat::Sh, "K", nasty);
        assert_eq!(
            shell_words::split(sh.strip_prefix("export ").unwrap()).unwrap(),
            vec![format!("K={nasty}")]
        );
        assert_eq!(line(EnvFormat::Dotenv, "K", nasty), "K=\"p@ss word\\$'\\\"\\\\\nx\"");
        assert_eq!(line(EnvFormat::Dotenv, "K", "a`id`$(id)\"b"), "K='a`id`$(id)\"b'");
    }

    /// The attack: a value with backticks, `$(…)`, quotes and newlines, sourced by real
    /// shells with `set -a; . FILE`: nothing runs and the value comes back exactly.
    #[test]
    fn sourcing_the_output_runs_nothing_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let pwned = dir.path().join("pwned");
        let p = pwned.display();
        let values = [
            format!("`touch {p}`"),
            format!("$(touch {p})"),
            format!("it's `touch {p}` and \\`touch {p}\\`"),
            format!("\\$(touch {p})\\"),
            format!("a\"b'c\n$(touch {p})\n`touch {p}`\\\n${{HOME}}\t!x"),
            "back\\slash\\".to_string(),
            "'".to_string(),
            String::new(),
        ];
        let shells: Vec<&str> = ["sh", "bash", "dash"]
            .into_iter()
            .filter(|s| crate::client::on_path(s).is_some())
            .collect();
        assert!(shells.contains(&"sh"));
        for format in [EnvFormat::Sh, EnvFormat::Dotenv] {
            for value in &values {
                let file = dir.path().join("vars.env");
                std::fs::write(&file, format!("{}\n", line(format, "SECRET", value))).unwrap();
                for shell in &shells {
                    let out = std::process::Command::new(shell)
                        .arg("-c")
                        .arg("set -a; . \"$1\"; printf %s \"$SECRET\"")
                        .arg(shell)
                        .arg(&file)
                        .output()
                        .unwrap();
                    assert!(out.status.success(), "{shell} {format:?} {value:?}: {out:?}");
                    assert_eq!(String::from_utf8_lossy(&out.stdout), *value, "{shell} {format:?}");
                    assert!(!pwned.exists(), "{shell} ran code sourcing {format:?} {value:?}");
                }
            }
        }
    }

    #[test]
    fn a_prefix_cannot_make_a_foreign_variable() {
        let both = [("INDEX_URL", "https://evil.invalid/simple")];
        let merged = checked(merge(&[("pip".into(), pairs(&both)), ("other".into(), pairs(&both))]));
        assert_eq!(merged, pairs(&[("OTHER_INDEX_URL", "https://evil.invalid/simple")]));
    }
}
