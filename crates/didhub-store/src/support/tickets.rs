//! Tickets: opening one (by a partner's user, or by support staff for a partner), its fields
//! and their edits, references between tickets, and reads. Changes of its state, class and
//! assignee (each through the versioned update, on the timeline and in the audit log) are in
//! `ticket_changes.rs`.

use chrono::{DateTime, TimeDelta, Utc};
use didhub_core::access::email as check_email;
use didhub_core::secret::{Keyring, SecretError};
use didhub_core::sla::TicketClass;
use didhub_core::ticket::{
    self, check_class, check_kind, remote_address, required, secret_text, text, CallTrace,
    CriticalCriterion, FieldErrors, Side, TicketChannel, TicketDetails, TicketKind, TicketTopic,
    MAX_ITEMS, MAX_LOGIN, MAX_MESSAGE, MAX_REFERENCES, MAX_SECRET, MAX_SERIAL, MAX_SUBJECT,
};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::ticket_changes::refuse_closed;
use super::{event, fields, Author, TicketDetail, TicketEvent, TicketLink, TicketRow};
use crate::accounts::orgs::Scope;
use crate::audit::{write_audit, AuditWrite};
use crate::db::sql::{on_tx, Tx};
use crate::db::versioned::{col, col_secret, VersionedUpdate};
use crate::{new_id, now, on, retry, Actor, Result, StoreError, Support};

/// The remote maintenance access of a PBX, as a form gives it.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteAccessInput {
    /// IP address or host name (`203.0.113.5`, `pbx-42.example.com:8443`).
    pub address: String,
    pub login: Option<String>,
    pub password: Option<String>,
}

/// A new ticket.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    /// The partner it is for: support staff opening a ticket for a partner name it (or its
    /// customer or PBX); a partner's users open their own partner's.
    pub partner_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    /// The product: one of the customer's PBXs by serial …
    pub pbx_serial: Option<String>,
    /// … or a device's serial. A technical ticket names one of the two.
    pub device_serial: Option<String>,
    pub subject: String,
    pub message: String,
    #[serde(rename = "type")]
    pub kind: TicketKind,
    /// For a non-technical ticket: accounting, billing or invoices.
    pub topic: Option<TicketTopic>,
    /// How it came in: `portal` (a partner's users always), `phone`, `chat`, `social`.
    /// E-mail only follows up on an existing ticket.
    pub channel: Option<TicketChannel>,
    /// `standard` unless asked: a partner may ask for `critical`, naming the criterion;
    /// support staff set the class.
    pub class: Option<TicketClass>,
    pub criterion: Option<CriticalCriterion>,
    pub wms_version: Option<String>,
    #[serde(default)]
    pub firmware: Vec<String>,
    pub diagnostics: Option<String>,
    #[serde(default)]
    pub traces: Vec<CallTrace>,
    pub remote_access: Option<RemoteAccessInput>,
    /// Where mail about the ticket goes besides the partner's users (default: the partner
    /// user who opens it).
    pub contact_email: Option<String>,
    /// Numbers of earlier tickets of the same partner this one follows up (a closed ticket
    /// is followed up this way).
    #[serde(default)]
    pub references: Vec<i64>,
    /// Support staff logging a call or chat later: when it came in (the deadline runs from
    /// then). At most 30 days ago; default now.
    pub received_at: Option<DateTime<Utc>>,
}

/// `Some(None)` for an explicit `null`, `None` for an absent field.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Changes to a ticket's fields: absent fields stay, `null` clears.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketPatch {
    pub subject: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub device_serial: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub wms_version: Option<Option<String>>,
    pub firmware: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub diagnostics: Option<Option<String>>,
    pub traces: Option<Vec<CallTrace>>,
    /// A new remote access replaces the stored one whole; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<RemoteAccessInput>)]
    pub remote_access: Option<Option<RemoteAccessInput>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub contact_email: Option<Option<String>>,
}

pub use super::lists::{TicketFilter, TicketSort};

/// The credentials as sealed together: one value per ticket.
#[derive(Serialize, Deserialize)]
pub(crate) struct Credentials {
    pub login: Option<String>,
    pub password: Option<String>,
}

/// What a sealed value of ticket `id` is bound to.
pub(crate) fn secret_place(id: Uuid) -> String {
    format!("ticket {id} remote access")
}

