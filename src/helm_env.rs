//! What Helm hands a plugin in its environment, read once per run by the command layer
//! and passed down as values: the core never reads the environment itself.
//!
//! Helm takes `-n`, `--kube-context`, `--kubeconfig`, `--debug` and the other `--kube-*`
//! flags itself and passes them as `HELM_*` variables (and `KUBECONFIG`).

use std::path::PathBuf;

#[derive(Debug, Clone, Default)]
pub struct HelmEnv {
    /// `HELM_NAMESPACE` (helm's `-n`, or the context's namespace).
    pub namespace: Option<String>,
    /// `HELM_KUBECONTEXT` (helm's `--kube-context`).
    pub kube_context: Option<String>,
    /// `HELM_KUBETOKEN`: a bearer token; never put on a command line.
    pub kube_token: Option<String>,
    pub kube_apiserver: Option<String>,
    pub kube_ca_file: Option<String>,
    pub kube_as_user: Option<String>,
    pub kube_as_groups: Vec<String>,
    pub kube_insecure_skip_tls_verify: bool,
    /// `KUBECONFIG`, else `~/.kube/config`.
    pub kubeconfig: String,
    /// `KUBECTL`: the kubectl to run (a name on PATH or a path).
    pub kubectl: Option<String>,
    /// `HOME`.
    pub home: Option<PathBuf>,
    /// `HELM_BIN`: the Helm that runs the plugin (what deploy runs for helm commands).
    pub helm_bin: Option<String>,
    /// `HELM_DEBUG` (helm's `--debug`).
    pub debug: bool,
    /// Helm's default keyring: `$GNUPGHOME/pubring.gpg`, else `~/.gnupg/pubring.gpg`.
    pub default_keyring: PathBuf,
    /// Helm's registry login file: `HELM_REGISTRY_CONFIG`, else
    /// `$HELM_CONFIG_HOME/registry/config.json` where Helm puts it.
    pub registry_config: Option<PathBuf>,
    /// Docker's config: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub docker_config: Option<PathBuf>,
}

// The one place the environment is read (clippy.toml forbids it elsewhere).
#[allow(clippy::disallowed_methods)]
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[allow(clippy::disallowed_methods)]
fn path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

impl HelmEnv {
    pub fn from_process() -> HelmEnv {
        let home = path("HOME");
        let config_home = path("HELM_CONFIG_HOME").or_else(|| {
            if cfg!(target_os = "macos") {
                home.as_ref().map(|h| h.join("Library/Preferences/helm"))
            } else {
                path("XDG_CONFIG_HOME")
                    .or_else(|| home.as_ref().map(|h| h.join(".config")))
                    .map(|c| c.join("helm"))
            }
        });
        HelmEnv {
            namespace: var("HELM_NAMESPACE"),
            kube_context: var("HELM_KUBECONTEXT"),
            kube_token: var("HELM_KUBETOKEN"),
            kube_apiserver: var("HELM_KUBEAPISERVER"),
            kube_ca_file: var("HELM_KUBECAFILE"),
            kube_as_user: var("HELM_KUBEASUSER"),
            kube_as_groups: var("HELM_KUBEASGROUPS")
                .map(|g| {
                    g.split(',')
                        .filter(|g| !g.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            kube_insecure_skip_tls_verify: var("HELM_KUBEINSECURE_SKIP_TLS_VERIFY")
                .is_some_and(|v| v == "true"),
            kubeconfig: var("KUBECONFIG").unwrap_or_else(|| {
                home.clone()
                    .unwrap_or_default()
                    .join(".kube/config")
                    .display()
                    .to_string()
            }),
            kubectl: var("KUBECTL"),
            helm_bin: var("HELM_BIN"),
            home: home.clone(),
            debug: var("HELM_DEBUG").is_some_and(|v| v == "true" || v == "1"),
            default_keyring: path("GNUPGHOME")
                .or_else(|| home.as_ref().map(|h| h.join(".gnupg")))
                .unwrap_or_default()
                .join("pubring.gpg"),
            registry_config: path("HELM_REGISTRY_CONFIG")
                .or_else(|| config_home.map(|c| c.join("registry/config.json"))),
            docker_config: path("DOCKER_CONFIG")
                .map(|d| d.join("config.json"))
                .or_else(|| home.map(|h| h.join(".docker/config.json"))),
        }
    }
}
