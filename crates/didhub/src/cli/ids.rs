//! `didhub ids`: business identifiers (company and tax numbers). Needs no database.

use std::io::{BufRead, Write};

use anyhow::{Context, Result};
use clap::Subcommand;
use didhub_core::ids::IdKind;
use serde::Serialize;

#[derive(Subcommand)]
pub enum IdsCmd {
    /// Read identifiers (one per line) on stdin; write one JSON object per line.
    Check {
        /// Country of the identifiers (ISO 3166 alpha-2): FR, ES, NO, PT, TR or NL.
        #[arg(long)]
        country: String,
        /// Kind of identifier: siren, siret (FR); nif (ES, PT); orgnr (NO); vkn, tckn (TR);
        /// kvk (NL).
        #[arg(long)]
        kind: String,
    },
}

/// The answer to one input line.
#[derive(Serialize)]
struct Answer<'a> {
    input: &'a str,
    valid: bool,
    compact: Option<String>,
    error: Option<String>,
}

impl<'a> Answer<'a> {
    fn of(kind: IdKind, input: &'a str) -> Self {
        match kind.check(input) {
            Ok(compact) => Answer {
                input,
                valid: true,
                compact: Some(compact),
                error: None,
            },
            Err(e) => Answer {
                input,
                valid: false,
                compact: None,
                error: Some(e.to_string()),
            },
        }
    }
}

/// `didhub ids`. An unknown country and kind pair exits 2, like a file that `import` cannot
/// take at all: nothing was checked.
pub fn ids(cmd: IdsCmd) -> Result<()> {
    let IdsCmd::Check { country, kind } = cmd;
    let kind = match IdKind::parse(&country, &kind) {
        Ok(k) => k,
        Err(e) => {
            crate::show::error_line(format!("error: {e}"));
            std::process::exit(2);
        }
    };
    check(kind, std::io::stdin().lock(), std::io::stdout().lock())
}

/// One answer per input line, a blank one too (an empty cell of a spreadsheet column), so that
/// output line N answers input line N. A line ends at `\n` or `\r\n`; bytes that are not UTF-8
/// are read as U+FFFD, as `numbers classify` reads them.
fn check(kind: IdKind, mut input: impl BufRead, out: impl Write) -> Result<()> {
    let mut out = std::io::BufWriter::new(out);
    let mut raw = Vec::new();
    loop {
        raw.clear();
        if input.read_until(b'\n', &mut raw).context("reading stdin")? == 0 {
            break;
        }
        let line = raw.strip_suffix(b"\n").unwrap_or(&raw);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = String::from_utf8_lossy(line);
        crate::show::write_json_line(&mut out, &Answer::of(kind, &text))?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(kind: IdKind, stdin: &[u8]) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        check(kind, stdin, &mut out).expect("check");
        String::from_utf8(out)
            .expect("UTF-8 output")
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    #[test]
    fn every_line_is_answered_and_line_endings_are_not_input() {
        let a = answers(IdKind::FrSiret, b"73282932000074\r\n\n732 829 320 00074");
        assert_eq!(a.len(), 3);
        assert_eq!(a[0]["input"], "73282932000074");
        assert_eq!(a[0]["valid"], true);
        assert_eq!(a[1]["input"], "");
        assert_eq!(a[1]["valid"], false);
        assert!(a[1]["compact"].is_null());
        assert_eq!(a[2]["compact"], "73282932000074");
        assert!(answers(IdKind::FrSiret, b"").is_empty());
    }

    #[test]
    fn control_characters_are_escaped_and_the_input_kept() {
        let mut out = Vec::new();
        check(
            IdKind::EsNif,
            &b"\x1b[2J\xe2\x80\xae54362315K\t\x85"[..],
            &mut out,
        )
        .expect("check");
        let text = String::from_utf8(out).expect("UTF-8 output");
        assert!(
            !text
                .trim_end()
                .chars()
                .any(didhub_core::text::is_unsafe_to_show),
            "{text:?}"
        );
        let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        // The invalid byte 0x85 is read as U+FFFD; everything else is the line as it came.
        assert_eq!(v["input"], "\u{1b}[2J\u{202e}54362315K\t\u{fffd}");
        assert_eq!(v["valid"], false);
    }
}
