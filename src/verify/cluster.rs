//! Checks against the cluster, read-only: namespace, workspace PVC, rollout, pods (and why
//! they are not ready), Service ports, the launcher's RBAC, and the staged workspace.

use serde_json::Value;

use super::Check;
use crate::error::Result;
use crate::kubectl::{self, Failure, Kubectl};
use crate::prepared::kit::PreparedKit;

/// What NVFlare 2.8's launcher needs: pods, and the Secrets job pods mount.
pub const LAUNCHER_RBAC_2_8: [(&str, &[&str]); 2] = [
    ("pods", &["create", "delete", "get", "list", "watch"]),
    ("secrets", &["create", "get", "update"]),
];
/// NVFlare 2.9's launcher also reads events and patches/deletes its Secrets.
pub const LAUNCHER_RBAC: [(&str, &[&str]); 3] = [
    ("pods", &["create", "delete", "get", "list", "watch"]),
    ("secrets", &["create", "get", "update", "patch", "delete"]),
    ("events", &["get", "list", "watch"]),
];

struct Ctx<'a> {
    kubectl: &'a Kubectl,
    namespace: &'a str,
}

impl Ctx<'_> {
    fn call(&self, args: &[String]) -> Result<std::result::Result<String, Failure>> {
        let mut all = vec![format!("--namespace={}", self.namespace)];
        all.extend(args.iter().cloned());
        self.kubectl.call(&all, None, false)
    }

    fn json(&self, args: &[String]) -> Result<std::result::Result<Value, Failure>> {
        Ok(self
            .call(args)?
            .map(|text| serde_json::from_str(&text).unwrap_or(Value::Null)))
    }
}

pub fn checks(
    kubectl: &Kubectl,
    kit: &PreparedKit,
    namespace: &str,
    release: &str,
    timeout: u64,
) -> Result<Vec<Check>> {
    let ctx = Ctx { kubectl, namespace };
    let mut checks = Vec::new();
    match ctx.call(&kubectl::get_json("namespace", namespace))? {
        Ok(answer) if kubectl::found(&answer)?.is_some() => checks.push(Check::pass(
            "namespace",
            format!("namespace {namespace} exists"),
        )),
        Ok(_) => {
            checks.push(Check::fail(
                "namespace",
                format!("namespace {namespace} does not exist"),
                format!("Create it: kubectl create namespace {namespace}, then stage and install."),
            ));
            return Ok(checks);
        }
        Err(f) => {
            // The same reading as every command's (cluster_failure.rs): its kind's hint.
            let reading = crate::cluster_failure::classify(&f.one_line());
            let message = match &reading.kind {
                crate::cluster_failure::Kind::Unreachable { .. } => {
                    format!("cannot reach the cluster: {}", reading.line)
                }
                _ => reading.summary(&format!("kubectl get namespace {namespace}")),
            };
            checks.push(Check::fail("cluster", message, reading.kind.hint()));
            return Ok(checks);
        }
    }
    checks.push(pvc(&ctx, kit)?);
    let name = kit.object_name();
    let rollout = ctx.call(&kubectl::args(&[
        "rollout",
        "status",
        &format!("deployment/{name}"),
        &format!("--timeout={timeout}s"),
    ]))?;
    checks.push(match &rollout {
        Ok(_) => Check::pass("rollout", format!("deployment/{name} rolled out")),
        Err(f) => Check::fail(
            "rollout",
            format!("deployment/{name} did not roll out within {timeout}s: {}", f.one_line()),
            format!("Inspect the pod and recent events: kubectl -n {namespace} describe pod -l app.kubernetes.io/instance={release}; kubectl -n {namespace} get events --sort-by=.lastTimestamp"),
        ),
    });
    let pods_ready = pods(&ctx, release, &name, &mut checks)?;
    checks.push(service(&ctx, kit)?);
    checks.extend(rbac(&ctx, kit)?);
    checks.push(workspace(&ctx, kit, &name, pods_ready)?);
    checks.push(pull_secrets(&ctx, kit)?);
    if kit.nvflare_version.has_study_runtime() {
        checks.push(study_objects(&ctx, kit)?);
    }
    checks.push(pod_security(&ctx, &name)?);
    checks.push(registration(&ctx, kit, &name, pods_ready)?);
    Ok(checks)
}

