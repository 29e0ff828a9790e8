//! The objects `stage` sends: the helper pod, the workspace PVC, and the ConfigMap/Secret
//! pair. All are built as JSON, valid for their kind.

use serde_json::{json, Value};

pub const WORKSPACE: &str = "/workspace";

fn labels(release: &str) -> Value {
    json!({
        "app.kubernetes.io/managed-by": "helm-nvflare",
        "app.kubernetes.io/part-of": "nvflare",
        "app.kubernetes.io/instance": release,
    })
}

/// The helper pod's name: at most 63 characters, a valid DNS-1123 label.
pub(crate) fn helper_pod_name(release: &str) -> String {
    crate::names::stable_k8s_name(&format!("nvflare-stage-{release}"), 63)
}

#[derive(Debug, Clone)]
pub struct Identity {
    pub run_as_user: Option<i64>,
    pub fs_group: Option<i64>,
}

/// A pod that mounts the workspace PVC at /workspace and sleeps until deleted (or for an
/// hour at most, should nobody delete it). Its security context passes the `restricted`
/// Pod Security Standard and OpenShift's restricted SCC when `identity` comes from the
/// namespace's UID range.
pub(crate) fn helper_pod(
    name: &str,
    release: &str,
    claim: &str,
    image: &str,
    pull_secrets: &[String],
    identity: &Identity,
) -> Value {
    let mut pod_security =
        json!({"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}});
    if let Some(uid) = identity.run_as_user {
        pod_security["runAsUser"] = json!(uid);
        pod_security["runAsGroup"] = json!(uid);
    }
    if let Some(group) = identity.fs_group {
        pod_security["fsGroup"] = json!(group);
    }
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels(release)},
        "spec": {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": 3600,
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": false,
            "securityContext": pod_security,
            "containers": [{
                "name": "stage",
                "image": image,
                "command": ["sleep", "3600"],
                "volumeMounts": [{"name": "workspace", "mountPath": WORKSPACE}],
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "readOnlyRootFilesystem": true,
                    "capabilities": {"drop": ["ALL"]},
                },
                "resources": {
                    "requests": {"cpu": "10m", "memory": "16Mi"},
                    "limits": {"cpu": "200m", "memory": "64Mi"},
                },
            }],
            "volumes": [{"name": "workspace", "persistentVolumeClaim": {"claimName": claim}}],
        },
    });
    if !pull_secrets.is_empty() {
        pod["spec"]["imagePullSecrets"] = pull_secrets.iter().map(|s| json!({"name": s})).collect();
    }
    pod
}

pub fn workspace_pvc(name: &str, release: &str, size: &str, storage_class: Option<&str>) -> Value {
    let mut pvc = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "labels": labels(release)},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    });
    if let Some(class) = storage_class {
        pvc["spec"]["storageClassName"] = json!(class);
    }
    pvc
}

pub fn config_map(name: &str, release: &str, data: Value, binary_data: Value) -> Value {
    let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels(release)}, "data": data});
    if binary_data.as_object().is_some_and(|m| !m.is_empty()) {
        cm["binaryData"] = binary_data;
    }
    cm
}

pub fn secret(name: &str, release: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {"name": name, "labels": labels(release)}, "data": data})
}

/// A copy of `manifest` safe to show: every Secret value replaced by its size. The values
/// move from `data` to `stringData`, so the shown manifest is still one the API server
/// accepts (`kubectl apply --dry-run=server` of a plan works) and reads as text.
pub fn redacted(manifest: &Value) -> Value {
    let mut shown = manifest.clone();
    let redact_secret = |obj: &mut Value| {
        if obj["kind"] == "Secret" {
            if let Some(map) = obj.as_object_mut() {
                if let Some(Value::Object(data)) = map.remove("data") {
                    let sizes: serde_json::Map<String, Value> = data
                        .into_iter()
                        .map(|(key, value)| {
                            let len = value.as_str().map_or(0, str::len);
                            (key, json!(format!("<redacted: {len} base64 characters>")))
                        })
                        .collect();
                    map.insert("stringData".into(), Value::Object(sizes));
                }
            }
        }
    };
    redact_secret(&mut shown);
    if let Some(items) = shown.get_mut("items").and_then(Value::as_array_mut) {
        items.iter_mut().for_each(redact_secret);
    }
    shown
}
