//! The staff dashboard: the stock per country and number type (a table, and a chart drawn from
//! it), and the inventory by status.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use didhub_core::did::DidStatus;
use didhub_store::DidFilter;

use super::inventory::status_label;
use super::svg::{bars, BarChart};
use super::{render, thousands, Chrome, PageResult, Viewer};
use crate::AppState;

pub struct StockRow {
    pub country: String,
    pub number_type: String,
    pub count: String,
    pub href: String,
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
                StockRow {
                    country: c.country.clone(),
                    number_type: c.number_type.replace('_', " "),
                    count: thousands(c.count),
                    href: format!("/dids?{}", q.finish()),
                }
            })
            .collect(),
        chart,
        statuses,
    };
    Ok(render(StatusCode::OK, &page))
}
