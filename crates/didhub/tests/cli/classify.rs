//! `didhub numbers classify`: one JSON object per input line.
//!
//! Classification touches no database, so these tests run once (on the SQLite harness) rather
//! than once per backend.

use crate::common::{Backend, Db, XorShift};
use serde_json::Value;

const KEYS: [&str; 6] = ["input", "valid", "e164", "country", "type", "error"];

fn classify(args: &[&str], stdin: &str) -> Vec<Value> {
    classify_bytes(args, stdin.as_bytes())
}

fn classify_bytes(args: &[&str], stdin: &[u8]) -> Vec<Value> {
    let db = Db::new(Backend::Sqlite);
    let mut a = vec!["numbers", "classify"];
    a.extend_from_slice(args);
    let r = db.run_stdin(&a, stdin.to_vec());
    assert!(r.success(), "classify failed: {}", r.stderr);
    r.stdout
        .lines()
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}"));
            let obj = v.as_object().expect("a JSON object per line");
            let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
            keys.sort_unstable();
            let mut want = KEYS.to_vec();
            want.sort_unstable();
            assert_eq!(keys, want, "keys of {l}");
            v
        })
        .collect()
}

fn assert_valid(v: &Value, e164: &str, country: &str, typ: &str) {
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["e164"], e164, "{v}");
    assert_eq!(v["country"], country, "{v}");
    assert_eq!(v["type"], typ, "{v}");
    assert!(v["error"].is_null(), "{v}");
}

fn assert_invalid(v: &Value) {
    assert_eq!(v["valid"], false, "{v}");
    assert!(
        v["error"].as_str().is_some_and(|e| !e.trim().is_empty()),
        "an invalid number needs an error message: {v}"
    );
    assert!(v["country"].is_null(), "{v}");
    assert!(v["type"].is_null(), "{v}");
}

#[test]
fn international_formats_all_give_the_same_e164() {
    let inputs = [
        "+442079460100",
        "+44 20 7946 0100",
        "+44.20.7946.0100",
        "+44-20-7946-0100",
        "+44 (20) 7946 0100",
        "0044 20 7946 0100",
        "442079460100",
    ];
    let out = classify(&[], &inputs.join("\n"));
    assert_eq!(out.len(), inputs.len());
    for (v, input) in out.iter().zip(inputs) {
        assert_eq!(v["input"], input);
        assert_valid(v, "+442079460100", "GB", "fixed_line");
    }
}

#[test]
fn number_types() {
    let out = classify(
        &[],
        "+44 7400 123456\n+44 800 123 4567\n+33 6 12 34 56 78\n+1 201 555 0123\n+33 1 42 68 53 00\n",
    );
    assert_eq!(out.len(), 5);
    assert_valid(&out[0], "+447400123456", "GB", "mobile");
    assert_valid(&out[1], "+448001234567", "GB", "toll_free");
    assert_valid(&out[2], "+33612345678", "FR", "mobile");
    assert_valid(&out[3], "+12015550123", "US", "fixed_line_or_mobile");
    assert_valid(&out[4], "+33142685300", "FR", "fixed_line");
}

#[test]
fn national_numbers_need_a_country() {
    let out = classify(&[], "020 7946 0100\n");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["input"], "020 7946 0100");
    assert_invalid(&out[0]);

    let out = classify(
        &["--country", "GB"],
        "020 7946 0100\n07400 123456\n+33 1 42 68 53 00\n",
    );
    assert_eq!(out.len(), 3);
    assert_valid(&out[0], "+442079460100", "GB", "fixed_line");
    assert_valid(&out[1], "+447400123456", "GB", "mobile");
    // An international number keeps its own country whatever the default.
    assert_valid(&out[2], "+33142685300", "FR", "fixed_line");

    let out = classify(&["--country", "us"], "(201) 555-0123\n");
    assert_valid(&out[0], "+12015550123", "US", "fixed_line_or_mobile");
}

#[test]
fn invalid_lines_are_reported_not_fatal() {
    let inputs = [
        "bogus",
        "+44 20 7946 01",
        "+999 1234 5678",
        "12",
        "+44 20 7946 0100 ext. banana",
        "+",
        "++442079460100",
    ];
    // CRLF line ends, as a file saved on Windows has them; the input echoed has no '\r'.
    let stdin = format!("{}\r\n+442079460100\r\n", inputs.join("\r\n"));
    let out = classify(&[], &stdin);
    assert_eq!(
        out.len(),
        inputs.len() + 1,
        "one output line per input line"
    );
    for (v, input) in out.iter().zip(inputs) {
        assert_eq!(v["input"], input);
        assert_invalid(v);
    }
    assert_valid(&out[inputs.len()], "+442079460100", "GB", "fixed_line");
}

