//! helm-nvflare as a library: everything `helm nvflare` does, without the command line.
//!
//! Each command's core takes a settings value and returns a typed, `Serialize` result
//! ([`prepare::Prepared`], [`package::Packaged`], [`registry::PushReport`],
//! [`stage::Staged`], [`stage::Unstaged`], [`verify::Report`], and the federation forms
//! in [`federation`]); [`output::Output`] renders it as text or JSON. Nothing here parses
//! flags or reads the environment: the binary (`src/main.rs`, `src/cli.rs`, `src/cmd/`)
//! does, once.

pub mod archive;
pub mod backup;
pub mod bounded_child;
pub mod bundle;
pub mod chart;
pub mod cluster_failure;
pub mod deploy;
pub mod docker_script;
pub mod error;
pub mod federation;
pub mod fields;
pub mod fs_tree;
pub mod helm_env;
pub mod image;
pub mod images;
pub mod interrupt;
pub mod json_file;
pub mod kit;
pub mod kubectl;
pub mod mirror;
pub mod names;
pub mod nvflare_version;
pub mod output;
pub mod package;
pub mod parallel;
pub mod parent_log;
pub mod parent_process;
pub mod patch;
pub mod prepare;
pub mod prepared;
pub mod provenance;
pub mod registry;
pub mod release;
pub mod runtime_config;
pub mod shell_quote;
pub mod sign;
pub mod site_images;
pub mod stage;
pub mod status;
pub mod study_runtime;
pub mod targets;
pub mod terminal;
pub mod undeploy;
pub mod upgrade;
pub mod verify;
pub mod verify_chart;
pub mod yaml_writer;

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
