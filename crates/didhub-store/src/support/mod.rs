//! The support desk: tickets (`tickets`; their state, class and assignee changes in
//! `ticket_changes`), their conversation (`messages`), support centres
//! and first-response deadlines (`centres`), the lists and report of service levels (`sla`),
//! the remote access secrets (`secrets`), mail that follows up on tickets (`inbound`) and
//! the mail the desk sends (`mails`).
//! The rules are `didhub_core::ticket`, `didhub_core::sla` and `didhub_core::secret`.
//!
//! Partners see their own tickets only (anything else is "not found") and never internal
//! notes or remote access credentials.

pub mod centres;
pub mod inbound;
pub mod lists;
pub mod mails;
pub mod messages;
pub mod secrets;
pub mod sla;
mod ticket_changes;
pub mod tickets;

use chrono::{DateTime, Utc};
use didhub_core::sla::TicketClass;
use didhub_core::ticket::{
    self, CriticalCriterion, SlaStatus, TicketChannel, TicketDetails, TicketKind, TicketState,
    TicketTopic,
};
use serde::Serialize;
use uuid::Uuid;

use crate::accounts::orgs::Scope;
use crate::db::sql::{bind_all, on_tx, Param, Sql, Tx};
use crate::{new_id, now, on, Actor, Result, StoreError};

crate::handle!(
    /// The support desk: tickets, their conversation, centres, service levels, inbound mail.
    Support,
    support
);

/// Who acts on a ticket: the name the conversation shows, and their side.
#[derive(Debug, Clone)]
pub struct Author {
    /// An e-mail address, or the command line's actor.
    pub name: String,
    pub side: ticket::Side,
}

/// A ticket as lists show it. Remote access credentials are never part of it: only whether
/// they are stored (support staff reveal them on their own route).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Ticket {
    pub id: Uuid,
    /// The ticket's number as people say it (`#42`) and mail subjects tag it (`[#42]`).
    pub number: i64,
    pub partner_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub pbx_id: Option<Uuid>,
    /// The serial of the PBX the ticket is about.
    pub pbx_serial: Option<String>,
    pub device_serial: Option<String>,
    pub subject: String,
    #[serde(rename = "type")]
    pub kind: TicketKind,
    pub topic: Option<TicketTopic>,
    pub channel: TicketChannel,
    pub state: TicketState,
    pub class: TicketClass,
    pub criterion: Option<CriticalCriterion>,
    /// `partner` while the class is the partner's ask, `staff` once support staff set it.
    pub class_set_by: ticket::Side,
    #[serde(flatten)]
    pub details: TicketDetails,
    /// The address of the remote maintenance (IP or host name).
    pub remote_address: Option<String>,
    /// Whether a login and password are stored (sealed; revealed to support staff only).
    pub remote_credentials: bool,
    pub contact_email: Option<String>,
    pub assignee_id: Option<Uuid>,
    /// The support centre whose hours the deadline runs on.
    pub centre: String,
    pub first_response_due: DateTime<Utc>,
    /// The first public reply by support staff.
    pub first_response_at: Option<DateTime<Utc>>,
    /// Where the ticket stands against its deadline now.
    pub sla: SlaStatus,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub version: i64,
}

/// A ticket named by number, for links between tickets.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TicketLink {
    pub id: Uuid,
    pub number: i64,
    pub subject: String,
    pub state: String,
}

/// A ticket with the tickets it references and those that reference it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub ticket: Ticket,
    /// Earlier tickets this one references.
    pub references: Vec<TicketLink>,
    /// Later tickets that reference this one.
    pub referenced_by: Vec<TicketLink>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct TicketRow {
    pub id: Uuid,
    pub number: i64,
    pub partner_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub pbx_id: Option<Uuid>,
    pub pbx_serial: Option<String>,
    pub device_serial: Option<String>,
    pub subject: String,
    pub kind: String,
    pub topic: Option<String>,
    pub channel: String,
    pub state: String,
    pub class: String,
    pub criterion: Option<String>,
    pub class_set_by: String,
    pub details: String,
    pub remote_address: Option<String>,
    pub remote_secret: Option<String>,
    pub contact_email: Option<String>,
    pub assignee_id: Option<Uuid>,
    pub centre: String,
    pub first_response_due: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub version: i64,
}

pub(crate) const TICKET_SELECT: &str = "SELECT t.id, t.ref AS number, t.partner_id, t.customer_id, \
    t.pbx_id, x.serial_number AS pbx_serial, t.device_serial, t.subject, t.kind, t.topic, t.channel, \
    t.state, t.class, t.criterion, t.class_set_by, t.details, t.remote_address, t.remote_secret, \
    t.contact_email, t.assignee_id, t.centre, t.first_response_due, t.first_response_at, t.created_by, \
    t.created_at, t.updated_at, t.closed_at, t.version FROM tickets t LEFT JOIN pbxs x ON x.id = t.pbx_id";

