//! PBX licenses (`licenses`), the service catalog and co-terminated services (`services`).

pub mod licenses;
pub mod services;

crate::handle!(
    /// PBX licenses, the service catalog and co-terminated services.
    Licensing,
    licensing
);
