//! Ordering: the service catalog (what can be ordered where, and what an order needs), and
//! the orders themselves with their states and timeline.

pub mod catalog;
pub mod orders;
