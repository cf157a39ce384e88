//! Orders and porting (to come).
