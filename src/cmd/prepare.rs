//! `helm nvflare prepare`.

use serde_json::{json, Map, Value};

use crate::cli::PrepareArgs;
use crate::error::Error;
use crate::federation;
use crate::output::{self, Format};
use crate::prepare::{self, PrepareSettings};
use crate::runtime_config::Runtime;
use crate::terminal::escape;

pub fn run(args: PrepareArgs) -> i32 {
    crate::interrupt::catch_interrupts();
    let settings = match settings(&args) {
        Ok(s) => s,
        Err(err) => return fail(args.format, &err),
    };
    if federation::is_federation(&settings.kit) {
        return run_federation(&args, &settings);
    }
    let result = prepare_and_package(&args, &settings);
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
        Err(err) => fail(args.format, &err),
    }
}

fn fail(format: Format, err: &Error) -> i32 {
    output::print_error(format, err);
    err.code.exit_code()
}

fn check_versions(args: &PrepareArgs) -> Result<(), Error> {
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
    Ok(())
}

fn check_package_runtime(args: &PrepareArgs, runtime: Runtime) -> Result<(), Error> {
    if args.package && runtime != Runtime::K8s {
        return Err(Error::invalid_args(
            "--package needs the k8s runtime: the docker runtime writes no chart.",
            "Drop --package.",
        ));
    }
    Ok(())
}

/// A provisioned `prod_NN/` folder: every kit at once.
fn run_federation(args: &PrepareArgs, settings: &PrepareSettings) -> i32 {
    let result = (|| {
        check_versions(args)?;
        let plan = federation::plan(settings)?;
        if let Some((_, first)) = plan.kits.first() {
            check_package_runtime(args, first.config.runtime())?;
        }
        let package = args
            .package
            .then(|| super::package::settings(&settings.kit, &args.versions, None));
        let kits = federation::write(&plan, package.as_ref())?;
        Ok((plan, kits))
    })();
    let (plan, kits) = match result {
        Ok(done) => done,
        Err(err) => return fail(args.format, &err),
    };
    // The same warning for hundreds of kits is shown once, with who it concerns.
    let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
    for kit in &kits {
        for warning in &kit.prepared.warnings {
            match grouped.iter_mut().find(|(w, _)| w == warning) {
                Some((_, who)) => who.push(kit.participant.clone()),
                None => grouped.push((warning.clone(), vec![kit.participant.clone()])),
            }
        }
    }
    for (warning, who) in &grouped {
        let shown: Vec<&str> = who.iter().take(3).map(String::as_str).collect();
        let more = if who.len() > 3 {
            format!(" and {} more", who.len() - 3)
        } else {
            String::new()
        };
        output::warn(&format!("{} ({}{more})", warning, shown.join(", ")));
    }
    let participants: Vec<Value> = kits
        .iter()
        .map(|k| {
            let mut entry = Map::new();
            entry.insert("participant".into(), json!(k.participant));
            entry.extend(k.prepared.data.clone());
            if !k.prepared.warnings.is_empty() {
                entry.insert("warnings".into(), json!(k.prepared.warnings));
            }
            Value::Object(entry)
        })
        .collect();
    let skipped: Vec<Value> = plan
        .skipped
        .iter()
        .map(|(name, why)| json!({"participant": name, "reason": why}))
        .collect();
    match args.format {
        Format::Json => {
            let mut data = Map::new();
            data.insert("output".into(), json!(plan.output.display().to_string()));
            data.insert("participants".into(), Value::Array(participants));
            data.insert("skipped".into(), Value::Array(skipped));
            output::print_ok(Format::Json, &data);
        }
        Format::Txt => {
            let chart_key = if args.package {
                "package"
            } else if kits
                .iter()
                .any(|k| k.prepared.data.contains_key("helm_chart"))
            {
                "helm_chart"
            } else {
                "start_script"
            };
            let rows: Vec<[String; 4]> = participants
                .iter()
                .map(|p| {
                    let field =
                        |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
                    [
                        field("participant"),
                        field("role"),
                        field("release"),
                        field(chart_key),
                    ]
                })
                .collect();
            let header = [
                "PARTICIPANT".to_string(),
                "ROLE".into(),
                "RELEASE".into(),
                chart_key.to_ascii_uppercase(),
            ];
            println!("{}", output::table(&header, &rows));
            for (name, why) in &plan.skipped {
                println!("skipped: {} ({why})", escape(name));
            }
            println!("output: {}", escape(&plan.output.display().to_string()));
        }
    }
    0
}

/// Prepares, then packages the chart into the prepared folder when `--package` is given.
/// The version flags are checked before anything is written.
fn prepare_and_package(
    args: &PrepareArgs,
    settings: &PrepareSettings,
) -> Result<prepare::Prepared, Error> {
    let versions = &args.versions;
    check_versions(args)?;
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
        packaged.describe_in(&mut prepared.data);
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
