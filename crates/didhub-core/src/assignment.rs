//! Packages, client packages, DID assignment, the hold lifecycle and routing answers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::did::DidStatus;

/// How long a DID stays on hold before it goes to its after-hold status, unless configured.
pub const DEFAULT_HOLD_DAYS: i64 = 30;

/// A client package's state. `active`, `inactive` and `terminated` are set; `pending` is read:
/// an active package whose start date is still to come ([`package_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PackageState {
    Active,
    Inactive,
    Terminated,
    Pending,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignmentError {
    #[error("unknown package state '{0}' (expected active, inactive or terminated)")]
    UnknownState(String),
    #[error("a terminated client package cannot change state")]
    Terminated,
    #[error(
        "pending is not set: an active client package is pending until its start date; \
         set active, inactive or terminated"
    )]
    PendingIsRead,
    #[error("the client package is {0}; DIDs are assigned under an active package only")]
    NotActive(PackageState),
    #[error("{number} is {status}, not in stock")]
    NotInStock { number: String, status: DidStatus },
    #[error("{number} does not qualify for this package: {why}")]
    NotQualified {
        number: String,
        why: String,
        /// Which attribute failed: `tag`, `country` or `number_type`.
        attribute: &'static str,
    },
    #[error(
        "the package allows {allowance} DIDs; {used} are assigned and {adding} more were asked for"
    )]
    OverAllowance {
        allowance: u32,
        used: u32,
        adding: u32,
    },
    #[error(
        "client package {client_package} holds {held} DIDs; the allowance cannot go below that"
    )]
    AllowanceBelowHeld { client_package: String, held: u64 },
    #[error("destination '{0}' is neither a PBX of this customer (pbx:<id>) nor a SIP URI (sip:user@host)")]
    BadDestination(String),
}

impl PackageState {
    pub fn as_str(&self) -> &'static str {
        match self {
            PackageState::Active => "active",
            PackageState::Inactive => "inactive",
            PackageState::Terminated => "terminated",
            PackageState::Pending => "pending",
        }
    }

    /// Terminated is final; any other change is allowed. `None`: already in that state, so
    /// nothing changes (no audit entry, no new version). `self` is the state as set (never
    /// pending); pending cannot be set, it follows from the start date.
    pub fn check_change(self, to: PackageState) -> Result<Option<PackageState>, AssignmentError> {
        if to == PackageState::Pending {
            Err(AssignmentError::PendingIsRead)
        } else if self == to {
            Ok(None)
        } else if self == PackageState::Terminated {
            Err(AssignmentError::Terminated)
        } else {
            Ok(Some(to))
        }
    }
}

impl fmt::Display for PackageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PackageState {
    type Err = AssignmentError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "active" => Ok(PackageState::Active),
            "inactive" => Ok(PackageState::Inactive),
            "terminated" => Ok(PackageState::Terminated),
            "pending" => Ok(PackageState::Pending),
            _ => Err(AssignmentError::UnknownState(s.trim().to_string())),
        }
    }
}

/// Whether a client package starting on `start` has not started on `today` (UTC days).
pub fn not_started(start: chrono::NaiveDate, today: chrono::NaiveDate) -> bool {
    start > today
}

/// A client package's state on `today`, from the state set: an active package is `pending`
/// until its start date, and its DIDs (assignable meanwhile) route as unreachable
/// ([`route`]). It becomes active on the start date by itself: the state is read, not
/// stored. Inactive and terminated are what they are, whatever the date.
pub fn package_state(
    set: PackageState,
    start: chrono::NaiveDate,
    today: chrono::NaiveDate,
) -> PackageState {
    if set == PackageState::Active && not_started(start, today) {
        PackageState::Pending
    } else {
        set
    }
}

/// Which DIDs a package admits and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRule {
    pub allowance: u32,
    pub tag: Option<String>,
    pub country: Option<String>,
    pub number_type: Option<String>,
}

impl AssignmentError {
    /// The attribute a qualification refusal is about, if it is one.
    pub fn attribute(&self) -> Option<&'static str> {
        match self {
            AssignmentError::NotQualified { attribute, .. } => Some(attribute),
            _ => None,
        }
    }
}

