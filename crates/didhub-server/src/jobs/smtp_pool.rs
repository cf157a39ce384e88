//! SMTP connections kept open between mails, each with `TCP_NODELAY`.
//!
//! lettre writes a message and its terminating `.` in two writes; with Nagle's algorithm the
//! second waits for the server to acknowledge the first, and servers delay that ACK (40 ms on
//! Linux): one mail per 40 ms a connection, whatever the machine. lettre's own transport gives
//! no hold on its sockets, so plain and STARTTLS connections are opened here (a socket with
//! `TCP_NODELAY`, handed to lettre's connection). TLS from the start (`smtps`) goes through
//! lettre's connector, which keeps Nagle's algorithm (see docs/OPERATIONS.md).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;

use super::outbox::{SmtpLogin, SmtpTarget, SmtpTls};

/// A connection idle longer than this is checked (NOOP) before it carries a mail: servers
/// close idle connections, and a mail must not be lost to one closed under it.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(5);

pub(crate) struct SmtpPool {
    target: SmtpTarget,
    credentials: Option<Credentials>,
    tls: Option<TlsParameters>,
    timeout: Duration,
    hello: ClientId,
    max_idle: usize,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl SmtpPool {
    pub(crate) fn new(
        target: SmtpTarget,
        login: Option<&SmtpLogin>,
        tls: Option<TlsParameters>,
        timeout: Duration,
        max_idle: usize,
    ) -> SmtpPool {
        SmtpPool {
            target,
            credentials: login.map(|l| Credentials::new(l.user.clone(), l.password.clone())),
            tls,
            timeout,
            hello: ClientId::default(),
            max_idle: max_idle.max(1),
            idle: Mutex::new(Vec::new()),
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, String> {
        let addr = (self.target.host.as_str(), self.target.port);
        let mut conn = match (&self.target.tls, &self.tls) {
            (SmtpTls::Wrapper, Some(tls)) => AsyncSmtpConnection::connect_tokio1(
                addr,
                Some(self.timeout),
                &self.hello,
                Some(tls.clone()),
                None,
            )
            .await
            .map_err(|e| e.to_string())?,
            _ => {
                let stream =
                    tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect(addr))
                        .await
                        .map_err(|_| "connection timed out".to_string())?
                        .map_err(|e| format!("connection error: {e}"))?;
                stream
                    .set_nodelay(true)
                    .map_err(|e| format!("connection error: {e}"))?;
                let mut conn =
                    AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
                        .await
                        .map_err(|e| e.to_string())?;
                if let (SmtpTls::StartTls, Some(tls)) = (&self.target.tls, &self.tls) {
                    conn.starttls(tls.clone(), &self.hello)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                conn
            }
        };
        if let Some(c) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, c)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(conn)
    }

    /// A connection to send on: an idle one (checked if it idled long), else a new one.
    async fn take(&self) -> Result<AsyncSmtpConnection, String> {
        loop {
            let next = self.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
            let Some((mut conn, since)) = next else {
                return self.connect().await;
            };
            if since.elapsed() < CHECK_AFTER_IDLE || conn.test_connected().await {
                return Ok(conn);
            }
            conn.abort().await;
        }
    }

    /// Sends one message; the connection goes back to the pool unless it broke.
    pub(crate) async fn send(&self, envelope: &Envelope, bytes: &[u8]) -> Result<(), String> {
        let mut conn = self.take().await?;
        let r = conn.send(envelope, bytes).await;
        if conn.has_broken() {
            conn.abort().await;
        } else if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < self.max_idle {
                idle.push((conn, Instant::now()));
            }
        }
        r.map(|_| ()).map_err(|e| e.to_string())
    }
}
