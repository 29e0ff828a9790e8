//! `helm nvflare prepare`.

use crate::cli::PrepareArgs;
use crate::error::Error;
use crate::output;
use crate::prepare::{self, PrepareSettings};

pub fn run(args: PrepareArgs) -> i32 {
    let result = settings(&args).and_then(|s| prepare_and_package(&args, &s));
    match result {
        Ok(prepared) => {
            for warning in &prepared.warnings {
                output::warn(warning);
            }
            let mut data = prepared.data;
            if !prepared.warnings.is_empty() && args.format == output::Format::Json {
                data.insert("warnings".into(), serde_json::json!(prepared.warnings));
            }
            output::print_ok(args.format, &data);
            0
        }
        Err(err) => {
            output::print_error(args.format, &err);
            err.code.exit_code()
        }
    }
}

/// Prepares, then packages the chart into the prepared folder when `--package` is given.
/// The version flags are checked before anything is written.
fn prepare_and_package(
    args: &PrepareArgs,
    settings: &PrepareSettings,
) -> Result<prepare::Prepared, Error> {
    let versions = &args.versions;
    if !args.package && (versions.version.is_some() || versions.app_version.is_some()) {
        return Err(Error::invalid_args(
            "--version and --app-version need --package.",
            "Add --package, or use `helm nvflare package`.",
        ));
    }
    if let Some(v) = versions
        .version
        .as_deref()
        .filter(|v| !crate::package::is_strict_semver(v))
    {
        return Err(Error::invalid_args(
            format!("--version {v:?} is not a strict semantic version."),
            "Use MAJOR.MINOR.PATCH with optional -prerelease and +build, without a leading v.",
        ));
    }
    let plan = prepare::plan(settings)?;
    if args.package && plan.config.runtime() != crate::runtime_config::Runtime::K8s {
        return Err(Error::invalid_args(
            "--package needs the k8s runtime: the docker runtime writes no chart.",
            "Drop --package.",
        ));
    }
    let mut prepared = prepare::write(&plan)?;
    if args.package {
        let package_settings =
            super::package::settings(&plan.output, versions, Some(plan.output.clone()));
        let packaged = crate::package::package(&package_settings)?;
        prepared.data.insert(
            "package".into(),
            serde_json::json!(packaged.archive.display().to_string()),
        );
        prepared
            .data
            .insert("sha256".into(), serde_json::json!(packaged.sha256));
    }
    Ok(prepared)
}

fn settings(args: &PrepareArgs) -> Result<PrepareSettings, Error> {
    let kit = match (&args.kit, &args.kit_flag) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid_args(
                "Specify the startup kit only once.",
                "Use either positional kit or --kit.",
            ))
        }
        (Some(kit), None) | (None, Some(kit)) => kit.clone(),
        (None, None) => {
            return Err(Error::invalid_args(
                "Missing startup kit directory.",
                "Run helm nvflare prepare <startup-kit-dir>.",
            ))
        }
    };
    Ok(PrepareSettings {
        kit,
        config: args.config.clone(),
        output: args.output.clone(),
    })
}
