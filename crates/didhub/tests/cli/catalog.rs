//! `didhub catalog show`: the catalog in use, whole or for one country, and a catalog file
//! that replaces the built-in one.

use crate::common::{Backend, Db};

#[test]
fn the_built_in_catalog_is_shown_whole_and_by_country() {
    let db = Db::new(Backend::Sqlite);
    let whole = db.ok(&["catalog", "show"]).json();
    assert_eq!(
        whole["countries"]["GB"]["mobile_prefixes"],
        serde_json::json!(["+447"])
    );
    assert_eq!(whole["other"]["country"], "other");
    let fr = db.ok(&["catalog", "show", "--country", "fr"]).json();
    assert_eq!(fr["asked"], "FR");
    assert_eq!(
        fr["offer"]["identifiers"]["new_dids"],
        serde_json::json!(["siret"])
    );
    assert_eq!(
        fr["rules"]["full_porting"]["documents"],
        serde_json::json!(["loa", "invoice"])
    );
    assert_eq!(fr["time_frames"]["new_dids"], 3);
    // A country the catalog does not list: the offer for other countries.
    let jp = db.ok(&["catalog", "show", "--country", "JP"]).json();
    assert_eq!(
        (jp["asked"].as_str(), jp["offer"]["country"].as_str()),
        (Some("JP"), Some("other"))
    );
    let bad = db.run(&["catalog", "show", "--country", "QQ"]);
    assert!(
        !bad.success() && bad.stderr.contains("QQ"),
        "{}",
        bad.all_output()
    );
}

#[test]
fn a_catalog_file_replaces_the_built_in_one_and_a_bad_one_is_named() {
    let db = Db::new(Backend::Sqlite);
    let builtin = include_str!("../../../didhub-core/data/catalog.toml");
    let own = db.write(
        "own.toml",
        builtin.replace(
            "mobile_prefixes = [\"+447\"]",
            "mobile_prefixes = [\"+4475\"]",
        ),
    );
    let own = own.to_string_lossy().to_string();
    let gb = db
        .ok(&["--catalog", &own, "catalog", "show", "--country", "GB"])
        .json();
    assert_eq!(gb["offer"]["mobile_prefixes"], serde_json::json!(["+4475"]));
    let broken = db.write(
        "broken.toml",
        builtin.replace("[countries.GB]", "[countries.QQ]"),
    );
    let r = db.run(&["--catalog", &broken.to_string_lossy(), "catalog", "show"]);
    assert!(!r.success(), "{}", r.all_output());
    assert!(
        r.stderr.contains("broken.toml") && r.stderr.contains("QQ"),
        "{}",
        r.stderr
    );
    let missing = db.run(&["--catalog", "/nonexistent/catalog.toml", "catalog", "show"]);
    assert!(!missing.success() && missing.stderr.contains("/nonexistent/catalog.toml"));
}
