//! Ordering: the service catalog, and the check of an order.

use std::io::Read;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use didhub_core::catalog::Catalog;
use didhub_core::number::Country;
use didhub_core::order::OrderBody;
use didhub_core::order_flow::{Attention, OrderState};
use didhub_store::accounts::orgs::Scope;
use didhub_store::ordering::orders::OrderFilter;
use didhub_store::{Store, StoreConfig};
use serde_json::Value;

use super::print_json;
use crate::show;

#[derive(Subcommand)]
pub enum CatalogCmd {
    /// Print the catalog in use as JSON: the whole of it, or one country's part (its offer,
    /// the rules of the services it offers and the time frames).
    Show {
        /// Only this country (ISO 3166 alpha-2); a country the catalog does not list shows
        /// the offer for other countries.
        #[arg(long)]
        country: Option<Country>,
    },
}

pub fn catalog(catalog: &Catalog, cmd: CatalogCmd) -> Result<()> {
    match cmd {
        CatalogCmd::Show { country: None } => print_json(catalog),
        CatalogCmd::Show { country: Some(c) } => print_json(&catalog.for_country(c)),
    }
}

#[derive(Subcommand)]
pub enum OrdersCmd {
    /// Check one order, given as JSON on standard input (the API's order body, with
    /// `submitted_at` in RFC 3339): every problem with the field it concerns, and the date
    /// promised. Exit 0 when it is good, 1 when it has problems, 2 when the input is not an
    /// order (not a JSON object; `country`, `service` or `submitted_at` missing or not text;
    /// a key of the wrong JSON type).
    Check {
        /// Print `{"ok","problems":[{"field","code","message"}],"promised_by"}`.
        #[arg(long)]
        json: bool,
    },
    /// List orders, newest first (at most `--limit`); `--attention overdue|at_risk` gives
    /// operations' list of open orders whose promise has passed or is within one working day.
    List {
        /// Only orders in this state (`submitted`, `awaiting_stock`, …).
        #[arg(long)]
        state: Option<OrderState>,
        /// `overdue` (the promise has passed) or `at_risk` (due within one working day).
        #[arg(long, value_parser = parse_attention)]
        attention: Option<Attention>,
        /// Only this customer's orders (its id).
        #[arg(long)]
        customer: Option<uuid::Uuid>,
        /// At most this many orders (1 to 1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// One JSON object a line.
        #[arg(long)]
        json: bool,
    },
    /// Show one order with its numbers, and its timeline.
    Show {
        /// The order's id.
        id: uuid::Uuid,
        /// `{"order": {…}, "timeline": […]}`.
        #[arg(long)]
        json: bool,
    },
}

fn parse_attention(s: &str) -> Result<Attention, String> {
    serde_json::from_value(Value::String(s.to_string()))
        .map_err(|_| format!("'{s}' is not overdue or at_risk"))
}

/// Exit status of input that is not an order.
const NOT_AN_ORDER: i32 = 2;

fn not_an_order(why: impl std::fmt::Display) -> ! {
    show::error_line(format!("error: not an order: {why}"));
    std::process::exit(NOT_AN_ORDER)
}

/// The order and its submission time, or why the input is not an order.
fn read_order(text: &str) -> Result<(OrderBody, DateTime<Utc>), String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
    let Value::Object(obj) = &v else {
        return Err("not a JSON object".into());
    };
    for key in ["country", "service", "submitted_at"] {
        match obj.get(key) {
            Some(Value::String(_)) => {}
            Some(_) => return Err(format!("`{key}` is not a string")),
            None => return Err(format!("`{key}` is missing")),
        }
    }
    let submitted = obj
        .get("submitted_at")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let at = DateTime::parse_from_rfc3339(submitted.trim())
        .map_err(|e| format!("`submitted_at` '{submitted}' is not an RFC 3339 time ({e})"))?
        .with_timezone(&Utc);
    let mut body = obj.clone();
    body.remove("submitted_at");
    let order: OrderBody = serde_path_to_error::deserialize(Value::Object(body))
        .map_err(|e| format!("`{}`: {}", e.path(), e.inner()))?;
    Ok((order, at))
}

pub async fn orders(cfg: &StoreConfig, catalog: &Catalog, cmd: OrdersCmd) -> Result<()> {
    match cmd {
        OrdersCmd::Check { json } => check(cfg, catalog, json).await,
        OrdersCmd::List {
            state,
            attention,
            customer,
            limit,
            json,
        } => {
            let store = Store::open(cfg).await.context("opening the database")?;
            let f = OrderFilter {
                state,
                customer_id: customer,
                attention,
                ..Default::default()
            };
            let page = store
                .ordering()
                .list_orders(Scope::All, &f, None, limit)
                .await;
            store.close().await;
            for o in page?.items {
                if json {
                    show::json_line(&o)?;
                } else {
                    show::line(format!(
                        "#{}\t{}\t{}\t{}\t{}\t{}",
                        o.order_ref,
                        o.state,
                        o.country,
                        o.service,
                        o.promised_by
                            .map(|d| d.to_string())
                            .unwrap_or_else(|| "-".into()),
                        o.attention.map(|a| a.as_str()).unwrap_or_default()
                    ))?;
                }
            }
            Ok(())
        }
        OrdersCmd::Show { id, json } => {
            let store = Store::open(cfg).await.context("opening the database")?;
            let r = async {
                let o = store.ordering().get_order(Scope::All, id).await?;
                let t = store.ordering().timeline(Scope::All, id).await?;
                Ok::<_, didhub_store::StoreError>((o, t))
            }
            .await;
            store.close().await;
            let (o, t) = r?;
            if json {
                return show::json_line(&serde_json::json!({"order": o, "timeline": t}));
            }
            show::line(format!(
                "order #{} ({}): {} {} for customer {}, promised by {}",
                o.order.order_ref,
                o.order.state,
                o.order.country,
                o.order.service,
                o.order.customer_id,
                o.order
                    .promised_by
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "-".into())
            ))?;
            if let Some(d) = o.order.ivp_by {
                show::line(format!("inbound calls by instant virtual porting by {d}"))?;
            }
            for n in &o.numbers {
                show::line(format!(
                    "  {}\t{}\t{}",
                    n.number,
                    n.state,
                    n.reject_code.as_deref().unwrap_or("")
                ))?;
            }
            for e in &t {
                show::line(format!(
                    "{}\t{}\t{} -> {}\t{}",
                    e.at.format("%Y-%m-%d %H:%M:%S"),
                    e.actor,
                    e.from_state.as_deref().unwrap_or("-"),
                    e.to_state,
                    e.reason.as_deref().unwrap_or("")
                ))?;
            }
            Ok(())
        }
    }
}

async fn check(cfg: &StoreConfig, catalog: &Catalog, json: bool) -> Result<()> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading the order from standard input")?;
    let (order, submitted) = read_order(&text).unwrap_or_else(|why| not_an_order(why));
    let store = Store::open(cfg).await.context("opening the database")?;
    let checked = store
        .ordering()
        .check_order(&order, submitted, catalog)
        .await;
    store.close().await;
    let checked = checked?;
    if json {
        show::json_line(&checked)?;
    } else if checked.ok {
        match checked.promised_by {
            Some(d) => show::line(format!("ok: promised by {d}"))?,
            None => show::line("ok: promised once the agreement is signed")?,
        }
    } else {
        for p in &checked.problems {
            show::line(format!("{}: {} ({})", p.field, p.message, p.code))?;
        }
    }
    if !checked.ok {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        std::process::exit(1);
    }
    Ok(())
}