/// Whether an object exists: Ok(true/false), or the reason it could not be read.
fn exists(ctx: &Ctx, kind: &str, name: &str) -> Result<std::result::Result<bool, String>> {
    // An answer that is not JSON is this check's problem, not the whole verify's.
    Ok(match ctx.call(&kubectl::get_json(kind, name))? {
        Ok(answer) => kubectl::found(&answer)
            .map(|o| o.is_some())
            .map_err(|e| e.message),
        Err(f) => Err(f.one_line()),
    })
}

/// The image pull Secrets of the parent (the chart's `imagePullSecrets`) and of the job
/// launcher (`image_pull_secrets` in resources.json.default): a missing one is found only
/// when a pull fails.
fn pull_secrets(ctx: &Ctx, kit: &PreparedKit) -> Result<Check> {
    const ID: &str = "pull-secrets";
    let mut names: Vec<(String, &str)> = kit
        .pull_secrets()
        .into_iter()
        .map(|n| (n, "parent"))
        .collect();
    let resources = kit
        .dir
        .join("local")
        .join(crate::kit::RESOURCES_JSON_DEFAULT);
    if let Ok(json) = crate::json_file::load_object(&resources, crate::kit::RESOURCES_JSON_DEFAULT)
    {
        for component in json
            .get("components")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let is_launcher = component["path"]
                .as_str()
                .is_some_and(|p| p.contains("K8sJobLauncher"));
            for secret in component["args"]["image_pull_secrets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|_| is_launcher)
            {
                if let Some(name) = secret
                    .as_str()
                    .filter(|n| crate::names::is_dns1123_subdomain(n))
                {
                    names.push((name.to_string(), "job launcher"));
                }
            }
        }
    }
    if names.is_empty() {
        return Ok(Check::pass(ID, "no image pull Secrets are named"));
    }
    let mut missing = Vec::new();
    for (name, who) in &names {
        match exists(ctx, "secret", name)? {
            Ok(true) => {}
            Ok(false) => missing.push(format!("{name} ({who})")),
            Err(why) => {
                return Ok(Check::warn(
                    ID,
                    format!("cannot read Secret {name}: {why}"),
                    "verify needs get on secrets in the namespace to check the pull Secrets.",
                ))
            }
        }
    }
    Ok(if missing.is_empty() {
        Check::pass(
            ID,
            format!(
                "image pull Secrets exist: {}",
                names
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    } else {
        Check::fail(
            ID,
            format!("image pull Secrets missing in namespace {}: {}", ctx.namespace, missing.join(", ")),
            format!("Create them: kubectl -n {} create secret docker-registry <name> --docker-server=... (the parent's come from parent.image_pull_secrets, the job pods' from job_launcher.image_pull_secrets).", ctx.namespace),
        )
    })
}

/// NVFlare 2.9: every dataset PVC `local/study_runtime.yaml` names exists and is Bound,
/// and every Secret it names exists (a job of the study fails at start otherwise).
fn study_objects(ctx: &Ctx, kit: &PreparedKit) -> Result<Check> {
    const ID: &str = "study-objects";
    let path = kit
        .dir
        .join("local")
        .join(crate::study_runtime::STUDY_RUNTIME_YAML);
    let Ok(bytes) = crate::fs_tree::read_untrusted(
        &kit.dir.join("local"),
        std::path::Path::new(crate::study_runtime::STUDY_RUNTIME_YAML),
        1024 * 1024,
    ) else {
        return Ok(Check::skip(
            ID,
            format!("{} cannot be read", path.display()),
        ));
    };
    let config: Value = serde_saphyr::from_str::<Option<Value>>(&String::from_utf8_lossy(&bytes))
        .ok()
        .flatten()
        .unwrap_or(Value::Null);
    let mut claims = Vec::new();
    let mut secrets = Vec::new();
    for study in config["studies"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        for dataset in study["datasets"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
        {
            claims.extend(dataset["source"].as_str().map(str::to_string));
        }
        for key in ["secret_env", "secret_mounts"] {
            for reference in study[key].as_object().into_iter().flat_map(|m| m.values()) {
                secrets.extend(reference["source"].as_str().map(str::to_string));
            }
        }
    }
    claims.sort();
    claims.dedup();
    secrets.sort();
    secrets.dedup();
    if claims.is_empty() && secrets.is_empty() {
        return Ok(Check::pass(
            ID,
            "local/study_runtime.yaml names no dataset PVC or Secret",
        ));
    }
    let mut problems = Vec::new();
    for claim in claims
        .iter()
        .filter(|c| crate::names::is_dns1123_subdomain(c))
    {
        match ctx.call(&kubectl::get_json("pvc", claim))? {
            Ok(answer) => match kubectl::found(&answer).unwrap_or(None) {
                None => problems.push(format!(
                    "dataset PVC {claim} does not exist or cannot be read"
                )),
                Some(pvc) if pvc["status"]["phase"] != "Bound" => problems.push(format!(
                    "dataset PVC {claim} is {}",
                    crate::terminal::escape(
                        pvc["status"]["phase"].as_str().unwrap_or("in no phase")
                    )
                )),
                Some(_) => {}
            },
            Err(f) => problems.push(format!("dataset PVC {claim}: {}", f.one_line())),
        }
    }
    for secret in secrets
        .iter()
        .filter(|s| crate::names::is_dns1123_subdomain(s))
    {
        match exists(ctx, "secret", secret)? {
            Ok(true) => {}
            Ok(false) => problems.push(format!("Secret {secret} does not exist")),
            Err(why) => problems.push(format!("Secret {secret}: {why}")),
        }
    }
    Ok(if problems.is_empty() {
        Check::pass(
            ID,
            format!(
                "the studies' PVCs are Bound ({}) and their Secrets exist ({})",
                claims.join(", "),
                secrets.join(", ")
            ),
        )
    } else {
        Check::fail(
            ID,
            problems.join("; "),
            format!("Jobs of these studies fail when they start: create the PVCs and Secrets in namespace {} (kubectl get pvc,secret), or fix local/study_runtime.yaml and prepare again.", ctx.namespace),
        )
    })
}

/// The namespace's Pod Security level admits the parent pod: its Deployment's pod
/// template is sent as a Pod with a server-side dry run, which Pod Security admission
/// judges as it would the real one (nothing is created).
fn pod_security(ctx: &Ctx, deployment: &str) -> Result<Check> {
    const ID: &str = "pod-security";
    let Ok(found) = ctx.json(&kubectl::args(&[
        "get",
        "deployment",
        deployment,
        "-o",
        "json",
    ]))?
    else {
        return Ok(Check::skip(
            ID,
            format!("deployment/{deployment} cannot be read"),
        ));
    };
    let Some(template) = found.get("spec").and_then(|s| s.get("template")) else {
        return Ok(Check::skip(
            ID,
            format!("deployment/{deployment} has no pod template"),
        ));
    };
    let mut metadata = template["metadata"].clone();
    if !metadata.is_object() {
        metadata = Value::Object(Default::default());
    }
    metadata["name"] = Value::String(format!("{deployment}-pod-security-probe"));
    metadata["namespace"] = Value::String(ctx.namespace.to_string());
    let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]});
    let mut args = vec![format!("--namespace={}", ctx.namespace)];
    args.extend(kubectl::args(&[
        "create",
        "--dry-run=server",
        "-o",
        "name",
        "-f",
        "-",
    ]));
    let body = serde_json::to_vec(&pod).expect("JSON values serialize");
    Ok(match ctx.kubectl.call(&args, Some(&body), false)? {
        Ok(_) => Check::pass(ID, format!("namespace {}'s Pod Security level admits the parent pod", ctx.namespace)),
        Err(f) if f.stderr.contains("PodSecurity") => Check::fail(
            ID,
            f.one_line(),
            "Prepare with a pod and container securityContext the level allows (runtime config: parent.pod_security_context and the chart's securityContext values), or label the namespace with a lower pod-security.kubernetes.io/enforce level.",
        ),
        Err(f) => Check::warn(ID, format!("could not ask the API server: {}", f.one_line()), "verify needs create on pods (a server-side dry run creates nothing)."),
    })
}

