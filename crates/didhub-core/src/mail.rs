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
use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
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

// ---------------------------------------------------------------------------------------
// Templates

/// The mail templates didhub ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemplateName {
    OrderStatus,
    TicketNew,
    TicketReply,
    TicketSla,
    TicketAnswer,
    Test,
}

const BUILTIN: [(TemplateName, &str); 6] = [
    (
        TemplateName::OrderStatus,
        include_str!("../templates/mail/order_status.txt"),
    ),
    (
        TemplateName::TicketNew,
        include_str!("../templates/mail/ticket_new.txt"),
    ),
    (
        TemplateName::TicketReply,
        include_str!("../templates/mail/ticket_reply.txt"),
    ),
    (
        TemplateName::TicketSla,
        include_str!("../templates/mail/ticket_sla.txt"),
    ),
    (
        TemplateName::TicketAnswer,
        include_str!("../templates/mail/ticket_answer.txt"),
    ),
    (
        TemplateName::Test,
        include_str!("../templates/mail/test.txt"),
    ),
];

impl TemplateName {
    pub const ALL: [TemplateName; 6] = [
        TemplateName::OrderStatus,
        TemplateName::TicketNew,
        TemplateName::TicketReply,
        TemplateName::TicketSla,
        TemplateName::TicketAnswer,
        TemplateName::Test,
    ];

    /// Its file's name without `.txt`.
    pub fn as_str(&self) -> &'static str {
        match self {
            TemplateName::OrderStatus => "order_status",
            TemplateName::TicketNew => "ticket_new",
            TemplateName::TicketReply => "ticket_reply",
            TemplateName::TicketSla => "ticket_sla",
            TemplateName::TicketAnswer => "ticket_answer",
            TemplateName::Test => "test",
        }
    }

    fn names() -> String {
        TemplateName::ALL.map(|t| t.as_str()).join(", ")
    }

    /// The built-in file's text.
    pub fn builtin_source(&self) -> &'static str {
        BUILTIN
            .iter()
            .find(|(n, _)| n == self)
            .map_or("", |(_, s)| s)
    }

    /// Values to render the template with when it is loaded (a check of a replacement).
    fn sample(&self) -> MailTemplate {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let ticket = TicketMail {
            number: 1,
            subject: "subject".into(),
            message: "message".into(),
            partner: "partner".into(),
            author: "author".into(),
        };
        match self {
            TemplateName::OrderStatus => MailTemplate::OrderStatus(OrderStatusMail {
                order_id: "order".into(),
                customer: "customer".into(),
                state: "registered".into(),
                reason: Some("reason".into()),
                promised_date: NaiveDate::from_ymd_opt(2026, 1, 2),
            }),
            TemplateName::TicketNew => MailTemplate::TicketNew(ticket),
            TemplateName::TicketReply => MailTemplate::TicketReply(ticket),
            TemplateName::TicketSla => MailTemplate::TicketSla(TicketSlaMail {
                number: 1,
                subject: "subject".into(),
                partner: "partner".into(),
                class: "critical".into(),
                due: at,
                breached: true,
            }),
            TemplateName::TicketAnswer => MailTemplate::TicketAnswer(TicketAnswerMail {
                subject: "subject".into(),
                answer: "answer".into(),
            }),
            TemplateName::Test => MailTemplate::Test(TestMail {
                requested_by: "cli:admin".into(),
                at,
            }),
        }
    }
}

impl FromStr for TemplateName {
    type Err = MailError;
    fn from_str(s: &str) -> Result<Self, MailError> {
        TemplateName::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| MailError::UnknownTemplate(s.to_string()))
    }
}

/// `order_status`: an order changed state.
#[derive(Debug, Clone, Serialize)]
pub struct OrderStatusMail {
    /// The order as its customer knows it.
    pub order_id: String,
    pub customer: String,
    /// The new state (`registered`, `awaiting_documents`, …).
    pub state: String,
    /// Why (a rejection's reason, a moved porting date's cause).
    pub reason: Option<String>,
    pub promised_date: Option<NaiveDate>,
}

/// `ticket_new` and `ticket_reply`: a ticket opened, a message added to it.
#[derive(Debug, Clone, Serialize)]
pub struct TicketMail {
    /// The ticket's number: `[#N]` in the subject.
    pub number: i64,
    pub subject: String,
    pub message: String,
    pub partner: String,
    /// Who wrote the message.
    pub author: String,
}

/// `ticket_sla`: a ticket's first response is due soon, or was missed.
#[derive(Debug, Clone, Serialize)]
pub struct TicketSlaMail {
    pub number: i64,
    pub subject: String,
    pub partner: String,
    /// `critical` or `standard`.
    pub class: String,
    pub due: DateTime<Utc>,
    pub breached: bool,
}

/// `ticket_answer`: the automatic answer to an inbound mail that was appended to no ticket
/// (it names none, or a closed one).
#[derive(Debug, Clone, Serialize)]
pub struct TicketAnswerMail {
    /// The subject of the mail answered.
    pub subject: String,
    /// Why nothing was appended, and what to do instead.
    pub answer: String,
}

