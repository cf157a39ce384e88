//! Rows as the API and CLI see them.

use chrono::{DateTime, Utc};
use didhub_core::did::DidStatus;
use didhub_core::number::{Country, NumberType};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[cfg(unix)]
fn uid() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .ok()
        .map(|m| format!("uid:{}", m.uid()))
}

#[cfg(not(unix))]
fn uid() -> Option<String> {
    None
}

/// Who did something, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    /// The command line's actor: `cli:` and who runs it, from `DIDHUB_ACTOR` (for jobs that
    /// run as a service account: say who they are for), `USER` or `LOGNAME`, else the user
    /// id (`uid:N`) where the system tells it, else `unknown`. Kept to 100 characters, without
    /// control characters.
    pub fn cli() -> Actor {
        let named = ["DIDHUB_ACTOR", "USER", "LOGNAME"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .map(|v| {
                v.trim()
                    .chars()
                    .filter(|c| !c.is_control() && !didhub_core::did::is_bidi_control(*c))
                    .take(100)
                    .collect::<String>()
            })
            .find(|v| !v.is_empty());
        let user = named.or_else(uid).unwrap_or_else(|| "unknown".into());
        Actor(format!("cli:{user}"))
    }
    pub fn system() -> Actor {
        Actor("system".into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, PartialEq, utoipa::ToSchema)]
pub struct Operator {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    /// How many DIDs reference it.
    #[sqlx(default)]
    pub did_count: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Did {
    pub id: Uuid,
    pub number: String,
    pub country: String,
    #[serde(rename = "type")]
    pub number_type: String,
    pub operator_id: Uuid,
    pub operator: String,
    pub status: DidStatus,
    pub after_hold: DidStatus,
    pub tag: Option<String>,
    pub notes: Option<String>,
    /// The customer it is assigned to (assigned or on hold).
    pub customer_id: Option<Uuid>,
    pub client_package_id: Option<Uuid>,
    /// Where calls go: `pbx:<id>` or a SIP URI.
    pub destination: Option<String>,
    /// When a DID on hold goes to its after-hold status.
    #[serde(serialize_with = "rfc3339_opt")]
    pub hold_until: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// The same text as chrono's own `Serialize` (RFC 3339, `Z`, only the sub-second digits there
/// are), through its direct RFC 3339 writer instead of the `Debug` formatting machinery: a
/// list page writes 300 of them.
fn rfc3339<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

fn rfc3339_opt<S: serde::Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

/// A DID row in the column order of `dids::DID_SELECT` (decoded by position: a list page
/// decodes 101 rows of 17 columns, and a lookup by name per column showed in profiles).
pub(crate) struct DidRow {
    pub id: Uuid,
    pub number: String,
    pub country: String,
    pub number_type: String,
    pub operator_id: Uuid,
    pub operator: String,
    pub status: String,
    pub after_hold: String,
    pub tag: Option<String>,
    pub notes: Option<String>,
    pub customer_id: Option<Uuid>,
    pub client_package_id: Option<Uuid>,
    pub destination: Option<String>,
    pub hold_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for DidRow
where
    usize: sqlx::ColumnIndex<R>,
    Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(DidRow {
            id: row.try_get(0)?,
            number: row.try_get(1)?,
            country: row.try_get(2)?,
            number_type: row.try_get(3)?,
            operator_id: row.try_get(4)?,
            operator: row.try_get(5)?,
            status: row.try_get(6)?,
            after_hold: row.try_get(7)?,
            tag: row.try_get(8)?,
            notes: row.try_get(9)?,
            customer_id: row.try_get(10)?,
            client_package_id: row.try_get(11)?,
            destination: row.try_get(12)?,
            hold_until: row.try_get(13)?,
            created_at: row.try_get(14)?,
            updated_at: row.try_get(15)?,
            version: row.try_get(16)?,
        })
    }
}

impl From<DidRow> for Did {
    fn from(r: DidRow) -> Did {
        Did {
            id: r.id,
            number: r.number,
            country: r.country,
            number_type: r.number_type,
            operator_id: r.operator_id,
            operator: r.operator,
            // The schema's CHECK constraints keep these to known names.
            status: r.status.parse().unwrap_or(DidStatus::Archive),
            after_hold: r.after_hold.parse().unwrap_or(DidStatus::InStock),
            tag: r.tag,
            notes: r.notes,
            customer_id: r.customer_id,
            client_package_id: r.client_package_id,
            destination: r.destination,
            hold_until: r.hold_until,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        }
    }
}

/// Which DIDs a list, count, export or bulk edit applies to. All parts are ANDed.
#[derive(
    Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema, utoipa::IntoParams,
)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DidFilter {
    /// Number prefix in E.164 (`+44207`); digits without `+` are accepted.
    pub prefix: Option<String>,
    /// ISO 3166 alpha-2 country (`XX`: non-geographic numbers).
    #[serde(default, deserialize_with = "didhub_core::edge::recorded_country")]
    #[schema(value_type = Option<String>)]
    #[param(value_type = Option<String>)]
    pub country: Option<Country>,
    /// Number type, e.g. `mobile`.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "didhub_core::edge::blank_or"
    )]
    #[schema(value_type = Option<String>)]
    #[param(value_type = Option<String>)]
    pub number_type: Option<NumberType>,
    pub status: Option<DidStatus>,
    /// The operator by id.
    pub operator_id: Option<Uuid>,
    /// The operator by name (case-insensitive); a name no operator has matches no DID.
    pub operator: Option<String>,
    /// Exact tag.
    pub tag: Option<String>,
    /// Case-insensitive substring of the notes.
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DidSort {
    #[default]
    Number,
    Created,
    Updated,
    Status,
    Country,
}

