//! Background work of a server: the routing follower, the hold worker, the stock folder, the
//! stock recorder, the SLA alerter and the mail outbox worker. Each runs on every instance and
//! is safe to run on several.

pub mod hold;
pub mod outbox;
pub mod routing;
pub mod sla;
mod smtp_pool;
pub mod stock;

pub use hold::spawn_hold_worker;
pub use routing::spawn_follower;
pub use sla::spawn_sla_alerter;
pub use stock::{spawn_stock_folder, spawn_stock_recorder};
