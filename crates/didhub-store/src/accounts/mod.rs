//! Users, API tokens, sessions, partners, customers, PBXs and idempotency keys.

pub mod idempotency;
pub mod orgs;
pub mod tokens;
pub mod users;

crate::handle!(
    /// Users, API tokens, sessions, partners, customers, PBXs and idempotency keys.
    Accounts,
    accounts
);
