//! The rewrites `prepare` makes to a copy of the kit's `local/` and `startup/` folders.

pub mod comm_config;
pub mod local_files;
pub mod resources;

/// Warnings collected while patching; shown to the user, never fatal.
pub type Warnings = Vec<String>;