/// A stored name read back; the schema's CHECKs keep them to known names.
pub(crate) fn known<T: std::str::FromStr>(s: &str, or: T) -> T {
    s.parse().unwrap_or(or)
}

impl TicketRow {
    pub(crate) fn into_ticket(self, now: DateTime<Utc>) -> Ticket {
        let class = known(&self.class, TicketClass::Standard);
        Ticket {
            id: self.id,
            number: self.number,
            partner_id: self.partner_id,
            customer_id: self.customer_id,
            pbx_id: self.pbx_id,
            pbx_serial: self.pbx_serial,
            device_serial: self.device_serial,
            subject: self.subject,
            kind: known(&self.kind, TicketKind::Technical),
            topic: self.topic.and_then(|t| t.parse().ok()),
            channel: known(&self.channel, TicketChannel::Portal),
            state: known(&self.state, TicketState::Open),
            class,
            criterion: self.criterion.and_then(|c| c.parse().ok()),
            class_set_by: side(&self.class_set_by),
            // Written by this module from a `TicketDetails`.
            details: serde_json::from_str(&self.details).unwrap_or_default(),
            remote_address: self.remote_address,
            remote_credentials: self.remote_secret.is_some(),
            contact_email: self.contact_email,
            assignee_id: self.assignee_id,
            centre: self.centre,
            first_response_due: self.first_response_due,
            first_response_at: self.first_response_at,
            sla: ticket::sla_status(class, self.first_response_due, self.first_response_at, now),
            created_by: self.created_by,
            created_at: self.created_at,
            updated_at: self.updated_at,
            closed_at: self.closed_at,
            version: self.version,
        }
    }
}

pub(crate) fn side(s: &str) -> ticket::Side {
    if s == "staff" {
        ticket::Side::Staff
    } else {
        ticket::Side::Partner
    }
}

impl Support<'_> {
    /// The stored row of a ticket within the caller's scope (else "not found").
    pub(crate) async fn ticket_row(&self, scope: Scope, id: Uuid) -> Result<TicketRow> {
        let mut sql = Sql::new(TICKET_SELECT);
        sql.push(" WHERE t.id = ").bind(Param::Uuid(id));
        if let Some(p) = scope.partner() {
            sql.push(" AND t.partner_id = ").bind(Param::Uuid(p));
        }
        let r: Option<TicketRow> = on!(self, |p| bind_all!(sqlx::query_as(&sql.text), sql.params)
            .fetch_optional(p)
            .await?);
        r.ok_or_else(|| StoreError::not_found("ticket", id))
    }

    /// The id of ticket `#number` within the caller's scope.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn ticket_id(&self, scope: Scope, number: i64) -> Result<Uuid> {
        let mut sql = Sql::new("SELECT id FROM tickets WHERE ref = ");
        sql.bind(Param::Int(number));
        if let Some(p) = scope.partner() {
            sql.push(" AND partner_id = ").bind(Param::Uuid(p));
        }
        let r: Option<Uuid> = on!(self, |p| bind_all!(
            sqlx::query_scalar(&sql.text),
            sql.params
        )
        .fetch_optional(p)
        .await?);
        r.ok_or_else(|| StoreError::not_found("ticket", format!("#{number}")))
    }
}

/// One entry of a ticket's timeline.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TicketEvent {
    pub at: DateTime<Utc>,
    pub actor: String,
    /// `state`, `class` or `assignee`.
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub reason: Option<String>,
}

/// Writes one timeline entry in the caller's transaction.
pub(crate) async fn event(
    tx: &mut Tx,
    actor: &Actor,
    ticket_id: Uuid,
    field: &str,
    before: Option<&str>,
    after: Option<&str>,
    reason: Option<&str>,
) -> Result<()> {
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO ticket_events (id, ticket_id, at, actor, field, before, after, reason) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8)"
    )
    .bind(new_id())
    .bind(ticket_id)
    .bind(now())
    .bind(actor.as_str())
    .bind(field)
    .bind(before)
    .bind(after)
    .bind(reason)
    .execute(&mut *c)
    .await?
    .rows_affected());
    Ok(())
}

/// The field errors of a check, as the store reports them (422, each under its field).
pub(crate) fn fields(errors: ticket::FieldErrors) -> Result<()> {
    StoreError::check_all(errors)
}
