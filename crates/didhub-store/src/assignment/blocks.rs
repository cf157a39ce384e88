//! Free-block counts and block allocation. `stock_blocks` counts the in-stock numbers of every
//! aligned block of 100 … 100,000 per operator, country and type; every change of a DID into or
//! out of stock adjusts it in the same transaction. Allocation then looks at blocks, not at
//! the stock, so its cost grows with the block size, not with the inventory.

use std::collections::{BTreeMap, HashMap};

use didhub_core::blocks::{check_size, digits, prefix, range, ORDERABLE, TRACKED};
use didhub_core::did::DidStatus;
use didhub_core::number::{Country, NumberType};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::sql::{bind_all, on_tx, Param, Sql, Tx};
use crate::{Result, StoreError};

/// One number entering (+1) or leaving (-1) the stock.
pub(crate) struct StockDelta<'a> {
    pub number: &'a str,
    pub operator_id: Uuid,
    pub country: &'a str,
    pub number_type: &'a str,
    pub delta: i64,
}

type Key = (u32, String, Uuid, String, String);

/// Rows per statement when SQLite takes them as one JSON parameter. SQLite finds a numbered
/// parameter by a linear scan of the statement's list, so binding P placeholders costs O(P²):
/// multi-row `VALUES` of 1,000 placeholders made a quarter of a 1M-row import's CPU.
const SQLITE_JSON_ROWS: usize = 5_000;

fn json_rows(rows: impl Iterator<Item = serde_json::Value>) -> String {
    serde_json::Value::Array(rows.collect()).to_string()
}

/// Stock changes summed per block of 100 (and operator, country, type), to be recorded in
/// `stock_deltas` by `write`. A writer of many DIDs (an import) sums all of them and writes once.
/// An import adds a row per DID on its writing thread, so a change is found by a key written into
/// a reused buffer (no allocation); the key's parts are kept as text once per block.
#[derive(Default)]
pub(crate) struct StockTally {
    sums: HashMap<Box<[u8]>, TallyRow, foldhash::fast::RandomState>,
    key: Vec<u8>,
}

struct TallyRow {
    prefix: String,
    operator_id: Uuid,
    country: String,
    number_type: String,
    delta: i64,
}

impl StockTally {
    pub fn add(&mut self, d: &StockDelta<'_>) {
        let Some(p) = prefix(d.number, 100) else {
            return;
        };
        // The prefix, country and type hold no NUL and the id is 16 bytes: parts cannot blur.
        self.key.clear();
        for part in [p.as_bytes(), d.operator_id.as_bytes(), d.country.as_bytes()] {
            self.key.extend_from_slice(part);
            self.key.push(0);
        }
        self.key.extend_from_slice(d.number_type.as_bytes());
        if let Some(row) = self.sums.get_mut(self.key.as_slice()) {
            row.delta += d.delta;
            return;
        }
        self.sums.insert(
            self.key.as_slice().into(),
            TallyRow {
                prefix: p.to_string(),
                operator_id: d.operator_id,
                country: d.country.to_string(),
                number_type: d.number_type.to_string(),
                delta: d.delta,
            },
        );
    }

    /// Records the changes in `stock_deltas`, in the writer's transaction. An insert takes no
    /// lock another writer waits on; `fold` adds them to the block counts later.
    pub async fn write(self, tx: &mut Tx) -> Result<()> {
        // In key order, as the counts are folded; a block whose changes cancel out is left out.
        let mut items: Vec<_> = self
            .sums
            .into_values()
            .filter(|r| r.delta != 0)
            .map(|r| ((r.prefix, r.operator_id, r.country, r.number_type), r.delta))
            .collect();
        items.sort_unstable();
        if let Tx::Sqlite(t) = tx {
            for chunk in items.chunks(SQLITE_JSON_ROWS) {
                let rows = json_rows(chunk.iter().map(|((p, op, c, t), v)| {
                    serde_json::json!([p, op.simple().to_string(), c, t, v])
                }));
                sqlx::query(
                    "INSERT INTO stock_deltas (prefix, operator_id, country, number_type, delta) \
                    SELECT r.value ->> 0, unhex(r.value ->> 1), r.value ->> 2, r.value ->> 3, \
                    r.value ->> 4 FROM json_each($1) AS r",
                )
                .bind(rows)
                .execute(&mut **t)
                .await?;
            }
            return Ok(());
        }
        // Five parameters a row: well under PostgreSQL's limit per statement.
        for chunk in items.chunks(200) {
            let mut sql = Sql::new(
                "INSERT INTO stock_deltas (prefix, operator_id, country, number_type, delta) VALUES ",
            );
            for (i, ((p, op, c, t), v)) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(",");
                }
                sql.push("(")
                    .bind(Param::Text(p.clone()))
                    .push(",")
                    .bind(Param::Uuid(*op))
                    .push(",")
                    .bind(Param::Text(c.clone()))
                    .push(",")
                    .bind(Param::Text(t.clone()))
                    .push(",")
                    .bind(Param::Int(*v))
                    .push(")");
            }
            on_tx!(tx, |c| bind_all!(sqlx::query(&sql.text), sql.params)
                .execute(&mut *c)
                .await?
                .rows_affected());
        }
        Ok(())
    }
}

