//! Sources stay readable: no line of the crates over 120 characters, SQL inside macros and
//! string literals included (rustfmt cannot reach those, so this test does).

use std::path::{Path, PathBuf};

const LIMIT: usize = 120;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_line_in_the_crates_is_over_120_characters() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    rust_files(&crates, &mut files);
    assert!(
        files.len() > 50,
        "found only {} sources under {}",
        files.len(),
        crates.display()
    );
    let mut long = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            let width = line.chars().count();
            if width > LIMIT {
                long.push(format!("{}:{} ({width})", f.display(), i + 1));
            }
        }
    }
    assert!(
        long.is_empty(),
        "lines over {LIMIT} characters:\n{}",
        long.join("\n")
    );
}