/// Checks a remote access; returns the address and the credentials to seal (if any).
fn check_remote(
    errors: &mut FieldErrors,
    r: &RemoteAccessInput,
) -> (Option<String>, Option<Credentials>) {
    let address = match remote_address(&r.address) {
        Ok(a) => Some(a),
        Err(e) => {
            errors.push(("remote_access.address".into(), e));
            None
        }
    };
    let mut one = |field: &str, v: &Option<String>, max| match v.as_deref() {
        None | Some("") => None,
        Some(v) => secret_text(field, v, max).map_err(|e| errors.push(e)).ok(),
    };
    let login = one("remote_access.login", &r.login, MAX_LOGIN);
    let password = one("remote_access.password", &r.password, MAX_SECRET);
    let creds = (login.is_some() || password.is_some()).then_some(Credentials { login, password });
    (address, creds)
}

/// Seals credentials for ticket `id`; no key configured is a clear refusal naming the field.
fn seal(keys: &Keyring, id: Uuid, creds: &Credentials) -> Result<String> {
    let plain =
        serde_json::to_string(creds).map_err(|e| StoreError::invalid("remote_access", e))?;
    keys.seal(&plain, &secret_place(id)).map_err(|e| match e {
        SecretError::NoKey => StoreError::invalid("remote_access", e),
        e => StoreError::Config(e.to_string()),
    })
}

fn contact(errors: &mut FieldErrors, v: Option<&str>) -> Option<String> {
    let v = v.map(str::trim).filter(|v| !v.is_empty())?;
    check_email(v)
        .map_err(|e| errors.push(("contact_email".into(), e)))
        .ok()
}

fn details_of(errors: &mut FieldErrors, d: TicketDetails) -> TicketDetails {
    d.checked(errors)
}

/// How long after the fact support staff may log a call.
const RECEIVED_WITHIN: TimeDelta = TimeDelta::days(30);

