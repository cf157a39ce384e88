//! didhub's domain: types, rules and calculations. No I/O, no async.

pub mod did;
pub mod import;
pub mod licensing;
pub mod number;
pub mod range;
