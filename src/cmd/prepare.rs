//! `helm nvflare prepare`: a kit, or a whole `prod_NN/` federation.

use std::path::PathBuf;

use helm_nvflare::error::{Error, Result};
use helm_nvflare::federation;
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::nvflare_version::NvflareVersion;
use helm_nvflare::output::{Format, Output};
use helm_nvflare::prepare::PrepareSettings;

use super::shared::{one_of, ChartVersionArgs, SignArgs};

#[derive(clap::Args, Debug)]
#[command(
    about = "Prepare a server or client startup kit (or a whole prod_NN federation) for the Kubernetes or Docker runtime.",
    after_help = "Examples:
  helm nvflare prepare prod_00/site-1 --config k8s.yaml --output prepared/site-1
  helm nvflare prepare prod_00 --config k8s.yaml --output prepared      # every kit of the federation
  helm nvflare prepare prod_00/site-1 --config k8s.yaml --package --version 1.0.0

The Helm release is the participant's name when it is a valid Kubernetes name (site-1);
otherwise a sanitized name plus 8 hex digits of its sha256 (Hospital_A -> hospital-a-3822580f),
so two participants never share a release."
)]
pub struct Args {
    /// Startup kit folder (`<workspace>/<project>/prod_NN/<participant>`), or a `prod_NN`
    /// folder to prepare every server and client kit in it.
    #[arg(value_name = "KIT")]
    pub kit: Option<PathBuf>,
    /// Startup kit folder, as a flag (give it once: positionally or here).
    #[arg(long = "kit", value_name = "KIT")]
    pub kit_flag: Option<PathBuf>,
    /// Runtime config (k8s.yaml or a docker config) [default: <KIT>/config.yaml].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where to write the prepared kit [default: <KIT>/prepared/<runtime>].
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// NVFlare release the site runs: 2.8 or 2.9 [default: the config's nvflare_version,
    /// else the parent image tag when it is a version, else 2.9].
    #[arg(long = "nvflare-version", value_name = "VERSION", value_parser = ["2.8", "2.9"])]
    pub nvflare_version: Option<String>,
    /// Accept pod templates in local/study_runtime.yaml that grant job pods more than the
    /// launcher does (privileged containers, host namespaces, hostPath, a ServiceAccount,
    /// undeclared Secrets); they are listed as warnings instead of refused.
    #[arg(long = "allow-job-pod-grants")]
    pub allow_job_pod_grants: bool,
    /// Take the parent and job images from this mirror, HOST[:PORT]/PATH (a site whose
    /// mirror is filled): `nvcr.io/nvidia/nvflare:2.9.0` becomes `HOST/PATH/nvidia/nvflare:2.9.0`.
    #[arg(long, value_name = "HOST/PATH")]
    pub image_mirror: Option<String>,
    /// Also package the chart: <output>/<chart>-<version>.tgz, beside helm_chart/.
    #[arg(long)]
    pub package: bool,
    #[command(flatten)]
    pub versions: ChartVersionArgs,
    #[command(flatten)]
    pub sign: SignArgs,
}

pub fn exec(args: Args, out: &Output, _env: &HelmEnv) -> Result<i32> {
    helm_nvflare::interrupt::cleans_up_itself();
    if !args.package && args.versions.given() {
        return Err(Error::invalid_args(
            "--version and --app-version need --package.",
            "Add --package, or use `helm nvflare package`.",
        ));
    }
    if !args.package && args.sign.sign {
        return Err(Error::invalid_args(
            "--sign signs the chart archive and needs --package.",
            "Add --package, or sign later with `helm nvflare package --sign`.",
        ));
    }
    let settings = PrepareSettings {
        kit: one_of(&args.kit, &args.kit_flag)?,
        config: args.config,
        output: args.output,
        package: args.package.then(|| args.versions.versions()),
        sign: args.sign.signing_key()?,
        nvflare_version: args.nvflare_version.as_deref().and_then(NvflareVersion::parse),
        allow_job_pod_grants: args.allow_job_pod_grants,
        image_mirror: args.image_mirror,
    };
    let prepared = federation::prepare_kit_or_federation(&settings, out)?;
    for warning in prepared.warnings(out.format() == Format::Txt) {
        out.warn(&warning);
    }
    out.result(&prepared);
    Ok(0)
}
