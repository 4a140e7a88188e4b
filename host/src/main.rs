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
        // Our traces and the Docker client's; wasmtime/cranelift compile traces and the
        // HTTP stack stay at warn (RUST_LOG brings them back).
        _ => "warn,dbarena=trace,bollard=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        // No colour codes in files, pipes and CI logs.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