/// Records stock changes in the writer's transaction (see `StockTally`).
pub(crate) async fn adjust(tx: &mut Tx, deltas: &[StockDelta<'_>]) -> Result<()> {
    let mut tally = StockTally::default();
    for d in deltas {
        tally.add(d);
    }
    tally.write(tx).await
}

/// Folds the recorded stock changes into the block counts of every tracked size. The deltas
/// are claimed by deleting them, so concurrent folds (other instances, the background pass)
/// never count one twice; counts are written in key order, so folds cannot deadlock.
pub(crate) async fn fold(tx: &mut Tx) -> Result<usize> {
    let rows: Vec<(String, Uuid, String, String, i64)> = on_tx!(tx, |c| sqlx::query_as(
        "DELETE FROM stock_deltas RETURNING prefix, operator_id, country, number_type, delta"
    )
    .fetch_all(&mut *c)
    .await?);
    let n = rows.len();
    let mut sum: BTreeMap<Key, i64> = BTreeMap::new();
    for (p100, op, country, number_type, delta) in rows {
        // A number of the block of 100, so that every level's prefix comes from the one rule.
        let number = format!("{p100}00");
        for size in TRACKED {
            if let Some(p) = prefix(&number, size) {
                *sum.entry((
                    size,
                    p.to_string(),
                    op,
                    country.clone(),
                    number_type.clone(),
                ))
                .or_default() += delta;
            }
        }
    }
    let items: Vec<(Key, i64)> = sum.into_iter().filter(|(_, v)| *v != 0).collect();
    if let Tx::Sqlite(t) = tx {
        for chunk in items.chunks(SQLITE_JSON_ROWS) {
            let rows = json_rows(chunk.iter().map(|((size, p, op, c, t), v)| {
                serde_json::json!([size, p, op.simple().to_string(), c, t, v])
            }));
            // `WHERE true` keeps SQLite from reading ON CONFLICT as a join constraint.
            sqlx::query(
                "INSERT INTO stock_blocks (size, prefix, operator_id, country, number_type, \
                free) SELECT r.value ->> 0, r.value ->> 1, unhex(r.value ->> 2), r.value \
                ->> 3, r.value ->> 4, r.value ->> 5 FROM json_each($1) AS r WHERE true ON \
                CONFLICT (size, prefix, operator_id, country, number_type) DO UPDATE SET \
                free = stock_blocks.free + excluded.free",
            )
            .bind(rows)
            .execute(&mut **t)
            .await?;
        }
        return Ok(n);
    }
    for chunk in items.chunks(200) {
        let mut sql = Sql::new(
            "INSERT INTO stock_blocks (size, prefix, operator_id, country, number_type, \
            free) VALUES ",
        );
        for (i, ((size, p, op, c, t), v)) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(",");
            }
            sql.push("(")
                .bind(Param::Int(*size as i64))
                .push(",")
                .bind(Param::Text(p.clone()))
                .push(",")
                .bind(Param::Uuid(*op))
                .push(",")
                .bind(Param::Text(c.clone()))
                .push(",")
                .bind(Param::Text(t.clone()))
                .push(",")
                .bind(Param::Int(*v))
                .push(")");
        }
        sql.push(
            " ON CONFLICT (size, prefix, operator_id, country, number_type) DO UPDATE \
            SET free = stock_blocks.free + excluded.free",
        );
        on_tx!(tx, |c| bind_all!(sqlx::query(&sql.text), sql.params)
            .execute(&mut *c)
            .await?
            .rows_affected());
    }
    Ok(n)
}

/// Stock deltas for a status change of one DID (and an operator change).
pub(crate) fn status_change<'a>(
    number: &'a str,
    country: &'a str,
    number_type: &'a str,
    from: (DidStatus, Uuid),
    to: (DidStatus, Uuid),
) -> Vec<StockDelta<'a>> {
    let mut v = Vec::new();
    if from.0 == DidStatus::InStock && (to.0 != DidStatus::InStock || to.1 != from.1) {
        v.push(StockDelta {
            number,
            operator_id: from.1,
            country,
            number_type,
            delta: -1,
        });
    }
    if to.0 == DidStatus::InStock && (from.0 != DidStatus::InStock || to.1 != from.1) {
        v.push(StockDelta {
            number,
            operator_id: to.1,
            country,
            number_type,
            delta: 1,
        });
    }
    v
}

