//! Who may do what. Staff roles see everything their role allows; partner roles see only
//! their own partner's data (enforced by scoping every query, see `Scope`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including users and the service catalog.
    Admin,
    /// Inventory (operators, stock, import/export, audit) and customers, PBXs, licenses.
    Operations,
    /// The support desk (tickets, their class, assignment and service levels), with read
    /// access to customers, PBXs, licenses and inventory.
    Support,
    /// A partner's administrator: its customers, PBXs, licenses, services and users.
    PartnerAdmin,
    /// A partner's member: its customers, PBXs, licenses and services; not its users.
    PartnerMember,
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Need {
    /// Any signed-in user (the data is scoped to the caller).
    Authenticated,
    /// Read the inventory: operators, DIDs.
    InventoryRead,
    /// Change the inventory, import, export, read the audit log.
    InventoryAdmin,
    /// Read partners, customers, PBXs, licenses, services (scoped for partner users).
    OrgRead,
    /// Change customers, PBXs, licenses, services (scoped for partner users).
    OrgWrite,
    /// Create and change partners and the service catalog.
    StaffAdmin,
    /// Manage users (partner admins: their partner's users only).
    Users,
    /// Any staff role (admin, operations, support): the mail outbox.
    Staff,
    /// Open, read and answer tickets (partner users: their partner's, without internal
    /// notes or remote access credentials).
    Tickets,
    /// The support desk's own work: class, assignment, internal notes, revealing remote
    /// access, the SLA lists and report, inbound mail, support centres.
    SupportDesk,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error(
        "unknown role '{0}' (expected admin, operations, support, partner_admin or partner_member)"
    )]
    UnknownRole(String),
    #[error("{} user must belong to a partner", crate::text::a(.0))]
    PartnerRequired(Role),
    #[error("{} user cannot belong to a partner", crate::text::a(.0))]
    PartnerNotAllowed(Role),
    #[error("{} cannot give the role {role}", crate::text::a(actor))]
    CannotGrant { actor: Role, role: Role },
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Operations,
        Role::Support,
        Role::PartnerAdmin,
        Role::PartnerMember,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operations => "operations",
            Role::Support => "support",
            Role::PartnerAdmin => "partner_admin",
            Role::PartnerMember => "partner_member",
        }
    }

    pub fn is_partner(&self) -> bool {
        matches!(self, Role::PartnerAdmin | Role::PartnerMember)
    }

    /// Whether the role may use a route that needs `need`.
    pub fn allows(&self, need: Need) -> bool {
        use Need::*;
        use Role::*;
        matches!(
            (self, need),
            (_, Authenticated)
                | (Admin, _)
                | (
                    Operations,
                    InventoryRead | InventoryAdmin | OrgRead | OrgWrite | Staff
                )
                | (
                    Support,
                    InventoryRead | OrgRead | Staff | Tickets | SupportDesk
                )
                | (PartnerAdmin, OrgRead | OrgWrite | Users | Tickets)
                | (PartnerMember, OrgRead | OrgWrite | Tickets)
        )
    }

    /// Checks that a user of this role has (or has not) a partner.
    pub fn check_partner(&self, has_partner: bool) -> Result<(), AccessError> {
        match (self.is_partner(), has_partner) {
            (true, false) => Err(AccessError::PartnerRequired(*self)),
            (false, true) => Err(AccessError::PartnerNotAllowed(*self)),
            _ => Ok(()),
        }
    }

    /// Which roles this role may give: admins any, partner admins their partner's roles.
    pub fn check_grant(&self, role: Role) -> Result<(), AccessError> {
        let ok = match self {
            Role::Admin => true,
            Role::PartnerAdmin => role.is_partner(),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(AccessError::CannotGrant { actor: *self, role })
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = AccessError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let k = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == k)
            .ok_or_else(|| AccessError::UnknownRole(s.trim().to_string()))
    }
}

/// Longest e-mail address (RFC 5321's path limit, less the brackets).
pub const MAX_EMAIL: usize = 254;
/// Longest password accepted.
pub const MAX_PASSWORD: usize = 1024;

/// Accepts an e-mail address of a plausible shape (the mailbox is proven by use, not here):
/// no whitespace, control or bidirectional characters (it is shown in lists and the audit log).
pub fn email(s: &str) -> Result<String, String> {
    let t = s.trim().to_lowercase();
    let ok = t.len() <= MAX_EMAIL
        && t.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty()
                && !d.is_empty()
                && !d.starts_with('.')
                && !d.ends_with('.')
                && !d.contains("..")
        })
        && !t
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || crate::did::is_bidi_control(c))
        && t.matches('@').count() == 1;
    if ok {
        Ok(t)
    } else {
        Err(format!("'{}' is not an e-mail address", s.trim()))
    }
}

/// Password policy: 12 to 1024 characters (length is what matters; argon2 handles the rest).
pub fn check_password(p: &str) -> Result<(), String> {
    let n = p.chars().count();
    if n < 12 {
        Err("password must have at least 12 characters".into())
    } else if n > MAX_PASSWORD {
        Err(format!(
            "password must have at most {MAX_PASSWORD} characters"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix() {
        assert!(Role::Admin.allows(Need::StaffAdmin));
        assert!(Role::Operations.allows(Need::InventoryAdmin));
        assert!(!Role::Operations.allows(Need::Users));
        assert!(!Role::Support.allows(Need::InventoryAdmin));
        assert!(Role::Support.allows(Need::OrgRead));
        assert!(!Role::Support.allows(Need::OrgWrite));
        for r in [Role::PartnerAdmin, Role::PartnerMember] {
            assert!(!r.allows(Need::InventoryRead));
            assert!(!r.allows(Need::InventoryAdmin));
            assert!(!r.allows(Need::StaffAdmin));
            assert!(r.allows(Need::OrgWrite));
        }
        assert!(Role::PartnerAdmin.allows(Need::Users));
        assert!(!Role::PartnerMember.allows(Need::Users));
    }

    #[test]
    fn partner_binding_and_grants() {
        assert!(Role::PartnerMember.check_partner(false).is_err());
        assert!(Role::Admin.check_partner(true).is_err());
        assert!(Role::PartnerAdmin.check_grant(Role::Admin).is_err());
        assert!(Role::PartnerAdmin.check_grant(Role::PartnerMember).is_ok());
        assert!(Role::Operations.check_grant(Role::Support).is_err());
        assert_eq!("Partner-Admin".parse::<Role>().unwrap(), Role::PartnerAdmin);
    }

    #[test]
    fn emails_and_passwords() {
        assert_eq!(email(" Ann@Example.COM ").unwrap(), "ann@example.com");
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.com",
            "a@.b",
            "a b@c.com",
            "a@@b.com",
            "evil\u{1b}[2J@x.example",
            "moc.\u{202e}evil@x.example",
            "a\u{2066}b@x.example",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
        assert_eq!(email("admin@localhost").unwrap(), "admin@localhost");
        assert!(check_password("short").is_err());
        assert!(check_password("correct horse battery").is_ok());
    }
}
