//! Lists of tickets: one filter (state, class, partner, customer, assignee), three orders
//! (newest first, oldest first, the first-response deadline soonest), keyset pages and the
//! count of what the filter matches. The API's list and the portal's read the same.

use chrono::{DateTime, Utc};
use didhub_core::sla::TicketClass;
use didhub_core::ticket::TicketState;
use serde_json::json;
use uuid::Uuid;

use super::{Ticket, TicketRow};
use crate::accounts::orgs::Scope;
use crate::db::sql::{bind_all, decode_cursor, encode_cursor, Param, Sql};
use crate::{on, Page, Result, StoreError, Support};

/// What lists of tickets filter on, and their order.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub state: Option<TicketState>,
    pub class: Option<TicketClass>,
    pub partner_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
    pub sort: TicketSort,
}

/// The order of a list of tickets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TicketSort {
    /// The highest number first.
    #[default]
    Newest,
    /// The lowest number first.
    Oldest,
    /// The first-response deadline soonest first (then by number).
    Due,
}

impl TicketSort {
    pub const ALL: [TicketSort; 3] = [TicketSort::Newest, TicketSort::Oldest, TicketSort::Due];

    pub fn as_str(&self) -> &'static str {
        match self {
            TicketSort::Newest => "newest",
            TicketSort::Oldest => "oldest",
            TicketSort::Due => "due",
        }
    }
}

impl std::str::FromStr for TicketSort {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let t = s.trim();
        TicketSort::ALL
            .into_iter()
            .find(|v| v.as_str() == t)
            .ok_or_else(|| format!("unknown sort '{t}' (expected one of: newest, oldest, due)"))
    }
}

/// The filter's conditions, after a `WHERE`.
fn push_filter(sql: &mut Sql, scope: Scope, f: &TicketFilter) {
    sql.push(" WHERE 1=1");
    if let Some(p) = scope.partner().or(f.partner_id) {
        sql.push(" AND t.partner_id = ").bind(Param::Uuid(p));
    }
    if let Some(c) = f.customer_id {
        sql.push(" AND t.customer_id = ").bind(Param::Uuid(c));
    }
    if let Some(a) = f.assignee_id {
        sql.push(" AND t.assignee_id = ").bind(Param::Uuid(a));
    }
    if let Some(s) = f.state {
        sql.push(" AND t.state = ")
            .bind(Param::Text(s.as_str().into()));
    }
    if let Some(c) = f.class {
        sql.push(" AND t.class = ")
            .bind(Param::Text(c.as_str().into()));
    }
}

impl Support<'_> {
    /// Tickets in the filter's order, a page of `limit`.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn list_tickets(
        &self,
        scope: Scope,
        f: &TicketFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Ticket>> {
        let mut sql = Sql::new(super::TICKET_SELECT);
        push_filter(&mut sql, scope, f);
        if let Some(c) = cursor {
            let bad = || StoreError::invalid("cursor", "not a cursor returned by this API");
            let v = decode_cursor(c)?;
            match f.sort {
                TicketSort::Newest | TicketSort::Oldest => {
                    let after = v.as_i64().ok_or_else(bad)?;
                    let op = if f.sort == TicketSort::Newest {
                        " AND t.ref < "
                    } else {
                        " AND t.ref > "
                    };
                    sql.push(op).bind(Param::Int(after));
                }
                TicketSort::Due => {
                    let due: DateTime<Utc> =
                        v[0].as_str().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
                    let after = v[1].as_i64().ok_or_else(bad)?;
                    sql.push(" AND (t.first_response_due, t.ref) > (")
                        .bind(Param::Time(due))
                        .push(", ")
                        .bind(Param::Int(after))
                        .push(")");
                }
            }
        }
        let limit = limit.clamp(1, 1000);
        let order = match f.sort {
            TicketSort::Newest => "t.ref DESC",
            TicketSort::Oldest => "t.ref",
            TicketSort::Due => "t.first_response_due, t.ref",
        };
        sql.push(&format!(" ORDER BY {order} LIMIT {}", limit + 1));
        let rows: Vec<TicketRow> = on!(self, |p| bind_all!(sqlx::query_as(&sql.text), sql.params)
            .fetch_all(p)
            .await?);
        let now = Utc::now();
        let mut items: Vec<Ticket> = rows.into_iter().map(|r| r.into_ticket(now)).collect();
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|t| match f.sort {
                TicketSort::Newest | TicketSort::Oldest => encode_cursor(&json!(t.number)),
                TicketSort::Due => encode_cursor(&json!([t.first_response_due, t.number])),
            })
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// How many tickets the filter matches (its order aside).
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn count_tickets(&self, scope: Scope, f: &TicketFilter) -> Result<i64> {
        let mut sql = Sql::new("SELECT count(*) FROM tickets t");
        push_filter(&mut sql, scope, f);
        let n: i64 = on!(self, |p| bind_all!(
            sqlx::query_scalar(&sql.text),
            sql.params
        )
        .fetch_one(p)
        .await?);
        Ok(n)
    }
}
