//! The support desk over HTTP: tickets and their conversation (`tickets`), the desk's lists,
//! report and centres (`desk`), and mail that follows up on tickets (`inbound`). Partner
//! users work on their partner's tickets; support staff and admins on all, with the desk's
//! own routes besides.

pub mod desk;
pub mod inbound;
pub mod tickets;

use didhub_core::ticket::Side;
use didhub_store::support::Author;

use crate::Principal;

/// The caller as a ticket's conversation shows it, and the side it acts on.
pub fn author(p: &Principal) -> Author {
    Author {
        name: p.email.clone(),
        side: side(p),
    }
}

pub fn side(p: &Principal) -> Side {
    if p.role.is_partner() {
        Side::Partner
    } else {
        Side::Staff
    }
}
