//! Property test: generated hostile strings (YAML line breaks, controls, `{{ }}`, `: `,
//! `#`, `---`, leading `*&!%@-`, quotes, backslashes) as the participant name and in every
//! free-form field of k8s.yaml. Either prepare refuses them cleanly (control characters:
//! exit 4, nothing written) or real Helm 3 and 4 read back exactly the input, and the chart
//! renders the same objects as any other: no extra key, no extra object.
//!
//! `PROPTEST_CASES` sets the number of cases (128 by default; CI runs the default).

use crate::support;

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};
use support::kits::Project;
use support::manifests::{self, HELMS};
use support::write;

/// Control characters: any of them makes prepare refuse the case.
const CONTROLS: &[&str] = &[
    "\n",
    "\r",
    "\u{85}",
    "\t",
    "\u{7f}",
    "\u{9b}",
    "\u{1b}[2J",
    "\0",
];

/// Printable pieces hostile strings are made of (YAML line separators included).
const PIECES: &[&str] = &[
    "\u{2028}",
    "\u{2029}",
    "\u{feff}",
    "\u{202e}",
    "{{",
    "}}",
    "{{ .Values }}",
    ": ",
    "#",
    "---",
    "...",
    "*",
    "&",
    "!",
    "%",
    "@",
    "-",
    "? ",
    "\"",
    "'",
    "\\",
    "\\n",
    "`",
    "$(id)",
    "yes",
    "null",
    "0x1F",
    "1e3",
    "~",
    " ",
    "a",
    "site-1",
    "Hospital_A",
    "é",
    "日本",
    "🚀",
    "[",
    "]",
    "{",
    "}",
    ",",
    "|",
    ">",
];

fn printable() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 1..7).prop_map(|parts| parts.concat())
}

fn with_controls() -> impl Strategy<Value = String> {
    let piece = prop_oneof![3 => prop::sample::select(PIECES), 1 => prop::sample::select(CONTROLS)];
    prop::collection::vec(piece, 1..7).prop_map(|parts| parts.concat())
}

#[derive(Debug, Clone)]
struct Case {
    name: String,
    python_path: String,
    config_file_path: String,
    job_python_path: String,
    resource_value: String,
    selinux_level: String,
}

/// Four in five cases are printable throughout, and go all the way through Helm.
fn cases() -> impl Strategy<Value = Case> {
    prop_oneof![4 => case_of(printable), 1 => case_of(with_controls)]
}

fn case_of<S: Strategy<Value = String>>(string: fn() -> S) -> impl Strategy<Value = Case> {
    (string(), string(), string(), string(), string(), string()).prop_map(
        |(name, python_path, config_file_path, job_python_path, resource_value, selinux_level)| {
            Case {
                name,
                python_path,
                config_file_path,
                job_python_path,
                resource_value,
                selinux_level,
            }
        },
    )
}

fn strings(case: &Case) -> [&str; 6] {
    [
        &case.name,
        &case.python_path,
        &case.config_file_path,
        &case.job_python_path,
        &case.resource_value,
        &case.selinux_level,
    ]
}

/// The objects one client chart renders (with the values dump added), to compare against.
const KINDS: [&str; 6] = [
    "ConfigMap",
    "Deployment",
    "Role",
    "RoleBinding",
    "Service",
    "ServiceAccount",
];
/// Participants per Helm run: prepared one by one, rendered together as subcharts.
const BATCH: usize = 16;

