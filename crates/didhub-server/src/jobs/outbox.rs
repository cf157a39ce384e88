//! The outbox worker: sends queued mails over SMTP (`lettre`, pooled connections, several
//! at once), or, with no SMTP server configured, writes each as `<message-id>.eml` in a
//! directory (atomically; the bytes SMTP would carry).
//!
//! Delivery is at least once, and exactly once in practice: a mail is claimed under a lease,
//! sent under its stable Message-ID, and recorded `sent` by one short UPDATE as soon as the
//! server accepted it (its reply to the end of DATA). The one window: a crash after the
//! server's acceptance and before that UPDATE commits. The mail is then sent again when its
//! lease ends, with the same Message-ID and bytes, which a receiver that removes duplicates by
//! Message-ID (the desk's inbound mail does) drops. The window is kept to that one statement:
//! each mail is recorded on its own, right after its acceptance, never in a batch at the end.
//! A send is only started in the first half of its claim's lease and is cut off at the other
//! half, so a lease never ends while a send is in flight and no second worker takes a mail
//! that is still being sent.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use didhub_core::mail::RetryPolicy;
use didhub_store::mail::{Attempted, OutboxMail};
use didhub_store::{Store, StoreError};
use futures::StreamExt;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::client::TlsParameters;

use super::smtp_pool::SmtpPool;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("smtp_url: {0}")]
    Url(String),
    #[error("SMTP TLS: {0}")]
    Tls(String),
    #[error("mail directory {path}: {error}")]
    Dir {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP (a relay on the same host or network).
    None,
    /// STARTTLS, required (`smtp://…?tls=starttls`).
    StartTls,
    /// TLS from the first byte (`smtps://…`).
    Wrapper,
}

/// Where mail goes: `smtp://host[:port]` (plain, port 25), `smtp://host[:port]?tls=starttls`
/// (STARTTLS required, port 587), `smtps://host[:port]` (TLS, port 465). Credentials never
/// go in the URL (it is shown in logs): `DIDHUB_SMTP_USER`, `DIDHUB_SMTP_PASSWORD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpTarget {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
}

impl SmtpTarget {
    pub fn parse(s: &str) -> Result<SmtpTarget, OutboxError> {
        let bad = |m: &str| OutboxError::Url(m.to_string());
        let u = url::Url::parse(s.trim()).map_err(|e| bad(&format!("not a URL ({e})")))?;
        if !u.username().is_empty() || u.password().is_some() {
            return Err(bad(
                "credentials do not go in the URL: set DIDHUB_SMTP_USER and DIDHUB_SMTP_PASSWORD",
            ));
        }
        if !matches!(u.path(), "" | "/") || u.fragment().is_some() {
            return Err(bad(
                "the URL takes no path: smtp://host[:port][?tls=starttls]",
            ));
        }
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let mut tls = match u.scheme() {
            "smtp" => SmtpTls::None,
            "smtps" => SmtpTls::Wrapper,
            other => {
                return Err(bad(&format!(
                    "scheme '{other}': use smtp:// (with ?tls=starttls for STARTTLS) or smtps://"
                )))
            }
        };
        for (k, v) in u.query_pairs() {
            match (k.as_ref(), v.as_ref(), tls) {
                ("tls", "starttls", SmtpTls::None) => tls = SmtpTls::StartTls,
                ("tls", "none", SmtpTls::None) => {}
                ("tls", _, SmtpTls::Wrapper) => {
                    return Err(bad("smtps:// is TLS already; tls= is for smtp://"))
                }
                ("tls", v, _) => {
                    return Err(bad(&format!("tls={v}: use tls=starttls or tls=none")))
                }
                (k, _, _) => return Err(bad(&format!("unknown parameter '{k}' (only tls)"))),
            }
        }
        let port = u.port().unwrap_or(match tls {
            SmtpTls::None => 25,
            SmtpTls::StartTls => 587,
            SmtpTls::Wrapper => 465,
        });
        Ok(SmtpTarget { host, port, tls })
    }
}

