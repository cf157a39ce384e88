//! The portal, black-box: a real server on SQLite, reached over plain HTTP (`http`) and in a
//! real browser (`browser`: Debian's chromium through chromium-driver, with axe-core on every
//! page). docs/PORTAL.md says how to run them.

#[path = "../server/common/mod.rs"]
mod common;

mod attention;
mod browser;
mod catalog;
mod did_forms;
mod http;
mod import;
mod import_progress;
mod not_found;
mod orders;
mod orgs;
mod packages;
mod partners;
mod pbx;
mod prices;
mod stock;
mod support;
mod support_centre;
mod tickets;
mod tokens;
mod user_forms;
mod users;
