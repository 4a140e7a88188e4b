use std::process::ExitCode;

fn main() -> ExitCode {
    // `COMPLETE=<shell> dbarena -- ...` is the completion scripts' call back.
    dbarena::cli_ext::complete_if_asked();
    let cli = dbarena::cli_ext::parse();
    init_tracing(cli.verbose);
    match dbarena::commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // The chain may carry plugin or server text: never raw control characters.
            eprintln!("error: {}", dbarena::output::escape(&format!("{err:#}")));
            ExitCode::from(dbarena::exit::FAILURE)
        }
    }
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
