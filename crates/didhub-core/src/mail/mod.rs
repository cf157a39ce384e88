//! Outgoing mail: the message as it is queued (rendered once, at enqueue, so that every retry
//! sends the same bytes), stable Message-IDs, the templates, and the outbox's retry rule.
//!
//! Templates are text files (`templates/mail/NAME.txt`, compiled in): a first line
//! `Subject: …`, an empty line, then the body, both in minijinja's syntax. A directory of
//! files of the same names replaces them one by one (`mail_templates`); each replacement is
//! rendered with sample values when it is loaded, so a broken one stops the start, never a
//! change that mails.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    #[error("mail template {name}: {message}")]
    Template { name: String, message: String },
    #[error("no mail template is called '{0}' (known: {known})", known = TemplateName::names())]
    UnknownTemplate(String),
    #[error("'{0}' is not an e-mail address")]
    Address(String),
    #[error("{0}")]
    Recipients(String),
    #[error("'{0}' is not a domain name")]
    Domain(String),
    #[error("'{0}' is not a Message-ID")]
    MessageId(String),
    #[error("{0}")]
    Policy(String),
}

// ---------------------------------------------------------------------------------------
// Addresses, domains, Message-IDs

/// Most recipients of one mail.
pub const MAX_RECIPIENTS: usize = 50;
/// Longest subject kept (characters); a longer one is cut.
pub const MAX_SUBJECT: usize = 250;

/// The address of a From value, `Name <address>` or `address`, checked as every address is.
pub fn from_address(from: &str) -> Result<String, MailError> {
    let t = from.trim();
    let addr = match (t.rfind('<'), t.ends_with('>')) {
        (Some(i), true) => &t[i + 1..t.len() - 1],
        _ => t,
    };
    crate::access::email(addr).map_err(|_| MailError::Address(t.to_string()))
}

/// A domain name as Message-IDs carry it: lower case, dot-separated labels of letters, digits
/// and hyphens (1 to 63 each, not starting or ending with a hyphen), at most 253 in all.
pub fn domain(s: &str) -> Result<String, MailError> {
    let d = s.trim().trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if d.is_empty() || d.len() > 253 || !d.split('.').all(label_ok) {
        return Err(MailError::Domain(s.trim().to_string()));
    }
    Ok(d)
}

/// The host part of a From value's address: the default domain of Message-IDs.
pub fn domain_of(from: &str) -> Result<String, MailError> {
    let addr = from_address(from)?;
    let host = addr.rsplit_once('@').map_or("", |(_, h)| h);
    domain(host)
}

/// The recipients of a mail: each an e-mail address (lower case), repeats dropped, in order;
/// at least one, at most [`MAX_RECIPIENTS`].
pub fn recipients<S: AsRef<str>>(to: &[S]) -> Result<Vec<String>, MailError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for t in to {
        let a = crate::access::email(t.as_ref())
            .map_err(|_| MailError::Address(t.as_ref().trim().to_string()))?;
        if seen.insert(a.clone()) {
            out.push(a);
        }
    }
    if out.is_empty() {
        return Err(MailError::Recipients(
            "a mail needs at least one recipient".into(),
        ));
    }
    if out.len() > MAX_RECIPIENTS {
        return Err(MailError::Recipients(format!(
            "a mail has at most {MAX_RECIPIENTS} recipients, not {}",
            out.len()
        )));
    }
    Ok(out)
}

/// A Message-ID as the header writes it, `<left@right>`. didhub's own are
/// `<uuid@domain>`: unique without coordination, and the same on every retry of the mail.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(String);

impl MessageId {
    /// didhub's Message-ID for the mail `id`, under `domain` (checked by [`domain`]).
    pub fn new(id: Uuid, domain: &str) -> MessageId {
        MessageId(format!("<{}@{}>", id.hyphenated(), domain))
    }

    /// A Message-ID as found in a header, with or without its angle brackets: a left and a
    /// right part around one `@`, no whitespace, control characters or brackets inside.
    pub fn parse(s: &str) -> Result<MessageId, MailError> {
        let t = s.trim();
        let inner = t
            .strip_prefix('<')
            .and_then(|r| r.strip_suffix('>'))
            .unwrap_or(t);
        let ok = inner.len() <= 250
            && inner
                .split_once('@')
                .is_some_and(|(l, r)| !l.is_empty() && !r.is_empty() && !r.contains('@'))
            && !inner
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'));
        if ok {
            Ok(MessageId(format!("<{inner}>")))
        } else {
            Err(MessageId::error(t))
        }
    }

    fn error(s: &str) -> MailError {
        MailError::MessageId(s.chars().take(100).collect())
    }

