//! `helm nvflare bundle` and `helm nvflare bundle push`: an air-gapped site's charts,
//! plugin and images in one tar, and loading it into the site's registry.

use std::path::PathBuf;

use helm_nvflare::bundle::{self, BundlePushSettings, BundleSettings};
use helm_nvflare::error::Result;
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::output::{Output, Report};
use helm_nvflare::registry::copy::Platform;

use super::shared::{parse_size, RegistryArgs};

#[derive(clap::Args, Debug)]
#[command(
    about = "Write an air-gapped site's chart archives, plugin and images (an OCI layout) into one tar; `bundle push` loads it.",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "The registry flags are the source registries' (a login is the stored one). Without
--charts, each prepared chart is packaged (unsigned); with --charts, the archives `package
--sign` wrote go in with their .prov.

Examples:
  helm nvflare bundle prepared/ -o site.tar --charts dist --plugin helm-nvflare-0.1.0-linux-amd64.tgz
  helm nvflare bundle push site.tar --to oci://registry.site.local:5000/fl --ca-file site-ca.pem"
)]
pub struct Args {
    #[command(subcommand)]
    pub push: Option<Sub>,
    /// Prepared kits or folders of prepared kits.
    #[arg(value_name = "PREPARED", required = true, num_args = 1..)]
    pub sources: Vec<PathBuf>,
    /// The bundle to write.
    #[arg(short = 'o', long, value_name = "FILE", required = true)]
    pub output: Option<PathBuf>,
    /// `package`'s output: the chart archives (and .prov) to bundle.
    #[arg(long, value_name = "DIR")]
    pub charts: Option<PathBuf>,
    /// The plugin's release archive (and its .prov beside it) to bundle.
    #[arg(long, value_name = "FILE")]
    pub plugin: Option<PathBuf>,
    /// Stage's helper pod image (bundled with the kits' images).
    #[arg(long, value_name = "IMAGE", default_value = "busybox:1.36")]
    pub stage_image: String,
    /// Bundle only this platform of an index, os/arch[/variant] (repeat for more).
    #[arg(long = "platform", value_name = "OS/ARCH", value_parser = Platform::parse)]
    pub platforms: Vec<Platform>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(clap::Subcommand, Debug)]
pub enum Sub {
    /// Load a bundle into the site's registry: images under <PATH>/<repository path>, charts
    /// under <PATH>/<participant>/<chart>, the plugin under <PATH>.
    Push(PushArgs),
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Example:
  helm nvflare bundle push site.tar --to oci://registry.site.local:5000/fl --ca-file site-ca.pem")]
pub struct PushArgs {
    /// A bundle `helm nvflare bundle` wrote.
    #[arg(value_name = "BUNDLE")]
    pub bundle: PathBuf,
    /// The site's registry: oci://HOST[:PORT]/PATH.
    #[arg(long, value_name = "OCI_REFERENCE")]
    pub to: String,
    /// The most the bundle may unpack to.
    #[arg(long, value_name = "SIZE", default_value = "64Gi", value_parser = parse_size)]
    pub max_size: u64,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

pub fn exec(args: Args, out: &Output, env: &HelmEnv) -> Result<i32> {
    // Both work in a temporary folder, removed on the way out, Ctrl-C included.
    helm_nvflare::interrupt::cleans_up_itself();
    if let Some(Sub::Push(push)) = args.push {
        let settings = BundlePushSettings {
            bundle: push.bundle,
            to: push.to,
            mirror_access: push.registry.access(env)?,
            max_bytes: push.max_size,
        };
        let report = bundle::push(&settings, out)?;
        out.result(&report);
        return Ok(report.exit_code());
    }
    let source_access = args.registry.access(env)?;
    if source_access.credentials.is_some() {
        // Images come from many registries: a login given here would reach all of them.
        return Err(helm_nvflare::error::Error::invalid_args(
            "bundle reads each source registry with its own stored login; --username has no registry to go to.",
            "Log in to each source registry first (`helm registry login HOST`), then bundle.",
        ));
    }
    let settings = BundleSettings {
        sources: args.sources,
        output: args.output.expect("required by clap"),
        charts: args.charts,
        plugin: args.plugin,
        stage_image: args.stage_image,
        platforms: args.platforms,
        source_access,
    };
    let report = bundle::bundle(&settings, out)?;
    out.result(&report);
    Ok(0)
}
