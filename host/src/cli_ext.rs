//! The command line as users meet it: the derived [`Cli`] plus what lives best beside it:
//! docker-style aliases, examples in `--help`, and the dynamic completers for instance and
//! engine names (clap_complete's `CompleteEnv` engine: the shell calls back into
//! `dbarena` with `COMPLETE=<shell>` set). `main`, `completions` and `man` all use
//! [`command`], so parsing, completion and man pages agree.

use crate::cli::Cli;
use clap::{CommandFactory, FromArgMatches};
use clap_complete::{ArgValueCandidates, CompletionCandidate};
use std::time::Duration;

/// The environment variable the completion scripts set when calling back.
pub const COMPLETE_VAR: &str = "COMPLETE";

/// How long a completion may wait for the container engine: a slow or absent engine
/// gives no names rather than a hung prompt.
const COMPLETION_DEADLINE: Duration = Duration::from_millis(1500);

/// (subcommand path, argument id) of every argument that takes instance names.
const INSTANCE_ARGS: &[(&[&str], &str)] = &[
    (&["start"], "names"),
    (&["stop"], "names"),
    (&["restart"], "names"),
    (&["destroy"], "names"),
    (&["inspect"], "name"),
    (&["logs"], "name"),
    (&["env"], "names"),
    (&["url"], "name"),
];

/// (subcommand path, argument id) of every argument that takes `ENGINE[@VERSION]`.
const ENGINE_ARGS: &[(&[&str], &str)] = &[
    (&["create"], "engines"),
    (&["engines"], "engine"),
    (&["images", "pull"], "engines"),
    (&["images", "tags"], "engine"),
];

/// (subcommand, visible alias): the names docker users type.
const ALIASES: &[(&str, &str)] = &[("list", "ps"), ("destroy", "rm")];

/// (subcommand, examples shown after its `--help`).
const EXAMPLES: &[(&str, &str)] = &[
    (
        "create",
        "Examples:\n  dbarena create postgres                 # latest default version, generated password\n  \
         dbarena create postgres@16 redis mysql  # several at once, in parallel\n  \
         dbarena create postgres --name app --persistent --port 5432\n  \
         dbarena create postgres --json | jq -r '.[0].url'",
    ),
    (
        "list",
        "Examples:\n  dbarena list            # running instances (alias: ps, ls)\n  \
         dbarena list --all      # stopped ones too\n  dbarena list --json",
    ),
    (
        "destroy",
        "Examples:\n  dbarena destroy app                     # alias: rm; keeps a persistent volume\n  \
         dbarena destroy app --remove-volume -y  # and deletes its data\n  dbarena destroy --all",
    ),
    (
        "env",
        "Examples:\n  eval \"$(dbarena env app)\"\n  dbarena env app --format dotenv >> .env",
    ),
    (
        "run",
        "Examples:\n  dbarena run postgres redis --init db/schema.sql -- cargo test\n  \
         dbarena run postgres -- sh -c 'psql \"$DATABASE_URL\" -c \"select 1\"'\n\n\
         Exit status: the command's own; 1 when an instance could not be created (the command\n\
         did not run); 130/143 after Ctrl-C/SIGTERM. The instances are destroyed in every case\n\
         unless --keep.",
    ),
    (
        "exec",
        "Examples:\n  dbarena exec app -- sh -c 'ls \"$PGDATA\"'\n  dbarena exec -it app -- bash\n\n\
         Exit status: the command's own (as `docker exec`).",
    ),
    (
        "query",
        "Examples:\n  dbarena query app 'select count(*) from users'\n  dbarena query app --file seed.sql\n  \
         echo 'PING' | dbarena query cache\n\n\
         Exit status: 0, or 1 with the server's message on stderr when the query fails.",
    ),
    (
        "engines",
        "Examples:\n  dbarena engines\n  dbarena engines postgres@16 --memory 1g   # the container it would run",
    ),
];

