//! The service catalog: per country, the services offered, mobile new DIDs and their prefixes,
//! range sizes, identifiers, porting lead time and e-signed agreements; per service, the fields
//! and documents an order must carry; the promised time frames. Data, not code: the built-in
//! catalog is `data/catalog.toml`, and a file of the same shape replaces it (`--catalog`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::blocks::ORDERABLE;
use crate::number::Country;

/// What can be ordered.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[schema(as = CatalogService)]
pub enum Service {
    NewDids,
    NewTollFree,
    FullPorting,
    OutboundOnly,
}

impl Service {
    pub const ALL: [Service; 4] = [
        Service::NewDids,
        Service::NewTollFree,
        Service::FullPorting,
        Service::OutboundOnly,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Service::NewDids => "new_dids",
            Service::NewTollFree => "new_toll_free",
            Service::FullPorting => "full_porting",
            Service::OutboundOnly => "outbound_only",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Service {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Service::ALL
            .into_iter()
            .find(|v| v.as_str() == s.trim())
            .ok_or_else(|| {
                format!(
                    "unknown service '{s}' (expected new_dids, new_toll_free, full_porting or \
                     outbound_only)"
                )
            })
    }
}

/// A document an order may carry (`loa`, `invoice`, `agreement`, `other`).
pub use crate::documents::DocumentKind;

/// Promised times in working days of the order's country.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeFrames {
    pub new_dids: u32,
    pub new_toll_free: u32,
    pub outbound_only: u32,
    pub full_porting_outgoing: u32,
    pub full_porting_incoming_min: u32,
    pub full_porting_incoming_max: u32,
    pub ivp_incoming: u32,
}

/// What every order of a service must carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceRules {
    /// Field paths of the order body (`address.street`).
    pub required: Vec<String>,
    /// Required too when the DIDs are regular ones (not mobile).
    #[serde(default)]
    pub required_regular: Vec<String>,
    pub documents: Vec<DocumentKind>,
}

/// One country's offer as the catalog file writes it (unset keys come from `defaults`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OfferFile {
    name: Option<String>,
    services: Option<Vec<Service>>,
    regular_dids: Option<bool>,
    mobile_prefixes: Option<Vec<String>>,
    range_sizes: Option<Vec<u32>>,
    identifiers: Option<BTreeMap<Service, Vec<String>>>,
    porting_lead_days: Option<u32>,
    region_required: Option<bool>,
    agreement_ready_days: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    time_frames: TimeFrames,
    services: BTreeMap<Service, ServiceRules>,
    defaults: OfferFile,
    countries: BTreeMap<String, OfferFile>,
    other: OfferFile,
}

/// One country's offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Offer {
    /// ISO 3166 alpha-2, or `other` for every country the catalog does not list.
    pub country: String,
    pub name: String,
    pub services: Vec<Service>,
    /// Whether regular (not mobile) new DIDs are offered.
    pub regular_dids: bool,
    /// Mobile new DIDs and their prefixes (none: not offered).
    pub mobile_prefixes: Vec<String>,
    /// Range sizes of new DIDs (mobile: always 1).
    pub range_sizes: Vec<u32>,
    /// Identifier kinds an order of a service must carry (`siret`, `nif`).
    pub identifiers: BTreeMap<Service, Vec<String>>,
    /// Earliest porting date, in working days after submission.
    pub porting_lead_days: u32,
    /// New numbers need the address's region (E911 in the US and Canada).
    pub region_required: bool,
    /// Delivery waits for an e-signed agreement, and is ready this many working days after
    /// signing; the order needs `contact_email`.
    pub agreement_ready_days: Option<u32>,
}

impl Offer {
    pub fn offers(&self, s: Service) -> bool {
        self.services.contains(&s)
    }

    /// Mobile new DIDs are offered.
    pub fn mobile(&self) -> bool {
        !self.mobile_prefixes.is_empty()
    }
}

