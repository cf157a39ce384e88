//! Working-day calendars and closures (to come with ordering and the support desk).
