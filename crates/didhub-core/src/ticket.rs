//! The support desk's rules: what a ticket holds and how its fields are checked, its states
//! and who may move it between them, the class of service and its criteria, where a ticket
//! stands against its first-response deadline, the support hours of a centre (its zone and
//! its country's working-day calendar), and how a mail names a ticket (`[#N]`).
//!
//! ```text
//! open ◀──▶ pending (waiting on the partner) ──▶ solved ──▶ closed
//!   └──────────────────────────────────────────▶ solved ──▶ open (the partner answers)
//! any state but closed ──▶ closed; a closed ticket never reopens (a new case references it)
//! ```

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::calendar::Calendar;
use crate::did::{optional_text, TextError};
use crate::sla::{SupportHours, TicketClass};

/// Declares a closed set of names: `as_str`, `ALL`, `Display` and `FromStr` (the error names
/// every accepted value).
macro_rules! names {
    ($(#[$m:meta])* $name:ident, $what:literal, { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v),+];

            pub fn as_str(&self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let t = s.trim();
                $name::ALL.iter().copied().find(|v| v.as_str() == t).ok_or_else(|| {
                    let all: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    format!("unknown {} '{t}' (expected one of: {})", $what, all.join(", "))
                })
            }
        }
    };
}

names!(
    /// Where a ticket is.
    TicketState, "ticket state", {
        /// Support works on it.
        Open = "open",
        /// Waiting on the partner.
        Pending = "pending",
        /// Support gave a solution; the partner may still answer (it opens again).
        Solved = "solved",
        /// Final: never reopened.
        Closed = "closed",
    }
);

names!(
    /// What a ticket is about.
    TicketKind, "ticket type", {
        Technical = "technical",
        /// Accounting, billing or invoices (the topic says which).
        NonTechnical = "non_technical",
    }
);

names!(
    /// The topic of a non-technical ticket.
    TicketTopic, "topic", {
        Accounting = "accounting",
        Billing = "billing",
        Invoices = "invoices",
    }
);

names!(
    /// How a ticket or a message came in. E-mail only follows up on an existing ticket.
    TicketChannel, "channel", {
        Portal = "portal",
        Phone = "phone",
        Chat = "chat",
        Social = "social",
        Email = "email",
    }
);

names!(
    /// What makes a ticket critical (the criterion is recorded with the class).
    CriticalCriterion, "critical criterion", {
        /// Call drops not caused by an operator.
        CallDrops = "call_drops",
        /// The cloud system is unreachable.
        CloudUnreachable = "cloud_unreachable",
        /// Business operations severely impacted with no workaround.
        BusinessImpacted = "business_impacted",
    }
);

names!(
    /// Who sees a message: everyone on the ticket, or support staff only.
    MessageVisibility, "visibility", {
        Public = "public",
        /// A note partners never see.
        Internal = "internal",
    }
);

names!(
    /// Where a ticket stands against its first-response deadline.
    SlaStatus, "SLA status", {
        /// Support answered in time.
        Met = "met",
        /// Support answered late, or not yet and the deadline has passed.
        Breached = "breached",
        /// Not answered, and the deadline is near ([`at_risk_window`]).
        AtRisk = "at_risk",
        /// Not answered, and the deadline is further off.
        Running = "running",
    }
);

/// Who acts on a ticket: support staff (admins included) or the partner's users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = TicketSide)]
pub enum Side {
    Staff,
    Partner,
}

impl Side {
    pub fn as_str(&self) -> &'static str {
        match self {
            Side::Staff => "staff",
            Side::Partner => "partner",
        }
    }
}

/// A change of a ticket refused by the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error("{}", closed_refusal(*.0))]
    Closed(i64),
    #[error("a ticket that is {from} cannot become {to}")]
    NotAllowed { from: TicketState, to: TicketState },
    #[error("only support staff can make a ticket {0}")]
    StaffOnly(TicketState),
}

/// What a reply to a closed ticket is told, whatever the way it came (portal, API, mail).
pub fn closed_refusal(number: i64) -> String {
    format!(
        "ticket #{number} is closed and cannot be reopened: open a new case referencing \
         #{number} (the new ticket's `references` field)"
    )
}