/// A client parent logged that it registered with the server; a server, how many
/// clients joined. A parent that logged a connection error instead fails.
fn registration(ctx: &Ctx, kit: &PreparedKit, deployment: &str, pods_ready: bool) -> Result<Check> {
    use crate::parent_log::{self, Registration};
    const ID: &str = "registration";
    if !pods_ready {
        return Ok(Check::skip(ID, "no ready parent pod whose log to read"));
    }
    let log = match ctx.call(&kubectl::args(&[
        "logs",
        &format!("deployment/{deployment}"),
        "--tail=20000",
    ]))? {
        Ok(log) => log,
        Err(f) => {
            return Ok(Check::skip(
                ID,
                format!("the parent's log cannot be read: {}", f.one_line()),
            ))
        }
    };
    if kit.is_server() {
        let joined = parent_log::joined(&log);
        return Ok(Check::pass(
            ID,
            format!(
                "{} clients joined{}",
                joined.len(),
                if joined.is_empty() {
                    String::new()
                } else {
                    format!(": {}", joined.join(", "))
                }
            ),
        ));
    }
    Ok(match parent_log::client(&log, &kit.participant) {
        Registration::Registered => Check::pass(ID, format!("{} registered with the server", crate::terminal::escape(&kit.participant))),
        Registration::NotYet(Some(error)) => Check::fail(
            ID,
            format!("not registered; the parent logged: {error}"),
            "Check that the server is up and reachable at the host and port in startup/fed_client.json, and that this kit and the server's come from the same provisioning (rootCA.pem).",
        ),
        Registration::NotYet(None) => Check::warn(ID, "not registered with the server yet (nothing in the parent's log)", "A client registers within a minute of the server being up: run verify again, or helm nvflare status --watch."),
    })
}

