//! helm-nvflare as a library: everything `helm nvflare` does, without the command line.
//!
//! Each command's core takes a settings value and returns a typed, `Serialize` result
//! ([`prepare::Prepared`], [`package::Packaged`], [`registry::PushReport`],
//! [`stage::Staged`], [`verify::Report`], [`deploy::DeployReport`],
//! [`upgrade::UpgradeReport`], [`mirror::MirrorReport`], [`bundle::BundleReport`], ...);
//! [`output::Output`] renders it as text or JSON. Nothing here parses flags. The
//! environment is read in one place, [`helm_env`], which the binary calls once
//! (`clippy.toml` forbids `std::env` everywhere else). Modules only the library itself
//! uses are `pub(crate)`.

pub(crate) mod archive;
pub mod backup;
pub(crate) mod bounded_child;
pub mod bundle;
pub(crate) mod chart;
pub(crate) mod cluster_failure;
pub mod deploy;
pub(crate) mod docker_script;
pub mod error;
pub mod federation;
pub(crate) mod fields;
pub(crate) mod fs_tree;
pub mod helm_env;
pub(crate) mod image;
pub mod images;
pub mod interrupt;
pub(crate) mod json_file;
pub(crate) mod kit;
pub mod kubectl;
pub mod mirror;
pub(crate) mod names;
pub mod nvflare_version;
pub mod output;
pub mod package;
pub(crate) mod parallel;
pub(crate) mod parent_log;
pub(crate) mod parent_process;
pub(crate) mod patch;
pub mod prepare;
pub mod prepared;
pub mod provenance;
pub mod registry;
pub mod release;
pub(crate) mod runtime_config;
pub(crate) mod shell_quote;
pub mod sign;
pub(crate) mod site_images;
pub mod stage;
pub mod status;
pub(crate) mod study_runtime;
pub mod targets;
pub mod terminal;
pub mod undeploy;
pub mod upgrade;
pub mod verify;
pub mod verify_chart;
pub(crate) mod yaml_writer;

/// This plugin's version, as `helm nvflare version` prints it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Version {
    pub version: &'static str,
}

impl output::Report for Version {}

pub fn version() -> Version {
    Version {
        version: env!("CARGO_PKG_VERSION"),
    }
}