/// Checks one change of state.
pub fn check_transition(
    number: i64,
    from: TicketState,
    to: TicketState,
    side: Side,
) -> Result<(), TicketError> {
    use TicketState::*;
    if from == Closed {
        return Err(TicketError::Closed(number));
    }
    let allowed = match (from, to) {
        (f, t) if f == t => false,
        (_, Closed) => true,
        (Open, Pending | Solved) | (Pending, Open | Solved) | (Solved, Open) => true,
        _ => false,
    };
    if !allowed {
        return Err(TicketError::NotAllowed { from, to });
    }
    // A partner answers (which opens the ticket again) or closes it; support staff do the
    // rest.
    let partner_may = matches!(to, Closed) || (to == Open && matches!(from, Pending | Solved));
    if side == Side::Partner && !partner_may {
        return Err(TicketError::StaffOnly(to));
    }
    Ok(())
}

/// The state a public message leaves a ticket in: a partner's answer opens a pending or
/// solved ticket again; a staff reply leaves it as it is (staff set the state with it).
pub fn after_reply(state: TicketState, side: Side) -> TicketState {
    match (state, side) {
        (TicketState::Pending | TicketState::Solved, Side::Partner) => TicketState::Open,
        (s, _) => s,
    }
}

/// How close to its deadline an unanswered ticket is at risk: 15 minutes for a critical
/// ticket, 2 hours for a standard one.
pub fn at_risk_window(class: TicketClass) -> TimeDelta {
    match class {
        TicketClass::Critical => TimeDelta::minutes(15),
        TicketClass::Standard => TimeDelta::hours(2),
    }
}

/// Where a ticket stands at `now`: answered (`responded`) in time or late, or not yet.
pub fn sla_status(
    class: TicketClass,
    due: DateTime<Utc>,
    responded: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> SlaStatus {
    match responded {
        Some(r) if r <= due => SlaStatus::Met,
        Some(_) => SlaStatus::Breached,
        None if now >= due => SlaStatus::Breached,
        None if due - now <= at_risk_window(class) => SlaStatus::AtRisk,
        None => SlaStatus::Running,
    }
}

/// How many days after a ticket's creation its centre's closed days are looked at: more than
/// any first-response deadline can be away (a standard ticket is due within days).
const HOURS_WINDOW_DAYS: i64 = 62;

/// The support hours of a centre around `created`: Monday to Friday, 09:00 to 18:00 in `tz`,
/// closed on the days its country's calendar (with the closures operators added) does not
/// work. Days outside the years the calendars cover close nothing beyond weekends.
pub fn centre_hours(tz: Tz, calendar: &Calendar, created: DateTime<Utc>) -> SupportHours {
    let start = created.date_naive() - TimeDelta::days(2);
    let closed: Vec<NaiveDate> = (0..HOURS_WINDOW_DAYS)
        .filter_map(|i| start.checked_add_signed(TimeDelta::days(i)))
        .filter(|d| calendar.is_working_day(*d) == Ok(false))
        .collect();
    SupportHours::new(tz, closed)
}

/// The ticket a mail's subject names with a `[#N]` tag (the first such tag), if any.
pub fn subject_tag(subject: &str) -> Option<i64> {
    let mut rest = subject;
    while let Some(i) = rest.find("[#") {
        let after = &rest[i + 2..];
        let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
        if !digits.is_empty() && after[digits.len()..].starts_with(']') && digits.len() <= 18 {
            if let Ok(n) = digits.parse::<i64>() {
                return Some(n);
            }
        }
        rest = after;
    }
    None
}

/// The subject of a mail about ticket `number`, tagged so that an answer finds its way back.
pub fn tagged_subject(number: i64, subject: &str) -> String {
    format!("[#{number}] {subject}")
}

// ---------------------------------------------------------------------------------------
// Fields

pub const MAX_SUBJECT: usize = 200;
pub const MAX_MESSAGE: usize = 20_000;
pub const MAX_SERIAL: usize = 100;
pub const MAX_VERSION: usize = 100;
/// Firmware versions, traces: how many a ticket lists.
pub const MAX_ITEMS: usize = 100;
pub const MAX_ADDRESS: usize = 253;
pub const MAX_LOGIN: usize = 200;
pub const MAX_SECRET: usize = 1000;
pub const MAX_REFERENCES: usize = 20;

/// What the partner tells of the problem beyond the message. Read back from what the store
/// wrote, never from a request (whose fields are checked one by one), and flattened into a
/// ticket: so no `deny_unknown_fields`, which would make the ticket's schema refuse its own
/// other fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TicketDetails {
    /// The PBX's WMS version.
    pub wms_version: Option<String>,
    /// Firmware versions of the devices involved (`W-AIR 1.4.2`, …).
    #[serde(default)]
    pub firmware: Vec<String>,
    /// Diagnostics done so far.
    pub diagnostics: Option<String>,
    /// Calls that show the problem.
    #[serde(default)]
    pub traces: Vec<CallTrace>,
}

