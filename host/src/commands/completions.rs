//! `dbarena completions SHELL` and `dbarena man`.

use crate::cli::{CompletionsArgs, ManArgs};
use crate::cli_ext;
use anyhow::Context as _;
use std::io::Write;
use std::process::ExitCode;

/// The dynamic registration script (names complete by calling back into `dbarena`), or
/// with `--static` clap_complete's self-contained script of subcommands and flags.
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    let script = if args.static_only {
        use clap_complete::Shell;
        let shell = match args.shell.as_str() {
            "bash" => Shell::Bash,
            "zsh" => Shell::Zsh,
            "fish" => Shell::Fish,
            "elvish" => Shell::Elvish,
            _ => Shell::PowerShell,
        };
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cli_ext::command(), "dbarena", &mut buf);
        buf
    } else {
        cli_ext::registration(&args.shell)?
    };
    std::io::stdout().write_all(&script)?;
    Ok(ExitCode::SUCCESS)
}

/// `dbarena.1` to stdout (`dbarena man | man -l -`), or every page into `--dir`.
pub fn man(args: &ManArgs) -> anyhow::Result<ExitCode> {
    let cmd = cli_ext::command();
    match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("cannot write man pages to {}", dir.display()))?;
            println!("wrote man pages to {}", dir.display());
        }
        None => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut buf)?;
            std::io::stdout().write_all(&buf)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
