//! Rendering a chart with real Helm and checking what it renders: the Kubernetes schemas
//! (kubernetes-validate --strict) and Kubernetes' name rules per kind.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::{run_cmd, tool, Run};

pub const HELMS: [&str; 2] = ["helm3", "helm4"];

/// A Command for `helm` (`helm3` or `helm4`) with its homes inside `home`, so tests never
/// touch the user's Helm config.
pub fn helm(which: &str, home: &Path) -> Command {
    let mut cmd = Command::new(tool(which));
    for (var, sub) in [
        ("HELM_CONFIG_HOME", "config"),
        ("HELM_CACHE_HOME", "cache"),
        ("HELM_DATA_HOME", "data"),
    ] {
        cmd.env(var, home.join(which).join(sub));
    }
    cmd.env_remove("HELM_PLUGINS");
    cmd
}

/// `helm template` → the rendered YAML text; panics with Helm's stderr on failure.
pub fn template(which: &str, home: &Path, release: &str, chart: &Path, extra: &[&str]) -> String {
    let mut cmd = helm(which, home);
    cmd.args(["template", release])
        .arg(chart)
        .args(["--namespace", "nvflare"])
        .args(extra);
    let run = run_cmd(cmd);
    assert_eq!(run.code, 0, "{which} template failed:\n{}", run.stderr);
    run.stdout
}

pub fn template_run(which: &str, home: &Path, chart: &Path, extra: &[&str]) -> Run {
    let mut cmd = helm(which, home);
    cmd.args(["template", "rel"])
        .arg(chart)
        .args(["--namespace", "nvflare"])
        .args(extra);
    run_cmd(cmd)
}

pub fn lint(which: &str, home: &Path, chart: &Path) {
    let mut cmd = helm(which, home);
    cmd.args(["lint", "--strict"]).arg(chart);
    let run = run_cmd(cmd);
    assert_eq!(
        run.code, 0,
        "{which} lint failed:\n{}\n{}",
        run.stdout, run.stderr
    );
}

/// The YAML documents of a rendered manifest stream (comment-only documents dropped).
pub fn documents(rendered: &str) -> Vec<Value> {
    let docs: Vec<Option<Value>> = serde_saphyr::from_multiple(rendered)
        .unwrap_or_else(|e| panic!("rendered YAML does not parse: {e}\n{rendered}"));
    docs.into_iter()
        .flatten()
        .filter(|d| !d.is_null())
        .collect()
}

pub fn find<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

pub fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found = find(docs, kind);
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    found[0]
}

/// The Kubernetes releases whose schemas every rendered manifest is checked against.
pub const KUBERNETES_VERSIONS: [&str; 2] = ["1.30.0", "1.33.0"];

/// Runs kubernetes-validate --strict against each of KUBERNETES_VERSIONS on the built-in
/// kinds of the rendered text, and the Gateway API CRD schemas (@kubernetes-models/
/// gateway-api, installed by scripts/install-test-deps.sh) on Gateway API objects.
/// OpenShift Routes have no schema package here; tests check them field by field.
pub fn kubernetes_validate(rendered: &str, dir: &Path) {
    let docs = documents(rendered);
    let is_crd = |d: &Value| {
        let api = d["apiVersion"].as_str().unwrap_or_default();
        api.starts_with("gateway.networking.k8s.io/") || api.starts_with("route.openshift.io/")
    };
    let core: Vec<&Value> = docs.iter().filter(|d| !is_crd(d)).collect();
    let file = dir.join(format!("manifest-{}.yaml", std::process::id()));
    let text: Vec<String> = core
        .iter()
        .map(|d| serde_json::to_string(d).unwrap())
        .collect();
    std::fs::write(&file, text.join("\n---\n")).unwrap();
    for version in KUBERNETES_VERSIONS {
        let mut cmd = Command::new(tool("kubernetes-validate"));
        cmd.args(["-k", version, "--strict"]).arg(&file);
        let run = run_cmd(cmd);
        assert_eq!(
            run.code, 0,
            "kubernetes-validate {version} failed:\n{}\n{}\n{rendered}",
            run.stdout, run.stderr
        );
        assert!(
            !run.stdout.contains("ERROR") && !run.stderr.contains("ERROR"),
            "{}{}",
            run.stdout,
            run.stderr
        );
    }
    if docs.iter().any(|d| {
        d["apiVersion"]
            .as_str()
            .is_some_and(|a| a.starts_with("gateway.networking.k8s.io/"))
    }) {
        let gateway = dir.join(format!("gateway-{}.yaml", std::process::id()));
        std::fs::write(&gateway, rendered).unwrap();
        let mut cmd = Command::new("node");
        cmd.arg(super::repo().join("tests/it/support/validate-gateway.js"))
            .arg(super::repo().join(".tools/node/node_modules"))
            .arg(&gateway);
        let run = run_cmd(cmd);
        assert_eq!(
            run.code, 0,
            "Gateway API schema validation failed:\n{}\n{}",
            run.stdout, run.stderr
        );
    }
}

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

