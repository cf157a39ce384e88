use uuid::Uuid;

/// What went wrong in the store. Validation errors name the field and value.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{entity} {id} not found")]
    NotFound { entity: &'static str, id: String },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// Several fields wrong at once (field, message), each reported.
    #[error("{}", .0.iter().map(|(f, m)| format!("{f}: {m}")).collect::<Vec<_>>().join("; "))]
    InvalidFields(Vec<(String, String)>),
    /// A value over its size limit (a document): 413, naming the field.
    #[error("{field}: {message}")]
    TooLarge { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{entity} {id} was changed by someone else (expected version {expected}, now {actual}); reload and retry")]
    VersionMismatch {
        entity: &'static str,
        id: Uuid,
        expected: i64,
        actual: i64,
    },
    /// A row changed between this request's read and its write, and the client had named no
    /// version of its own: the request runs again on the new state (`retry`); 409 if it
    /// keeps happening.
    #[error("{entity} {id} kept changing while this request ran; try again")]
    Raced { entity: &'static str, id: Uuid },
    #[error("{0}")]
    InUse(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// From the SQLite bulk insert, which steps its statement on sqlx's connection directly.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

// SQLite's extended result codes (sqlite3.h), as text like sqlx's `DatabaseError::code`.
const SQLITE_CONSTRAINT_FOREIGNKEY: &str = "787";
const SQLITE_CONSTRAINT_PRIMARYKEY: &str = "1555";
const SQLITE_CONSTRAINT_UNIQUE: &str = "2067";

impl StoreError {
    /// One error, or all of them: `Ok` when `errors` is empty.
    pub fn check_all(mut errors: Vec<(String, String)>) -> std::result::Result<(), Self> {
        match errors.len() {
            0 => Ok(()),
            1 => {
                let (field, message) = errors.remove(0);
                Err(StoreError::Invalid { field, message })
            }
            _ => Err(StoreError::InvalidFields(errors)),
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl ToString) -> Self {
        StoreError::Invalid {
            field: field.into(),
            message: message.to_string(),
        }
    }

    /// A row changed between our read and our conditional write.
    pub fn stale(entity: &'static str, id: Uuid, read: i64) -> Self {
        StoreError::VersionMismatch {
            entity,
            id,
            expected: read,
            actual: read + 1,
        }
    }

    /// A row that changed between this request's read (at version `read`) and its
    /// conditional write: 412 when the client named a version (its precondition no longer
    /// holds), else a race that `retry` settles by running the request again.
    pub fn changed(entity: &'static str, id: Uuid, client: Option<i64>, read: i64) -> Self {
        match client {
            Some(_) => StoreError::stale(entity, id, read),
            None => StoreError::Raced { entity, id },
        }
    }

    pub fn not_found(entity: &'static str, id: impl ToString) -> Self {
        StoreError::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    pub(crate) fn db_code(&self) -> Option<String> {
        match self {
            StoreError::Db(sqlx::Error::Database(d)) => d.code().map(|c| c.into_owned()),
            // The extended result code, as sqlx reports it for SQLite.
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                Some(e.extended_code.to_string())
            }
            _ => None,
        }
    }

    /// A single-statement write that could not do all it was asked (`didhub_expect`).
    pub(crate) fn is_incomplete(&self) -> bool {
        self.db_code().as_deref() == Some("DH409")
    }

    /// Serialization failure, deadlock (PostgreSQL) or busy/locked (SQLite).
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Raced { .. })
            || matches!(
                self.db_code().as_deref(),
                Some("40001") | Some("40P01") | Some("5") | Some("6") | Some("517") | Some("261")
            )
    }

    /// A foreign key violation: a row still referenced, or a reference to a missing row.
    pub fn is_foreign_key_violation(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(d)) => d.is_foreign_key_violation(),
            StoreError::Sqlite(_) => {
                self.db_code().as_deref() == Some(SQLITE_CONSTRAINT_FOREIGNKEY)
            }
            _ => false,
        }
    }

    /// A unique constraint violation.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(d)) => d.is_unique_violation(),
            StoreError::Sqlite(_) => matches!(
                self.db_code().as_deref(),
                Some(SQLITE_CONSTRAINT_UNIQUE) | Some(SQLITE_CONSTRAINT_PRIMARYKEY)
            ),
            _ => false,
        }
    }
}