/// A block to allocate.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    /// 10, 100, 1000 or 10000.
    pub size: u32,
    /// ISO 3166 alpha-2.
    #[schema(value_type = String)]
    pub country: Country,
    /// e.g. `fixed_line`.
    #[schema(value_type = String)]
    pub number_type: NumberType,
    /// Only from this operator (default: any; a block never mixes operators).
    pub operator_id: Option<Uuid>,
    /// Only numbers starting with this: `+` and digits, a country and area code (`+3220`).
    #[serde(default)]
    pub within: Option<String>,
}

impl BlockRequest {
    /// Checks `within`: `+` and 1 to 14 digits.
    pub fn check(&self) -> Result<()> {
        if let Some(w) = &self.within {
            let digits = w.strip_prefix('+').unwrap_or("");
            if digits.is_empty() || digits.len() > 14 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(StoreError::invalid(
                    "within",
                    format!("'{w}' is not a number prefix: + and up to 14 digits (+3220)"),
                ));
            }
        }
        Ok(())
    }
}

/// A found block: its first and last number and operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Block {
    pub first: String,
    pub last: String,
    pub size: u32,
    pub operator_id: Uuid,
}

/// Free whole blocks per size, for the "nothing found" answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Availability {
    pub size: u32,
    pub free_blocks: i64,
}

fn filters(sql: &mut Sql, req: &BlockRequest, alias: &str) {
    sql.push(&format!(" AND {alias}.country = "))
        .bind(Param::Text(req.country.to_string()));
    sql.push(&format!(" AND {alias}.number_type = "))
        .bind(Param::Text(req.number_type.as_str().into()));
    if let Some(o) = req.operator_id {
        sql.push(&format!(" AND {alias}.operator_id = "))
            .bind(Param::Uuid(o));
    }
}

/// Numbers (`d.number`) within the request's prefix, when it names one.
fn within(sql: &mut Sql, req: &BlockRequest) {
    if let Some(p) = &req.within {
        sql.push(" AND d.number >= ")
            .bind(Param::Text(p.clone()))
            .push(" AND d.number < ")
            .bind(Param::Text(didhub_core::number::prefix_upper_bound(p)));
    }
}

/// A wholly free child block of `size` inside the block `parent` (of `parent_size`).
async fn full_child(
    tx: &mut Tx,
    parent: &str,
    parent_size: u32,
    op: Uuid,
    req: &BlockRequest,
) -> Result<Option<String>> {
    let size = req.size;
    if size >= 100 {
        let (lo, hi) = (parent.to_string(), format!("{parent}:"));
        let sql = "SELECT prefix FROM stock_blocks WHERE size = $1 AND prefix >= $2 AND prefix \
            < $3 AND free = $1 AND operator_id = $4 AND country = $5 AND number_type = \
            $6 ORDER BY prefix LIMIT 1";
        let r: Option<String> = on_tx!(tx, |c| sqlx::query_scalar(sql)
            .bind(size as i64)
            .bind(&lo)
            .bind(&hi)
            .bind(op)
            .bind(req.country.as_str())
            .bind(req.number_type.as_str())
            .fetch_optional(&mut *c)
            .await?);
        Ok(r)
    } else {
        // Blocks of 10 are counted from the DIDs of the parent (at most `parent_size` rows).
        let (first, last) = range(parent, parent_size);
        let sql = "SELECT substr(number, 1, length(number) - 1) AS p FROM dids WHERE number >= \
            $1 AND number <= $2 AND status = 'in_stock' AND operator_id = $3 AND \
            country = $4 AND number_type = $5 GROUP BY substr(number, 1, length(number) \
            - 1) HAVING count(*) = 10 ORDER BY p LIMIT 1";
        let r: Option<String> = on_tx!(tx, |c| sqlx::query_scalar(sql)
            .bind(&first)
            .bind(&last)
            .bind(op)
            .bind(req.country.as_str())
            .bind(req.number_type.as_str())
            .fetch_optional(&mut *c)
            .await?);
        Ok(r)
    }
}

