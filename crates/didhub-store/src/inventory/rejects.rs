//! The rejected rows of imports made through the API, kept as CSV for the user who made the
//! import to download. In the database (not on one instance's disk), so that any instance
//! serves the link; in parts, so that neither keeping nor serving one holds it whole.

use std::path::Path;

use tokio::io::AsyncReadExt;
use uuid::Uuid;

use crate::{now, on, Inventory, Result, StoreError};

/// How long a rejects CSV is kept.
pub const KEPT_FOR: chrono::Duration = chrono::Duration::hours(24);
/// Largest rejects CSV kept (its rows beyond are counted in the report, not kept).
pub const MAX_KEPT_BYTES: u64 = 64 << 20;
/// Rejects CSVs kept per user: the latest ones.
pub const KEPT_PER_USER: i64 = 10;
/// Bytes of one stored part.
const PART_BYTES: usize = 1 << 20;

impl Inventory<'_> {
    /// Keeps the rejects CSV at `file` for `user`; returns its id. Expired ones, and the
    /// user's beyond the latest [`KEPT_PER_USER`], go.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn keep_import_rejects(&self, user: Uuid, file: &Path) -> Result<Uuid> {
        let id = crate::new_id();
        let at = now();
        let mut f = tokio::fs::File::open(file).await?;
        let mut tx = self.begin().await?;
        crate::db::sql::on_tx!(&mut tx, |c| {
            sqlx::query("DELETE FROM import_rejects WHERE expires_at <= $1")
                .bind(at)
                .execute(&mut *c)
                .await?;
            sqlx::query(
                "DELETE FROM import_rejects WHERE user_id = $1 AND id NOT IN (SELECT id FROM \
                import_rejects WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT \
                $2)",
            )
            .bind(user)
            .bind(KEPT_PER_USER - 1)
            .execute(&mut *c)
            .await?;
            sqlx::query("INSERT INTO import_rejects (id, user_id, created_at, expires_at) VALUES ($1,$2,$3,$4)")
                .bind(id).bind(user).bind(at).bind(at + KEPT_FOR).execute(&mut *c).await?;
        });
        let mut buf = vec![0u8; PART_BYTES];
        let mut seq = 0i32;
        loop {
            // A full part unless the file ends.
            let mut len = 0;
            while len < buf.len() {
                let n = f.read(&mut buf[len..]).await?;
                if n == 0 {
                    break;
                }
                len += n;
            }
            if len == 0 {
                break;
            }
            let part = &buf[..len];
            crate::db::sql::on_tx!(&mut tx, |c| {
                sqlx::query(
                    "INSERT INTO import_reject_parts (rejects_id, seq, data) VALUES ($1,$2,$3)",
                )
                .bind(id)
                .bind(seq)
                .bind(part)
                .execute(&mut *c)
                .await?;
            });
            seq += 1;
            if len < buf.len() {
                break;
            }
        }
        tx.commit().await?;
        Ok(id)
    }

    /// How many parts the kept rejects CSV `id` has, if `user` may read it: another user's,
    /// an expired or an unknown one is not found.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn import_rejects_parts(&self, id: Uuid, user: Uuid) -> Result<i32> {
        let found: Option<(i64,)> = on!(self, |p| {
            sqlx::query_as(
                "SELECT (SELECT count(*) FROM import_reject_parts WHERE rejects_id = r.id) \
                FROM import_rejects r WHERE r.id = $1 AND r.user_id = $2 AND r.expires_at > \
                $3",
            )
            .bind(id)
            .bind(user)
            .bind(now())
            .fetch_optional(p)
            .await?
        });
        match found {
            Some((n,)) => Ok(n as i32),
            None => Err(StoreError::NotFound {
                entity: "import rejects",
                id: id.to_string(),
            }),
        }
    }

    /// Part `seq` of the kept rejects CSV `id` (checked by `import_rejects_parts`).
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn import_rejects_part(&self, id: Uuid, seq: i32) -> Result<Vec<u8>> {
        let part: Option<(Vec<u8>,)> = on!(self, |p| sqlx::query_as(
            "SELECT data FROM import_reject_parts WHERE rejects_id = $1 AND seq = $2"
        )
        .bind(id)
        .bind(seq)
        .fetch_optional(p)
        .await?);
        part.map(|(d,)| d).ok_or_else(|| StoreError::NotFound {
            entity: "import rejects",
            id: id.to_string(),
        })
    }
}
