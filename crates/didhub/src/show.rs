//! Everything the command line prints goes through here. A field may hold what a stranger
//! sent (a failed login's address in the audit log), what a file held, or a row older than
//! today's rules: its control and bidirectional characters reach the terminal as visible
//! escapes (`didhub_core::text`), never as a cleared screen, a forged line or reversed text.
//! JSON output keeps its meaning, with the same characters as `\u` escapes.

use std::borrow::Cow;
use std::fmt::Display;
use std::io::Write;

use didhub_core::text::{escape, escape_json};

/// One value as the terminal shows it.
pub fn text(v: &impl Display) -> String {
    match escape(&v.to_string()) {
        Cow::Borrowed(s) => s.to_string(),
        Cow::Owned(s) => s,
    }
}

/// Prints one line of tab-separated fields, each escaped: a tab or a newline inside a field
/// cannot make a column or a line of its own.
pub fn row(fields: &[&dyn Display]) -> std::io::Result<()> {
    let mut line = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            line.push('\t');
        }
        line.push_str(&escape(&f.to_string()));
    }
    line.push('\n');
    std::io::stdout().lock().write_all(line.as_bytes())
}

/// The header row of a list: the names of its columns, tab-separated like its rows.
pub fn header(names: &[&str]) -> std::io::Result<()> {
    let fields: Vec<&dyn Display> = names.iter().map(|n| n as &dyn Display).collect();
    row(&fields)
}

/// Names by id, for the columns that show what another row is called.
pub fn names<I: IntoIterator<Item = (uuid::Uuid, String)>>(
    rows: I,
) -> std::collections::HashMap<uuid::Uuid, String> {
    rows.into_iter().collect()
}

/// The name `id` has in `names`, blank for none.
pub fn name_of(
    names: &std::collections::HashMap<uuid::Uuid, String>,
    id: Option<uuid::Uuid>,
) -> &str {
    id.and_then(|id| names.get(&id)).map_or("", String::as_str)
}

/// `n` things, the noun plural by count: "1 DID", "2 DIDs", "0 DIDs".
pub fn count(n: impl TryInto<i64>, noun: &str) -> String {
    didhub_core::text::count(n.try_into().unwrap_or(i64::MAX), noun)
}

/// Prints one message line, escaped.
pub fn line(v: impl Display) -> std::io::Result<()> {
    row(&[&v])
}

/// Prints a message line on standard error, escaped.
pub fn error_line(v: impl Display) {
    eprintln!("{}", text(&v));
}

/// JSON text made safe to print (see `didhub_core::text::escape_json`).
pub fn json_text(json: &str) -> String {
    escape_json(json).into_owned()
}

/// Prints a value as indented JSON.
pub fn json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(v)?;
    writeln!(std::io::stdout().lock(), "{}", escape_json(&text))?;
    Ok(())
}

/// Prints a value as JSON on one line.
pub fn json_line<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    write_json_line(&mut std::io::stdout().lock(), v)
}

/// Writes a value as JSON on one line to `out` (a buffered standard output, for commands that
/// answer line after line).
pub fn write_json_line<T: serde::Serialize>(out: &mut impl Write, v: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string(v)?;
    writeln!(out, "{}", escape_json(&text))?;
    Ok(())
}
