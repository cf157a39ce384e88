//! CLI for packages, client packages, assignment and block allocation.

use super::print_json;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use didhub_core::assignment::PackageState;
use didhub_core::number::{Country, NumberType};
use didhub_store::accounts::orgs::Scope;
use didhub_store::assignment::assign::{AssignRequest, NewPackage};
use didhub_store::assignment::blocks::BlockRequest;
use didhub_store::licensing::licenses::Price;
use didhub_store::{Actor, Store};
use uuid::Uuid;

#[derive(Subcommand)]
pub enum PackagesCmd {
    /// List packages (JSON).
    List,
    /// Create a package: how many DIDs, which qualify, prices (TERM:CURRENCY:AMOUNT).
    Create {
        /// The name.
        name: String,
        /// How many DIDs the package allows.
        #[arg(long)]
        allowance: i32,
        /// Only DIDs with this tag qualify.
        #[arg(long)]
        tag: Option<String>,
        /// Only DIDs of this country qualify (ISO 3166, e.g. GB).
        #[arg(long)]
        country: Option<Country>,
        /// Only DIDs of this type qualify, e.g. fixed_line or mobile.
        #[arg(long = "type")]
        number_type: Option<NumberType>,
        /// Prices TERM:CURRENCY:AMOUNT (e.g. monthly:EUR:10.00): several after one --price,
        /// comma-separated, or --price repeated.
        #[arg(long = "price", value_name = "TERM:CURRENCY:AMOUNT", num_args = 1.., value_delimiter = ',')]
        prices: Vec<String>,
    },
    /// Replace a package's definition (name, allowance, rule, prices); the rule applies to
    /// assignments from now on.
    Update {
        /// The package's current name.
        package: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New allowance.
        #[arg(long)]
        allowance: Option<i32>,
        /// Only DIDs with this tag qualify ("" clears it).
        #[arg(long)]
        tag: Option<String>,
        /// Only DIDs of this country qualify ("" clears it).
        #[arg(long)]
        country: Option<String>,
        /// Only DIDs of this type qualify ("" clears it).
        #[arg(long = "type")]
        number_type: Option<String>,
        /// Prices TERM:CURRENCY:AMOUNT (e.g. monthly:EUR:10.00), replacing
        /// every price: several after one --price,
        /// comma-separated, or --price repeated.
        #[arg(long = "price", value_name = "TERM:CURRENCY:AMOUNT", num_args = 1.., value_delimiter = ',')]
        prices: Vec<String>,
    },
    /// Delete a package no client package refers to.
    Delete {
        /// Package name.
        package: String,
    },
}

async fn package_named(
    store: &Store,
    name: &str,
) -> Result<didhub_store::assignment::assign::Package> {
    store
        .assignment()
        .list_packages()
        .await?
        .into_iter()
        .find(|p| p.name.eq_ignore_ascii_case(name.trim()))
        .with_context(|| format!("no package named '{name}'"))
}