/// One call that shows the problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallTrace {
    /// The calling number or user.
    pub caller: String,
    /// The called number or user.
    pub called: String,
    /// When the call was made.
    pub at: DateTime<Utc>,
}

/// Field errors as (field, message), every one reported.
pub type FieldErrors = Vec<(String, String)>;

fn text_err(field: &str, e: TextError) -> (String, String) {
    let msg = e.to_string();
    // The error names the field by its static name; the path may be longer (`traces[2].caller`).
    let msg = msg
        .strip_prefix(e.field())
        .map_or(msg.clone(), |m| m.trim().to_string());
    (field.to_string(), msg)
}

/// Trims and checks one optional text field into `errors`.
pub fn text(errors: &mut FieldErrors, field: &str, v: Option<&str>, max: usize) -> Option<String> {
    match optional_text("value", v, max) {
        Ok(t) => t,
        Err(e) => {
            errors.push(text_err(field, e));
            None
        }
    }
}

/// A required text field.
pub fn required(errors: &mut FieldErrors, field: &str, v: &str, max: usize) -> String {
    let t = text(errors, field, Some(v), max);
    if t.is_none() && !errors.iter().any(|(f, _)| f == field) {
        errors.push((field.to_string(), "must not be empty".into()));
    }
    t.unwrap_or_default()
}

impl TicketDetails {
    /// The details trimmed and checked; blank entries dropped.
    pub fn checked(&self, errors: &mut FieldErrors) -> TicketDetails {
        let wms_version = text(
            errors,
            "wms_version",
            self.wms_version.as_deref(),
            MAX_VERSION,
        );
        if self.firmware.len() > MAX_ITEMS {
            errors.push(("firmware".into(), format!("at most {MAX_ITEMS} entries")));
        }
        let firmware = self
            .firmware
            .iter()
            .enumerate()
            .take(MAX_ITEMS)
            .filter_map(|(i, f)| text(errors, &format!("firmware[{i}]"), Some(f), MAX_VERSION))
            .collect();
        let diagnostics = text(
            errors,
            "diagnostics",
            self.diagnostics.as_deref(),
            MAX_MESSAGE,
        );
        if self.traces.len() > MAX_ITEMS {
            errors.push(("traces".into(), format!("at most {MAX_ITEMS} entries")));
        }
        let traces = self
            .traces
            .iter()
            .enumerate()
            .take(MAX_ITEMS)
            .map(|(i, t)| CallTrace {
                caller: required(
                    errors,
                    &format!("traces[{i}].caller"),
                    &t.caller,
                    MAX_SERIAL,
                ),
                called: required(
                    errors,
                    &format!("traces[{i}].called"),
                    &t.called,
                    MAX_SERIAL,
                ),
                at: t.at,
            })
            .collect();
        TicketDetails {
            wms_version,
            firmware,
            diagnostics,
            traces,
        }
    }
}

/// The kind and topic together: a non-technical ticket names its topic, a technical one none.
pub fn check_kind(
    errors: &mut FieldErrors,
    kind: TicketKind,
    topic: Option<TicketTopic>,
) -> Option<TicketTopic> {
    match (kind, topic) {
        (TicketKind::NonTechnical, None) => {
            errors.push((
                "topic".into(),
                "a non-technical ticket names its topic: accounting, billing or invoices".into(),
            ));
            None
        }
        (TicketKind::Technical, Some(_)) => {
            errors.push((
                "topic".into(),
                "only a non-technical ticket has a topic".into(),
            ));
            None
        }
        (_, t) => t,
    }
}

