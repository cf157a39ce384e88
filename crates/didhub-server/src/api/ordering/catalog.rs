use axum::extract::State;
use didhub_core::catalog::{Catalog, CountryCatalog};
use didhub_core::number::Country;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Path};
use crate::AppState;

/// The service catalog: per country the services offered, mobile new DIDs and their prefixes,
/// range sizes, identifiers, porting lead time and agreements; per service the fields and
/// documents an order needs; the promised time frames (working days).
#[utoipa::path(get, path = "/api/v1/catalog", tag = "ordering",
    responses((status = 200, body = Catalog)))]
pub async fn whole(State(s): State<AppState>) -> ApiResult<Json<Catalog>> {
    Ok(Json((*s.catalog).clone()))
}

/// One country's part of the catalog, enough to build its order form: its offer (the one for
/// other countries when the catalog does not list it), the rules of its services and the time
/// frames.
#[utoipa::path(get, path = "/api/v1/catalog/{country}", tag = "ordering",
    params(("country" = String, Path, description = "ISO 3166 alpha-2")),
    responses((status = 200, body = CountryCatalog), (status = 422, body = Problem)))]
pub async fn country(
    State(s): State<AppState>,
    Path(code): Path<String>,
) -> ApiResult<Json<CountryCatalog>> {
    let c = Country::parse(&code).map_err(|e| ApiError::field("country", e))?;
    Ok(Json(s.catalog.for_country(c)))
}
