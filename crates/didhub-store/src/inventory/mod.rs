//! Operators, DIDs, import, export and stock.

pub mod dids;
pub mod export;
pub mod import;
pub mod operators;

crate::handle!(
    /// Operators, DIDs, import, export and stock.
    Inventory,
    inventory
);