impl fmt::Display for SmtpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.tls {
            SmtpTls::None => write!(f, "smtp://{host}:{}", self.port),
            SmtpTls::StartTls => write!(f, "smtp://{host}:{}?tls=starttls", self.port),
            SmtpTls::Wrapper => write!(f, "smtps://{host}:{}", self.port),
        }
    }
}

/// An SMTP login. Its Debug form hides both parts.
#[derive(Clone)]
pub struct SmtpLogin {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for SmtpLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmtpLogin(…)")
    }
}

/// Where the worker puts mails.
#[derive(Debug, Clone)]
pub enum Delivery {
    Smtp {
        target: SmtpTarget,
        login: Option<SmtpLogin>,
    },
    /// No SMTP server: each mail a `.eml` file in this directory.
    Files(PathBuf),
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delivery::Smtp { target, .. } => write!(f, "{target}"),
            Delivery::Files(d) => write!(f, ".eml files in {}", d.display()),
        }
    }
}

/// The worker's settings.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    pub delivery: Delivery,
    pub policy: RetryPolicy,
    /// How long a claim holds its mails against other workers (a crashed worker's mails wait
    /// this long to be sent again).
    pub lease: Duration,
    /// Mails sent at once (SMTP connections kept open).
    pub concurrency: usize,
    /// Mails per claim.
    pub batch: u32,
    /// How often an idle worker looks for due mails.
    pub poll_every: Duration,
    /// Longest wait for one SMTP command.
    pub smtp_timeout: Duration,
}

/// The default lease: 5 minutes.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(300);

impl OutboxConfig {
    pub fn new(delivery: Delivery) -> OutboxConfig {
        OutboxConfig {
            delivery,
            policy: RetryPolicy::default(),
            lease: DEFAULT_LEASE,
            concurrency: 8,
            batch: 64,
            poll_every: Duration::from_secs(1),
            smtp_timeout: Duration::from_secs(30),
        }
    }
}

/// What one drain did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Drained {
    pub sent: u64,
    /// Failed attempts that will be tried again.
    pub retrying: u64,
    /// Mails given up after their last attempt.
    pub failed: u64,
    /// Claimed mails given back unattempted (their lease ran short).
    pub released: u64,
}

impl Drained {
    pub fn is_empty(&self) -> bool {
        *self == Drained::default()
    }
}

enum Sender {
    Smtp(SmtpPool),
    Files(PathBuf),
}

/// The worker: a store, a way out for mails, and its settings.
pub struct Outbox {
    store: Store,
    cfg: OutboxConfig,
    sender: Sender,
}

enum Outcome {
    Sent,
    Retrying,
    Failed,
    Released,
    /// Nothing recorded (a lost claim, a database error): the lease brings it back.
    Left,
}

impl Outbox {
    pub fn new(store: Store, cfg: OutboxConfig) -> Result<Outbox, OutboxError> {
        let sender = match &cfg.delivery {
            Delivery::Smtp { target, login } => {
                let tls_params = || {
                    TlsParameters::new(target.host.clone())
                        .map_err(|e| OutboxError::Tls(e.to_string()))
                };
                let tls = match target.tls {
                    SmtpTls::None => None,
                    SmtpTls::StartTls | SmtpTls::Wrapper => Some(tls_params()?),
                };
                Sender::Smtp(SmtpPool::new(
                    target.clone(),
                    login.as_ref(),
                    tls,
                    cfg.smtp_timeout,
                    cfg.concurrency,
                ))
            }
            Delivery::Files(dir) => {
                std::fs::create_dir_all(dir).map_err(|error| OutboxError::Dir {
                    path: dir.clone(),
                    error,
                })?;
                Sender::Files(dir.clone())
            }
        };
        Ok(Outbox { store, cfg, sender })
    }

