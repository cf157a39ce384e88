//! Tests of the domain rules against libphonenumber and python-stdnum, and by property.
//! One test binary per crate; one module per area.

mod calendar;
mod ids_fixtures;
mod ids_props;
mod libphonenumber_examples;
mod loa;
mod mail;
mod number_props;
mod order_flow;
mod sla;
mod source_lines;
mod ticket;