#[derive(Subcommand)]
pub enum ClientPackagesCmd {
    /// List client packages (JSON).
    List {
        /// Only this customer's (by id).
        #[arg(long)]
        customer: Option<Uuid>,
    },
    /// Give a package to a customer (starts active).
    Create {
        /// Customer id.
        #[arg(long)]
        customer: Uuid,
        /// Package name.
        #[arg(long)]
        package: String,
        /// Start date (YYYY-MM-DD); pending until then.
        #[arg(long)]
        start: chrono::NaiveDate,
    },
    /// active, inactive (its DIDs go on hold) or terminated (its DIDs are released).
    SetState {
        /// Client package id.
        id: Uuid,
        /// active, inactive or terminated.
        state: String,
    },
    /// Assign in-stock DIDs under the client package.
    Assign {
        /// Client package id.
        id: Uuid,
        /// The numbers to assign.
        #[arg(required = true)]
        numbers: Vec<String>,
        /// pbx:<id> or a SIP URI.
        #[arg(long)]
        destination: String,
        /// Why, for the audit log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Unassign a DID (it goes to its after-hold status).
    Unassign {
        /// Client package id.
        id: Uuid,
        /// The number to unassign.
        number: String,
        /// Why, for the audit log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Allocate a block of 10, 100, 1000 or 10000 consecutive numbers (best fit).
    Allocate {
        /// Client package id.
        id: Uuid,
        /// Block size: 10, 100, 1000 or 10000.
        #[arg(long)]
        size: u32,
        /// Country of the numbers (ISO 3166, e.g. GB).
        #[arg(long)]
        country: Country,
        /// Number type, e.g. fixed_line or mobile.
        #[arg(long = "type")]
        number_type: NumberType,
        /// pbx:<id> or a SIP URI.
        #[arg(long)]
        destination: String,
        /// Only numbers of this operator (by name; default: any, a block never mixes them).
        #[arg(long)]
        operator: Option<String>,
        /// Only numbers starting with this prefix (a country and area code, e.g. +3220).
        #[arg(long)]
        within: Option<String>,
        /// Why, for the audit log.
        #[arg(long)]
        reason: Option<String>,
    },
}

pub fn parse_prices(prices: &[String]) -> Result<Vec<Price>> {
    let mut ps = Vec::new();
    for p in prices {
        let parts: Vec<&str> = p.split(':').collect();
        let [t, c, a] = parts.as_slice() else {
            bail!("--price '{p}': expected TERM:CURRENCY:AMOUNT, e.g. monthly:EUR:10.00");
        };
        ps.push(Price {
            term_kind: t.parse().with_context(|| format!("--price '{p}'"))?,
            currency: c.to_string(),
            amount: didhub_core::money::parse_amount(a)
                .with_context(|| format!("--price '{p}'"))?,
        });
    }
    Ok(ps)
}

pub async fn packages(store: &Store, actor: &Actor, cmd: PackagesCmd) -> Result<()> {
    match cmd {
        PackagesCmd::List => print_json(&store.assignment().list_packages().await?),
        PackagesCmd::Create {
            name,
            allowance,
            tag,
            country,
            number_type,
            prices,
        } => {
            let p = NewPackage {
                name,
                did_allowance: allowance,
                tag,
                country,
                number_type,
                prices: parse_prices(&prices)?,
            };
            print_json(&store.assignment().create_package(actor, &p).await?)
        }
        PackagesCmd::Update {
            package,
            name,
            allowance,
            tag,
            country,
            number_type,
            prices,
        } => {
            let cur = package_named(store, &package).await?;
            let p = NewPackage {
                name: name.unwrap_or(cur.name),
                did_allowance: allowance.unwrap_or(cur.did_allowance),
                tag: tag.or(cur.tag),
                country: rule_flag("--country", country, cur.country)?,
                number_type: rule_flag("--type", number_type, cur.number_type)?,
                prices: if prices.is_empty() {
                    cur.prices
                } else {
                    parse_prices(&prices)?
                },
            };
            print_json(
                &store
                    .assignment()
                    .update_package(actor, cur.id, Some(cur.version), &p)
                    .await?,
            )
        }
        PackagesCmd::Delete { package } => {
            let cur = package_named(store, &package).await?;
            store.assignment().delete_package(actor, cur.id).await?;
            crate::show::line(format!("deleted package '{}'", cur.name))?;
            Ok(())
        }
    }
}

pub async fn client_packages(
    store: &Store,
    actor: &Actor,
    cmd: ClientPackagesCmd,
    hold: chrono::Duration,
) -> Result<()> {
    match cmd {
        ClientPackagesCmd::List { customer } => print_json(
            &store
                .assignment()
                .list_client_packages(Scope::All, customer)
                .await?,
        ),
        ClientPackagesCmd::Create {
            customer,
            package,
            start,
        } => {
            let pkg = package_named(store, &package).await?;
            print_json(
                &store
                    .assignment()
                    .create_client_package(actor, customer, pkg.id, start)
                    .await?,
            )
        }
        ClientPackagesCmd::SetState { id, state } => {
            let st: PackageState = state.parse()?;
            print_json(
                &store
                    .assignment()
                    .set_client_package_state(actor, id, st, hold)
                    .await?
                    .0,
            )
        }
        ClientPackagesCmd::Assign {
            id,
            numbers,
            destination,
            reason,
        } => {
            let req = AssignRequest {
                did_ids: vec![],
                numbers,
                destination,
                reason,
            };
            let dids = store.assignment().assign_dids(actor, id, &req).await?;
            for d in dids {
                let destination = d.destination.unwrap_or_default();
                crate::show::row(&[&d.number, &d.status, &destination])?;
            }
            Ok(())
        }
        ClientPackagesCmd::Unassign { id, number, reason } => {
            let e164 = didhub_core::number::E164::parse(&number, None)
                .with_context(|| format!("'{number}'"))?;
            let d = store.inventory().get_did_by_number(e164.as_str()).await?;
            let d = store
                .assignment()
                .unassign_did(actor, id, d.id, reason.as_deref())
                .await?;
            crate::show::row(&[&d.number, &d.status])?;
            Ok(())
        }
        ClientPackagesCmd::Allocate {
            id,
            size,
            country,
            number_type,
            destination,
            operator,
            within,
            reason,
        } => {
            let operator_id = match operator {
                Some(name) => Some(super::inventory::operator_id(store, &name).await?),
                None => None,
            };
            let req = BlockRequest {
                size,
                country,
                number_type,
                operator_id,
                within,
            };
            print_json(
                &store
                    .assignment()
                    .allocate_block(actor, id, &req, &destination, reason.as_deref())
                    .await?
                    .0,
            )
        }
    }
}

/// Where a call to the number goes, from the database (the server answers from memory).
pub async fn route(store: &Store, number: &str) -> Result<()> {
    let e164 =
        didhub_core::number::E164::lookup_key(number).with_context(|| format!("'{number}'"))?;
    let known = match store.inventory().get_did_by_number(&e164).await {
        Ok(d) => Some(d),
        Err(didhub_store::StoreError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let today = chrono::Utc::now().date_naive();
    let pending = match known.as_ref().and_then(|d| d.client_package_id) {
        Some(cp) => store
            .assignment()
            .get_client_package(Scope::All, cp)
            .await?
            .pending_until(today)
            .is_some(),
        None => false,
    };
    let r = didhub_core::assignment::route(
        e164.as_str(),
        known.as_ref().map(|d| (d.status, d.destination.as_deref())),
        pending,
    );
    print_json(&r)
}

/// A package rule's flag on update: absent keeps the current value, "" clears it, anything
/// else is parsed as the API's field is.
fn rule_flag<T: std::str::FromStr>(
    flag: &str,
    given: Option<String>,
    current: Option<String>,
) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    match given.or(current).as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{flag}: {e}")),
    }
}