/// Prepares one participant; `Ok(Some(chart))` when accepted, `Ok(None)` when refused as
/// it must be.
fn prepare_one(
    case: &Case,
    root: &Path,
    project: &Project,
    id: &str,
) -> Result<Option<std::path::PathBuf>, TestCaseError> {
    let kit = project.client_kit(id);
    let fed = kit.join("startup/fed_client.json");
    let mut fed_json = support::read_json(&fed);
    fed_json["client"]["fqsn"] = json!(case.name);
    std::fs::write(&fed, fed_json.to_string()).unwrap();
    // JSON is YAML: the config carries the strings without any quoting of ours.
    let config = json!({
        "runtime": "k8s",
        "namespace": "nvflare",
        "parent": {
            "docker_image": "localhost:5000/nvflare:2.9.0",
            "python_path": case.python_path,
            "resources": {"limits": {"example.com/device": case.resource_value}},
            "pod_security_context": {"seLinuxOptions": {"level": case.selinux_level}},
        },
        "job_launcher": {
            "config_file_path": case.config_file_path,
            "default_python_path": case.job_python_path,
        },
    });
    let config_path = write(&root.join(format!("k8s-{id}.yaml")), &config.to_string());
    let out = root.join(format!("out-{id}"));
    let run = support::prepare_run(&kit, &config_path, &out, &[]);
    std::fs::remove_dir_all(&kit).unwrap();
    std::fs::remove_file(&config_path).unwrap();
    let has_control = strings(case)
        .iter()
        .any(|s| s.chars().any(char::is_control));
    if has_control {
        prop_assert_eq!(run.code, 4, "{:?}: {}", case, run.stdout);
        let code = run.json()["error_code"].as_str().unwrap().to_string();
        prop_assert!(
            code == "INVALID_KIT" || code == "INVALID_CONFIG",
            "{}",
            code
        );
        prop_assert!(!out.exists(), "something was written for a refused case");
        return Ok(None);
    }
    prop_assert_eq!(run.code, 0, "{:?}: {}\n{}", case, run.stdout, run.stderr);
    // The launcher config took its strings exactly, too.
    let resources = support::read_json(&out.join("local/resources.json.default"));
    let launcher = resources["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "k8s_launcher")
        .unwrap()
        .clone();
    prop_assert_eq!(
        &launcher["args"]["config_file_path"],
        &json!(case.config_file_path)
    );
    prop_assert_eq!(
        &launcher["args"]["default_python_path"],
        &json!(case.job_python_path)
    );
    Ok(Some(out.join("helm_chart")))
}

/// Puts each prepared chart into an umbrella chart as subchart `c<i>` (only its name in
/// Chart.yaml changes, so Helm keeps their values apart) with a template that dumps
/// `.Values` as Helm read them.
fn umbrella(dir: &Path, charts: &[(usize, std::path::PathBuf)]) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("charts")).unwrap();
    write(
        &dir.join("Chart.yaml"),
        "apiVersion: v2\nname: umbrella\nversion: 0.1.0\n",
    );
    for (i, chart) in charts {
        let sub = dir.join("charts").join(format!("c{i}"));
        let status = std::process::Command::new("cp")
            .arg("-r")
            .arg(chart)
            .arg(&sub)
            .status()
            .unwrap();
        assert!(status.success());
        let chart_yaml = std::fs::read_to_string(sub.join("Chart.yaml")).unwrap();
        let renamed = chart_yaml.replacen("name: nvflare-client\n", &format!("name: c{i}\n"), 1);
        assert_ne!(renamed, chart_yaml);
        std::fs::write(sub.join("Chart.yaml"), renamed).unwrap();
        write(
            &sub.join("templates/zz-values-dump.yaml"),
            &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: values-dump-c{i}\ndata:\n  values: {{{{ .Values | toJson | b64enc | quote }}}}\n"),
        );
    }
}

