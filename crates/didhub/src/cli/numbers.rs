//! `didhub numbers`: phone number tools.

use std::io::{BufRead, Write};

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use didhub_core::number::{classification, Classification, Country};

#[derive(Subcommand)]
pub enum NumbersCmd {
    /// Read numbers (one per line) on stdin; write one JSON object per line.
    Classify {
        /// Default country for national-format numbers (ISO 3166 alpha-2).
        #[arg(long)]
        country: Option<String>,
    },
}

/// Writes one result line exactly as `serde_json` writes a [`Classification`], made safe to
/// print by `show::json_text` (a test holds the two equal), without the generic serializer's
/// per-field work: a twentieth of the command's
/// time. Strings that need no escaping (the E.164 form, country and type always; the input
/// nearly always) are copied as they are.
fn write_classification(o: &mut Vec<u8>, c: &Classification) {
    fn string(o: &mut Vec<u8>, s: &str) {
        if s.bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
        {
            o.push(b'"');
            o.extend_from_slice(s.as_bytes());
            o.push(b'"');
        } else {
            // As serde_json writes it, with what it leaves raw (DEL, C1 controls,
            // bidirectional overrides) as \u escapes: the output goes to a terminal too.
            let json = serde_json::to_string(s).unwrap_or_default();
            o.extend_from_slice(crate::show::json_text(&json).as_bytes());
        }
    }
    fn field(o: &mut Vec<u8>, name: &[u8], v: Option<&str>) {
        o.extend_from_slice(name);
        match v {
            Some(s) => string(o, s),
            None => o.extend_from_slice(b"null"),
        }
    }
    o.extend_from_slice(b"{\"input\":");
    string(o, &c.input);
    o.extend_from_slice(if c.valid {
        b",\"valid\":true"
    } else {
        b",\"valid\":false"
    });
    field(o, b",\"e164\":", c.e164.as_deref());
    field(o, b",\"country\":", c.country.as_deref());
    field(o, b",\"type\":", c.number_type.map(|t| t.as_str()));
    field(o, b",\"error\":", c.error.as_deref());
    o.push(b'}');
}

/// Byte buffers handed back and forth between the classify pipeline's threads, so that each
/// chunk does not allocate (and fault in) fresh memory.
#[derive(Default)]
struct Buffers(std::sync::Mutex<Vec<Vec<u8>>>);

impl Buffers {
    fn take(&self, capacity: usize) -> Vec<u8> {
        let b = self.0.lock().ok().and_then(|mut v| v.pop());
        b.unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    fn give(&self, mut b: Vec<u8>) {
        b.clear();
        if let Ok(mut v) = self.0.lock() {
            v.push(b);
        }
    }
}

pub fn classify(country: Option<&str>) -> Result<()> {
    use std::sync::mpsc::sync_channel;
    use std::sync::Mutex;
    let country = country
        .map(Country::parse)
        .transpose()
        .context("--country")?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // A pipeline on long-lived threads: this thread reads blocks of whole lines, one worker
    // per core classifies them on its own metadata engine (see `use_own_engine`), and a writer
    // puts the results back in input order. Bounded queues keep memory constant.
    const LINES: usize = 4096;
    const OUT_PER_LINE: usize = 120;
    let (work_tx, work_rx) = sync_channel::<(u64, Vec<u8>)>(threads * 2);
    // Owned by the workers alone: when the last one stops (the writer failed, or a worker
    // panicked), the queue's receiver goes with it and the reader's next send fails, so the
    // reader stops instead of waiting forever on a full queue.
    let work_rx = std::sync::Arc::new(Mutex::new(work_rx));
    let (done_tx, done_rx) = sync_channel::<(u64, Vec<u8>)>(threads * 2);
    let (inputs, outputs) = (Buffers::default(), Buffers::default());
    std::thread::scope(|sc| -> Result<()> {
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            let work_rx = std::sync::Arc::clone(&work_rx);
            let (inputs, outputs) = (&inputs, &outputs);
            sc.spawn(move || {
                didhub_core::number::use_own_engine();
                loop {
                    let job = match work_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((seq, block)) = job else { return };
                    let mut o = outputs.take(LINES * OUT_PER_LINE);
                    // One answer per input line, blank ones included (an empty cell of a
                    // spreadsheet column), so that output line N answers input line N.
                    let body = block.strip_suffix(b"\n").unwrap_or(&block);
                    let lines = (!block.is_empty()).then(|| body.split(|&b| b == b'\n'));
                    for raw in lines.into_iter().flatten() {
                        let text = String::from_utf8_lossy(raw);
                        let text = text.trim_end_matches('\r');
                        write_classification(&mut o, &classification(text, country));
                        o.push(b'\n');
                    }
                    inputs.give(block);
                    if done_tx.send((seq, o)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        drop(work_rx);
        let outs = &outputs;
        let writer = sc.spawn(move || -> std::io::Result<()> {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let mut next = 0u64;
            let mut early = std::collections::BTreeMap::new();
            for (seq, bytes) in done_rx {
                early.insert(seq, bytes);
                while let Some(b) = early.remove(&next) {
                    out.write_all(&b)?;
                    outs.give(b);
                    next += 1;
                }
            }
            out.flush()
        });
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut seq = 0u64;
        let mut eof = false;
        while !eof {
            let mut block = inputs.take(LINES * 32);
            for _ in 0..LINES {
                if input.read_until(b'\n', &mut block)? == 0 {
                    eof = true;
                    break;
                }
            }
            if block.is_empty() {
                continue;
            }
            // A closed queue means every worker stopped: the writer failed (its error is
            // reported below) or a worker panicked.
            if work_tx.send((seq, block)).is_err() {
                break;
            }
            seq += 1;
        }
        drop(work_tx);
        match writer.join() {
            Ok(r) => r.context("writing the results"),
            Err(_) => bail!("the writer thread failed"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_lines_are_what_serde_writes() {
        let gb = Country::parse("GB").ok();
        for (input, cc) in [
            ("+442079460018", None),
            ("020 7946 0018", gb),
            ("+1 201 555 0123", None),
            ("+80012345678", None),
            ("+44 20 7946 001", None),
            ("0800 \"free\"", gb),
            ("back\\slash\t+44", None),
            ("\u{1}\u{7f}", None),
            ("tél. +33 1 23 45 67 89", None),
            ("+33 1 23 45 67 89", None),
            ("+44\u{202e}20\u{9b}2J", None),
            ("", None),
            ("0207946001", None),
        ] {
            let c = classification(input, cc);
            let mut fast = Vec::new();
            write_classification(&mut fast, &c);
            // serde_json's text, with what it leaves raw escaped as every JSON output is.
            let serde = crate::show::json_text(&serde_json::to_string(&c).unwrap_or_default());
            assert_eq!(String::from_utf8_lossy(&fast), serde, "input {input:?}");
            assert!(!serde.chars().any(didhub_core::text::is_unsafe_to_show));
        }
    }
}
