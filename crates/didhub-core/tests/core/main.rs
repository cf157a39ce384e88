//! Tests of the domain rules against libphonenumber and by property.
//! One test binary per crate; one module per area.

mod calendar;
mod libphonenumber_examples;
mod number_props;
mod sla;