impl Support<'_> {
    /// Opens a ticket. `author` opens it on its side: a partner's user for its own partner
    /// (scope), or support staff for the partner named.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn create_ticket(
        &self,
        actor: &Actor,
        author: &Author,
        scope: Scope,
        new: &NewTicket,
        keys: &Keyring,
    ) -> Result<TicketDetail> {
        let staff = author.side == Side::Staff;
        let mut errors = FieldErrors::new();
        let subject = required(&mut errors, "subject", &new.subject, MAX_SUBJECT);
        let message = required(&mut errors, "message", &new.message, MAX_MESSAGE);
        let topic = check_kind(&mut errors, new.kind, new.topic);
        let class = new.class.unwrap_or(TicketClass::Standard);
        let criterion = check_class(&mut errors, class, new.criterion);
        let channel = new.channel.unwrap_or(TicketChannel::Portal);
        match channel {
            TicketChannel::Email => errors.push((
                "channel".into(),
                "e-mail only follows up on an existing ticket: tickets are opened in the portal"
                    .into(),
            )),
            TicketChannel::Portal => {}
            c if !staff => errors.push((
                "channel".into(),
                format!("a partner's tickets come through the portal, not {c}"),
            )),
            _ => {}
        }
        let details = details_of(
            &mut errors,
            TicketDetails {
                wms_version: new.wms_version.clone(),
                firmware: new.firmware.clone(),
                diagnostics: new.diagnostics.clone(),
                traces: new.traces.clone(),
            },
        );
        let pbx_serial = text(
            &mut errors,
            "pbx_serial",
            new.pbx_serial.as_deref(),
            MAX_SERIAL,
        );
        let device_serial = text(
            &mut errors,
            "device_serial",
            new.device_serial.as_deref(),
            MAX_SERIAL,
        );
        if new.kind == TicketKind::Technical && pbx_serial.is_none() && device_serial.is_none() {
            errors.push((
                "pbx_serial".into(),
                "a technical ticket names its product: a PBX's serial (pbx_serial) or a \
                 device's (device_serial)"
                    .into(),
            ));
        }
        let (address, creds) = match &new.remote_access {
            Some(r) => check_remote(&mut errors, r),
            None => (None, None),
        };
        let contact_email = contact(&mut errors, new.contact_email.as_deref())
            .or_else(|| (!staff).then(|| check_email(&author.name).ok()).flatten());
        if new.references.len() > MAX_REFERENCES {
            errors.push((
                "references".into(),
                format!("at most {MAX_REFERENCES} tickets"),
            ));
        }
        let at = now();
        let created = match new.received_at {
            None => at,
            Some(_) if !staff => {
                errors.push((
                    "received_at".into(),
                    "only support staff log when a call came in".into(),
                ));
                at
            }
            Some(r) if r > at + TimeDelta::minutes(1) || r < at - RECEIVED_WITHIN => {
                errors.push((
                    "received_at".into(),
                    "must be within the last 30 days, not in the future".into(),
                ));
                at
            }
            Some(r) => r.min(at),
        };
        fields(errors)?;

        let (partner_id, customer_id, pbx_id) = self
            .ticket_owner(
                scope,
                new.partner_id,
                new.customer_id,
                pbx_serial.as_deref(),
            )
            .await?;
        let mut refs = Vec::new();
        let mut errors = FieldErrors::new();
        for (i, n) in new.references.iter().enumerate() {
            match self.ticket_id(Scope::Partner(partner_id), *n).await {
                Ok(id) if !refs.contains(&id) => refs.push(id),
                Ok(_) => {}
                Err(StoreError::NotFound { .. }) => errors.push((
                    format!("references[{i}]"),
                    format!("the partner has no ticket #{n}"),
                )),
                Err(e) => return Err(e),
            }
        }
        fields(errors)?;
        let centre = self.partner_centre(Scope::All, partner_id).await?;
        let due = self.first_response_due(&centre, class, created).await?;
        let month = centre.month_of(created)?;
        let id = new_id();
        let sealed = creds.as_ref().map(|c| seal(keys, id, c)).transpose()?;
        let details_text =
            serde_json::to_string(&details).map_err(|e| StoreError::invalid("details", e))?;
        let created = chrono::SubsecRound::trunc_subsecs(created, 6);
        retry(|| async {
            let mut tx = self.begin().await?;
            let number = next_ref(&mut tx).await?;
            on_tx!(&mut tx, |c| sqlx::query(
                "INSERT INTO tickets (id, ref, partner_id, customer_id, pbx_id, device_serial, \
                 subject, kind, topic, channel, state, class, criterion, class_set_by, details, \
                 remote_address, remote_secret, contact_email, centre, first_response_due, \
                 sla_month, created_by, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,\
                 $8,$9,$10,'open',$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23)"
            )
            .bind(id)
            .bind(number)
            .bind(partner_id)
            .bind(customer_id)
            .bind(pbx_id)
            .bind(&device_serial)
            .bind(&subject)
            .bind(new.kind.as_str())
            .bind(topic.map(|t| t.as_str()))
            .bind(channel.as_str())
            .bind(class.as_str())
            .bind(criterion.map(|c| c.as_str()))
            .bind(author.side.as_str())
            .bind(&details_text)
            .bind(&address)
            .bind(&sealed)
            .bind(&contact_email)
            .bind(&centre.code)
            .bind(due)
            .bind(&month)
            .bind(actor.as_str())
            .bind(created)
            .bind(at)
            .execute(&mut *c)
            .await?
            .rows_affected());
            super::messages::insert_message(
                &mut tx,
                id,
                author,
                ticket::MessageVisibility::Public,
                channel,
                &message,
                None,
                created,
            )
            .await?;
            for r in &refs {
                on_tx!(&mut tx, |c| sqlx::query(
                    "INSERT INTO ticket_references (ticket_id, refers_to) VALUES ($1,$2)"
                )
                .bind(id)
                .bind(r)
                .execute(&mut *c)
                .await?
                .rows_affected());
            }
            event(&mut tx, actor, id, "state", None, Some("open"), None).await?;
            let head = super::mails::MailTicket {
                id,
                number,
                subject: &subject,
                partner_id,
                contact_email: contact_email.as_deref(),
            };
            let told = super::mails::Told::Opened {
                author: &author.name,
                message: &message,
            };
            self.queue_ticket_mail(&mut tx, &head, told, super::mails::Audience::Support)
                .await?;
            write_audit(
                &mut tx,
                AuditWrite {
                    id: None,
                    actor,
                    action: "ticket.create",
                    entity: "ticket",
                    entity_id: Some(id),
                    subject: Some(format!("#{number}")),
                    changes: json!({
                        "partner_id": [null, partner_id],
                        "subject": [null, subject],
                        "class": [null, class],
                        "criterion": [null, criterion],
                        "channel": [null, channel],
                        "remote_access": [null, sealed.as_ref().map(|_| "(set)")],
                    }),
                    reason: None,
                },
            )
            .await?;
            tx.commit().await
        })
        .await?;
        self.get_ticket(scope, id).await
    }

    /// The partner, customer and PBX a new ticket belongs to: the caller's partner, or the
    /// one named (by id, or by the customer or PBX named), all consistent.
    async fn ticket_owner(
        &self,
        scope: Scope,
        partner_id: Option<Uuid>,
        customer_id: Option<Uuid>,
        pbx_serial: Option<&str>,
    ) -> Result<(Uuid, Option<Uuid>, Option<Uuid>)> {
        let customer = match customer_id {
            Some(c) => Some(
                self.accounts()
                    .get_customer(scope, c)
                    .await
                    .map_err(|_| StoreError::invalid("customer_id", format!("no customer {c}")))?,
            ),
            None => None,
        };
        let pbx = match pbx_serial {
            Some(s) => Some(self.accounts().find_pbx(scope, s).await.map_err(|_| {
                StoreError::invalid("pbx_serial", format!("no PBX with serial '{s}'"))
            })?),
            None => None,
        };
        let partner = scope
            .partner()
            .or(partner_id)
            .or(customer.as_ref().map(|c| c.partner_id))
            .or(pbx.as_ref().map(|p| p.partner_id))
            .ok_or_else(|| {
                StoreError::invalid(
                    "partner_id",
                    "name the partner the ticket is for (or its customer or PBX)",
                )
            })?;
        let mut errors = FieldErrors::new();
        if partner_id.is_some_and(|p| p != partner) {
            errors.push(("partner_id".into(), "not the caller's partner".into()));
        } else if let Some(p) = partner_id {
            if self.accounts().get_partner(scope, p).await.is_err() {
                errors.push(("partner_id".into(), format!("no partner {p}")));
            }
        }
        if customer.as_ref().is_some_and(|c| c.partner_id != partner) {
            errors.push(("customer_id".into(), "a customer of another partner".into()));
        }
        if let Some(x) = &pbx {
            if x.partner_id != partner || customer.as_ref().is_some_and(|c| c.id != x.customer_id) {
                errors.push((
                    "pbx_serial".into(),
                    "the PBX belongs to another customer".into(),
                ));
            }
        }
        fields(errors)?;
        let customer_id = customer
            .map(|c| c.id)
            .or(pbx.as_ref().map(|p| p.customer_id));
        Ok((partner, customer_id, pbx.map(|p| p.id)))
    }

    /// A ticket with its links to earlier and later tickets (those the caller may see).
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn get_ticket(&self, scope: Scope, id: Uuid) -> Result<TicketDetail> {
        let ticket = self.ticket_row(scope, id).await?.into_ticket(Utc::now());
        let link = |join: &str, key: &str| {
            format!(
                "SELECT t.id, t.ref AS number, t.subject, t.state FROM ticket_references r \
                 JOIN tickets t ON t.id = r.{join} WHERE r.{key} = $1 AND t.partner_id = $2 \
                 ORDER BY t.ref"
            )
        };
        let (refs, back) = (
            link("refers_to", "ticket_id"),
            link("ticket_id", "refers_to"),
        );
        let mut lists = Vec::new();
        for sql in [refs, back] {
            let rows: Vec<TicketLink> = on!(self, |p| sqlx::query_as(&sql)
                .bind(id)
                .bind(ticket.partner_id)
                .fetch_all(p)
                .await?);
            lists.push(rows);
        }
        let referenced_by = lists.pop().unwrap_or_default();
        let references = lists.pop().unwrap_or_default();
        Ok(TicketDetail {
            ticket,
            references,
            referenced_by,
        })
    }

    /// Changes a ticket's fields (not its state, class or assignee: their own calls). A closed
    /// ticket's fields stay as they were.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn update_ticket(
        &self,
        actor: &Actor,
        scope: Scope,
        id: Uuid,
        version: Option<i64>,
        patch: &TicketPatch,
        keys: &Keyring,
    ) -> Result<TicketDetail> {
        retry(|| async {
            let cur = self.ticket_row(scope, id).await?;
            refuse_closed(&cur)?;
            let old = cur.details_value();
            let mut errors = FieldErrors::new();
            let mut columns = Vec::new();
            if let Some(s) = &patch.subject {
                let s = required(&mut errors, "subject", s, MAX_SUBJECT);
                columns.push(col("subject", &cur.subject, &s));
            }
            if let Some(d) = &patch.device_serial {
                let d = text(&mut errors, "device_serial", d.as_deref(), MAX_SERIAL);
                columns.push(col("device_serial", &cur.device_serial, &d));
            }
            if patch.firmware.as_ref().is_some_and(|f| f.len() > MAX_ITEMS)
                || patch.traces.as_ref().is_some_and(|t| t.len() > MAX_ITEMS)
            {
                errors.push(("details".into(), format!("at most {MAX_ITEMS} entries")));
            }
            let details = details_of(
                &mut errors,
                TicketDetails {
                    wms_version: patch.wms_version.clone().unwrap_or(old.wms_version.clone()),
                    firmware: patch.firmware.clone().unwrap_or(old.firmware.clone()),
                    diagnostics: patch.diagnostics.clone().unwrap_or(old.diagnostics.clone()),
                    traces: patch.traces.clone().unwrap_or(old.traces.clone()),
                },
            );
            if details != old {
                let text = serde_json::to_string(&details)
                    .map_err(|e| StoreError::invalid("details", e))?;
                columns.push(col("details", &cur.details, &text));
            }
            if let Some(c) = &patch.contact_email {
                let c = contact(&mut errors, c.as_deref());
                columns.push(col("contact_email", &cur.contact_email, &c));
            }
            match &patch.remote_access {
                None => {}
                Some(None) => {
                    columns.push(col("remote_address", &cur.remote_address, &None::<String>));
                    columns.push(col_secret(
                        "remote_secret",
                        cur.remote_secret.is_some(),
                        None,
                    ));
                }
                Some(Some(r)) => {
                    let (address, creds) = check_remote(&mut errors, r);
                    fields(std::mem::take(&mut errors))?;
                    let sealed = creds.as_ref().map(|c| seal(keys, id, c)).transpose()?;
                    columns.push(col("remote_address", &cur.remote_address, &address));
                    columns.push(col_secret(
                        "remote_secret",
                        cur.remote_secret.is_some(),
                        sealed,
                    ));
                }
            }
            fields(errors)?;
            let mut tx = self.begin().await?;
            update(&cur, version, "ticket.update")
                .apply(&mut tx, actor, columns, vec![])
                .await?;
            tx.commit().await
        })
        .await?;
        self.get_ticket(scope, id).await
    }

    /// The ticket's timeline, oldest first.
    #[tracing::instrument(level = "debug", skip_all, err(level = "info"))]
    pub async fn ticket_events(&self, scope: Scope, id: Uuid) -> Result<Vec<TicketEvent>> {
        self.ticket_row(scope, id).await?;
        Ok(on!(self, |p| sqlx::query_as(
            "SELECT at, actor, field, before, after, reason FROM ticket_events \
             WHERE ticket_id = $1 ORDER BY at, id"
        )
        .bind(id)
        .fetch_all(p)
        .await?))
    }
}

impl TicketRow {
    fn details_value(&self) -> TicketDetails {
        serde_json::from_str(&self.details).unwrap_or_default()
    }
}

pub(crate) fn update<'a>(
    cur: &TicketRow,
    version: Option<i64>,
    action: &'a str,
) -> VersionedUpdate<'a> {
    VersionedUpdate {
        table: "tickets",
        key: "id",
        noun: "ticket",
        entity: "ticket",
        id: cur.id,
        client: version,
        read: cur.version,
        action,
        subject: Some(format!("#{}", cur.number)),
        unique: None,
    }
}

/// The next ticket number. PostgreSQL takes it from a sequence (concurrent writers); SQLite's
/// single writer reads the highest.
async fn next_ref(tx: &mut Tx) -> Result<i64> {
    Ok(match tx {
        Tx::Postgres(t) => {
            sqlx::query_scalar("SELECT nextval('tickets_ref_seq')")
                .fetch_one(&mut **t)
                .await?
        }
        Tx::Sqlite(t) => {
            sqlx::query_scalar("SELECT COALESCE(MAX(ref), 0) + 1 FROM tickets")
                .fetch_one(&mut **t)
                .await?
        }
    })
}