/// One country's part of the catalog (`didhub catalog show --country`,
/// `GET /api/v1/catalog/{country}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CountryCatalog {
    /// The country asked for (`offer.country` is `other` when the catalog does not list it).
    pub asked: String,
    pub offer: Offer,
    /// The rules of each service the country offers.
    pub rules: BTreeMap<Service, ServiceRules>,
    pub time_frames: TimeFrames,
}

/// The whole catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Catalog {
    pub time_frames: TimeFrames,
    pub services: BTreeMap<Service, ServiceRules>,
    /// Listed countries, by code.
    pub countries: BTreeMap<String, Offer>,
    /// Every other country.
    pub other: Offer,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CatalogError {
    #[error("catalog: {0}")]
    Parse(String),
    #[error("catalog: {0}")]
    Invalid(String),
}

const BUILTIN: &str = include_str!("../data/catalog.toml");

static BUILTIN_CATALOG: LazyLock<Catalog> = LazyLock::new(|| {
    // The built-in file is checked by a test; a broken one cannot ship.
    Catalog::from_toml(BUILTIN).unwrap_or_else(|e| panic!("built-in {e}"))
});

impl Catalog {
    /// The catalog compiled into the binary.
    pub fn builtin() -> &'static Catalog {
        &BUILTIN_CATALOG
    }

    /// Reads and checks a catalog file.
    pub fn from_toml(text: &str) -> Result<Catalog, CatalogError> {
        let f: CatalogFile =
            toml::from_str(text).map_err(|e| CatalogError::Parse(e.to_string()))?;
        for s in Service::ALL {
            if !f.services.contains_key(&s) {
                return Err(CatalogError::Invalid(format!("[services.{s}] is missing")));
            }
        }
        let mut countries = BTreeMap::new();
        for (code, o) in &f.countries {
            let c = Country::parse(code)
                .map_err(|e| CatalogError::Invalid(format!("[countries.{code}]: {e}")))?;
            if c.as_str() != code {
                return Err(CatalogError::Invalid(format!(
                    "[countries.{code}]: write the code in upper case ({c})"
                )));
            }
            countries.insert(code.clone(), offer(code, o, &f.defaults)?);
        }
        let other = offer("other", &f.other, &f.defaults)?;
        Ok(Catalog {
            time_frames: f.time_frames,
            services: f.services,
            countries,
            other,
        })
    }

    /// The offer for a country: its own, or the one for other countries.
    pub fn offer(&self, c: Country) -> &Offer {
        self.countries.get(c.as_str()).unwrap_or(&self.other)
    }

    /// What a form for one country needs: its offer, the rules of the services it offers
    /// and the time frames.
    pub fn for_country(&self, c: Country) -> CountryCatalog {
        let offer = self.offer(c).clone();
        let rules = offer
            .services
            .iter()
            .map(|s| (*s, self.rules(*s).clone()))
            .collect();
        CountryCatalog {
            asked: c.to_string(),
            offer,
            rules,
            time_frames: self.time_frames.clone(),
        }
    }

    /// The rules of a service.
    pub fn rules(&self, s: Service) -> &ServiceRules {
        // Every service is present: `from_toml` refuses a catalog without one.
        &self.services[&s]
    }
}

