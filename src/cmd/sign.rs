//! `helm nvflare sign`: a `.prov` for archives that exist already.

use std::path::PathBuf;

use helm_nvflare::error::Result;
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::output::Output;

use super::shared::SigningKeyArgs;

#[derive(clap::Args, Debug)]
#[command(
    about = "Sign chart archives or plugin release archives into <archive>.prov (Helm provenance).",
    long_about = "Sign chart archives or plugin release archives into <archive>.prov (Helm provenance).\n\n\
        For archives already written (by `helm package`, or scripts/release.sh); \
        `package --sign` signs as it packages. A plugin's .prov names both the archive's file name \
        (what `helm plugin install <file or URL>` verifies) and <plugin>-<version>.tgz \
        (what Helm 4 verifies for a plugin from a registry).",
    after_help = "Examples:
  helm nvflare sign dist/site-1/nvflare-client-1.0.0.tgz --key 'FL Admin' --keyring secring.gpg
  helm nvflare sign helm-nvflare-0.1.0-linux-amd64.tgz --key releases@example.com --keyring secring.gpg --passphrase-file -"
)]
pub struct Args {
    /// Archives (.tgz) to sign.
    #[arg(value_name = "ARCHIVE", required = true, num_args = 1..)]
    pub archives: Vec<PathBuf>,
    #[command(flatten)]
    pub key: SigningKeyArgs,
}

pub fn exec(args: Args, out: &Output, _env: &HelmEnv) -> Result<i32> {
    let key = args.key.load()?;
    out.result(&helm_nvflare::sign::sign_archives(&args.archives, &key)?);
    Ok(0)
}