impl PackageRule {
    /// Whether a DID with these attributes qualifies (tag, then country and type if set).
    pub fn qualifies(
        &self,
        number: &str,
        tag: Option<&str>,
        country: &str,
        number_type: &str,
    ) -> Result<(), AssignmentError> {
        let fail = |attribute: &'static str, why: String| {
            Err(AssignmentError::NotQualified {
                number: number.to_string(),
                why,
                attribute,
            })
        };
        if let Some(t) = &self.tag {
            if tag != Some(t.as_str()) {
                return fail(
                    "tag",
                    format!(
                        "tag is {}, the package takes tag {t}",
                        tag.unwrap_or("none")
                    ),
                );
            }
        }
        if let Some(c) = &self.country {
            if c != country {
                return fail(
                    "country",
                    format!("country is {country}, the package takes {c}"),
                );
            }
        }
        if let Some(t) = &self.number_type {
            if t != number_type {
                return fail(
                    "number_type",
                    format!("type is {number_type}, the package takes {t}"),
                );
            }
        }
        Ok(())
    }

    pub fn check_allowance(&self, used: u32, adding: u32) -> Result<(), AssignmentError> {
        if used.saturating_add(adding) > self.allowance {
            Err(AssignmentError::OverAllowance {
                allowance: self.allowance,
                used,
                adding,
            })
        } else {
            Ok(())
        }
    }
}

/// A package's allowance may be lowered, but never below what one of its client packages
/// already holds (DIDs already assigned stay). `held`: each client package and its DID count;
/// the refusal names the one that holds the most.
pub fn check_allowance_edit<K: std::fmt::Display>(
    allowance: u32,
    held: impl IntoIterator<Item = (K, u64)>,
) -> Result<(), AssignmentError> {
    match held
        .into_iter()
        .filter(|(_, n)| *n > u64::from(allowance))
        .max_by_key(|(_, n)| *n)
    {
        Some((cp, n)) => Err(AssignmentError::AllowanceBelowHeld {
            client_package: cp.to_string(),
            held: n,
        }),
        None => Ok(()),
    }
}

/// The part of a SIP URI after `sip:` (RFC 3261 §25.1, as a proxy would route it):
/// `[user@]host[:port][;param[=value]]…`. The user is unreserved characters, `%HH` escapes
/// and `&=+$,;?/` (no password); the host a domain name, an IPv4 address or `[IPv6]`; the port
/// 1–65535. Headers (`?…`) are refused: a routing destination has none.
fn sip_uri_rest(rest: &str) -> bool {
    fn escaped_ok(s: &str, extra: &str) -> bool {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if c == b'%' {
                if i + 2 >= b.len()
                    || !(b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit())
                {
                    return false;
                }
                i += 3;
                continue;
            }
            if !(c.is_ascii_alphanumeric()
                || b"-_.!~*'()".contains(&c)
                || extra.as_bytes().contains(&c))
            {
                return false;
            }
            i += 1;
        }
        true
    }
    // An unescaped '@' only ends the user part (which may hold ';', as in
    // `+1212…;npdi;rn=…@gw`); parameters follow the host.
    let (user, hostparams) = match rest.split_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    if let Some(u) = user {
        if u.is_empty() || !escaped_ok(u, "&=+$,;?/") {
            return false;
        }
    }
    let (hostport, params) = match hostparams.split_once(';') {
        Some((h, p)) => (h, Some(p)),
        None => (hostparams, None),
    };
    let port = if let Some(v6) = hostport.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return false;
        };
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(p) => Some(p),
                None => return false,
            },
        }
    } else {
        let (h, p) = match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        };
        let h = h.strip_suffix('.').unwrap_or(h);
        let ipv4 = h.parse::<std::net::Ipv4Addr>().is_ok();
        let labels_ok = !h.is_empty()
            && h.split('.').all(|l| {
                !l.is_empty()
                    && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            })
            && h.rsplit('.')
                .next()
                .is_some_and(|top| top.starts_with(|c: char| c.is_ascii_alphabetic()));
        if !(ipv4 || labels_ok) {
            return false;
        }
        p
    };
    if let Some(p) = port {
        let digits_only = !p.is_empty() && p.len() <= 5 && p.bytes().all(|c| c.is_ascii_digit());
        if !digits_only || !p.parse::<u16>().is_ok_and(|n| n > 0) {
            return false;
        }
    }
    match params {
        None => true,
        Some(ps) => ps.split(';').all(|param| {
            let (name, value) = match param.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (param, None),
            };
            !name.is_empty()
                && escaped_ok(name, "[]/:&+$")
                && value.is_none_or(|v| !v.is_empty() && escaped_ok(v, "[]/:&+$"))
        }),
    }
}

/// Where calls to an assigned DID go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A PBX of the customer, by id.
    Pbx(String),
    /// A SIP URI.
    Sip(String),
}

