//! Support hours and a ticket's first-response deadline.
//!
//! Support is open at an instant when the wall clock of the support zone shows a Monday to
//! Friday that is not a closed date, at a time in [`SupportHours::open`,
//! `SupportHours::close`). The clock of a deadline runs only then. Clock changes count as the
//! wall clock says: a day is its local hours, whatever UTC does. So a local time that does
//! not exist (clocks jump over it) opens or closes support at the jump, and an hour the
//! clocks repeat is support time twice; no zone changes its clocks within 09:00-18:00 in the
//! current time zone data, where this never arises.
//!
//! - Critical: due when [`CRITICAL_RESPONSE`] of support time has passed since creation.
//! - Standard: due at the close of the first support day whose hours end after creation (the
//!   same day when created before or during its hours, else the next support day).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Utc,
    Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// When support opens and closes by default (local time).
pub const OPEN: NaiveTime = match NaiveTime::from_hms_opt(9, 0, 0) {
    Some(t) => t,
    None => panic!("09:00 is a time"),
};
pub const CLOSE: NaiveTime = match NaiveTime::from_hms_opt(18, 0, 0) {
    Some(t) => t,
    None => panic!("18:00 is a time"),
};

/// The support time within which a critical ticket is answered.
pub const CRITICAL_RESPONSE: TimeDelta = TimeDelta::minutes(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketClass {
    Critical,
    Standard,
}

impl TicketClass {
    pub const ALL: [TicketClass; 2] = [TicketClass::Critical, TicketClass::Standard];

    pub fn as_str(&self) -> &'static str {
        match self {
            TicketClass::Critical => "critical",
            TicketClass::Standard => "standard",
        }
    }
}

impl fmt::Display for TicketClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TicketClass {
    type Err = SlaError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "critical" => Ok(TicketClass::Critical),
            "standard" => Ok(TicketClass::Standard),
            _ => Err(SlaError::UnknownClass(s.trim().to_string())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlaError {
    #[error("unknown ticket class '{0}' (expected critical or standard)")]
    UnknownClass(String),
    #[error("unknown time zone '{0}' (expected an IANA name such as Europe/Rome)")]
    UnknownZone(String),
    #[error("support hours must open before they close, not {open} to {close}")]
    EmptyHours { open: NaiveTime, close: NaiveTime },
    #[error("no support hours follow {0} within the dates that can be computed")]
    NoSupportHours(DateTime<Utc>),
}

/// An IANA time zone by name (as the time zone data spells it).
pub fn zone(name: &str) -> Result<Tz, SlaError> {
    name.trim()
        .parse()
        .map_err(|_| SlaError::UnknownZone(name.trim().to_string()))
}

/// When support answers: Monday to Friday, `open` to `close` on the wall clock of `tz`,
/// except on `closed_dates` (local dates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportHours {
    pub tz: Tz,
    pub open: NaiveTime,
    pub close: NaiveTime,
    pub closed_dates: BTreeSet<NaiveDate>,
}

/// A half-open span of time, `[start, end)`.
pub type Span = (DateTime<Utc>, DateTime<Utc>);

/// How far apart two clock changes of a zone are at least (offsets are sampled this often).
const SAMPLE: TimeDelta = TimeDelta::minutes(15);
/// More than any zone's distance from UTC: every instant of a local day lies within this of
/// the day's midnight read as UTC.
const MAX_OFFSET: TimeDelta = TimeDelta::hours(16);

impl SupportHours {
    /// [`OPEN`] to [`CLOSE`] (09:00 to 18:00) in `tz`, closed on `closed_dates`.
    pub fn new(tz: Tz, closed_dates: impl IntoIterator<Item = NaiveDate>) -> SupportHours {
        SupportHours {
            tz,
            open: OPEN,
            close: CLOSE,
            closed_dates: closed_dates.into_iter().collect(),
        }
    }

    /// Monday to Friday and not closed.
    pub fn is_support_day(&self, date: NaiveDate) -> bool {
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !self.closed_dates.contains(&date)
    }

    /// Whether support is open at `t`: the rule itself, read on the wall clock.
    pub fn is_open(&self, t: DateTime<Utc>) -> bool {
        self.local(t).is_some_and(|local| {
            self.is_support_day(local.date()) && (self.open..self.close).contains(&local.time())
        })
    }

    /// The wall clock at `t` (none beyond the dates chrono can write).
    pub fn local(&self, t: DateTime<Utc>) -> Option<NaiveDateTime> {
        t.naive_utc().checked_add_signed(self.offset(t))
    }

    fn offset(&self, t: DateTime<Utc>) -> TimeDelta {
        let o = self.tz.offset_from_utc_datetime(&t.naive_utc()).fix();
        TimeDelta::seconds(i64::from(o.local_minus_utc()))
    }

