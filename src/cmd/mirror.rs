//! `helm nvflare mirror`: exit 0 when every image is copied or present, 1 when one failed.

use std::path::PathBuf;

use helm_nvflare::error::Result;
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::mirror::{self, MirrorSettings};
use helm_nvflare::output::{Output, Report};
use helm_nvflare::registry::copy::Platform;
use helm_nvflare::registry::{RegistryAccess, TlsSettings};

use super::shared::RegistryArgs;

#[derive(clap::Args, Debug)]
#[command(
    about = "Copy every image a site pulls to the site's registry, by digest; --rewrite points the prepared kits at it.",
    after_help = "Each image keeps its tag under <PATH>/<repository path> (reg:5000/nvidia/nvflare:2.9.0 goes
to <PATH>/nvidia/nvflare:2.9.0). An index is copied with all its platforms (the mirror has
the same index digest) unless --platform names some. Blobs the mirror has are not sent
again. The registry flags are the mirror's; a source registry's login is the stored one.

Examples:
  helm nvflare mirror prepared/ --to oci://registry.site.local:5000/mirror
  helm nvflare mirror prepared/ --to oci://registry.site.local:5000/mirror --rewrite
  helm nvflare mirror nvcr.io/nvidia/nvflare:2.9.0 --to oci://registry.site.local:5000/mirror --platform linux/amd64"
)]
pub struct Args {
    /// Prepared kits, folders of prepared kits, or image references.
    #[arg(value_name = "PREPARED|IMAGE", required = true, num_args = 1..)]
    pub sources: Vec<String>,
    /// The mirror: oci://HOST[:PORT]/PATH.
    #[arg(long, value_name = "OCI_REFERENCE")]
    pub to: String,
    /// Copy only this platform of an index, os/arch[/variant] (repeat for more).
    #[arg(long = "platform", value_name = "OS/ARCH", value_parser = Platform::parse)]
    pub platforms: Vec<Platform>,
    /// Stage's helper pod image (mirrored with the kits' images).
    #[arg(long, value_name = "IMAGE", default_value = "busybox:1.36")]
    pub stage_image: String,
    /// Once every copy succeeded, point the prepared kits at the mirror, pinned by digest.
    #[arg(long)]
    pub rewrite: bool,
    /// Talk plain HTTP to the source registries.
    #[arg(long)]
    pub source_plain_http: bool,
    /// CA certificate (PEM) to trust for the source registries.
    #[arg(long, value_name = "FILE")]
    pub source_ca_file: Option<PathBuf>,
    /// Skip TLS certificate checks of the source registries (testing only).
    #[arg(long)]
    pub source_insecure_skip_tls_verify: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

pub fn exec(args: Args, out: &Output, env: &HelmEnv) -> Result<i32> {
    let mirror_access = args.registry.access(env)?;
    let source_access = RegistryAccess {
        tls: TlsSettings {
            plain_http: args.source_plain_http,
            ca_file: args.source_ca_file,
            cert_file: None,
            key_file: None,
            insecure_skip_tls_verify: args.source_insecure_skip_tls_verify,
        },
        credentials: None,
        ..mirror_access.clone()
    };
    let settings = MirrorSettings {
        sources: args.sources,
        to: args.to,
        platforms: args.platforms,
        stage_image: args.stage_image,
        rewrite: args.rewrite,
        source_access,
        mirror_access,
    };
    let report = mirror::mirror(&settings, out)?;
    out.result(&report);
    Ok(report.exit_code())
}