impl Destination {
    pub fn parse(s: &str) -> Result<Destination, AssignmentError> {
        let t = s.trim();
        let bad = || AssignmentError::BadDestination(t.chars().take(200).collect());
        if let Some(id) = t.strip_prefix("pbx:") {
            if id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                return Ok(Destination::Pbx(id.to_ascii_lowercase()));
            }
            return Err(bad());
        }
        let lower = t.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("sips:")
            .or_else(|| lower.strip_prefix("sip:"))
            .ok_or_else(bad)?;
        if t.len() > 255 || !sip_uri_rest(rest) {
            return Err(bad());
        }
        Ok(Destination::Sip(t.to_string()))
    }

    pub fn as_string(&self) -> String {
        match self {
            Destination::Pbx(id) => format!("pbx:{id}"),
            Destination::Sip(u) => u.clone(),
        }
    }
}

/// What a change of a client package's state does to one of its DIDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldAction {
    /// Assigned → hold (routing unreachable) until the hold period ends.
    Hold,
    /// Hold → assigned again, with its routing.
    Restore,
    /// → its after-hold status, losing customer and routing.
    Release,
}

/// Whether a hold has run its course at `now` (its end is the first instant it no longer holds).
pub fn hold_ended(
    hold_until: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    hold_until.is_some_and(|u| u <= now)
}

/// The hold rule: a package that is not active puts its DIDs on hold; active again brings back
/// those still within their hold period (one whose period has ended is released, even when the
/// hold worker has not got to it yet); terminated releases them.
pub fn on_package_state(did: DidStatus, hold_ended: bool, to: PackageState) -> Option<HoldAction> {
    match (did, to) {
        (DidStatus::Assigned, PackageState::Inactive) => Some(HoldAction::Hold),
        (DidStatus::Hold, PackageState::Active) if hold_ended => Some(HoldAction::Release),
        (DidStatus::Hold, PackageState::Active) => Some(HoldAction::Restore),
        (DidStatus::Assigned | DidStatus::Hold, PackageState::Terminated) => {
            Some(HoldAction::Release)
        }
        _ => None,
    }
}

/// The answer to "where does a call to this number go?", and what the number may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Route {
    pub number: String,
    /// Inbound calls reach the customer.
    pub reachable: bool,
    /// The destination when reachable.
    pub destination: Option<String>,
    /// Why not, when unreachable: `hold`, `pending` (its client package has not started),
    /// `porting`, or `not_in_service` (not assigned to a customer, or not a number of this
    /// provider).
    pub reason: Option<String>,
    /// The number may be presented on outbound calls: an assigned DID whose package has
    /// started, and a number being ported in (outbound works from registration).
    pub outbound: bool,
    /// Emergency calls may be made from it: only once it is the provider's (assigned; a
    /// ported number at completion).
    pub emergency: bool,
}