    pub fn config(&self) -> &OutboxConfig {
        &self.cfg
    }

    /// Sends every mail due now: claims until a claim comes back empty.
    pub async fn drain(&self) -> Result<Drained, StoreError> {
        let mut done = Drained::default();
        loop {
            let claim = self
                .store
                .mail()
                .claim(self.cfg.batch, self.cfg.lease)
                .await?;
            if claim.mails.is_empty() {
                return Ok(done);
            }
            let started = Instant::now();
            let counts = [(); 5].map(|_| AtomicU64::new(0));
            futures::stream::iter(&claim.mails)
                .for_each_concurrent(self.cfg.concurrency.max(1), |m| {
                    let counts = &counts;
                    async move {
                        let i = match self.deliver(m, claim.token, started).await {
                            Outcome::Sent => 0,
                            Outcome::Retrying => 1,
                            Outcome::Failed => 2,
                            Outcome::Released => 3,
                            Outcome::Left => 4,
                        };
                        counts[i].fetch_add(1, Ordering::Relaxed);
                    }
                })
                .await;
            let n = |i: usize| counts[i].load(Ordering::Relaxed);
            done.sent += n(0);
            done.retrying += n(1);
            done.failed += n(2);
            done.released += n(3);
            metrics::counter!("didhub_mail_sent_total").increment(n(0));
            metrics::counter!("didhub_mail_retries_total").increment(n(1));
            metrics::counter!("didhub_mail_failed_total").increment(n(2));
        }
    }

