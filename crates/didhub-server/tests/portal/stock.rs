//! The dashboard's stock over time and its forecast of days left, from the days the store
//! records (`record_stock_day`, which the server runs at start and hourly).

use chrono::{Duration, Utc};
use didhub_core::did::DidStatus;
use didhub_store::inventory::dids::{DidPatch, Selection};
use didhub_store::{Actor, DidFilter};

use crate::common::TestApp;
use crate::support::*;

/// Takes the in-stock DIDs whose number starts with `prefix` out of stock (reserved).
async fn reserve(app: &TestApp, prefix: &str) {
    app.store
        .inventory()
        .update_dids(
            &Actor::system(),
            &Selection::Filter(DidFilter {
                prefix: Some(prefix.into()),
                status: Some(DidStatus::InStock),
                ..Default::default()
            }),
            &DidPatch {
                status: Some(DidStatus::Reserved),
                ..Default::default()
            },
            None,
        )
        .await
        .expect("reserve");
}

#[tokio::test]
async fn the_dashboard_forecasts_the_days_left_at_the_last_30_days_rate_and_draws_the_stock() {
    let app = start(false).await;
    seed(&app).await;
    let today = Utc::now().date_naive();
    let inv = app.store.inventory();
    // Ten days ago 119 GB DIDs were in stock; since, 20 left: 2 a day, 99 left, 49 days.
    inv.record_stock_day(today - Duration::days(10))
        .await
        .expect("record");
    reserve(&app, "+44207946000").await;
    reserve(&app, "+44207946001").await;
    let s = login(&app, ADMIN).await;
    let (status, html) = s.page("/dashboard").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("99 DIDs in stock."), "{html}");
    assert!(
        html.contains(
            "20 DIDs left stock in the last 10 days: at that rate the stock lasts 49 days."
        ),
        "{html}"
    );
    assert!(
        html.contains("<td>20 in 10 days</td><td>49 days</td>"),
        "{html}"
    );
    // The line of the two days, and its numbers as text.
    assert!(html.contains("<polyline points=\""), "{html}");
    let table = &html[html.find("id=\"trend-table\"").expect("the numbers")..];
    assert!(
        table.contains(&format!("<td>{today}</td><td class=\"num\">99</td>")),
        "{table}"
    );
    let then = today - Duration::days(10);
    assert!(
        table.contains(&format!("<td>{then}</td><td class=\"num\">119</td>")),
        "{table}"
    );
}

#[tokio::test]
async fn a_stock_without_outflow_or_history_has_no_forecast() {
    let app = start(false).await;
    seed(&app).await;
    let s = login(&app, ADMIN).await;
    let (_, html) = s.page("/dashboard").await;
    assert!(
        html.contains("The forecast of days left needs two days of recorded stock."),
        "{html}"
    );
    assert!(
        html.contains("The stock over time shows once two days are recorded"),
        "{html}"
    );
    assert!(!html.contains("<polyline"), "{html}");
    let today = Utc::now().date_naive();
    app.store
        .inventory()
        .record_stock_day(today - Duration::days(3))
        .await
        .expect("record");
    let (_, html) = s.page("/dashboard").await;
    assert!(
        html.contains("No DIDs left stock in the last 3 days: no forecast of days left."),
        "{html}"
    );
    assert!(html.contains("none left stock: no forecast"), "{html}");
}

#[tokio::test]
async fn a_stock_run_out_is_recorded_as_zero_and_reads_as_outflow() {
    for db in [crate::common::Db::Sqlite, crate::common::Db::Postgres] {
        let Some(app) = start_on(db, false).await else {
            continue;
        };
        run_out_on(&app).await;
        app.stop().await;
    }
}

async fn run_out_on(app: &TestApp) {
    seed(app).await;
    let today = Utc::now().date_naive();
    let inv = app.store.inventory();
    let yesterday = today - Duration::days(1);
    assert_eq!(inv.record_stock_day(yesterday).await.expect("record"), 1);
    reserve(app, "+44207946").await;
    // Recording twice replaces the day's row.
    inv.record_stock_day(today).await.expect("record");
    inv.record_stock_day(today).await.expect("record again");
    let days = inv.stock_history(yesterday).await.expect("history");
    let counts: Vec<(chrono::NaiveDate, i64)> = days.iter().map(|d| (d.day, d.in_stock)).collect();
    assert_eq!(counts, vec![(yesterday, 119), (today, 0)]);
    let s = login(app, ADMIN).await;
    let (_, html) = s.page("/dashboard").await;
    assert!(html.contains("Nothing is in stock."), "{html}");
    assert!(
        html.contains(
            "119 DIDs left stock in the last 1 day: at that rate the stock lasts 0 days."
        ),
        "{html}"
    );
}
