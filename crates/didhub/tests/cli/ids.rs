//! `didhub ids check`: one JSON object per input line, exactly the keys input, valid, compact
//! and error.
//!
//! Checking touches no database, so these tests run once (no backend selected at all: the
//! command must not need one).

use crate::common::{Backend, Db, Run};
use serde_json::Value;

const KEYS: [&str; 4] = ["compact", "error", "input", "valid"];

fn run(db: &Db, args: &[&str], stdin: &[u8]) -> Run {
    let o = db
        .bare_command()
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            if let Some(mut s) = child.stdin.take() {
                s.write_all(stdin)?;
            }
            child.wait_with_output()
        })
        .expect("run didhub");
    Run::from_output(&args.join(" "), o)
}

fn check(country: &str, kind: &str, stdin: &str) -> Vec<Value> {
    let db = Db::new(Backend::Sqlite);
    let r = run(
        &db,
        &["ids", "check", "--country", country, "--kind", kind],
        stdin.as_bytes(),
    );
    assert!(r.success(), "ids check failed: {}", r.stderr);
    lines(&r.stdout)
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}"));
            let mut keys: Vec<&str> = v
                .as_object()
                .expect("an object")
                .keys()
                .map(String::as_str)
                .collect();
            keys.sort_unstable();
            assert_eq!(keys, KEYS, "keys of {l}");
            v
        })
        .collect()
}

fn assert_valid(v: &Value, compact: &str) {
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["compact"], compact, "{v}");
    assert!(v["error"].is_null(), "{v}");
}

fn assert_invalid(v: &Value, error: &str) {
    assert_eq!(v["valid"], false, "{v}");
    assert!(v["compact"].is_null(), "{v}");
    assert_eq!(v["error"], error, "{v}");
}

#[test]
fn siret_and_nif_examples() {
    let out = check(
        "FR",
        "siret",
        "73282932000074\n732 829 320 00074\n73282932000079\n",
    );
    assert_eq!(out.len(), 3);
    assert_eq!(out[1]["input"], "732 829 320 00074");
    assert_valid(&out[0], "73282932000074");
    assert_valid(&out[1], "73282932000074");
    assert_invalid(&out[2], "invalid checksum");

    let out = check(
        "es",
        "NIF",
        "54362315K\nB64717838\nB64717839\nes b-58378431\nX-5253868-R\nB6471783\n",
    );
    assert_eq!(out.len(), 6);
    assert_valid(&out[0], "54362315K");
    assert_valid(&out[1], "B64717838");
    assert_invalid(&out[2], "invalid checksum");
    assert_valid(&out[3], "B58378431");
    assert_valid(&out[4], "X5253868R");
    assert_invalid(&out[5], "invalid length");
}

#[test]
fn every_kind_answers() {
    for (country, kind, valid, compact) in [
        ("FR", "siren", "404 833 048", "404833048"),
        ("NO", "orgnr", "988 077 917", "988077917"),
        ("PT", "nif", "PT 501 964 843", "501964843"),
        ("TR", "vkn", "4540536920", "4540536920"),
        ("TR", "tckn", "17291716060", "17291716060"),
        ("NL", "kvk", "0207 6358", "02076358"),
    ] {
        let out = check(country, kind, &format!("{valid}\n12x\n"));
        assert_eq!(out.len(), 2, "{country} {kind}");
        assert_valid(&out[0], compact);
        assert_invalid(&out[1], "invalid format");
    }
}

#[test]
fn blank_lines_and_line_endings() {
    // CRLF ends as a file saved on Windows has them, a blank line, a last line without an end.
    let out = check("FR", "siren", "404833048\r\n\n   \r\n404833048");
    assert_eq!(out.len(), 4, "{out:?}");
    assert_eq!(out[0]["input"], "404833048");
    assert_valid(&out[0], "404833048");
    assert_eq!(out[1]["input"], "");
    assert_invalid(&out[1], "empty value");
    assert_eq!(out[2]["input"], "   ");
    assert_invalid(&out[2], "empty value");
    assert_valid(&out[3], "404833048");
    assert!(check("FR", "siren", "").is_empty());
}

#[test]
fn the_input_comes_back_as_read_with_control_characters_escaped() {
    let db = Db::new(Backend::Sqlite);
    let stdin = "\u{1b}[2J54362315K\u{7}\n\u{202e}B64717838 \"q\" \\\nES 54362315K\t\n";
    let r = run(
        &db,
        &["ids", "check", "--country", "ES", "--kind", "nif"],
        stdin.as_bytes(),
    );
    assert!(r.success(), "{}", r.stderr);
    for c in r.stdout.chars().filter(|&c| c != '\n') {
        assert!(
            !didhub_core::text::is_unsafe_to_show(c),
            "raw {c:?} in {:?}",
            r.stdout
        );
    }
    let out = lines(&r.stdout);
    assert_eq!(out.len(), 3);
    assert_eq!(out[0]["input"], "\u{1b}[2J54362315K\u{7}");
    assert_invalid(&out[0], "invalid format");
    assert_eq!(out[1]["input"], "\u{202e}B64717838 \"q\" \\");
    assert_invalid(&out[1], "invalid format");
    // Surrounding whitespace is not part of the number.
    assert_eq!(out[2]["input"], "ES 54362315K\t");
    assert_valid(&out[2], "54362315K");
}

#[test]
fn an_unknown_pair_exits_2_and_lists_the_supported_ones() {
    let db = Db::new(Backend::Sqlite);
    for (country, kind) in [("FR", "nif"), ("DE", "siren"), ("", "siret")] {
        let r = run(
            &db,
            &["ids", "check", "--country", country, "--kind", kind],
            b"73282932000074\n",
        );
        assert_eq!(r.code, Some(2), "{country} {kind}: {r:?}");
        assert!(r.stdout.is_empty(), "{r:?}");
        for pair in [
            "FR siren", "FR siret", "ES nif", "NO orgnr", "PT nif", "TR vkn", "TR tckn", "NL kvk",
        ] {
            assert!(r.stderr.contains(pair), "{pair} not listed: {}", r.stderr);
        }
    }
    // A missing flag is a usage mistake, as everywhere.
    let r = run(&db, &["ids", "check", "--country", "FR"], b"");
    assert_eq!(r.code, Some(64), "{r:?}");
}

#[test]
fn no_database_is_opened_or_made() {
    let db = Db::new(Backend::Sqlite);
    // A database URL that cannot be reached: a command that opened it would fail.
    let o = db
        .bare_command()
        .args(["--database-url", "postgres://nobody@127.0.0.1:1/none"])
        .args(["ids", "check", "--country", "FR", "--kind", "siret"])
        .output()
        .expect("run didhub");
    let r = Run::from_output("ids check", o);
    assert!(r.success(), "{r:?}");
    let entries: Vec<_> = std::fs::read_dir(db.dir()).expect("scratch dir").collect();
    assert!(entries.is_empty(), "files made: {entries:?}");
}