    /// One claimed mail: sent and recorded, or its failed attempt recorded.
    async fn deliver(&self, m: &OutboxMail, token: uuid::Uuid, claimed: Instant) -> Outcome {
        let mail = self.store.mail();
        let half = self.cfg.lease / 2;
        if claimed.elapsed() >= half {
            return match mail.release(m.id, token).await {
                Ok(()) => Outcome::Released,
                Err(e) => {
                    tracing::warn!(message_id = %m.message_id, "outbox: release: {e}");
                    Outcome::Left
                }
            };
        }
        let (envelope, bytes) = match message(m) {
            Ok(msg) => (msg.envelope().clone(), msg.formatted()),
            // Retrying cannot mend a mail lettre cannot write (an address it refuses).
            Err(e) => {
                let once = RetryPolicy {
                    max_attempts: 1,
                    ..self.cfg.policy
                };
                return self.failed_attempt(m, token, &e, &once).await;
            }
        };
        let left = half.saturating_sub(claimed.elapsed());
        let sent = match tokio::time::timeout(left, self.send(m, &envelope, &bytes)).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "no answer within {} s (the claim's half-lease)",
                left.as_secs()
            )),
        };
        match sent {
            // Recorded at once: the window for a second send is this one statement.
            Ok(()) => match mail.mark_sent(m.id).await {
                Ok(_) => Outcome::Sent,
                Err(e) => {
                    tracing::error!(
                        message_id = %m.message_id,
                        "outbox: sent, but not recorded ({e}); it will be sent again after its \
                        lease, under the same Message-ID"
                    );
                    Outcome::Left
                }
            },
            Err(e) => self.failed_attempt(m, token, &e, &self.cfg.policy).await,
        }
    }

    async fn failed_attempt(
        &self,
        m: &OutboxMail,
        token: uuid::Uuid,
        error: &str,
        policy: &RetryPolicy,
    ) -> Outcome {
        match self
            .store
            .mail()
            .mark_attempt_failed(m, token, error, policy)
            .await
        {
            Ok(Attempted::Retry(at)) => {
                tracing::info!(message_id = %m.message_id, attempts = m.attempts, next = %at,
                    "outbox: attempt failed: {error}");
                Outcome::Retrying
            }
            Ok(Attempted::Failed) => {
                tracing::warn!(message_id = %m.message_id, attempts = m.attempts,
                    "outbox: mail failed after its last attempt: {error}");
                Outcome::Failed
            }
            Ok(Attempted::NotMine) => Outcome::Left,
            Err(e) => {
                tracing::warn!(message_id = %m.message_id, "outbox: recording a failure: {e}");
                Outcome::Left
            }
        }
    }

    async fn send(
        &self,
        m: &OutboxMail,
        envelope: &lettre::address::Envelope,
        bytes: &[u8],
    ) -> Result<(), String> {
        match &self.sender {
            Sender::Smtp(pool) => pool.send(envelope, bytes).await,
            Sender::Files(dir) => {
                let dir = dir.clone();
                let name = format!("{}.eml", m.message_id.bare());
                let bytes = bytes.to_vec();
                tokio::task::spawn_blocking(move || write_atomically(&dir, &name, &bytes))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// Runs the worker until the process ends: drains, then waits `poll_every`.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tracing::info!(delivery = %self.cfg.delivery, "outbox worker started");
        tokio::spawn(async move {
            loop {
                match self.drain().await {
                    Ok(d) if !d.is_empty() => tracing::info!(
                        sent = d.sent,
                        retrying = d.retrying,
                        failed = d.failed,
                        released = d.released,
                        "outbox drained"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("outbox worker: {e}"),
                }
                tokio::time::sleep(self.cfg.poll_every).await;
            }
        })
    }
}

/// `name` in `dir` with `bytes`, whole or not at all: a temporary file synced, renamed over
/// the name, and the directory synced.
fn write_atomically(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

/// The message a queued mail becomes: its headers (From, To, Subject, Date of its queueing,
/// Message-ID, In-Reply-To, References) and its text body, the same bytes on every attempt.
pub fn message(m: &OutboxMail) -> Result<lettre::Message, String> {
    let mailbox = |s: &str| {
        s.parse::<Mailbox>()
            .map_err(|e| format!("address '{s}': {e}"))
    };
    let mut b = lettre::Message::builder()
        .from(mailbox(&m.from)?)
        .subject(m.subject.clone())
        .date(m.created_at.into())
        .message_id(Some(m.message_id.to_string()));
    for to in &m.to {
        b = b.to(mailbox(to)?);
    }
    if let Some(parent) = &m.in_reply_to {
        b = b.in_reply_to(parent.to_string());
    }
    if !m.references.is_empty() {
        let refs: Vec<&str> = m.references.iter().map(|r| r.as_str()).collect();
        b = b.references(refs.join(" "));
    }
    b.header(ContentType::TEXT_PLAIN)
        .body(m.body.clone())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls() {
        let t = |s: &str| SmtpTarget::parse(s).map(|t| t.to_string());
        assert_eq!(
            t("smtp://mail.example.com").unwrap(),
            "smtp://mail.example.com:25"
        );
        assert_eq!(t("smtp://127.0.0.1:2525").unwrap(), "smtp://127.0.0.1:2525");
        assert_eq!(
            t("smtp://mx.example.com?tls=starttls").unwrap(),
            "smtp://mx.example.com:587?tls=starttls"
        );
        assert_eq!(
            t("smtps://mx.example.com").unwrap(),
            "smtps://mx.example.com:465"
        );
        assert_eq!(t("smtp://[::1]:25").unwrap(), "smtp://[::1]:25");
        for bad in [
            "mail.example.com",
            "http://x",
            "smtp://user:secret@x",
            "smtp://x/path",
            "smtp://x?tls=maybe",
            "smtps://x?tls=starttls",
            "smtp://x?port=1",
            "smtp://",
        ] {
            let e = SmtpTarget::parse(bad).unwrap_err().to_string();
            assert!(!e.contains("secret"), "{e}");
        }
    }

    #[test]
    fn logins_do_not_print() {
        let l = SmtpLogin {
            user: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{l:?}").contains("hunter2"));
    }
}