    /// The spans of support time on the local date `date` (empty on a day without support),
    /// in order: one span, unless the clocks change within the hours.
    pub fn hours_on(&self, date: NaiveDate) -> Option<Vec<Span>> {
        if !self.is_support_day(date) {
            return Some(Vec::new());
        }
        let midnight = date.and_time(NaiveTime::MIN).and_utc();
        let start = midnight.checked_sub_signed(MAX_OFFSET)?;
        let end = midnight
            .checked_add_signed(TimeDelta::days(1))?
            .checked_add_signed(MAX_OFFSET)?;
        // The zone's offsets over the window, as (first instant, offset) segments; a change is
        // found to the second by bisection between two samples.
        let mut segments = vec![(start, self.offset(start))];
        let mut t = start;
        while t < end {
            let next = t.checked_add_signed(SAMPLE).map_or(end, |n| n.min(end));
            let last = segments.last().map_or(TimeDelta::zero(), |s| s.1);
            if self.offset(next) != last {
                let (mut lo, mut hi) = (t, next);
                while hi - lo > TimeDelta::seconds(1) {
                    let mid = lo + (hi - lo) / 2;
                    if self.offset(mid) == last {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                segments.push((hi, self.offset(hi)));
            }
            t = next;
        }
        let (open, close) = (date.and_time(self.open), date.and_time(self.close));
        let mut spans: Vec<Span> = Vec::new();
        for (i, &(from, offset)) in segments.iter().enumerate() {
            let to = segments.get(i + 1).map_or(end, |s| s.0);
            // Within this segment, local time is UTC + offset.
            let a = from.max(utc(open, offset)?);
            let b = to.min(utc(close, offset)?);
            if a >= b {
                continue;
            }
            match spans.last_mut() {
                Some(s) if s.1 == a => s.1 = b,
                _ => spans.push((a, b)),
            }
        }
        Some(spans)
    }

    /// The first-response deadline of a ticket of `class` created at `created`.
    pub fn first_response_due(
        &self,
        class: TicketClass,
        created: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, SlaError> {
        if self.open >= self.close {
            return Err(SlaError::EmptyHours {
                open: self.open,
                close: self.close,
            });
        }
        let none = || SlaError::NoSupportHours(created);
        // From the local day before creation's: a clock change near midnight can put a later
        // instant on it. Every closed date may push a deadline by a day; weekends and days
        // without support hours are the rest of the bound.
        let mut day = self.local(created).and_then(|l| l.date().pred_opt());
        let mut left = CRITICAL_RESPONSE;
        for _ in 0..2 * self.closed_dates.len() + 32 {
            let d = day.ok_or_else(none)?;
            let spans = self.hours_on(d).ok_or_else(none)?;
            match class {
                TicketClass::Standard => {
                    // The close of the first support day whose hours end after creation.
                    if let Some(&(_, close)) = spans.last().filter(|s| s.1 > created) {
                        return Ok(close);
                    }
                }
                TicketClass::Critical => {
                    for (a, b) in spans.into_iter().filter(|s| s.1 > created) {
                        let a = a.max(created);
                        if b - a >= left {
                            return Ok(a + left);
                        }
                        left -= b - a;
                    }
                }
            }
            day = d.succ_opt();
        }
        Err(none())
    }
}

impl SupportHours {
    /// How much support time lies between `from` and `to` (zero when `to` is not later): what
    /// a first-response clock has left, counted as the deadline itself is counted.
    pub fn support_time(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<TimeDelta> {
        let mut total = TimeDelta::zero();
        if to <= from {
            return Some(total);
        }
        // From the local day before `from`'s, as the deadline is found.
        let mut day = self.local(from)?.date().pred_opt()?;
        let last = self.local(to)?.date();
        while day <= last {
            for (a, b) in self.hours_on(day)? {
                let (a, b) = (a.max(from), b.min(to));
                if b > a {
                    total += b - a;
                }
            }
            day = day.succ_opt()?;
        }
        Some(total)
    }

    /// The span of support hours `t` falls in, if support is open at `t`.
    pub fn open_span(&self, t: DateTime<Utc>) -> Option<Span> {
        let day = self.local(t)?.date();
        [day.pred_opt()?, day, day.succ_opt()?]
            .into_iter()
            .filter_map(|d| self.hours_on(d))
            .flatten()
            .find(|(a, b)| (*a..*b).contains(&t))
    }
}

/// The instant at which the wall clock at `offset` from UTC reads `local`.
fn utc(local: NaiveDateTime, offset: TimeDelta) -> Option<DateTime<Utc>> {
    local.checked_sub_signed(offset).map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    #[test]
    fn support_time_left_counts_only_support_hours() {
        let h = SupportHours::new(chrono_tz::Europe::Rome, []);
        // Friday 4 December 2026 17:50 Rome to Monday 09:20: 10 minutes Friday, 20 Monday.
        let from = at("2026-12-04T16:50:00Z");
        let due = h
            .first_response_due(TicketClass::Critical, from)
            .expect("due");
        assert_eq!(due, at("2026-12-07T08:20:00Z"));
        assert_eq!(h.support_time(from, due), Some(TimeDelta::minutes(30)));
        // Saturday: the whole 20 minutes of Monday still ahead.
        let sat = at("2026-12-05T10:00:00Z");
        assert_eq!(h.support_time(sat, due), Some(TimeDelta::minutes(20)));
        assert_eq!(h.support_time(due, from), Some(TimeDelta::zero()));
        assert_eq!(
            h.open_span(from),
            Some((at("2026-12-04T08:00:00Z"), at("2026-12-04T17:00:00Z")))
        );
        assert_eq!(h.open_span(sat), None);
    }

    #[test]
    fn a_day_in_rome_is_one_span_of_nine_hours() {
        let h = SupportHours::new(chrono_tz::Europe::Rome, []);
        let d = NaiveDate::from_ymd_opt(2026, 12, 1).expect("date");
        assert_eq!(
            h.hours_on(d),
            Some(vec![(
                at("2026-12-01T08:00:00Z"),
                at("2026-12-01T17:00:00Z")
            )])
        );
    }

    #[test]
    fn the_last_day_that_can_be_computed_ends_the_search() {
        let h = SupportHours::new(chrono_tz::Europe::Rome, []);
        let created = DateTime::<Utc>::MAX_UTC;
        assert_eq!(
            h.first_response_due(TicketClass::Critical, created),
            Err(SlaError::NoSupportHours(created))
        );
    }
}
