//! Packages, client packages, assignment, block allocation and routing lookups.

pub mod assign;
