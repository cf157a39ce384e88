//! How many orders a list's filter matches: the count beside a list of orders (the portal's),
//! with the conditions `Ordering::list_orders` applies.

use crate::accounts::orgs::Scope;
use crate::db::sql::{bind_all, Param, Sql};
use crate::ordering::orders::OrderFilter;
use crate::{on, Ordering, Result};

impl Ordering<'_> {
    /// The orders `f` matches in `scope`, all pages together. With `attention` the list is
    /// whole already (`list_orders` gives it in one page), so it is that list's length.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn count_orders(&self, scope: Scope, f: &OrderFilter) -> Result<i64> {
        if f.attention.is_some() {
            let page = self.list_orders(scope, f, None, 1000).await?;
            return Ok(page.items.len() as i64);
        }
        let mut sql = Sql::new("SELECT count(*) FROM orders WHERE 1=1");
        if let Some(p) = scope.partner() {
            sql.push(" AND partner_id = ").bind(Param::Uuid(p));
        }
        if let Some(c) = f.customer_id {
            sql.push(" AND customer_id = ").bind(Param::Uuid(c));
        }
        if let Some(s) = f.state {
            sql.push(" AND state = ")
                .bind(Param::Text(s.as_str().into()));
        }
        Ok(on!(self, |p| bind_all!(
            sqlx::query_scalar(&sql.text),
            sql.params
        )
        .fetch_one(p)
        .await?))
    }
}