#[test]
fn blank_lines_are_answered_so_lines_stay_aligned() {
    let out = classify(&[], "+442079460100\n\n   \n+442079460101\n");
    assert_eq!(out.len(), 4, "{out:?}");
    assert_valid(&out[0], "+442079460100", "GB", "fixed_line");
    for v in &out[1..3] {
        assert_invalid(v);
        assert_eq!(v["error"], "empty value", "{v}");
    }
    assert_valid(&out[3], "+442079460101", "GB", "fixed_line");
    // The last line needs no newline, and an empty input has no lines.
    assert_eq!(classify(&[], "+442079460100\n+442079460101").len(), 2);
    assert!(classify(&[], "").is_empty());
}

#[test]
fn binary_junk_on_stdin_does_not_crash() {
    let mut rng = XorShift(0x5eed_1234_abcd_ef01);
    let mut junk = rng.bytes(256 * 1024);
    // Some very long "numbers" too.
    junk.extend_from_slice(b"\n");
    junk.extend(std::iter::repeat_n(b'7', 1024 * 1024));
    junk.extend_from_slice(b"\n+442079460100\n");
    let out = classify_bytes(&[], &junk);
    assert!(!out.is_empty());
    let last = out.last().unwrap();
    assert_valid(last, "+442079460100", "GB", "fixed_line");
    for v in &out[..out.len() - 1] {
        assert_eq!(v["valid"], false, "junk classified as valid: {v}");
        assert!(v["error"].is_string(), "{v}");
    }
}

#[test]
fn unknown_default_country_is_a_clear_error() {
    let db = Db::new(Backend::Sqlite);
    let r = db.run_stdin(
        &["numbers", "classify", "--country", "XX"],
        "020 7946 0100\n",
    );
    assert!(!r.success(), "an unknown --country must fail");
    assert!(r.stderr.contains("country"), "stderr: {}", r.stderr);
}

#[test]
fn many_lines_come_back_in_input_order() {
    // Enough lines for several worker chunks, with a run of blank lines longer than a chunk
    // in the middle: every line comes back once, in the order it was read (a blank one as
    // "empty value").
    let mut input = String::new();
    let mut want = Vec::new();
    for i in 0..30_000u32 {
        if (10_000..15_000).contains(&i) {
            input.push('\n');
            want.push(String::new());
            continue;
        }
        let n = format!("+4420794{:05}", i % 100_000);
        input.push_str(&n);
        input.push('\n');
        want.push(n);
    }
    let out = classify(&[], &input);
    let got: Vec<&str> = out
        .iter()
        .map(|v| v["input"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(got.len(), want.len());
    assert!(
        got.iter().zip(&want).all(|(g, w)| g == w),
        "output out of input order"
    );
    for (v, w) in out.iter().zip(&want) {
        if w.is_empty() {
            assert_eq!(v["error"], "empty value", "{v}");
        } else {
            assert_eq!(v["valid"], true, "{v}");
            assert_eq!(v["country"], "GB", "{v}");
        }
    }
}

/// A reader that stops early (`| head -1`) ends the command: the writer's broken pipe stops the
/// workers, the workers' end closes the input queue, and the reader stops reading. It used
/// to wait forever on a full queue.
#[test]
fn a_reader_that_stops_early_ends_the_command() {
    use std::io::{BufRead, Write};
    let db = Db::new(Backend::Sqlite);
    let mut child = db
        .std_command()
        .args(["numbers", "classify"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn didhub");
    let mut stdin = child.stdin.take().unwrap();
    // Far more than the queues hold (about 5 blocks of 4,096 lines per core, see the command).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let feeder = std::thread::spawn(move || {
        let block = "+442079460018\n".repeat(4096);
        for _ in 0..(10 * cores + 50) {
            if stdin.write_all(block.as_bytes()).is_err() {
                break; // the command stopped reading: what this test waits for
            }
        }
    });
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.contains("\"valid\":true"), "{first}");
    drop(out); // the reader goes away
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("classify still running two minutes after its reader went away");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    feeder.join().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        status.success(),
        "a closed pipe is not an error: {status:?} {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
