//! Login, sessions, tokens and users; partners, customers and PBXs.

pub mod orgs;
pub mod users;
