//! `helm nvflare package`.

use serde_json::{json, Map, Value};

use crate::cli::{ChartVersionArgs, PackageArgs};
use crate::output;
use crate::package::{self, PackageSettings, Packaged};

pub fn run(args: PackageArgs) -> i32 {
    let settings = settings(&args.source, &args.versions, Some(args.destination.clone()));
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
