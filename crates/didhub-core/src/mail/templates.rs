//! The mail templates: the built-in text files, replacements loaded from a directory (each
//! rendered with sample values when loaded), and rendering to a subject and a body.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, Utc};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use super::{MailError, MAX_SUBJECT};

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
        include_str!("../../templates/mail/order_status.txt"),
    ),
    (
        TemplateName::TicketNew,
        include_str!("../../templates/mail/ticket_new.txt"),
    ),
    (
        TemplateName::TicketReply,
        include_str!("../../templates/mail/ticket_reply.txt"),
    ),
    (
        TemplateName::TicketSla,
        include_str!("../../templates/mail/ticket_sla.txt"),
    ),
    (
        TemplateName::TicketAnswer,
        include_str!("../../templates/mail/ticket_answer.txt"),
    ),
    (
        TemplateName::Test,
        include_str!("../../templates/mail/test.txt"),
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

    pub(super) fn names() -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

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
}
