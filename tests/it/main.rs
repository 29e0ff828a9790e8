//! The integration tests: one binary (compiled once, sharing its fixtures and the test
//! control plane), one module per area. Tests that need tools beyond Rust are ignored
//! without `--features external-tools`, with the reason; `scripts/test.sh` runs them all.

mod support;

mod chart_options;
mod chart_values;
mod cluster_deploy;
mod cluster_failures;
mod cluster_stage;
mod cluster_upgrade;
mod cluster_verify;
mod demo;
mod federation;
mod help;
mod images;
mod interrupts;
mod mirror;
mod nvflare_federation;
mod nvflare_kits;
mod openpgp;
mod package;
mod plugin;
mod prepare_docker;
mod prepare_errors;
mod prepare_k8s;
mod push;
mod registry_answers;
mod registry_auth;
mod release;
mod signing;
mod stage;
mod structure;
mod untrusted_answers;
mod untrusted_kit;
mod verify;
mod yaml_property;