/// Routing: an assigned DID with a destination, whose client package has started
/// (`pending`: it has not, see [`package_state`]), is reachable, presented and may call
/// emergency services. A number being ported in presents outbound calls at once and is
/// reachable only when inbound calls are forwarded before completion (instant virtual
/// porting: it has a destination); no emergency calls until the port completes.
pub fn route(number: &str, known: Option<(DidStatus, Option<&str>)>, pending: bool) -> Route {
    let (reachable, destination, reason, outbound, emergency) = match known {
        None => (false, None, Some("not_in_service"), false, false),
        Some((DidStatus::Assigned, _)) if pending => (false, None, Some("pending"), false, false),
        Some((DidStatus::Assigned, Some(d))) => (true, Some(d.to_string()), None, true, true),
        Some((DidStatus::Assigned, None)) => (false, None, Some("not_in_service"), true, true),
        Some((DidStatus::Hold, _)) => (false, None, Some("hold"), false, false),
        Some((DidStatus::Porting, Some(d))) => (true, Some(d.to_string()), None, true, false),
        Some((DidStatus::Porting, None)) => (false, None, Some("porting"), true, false),
        Some(_) => (false, None, Some("not_in_service"), false, false),
    };
    Route {
        number: number.to_string(),
        reachable,
        destination,
        reason: reason.map(str::to_string),
        outbound,
        emergency,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowance_edit() {
        let held = [("a", 3u64), ("b", 7), ("c", 5)];
        assert!(check_allowance_edit(7, held).is_ok());
        assert!(check_allowance_edit(100, held).is_ok());
        assert!(check_allowance_edit(0, std::iter::empty::<(&str, u64)>()).is_ok());
        let e = check_allowance_edit(4, held).unwrap_err();
        assert_eq!(
            e,
            AssignmentError::AllowanceBelowHeld {
                client_package: "b".into(),
                held: 7
            }
        );
        assert_eq!(
            e.to_string(),
            "client package b holds 7 DIDs; the allowance cannot go below that"
        );
    }

    #[test]
    fn package_rule() {
        let r = PackageRule {
            allowance: 3,
            tag: Some("uk".into()),
            country: Some("GB".into()),
            number_type: None,
        };
        assert!(r.qualifies("+44", Some("uk"), "GB", "mobile").is_ok());
        assert!(r.qualifies("+44", None, "GB", "mobile").is_err());
        assert!(r.qualifies("+33", Some("uk"), "FR", "fixed_line").is_err());
        assert!(r.check_allowance(2, 1).is_ok());
        assert!(matches!(
            r.check_allowance(2, 2),
            Err(AssignmentError::OverAllowance { .. })
        ));
    }

    /// `sip:`/`sips:`, an optional user, a domain name of `labels` labels (the last starting
    /// with a letter, as RFC 3261's toplabel does) and an optional port.
    fn sip_uri() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        (
            "sips?:",
            proptest::option::of("[a-z0-9._~-]{1,20}@"),
            proptest::collection::vec("[a-z0-9]{1,12}", 0..4),
            "[a-z][a-z0-9]{0,9}",
            proptest::option::of(1u16..),
        )
            .prop_map(|(scheme, user, labels, top, port)| {
                let mut host: String = labels.iter().map(|l| format!("{l}.")).collect();
                host.push_str(&top);
                let port = port.map(|p| format!(":{p}")).unwrap_or_default();
                format!("{scheme}{}{host}{port}", user.unwrap_or_default())
            })
    }

    proptest::proptest! {
        #[test]
        fn destination_parse_never_panics(s in "(sips?:|pbx:)?\\PC{0,60}") {
            if let Ok(Destination::Sip(u)) = Destination::parse(&s) {
                proptest::prop_assert!(!u.chars().any(char::is_whitespace));
                proptest::prop_assert!(u.len() <= 255);
            }
        }

        #[test]
        fn well_formed_sip_uris_are_kept_as_written(u in sip_uri()) {
            proptest::prop_assert_eq!(Destination::parse(&u), Ok(Destination::Sip(u.clone())));
            proptest::prop_assert_eq!(Destination::parse(&format!("  {u}\t")), Ok(Destination::Sip(u)));
        }

        #[test]
        fn sip_uris_over_255_bytes_are_refused(u in sip_uri(), pad in 256usize..400) {
            // The same URI with a longer first host label: still well formed, too long.
            let long = u.replacen('@', &format!("@{}.", "a".repeat(pad)), 1);
            let long = if long == u { u.replacen(':', &format!(":{}.", "a".repeat(pad)), 1) } else { long };
            proptest::prop_assert!(long.len() > 255);
            proptest::prop_assert!(Destination::parse(&long).is_err(), "{}", long);
        }

        #[test]
        fn whitespace_inside_is_refused(u in sip_uri(), at in 5usize..60, ws in "[ \t\r\n]") {
            let at = at.min(u.len());
            let (a, b) = u.split_at(at);
            proptest::prop_assume!(!b.is_empty());
            let spoiled = format!("{a}{ws}{b}");
            proptest::prop_assert!(Destination::parse(&spoiled).is_err(), "{:?}", spoiled);
        }
    }

    #[test]
    fn destinations() {
        assert!(Destination::parse("sip:trunk@pbx.example.com").is_ok());
        assert!(Destination::parse("sips:pbx.example.com:5061").is_ok());
        assert!(Destination::parse("pbx:01a2007d-b612-73d0-b585-a4b70237dc4b").is_ok());
        for good in [
            "sip:u@[::1]",
            "sip:u@[2001:db8::1]:5080",
            "sip:+442079460000@pbx.example.com;user=phone",
            "SIP:Alice@Example.COM",
            "sip:10.0.0.1:5060;transport=udp",
            "sip:a%20b@h.com",
            "sip:trunk-1@pbx-1.example.com.",
            "sip:pbx.example.com;lr",
            "sip:+12125551212;npdi;rn=+12125550000@gw.example.com;user=phone",
            "sip:1234;phone-context=example.com@gw.example.com",
        ] {
            assert!(Destination::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "http://x",
            "sip:",
            "sip:a b@c",
            "sip:x@host:0",
            "pbx:42",
            "sip:x@.bad",
            "sip:@host.com",
            "sip:a@b@c.com",
            "sip:u@h..com",
            "sip:u@-h.com",
            "sip:<script>@h.com",
            "sip:u\"x@h.com",
            "sip:ü@h.com",
            "sip:u@h.com:+5060",
            "sip:u@h.com:99999",
            "sip:u@h.com;",
            "sip:u@h.com;=x",
            "sip:u:secret@h.com",
            "sip:u@h.com?subject=x",
            "sip:u@[::1",
            "sip:u@[nothex]",
            "sip:u%2@h.com",
            "sip:u@123",
        ] {
            assert!(Destination::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hold_rule() {
        use DidStatus::*;
        for ended in [false, true] {
            assert_eq!(
                on_package_state(Assigned, ended, PackageState::Inactive),
                Some(HoldAction::Hold)
            );
            assert_eq!(
                on_package_state(Hold, ended, PackageState::Terminated),
                Some(HoldAction::Release)
            );
            assert_eq!(
                on_package_state(Assigned, ended, PackageState::Active),
                None
            );
        }
        assert_eq!(
            on_package_state(Hold, false, PackageState::Active),
            Some(HoldAction::Restore)
        );
        // Reactivated after the hold period: released, not restored.
        assert_eq!(
            on_package_state(Hold, true, PackageState::Active),
            Some(HoldAction::Release)
        );
        let t = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        let s = chrono::Duration::seconds(1);
        assert!(!hold_ended(None, t));
        assert!(!hold_ended(Some(t + s), t));
        assert!(hold_ended(Some(t), t));
        assert!(hold_ended(Some(t - s), t));
        assert!(PackageState::Terminated
            .check_change(PackageState::Active)
            .is_err());
        assert_eq!(
            PackageState::Inactive.check_change(PackageState::Active),
            Ok(Some(PackageState::Active))
        );
        for s in [
            PackageState::Active,
            PackageState::Inactive,
            PackageState::Terminated,
        ] {
            assert_eq!(s.check_change(s), Ok(None), "{s}");
        }
    }

    #[test]
    fn routes() {
        assert!(route("+1", Some((DidStatus::Assigned, Some("sip:a@b"))), false).reachable);
        assert_eq!(
            route("+1", Some((DidStatus::Hold, Some("sip:a@b"))), false)
                .reason
                .as_deref(),
            Some("hold")
        );
        assert_eq!(
            route("+1", None, false).reason.as_deref(),
            Some("not_in_service")
        );
        assert_eq!(
            route("+1", Some((DidStatus::InStock, None)), false)
                .reason
                .as_deref(),
            Some("not_in_service")
        );
        // Assigned under a package that has not started: unreachable, saying so.
        let r = route("+1", Some((DidStatus::Assigned, Some("sip:a@b"))), true);
        assert_eq!(
            (r.reachable, r.destination, r.reason.as_deref()),
            (false, None, Some("pending"))
        );
        // Being ported in: outbound at once, inbound only by instant virtual porting, no
        // emergency calls until completion.
        let r = route("+1", Some((DidStatus::Porting, None)), false);
        assert_eq!(
            (r.reachable, r.reason.as_deref(), r.outbound, r.emergency),
            (false, Some("porting"), true, false)
        );
        let r = route("+1", Some((DidStatus::Porting, Some("sip:a@b"))), false);
        assert_eq!((r.reachable, r.outbound, r.emergency), (true, true, false));
        let r = route("+1", Some((DidStatus::Assigned, Some("sip:a@b"))), false);
        assert_eq!((r.outbound, r.emergency), (true, true));
        // On hold it is on hold, whatever the start.
        assert_eq!(
            route("+1", Some((DidStatus::Hold, Some("sip:a@b"))), true)
                .reason
                .as_deref(),
            Some("hold")
        );
    }

    #[test]
    fn pending_until_the_start_date() {
        let d = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
        let today = d("2026-03-10");
        use PackageState::*;
        assert_eq!(package_state(Active, d("2030-01-01"), today), Pending);
        assert_eq!(package_state(Active, d("2026-03-11"), today), Pending);
        // Active on the start date itself, and after.
        assert_eq!(package_state(Active, today, today), Active);
        assert_eq!(package_state(Active, d("2020-01-01"), today), Active);
        for set in [Inactive, Terminated] {
            assert_eq!(package_state(set, d("2030-01-01"), today), set);
        }
        // Pending is read, never set.
        assert_eq!(
            Active.check_change(Pending),
            Err(AssignmentError::PendingIsRead)
        );
        assert_eq!(
            Inactive.check_change(Pending),
            Err(AssignmentError::PendingIsRead)
        );
    }
}
