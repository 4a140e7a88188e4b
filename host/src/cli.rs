//! Command-line interface definition.

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "dbarena", version, about = "Real, ready-to-use databases in seconds")]
#[command(after_long_help = crate::exit::help())]
pub struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Config file (default: $DBARENA_CONFIG, else <XDG config>/dbarena/config.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,

    /// Address clients use to reach published ports, instead of the engine's (loopback for
    /// a local engine, the host of a tcp:// or ssh:// one): for NAT, tunnels, port forwards.
    #[arg(long, global = true, value_name = "HOST", env = "DBARENA_CLIENT_HOST",
          value_parser = crate::container::endpoint::check_client_host)]
    pub client_host: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, start and wait for one or more databases, in parallel.
    Create(CreateArgs),
    /// Start stopped instances and wait until they accept clients.
    Start(WaitArgs),
    /// Stop instances (data is kept).
    Stop(StopArgs),
    /// Restart instances and wait until they accept clients.
    Restart(WaitArgs),
    /// Remove instances; named volumes are kept unless --remove-volume.
    Destroy(DestroyArgs),
    /// List instances.
    #[command(alias = "ls")]
    List(ListArgs),
    /// Show one instance in full.
    Inspect(InspectArgs),
    /// Show an instance's server log.
    Logs(LogsArgs),
    /// Print instances' connection variables for a shell, a .env file or JSON.
    Env(EnvArgs),
    /// Print an instance's connection URL.
    Url(UrlArgs),
    /// Open an interactive client on an instance (the host's client when installed).
    Shell(ShellArgs),
    /// Run a command inside an instance's container.
    Exec(ExecArgs),
    /// Run a query or command through the engine's client and print the result.
    Query(QueryArgs),
    /// Create databases, run a command with their connection variables, then destroy them.
    Run(RunArgs),
    /// Destroy instances whose --ttl has passed.
    Gc(GcArgs),
    /// Create or start the instances this directory's dbarena.toml declares, then print
    /// their connection variables.
    #[command(
        after_help = "Examples:\n  dbarena up                  # in a directory with a dbarena.toml\n  eval \"$(dbarena up)\"        # and export DATABASE_URL, REDIS_URL...\n  dbarena down"
    )]
    Up(UpArgs),
    /// Destroy the instances of this directory's dbarena.toml (volumes kept unless
    /// --remove-volume).
    Down(DownArgs),
    /// Pull, list or prune the images engines use.
    #[command(subcommand)]
    Images(ImagesCommand),
    /// List the available database engines, or show one engine and the container it would run.
    Engines(EnginesArgs),
    /// Write, test, install and manage engine plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Capture an instance's data (`snapshot NAME [--tag T]`) or remove a snapshot
    /// (`snapshot rm NAME:TAG`).
    Snapshot(SnapshotArgs),
    /// List snapshots with their size and age.
    Snapshots(SnapshotsArgs),
    /// Return an instance to a snapshot (default: its state right after create), keeping
    /// its name, port and credentials.
    Reset(ResetArgs),
    /// Measure dbarena itself and print medians.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Print a shell completion script (instance and engine names complete dynamically).
    #[command(after_help = COMPLETIONS_HELP)]
    Completions(CompletionsArgs),
    /// Print the man page, or write one page per command into a directory.
    Man(ManArgs),
    /// Show the effective configuration or check the config file.
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// Setup per shell, shown by `dbarena completions --help`.
pub const COMPLETIONS_HELP: &str = "\
Setup (add to the shell's startup file):
  bash        echo 'source <(dbarena completions bash)' >> ~/.bashrc
  zsh         echo 'source <(dbarena completions zsh)' >> ~/.zshrc
  fish        dbarena completions fish > ~/.config/fish/completions/dbarena.fish
  elvish      echo 'eval (dbarena completions elvish | slurp)' >> ~/.config/elvish/rc.elv
  powershell  dbarena completions powershell | Out-String | Invoke-Expression   # in $PROFILE

