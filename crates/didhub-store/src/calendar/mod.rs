//! Working-day calendars: the days operators close on top of a country's weekend and national
//! holidays, and the calendar (`didhub_core::calendar`) that counts them.

pub mod closures;

crate::handle!(
    /// Working-day calendars and their closures.
    Calendars,
    calendar
);