/// `test`: `didhub mail test`.
#[derive(Debug, Clone, Serialize)]
pub struct TestMail {
    pub requested_by: String,
    pub at: DateTime<Utc>,
}

/// A template with the values it is rendered with.
#[derive(Debug, Clone)]
pub enum MailTemplate {
    OrderStatus(OrderStatusMail),
    TicketNew(TicketMail),
    TicketReply(TicketMail),
    TicketSla(TicketSlaMail),
    TicketAnswer(TicketAnswerMail),
    Test(TestMail),
}

impl MailTemplate {
    pub fn name(&self) -> TemplateName {
        match self {
            MailTemplate::OrderStatus(_) => TemplateName::OrderStatus,
            MailTemplate::TicketNew(_) => TemplateName::TicketNew,
            MailTemplate::TicketReply(_) => TemplateName::TicketReply,
            MailTemplate::TicketSla(_) => TemplateName::TicketSla,
            MailTemplate::TicketAnswer(_) => TemplateName::TicketAnswer,
            MailTemplate::Test(_) => TemplateName::Test,
        }
    }

    fn values(&self) -> minijinja::Value {
        use minijinja::value::Serde;
        match self {
            MailTemplate::OrderStatus(v) => Serde(v).into(),
            MailTemplate::TicketNew(v) | MailTemplate::TicketReply(v) => Serde(v).into(),
            MailTemplate::TicketSla(v) => Serde(v).into(),
            MailTemplate::TicketAnswer(v) => Serde(v).into(),
            MailTemplate::Test(v) => Serde(v).into(),
        }
    }
}

/// A rendered subject and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

/// The mail templates in use: the built-in ones, each replaced by a file of its name when one
/// was given.
pub struct Templates {
    env: Environment<'static>,
    replaced: Vec<TemplateName>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates")
            .field("replaced", &self.replaced)
            .finish()
    }
}

static BUILTIN_TEMPLATES: LazyLock<Templates> = LazyLock::new(|| {
    // The built-in files are checked by the tests; one that fails to parse would fail here.
    Templates::with_replacements(Vec::new()).unwrap_or_else(|e| panic!("{e}"))
});

/// A template file's subject line and body.
fn split(name: &str, source: &str) -> Result<(String, String), MailError> {
    let bad = |m: &str| MailError::Template {
        name: name.to_string(),
        message: m.to_string(),
    };
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let (first, rest) = source.split_once('\n').unwrap_or((source, ""));
    let first = first.trim_end_matches('\r');
    let subject = first
        .get(..8)
        .filter(|p| p.eq_ignore_ascii_case("subject:"))
        .map(|_| first[8..].trim())
        .ok_or_else(|| bad("the first line must be `Subject: …`"))?;
    let body = rest
        .strip_prefix("\r\n")
        .or_else(|| rest.strip_prefix('\n'))
        .unwrap_or(rest);
    Ok((subject.to_string(), body.to_string()))
}

impl Templates {
    /// The built-in templates.
    pub fn builtin() -> &'static Templates {
        &BUILTIN_TEMPLATES
    }

    /// The built-in templates with some replaced: `(file name without .txt, text)`. A name
    /// that is no template's, a file that does not parse, or one that fails to render with
    /// sample values is refused, naming the file.
    pub fn with_replacements(files: Vec<(String, String)>) -> Result<Templates, MailError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .map_err(|e| MailError::Template {
                name: "(syntax)".into(),
                message: e.to_string(),
            })?;
        env.set_syntax(syntax);
        let mut replaced = Vec::new();
        let mut sources: Vec<(TemplateName, String)> =
            BUILTIN.iter().map(|(n, s)| (*n, s.to_string())).collect();
        for (name, text) in files {
            let t: TemplateName = name.parse()?;
            if let Some(slot) = sources.iter_mut().find(|(n, _)| *n == t) {
                slot.1 = text;
            }
            replaced.push(t);
        }
        for (t, text) in sources {
            let (subject, body) = split(t.as_str(), &text)?;
            let err = |e: minijinja::Error| MailError::Template {
                name: t.as_str().to_string(),
                message: e.to_string(),
            };
            env.add_template_owned(format!("{}.subject", t.as_str()), subject)
                .map_err(err)?;
            env.add_template_owned(format!("{}.body", t.as_str()), body)
                .map_err(err)?;
        }
        let templates = Templates { env, replaced };
        for t in TemplateName::ALL {
            templates.render(&t.sample())?;
        }
        Ok(templates)
    }

    /// The templates replaced by files.
    pub fn replaced(&self) -> &[TemplateName] {
        &self.replaced
    }

    /// Renders a template: its subject on one line (control characters and runs of spaces
    /// made one space, cut at [`MAX_SUBJECT`] characters), its body with `\n` line ends and
    /// no control characters but tabs.
    pub fn render(&self, t: &MailTemplate) -> Result<Rendered, MailError> {
        let name = t.name().as_str();
        let err = |e: minijinja::Error| MailError::Template {
            name: name.to_string(),
            message: e.to_string(),
        };
        let values = t.values();
        let subject = self
            .env
            .get_template(&format!("{name}.subject"))
            .and_then(|tpl| tpl.render(&values))
            .map_err(err)?;
        let body = self
            .env
            .get_template(&format!("{name}.body"))
            .and_then(|tpl| tpl.render(&values))
            .map_err(err)?;
        let subject = one_line(&subject);
        if subject.is_empty() {
            return Err(MailError::Template {
                name: name.to_string(),
                message: "the subject renders empty".into(),
            });
        }
        Ok(Rendered {
            subject,
            body: clean_body(&body),
        })
    }
}

