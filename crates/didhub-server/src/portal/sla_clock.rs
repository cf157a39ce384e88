//! A ticket's first-response clock as its page says it, on the support centre's terms: the
//! deadline on the centre's wall clock, and the support time left (the core's
//! `SupportHours::support_time`, the hours the deadline itself is counted in), or how late it
//! is. `static/sla-clock.js` counts it down while support is open.

use chrono::{TimeDelta, Utc};

use super::tickets::sla_label;
use super::{machine_time, when};
use crate::error::ApiError;
use crate::AppState;

/// The first-response clock, on the support centre's hours.
pub struct Clock {
    pub status: &'static str,
    /// When support answered, if it did.
    pub answered: Option<String>,
    pub due: String,
    pub due_machine: String,
    /// The deadline on the centre's wall clock, with its zone.
    pub due_local: String,
    /// What is left (support time) or how late it is (wall clock).
    pub left: Option<String>,
    pub left_machine: String,
    pub left_seconds: i64,
    /// While support is open: seconds until it closes (the countdown runs until then).
    pub open_seconds: Option<i64>,
    pub overdue: Option<String>,
    pub closed_now: bool,
}

/// A span of time as people read it: `2 h 05 min`, `20 min`, `3 d 4 h`.
pub fn span_text(d: TimeDelta) -> String {
    let m = d.num_minutes().max(0);
    let (days, hours, mins) = (m / 1440, m % 1440 / 60, m % 60);
    match (days, hours) {
        (0, 0) if d.num_seconds() < 60 => "less than a minute".into(),
        (0, 0) => format!("{mins} min"),
        (0, h) => format!("{h} h {mins:02} min"),
        (d, h) => format!("{d} d {h} h"),
    }
}

/// A span as an HTML `<time datetime>` duration.
fn span_machine(d: TimeDelta) -> String {
    format!("PT{}S", d.num_seconds().max(0))
}

pub async fn clock(s: &AppState, t: &didhub_store::support::Ticket) -> Result<Clock, ApiError> {
    let now = Utc::now();
    let hours = s.store.support().hours_around(&t.centre, now).await?;
    let due = t.first_response_due;
    let local = due.with_timezone(&hours.tz);
    let mut c = Clock {
        status: sla_label(t.sla),
        answered: t.first_response_at.as_ref().map(when),
        due: when(&due),
        due_machine: machine_time(&due),
        due_local: format!(
            "{} ({})",
            local.format("%a %-d %b %Y %H:%M"),
            hours.tz.name()
        ),
        left: None,
        left_machine: String::new(),
        left_seconds: 0,
        open_seconds: None,
        overdue: None,
        closed_now: false,
    };
    if t.first_response_at.is_some() {
        return Ok(c);
    }
    if now >= due {
        c.overdue = Some(span_text(now - due));
        return Ok(c);
    }
    let left = hours.support_time(now, due).unwrap_or(due - now);
    c.left = Some(span_text(left));
    c.left_machine = span_machine(left);
    c.left_seconds = left.num_seconds();
    match hours.open_span(now) {
        Some((_, end)) => c.open_seconds = Some((end.min(due) - now).num_seconds()),
        None => c.closed_now = true,
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_in_hours_and_minutes() {
        assert_eq!(span_text(TimeDelta::minutes(20)), "20 min");
        assert_eq!(span_text(TimeDelta::minutes(125)), "2 h 05 min");
        assert_eq!(span_text(TimeDelta::hours(52)), "2 d 4 h");
        assert_eq!(span_text(TimeDelta::seconds(30)), "less than a minute");
    }
}
