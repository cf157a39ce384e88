//! Orders and porting: the check of an order against the catalog, the country's working days
//! (with the closures operators added) and the inventory; stored orders, their states and
//! timeline (`orders`).

mod count;
pub mod fulfil;
pub mod orders;
mod porting;
mod reads;
mod steps;

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use didhub_core::calendar::Calendar;
use didhub_core::catalog::{Catalog, Service};
use didhub_core::ids::IdKind;
use didhub_core::number::Country;
use didhub_core::order::{check, normalise_number, Checked, Context, OrderBody, Problem};

use crate::db::sql::{bind_all, Sql};
use crate::{on, Backend, Result};

crate::handle!(
    /// Orders: their checks, the orders themselves, their states and timeline.
    Ordering,
    ordering
);

/// The check's view of the calendars and identifier rules.
struct Ctx {
    calendar: Option<Calendar>,
}

impl Context for Ctx {
    fn add_working_days(&self, c: Country, from: NaiveDate, n: u32) -> Result<NaiveDate, String> {
        match &self.calendar {
            Some(cal) => cal.add_working_days(from, n).map_err(|e| e.to_string()),
            None => Err(format!("no working-day calendar for {c}")),
        }
    }

    fn check_identifier(&self, c: Country, kind: &str, value: &str) -> Result<(), String> {
        let kind = IdKind::parse(c.as_str(), kind).map_err(|e| e.to_string())?;
        kind.check(value).map(|_| ()).map_err(|e| e.to_string())
    }
}

impl Ordering<'_> {
    /// Checks an order submitted at `submitted`: the core's rules (`didhub_core::order`) with
    /// the country's calendar as operators closed it, and the numbers already in the
    /// inventory, each named with its status.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn check_order(
        &self,
        order: &OrderBody,
        submitted: DateTime<Utc>,
        catalog: &Catalog,
    ) -> Result<Checked> {
        let calendar = match Country::parse(&order.country) {
            Ok(c) => self.calendar().calendar(c.as_str()).await.ok(),
            Err(_) => None,
        };
        let mut checked = check(order, submitted, catalog, &Ctx { calendar });
        let porting_or_outbound = matches!(
            order.service.parse::<Service>(),
            Ok(Service::FullPorting | Service::OutboundOnly)
        );
        if let (true, Some(numbers)) = (porting_or_outbound, &order.numbers) {
            self.in_inventory(numbers, &mut checked).await?;
        }
        Ok(checked)
    }

    /// Adds a problem for each number (not already refused) that the inventory holds.
    async fn in_inventory(&self, numbers: &[String], checked: &mut Checked) -> Result<()> {
        let refused: std::collections::HashSet<String> =
            checked.problems.iter().map(|p| p.field.clone()).collect();
        let mut at: HashMap<String, usize> = HashMap::new();
        for (i, n) in numbers.iter().enumerate() {
            if refused.contains(&format!("numbers[{i}]")) || refused.contains("numbers") {
                continue;
            }
            if let Some(e) = normalise_number(n) {
                at.entry(e).or_insert(i);
            }
        }
        if at.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = at.keys().cloned().collect();
        let mut sql = Sql::new("SELECT number, status FROM dids WHERE");
        sql.push_in_texts(
            matches!(self.backend, Backend::Postgres(_)),
            "number",
            &list,
        );
        let held: Vec<(String, String)> =
            on!(self, |p| bind_all!(sqlx::query_as(&sql.text), sql.params)
                .fetch_all(p)
                .await?);
        let mut found: Vec<(usize, String, String)> = held
            .into_iter()
            .filter_map(|(n, s)| at.get(&n).map(|i| (*i, n, s)))
            .collect();
        found.sort();
        for (i, number, status) in found {
            checked.problems.push(Problem {
                field: format!("numbers[{i}]"),
                code: "in_inventory",
                message: format!(
                    "{number} is already in the inventory ({})",
                    status.replace('_', " ")
                ),
            });
        }
        checked.ok = checked.problems.is_empty();
        if !checked.ok {
            checked.promised_by = None;
        }
        Ok(())
    }
}
