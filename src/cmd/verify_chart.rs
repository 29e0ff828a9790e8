//! `helm nvflare verify-chart`: check a chart's provenance against trusted public keys.

use std::path::PathBuf;

use helm_nvflare::error::Result;
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::output::Output;
use helm_nvflare::verify_chart::{self, VerifyChartSettings};

use super::shared::RegistryArgs;

#[derive(clap::Args, Debug)]
#[command(
    about = "Check that a chart archive (a file or oci:// reference) is signed by a trusted key and unchanged since.",
    long_about = "Check that a chart archive (a file or oci:// reference) is signed by a trusted key and unchanged since.\n\n\
        Reads the archive's provenance (<archive>.prov beside a file; the provenance layer in a registry), \
        checks its OpenPGP signature against --keyring and the archive's sha256 against the signed text, \
        as `helm verify` does. Prints the signer and the sha256. Exit 0: verified; 1: not verified \
        (bad or missing signature, unknown or expired key, changed archive); 4: bad arguments or keyring.",
    after_help = "Examples:
  helm nvflare verify-chart dist/site-1/nvflare-client-1.0.0.tgz --keyring pubring.gpg
  helm nvflare verify-chart oci://registry.example.com/fl/site-1/nvflare-client:1.0.0 --keyring pubring.gpg
  helm nvflare verify-chart oci://127.0.0.1:5000/fl/site-1/nvflare-client --version 1.0.0 --plain-http --keyring pubring.gpg"
)]
pub struct Args {
    /// A chart archive (.tgz, with its .prov beside it) or oci://REGISTRY/PATH/CHART[:VERSION].
    #[arg(value_name = "ARCHIVE|oci://REF")]
    pub source: String,
    /// Public keys to trust (`gpg --export > pubring.gpg`) [default: ~/.gnupg/pubring.gpg, as Helm].
    #[arg(long, value_name = "FILE")]
    pub keyring: Option<PathBuf>,
    /// Chart version, for an oci:// reference without :VERSION.
    #[arg(long, value_name = "SEMVER")]
    pub version: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

pub fn exec(args: Args, out: &Output, env: &HelmEnv) -> Result<i32> {
    let settings = VerifyChartSettings {
        source: args.source,
        version: args.version,
        keyring: args.keyring.unwrap_or_else(|| env.default_keyring.clone()),
        access: args.registry.access(env)?,
    };
    out.result(&verify_chart::verify_chart(&settings)?);
    Ok(0)
}
