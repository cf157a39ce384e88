//! PBX licenses, the service catalog and co-terminated services.

pub mod licenses;

crate::handle!(
    /// PBX licenses, the service catalog and co-terminated services.
    Licensing,
    licensing
);