/// Best fit: a free block inside the most used (fewest free numbers) partly used enclosing
/// block, smallest enclosing size first, so that large free runs stay whole while smaller ones
/// exist; only then the first wholly free larger block.
pub(crate) async fn find(tx: &mut Tx, req: &BlockRequest) -> Result<Option<Block>> {
    if req.within.is_some() {
        // `stock_blocks` counts whole blocks, not blocks within an area: look at the area's
        // stock itself (its in-stock numbers, an index range).
        return find_grouped(tx, req, None).await;
    }
    fold(tx).await?;
    let size = check_size(req.size).map_err(|e| StoreError::invalid("size", e))?;
    let k = digits(size);
    for level in TRACKED.into_iter().filter(|l| *l > size) {
        // Counting blocks of 10 from the DIDs is cheap only inside small parents.
        if size == 10 && level > 1_000 {
            break;
        }
        let mut sql =
            Sql::new("SELECT b.prefix, b.operator_id FROM stock_blocks b WHERE b.size = ");
        sql.bind(Param::Int(level as i64))
            .push(" AND b.free >= ")
            .bind(Param::Int(size as i64))
            .push(" AND b.free < ")
            .bind(Param::Int(level as i64));
        filters(&mut sql, req, "b");
        sql.push(" ORDER BY b.free, b.prefix LIMIT 32");
        let parents: Vec<(String, Uuid)> =
            on_tx!(tx, |c| bind_all!(sqlx::query_as(&sql.text), sql.params)
                .fetch_all(&mut *c)
                .await?);
        for (p, op) in parents {
            if let Some(child) = full_child(tx, &p, level, op, req).await? {
                let (first, last) = range(&child, size);
                return Ok(Some(Block {
                    first,
                    last,
                    size,
                    operator_id: op,
                }));
            }
        }
    }
    // Best fit looked at the 32 most used parents of each level. A block of 10 can also sit in
    // any other partly used block of 100 (whole free blocks of 100 and more are found below):
    // one statement reads the in-stock numbers of those blocks (an index range each) and
    // takes the first whole ten, so a fragmented stock costs one query, not one per block.
    if size == 10 {
        let mut sql = Sql::new(
            "SELECT substr(d.number, 1, length(d.number) - 1) AS p, d.operator_id FROM \
            stock_blocks b JOIN dids d ON d.number >= b.prefix || '00' AND d.number <= \
            b.prefix || '99' AND length(d.number) = length(b.prefix) + 2 AND \
            d.operator_id = b.operator_id AND d.country = b.country AND d.number_type = \
            b.number_type WHERE b.size = 100 AND b.free >= 10 AND b.free < 100 AND \
            d.status = 'in_stock'",
        );
        filters(&mut sql, req, "b");
        // Fullest enclosing block first, as best fit above.
        sql.push(
            " GROUP BY d.operator_id, substr(d.number, 1, length(d.number) - 1) HAVING \
            count(*) = 10 ORDER BY max(b.free), p LIMIT 1",
        );
        let r: Option<(String, Uuid)> =
            on_tx!(tx, |c| bind_all!(sqlx::query_as(&sql.text), sql.params)
                .fetch_optional(&mut *c)
                .await?);
        if let Some((child, op)) = r {
            let (first, last) = range(&child, size);
            return Ok(Some(Block {
                first,
                last,
                size,
                operator_id: op,
            }));
        }
    }
    // No partly used block has room: take the first wholly free block of the smallest size.
    for level in TRACKED.into_iter().filter(|l| *l >= size.max(100)) {
        let mut sql =
            Sql::new("SELECT b.prefix, b.operator_id FROM stock_blocks b WHERE b.size = ");
        sql.bind(Param::Int(level as i64))
            .push(" AND b.free = ")
            .bind(Param::Int(level as i64));
        filters(&mut sql, req, "b");
        sql.push(" ORDER BY b.prefix LIMIT 1");
        let r: Option<(String, Uuid)> =
            on_tx!(tx, |c| bind_all!(sqlx::query_as(&sql.text), sql.params)
                .fetch_optional(&mut *c)
                .await?);
        if let Some((p, op)) = r {
            let child = format!("{p}{}", "0".repeat(digits(level) - k));
            let (first, last) = range(&child, size);
            return Ok(Some(Block {
                first,
                last,
                size,
                operator_id: op,
            }));
        }
    }
    Ok(None)
}

