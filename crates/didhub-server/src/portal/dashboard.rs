//! The staff dashboard: the stock per country and number type (a table, and a chart drawn from
//! it) with the days each lasts at the rate of the last 30 days (`didhub_core::forecast`), the
//! stock over the last 90 days (a line, and a table), and the inventory by status.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use didhub_core::did::DidStatus;
use didhub_store::DidFilter;

use super::inventory::status_label;
use chrono::NaiveDate;
use didhub_core::forecast::{forecast, Forecast, WINDOW_DAYS};

use super::svg::{bars, line, BarChart, LineChart};
use super::{render, thousands, Chrome, PageResult, Viewer};
use crate::AppState;

/// How many days of history the chart shows.
const TREND_DAYS: i64 = 90;

pub struct StockRow {
    pub country: String,
    pub number_type: String,
    pub count: String,
    pub href: String,
    /// What left stock over the window, and the days it lasts at that rate.
    pub outflow: String,
    pub days_left: String,
}

pub struct TrendRow {
    pub day: String,
    pub count: String,
}

/// A number of days, said.
fn days(n: i64) -> String {
    if n == 1 {
        "1 day".to_string()
    } else {
        format!("{} days", thousands(n))
    }
}

/// A forecast as the table shows it: (what left, days left).
fn said(f: Option<Forecast>) -> (String, String) {
    match f {
        None => (
            "not yet known".into(),
            "not yet known (fewer than 2 days recorded)".into(),
        ),
        Some(f) => (
            format!("{} in {}", thousands(f.outflow), days(f.span_days)),
            match f.days_left {
                Some(d) => days(d),
                None => "none left stock: no forecast".into(),
            },
        ),
    }
}

pub struct StatusRow {
    pub label: &'static str,
    pub count: String,
    pub href: String,
}

#[derive(Template)]
#[template(path = "portal/dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    total: String,
    stock: Vec<StockRow>,
    chart: BarChart,
    trend: Option<LineChart>,
    trend_rows: Vec<TrendRow>,
    /// The forecast of the whole stock, as a sentence.
    total_forecast: String,
    window: i64,
    statuses: Vec<StatusRow>,
    attention: super::attention::NeedsAttention,
}

pub async fn page(State(s): State<AppState>, v: Viewer) -> PageResult {
    let inv = s.store.inventory();
    let stock = inv
        .stock_by_country_and_type()
        .await
        .map_err(|e| v.fail(e))?;
    let mut statuses = Vec::new();
    for st in DidStatus::ALL {
        let f = DidFilter {
            status: Some(st),
            ..Default::default()
        };
        let n = inv.count_dids(&f).await.map_err(|e| v.fail(e))?;
        statuses.push(StatusRow {
            label: status_label(st),
            count: thousands(n),
            href: format!("/dids?status={}", st.as_str()),
        });
    }
    let label = |c: &didhub_store::inventory::stock::StockCount| {
        format!("{} {}", c.country, c.number_type.replace('_', " "))
    };
    let chart = bars(
        &stock
            .iter()
            .map(|c| (label(c), c.count))
            .collect::<Vec<_>>(),
    );
    // The recorded days, with today's count the one just read (the recorder writes today's
    // row hourly; the page says the stock now).
    let today = chrono::Utc::now().date_naive();
    let history = inv
        .stock_history(today - chrono::Duration::days(TREND_DAYS - 1))
        .await
        .map_err(|e| v.fail(e))?;
    let mut series: BTreeMap<(String, String), Vec<(NaiveDate, i64)>> = BTreeMap::new();
    for h in history.iter().filter(|h| h.day < today) {
        series
            .entry((h.country.clone(), h.number_type.clone()))
            .or_default()
            .push((h.day, h.in_stock));
    }
    for list in series.values_mut() {
        list.push((today, 0));
    }
    for c in &stock {
        let list = series
            .entry((c.country.clone(), c.number_type.clone()))
            .or_default();
        match list.last_mut() {
            Some(last) if last.0 == today => last.1 = c.count,
            _ => list.push((today, c.count)),
        }
    }
    let mut totals: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    for (d, n) in series.values().flatten() {
        *totals.entry(*d).or_default() += n;
    }
    let total_series: Vec<(NaiveDate, i64)> = totals.into_iter().collect();
    let total_forecast = match forecast(&total_series, today) {
        None => "The forecast of days left needs two days of recorded stock.".to_string(),
        Some(f) => match f.days_left {
            Some(d) => format!(
                "{} DIDs left stock in the last {}: at that rate the stock lasts {}.",
                thousands(f.outflow),
                days(f.span_days),
                days(d)
            ),
            None => format!(
                "No DIDs left stock in the last {}: no forecast of days left.",
                days(f.span_days)
            ),
        },
    };
    let trend = line(
        &total_series
            .iter()
            .map(|(d, n)| (d.to_string(), *n))
            .collect::<Vec<_>>(),
    );
    let trend_rows = total_series
        .iter()
        .rev()
        .map(|(d, n)| TrendRow {
            day: d.to_string(),
            count: thousands(*n),
        })
        .collect();
    let attention = super::attention::needs_attention(&s, &v)
        .await
        .map_err(|e| v.fail(e))?;
    let page = DashboardPage {
        attention,
        chrome: v.chrome("Dashboard", "/dashboard"),
        total: thousands(stock.iter().map(|c| c.count).sum()),
        stock: stock
            .iter()
            .map(|c| {
                let mut q = form_urlencoded::Serializer::new(String::new());
                q.append_pair("status", "in_stock")
                    .append_pair("country", &c.country)
                    .append_pair("type", &c.number_type);
                let key = (c.country.clone(), c.number_type.clone());
                let (outflow, days_left) = said(series.get(&key).and_then(|h| forecast(h, today)));
                StockRow {
                    outflow,
                    days_left,
                    country: c.country.clone(),
                    number_type: c.number_type.replace('_', " "),
                    count: thousands(c.count),
                    href: format!("/dids?{}", q.finish()),
                }
            })
            .collect(),
        chart,
        trend,
        trend_rows,
        total_forecast,
        window: WINDOW_DAYS,
        statuses,
    };
    Ok(render(StatusCode::OK, &page))
}
