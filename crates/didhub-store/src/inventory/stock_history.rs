//! The stock of each day: in-stock DIDs per country and number type, recorded by the server
//! (at start, then hourly: the day's row is replaced until the day ends), read by the
//! dashboard's chart of stock over time and its forecast of days left
//! (`didhub_core::forecast`).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::db::sql::on_tx;
use crate::{now, on, retry, Inventory, Result};

/// The in-stock DIDs of one country and number type on one day (UTC), as last recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct StockDay {
    pub day: NaiveDate,
    pub country: String,
    pub number_type: String,
    pub in_stock: i64,
    pub recorded_at: DateTime<Utc>,
}

impl Inventory<'_> {
    /// Records the stock now as the stock of `day`: a row per country and number type in
    /// stock, and a zero for each one recorded in the 31 days before that has none left (so
    /// that a stock run out reads as an outflow, not as a gap). Replaces `day`'s rows; safe to
    /// run on several servers at once (the last one's count stays). Returns the rows written.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn record_stock_day(&self, day: NaiveDate) -> Result<usize> {
        let since = day - chrono::Duration::days(31);
        retry(|| async {
            let mut tx = self.begin().await?;
            let counts: Vec<(String, String, i64)> = on_tx!(&mut tx, |c| sqlx::query_as(
                "SELECT country, number_type, count(*) FROM dids WHERE status = 'in_stock' \
                GROUP BY country, number_type"
            )
            .fetch_all(&mut *c)
            .await?);
            let known: Vec<(String, String)> = on_tx!(&mut tx, |c| {
                sqlx::query_as(
                "SELECT DISTINCT country, number_type FROM stock_daily WHERE day >= $1 AND day \
                <= $2"
            )
            .bind(since)
            .bind(day)
            .fetch_all(&mut *c)
            .await?
            });
            let mut rows = counts;
            for (country, number_type) in known {
                if !rows
                    .iter()
                    .any(|(c, t, _)| *c == country && *t == number_type)
                {
                    rows.push((country, number_type, 0));
                }
            }
            let at = now();
            for (country, number_type, n) in &rows {
                on_tx!(&mut tx, |c| sqlx::query(
                    "INSERT INTO stock_daily (day, country, number_type, in_stock, recorded_at) \
                    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (day, country, number_type) DO \
                    UPDATE SET in_stock = excluded.in_stock, recorded_at = excluded.recorded_at"
                )
                .bind(day)
                .bind(country)
                .bind(number_type)
                .bind(n)
                .bind(at)
                .execute(&mut *c)
                .await?
                .rows_affected());
            }
            tx.commit().await?;
            Ok(rows.len())
        })
        .await
    }

    /// The recorded stock of the days from `since` on, by day, then country and type.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn stock_history(&self, since: NaiveDate) -> Result<Vec<StockDay>> {
        Ok(on!(self, |p| sqlx::query_as(
            "SELECT day, country, number_type, in_stock, recorded_at FROM stock_daily WHERE day \
            >= $1 ORDER BY day, country, number_type"
        )
        .bind(since)
        .fetch_all(p)
        .await?))
    }
}