    /// With its angle brackets, as the header writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Without the angle brackets (file names of the `.eml` fallback).
    pub fn bare(&self) -> &str {
        &self.0[1..self.0.len() - 1]
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---------------------------------------------------------------------------------------
// The queued mail

/// What a mail is about, so that an answer to it finds its way back: an inbound reply names
/// a Message-ID, and the outbox says which order or ticket that mail was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = MailAboutKind)]
pub enum RefKind {
    Order,
    Ticket,
}

impl RefKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            RefKind::Order => "order",
            RefKind::Ticket => "ticket",
        }
    }
}

impl FromStr for RefKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "order" => Ok(RefKind::Order),
            "ticket" => Ok(RefKind::Ticket),
            _ => Err(format!(
                "'{s}' is not a mail subject kind (order or ticket)"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = MailAbout)]
pub struct MailRef {
    pub kind: RefKind,
    pub id: Uuid,
}

/// Where a queued mail stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = OutboxState)]
pub enum MailState {
    /// Waiting for its (next) attempt.
    Pending,
    /// Accepted by the SMTP server (or written as a file).
    Sent,
    /// Given up after the last attempt allowed; its last error is kept.
    Failed,
}

impl MailState {
    pub const ALL: [MailState; 3] = [MailState::Pending, MailState::Sent, MailState::Failed];

    pub fn as_str(&self) -> &'static str {
        match self {
            MailState::Pending => "pending",
            MailState::Sent => "sent",
            MailState::Failed => "failed",
        }
    }
}

impl FromStr for MailState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        MailState::ALL
            .into_iter()
            .find(|m| m.as_str() == s.trim())
            .ok_or_else(|| {
                format!(
                    "'{}' is not a mail state (pending, sent or failed)",
                    s.trim()
                )
            })
    }
}

impl fmt::Display for MailState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A mail ready for the outbox: rendered, addressed, with its Message-ID. Made by
/// `store.mail().compose(…)`; thread it under an earlier mail with [`NewMail::in_reply_to`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMail {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
    pub message_id: MessageId,
    pub in_reply_to: Option<MessageId>,
    /// The thread's earlier Message-IDs, oldest first (the References header).
    pub references: Vec<MessageId>,
    pub about: Option<MailRef>,
}

impl NewMail {
    /// Makes this mail an answer to `parent`, whose own References were `earlier`.
    pub fn in_reply_to(mut self, parent: MessageId, earlier: &[MessageId]) -> NewMail {
        let mut refs: Vec<MessageId> = earlier.to_vec();
        refs.retain(|r| *r != parent);
        refs.push(parent.clone());
        self.references = refs;
        self.in_reply_to = Some(parent);
        self
    }
}

mod retry;
mod templates;

pub use retry::{AfterFailure, RetryPolicy};
pub use templates::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_domains() {
        assert_eq!(
            from_address("didhub <Noreply@Example.com>").unwrap(),
            "noreply@example.com"
        );
        assert_eq!(
            domain_of("noreply@Mail.Example.com").unwrap(),
            "mail.example.com"
        );
        assert!(domain_of("nobody").is_err());
        assert!(domain("exa mple.com").is_err());
        assert!(domain("-x.com").is_err());
        assert_eq!(
            recipients(&["A@x.org", "a@x.org", "b@y.org"]).unwrap(),
            ["a@x.org", "b@y.org"]
        );
        assert!(recipients::<&str>(&[]).is_err());
        assert!(recipients(&["not an address"]).is_err());
    }

    #[test]
    fn message_ids() {
        let id = Uuid::nil();
        let m = MessageId::new(id, "example.com");
        assert_eq!(
            m.as_str(),
            "<00000000-0000-0000-0000-000000000000@example.com>"
        );
        assert_eq!(MessageId::parse(m.bare()).unwrap(), m);
        assert_eq!(MessageId::parse(&format!(" {m} ")).unwrap(), m);
        for bad in ["", "<>", "no-at", "<a@b@c>", "a b@c", "<a@b", "a@"] {
            assert!(MessageId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn threads() {
        let m = |s: &str| MessageId::parse(s).unwrap();
        let mail = NewMail {
            from: "d@x.org".into(),
            to: vec!["a@x.org".into()],
            subject: "s".into(),
            body: "b\n".into(),
            message_id: m("<3@x.org>"),
            in_reply_to: None,
            references: vec![],
            about: None,
        }
        .in_reply_to(m("<2@x.org>"), &[m("<1@x.org>")]);
        assert_eq!(mail.in_reply_to, Some(m("<2@x.org>")));
        assert_eq!(mail.references, [m("<1@x.org>"), m("<2@x.org>")]);
    }
}