/// A class with its criterion: critical names one, standard none.
pub fn check_class(
    errors: &mut FieldErrors,
    class: TicketClass,
    criterion: Option<CriticalCriterion>,
) -> Option<CriticalCriterion> {
    match (class, criterion) {
        (TicketClass::Critical, None) => {
            errors.push((
                "criterion".into(),
                "a critical ticket names its criterion: call_drops, cloud_unreachable or \
                 business_impacted"
                    .into(),
            ));
            None
        }
        (TicketClass::Standard, Some(_)) => {
            errors.push((
                "criterion".into(),
                "only a critical ticket has a criterion".into(),
            ));
            None
        }
        (_, c) => c,
    }
}

/// The address of the remote maintenance: an IP address or a host name, with an optional
/// `http(s)://` and `:port` (`203.0.113.5`, `pbx-42.example.com:8443`, `[2001:db8::1]:443`).
pub fn remote_address(s: &str) -> Result<String, String> {
    let t = s.trim();
    let bad = || format!("'{}' is not an IP address or a host name", shown(t));
    if t.is_empty() || t.len() > MAX_ADDRESS + 20 {
        return Err(bad());
    }
    let rest = t
        .strip_prefix("https://")
        .or_else(|| t.strip_prefix("http://"))
        .unwrap_or(t);
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, after) = r.split_once(']').ok_or_else(bad)?;
        h.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
        (h, after.strip_prefix(':'))
    } else if rest.parse::<std::net::Ipv6Addr>().is_ok() {
        (rest, None)
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if let Some(p) = port {
        p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad)?;
    }
    let ip = host.parse::<std::net::IpAddr>().is_ok();
    let name = host.len() <= MAX_ADDRESS
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ip || name {
        Ok(t.to_string())
    } else {
        Err(bad())
    }
}

/// A value as an error message shows it: at most 100 characters.
fn shown(s: &str) -> String {
    s.chars().take(100).collect()
}

/// The remote access login or password: kept as given (spaces may matter), bounded, and
/// without control characters.
pub fn secret_text(field: &str, v: &str, max: usize) -> Result<String, (String, String)> {
    if v.is_empty() {
        return Err((field.into(), "must not be empty".into()));
    }
    if v.chars().count() > max {
        return Err((field.into(), format!("is longer than {max} characters")));
    }
    if v.chars().any(char::is_control) {
        return Err((field.into(), "must not contain control characters".into()));
    }
    Ok(v.to_string())
}

// ---------------------------------------------------------------------------------------
// Support centres

/// A support centre as it is first set up: its code, name, zone and calendar country.
#[derive(Debug, Clone, Copy)]
pub struct CentreDefault {
    pub code: &'static str,
    pub name: &'static str,
    pub time_zone: &'static str,
    pub country: &'static str,
}

/// The centres every installation starts with (migration 0019 writes them); partners belong
/// to the first until given another.
pub const CENTRES: [CentreDefault; 2] = [
    CentreDefault {
        code: "europe",
        name: "Europe",
        time_zone: "Europe/Rome",
        country: "IT",
    },
    CentreDefault {
        code: "americas",
        name: "Americas",
        time_zone: "America/New_York",
        country: "US",
    },
];

/// The centre of a partner that was never given one.
pub const DEFAULT_CENTRE: &str = "europe";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_read_from_subjects() {
        assert_eq!(subject_tag("Re: [#42] Calls drop"), Some(42));
        assert_eq!(subject_tag("[#x] [#7]"), Some(7));
        assert_eq!(subject_tag("#42 no brackets"), None);
        assert_eq!(subject_tag("[#]"), None);
        assert_eq!(subject_tag("[#99999999999999999999]"), None);
        assert_eq!(subject_tag("Ünïcödé [#3]"), Some(3));
    }

    #[test]
    fn addresses() {
        for ok in [
            "203.0.113.5",
            "pbx-42.wildixin.com",
            "https://pbx.example.com:8443/",
            "[2001:db8::1]:443",
            "2001:db8::1",
            "pbx:22",
        ] {
            assert!(remote_address(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "-x.com", "host:0", "host:99999", "[::1", "x..y"] {
            assert!(remote_address(bad).is_err(), "{bad}");
        }
    }
}
