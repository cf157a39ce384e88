//! `didhub orders check`: an order on standard input, every problem under its field, the date
//! promised in working days, exit 0 / 1 / 2.

use serde_json::json;

use crate::common::{each_backend, runtime, store_config, Db};

fn check(db: &Db, order: &serde_json::Value) -> (i32, serde_json::Value) {
    let r = db.run_stdin(&["orders", "check", "--json"], order.to_string());
    let code = r.code.unwrap_or(-1);
    let v = serde_json::from_str(r.stdout.trim()).unwrap_or(serde_json::Value::Null);
    (code, v)
}

fn fields(v: &serde_json::Value) -> Vec<String> {
    let mut f: Vec<String> = v["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["field"].as_str().map(String::from))
        .collect();
    f.sort();
    f
}

#[test]
fn a_good_order_is_promised_in_working_days_of_its_country() {
    each_backend(|db| {
        let o = json!({"country": "GB", "service": "outbound_only", "numbers": ["+442079460018"],
            "submitted_at": "2026-11-02T09:00:00Z"});
        let (code, v) = check(db, &o);
        assert_eq!((code, v["ok"].as_bool()), (0, Some(true)), "{v}");
        assert_eq!(v["promised_by"], "2026-11-04");
        // New DIDs in France, submitted on Christmas Eve 2026: 3 working days skip Christmas
        // and the weekend.
        let fr = json!({"country": "FR", "service": "new_dids", "range_size": 10, "quantity": 1,
            "area_code": "1", "identifiers": {"siret": "732 829 320 00074"},
            "address": {"street": "5 rue de la Paix", "city": "Paris", "postcode": "75002"},
            "submitted_at": "2026-12-24T16:00:00+01:00"});
        let (code, v) = check(db, &fr);
        assert_eq!(
            (code, v["promised_by"].as_str()),
            (0, Some("2026-12-30")),
            "{v}"
        );
    });
}

#[test]
fn problems_are_reported_with_their_fields_and_exit_1() {
    each_backend(|db| {
        let o = json!({"country": "FR", "service": "new_dids", "range_size": 10, "quantity": 1,
            "area_code": "1", "identifiers": {"siret": "73282932000079"},
            "address": {"street": "rue de la Paix", "city": "Paris", "postcode": "75002"},
            "submitted_at": "2026-11-02T09:00:00Z"});
        let (code, v) = check(db, &o);
        assert_eq!(code, 1, "{v}");
        assert_eq!(fields(&v), ["address.street", "identifiers.siret"]);
        assert!(v["promised_by"].is_null());
        let sa = json!({"country": "SA", "service": "new_dids", "range_size": 1, "quantity": 1,
            "area_code": "11", "contact_name": "IT desk",
            "address": {"street": "King Fahd Road 5", "city": "Riyadh", "postcode": "12211"},
            "submitted_at": "2026-11-02T09:00:00Z"});
        assert_eq!(fields(&check(db, &sa).1), ["contact_email"]);
    });
}

#[test]
fn numbers_already_in_the_inventory_are_named() {
    each_backend(|db| {
        db.ok(&["operators", "create", "Acme"]);
        db.ok(&["dids", "create", "+442079460018", "--operator", "Acme"]);
        let o = json!({"country": "GB", "service": "outbound_only",
            "numbers": ["+442079460019", "00442079460018"], "submitted_at": "2026-11-02T09:00:00Z"});
        let (code, v) = check(db, &o);
        assert_eq!(
            (code, fields(&v)),
            (1, vec!["numbers[1]".to_string()]),
            "{v}"
        );
        assert_eq!(v["problems"][0]["code"], "in_inventory");
        assert!(
            v["problems"][0]["message"]
                .as_str()
                .unwrap()
                .contains("in stock"),
            "{v}"
        );
    });
}

#[test]
fn input_that_is_not_an_order_exits_2() {
    let db = Db::new(crate::common::Backend::Sqlite);
    for input in [
        "[1, 2]".to_string(),
        "not json".to_string(),
        json!({"service": "new_dids", "submitted_at": "2026-11-02T09:00:00Z"}).to_string(),
        json!({"country": "GB", "service": "new_dids"}).to_string(),
        json!({"country": 44, "service": "new_dids", "submitted_at": "2026-11-02T09:00:00Z"})
            .to_string(),
        json!({"country": "GB", "service": "new_dids", "quantity": "two",
            "submitted_at": "2026-11-02T09:00:00Z"})
        .to_string(),
        json!({"country": "GB", "service": "new_dids", "address": {"street": 5},
            "submitted_at": "2026-11-02T09:00:00Z"})
        .to_string(),
    ] {
        let r = db.run_stdin(&["orders", "check", "--json"], input.clone());
        assert_eq!(r.code, Some(2), "{input}: {}", r.all_output());
        assert!(r.stderr.contains("not an order"), "{input}: {}", r.stderr);
    }
    // An unknown service or country is a problem of the order, not a failure to read it.
    let r = db.run_stdin(
        &["orders", "check", "--json"],
        json!({"country": "GB", "service": "fax", "submitted_at": "2026-11-02T09:00:00Z"})
            .to_string(),
    );
    assert_eq!(r.code, Some(1), "{}", r.all_output());
}

#[test]
fn orders_are_listed_and_shown_with_their_timeline() {
    each_backend(|db| {
        db.ok(&["partners", "create", "P"]);
        let id = runtime().block_on(async {
            let store = didhub_store::Store::open(&store_config(db))
                .await
                .expect("store");
            let sys = didhub_store::Actor::system();
            let p = store.accounts().find_partner("P").await.expect("partner");
            let scope = didhub_store::accounts::orgs::Scope::All;
            let c = store
                .accounts()
                .create_customer(&sys, scope, p.id, "C")
                .await
                .expect("customer");
            let body = serde_json::from_value(json!({"country": "GB", "service": "outbound_only",
                "numbers": ["+442079460018"]}))
            .expect("order");
            let catalog = didhub_core::catalog::Catalog::builtin();
            let o = store
                .ordering()
                .create_order(&sys, scope, c.id, body, catalog)
                .await
                .expect("order");
            store
                .ordering()
                .confirm_quote(&sys, scope, o.order.id, None)
                .await
                .expect("confirm");
            store.close().await;
            o.order.id.to_string()
        });
        let list = db.ok(&["orders", "list", "--json"]).stdout;
        let orders: Vec<serde_json::Value> = list
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        assert_eq!(orders.len(), 1, "{list}");
        assert_eq!(
            (orders[0]["id"].as_str(), orders[0]["state"].as_str()),
            (Some(id.as_str()), Some("draft"))
        );
        assert_eq!(
            db.ok(&["orders", "list", "--state", "submitted"]).stdout,
            ""
        );
        let shown = db.ok(&["orders", "show", &id]).stdout;
        assert!(shown.contains("quote -> draft"), "{shown}");
        let missing = db.run(&["orders", "show", "0190d1a4-0000-7000-8000-000000000000"]);
        assert!(
            !missing.success() && missing.stderr.contains("not found"),
            "{}",
            missing.stderr
        );
        let bad = db.run(&["orders", "list", "--attention", "soon"]);
        assert_eq!(bad.code, Some(64), "a usage error: {}", bad.stderr);
    });
}
