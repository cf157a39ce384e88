//! Ordering: the service catalog (what can be ordered where, and what an order needs).

pub mod catalog;
