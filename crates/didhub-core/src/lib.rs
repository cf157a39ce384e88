//! didhub's domain: types, rules and calculations. No I/O, no async.

pub mod number;
pub mod range;
pub mod did;
pub mod licensing;
pub mod import;
