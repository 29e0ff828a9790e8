//! Flags more than one command takes.

use std::path::PathBuf;

use clap::Args;
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::kubectl::ClusterSettings;
use helm_nvflare::package::ChartVersions;

#[derive(Args, Debug, Clone, Default)]
pub struct ChartVersionArgs {
    /// Chart version written into the archive's Chart.yaml (strict semver) [default: the chart's].
    #[arg(long, value_name = "SEMVER")]
    pub version: Option<String>,
    /// appVersion written into the archive's Chart.yaml [default: the chart's].
    #[arg(long, value_name = "VERSION")]
    pub app_version: Option<String>,
}

impl ChartVersionArgs {
    pub fn versions(&self) -> ChartVersions {
        ChartVersions {
            version: self.version.clone(),
            app_version: self.app_version.clone(),
        }
    }

    pub fn given(&self) -> bool {
        self.version.is_some() || self.app_version.is_some()
    }
}

/// Which cluster to talk to. Helm takes `-n` and `--kube-context` itself and passes them
/// as HELM_NAMESPACE and HELM_KUBECONTEXT; these flags are for running the binary directly.
#[derive(Args, Debug, Clone)]
pub struct ClusterSelection {
    /// Namespace [default: HELM_NAMESPACE (helm's -n), else the kit's].
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// kubeconfig context [default: HELM_KUBECONTEXT (helm's --kube-context)].
    #[arg(long, value_name = "CONTEXT")]
    pub context: Option<String>,
    /// kubectl to run: a name on PATH (kubectl, oc) or a path [default: KUBECTL, else kubectl].
    #[arg(long, value_name = "CMD")]
    pub kubectl: Option<String>,
}

impl ClusterSelection {
    pub fn settings(&self, env: &HelmEnv, dry_run: bool, timeout_seconds: u64) -> ClusterSettings {
        ClusterSettings {
            kubectl: self.kubectl.clone(),
            namespace: self.namespace.clone(),
            context: self.context.clone(),
            helm: env.clone(),
            dry_run,
            timeout_seconds,
        }
    }
}

/// The longest time limit taken: a day is longer than any stage, verify or push.
const MAX_TIMEOUT_SECONDS: u64 = 24 * 3600;

/// `90`, `90s`, `5m`, `1h` → seconds, at most a day.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let (number, unit) = text.trim().split_at(
        text.trim()
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.trim().len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 90s, 5m or 1h"))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("{text:?} is not a duration like 90s, 5m or 1h")),
    };
    match n.checked_mul(factor) {
        Some(0) => Err("the timeout must be more than 0s".into()),
        Some(seconds) if seconds <= MAX_TIMEOUT_SECONDS => Ok(seconds),
        _ => Err(format!("{text:?} is longer than the 24h maximum")),
    }
}

/// A kit argument given positionally or as `--kit`, exactly once.
pub fn one_of(
    positional: &Option<PathBuf>,
    flag: &Option<PathBuf>,
) -> helm_nvflare::error::Result<PathBuf> {
    use helm_nvflare::error::Error;
    match (positional, flag) {
        (Some(_), Some(_)) => Err(Error::invalid_args(
            "Specify the startup kit only once.",
            "Use either positional kit or --kit.",
        )),
        (Some(kit), None) | (None, Some(kit)) => Ok(kit.clone()),
        (None, None) => Err(Error::invalid_args(
            "Missing startup kit directory.",
            "Run helm nvflare prepare <startup-kit-dir>.",
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_never_overflow() {
        use super::parse_duration;
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("5m"), Ok(300));
        assert_eq!(parse_duration("24h"), Ok(86400));
        assert!(parse_duration("25h").is_err());
        assert!(parse_duration("99999999999999999h").is_err());
        assert!(parse_duration("99999999999999999999999s").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
