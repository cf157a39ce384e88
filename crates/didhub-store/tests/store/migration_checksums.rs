//! A migration, once released, is never edited: every database that ran it keeps its checksum
//! and refuses to start against a changed file (sqlx's `VersionMismatch`). This test pins each
//! file's SHA-256 in `migrations/CHECKSUMS`; a change of schema is a new migration.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

fn on_disk() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files = BTreeMap::new();
    for engine in ["sqlite", "postgres"] {
        for entry in std::fs::read_dir(root.join(engine)).expect("migrations directory") {
            let path = entry.expect("directory entry").path();
            if path.extension().is_some_and(|e| e == "sql") {
                let name = format!(
                    "{engine}/{}",
                    path.file_name().expect("file name").to_string_lossy()
                );
                let bytes = std::fs::read(&path).expect("migration file");
                files.insert(name, hex::encode(Sha256::digest(bytes)));
            }
        }
    }
    files
}

fn pinned() -> BTreeMap<String, String> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/CHECKSUMS"))
            .expect("migrations/CHECKSUMS");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (sum, name) = l.split_once("  ").expect("`SHA256  engine/file.sql` lines");
            (name.to_string(), sum.to_string())
        })
        .collect()
}

#[test]
fn released_migrations_are_never_edited() {
    let (disk, pinned) = (on_disk(), pinned());
    for (name, sum) in &pinned {
        match disk.get(name) {
            Some(now) => assert_eq!(
                now, sum,
                "{name} was edited after release: databases that ran it will refuse to start. \
                 Restore it and put the change in a new migration."
            ),
            None => panic!("{name} was removed after release; databases that ran it need it"),
        }
    }
    for name in disk.keys() {
        assert!(
            pinned.contains_key(name),
            "{name} is new: once it is final, pin it: in the crate's migrations directory, \
             `sha256sum {name} >> CHECKSUMS`"
        );
    }
    // Each engine has the same migrations, by number (a twin may be `SELECT 1`).
    let numbers = |engine: &str| -> Vec<String> {
        disk.keys()
            .filter_map(|n| n.strip_prefix(&format!("{engine}/")))
            .map(|f| f.split('_').next().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(numbers("sqlite"), numbers("postgres"));
}
