//! Ordering: the service catalog.

use anyhow::Result;
use clap::Subcommand;
use didhub_core::catalog::Catalog;
use didhub_core::number::Country;

use super::print_json;

#[derive(Subcommand)]
pub enum CatalogCmd {
    /// Print the catalog in use as JSON: the whole of it, or one country's part (its offer,
    /// the rules of the services it offers and the time frames).
    Show {
        /// Only this country (ISO 3166 alpha-2); a country the catalog does not list shows
        /// the offer for other countries.
        #[arg(long)]
        country: Option<Country>,
    },
}

pub fn catalog(catalog: &Catalog, cmd: CatalogCmd) -> Result<()> {
    match cmd {
        CatalogCmd::Show { country: None } => print_json(catalog),
        CatalogCmd::Show { country: Some(c) } => print_json(&catalog.for_country(c)),
    }
}
