//! didhub's domain: types, rules and calculations. No I/O, no async.

pub mod access;
pub mod assignment;
pub mod audit;
pub mod blocks;
pub mod calendar;
pub mod catalog;
pub mod did;
pub mod documents;
pub mod edge;
pub mod forecast;
pub mod ids;
pub mod import;
pub mod licensing;
pub mod loa;
pub mod mail;
pub mod money;
pub mod number;
pub mod order;
pub mod order_flow;
pub mod range;
pub mod secret;
pub mod sla;
pub mod text;
pub mod ticket;