fn pvc(ctx: &Ctx, kit: &PreparedKit) -> Result<Check> {
    let claim = kit.claim_name();
    let hint = format!(
        "Check that the cluster has a default storage class, or set storageClassName: kubectl get storageclass; kubectl -n {} describe pvc {claim}",
        ctx.namespace
    );
    let answer = match ctx.call(&kubectl::get_json("pvc", claim))? {
        Ok(answer) => answer,
        Err(f) => return Ok(Check::fail("pvc", f.one_line(), hint)),
    };
    Ok(match kubectl::found(&answer)? {
        None => Check::fail(
            "pvc",
            format!("PVC {claim} does not exist"),
            "Create the workspace PVC and stage the kit: helm nvflare stage <prepared-kit> --create-pvc",
        ),
        Some(pvc) => match pvc["status"]["phase"].as_str().unwrap_or_default() {
            "Bound" => Check::pass("pvc", format!("PVC {claim} is Bound")),
            "" => Check::fail("pvc", format!("PVC {claim} is in no phase"), hint),
            phase => Check::fail("pvc", format!("PVC {claim} is {phase}"), hint),
        },
    })
}

/// Checks every pod of the release; returns whether one is ready.
fn pods(ctx: &Ctx, release: &str, deployment: &str, checks: &mut Vec<Check>) -> Result<bool> {
    const ID: &str = "pods";
    let list = match ctx.json(&kubectl::args(&[
        "get",
        "pods",
        "-l",
        &format!("app.kubernetes.io/instance={release}"),
        "-o",
        "json",
    ]))? {
        Ok(v) => v,
        Err(f) => {
            checks.push(Check::fail(
                ID,
                f.one_line(),
                "Check your permissions to list pods.",
            ));
            return Ok(false);
        }
    };
    let items = list["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        checks.push(match replica_failure(ctx, deployment)? {
            // Admission refused the pods (Pod Security, a quota, a webhook): the ReplicaSet
            // says why, and the Deployment repeats it as its ReplicaFailure condition.
            Some(why) => Check::fail(
                ID,
                format!("no pod of release {release}: the cluster refused to create it: {why}"),
                if why.contains("PodSecurity") {
                    format!("The namespace's Pod Security level refuses the parent pod. Run it as non-root (the README's production values: podSecurityContext.runAsNonRoot, runAsUser), or ask for a namespace whose pod-security.kubernetes.io/enforce level admits it (kubectl get namespace {} --show-labels).", ctx.namespace)
                } else {
                    format!("Inspect the ReplicaSet: kubectl -n {} describe replicaset -l app.kubernetes.io/instance={release}", ctx.namespace)
                },
            ),
            None => Check::fail(ID, format!("no pod of release {release}"), format!("Install the chart: helm upgrade --install {release} <prepared-kit>/helm_chart --namespace {}", ctx.namespace)),
        });
        return Ok(false);
    }
    let mut any_ready = false;
    for pod in &items {
        let name = pod["metadata"]["name"].as_str().unwrap_or("?").to_string();
        let describe = format!("kubectl -n {} describe pod {name}", ctx.namespace);
        checks.push(match classify_pod(pod) {
            PodState::Ready => {
                any_ready = true;
                Check::pass(ID, format!("pod {name} is Ready"))
            }
            PodState::ImagePull { reason, message } => Check::fail(
                ID,
                format!("pod {name}: {reason}: {message}"),
                format!("Confirm that the parent image exists and the cluster can pull it ({describe}; helm -n {} get values {release} --all); for private registries add image pull secrets (parent.image_pull_secrets).", ctx.namespace),
            ),
            PodState::CrashLoop => Check::fail(
                ID,
                format!("pod {name}: CrashLoopBackOff; last log lines: {}", last_log_lines(ctx, &name)?),
                format!("Read the parent logs (kubectl -n {} logs {name} --previous). A missing `kubernetes` package needs the NVFlare K8S extra; \"Parent pod cannot find startup or local\" means the kit was staged at the wrong level: restage with helm nvflare stage.", ctx.namespace),
            ),
            PodState::Pending => {
                let events = pod_events(ctx, &name)?;
                Check::fail(
                    ID,
                    format!("pod {name} is Pending: {}", if events.is_empty() { "no events" } else { &events }),
                    "Common causes: insufficient CPU, memory or GPU, an unbound PVC, a missing storage class. Check kubectl get events --sort-by=.lastTimestamp.",
                )
            }
            PodState::NotReady { why } => Check::fail(
                ID,
                format!("pod {name} is not Ready ({why})"),
                format!("Inspect it: {describe}"),
            ),
        });
    }
    Ok(any_ready)
}