/// The full command: the derived one plus aliases, examples and completers.
pub fn command() -> clap::Command {
    let mut cmd = Cli::command();
    for (sub, alias) in ALIASES {
        cmd = edit(cmd, &[sub], |c| c.visible_alias(*alias));
    }
    for (sub, text) in EXAMPLES {
        cmd = edit(cmd, &[sub], |c| c.after_help(*text));
    }
    for (path, arg) in INSTANCE_ARGS {
        cmd = edit(cmd, path, |c| with_completer(c, arg, instance_candidates));
    }
    for (path, arg) in ENGINE_ARGS {
        cmd = edit(cmd, path, |c| with_completer(c, arg, engine_candidates));
    }
    cmd
}

/// Parses the process's arguments with [`command`] (exits on `--help` or an error).
pub fn parse() -> Cli {
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Answers a completion request and exits when `COMPLETE` is set; otherwise returns.
pub fn complete_if_asked() {
    clap_complete::CompleteEnv::with_factory(command)
        .var(COMPLETE_VAR)
        .complete();
}

/// The script that registers dynamic completion for `shell` (it calls `dbarena` on PATH).
pub fn registration(shell: &str) -> anyhow::Result<Vec<u8>> {
    let shells = clap_complete::env::Shells::builtins();
    let completer = shells
        .completer(shell)
        .ok_or_else(|| anyhow::anyhow!("unknown shell '{shell}'"))?;
    let mut buf = Vec::new();
    completer.write_registration(COMPLETE_VAR, "dbarena", "dbarena", "dbarena", &mut buf)?;
    Ok(buf)
}

/// Applies `f` to the subcommand at `path`; a path that does not exist (renamed elsewhere)
/// leaves the command as it is rather than panicking.
fn edit(cmd: clap::Command, path: &[&str], f: impl FnOnce(clap::Command) -> clap::Command) -> clap::Command {
    let Some((first, rest)) = path.split_first() else {
        return f(cmd);
    };
    if cmd.find_subcommand(first).is_none() {
        return cmd;
    }
    cmd.mut_subcommand(*first, |sub| edit(sub, rest, f))
}

fn with_completer(cmd: clap::Command, arg: &str, candidates: fn() -> Vec<CompletionCandidate>) -> clap::Command {
    if !cmd.get_arguments().any(|a| a.get_id() == arg) {
        return cmd;
    }
    cmd.mut_arg(arg, |a| a.add(ArgValueCandidates::new(candidates)))
}

/// Names of dbarena instances (running or not), from their Docker labels; nothing on any
/// error or after [`COMPLETION_DEADLINE`], and never a message (it would garble the prompt).
pub fn instance_candidates() -> Vec<CompletionCandidate> {
    instance_names()
        .unwrap_or_default()
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}

fn instance_names() -> Option<Vec<String>> {
    use crate::container::ContainerBackend;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    runtime.block_on(async {
        tokio::time::timeout(COMPLETION_DEADLINE, async {
            let backend = crate::container::docker::DockerBackend::connect().await.ok()?;
            let containers = backend
                .list_containers(&[crate::instance::record::managed_filter()])
                .await
                .ok()?;
            let mut names: Vec<String> = containers
                .iter()
                .filter_map(|c| crate::instance::record::instance_name(&c.labels))
                // Only names a shell can take as they are (labels are untrusted).
                .filter(|n| crate::instance::naming::validate_name(n).is_ok())
                .map(str::to_string)
                .collect();
            names.sort();
            names.dedup();
            Some(names)
        })
        .await
        .ok()
        .flatten()
    })
}

/// Engine ids and `id@version` for every version, from the plugin registry.
pub fn engine_candidates() -> Vec<CompletionCandidate> {
    let Ok(registry) = crate::commands::load_plugins() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in registry.iter() {
        let info = entry.plugin.info();
        out.push(CompletionCandidate::new(info.id.clone()).help(Some(info.display_name.clone().into())));
        for v in &info.versions {
            out.push(CompletionCandidate::new(format!("{}@{}", info.id, v.version)));
        }
    }
    out
}