fn check_batch(
    batch: &[Case],
    root: &Path,
    project: &Project,
    home: &Path,
    b: usize,
) -> Result<usize, TestCaseError> {
    let mut charts = Vec::new();
    for (i, case) in batch.iter().enumerate() {
        if let Some(chart) = prepare_one(case, root, project, &format!("b{b}-{i}"))? {
            charts.push((i, chart));
        }
    }
    if charts.is_empty() {
        return Ok(0);
    }
    let dir = root.join(format!("umbrella-{b}"));
    umbrella(&dir, &charts);
    for which in HELMS {
        let rendered = manifests::template(which, home, "rel", &dir, &[]);
        let docs = manifests::documents(&rendered);
        let mut kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
        kinds.sort_unstable();
        let mut expected: Vec<&str> = KINDS
            .iter()
            .flat_map(|k| std::iter::repeat_n(*k, charts.len()))
            .collect();
        expected.sort_unstable();
        prop_assert_eq!(&kinds, &expected, "{}: objects for {:?}", which, batch);
        let mut uids = Vec::new();
        let mut want_uids = Vec::new();
        for (i, _) in &charts {
            let case = &batch[*i];
            let dump = docs
                .iter()
                .find(|d| d["metadata"]["name"] == json!(format!("values-dump-c{i}")))
                .unwrap();
            let values: Value = {
                use base64::Engine;
                let b64 = dump["data"]["values"].as_str().unwrap();
                serde_json::from_slice(
                    &base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .unwrap(),
                )
                .unwrap()
            };
            let mut keys: Vec<&String> = values.as_object().unwrap().keys().collect();
            keys.sort();
            // Helm adds `global` to every subchart's values; nothing else may appear.
            prop_assert_eq!(
                keys,
                vec![
                    "affinity",
                    "args",
                    "command",
                    "containerSecurityContext",
                    "extraEnv",
                    "extraEnvFrom",
                    "extraVolumeMounts",
                    "extraVolumes",
                    "global",
                    "image",
                    "imagePullSecrets",
                    "initContainers",
                    "livenessProbe",
                    "name",
                    "networkPolicy",
                    "nodeSelector",
                    "parentPort",
                    "persistence",
                    "podAnnotations",
                    "podLabels",
                    "port",
                    "priorityClassName",
                    "rbac",
                    "readinessProbe",
                    "resources",
                    "runtimeClassName",
                    "securityContext",
                    "service",
                    "serviceAccount",
                    "serviceName",
                    "siteName",
                    "startupProbe",
                    "terminationGracePeriodSeconds",
                    "tolerations",
                    "topologySpreadConstraints",
                    "workspaceConfig",
                ],
                "{}: top-level values for {:?}",
                which,
                case
            );
            prop_assert_eq!(&values["name"], &json!(case.name), "{}", which);
            prop_assert_eq!(&values["siteName"], &json!(case.name), "{}", which);
            prop_assert_eq!(&values["command"], &json!([case.python_path]), "{}", which);
            prop_assert_eq!(
                &values["resources"],
                &json!({"limits": {"example.com/device": case.resource_value}}),
                "{}",
                which
            );
            prop_assert_eq!(
                &values["securityContext"],
                &json!({"seLinuxOptions": {"level": case.selinux_level}}),
                "{}",
                which
            );
            want_uids.push(json!(format!("uid={}", case.name)));
        }
        for deployment in docs.iter().filter(|d| d["kind"] == "Deployment") {
            let container = &deployment["spec"]["template"]["spec"]["containers"][0];
            uids.push(
                container["args"]
                    .as_array()
                    .unwrap()
                    .last()
                    .unwrap()
                    .clone(),
            );
        }
        uids.sort_by_key(|v| v.to_string());
        want_uids.sort_by_key(|v| v.to_string());
        prop_assert_eq!(uids, want_uids, "{}: Deployment args", which);
    }
    std::fs::remove_dir_all(&dir).unwrap();
    for (_, chart) in &charts {
        std::fs::remove_dir_all(chart.parent().unwrap()).unwrap();
    }
    Ok(charts.len())
}

#[test]
#[cfg_attr(
    not(feature = "external-tools"),
    ignore = "needs Helm, kubernetes-validate, NVFlare or a registry: run scripts/test.sh"
)]
fn hostile_strings_read_back_exactly_or_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let project = Project::new(&root.join("ws/example_project"), "fl.example.com");
    let home = root.join("helm-home");
    // PROPTEST_CASES counts participants; each run of Helm takes a batch of them.
    let participants: u32 = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(192);
    let mut runner = TestRunner::new(Config {
        cases: participants.div_ceil(BATCH as u32),
        failure_persistence: None,
        ..Config::default()
    });
    let batches = std::sync::atomic::AtomicUsize::new(0);
    let through_helm = std::sync::atomic::AtomicUsize::new(0);
    let strategy = prop::collection::vec(cases(), BATCH);
    runner
        .run(&strategy, |batch| {
            let b = batches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let accepted = check_batch(&batch, root, &project, &home, b)?;
            through_helm.fetch_add(accepted, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        })
        .unwrap();
    let batches = batches.into_inner();
    eprintln!(
        "{} participants in {batches} batches; {} read back through Helm 3 and 4, the rest refused",
        batches * BATCH,
        through_helm.into_inner()
    );
}
