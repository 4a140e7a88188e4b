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

/// Live status lines, one per task, drawn on stderr (hidden when stderr is not a terminal
/// or output is JSON).
pub struct Progress {
    multi: indicatif::MultiProgress,
}

impl Progress {
    pub fn new(hidden: bool) -> Self {
        let target = if hidden {
            indicatif::ProgressDrawTarget::hidden()
        } else {
            indicatif::ProgressDrawTarget::stderr()
        };
        Self {
            multi: indicatif::MultiProgress::with_draw_target(target),
        }
    }

    /// A new status line prefixed with `label`.
    pub fn line(&self, label: &str) -> indicatif::ProgressBar {
        let bar = self.multi.add(indicatif::ProgressBar::new_spinner());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner:.cyan} {prefix:.bold} {msg} {elapsed:.dim}")
                .expect("valid template"),
        );
        bar.set_prefix(label.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    }
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
}