/// Appends: the in-stock DIDs of a country and type (carrying `tag`, within the request's
/// prefix, when given), grouped by the block of
/// `size` each falls in, as (p: block prefix, operator_id, free: free tagged numbers). The
/// prefix length comes from `size`, never from input, so it is written into the statement.
fn push_groups(sql: &mut Sql, req: &BlockRequest, tag: Option<&str>, size: u32) {
    let k = digits(size);
    sql.push(&format!(
        "SELECT substr(d.number, 1, length(d.number) - {k}) AS p, d.operator_id AS \
            operator_id, count(*) AS free FROM dids d WHERE d.status = 'in_stock'"
    ));
    if let Some(tag) = tag {
        sql.push(" AND d.tag = ").bind(Param::Text(tag.to_string()));
    }
    filters(sql, req, "d");
    within(sql, req);
    sql.push(&format!(
        " GROUP BY substr(d.number, 1, length(d.number) - {k}), d.operator_id"
    ));
}

/// A block for a package that takes only DIDs with a tag. `stock_blocks` does not count by
/// tag, so this looks at the tagged stock itself (its cost grows with the in-stock numbers
/// carrying that tag in that country and type, not with the whole stock). Best fit one level
/// up: the free block whose enclosing block of ten times its size has the fewest free tagged
/// numbers, so that whole larger runs stay whole while smaller ones exist.
pub(crate) async fn find_grouped(
    tx: &mut Tx,
    req: &BlockRequest,
    tag: Option<&str>,
) -> Result<Option<Block>> {
    let size = check_size(req.size).map_err(|e| StoreError::invalid("size", e))?;
    let mut sql = Sql::new("WITH b AS (");
    push_groups(&mut sql, req, tag, size);
    sql.push("), u AS (");
    push_groups(&mut sql, req, tag, size * 10);
    sql.push(&format!(
        ") SELECT b.p, b.operator_id FROM b JOIN u ON u.p = substr(b.p, 1, \
            length(b.p) - 1) AND u.operator_id = b.operator_id WHERE b.free = {size} \
            ORDER BY u.free, b.p LIMIT 1"
    ));
    let r: Option<(String, Uuid)> =
        on_tx!(tx, |c| bind_all!(sqlx::query_as(&sql.text), sql.params)
            .fetch_optional(&mut *c)
            .await?);
    Ok(r.map(|(p, op)| {
        let (first, last) = range(&p, size);
        Block {
            first,
            last,
            size,
            operator_id: op,
        }
    }))
}

/// What a tagged package could have instead: free tagged numbers, and wholly free blocks of
/// each orderable size among them.
pub(crate) async fn availability_grouped(
    tx: &mut Tx,
    req: &BlockRequest,
    tag: Option<&str>,
) -> Result<Vec<Availability>> {
    let mut out = Vec::new();
    for size in std::iter::once(1).chain(ORDERABLE) {
        let mut sql = Sql::new("SELECT count(*) FROM (");
        if size == 1 {
            sql.push("SELECT 1 FROM dids d WHERE d.status = 'in_stock'");
            if let Some(tag) = tag {
                sql.push(" AND d.tag = ").bind(Param::Text(tag.to_string()));
            }
            filters(&mut sql, req, "d");
            within(&mut sql, req);
        } else {
            push_groups(&mut sql, req, tag, size);
            sql.push(&format!(" HAVING count(*) = {size}"));
        }
        sql.push(") t");
        let n: i64 = on_tx!(tx, |c| bind_all!(sqlx::query_scalar(&sql.text), sql.params)
            .fetch_one(&mut *c)
            .await?);
        out.push(Availability {
            size,
            free_blocks: n,
        });
    }
    Ok(out)
}

/// Wholly free blocks per tracked size for a country and type.
pub(crate) async fn availability(tx: &mut Tx, req: &BlockRequest) -> Result<Vec<Availability>> {
    if req.within.is_some() {
        return availability_grouped(tx, req, None).await;
    }
    fold(tx).await?;
    let mut out = Vec::new();
    for size in TRACKED {
        let mut sql = Sql::new("SELECT count(*) FROM stock_blocks b WHERE b.size = ");
        sql.bind(Param::Int(size as i64))
            .push(" AND b.free = ")
            .bind(Param::Int(size as i64));
        filters(&mut sql, req, "b");
        let n: i64 = on_tx!(tx, |c| bind_all!(sqlx::query_scalar(&sql.text), sql.params)
            .fetch_one(&mut *c)
            .await?);
        out.push(Availability {
            size,
            free_blocks: n,
        });
    }
    let mut sql = Sql::new("SELECT count(*) FROM dids b WHERE b.status = 'in_stock'");
    filters(&mut sql, req, "b");
    let n: i64 = on_tx!(tx, |c| bind_all!(sqlx::query_scalar(&sql.text), sql.params)
        .fetch_one(&mut *c)
        .await?);
    out.insert(
        0,
        Availability {
            size: 1,
            free_blocks: n,
        },
    );
    Ok(out)
}
