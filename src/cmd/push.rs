//! `helm nvflare push`.

use std::path::PathBuf;

use helm_nvflare::error::Result;
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::output::Output;
use helm_nvflare::registry::{self, PushSettings};

use super::shared::RegistryArgs;

#[derive(clap::Args, Debug)]
#[command(
    about = "Push chart archives to an OCI registry, each participant under its own path.",
    after_help = "Examples:
  helm nvflare push dist/nvflare-client-1.0.0.tgz oci://registry.example.com/fl
  helm nvflare push dist oci://127.0.0.1:5000/fl --plain-http      # every archive package wrote into dist/
  echo \"$PASS\" | helm nvflare push dist oci://registry.example.com/fl --username robot --password-stdin
  helm nvflare push --plugin helm-nvflare-0.1.0-linux-amd64.tgz oci://registry.example.com/helm-plugins"
)]
pub struct Args {
    /// Chart archives (.tgz), or folders holding them (`package <federation>` output).
    #[arg(value_name = "ARCHIVE_OR_FOLDER", required = true, num_args = 1..)]
    pub archives: Vec<PathBuf>,
    /// The registry location: `oci://<registry>[:port]/<path>`.
    #[arg(value_name = "oci://REGISTRY/PATH", required = true)]
    pub remote: String,
    /// The archives are plugin release archives (scripts/release.sh): push each as a Helm 4
    /// plugin artifact, for `helm plugin install oci://...`.
    #[arg(long)]
    pub plugin: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

pub fn exec(args: Args, out: &Output, env: &HelmEnv) -> Result<i32> {
    if args.plugin {
        let access = args.registry.access(env)?;
        let plugins = args
            .archives
            .iter()
            .map(|archive| registry::plugin::push_plugin(archive, &args.remote, &access))
            .collect::<Result<Vec<_>>>()?;
        out.result(&registry::plugin::PluginPushReport { plugins });
        return Ok(0);
    }
    let settings = PushSettings {
        archives: registry::expand_archives(&args.archives)?,
        remote: args.remote,
        access: args.registry.access(env)?,
        default_namespace: env.namespace.clone().unwrap_or_else(|| "default".into()),
    };
    out.result(&registry::push(&settings, out)?);
    Ok(0)
}
