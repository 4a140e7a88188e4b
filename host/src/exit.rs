//! dbarena's exit codes, in one place: commands, signal handling and `--help` use these.

/// Everything asked for was done.
pub const SUCCESS: u8 = 0;
/// The command failed (a bad value, Docker refused, an instance never became ready...);
/// the message on stderr says why.
pub const FAILURE: u8 = 1;
/// The command line could not be parsed (clap's own code).
pub const USAGE: u8 = 2;
/// Another dbarena is working on that instance (a snapshot, reset...): nothing was done;
/// try again later (sysexits' EX_TEMPFAIL).
pub const BUSY: u8 = 75;
/// Interrupted by SIGHUP, SIGINT (Ctrl-C) or SIGTERM, after undoing what was made: 128 + signal.
pub const SIGHUP: u8 = 129;
pub const SIGINT: u8 = 130;
pub const SIGTERM: u8 = 143;

/// The exit-code section of `dbarena --help`, built from the constants above.
pub fn help() -> String {
    format!(
        "Exit codes:\n  {SUCCESS}    success\n  {FAILURE}    failure (the error on stderr says why; with several engines or\n       instances, at least one failed)\n  {USAGE}    invalid command line\n  {BUSY}   busy: another dbarena is working on that instance; nothing was done\n  {SIGHUP}  hung up (SIGHUP), {SIGINT} interrupted (Ctrl-C), {SIGTERM} terminated (SIGTERM):\n       what the command had made so far was removed"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn usage_errors_use_clap_code() {
        use clap::CommandFactory;
        let err = crate::cli::Cli::command()
            .try_get_matches_from(["dbarena", "--no-such-flag"])
            .unwrap_err();
        assert_eq!(err.exit_code(), i32::from(super::USAGE));
    }
}