The script calls back into `dbarena` (which must be on PATH) to complete instance and engine
names; --static prints a script with subcommands and flags only.";

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    #[arg(value_parser = ["bash", "zsh", "fish", "elvish", "powershell"])]
    pub shell: String,

    /// Subcommands and flags only, without calling back into dbarena for names.
    #[arg(long = "static")]
    pub static_only: bool,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write dbarena.1 and one page per command (dbarena-create.1, ...) into DIR.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print every setting's effective value and where it came from (file key, env, flag, default).
    Show {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Validate the config file: unknown keys, bad values, engines that do not exist.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Plugin load and call costs: compile vs cached load, call time, fuel.
    Plugins {
        /// Repetitions per measurement.
        #[arg(long, default_value_t = 7)]
        runs: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct EnginesArgs {
    /// Show one engine (`postgres` or `postgres@16`) and the container spec it would produce.
    pub engine: Option<String>,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub instance: InstanceArgs,
}

/// Options that shape a database instance; passed to the engine plugin.
#[derive(Debug, Args, Clone, Default)]
pub struct InstanceArgs {
    /// Database user (engine default when omitted).
    #[arg(long)]
    pub user: Option<String>,

    /// Password (a strong one is generated when omitted).
    #[arg(long)]
    pub password: Option<String>,

    /// Database name (engine default when omitted).
    #[arg(long)]
    pub database: Option<String>,

    /// Keep the engine's safe durability settings instead of the fast, fsync-free ones.
    #[arg(long)]
    pub durable: bool,

    /// Keep the data in a named volume that survives destroy.
    #[arg(long)]
    pub persistent: bool,

    /// Memory limit, e.g. 512m or 2g.
    #[arg(long, value_name = "SIZE")]
    pub memory: Option<String>,

    /// Engine-specific setting passed to the plugin, KEY=VALUE (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Engines to create, each `ENGINE` or `ENGINE@VERSION` (e.g. postgres@16 redis).
    #[arg(required = true, value_name = "ENGINE[@VERSION]")]
    pub engines: Vec<String>,

    /// Instance name (only with a single engine).
    #[arg(long)]
    pub name: Option<String>,

    /// Host port (only with a single engine); an error if it is taken.
    #[arg(long)]
    pub port: Option<u16>,

    /// Image to run instead of the plugin's (only with a single engine).
    #[arg(long, value_name = "REF")]
    pub image: Option<String>,

    /// Readiness timeout in seconds (default: the engine's own).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: Option<u64>,

    /// Publish ports on all interfaces, not only 127.0.0.1 (always so on a remote engine).
    #[arg(long)]
    pub publish_all_interfaces: bool,

    /// Keep the container when it fails to become ready, for debugging.
    #[arg(long)]
    pub keep_on_failure: bool,

    /// Initialise from scratch: neither start from nor make a warm-start template.
    #[arg(long)]
    pub cold: bool,

    /// Clone: start from instance NAME's snapshot TAG, or from its current state (taken
    /// now as its snapshot `latest`). Only with a single engine.
    #[arg(long, value_name = "NAME[:TAG]")]
    pub from: Option<String>,
    /// Lifetime, e.g. 30m or 2h: then `dbarena gc` destroys the instance (and any dbarena
    /// command, if it is not --persistent).
    #[arg(long, value_name = "DURATION", value_parser = parse_ttl)]
    pub ttl: Option<std::time::Duration>,

    /// Init script, or a directory of them read in name order, applied once at first start
    /// before the instance is ready (repeatable; each engine takes the suffixes it runs).
    #[arg(long = "init", value_name = "PATH")]
    pub init: Vec<std::path::PathBuf>,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub instance: InstanceArgs,

    #[command(flatten)]
    pub shared: SharedArgs,

    /// The project (`dbarena up`) the instance belongs to; not a flag.
    #[arg(skip)]
    pub project: Option<crate::project::Origin>,

    /// `dbarena run`'s lease on what it makes ([`crate::lease`]); not a flag.
    #[arg(skip)]
    pub lease: Option<String>,
}

/// `create --shared`: a tenant (database and role of its own) on a shared server.
#[derive(Debug, Clone, Default, Args)]
pub struct SharedArgs {
    /// Create a tenant on the shared server of the engine and version (started on first
    /// use, with a connection pooler in front) instead of a server of its own.
    #[arg(long)]
    pub shared: bool,

    /// The tenant's connection limit (with --shared).
    #[arg(long, value_name = "N", requires = "shared", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,

    /// Pooling of the shared server's pooler, when it is first started (with --shared).
    #[arg(long, value_name = "MODE", requires = "shared", value_parser = ["session", "transaction"])]
    pub pool_mode: Option<String>,

    /// Image of the shared server's pooler, when it is first started (with --shared).
    #[arg(long, value_name = "REF", requires = "shared")]
    pub pooler_image: Option<String>,

    /// The shared server to use or start (default: dbarena-shared-ENGINE-VERSION), to keep
    /// groups of tenants apart (with --shared).
    #[arg(long, value_name = "NAME", requires = "shared")]
    pub server: Option<String>,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Instance names.
    #[arg(required = true)]
    pub names: Vec<String>,

    /// Readiness timeout in seconds (default: the engine's own).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: Option<u64>,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Instance names.
    #[arg(required_unless_present = "all")]
    pub names: Vec<String>,

    /// Stop every running instance (inside a project: the project's; asks first when
    /// that is more than one, unless -y).
    #[arg(long, conflicts_with = "names")]
    pub all: bool,

    /// Seconds to wait for a clean shutdown before killing.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub timeout: u64,

    /// With --all inside a project: every instance, not only the project's.
    #[arg(long, requires = "all")]
    pub everywhere: bool,

    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Instance names.
    #[arg(required_unless_present = "all")]
    pub names: Vec<String>,

    /// Destroy every dbarena instance (inside a project: the project's; asks first when
    /// that is more than one, unless -y).
    #[arg(long, conflicts_with = "names")]
    pub all: bool,

    /// With --all inside a project: every instance, not only the project's.
    #[arg(long, requires = "all")]
    pub everywhere: bool,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,

    /// Also delete the instances' persistent volumes (asks first unless -y).
    #[arg(long)]
    pub remove_volume: bool,

    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Also drop the tenants of a shared server being destroyed.
    #[arg(long)]
    pub cascade: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Include stopped instances.
    #[arg(short, long)]
    pub all: bool,

    /// Print instance names only, one per line.
    #[arg(short, long, conflicts_with_all = ["json", "format", "wide"])]
    pub quiet: bool,

    /// Every column in full (host, image, URL), whatever the terminal width.
    #[arg(short, long, conflicts_with_all = ["json", "format"])]
    pub wide: bool,

    /// One line per instance from a template of JSON field names in braces, e.g.
    /// '{name} {port} {url}' (the fields of `list --json`).
    #[arg(long, value_name = "TEMPLATE", conflicts_with = "json")]
    pub format: Option<String>,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    pub name: String,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// How `dbarena env` writes variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EnvFormat {
    /// `export NAME='value'` lines: `eval "$(dbarena env NAME)"`.
    Sh,
    /// `NAME='value'` lines for .env files (double quotes when the value has a quote or a
    /// backslash); sourcing them runs nothing.
    Dotenv,
    /// One JSON object.
    Json,
}

#[derive(Debug, Args)]
pub struct EnvArgs {
    /// Instance names (default: the instances of this directory's dbarena.toml); variables
    /// two of them share are prefixed with the instance name.
    pub names: Vec<String>,

    #[arg(long, value_enum, default_value_t = EnvFormat::Sh)]
    pub format: EnvFormat,

    /// Print values byte for byte on a terminal too (by default terminal escapes in them
    /// are shown escaped there; piped output is always exact).
    #[arg(long)]
    pub raw: bool,
}

#[derive(Debug, Args)]
pub struct UrlArgs {
    pub name: String,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    pub name: String,

    /// Keep printing new lines until interrupted.
    #[arg(short, long)]
    pub follow: bool,

    /// Only the last N lines.
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,

    /// Print the lines byte for byte on a terminal too (by default terminal escapes in
    /// them are shown escaped there; piped output is always exact).
    #[arg(long)]
    pub raw: bool,
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Pull the images of the given engines (default versions unless ENGINE@VERSION).
    Pull {
        /// Engines (default: the engines the config file configures; never all of them).
        #[arg(value_name = "ENGINE[@VERSION]")]
        engines: Vec<String>,
    },
    /// List the images engines use and whether they are present locally.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List the tags an engine's image registry offers, marking the versions the engine knows.
    #[command(
        after_help = "Examples:\n  dbarena images tags postgres --filter '16*'\n  dbarena images tags redis --json"
    )]
    Tags {
        /// Engine id (its image comes from the plugin and the config's mirror).
        engine: String,
        /// Only tags matching this glob (e.g. '16*').
        #[arg(long, value_name = "GLOB")]
        filter: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove images dbarena pulled itself that no dbarena instance uses.
    Prune {
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Write a ready plugin crate for a new engine.
    New {
        /// Engine id: lowercase letters, digits and '-' (e.g. mariadb).
        id: String,
        /// Directory to create the crate in (default: the current one).
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
        /// Use the SDK at this path (relative to the new crate) instead of vendoring a copy.
        #[arg(long, value_name = "PATH")]
        sdk_path: Option<std::path::PathBuf>,
    },
    /// Run the conformance suite against a plugin component.
    Test {
        /// The plugin's .wasm file.
        file: std::path::PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Install a plugin from a file, an https URL, or the registry (by id), pinning its sha256.
    Install {
        /// A .wasm path, an https:// URL, or a registry id.
        source: String,
        /// Expected sha256 (hex); the install fails on a mismatch.
        #[arg(long, value_name = "HEX")]
        sha256: Option<String>,
        /// Replace an installed plugin with the same id.
        #[arg(long)]
        force: bool,
    },
    /// List plugins in the plugin directory, pinned or not.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove an installed plugin.
    Remove {
        /// Engine id.
        id: String,
    },
    /// Check every pinned plugin against its recorded sha256.
    Verify {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SnapshotArgs {
    #[command(subcommand)]
    pub command: Option<SnapshotCommand>,
    /// The instance.
    pub name: Option<String>,
    /// The snapshot's tag (default: latest); an older snapshot of that tag is replaced.
    #[arg(long)]
    pub tag: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Remove snapshot NAME:TAG.
    Rm {
        #[arg(value_name = "NAME:TAG")]
        reference: String,
    },
}

#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    /// Only this instance's snapshots.
    pub name: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// The instance.
    pub name: String,
    /// The snapshot to return to (default: the state right after create).
    #[arg(long)]
    pub tag: Option<String>,
    /// Readiness timeout in seconds (default: the engine's own).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: Option<u64>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// A persistent instance: replace its volume's contents with the snapshot's (its
    /// current data is lost; required, as dbarena never replaces persistent data implicitly).
    #[arg(long)]
    pub replace_volume: bool,
}

#[derive(Debug, Args)]
pub struct ShellArgs {
    pub name: String,

    /// Use the client inside the container even when the host has one.
    #[arg(long)]
    pub container: bool,

    /// Extra arguments for the client, after `--`.
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    pub name: String,

    /// Keep stdin open and forward it to the command.
    #[arg(short, long)]
    pub interactive: bool,

    /// Allocate a pseudo-terminal.
    #[arg(short, long)]
    pub tty: bool,

    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    pub name: String,

    /// The query (SQL, or a command for engines without SQL); read from stdin when absent.
    #[arg(value_name = "TEXT", conflicts_with = "file")]
    pub text: Option<String>,

    /// Read the query from a file.
    #[arg(long, short, value_name = "FILE")]
    pub file: Option<std::path::PathBuf>,

    /// Print the client's output byte for byte on a terminal too (by default terminal
    /// escapes in it are shown escaped there; piped output is always exact).
    #[arg(long)]
    pub raw: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,

    /// Keep the instances after the command ends.
    #[arg(long)]
    pub keep: bool,

    /// The command to run with every instance's variables in its environment, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// `--ttl`: a humantime duration ("90s", "30m", "2h", "1d 2h"), at least a second.
pub(crate) fn parse_ttl(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (e.g. 30m, 2h, 1d)"))?;
    if d.as_secs() == 0 {
        return Err("must be at least 1s".into());
    }
    Ok(d)
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Confirm the project file's `publish-all-interfaces = true`: its instances are then
    /// reachable from the network (refused without this).
    #[arg(long)]
    pub publish_all_interfaces: bool,

    /// Readiness timeout in seconds for instances started again (default: the engine's own).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: Option<u64>,

    /// How to print the connection variables (`--format json`: one object, as `env`).
    #[arg(long, value_enum, default_value_t = EnvFormat::Sh, conflicts_with = "json")]
    pub format: EnvFormat,

    /// Print JSON (each instance, what `up` did with it, and the variables) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Also delete the instances' persistent volumes (asks first unless -y).
    #[arg(long)]
    pub remove_volume: bool,

    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}