fn offer(code: &str, o: &OfferFile, d: &OfferFile) -> Result<Offer, CatalogError> {
    let bad = |m: String| CatalogError::Invalid(format!("{code}: {m}"));
    let name = o
        .name
        .clone()
        .or_else(|| d.name.clone())
        .unwrap_or_else(|| code.to_string());
    let services = o
        .services
        .clone()
        .or_else(|| d.services.clone())
        .ok_or_else(|| bad("no services".into()))?;
    let range_sizes = o
        .range_sizes
        .clone()
        .or_else(|| d.range_sizes.clone())
        .unwrap_or_else(|| vec![1]);
    for s in &range_sizes {
        if *s != 1 && !ORDERABLE.contains(s) {
            return Err(bad(format!(
                "range size {s} is not 1, 10, 100, 1000 or 10000"
            )));
        }
    }
    let mobile_prefixes = o.mobile_prefixes.clone().unwrap_or_default();
    for p in &mobile_prefixes {
        let digits = p.strip_prefix('+').unwrap_or("");
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(format!("mobile prefix '{p}' is not + and digits")));
        }
    }
    Ok(Offer {
        country: code.to_string(),
        name,
        services,
        regular_dids: o.regular_dids.or(d.regular_dids).unwrap_or(true),
        mobile_prefixes,
        range_sizes,
        identifiers: o.identifiers.clone().unwrap_or_default(),
        porting_lead_days: o.porting_lead_days.or(d.porting_lead_days).unwrap_or(10),
        region_required: o.region_required.unwrap_or(false),
        agreement_ready_days: o.agreement_ready_days,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(s: &str) -> Country {
        Country::parse(s).unwrap()
    }

    #[test]
    fn the_builtin_catalog_reads_and_holds_the_seeds_facts() {
        let c = Catalog::builtin();
        let mobile = |code: &str| c.offer(cc(code)).mobile_prefixes.clone();
        assert_eq!(mobile("GB"), ["+447"]);
        assert_eq!(mobile("NL"), ["+3163", "+3197"]);
        assert_eq!(mobile("PL"), ["+4845", "+4857", "+4873", "+4878", "+4888"]);
        assert!(mobile("DE").is_empty());
        for code in [
            "GB", "BE", "DK", "PL", "SE", "AT", "BR", "CO", "EE", "FI", "FR", "IE", "NL",
        ] {
            assert!(c.offer(cc(code)).mobile(), "{code} offers mobile new DIDs");
        }
        assert_eq!(c.offer(cc("AE")).agreement_ready_days, Some(2));
        assert_eq!(c.offer(cc("SA")).agreement_ready_days, Some(3));
        assert_eq!(c.offer(cc("FR")).identifiers[&Service::NewDids], ["siret"]);
        assert_eq!(c.offer(cc("ES")).identifiers[&Service::NewDids], ["nif"]);
        assert!(c.offer(cc("US")).region_required && c.offer(cc("CA")).region_required);
        // A country the catalog does not list gets the offer for other countries.
        assert_eq!(c.offer(cc("JP")).country, "other");
        for o in c.countries.values().chain([&c.other]) {
            assert_eq!(o.porting_lead_days, 10, "{}", o.country);
            assert!(o.offers(Service::OutboundOnly), "{}", o.country);
        }
        assert_eq!(
            c.rules(Service::FullPorting).documents,
            [DocumentKind::Loa, DocumentKind::Invoice]
        );
        assert_eq!(
            (c.time_frames.new_dids, c.time_frames.outbound_only),
            (3, 2)
        );
    }

    #[test]
    fn a_bad_catalog_file_is_refused_naming_what_is_wrong() {
        let good = BUILTIN;
        let e = Catalog::from_toml(&good.replace("[countries.GB]", "[countries.gb]")).unwrap_err();
        assert!(e.to_string().contains("upper case"), "{e}");
        let e = Catalog::from_toml(&good.replace("[countries.GB]", "[countries.QQ]")).unwrap_err();
        assert!(e.to_string().contains("QQ"), "{e}");
        let e = Catalog::from_toml(&good.replace("\"+447\"", "\"447\"")).unwrap_err();
        assert!(e.to_string().contains("447"), "{e}");
        let e = Catalog::from_toml(&good.replace("[1, 10, 100", "[1, 20, 100")).unwrap_err();
        assert!(e.to_string().contains("20"), "{e}");
        let e = Catalog::from_toml(&good.replace("name = \"Austria\"", "nmae = \"Austria\""))
            .unwrap_err();
        assert!(e.to_string().contains("nmae"), "{e}");
        assert!(Catalog::from_toml("not toml [").is_err());
    }
}