/// The message of the Deployment's `ReplicaFailure` condition, if it has one.
fn replica_failure(ctx: &Ctx, deployment: &str) -> Result<Option<String>> {
    let answer = match ctx.call(&kubectl::get_json("deployment", deployment))? {
        Ok(answer) => answer,
        Err(_) => return Ok(None),
    };
    let Some(deployment) = kubectl::found(&answer)? else {
        return Ok(None);
    };
    Ok(deployment["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "ReplicaFailure" && c["status"] == "True")
        .and_then(|c| c["message"].as_str())
        .map(str::to_string))
}

/// What one pod's status says, read from its structure alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodState {
    Ready,
    /// ImagePullBackOff or ErrImagePull, with the kubelet's message.
    ImagePull {
        reason: String,
        message: String,
    },
    CrashLoop,
    Pending,
    /// Anything else: the waiting reasons, or the phase.
    NotReady {
        why: String,
    },
}

pub(crate) fn classify_pod(pod: &Value) -> PodState {
    let status = &pod["status"];
    let ready = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True");
    if ready {
        return PodState::Ready;
    }
    let waiting: Vec<(String, String)> = status["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let w = &c["state"]["waiting"];
            let reason = w["reason"].as_str()?.to_string();
            Some((
                reason,
                w["message"].as_str().unwrap_or_default().to_string(),
            ))
        })
        .collect();
    if let Some((reason, message)) = waiting
        .iter()
        .find(|(r, _)| r == "ImagePullBackOff" || r == "ErrImagePull")
    {
        return PodState::ImagePull {
            reason: reason.clone(),
            message: message.clone(),
        };
    }
    if waiting.iter().any(|(r, _)| r == "CrashLoopBackOff") {
        return PodState::CrashLoop;
    }
    if status["phase"] == "Pending" {
        return PodState::Pending;
    }
    let why = if waiting.is_empty() {
        status["phase"].as_str().unwrap_or("unknown").to_string()
    } else {
        waiting
            .iter()
            .map(|(r, m)| format!("{r} {m}").trim().to_string())
            .collect::<Vec<_>>()
            .join("; ")
    };
    PodState::NotReady { why }
}

