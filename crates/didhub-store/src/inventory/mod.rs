//! Operators, DIDs, import, export and stock.

mod create;
pub mod dids;
pub mod export;
pub mod import;
pub mod operators;
pub mod rejects;
mod sheet;
pub mod stock;
pub mod stock_history;
mod xls;

crate::handle!(
    /// Operators, DIDs, import, export and stock.
    Inventory,
    inventory
);