fn is_dns1035(s: &str) -> bool {
    is_label(s) && s.as_bytes()[0].is_ascii_lowercase()
}

/// Kubernetes checks the whole subdomain against its pattern and 253 characters; single
/// labels inside it may be longer than 63.
fn is_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

fn is_label_value(s: &str) -> bool {
    let b = s.as_bytes();
    b.is_empty()
        || (b.len() <= 63
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')))
}

fn is_port_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && s.bytes().any(|c| c.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// Kubernetes' name rules for every object, label, container, volume and port.
pub fn check_names(docs: &[Value]) {
    for doc in docs {
        let kind = doc["kind"].as_str().unwrap_or_default();
        let name = doc["metadata"]["name"].as_str().unwrap_or_default();
        let ok = match kind {
            "Service" => is_dns1035(name),
            "Namespace" => is_label(name),
            _ => is_subdomain(name),
        };
        assert!(ok, "{kind} name {name:?} is not valid for its kind");
        check_labels(&doc["metadata"]["labels"], kind);
        if let Some(ports) = doc["spec"]["ports"].as_array() {
            for port in ports {
                let port_name = port["name"].as_str().unwrap_or_default();
                assert!(is_port_name(port_name), "{kind} port name {port_name:?}");
            }
        }
        let pod = &doc["spec"]["template"];
        if pod.is_object() {
            check_labels(&pod["metadata"]["labels"], kind);
            check_labels(&doc["spec"]["selector"]["matchLabels"], kind);
            for container in pod["spec"]["containers"].as_array().into_iter().flatten() {
                let cname = container["name"].as_str().unwrap_or_default();
                assert!(
                    is_label(cname),
                    "container name {cname:?} is not a DNS-1123 label"
                );
                for port in container["ports"].as_array().into_iter().flatten() {
                    let pname = port["name"].as_str().unwrap_or_default();
                    assert!(is_port_name(pname), "container port name {pname:?}");
                }
            }
            for volume in pod["spec"]["volumes"].as_array().into_iter().flatten() {
                let vname = volume["name"].as_str().unwrap_or_default();
                assert!(is_label(vname), "volume name {vname:?}");
            }
            if let Some(sa) = pod["spec"]["serviceAccountName"].as_str() {
                assert!(is_subdomain(sa), "serviceAccountName {sa:?}");
            }
        }
    }
}

fn check_labels(labels: &Value, kind: &str) {
    for (key, value) in labels.as_object().into_iter().flatten() {
        let value = value
            .as_str()
            .unwrap_or_else(|| panic!("{kind} label {key} is not a string"));
        assert!(
            is_label_value(value),
            "{kind} label {key}={value:?} is not a valid label value"
        );
    }
}

/// The values Helm itself reads from `chart` (`.Values` as JSON), after loading the whole
/// chart: rendered through a dump template added to a copy of the chart.
pub fn values_as_helm_reads_them(which: &str, home: &Path, chart: &Path, scratch: &Path) -> Value {
    use base64::Engine;
    let copy = scratch.join(format!("values-dump-{which}"));
    let _ = std::fs::remove_dir_all(&copy);
    let status = Command::new("cp")
        .arg("-r")
        .arg(chart)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(
        copy.join("templates/zz-values-dump.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: values-dump\ndata:\n  values: {{ .Values | toJson | b64enc | quote }}\n",
    )
    .unwrap();
    let rendered = template(
        which,
        home,
        "rel",
        &copy,
        &["--show-only", "templates/zz-values-dump.yaml"],
    );
    let doc = documents(&rendered).remove(0);
    let b64 = doc["data"]["values"].as_str().unwrap();
    let json = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    serde_json::from_slice(&json).unwrap()
}