/// The last five lines the parent wrote, joined on one line.
fn last_log_lines(ctx: &Ctx, pod: &str) -> Result<String> {
    Ok(
        match ctx.call(&kubectl::args(&["logs", pod, "--tail=20"]))? {
            Ok(text) => {
                let lines: Vec<&str> = text.trim().lines().collect();
                lines[lines.len().saturating_sub(5)..].join(" | ")
            }
            Err(f) => f.one_line(),
        },
    )
}

/// The pod's events as `reason: message; ...`.
fn pod_events(ctx: &Ctx, pod: &str) -> Result<String> {
    let selector = format!("involvedObject.name={pod}");
    let args = kubectl::args(&["get", "events", "--field-selector", &selector, "-o", "json"]);
    Ok(match ctx.json(&args)? {
        Ok(list) => list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| {
                Some(format!(
                    "{}: {}",
                    e["reason"].as_str()?,
                    e["message"].as_str().unwrap_or_default()
                ))
            })
            .collect::<Vec<_>>()
            .join("; "),
        Err(f) => f.one_line(),
    })
}

fn service(ctx: &Ctx, kit: &PreparedKit) -> Result<Check> {
    const ID: &str = "service";
    let name = kit.service_name();
    let expected: Vec<u64> = kit
        .values
        .service_ports()
        .into_iter()
        .map(u64::from)
        .collect();
    Ok(match ctx.json(&kubectl::args(&["get", "service", name, "-o", "json"]))? {
        Ok(svc) => {
            let mut ports: Vec<u64> = svc["spec"]["ports"].as_array().into_iter().flatten().filter_map(|p| p["port"].as_u64()).collect();
            ports.sort_unstable();
            let missing: Vec<String> = expected.iter().filter(|p| !ports.contains(p)).map(|p| p.to_string()).collect();
            if missing.is_empty() {
                Check::pass(ID, format!("Service {name} serves ports {}", ports.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")))
            } else {
                Check::fail(ID, format!("Service {name} lacks port(s) {}", missing.join(", ")), "Keep the Service name and ports as prepare wrote them; run helm upgrade with the prepared chart.")
            }
        }
        Err(f) => Check::fail(ID, format!("Service {name}: {}", f.one_line()), "Job pods reach the parent through this Service: install the chart (helm upgrade --install).")
    })
}

fn rbac(ctx: &Ctx, kit: &PreparedKit) -> Result<Vec<Check>> {
    const ID: &str = "launcher-rbac";
    let sa = kit.service_account();
    let who = format!("--as=system:serviceaccount:{}:{sa}", ctx.namespace);
    let mut denied = Vec::new();
    let needed: &[(&str, &[&str])] = match kit.nvflare_version {
        crate::nvflare_version::NvflareVersion::V2_8 => &LAUNCHER_RBAC_2_8,
        crate::nvflare_version::NvflareVersion::V2_9 => &LAUNCHER_RBAC,
    };
    for (resource, verbs) in needed {
        for verb in verbs.iter() {
            match ctx.call(&kubectl::args(&["auth", "can-i", verb, resource, &who]))? {
                // `auth can-i` answers `yes` (exit 0) or `no` (exit 1) on stdout; anything
                // else (an unreachable cluster, a refused impersonation) is no answer.
                Ok(answer) if answer.trim() == "yes" => {}
                Err(f) if f.stdout.trim() == "no" => denied.push(format!("{verb} {resource}")),
                Ok(_) => denied.push(format!("{verb} {resource}")),
                Err(f) => {
                    return Ok(vec![Check::fail(
                        "cluster",
                        format!("kubectl auth can-i gave no answer: {}", f.one_line()),
                        "Check the cluster connection and your permission to impersonate ServiceAccounts (kubectl auth can-i --as).",
                    )])
                }
            }
        }
    }
    if denied.is_empty() {
        let what = if needed.len() == LAUNCHER_RBAC.len() {
            "create, delete, get, list and watch pods, manage secrets and read events"
        } else {
            "create, delete, get, list and watch pods and create, get and update secrets"
        };
        return Ok(vec![Check::pass(
            ID,
            format!("ServiceAccount {sa} may {what}"),
        )]);
    }
    Ok(vec![Check::fail(
        ID,
        format!("ServiceAccount {sa} may not: {}", denied.join(", ")),
        "The parent pod must run with a ServiceAccount that can create job pods and create or update startup-kit Secrets: keep rbac.create=true, or grant the same rules in this namespace.",
    )])
}

fn workspace(ctx: &Ctx, kit: &PreparedKit, deployment: &str, pods_ready: bool) -> Result<Check> {
    const ID: &str = "workspace";
    let config = &kit.values.workspace_config;
    let cm = config.local.config_map_name.as_str();
    let secret = config.startup.secret_name.as_str();
    if config.is_staged() {
        let mut missing = Vec::new();
        for (kind, name) in [("configmap", cm), ("secret", secret)]
            .iter()
            .filter(|(_, n)| !n.is_empty())
        {
            if ctx
                .call(&kubectl::args(&["get", kind, name, "-o", "name"]))?
                .is_err()
            {
                missing.push(format!("{kind}/{name}"));
            }
        }
        return Ok(if missing.is_empty() {
            Check::pass(
                ID,
                format!("staged ConfigMap {cm} and Secret {secret} exist"),
            )
        } else {
            Check::fail(
                ID,
                format!("staged objects missing: {}", missing.join(", ")),
                "Stage again: helm nvflare stage <prepared-kit> --method configmap",
            )
        });
    }
    if !pods_ready {
        return Ok(Check::skip(ID, "no ready parent pod to look into"));
    }
    let mount = kit.mount_path();
    let role_file = kit.role_file();
    let expected = [
        format!("{mount}/startup/{role_file}"),
        format!("{mount}/local/resources.json.default"),
    ];
    let mut args = kubectl::args(&["exec", &format!("deploy/{deployment}"), "--", "ls", "-d"]);
    args.extend(expected.iter().cloned());
    Ok(match ctx.call(&args)? {
        Ok(_) => Check::pass(ID, format!("the parent pod sees startup/ and local/ under {mount}")),
        Err(f) => Check::fail(
            ID,
            format!("the parent pod does not see {} ({})", expected.join(" and "), f.one_line()),
            format!("Parent pod cannot find startup or local: the kit was copied to the wrong level or the wrong PVC is mounted. The mount path must contain {mount}/startup and {mount}/local: restage with helm nvflare stage."),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::{classify_pod, PodState};
    use serde_json::json;

    fn pod(phase: &str, ready: bool, waiting: Option<(&str, &str)>) -> serde_json::Value {
        let state = match waiting {
            Some((reason, message)) => json!({"waiting": {"reason": reason, "message": message}}),
            None => json!({"running": {}}),
        };
        json!({"status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
            "containerStatuses": [{"name": "c", "state": state}],
        }})
    }

    #[test]
    fn pods_are_classified_by_their_status() {
        assert_eq!(classify_pod(&pod("Running", true, None)), PodState::Ready);
        assert_eq!(
            classify_pod(&pod("Pending", false, Some(("ErrImagePull", "not found")))),
            PodState::ImagePull {
                reason: "ErrImagePull".into(),
                message: "not found".into()
            }
        );
        assert_eq!(
            classify_pod(&pod(
                "Running",
                false,
                Some(("CrashLoopBackOff", "back-off"))
            )),
            PodState::CrashLoop
        );
        assert_eq!(
            classify_pod(&pod("Pending", false, None)),
            PodState::Pending
        );
        assert_eq!(
            classify_pod(&pod(
                "Running",
                false,
                Some(("CreateContainerConfigError", "secret missing"))
            )),
            PodState::NotReady {
                why: "CreateContainerConfigError secret missing".into()
            }
        );
        assert_eq!(
            classify_pod(&json!({})),
            PodState::NotReady {
                why: "unknown".into()
            }
        );
    }
}
