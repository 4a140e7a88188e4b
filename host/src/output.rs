//! Output helpers shared by commands: JSON for scripts, tables for people.

use comfy_table::{ContentArrangement, Table, presets::UTF8_BORDERS_ONLY};
use serde::Serialize;

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A table with the house style and the given header.
pub fn table<const N: usize>(header: [&str; N]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    table
}

/// Prints a warning line on stderr (control characters escaped).
pub fn warn(message: impl std::fmt::Display) {
    eprintln!("warning: {}", escape(&message.to_string()));
}

/// Text from a plugin, a server or a container log, made safe for a terminal: control
/// characters (ESC, OSC, BEL, carriage returns...) are shown escaped instead of being
/// interpreted; newlines and tabs are kept. JSON output keeps the original text.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| match c {
            '\n' | '\t' => c.to_string(),
            c if c.is_control() => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect::<String>()
        .into()
}

/// `text` as it should reach a stream: [`escape`]d when that stream is a terminal (`escape`
/// true), exact otherwise (pipes, files, `--raw`).
pub fn for_terminal(text: &str, escape_it: bool) -> std::borrow::Cow<'_, str> {
    if escape_it { escape(text) } else { text.into() }
}

/// Live status lines, one per task, on stderr. On a terminal they are spinners (also with
/// `--json`: stdout stays pure JSON); otherwise each phase is one plain line
/// (`name: pulling postgres:16`), without control codes, so logs and CI show progress too.
pub struct Progress {
    multi: Option<indicatif::MultiProgress>,
}

impl Progress {
    /// Spinners when stderr is a terminal, plain lines otherwise.
    pub fn new() -> Self {
        Self::with_terminal(std::io::IsTerminal::is_terminal(&std::io::stderr()))
    }

    fn with_terminal(terminal: bool) -> Self {
        Self {
            multi: terminal
                .then(|| indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr())),
        }
    }

    /// A new status line prefixed with `label`.
    pub fn line(&self, label: &str) -> Line {
        let Some(multi) = &self.multi else {
            return Line::Plain {
                label: label.to_string(),
                last_phase: std::sync::Mutex::new(String::new()),
                started: std::time::Instant::now(),
            };
        };
        let bar = multi.add(indicatif::ProgressBar::new_spinner());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner:.cyan} {prefix:.bold} {msg} {elapsed:.dim}")
                .expect("valid template"),
        );
        bar.set_prefix(label.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Line::Live(bar)
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

/// One task's status: a spinner, or plain lines printed once per phase.
pub enum Line {
    Live(indicatif::ProgressBar),
    Plain {
        label: String,
        /// The text before the first `: ` of the last message printed: byte counts
        /// within one phase ("pulling X: 12 MB / 80 MB") do not repeat the line.
        last_phase: std::sync::Mutex<String>,
        started: std::time::Instant,
    },
}

impl Line {
    pub fn set_message(&self, msg: impl Into<String>) {
        match self {
            Line::Live(bar) => bar.set_message(msg.into()),
            Line::Plain { label, last_phase, .. } => {
                let msg = msg.into();
                let phase = msg.split(": ").next().unwrap_or_default().to_string();
                let mut last = last_phase.lock().unwrap_or_else(|e| e.into_inner());
                if *last != phase {
                    eprintln!("{label}: {}", plain(&msg));
                    *last = phase;
                }
            }
        }
    }

    /// The task succeeded with `msg`.
    pub fn finish_with_message(&self, msg: impl Into<String>) {
        match self {
            Line::Live(bar) => bar.finish_with_message(msg.into()),
            Line::Plain { label, .. } => eprintln!("{label}: {}", plain(&msg.into())),
        }
    }

    /// The task failed with `msg` (the error itself is printed once, at the end).
    pub fn abandon_with_message(&self, msg: impl Into<String>) {
        match self {
            Line::Live(bar) => bar.abandon_with_message(msg.into()),
            Line::Plain { label, started, .. } => eprintln!(
                "{label}: {} after {:.1} s",
                plain(&msg.into()),
                started.elapsed().as_secs_f64()
            ),
        }
    }
}

/// `text` on one line with no control characters at all (piped progress).
fn plain(text: &str) -> String {
    escape(&text.replace(['\n', '\r'], " ")).into_owned()
}

/// `12.3 MB`-style byte counts for progress messages.
pub fn bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn control_characters_are_escaped_for_terminals() {
        assert_eq!(escape("plain text\tand\nlines"), "plain text\tand\nlines");
        assert_eq!(escape("\x1b]0;pwned\x07x"), "\\u{1b}]0;pwned\\u{7}x");
        assert_eq!(escape("a\rb"), "a\\u{d}b");
    }

    #[test]
    fn piped_progress_is_plain_text() {
        let progress = super::Progress::with_terminal(false);
        assert!(matches!(progress.line("x"), super::Line::Plain { .. }));
        assert_eq!(super::plain("a\nb\x1b[31m"), "a b\\u{1b}[31m");
    }
}
