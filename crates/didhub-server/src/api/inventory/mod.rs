//! Operators and DIDs: lists, edits, import, export, history.

pub mod dids;
pub mod operators;
