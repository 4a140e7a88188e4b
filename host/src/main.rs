use std::process::ExitCode;

fn main() -> ExitCode {
    // `COMPLETE=<shell> dbarena -- ...` is the completion scripts' call back.
    dbarena::cli_ext::complete_if_asked();
    quiet_on_broken_pipe();
    let cli = dbarena::cli_ext::parse();
    init_tracing(cli.verbose);
    match dbarena::commands::run(cli) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            // The chain may carry plugin or server text: never raw control characters.
            eprintln!("error: {}", dbarena::output::escape(&format!("{err:#}")));
            let busy = err.chain().any(|e| e.is::<dbarena::instance::lock::Busy>());
            ExitCode::from(if busy {
                dbarena::exit::BUSY
            } else {
                dbarena::exit::FAILURE
            })
        }
    }
}

/// A reader that stops early (`dbarena list | head -1`) closes the pipe: like ripgrep, end
/// quietly and successfully instead of panicking. `println!` panics on a write error; the
/// hook recognises that one panic. Commands print to stdout once their work is done and
/// kept, so ending here leaves nothing half made (`images pull`/`prune` report each image
/// when it is done: they end after that one).
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to std") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info)
    }));
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

/// `-v` shows info, `-vv` debug, `-vvv` trace; `RUST_LOG` overrides.
fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "dbarena=info",
        2 => "dbarena=debug",
        // Our traces only: wasmtime/cranelift compile traces and the HTTP stack stay at
        // warn (RUST_LOG brings them back). bollard's debug lines are the Engine API's
        // bodies: container env and labels, passwords included.
        _ => "warn,dbarena=trace",
    };
    let directives = match std::env::var("RUST_LOG") {
        Ok(user) if !user.trim().is_empty() => with_secret_targets_capped(&user),
        _ => default.to_string(),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        // No colour codes in files, pipes and CI logs.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Crates whose debug and trace lines carry request and response bodies and bytes on the
/// wire: Engine API bodies with passwords, `docker login` credentials in registry
/// requests (hex dumps of the TLS plaintext).
const SECRET_TARGETS: &[&str] = &[
    "bollard",
    "hyper",
    "hyper_util",
    "h2",
    "http",
    "ureq",
    "ureq_proto",
    "rustls",
    "tokio_rustls",
    "webpki",
];

/// `RUST_LOG` with each of [`SECRET_TARGETS`] held at warn (or the user's quieter bare
/// level) unless the user named it: a bare `RUST_LOG=trace` must not print secrets;
/// `RUST_LOG=ureq=trace` still can.
fn with_secret_targets_capped(user: &str) -> String {
    let bare = |level: &str| user.split(',').any(|d| d.trim().eq_ignore_ascii_case(level));
    let cap = ["off", "error"].into_iter().find(|l| bare(l)).unwrap_or("warn");
    let named: Vec<&str> = user
        .split(',')
        .filter_map(|d| {
            let target = d.trim().split(['=', '[']).next()?.trim();
            // A bare level (`trace`, `debug`) names no target.
            let is_level = ["off", "error", "warn", "info", "debug", "trace"]
                .iter()
                .any(|l| target.eq_ignore_ascii_case(l));
            (!target.is_empty() && !is_level).then_some(target)
        })
        .collect();
    let mut directives = user.to_string();
    for target in SECRET_TARGETS {
        let named_here = named
            .iter()
            .any(|n| n == target || n.strip_prefix(target).is_some_and(|rest| rest.starts_with("::")));
        if !named_here {
            directives.push_str(&format!(",{target}={cap}"));
        }
    }
    directives
}
