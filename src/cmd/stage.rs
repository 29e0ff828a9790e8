//! `helm nvflare stage`.

use std::path::PathBuf;

use helm_nvflare::error::Result;
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::output::Output;
use helm_nvflare::stage::{self, StageSettings};

use super::shared::{parse_duration, ClusterSelection, MethodArg};

#[derive(clap::Args, Debug)]
#[command(
    about = "Put a prepared kit's startup/ and local/ where the parent pod reads them.",
    after_help = "Examples:
  helm nvflare stage prepared/site-1 -n nvflare --create-pvc
  helm nvflare stage prepared/site-1 -n nvflare --method configmap
  helm nvflare stage prepared/site-1 -n nvflare --dry-run      # print every kubectl call and manifest"
)]
pub struct Args {
    /// A kit prepared for the k8s runtime (the --output of prepare).
    #[arg(value_name = "PREPARED_KIT")]
    pub kit: PathBuf,
    /// pvc: copy onto the workspace PVC; configmap: local/ as a ConfigMap, startup/ as a Secret.
    #[arg(long, value_enum, default_value = "pvc")]
    pub method: MethodArg,
    #[command(flatten)]
    pub cluster: ClusterSelection,
    /// Print every kubectl command and manifest instead of running them.
    #[arg(long)]
    pub dry_run: bool,
    /// Workspace PVC [default: the chart's persistence.workspace.claimName].
    #[arg(long, value_name = "NAME")]
    pub pvc: Option<String>,
    /// Create the PVC when it is missing.
    #[arg(long)]
    pub create_pvc: bool,
    /// Size of a PVC made by --create-pvc.
    #[arg(long, value_name = "QUANTITY", default_value = "10Gi")]
    pub size: String,
    /// storageClassName of a PVC made by --create-pvc [default: the cluster's default class].
    #[arg(long, value_name = "CLASS")]
    pub storage_class: Option<String>,
    /// Helper pod image; it needs tar (kubectl cp).
    #[arg(long, value_name = "IMAGE", default_value = "busybox:1.36")]
    pub image: String,
    /// Time limit for each kubectl call and for the helper pod to start, e.g. 90s, 5m.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub timeout: u64,
    /// UID of the helper pod [default: the chart's securityContext.runAsUser, an OpenShift
    /// namespace's UID range, else 65534].
    #[arg(long, value_name = "UID")]
    pub run_as_user: Option<i64>,
}

pub fn exec(args: Args, out: &Output, env: &HelmEnv) -> Result<i32> {
    helm_nvflare::interrupt::cleans_up_itself();
    let settings = StageSettings {
        kit: args.kit,
        method: args.method.into(),
        cluster: args.cluster.settings(env, args.dry_run, args.timeout),
        pvc: args.pvc,
        create_pvc: args.create_pvc,
        size: args.size,
        storage_class: args.storage_class,
        image: args.image,
        timeout_seconds: args.timeout,
        run_as_user: args.run_as_user,
    };
    out.result(&stage::stage(&settings, out)?);
    Ok(0)
}
