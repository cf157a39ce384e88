//! Packages, client packages, assignment of DIDs, block allocation and the routing feed.

pub mod allocate;
pub mod assign;
pub(crate) mod assign_batch;
pub mod blocks;
pub mod client_packages;
pub mod holds;
pub mod packages;
pub mod routing;
mod statements;

crate::handle!(
    /// Packages, client packages, assignment of DIDs, block allocation and the routing feed.
    Assignment,
    assignment
);
