//! `helm nvflare package`: one chart, or every chart of a prepared federation.

use std::path::PathBuf;

use helm_nvflare::error::Result;
use helm_nvflare::federation;
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::output::Output;
use helm_nvflare::package::PackageSettings;

use super::shared::{ChartVersionArgs, SignArgs};

#[derive(clap::Args, Debug)]
#[command(
    about = "Package a prepared chart (or every chart of a prepared federation) as a versioned, reproducible, key-free .tgz.",
    after_help = "Examples:
  helm nvflare package prepared/site-1 -d dist --version 1.0.0
  helm nvflare package prepared -d dist --version 1.0.0      # a prepared federation: dist/<participant>/*.tgz
  helm nvflare package prepared -d dist --sign --key 'FL Admin' --keyring secring.gpg --passphrase-file pass.txt"
)]
pub struct Args {
    /// A prepared kit (with helm_chart/), a chart folder, or a prepared federation.
    #[arg(value_name = "PREPARED_KIT|CHART_DIR")]
    pub source: PathBuf,
    #[command(flatten)]
    pub versions: ChartVersionArgs,
    /// Folder to write <chart>-<version>.tgz into.
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    pub destination: PathBuf,
    #[command(flatten)]
    pub sign: SignArgs,
}

pub fn exec(args: Args, out: &Output, _env: &HelmEnv) -> Result<i32> {
    let settings = PackageSettings {
        source: args.source,
        versions: args.versions.versions(),
        destination: Some(args.destination),
        sign: args.sign.signing_key()?,
    };
    out.result(&federation::package_chart_or_federation(&settings, out)?);
    Ok(0)
}