/// A header value on one line: every control character and run of whitespace one space.
fn one_line(s: &str) -> String {
    let words: Vec<&str> = s
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect();
    words.join(" ").chars().take(MAX_SUBJECT).collect()
}

/// A body with `\n` line ends, no other control characters than tabs, ending in a newline.
fn clean_body(s: &str) -> String {
    let unified = s.replace("\r\n", "\n").replace('\r', "\n");
    let mut out: String = unified
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------------------
// Retries

/// How the outbox retries a mail: a first wait after the first failed attempt, doubling
/// after each further one up to a cap, and a last attempt after which the mail is failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 1 minute, 2, 4 … up to an hour; failed after the 10th attempt (about 4 hours on).
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            first_delay: Duration::from_secs(60),
            max_delay: Duration::from_secs(3600),
        }
    }
}

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryIn(Duration),
    GiveUp,
}

impl RetryPolicy {
    /// Refuses a policy that could not work: no attempt at all, a zero first wait, a cap
    /// below the first wait.
    pub fn check(&self) -> Result<(), MailError> {
        if self.max_attempts == 0 {
            return Err(MailError::Policy(
                "mail_max_attempts must be at least 1".into(),
            ));
        }
        if self.first_delay.is_zero() {
            return Err(MailError::Policy(
                "mail_retry_min must be at least 1 second".into(),
            ));
        }
        if self.max_delay < self.first_delay {
            return Err(MailError::Policy(format!(
                "mail_retry_max ({} s) must not be below mail_retry_min ({} s)",
                self.max_delay.as_secs(),
                self.first_delay.as_secs()
            )));
        }
        Ok(())
    }

    /// The wait after `attempts` failed attempts (1 or more): the first wait doubled for each
    /// attempt after the first, never above the cap.
    pub fn delay(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(32);
        self.first_delay
            .checked_mul(1u32 << doublings.min(31))
            .map_or(self.max_delay, |d| d.min(self.max_delay))
    }

    /// After the attempt numbered `attempts` failed: wait and retry, or give up.
    pub fn after_failure(&self, attempts: u32) -> AfterFailure {
        if attempts >= self.max_attempts {
            AfterFailure::GiveUp
        } else {
            AfterFailure::RetryIn(self.delay(attempts))
        }
    }
}

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

    #[test]
    fn subjects_stay_on_one_line() {
        let t = Templates::builtin();
        let r = t
            .render(&MailTemplate::TicketReply(TicketMail {
                number: 7,
                subject: "line\r\nBcc: x@evil.example\u{0}".into(),
                message: "hello\r\nworld\u{7}".into(),
                partner: "p".into(),
                author: "a".into(),
            }))
            .unwrap();
        assert_eq!(r.subject, "[#7] line Bcc: x@evil.example");
        assert!(r.body.contains("hello\nworld\n"), "{}", r.body);
        assert!(!r.body.contains('\r'));
    }

    #[test]
    fn a_replacement_is_checked_when_loaded() {
        let bad = Templates::with_replacements(vec![(
            "order_status".into(),
            "Subject: {{ order_idd }}\n\nbody\n".into(),
        )]);
        assert!(matches!(bad, Err(MailError::Template { name, .. }) if name == "order_status"));
        let no_subject =
            Templates::with_replacements(vec![("test".into(), "Hello\n\nbody\n".into())]);
        assert!(no_subject.is_err());
        let unknown = Templates::with_replacements(vec![("nope".into(), "Subject: x\n".into())]);
        assert!(matches!(unknown, Err(MailError::UnknownTemplate(_))));
        let good = Templates::with_replacements(vec![(
            "test".into(),
            "Subject: Hi {{ requested_by }}\n\nBody\n".into(),
        )])
        .unwrap();
        assert_eq!(good.replaced(), [TemplateName::Test]);
        let r = good
            .render(&MailTemplate::Test(TestMail {
                requested_by: "me".into(),
                at: DateTime::<Utc>::UNIX_EPOCH,
            }))
            .unwrap();
        assert_eq!(r.subject, "Hi me");
        assert_eq!(r.body, "Body\n");
    }

    #[test]
    fn retry_policy() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1), Duration::from_secs(60));
        assert_eq!(p.delay(2), Duration::from_secs(120));
        assert_eq!(p.delay(7), Duration::from_secs(3600));
        assert_eq!(p.delay(u32::MAX), Duration::from_secs(3600));
        assert_eq!(p.after_failure(10), AfterFailure::GiveUp);
        assert!(RetryPolicy {
            max_attempts: 0,
            ..p
        }
        .check()
        .is_err());
    }
}
