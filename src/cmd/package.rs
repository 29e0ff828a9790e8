//! `helm nvflare package`.

use serde_json::{json, Map, Value};

use crate::cli::{ChartVersionArgs, PackageArgs};
use crate::federation;
use crate::output::{self, Format};
use crate::package::{self, PackageSettings, Packaged};

pub fn run(args: PackageArgs) -> i32 {
    let settings = settings(&args.source, &args.versions, Some(args.destination.clone()));
    if package::chart_dir_of(&args.source).is_err()
        && !federation::prepared_charts(&args.source).is_empty()
    {
        return run_federation(&args, &settings);
    }
    match package::package(&settings) {
        Ok(packaged) => {
            output::print_ok(args.format, &summary(&packaged));
            0
        }
        Err(err) => {
            output::print_error(args.format, &err);
            err.code.exit_code()
        }
    }
}

/// A prepared federation: every participant's chart, into `<destination>/<participant>/`.
fn run_federation(args: &PackageArgs, settings: &PackageSettings) -> i32 {
    match federation::package_all(&args.source, settings) {
        Ok(done) => {
            let charts: Vec<Map<String, Value>> = done
                .iter()
                .map(|(name, p)| {
                    let mut entry = Map::new();
                    entry.insert("participant".into(), json!(name));
                    entry.extend(summary(p));
                    entry
                })
                .collect();
            match args.format {
                Format::Json => {
                    let mut data = Map::new();
                    data.insert("charts".into(), json!(charts));
                    output::print_ok(Format::Json, &data);
                }
                Format::Txt => {
                    let rows: Vec<[String; 4]> = charts
                        .iter()
                        .map(|c| {
                            ["participant", "archive", "version", "sha256"]
                                .map(|k| c[k].as_str().unwrap_or("").to_string())
                        })
                        .collect();
                    let header = ["PARTICIPANT", "ARCHIVE", "VERSION", "SHA256"].map(String::from);
                    println!("{}", output::table(&header, &rows));
                }
            }
            0
        }
        Err(err) => {
            output::print_error(args.format, &err);
            err.code.exit_code()
        }
    }
}

pub fn settings(
    source: &std::path::Path,
    versions: &ChartVersionArgs,
    destination: Option<std::path::PathBuf>,
) -> PackageSettings {
    PackageSettings {
        source: source.to_path_buf(),
        version: versions.version.clone(),
        app_version: versions.app_version.clone(),
        destination,
    }
}

pub fn summary(p: &Packaged) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("chart".into(), json!(p.name));
    data.insert("version".into(), json!(p.version));
    data.insert("app_version".into(), json!(p.app_version));
    data.insert("archive".into(), json!(p.archive.display().to_string()));
    data.insert("sha256".into(), json!(p.sha256));
    data.insert("size".into(), json!(p.size));
    data
}
