//! CLI for users, partners, customers, PBXs, licenses and services.

use super::print_json;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use didhub_core::access::Role;
use didhub_core::licensing::TermKind;
use didhub_store::accounts::orgs::{NewPbx, Scope};
use didhub_store::licensing::licenses::ServiceRequest;
use didhub_store::{Actor, Store};

use crate::show::row;

#[derive(Subcommand)]
pub enum UsersCmd {
    /// Create a user. The password is read from the DIDHUB_PASSWORD environment variable or,
    /// with --password-stdin, from the first line of standard input (never from a flag, so it
    /// stays out of shell history and process lists). Without one, the user can only use tokens.
    Create {
        /// E-mail address (the login).
        #[arg(long)]
        email: String,
        /// admin, operations, support, partner_admin or partner_member.
        #[arg(long)]
        role: String,
        /// Partner name (required for partner roles).
        #[arg(long)]
        partner: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users with their role, partner and state.
    List,
    /// Change a user's role.
    SetRole {
        /// The user's e-mail address.
        email: String,
        /// admin, operations, support, partner_admin or partner_member.
        role: String,
    },
    /// Disable or enable a user.
    Disable {
        /// The user's e-mail address.
        email: String,
        /// Enable the user again instead.
        #[arg(long)]
        enable: bool,
    },
}

#[derive(Subcommand)]
pub enum PartnersCmd {
    /// List partners.
    List,
    /// Create a partner.
    Create {
        /// The name.
        name: String,
    },
    /// Rename a partner.
    Rename {
        /// The current name.
        name: String,
        /// The new name.
        new_name: String,
    },
    /// Delete a partner without customers, users or documents.
    Delete {
        /// The name.
        name: String,
    },
}

#[derive(Subcommand)]
pub enum CustomersCmd {
    /// List customers with their partner and whether they are active.
    List {
        /// Only this partner's customers (by name).
        #[arg(long)]
        partner: Option<String>,
    },
    /// Create a customer of a partner.
    Create {
        /// Partner name.
        #[arg(long)]
        partner: String,
        /// The name.
        name: String,
    },
    /// Rename a customer.
    Rename {
        /// Customer id.
        id: uuid::Uuid,
        /// The new name.
        new_name: String,
    },
    /// Delete a customer without PBXs or orders.
    Delete {
        /// Customer id.
        id: uuid::Uuid,
    },
}

#[derive(Subcommand)]
pub enum PbxsCmd {
    /// List PBXs with their customer.
    List,
    /// Create a PBX for a customer.
    Create {
        /// Customer id.
        #[arg(long)]
        customer: uuid::Uuid,
        /// The name.
        #[arg(long)]
        name: String,
        /// PBX serial number (unique).
        #[arg(long)]
        serial: String,
        /// Region, free text.
        #[arg(long)]
        region: Option<String>,
    },
    /// Set the license: term kind and current period start.
    SetLicense {
        /// PBX serial number.
        serial: String,
        /// monthly, yearly or five_year.
        #[arg(long)]
        term: String,
        /// Start of the license's current period (YYYY-MM-DD).
        #[arg(long)]
        period_start: chrono::NaiveDate,
    },
    /// Renew the license (and its services) for the next period.
    Renew {
        /// PBX serial number.
        serial: String,
    },
    /// Add a service (co-terminated, pro rata).
    AddService {
        /// PBX serial number.
        serial: String,
        /// Service kind code.
        #[arg(long)]
        kind: String,
        /// Currency of the price charged.
        #[arg(long, default_value = "EUR")]
        currency: String,
        /// Start day (default today).
        #[arg(long)]
        start: Option<chrono::NaiveDate>,
        /// Only price it.
        #[arg(long)]
        preview: bool,
    },
    /// Services of a PBX with their charges.
    Services {
        /// PBX serial number.
        serial: String,
    },
    /// Cancel a service today: it goes, credited pro rata for the days left (printed, and kept
    /// in the audit log). Name it by --kind, or by --id when the PBX has two of a kind.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["kind", "id"])))]
    CancelService {
        /// PBX serial number.
        serial: String,
        /// Service kind code.
        #[arg(long)]
        kind: Option<String>,
        /// Service id (see `pbxs services`).
        #[arg(long)]
        id: Option<uuid::Uuid>,
        /// Why, for the audit log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Delete a PBX without services or DIDs routed to it.
    Delete {
        /// PBX serial number.
        serial: String,
    },
}

#[derive(Subcommand)]
pub enum ServiceKindsCmd {
    /// List the service kinds and their prices (JSON).
    List,
    /// Add a service kind with its prices.
    Create {
        /// The kind's code, e.g. sip_trunk.
        code: String,
        /// The name shown.
        #[arg(long)]
        name: String,
        /// Prices TERM:CURRENCY:AMOUNT (e.g. yearly:EUR:1200.00): several after one --price,
        /// comma-separated, or --price repeated.
        #[arg(long = "price", value_name = "TERM:CURRENCY:AMOUNT", num_args = 1.., value_delimiter = ',')]
        prices: Vec<String>,
    },
}

fn read_password(stdin: bool) -> Result<Option<String>> {
    if stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        return Ok(Some(line.trim_end_matches(['\r', '\n']).to_string()));
    }
    Ok(std::env::var("DIDHUB_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty()))
}

pub async fn users(store: &Store, actor: &Actor, cmd: UsersCmd) -> Result<()> {
    match cmd {
        UsersCmd::Create {
            email,
            role,
            partner,
            password_stdin,
        } => {
            let role: Role = role.parse().context("--role")?;
            let partner_id = match partner {
                Some(p) => Some(store.accounts().find_partner(&p).await?.id),
                None => None,
            };
            let pw = read_password(password_stdin)?;
            let u = store
                .accounts()
                .create_user(actor, None, &email, role, partner_id, pw.as_deref())
                .await?;
            row(&[&u.id, &u.email, &u.role])?;
        }
        UsersCmd::List => {
            let partners = partner_names(store).await?;
            crate::show::header(&["ID", "EMAIL", "ROLE", "PARTNER", "STATE"])?;
            for u in store.accounts().list_users(None).await? {
                let state = if u.disabled { "disabled" } else { "enabled" };
                let partner = crate::show::name_of(&partners, u.partner_id);
                row(&[&u.id, &u.email, &u.role, &partner, &state])?;
            }
        }
        UsersCmd::SetRole { email, role } => {
            let u = store
                .accounts()
                .find_user(&email)
                .await?
                .with_context(|| format!("no user {email}"))?;
            let role: Role = role.parse().context("role")?;
            let u = store
                .accounts()
                .update_user(actor, Role::Admin, None, u.id, Some(role), None)
                .await?;
            row(&[&u.email, &u.role])?;
        }
        UsersCmd::Disable { email, enable } => {
            let u = store
                .accounts()
                .find_user(&email)
                .await?
                .with_context(|| format!("no user {email}"))?;
            store
                .accounts()
                .update_user(actor, Role::Admin, None, u.id, None, Some(!enable))
                .await?;
        }
    }
    Ok(())
}

pub async fn partners(store: &Store, actor: &Actor, cmd: PartnersCmd) -> Result<()> {
    match cmd {
        PartnersCmd::List => {
            crate::show::header(&["ID", "NAME"])?;
            for p in store.accounts().list_partners(Scope::All).await? {
                row(&[&p.id, &p.name])?;
            }
        }
        PartnersCmd::Create { name } => {
            let p = store.accounts().create_partner(actor, &name).await?;
            row(&[&p.id, &p.name])?;
        }
        PartnersCmd::Rename { name, new_name } => {
            let p = store.accounts().find_partner(&name).await?;
            let p = store
                .accounts()
                .rename_partner(actor, p.id, &new_name, None)
                .await?;
            row(&[&p.id, &p.name])?;
        }
        PartnersCmd::Delete { name } => {
            let p = store.accounts().find_partner(&name).await?;
            store.accounts().delete_partner(actor, p.id).await?;
        }
    }
    Ok(())
}

pub async fn customers(store: &Store, actor: &Actor, cmd: CustomersCmd) -> Result<()> {
    match cmd {
        CustomersCmd::List { partner } => {
            let pid = match partner {
                Some(p) => Some(store.accounts().find_partner(&p).await?.id),
                None => None,
            };
            let partners = partner_names(store).await?;
            crate::show::header(&["ID", "NAME", "PARTNER", "STATE"])?;
            for c in store.accounts().list_customers(Scope::All, pid).await? {
                let active = if c.active { "active" } else { "inactive" };
                let partner = crate::show::name_of(&partners, Some(c.partner_id));
                row(&[&c.id, &c.name, &partner, &active])?;
            }
        }
        CustomersCmd::Create { partner, name } => {
            let pid = store.accounts().find_partner(&partner).await?.id;
            let c = store
                .accounts()
                .create_customer(actor, Scope::All, pid, &name)
                .await?;
            row(&[&c.id, &c.name])?;
        }
        CustomersCmd::Rename { id, new_name } => {
            let c = store
                .accounts()
                .rename_customer(actor, Scope::All, id, &new_name, None)
                .await?;
            row(&[&c.id, &c.name])?;
        }
        CustomersCmd::Delete { id } => {
            store
                .accounts()
                .delete_customer(actor, Scope::All, id)
                .await?
        }
    }
    Ok(())
}

pub async fn pbxs(store: &Store, actor: &Actor, cmd: PbxsCmd) -> Result<()> {
    let all = Scope::All;
    match cmd {
        PbxsCmd::List => {
            let customers = customer_names(store).await?;
            crate::show::header(&["ID", "SERIAL", "NAME", "CUSTOMER", "REGION"])?;
            for p in store.accounts().list_pbxs(all, None).await? {
                let region = p.region.unwrap_or_default();
                let customer = crate::show::name_of(&customers, Some(p.customer_id));
                row(&[&p.id, &p.serial_number, &p.name, &customer, &region])?;
            }
        }
        PbxsCmd::Create {
            customer,
            name,
            serial,
            region,
        } => {
            let p = store
                .accounts()
                .create_pbx(
                    actor,
                    all,
                    customer,
                    &NewPbx {
                        name,
                        serial_number: serial,
                        region,
                    },
                )
                .await?;
            row(&[&p.id, &p.serial_number])?;
        }
        PbxsCmd::SetLicense {
            serial,
            term,
            period_start,
        } => {
            let p = store.accounts().find_pbx(all, &serial).await?;
            let t: TermKind = term.parse().context("--term")?;
            print_json(
                &store
                    .licensing()
                    .set_license(actor, all, p.id, t, period_start)
                    .await?,
            )?;
        }
        PbxsCmd::Renew { serial } => {
            let p = store.accounts().find_pbx(all, &serial).await?;
            print_json(&store.licensing().renew_license(actor, all, p.id).await?)?;
        }
        PbxsCmd::AddService {
            serial,
            kind,
            currency,
            start,
            preview,
        } => {
            let p = store.accounts().find_pbx(all, &serial).await?;
            let req = ServiceRequest {
                kind,
                currency,
                service_start: start,
                term_kind: None,
            };
            if preview {
                print_json(&store.licensing().quote_service(all, p.id, &req).await?.1)?;
            } else {
                let (s, q) = store
                    .licensing()
                    .add_service(actor, all, p.id, &req)
                    .await?;
                print_json(&serde_json::json!({"service": s, "quote": q}))?;
            }
        }
        PbxsCmd::Services { serial } => {
            let p = store.accounts().find_pbx(all, &serial).await?;
            print_json(&store.licensing().list_services(all, p.id).await?)?;
        }
        PbxsCmd::CancelService {
            serial,
            kind,
            id,
            reason,
        } => {
            let p = store.accounts().find_pbx(all, &serial).await?;
            let id = match (id, kind) {
                (Some(id), _) => id,
                (None, Some(kind)) => {
                    let kind = kind.trim().to_lowercase();
                    let of_kind: Vec<_> = store
                        .licensing()
                        .list_services(all, p.id)
                        .await?
                        .into_iter()
                        .filter(|s| s.kind == kind)
                        .collect();
                    match of_kind.as_slice() {
                        [one] => one.id,
                        [] => bail!("PBX '{serial}' has no '{kind}' service"),
                        many => bail!(
                            "PBX '{serial}' has {} '{kind}' services; name one with --id: {}",
                            many.len(),
                            many.iter()
                                .map(|s| s.id.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    }
                }
                (None, None) => bail!("name the service with --kind or --id"),
            };
            print_json(
                &store
                    .licensing()
                    .cancel_service(actor, all, p.id, id, reason.as_deref())
                    .await?,
            )?;
        }
        PbxsCmd::Delete { serial } => {
            let p = store.accounts().find_pbx(all, &serial).await?;
            store.accounts().delete_pbx(actor, all, p.id).await?;
        }
    }
    Ok(())
}

pub async fn service_kinds(store: &Store, actor: &Actor, cmd: ServiceKindsCmd) -> Result<()> {
    match cmd {
        ServiceKindsCmd::List => print_json(&store.licensing().list_service_kinds().await?),
        ServiceKindsCmd::Create { code, name, prices } => {
            let ps = super::assignment::parse_prices(&prices)?;
            print_json(
                &store
                    .licensing()
                    .create_service_kind(actor, &code, &name, &ps)
                    .await?,
            )
        }
    }
}

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Create an API token and print it (it is shown only once). Without --user, the token
    /// belongs to the bootstrap admin (admin@localhost).
    Create {
        /// A name for the token (shown in the audit log).
        #[arg(long)]
        name: String,
        /// E-mail of the user the token acts as.
        #[arg(long)]
        user: Option<String>,
        /// Expire after this many days, 1 to 36500 (default: never).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36500))]
        expires_days: Option<u32>,
    },
}

/// `didhub token create`.
pub async fn token(store: &Store, actor: &Actor, cmd: TokenCmd) -> Result<()> {
    let TokenCmd::Create {
        name,
        user,
        expires_days,
    } = cmd;
    let expires = expires_days.map(|d| chrono::Utc::now() + chrono::Duration::days(d as i64));
    let user_id = match user {
        Some(email) => {
            store
                .accounts()
                .find_user(&email)
                .await?
                .with_context(|| format!("no user with e-mail {email}"))?
                .id
        }
        None => store.accounts().bootstrap_admin().await?,
    };
    let (_info, token) = store
        .accounts()
        .create_token(actor, user_id, &name, expires)
        .await?;
    crate::show::line(&token)?;
    eprintln!(
        "This token is shown once; store it safely. Use it as 'Authorization: Bearer <token>'."
    );
    Ok(())
}

/// Partner names by id, for the lists that show a row's partner.
async fn partner_names(store: &Store) -> Result<std::collections::HashMap<uuid::Uuid, String>> {
    let ps = store.accounts().list_partners(Scope::All).await?;
    Ok(crate::show::names(ps.into_iter().map(|p| (p.id, p.name))))
}

/// Customer names by id, for the lists that show a row's customer.
pub async fn customer_names(
    store: &Store,
) -> Result<std::collections::HashMap<uuid::Uuid, String>> {
    let cs = store.accounts().list_customers(Scope::All, None).await?;
    Ok(crate::show::names(cs.into_iter().map(|c| (c.id, c.name))))
}
