//! The support desk (to come).
