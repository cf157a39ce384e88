//! PBX licenses, the service catalog, services and quotes.

pub mod licenses;
