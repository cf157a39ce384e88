//! The stock as the staff dashboard shows it: in-stock DIDs per country and number type.

use serde::Serialize;

use crate::{on, Inventory, Result};

/// In-stock DIDs of one country and number type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct StockCount {
    pub country: String,
    pub number_type: String,
    pub count: i64,
}

impl Inventory<'_> {
    /// In-stock DIDs per country and number type, by country then type. Counted from the DIDs
    /// themselves (exact at the time of the read), not from the block counts that allocation
    /// keeps (those lag by the stock changes not yet folded).
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn stock_by_country_and_type(&self) -> Result<Vec<StockCount>> {
        Ok(on!(self, |p| sqlx::query_as(
            "SELECT country, number_type, count(*) AS count FROM dids WHERE status = 'in_stock' \
            GROUP BY country, number_type ORDER BY country, number_type"
        )
        .fetch_all(p)
        .await?))
    }
}