impl DidSort {
    /// The name a request gives the sort (`sort=`).
    pub fn name(&self) -> &'static str {
        match self {
            DidSort::Number => "number",
            DidSort::Created => "created",
            DidSort::Updated => "updated",
            DidSort::Status => "status",
            DidSort::Country => "country",
        }
    }

    pub(crate) fn column(&self) -> &'static str {
        match self {
            DidSort::Number => "d.number",
            DidSort::Created => "d.id",
            DidSort::Updated => "d.updated_at",
            DidSort::Status => "d.status",
            DidSort::Country => "d.country",
        }
    }
}

impl std::str::FromStr for DidSort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "number" => DidSort::Number,
            "created" | "created_at" => DidSort::Created,
            "updated" | "updated_at" => DidSort::Updated,
            "status" => DidSort::Status,
            "country" => DidSort::Country,
            _ => {
                return Err(format!(
                    "unknown sort '{s}' (expected number, created, updated, status or country)"
                ))
            }
        })
    }
}

/// A page of results and the cursor for the next one.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<Uuid>,
    /// The number or name the entry is about (kept after a delete).
    pub subject: Option<String>,
    /// Field diff `{"field": [before, after]}` or a summary of a batch.
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
    pub reason: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<Uuid>,
    pub subject: Option<String>,
    pub changes: String,
    pub reason: Option<String>,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            entity: r.entity,
            entity_id: r.entity_id,
            subject: r.subject,
            changes: serde_json::from_str(&r.changes)
                .unwrap_or(serde_json::Value::String(r.changes)),
            reason: r.reason,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    pub entity: Option<String>,
    pub entity_id: Option<Uuid>,
    pub action: Option<String>,
    pub actor: Option<String>,
    /// The number (or operator name) the entry is about.
    pub subject: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Ours {
        #[serde(serialize_with = "rfc3339")]
        t: DateTime<Utc>,
        #[serde(serialize_with = "rfc3339_opt")]
        o: Option<DateTime<Utc>>,
    }

    #[derive(Serialize)]
    struct Chrono {
        t: DateTime<Utc>,
        o: Option<DateTime<Utc>>,
    }

    #[test]
    fn timestamps_serialise_as_chrono_does() {
        let base = DateTime::parse_from_rfc3339("2026-11-22T04:20:08Z")
            .unwrap()
            .with_timezone(&Utc);
        for nanos in [0, 5_000_000, 123_456_000, 123_456_789, 999_999_999] {
            let t = base + chrono::Duration::nanoseconds(nanos);
            for o in [None, Some(t)] {
                assert_eq!(
                    serde_json::to_string(&Ours { t, o }).unwrap(),
                    serde_json::to_string(&Chrono { t, o }).unwrap()
                );
            }
        }
    }
}
