//! Checks on the prepared kit alone: the kit and its chart agree, and the certificates.

use serde_json::Value;

use super::certs;
use super::Check;
use crate::chart::values_files::{self, ValuesFile};
use crate::image::ImageRef;
use crate::kit::COMM_CONFIG_JSON;
use crate::prepared::kit::PreparedKit;

/// `values_files`: the operator's `-f` files, as Helm would be given them.
/// `warn_days`: a certificate expiring sooner is a warning.
pub fn checks(
    kit: &PreparedKit,
    namespace: &str,
    values_files: &[ValuesFile],
    warn_days: i64,
) -> Vec<Check> {
    let served_port = served_parent_port(kit, values_files);
    let mut checks = vec![comm_config_matches_chart(kit, served_port)];
    if !values_files.is_empty() {
        checks.push(operator_values(kit, values_files));
    }
    checks.push(image(kit));
    checks.push(launcher_namespace(kit, namespace));
    checks.push(job_pod_grants(kit));
    checks.extend(certs::kit_certificates(kit, warn_days));
    checks
}

/// The parent port the chart will serve once the `-f` files are applied in order, as Helm
/// merges them: `port` wins when set, and a file's `port: null` unsets it.
fn served_parent_port(kit: &PreparedKit, values_files: &[ValuesFile]) -> u16 {
    let as_port = |v: &Value| v.as_u64().and_then(|p| u16::try_from(p).ok());
    let (mut parent, mut port) = (kit.values.parent_port, kit.values.port);
    for file in values_files {
        if let Some(p) = file.values.get("parentPort").and_then(as_port) {
            parent = p;
        }
        match file.values.get("port") {
            Some(Value::Null) => port = None,
            Some(v) => port = as_port(v).or(port),
            None => {}
        }
    }
    port.unwrap_or(parent)
}

/// Keys of the `-f` files that the chart does not define: Helm's schema refuses them too,
/// but only at install time, and a values file may be written long before.
fn operator_values(kit: &PreparedKit, values_files: &[ValuesFile]) -> Check {
    const ID: &str = "values";
    let schema = crate::chart::values_schema(kit.role);
    let mut unknown = Vec::new();
    for file in values_files {
        for (key, near) in values_files::unknown_keys(&file.values, &schema) {
            let near = near
                .map(|n| format!(" (did you mean {n}?)"))
                .unwrap_or_default();
            unknown.push(format!("{}: {key}{near}", file.path.display()));
        }
    }
    if unknown.is_empty() {
        return Check::pass(ID, "every key of the values files is a value of the chart");
    }
    Check::fail(
        ID,
        format!("values the chart does not define: {}", unknown.join("; ")),
        "Fix the key's spelling; helm_chart/values.yaml lists every value with what it does. Helm refuses these keys at install (values don't meet the specifications of the schema).",
    )
}

/// What the kit's own pod templates give every job pod (the same reading as `prepare`).
fn job_pod_grants(kit: &PreparedKit) -> Check {
    const ID: &str = "job-pod-grants";
    use crate::study_runtime::{self, STUDY_RUNTIME_YAML};
    let local = kit.dir.join("local");
    if !kit.nvflare_version.has_study_runtime()
        || local.join(STUDY_RUNTIME_YAML).symlink_metadata().is_err()
    {
        return Check::skip(
            ID,
            "no local/study_runtime.yaml (NVFlare 2.9): job pods get only what the launcher gives",
        );
    }
    match study_runtime::check(&local, crate::runtime_config::Runtime::K8s) {
        Ok(grants) if grants.is_empty() => {
            Check::pass(ID, "job pod templates grant nothing beyond what the launcher gives")
        }
        Ok(grants) => Check::warn(
            ID,
            format!(
                "every job pod of these studies gets: {}",
                grants.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
            ),
            "These come from the kit's local/study_runtime.yaml pod templates (the project admin's). Make sure this site agreed to them; prepare refuses them without --allow-job-pod-grants.",
        ),
        Err(e) => Check::fail(ID, e.message, e.hint),
    }
}

/// Job pods dial comm_config's internal host:port; the chart must serve exactly that.
fn comm_config_matches_chart(kit: &PreparedKit, served_port: u16) -> Check {
    const ID: &str = "kit-chart-agree";
    let comm = match crate::json_file::load_object(
        &kit.dir.join("local").join(COMM_CONFIG_JSON),
        COMM_CONFIG_JSON,
    ) {
        Ok(c) => Value::Object(c),
        Err(e) => {
            return Check::fail(
                ID,
                e.message,
                "Prepare the kit again with `helm nvflare prepare`.",
            )
        }
    };
    let resources = &comm["internal"]["resources"];
    let host = resources["host"].as_str().unwrap_or_default();
    let port = resources["port"].as_u64();
    let service = kit.service_name();
    let chart_port = Some(u64::from(served_port));
    if host != service || port != chart_port {
        return Check::fail(
            ID,
            format!(
                "local/comm_config.json sends job pods to {host}:{}, but the chart's Service is {service}:{}.",
                port.map_or("?".into(), |p| p.to_string()),
                chart_port.map_or("?".into(), |p| p.to_string())
            ),
            "Keep the Service name, Service port and prepared kit communication settings consistent: prepare again instead of overriding serviceName or the port.",
        );
    }
    Check::pass(
        ID,
        format!(
            "job pods reach the parent at {host}:{}",
            port.unwrap_or_default()
        ),
    )
}

fn image(kit: &PreparedKit) -> Check {
    const ID: &str = "image";
    let image = &kit.values.image;
    let (tag, digest) = (&image.tag, &image.digest);
    let mut reference = image.repository.clone();
    if !tag.is_empty() {
        reference = format!("{reference}:{tag}");
    }
    if !digest.is_empty() {
        reference = format!("{reference}@{digest}");
    }
    if let Err(why) = ImageRef::parse(&reference) {
        return Check::fail(
            ID,
            why,
            "Set parent.docker_image in k8s.yaml to a valid image and prepare again.",
        );
    }
    let bad_secrets: Vec<String> = kit
        .pull_secrets()
        .into_iter()
        .filter(|s| !crate::names::is_dns1123_subdomain(s))
        .collect();
    if !bad_secrets.is_empty() {
        return Check::fail(
            ID,
            format!(
                "invalid image pull Secret names: {}",
                bad_secrets.join(", ")
            ),
            "Use the names of existing Secrets.",
        );
    }
    if tag.is_empty() && digest.is_empty() || tag == "latest" {
        return Check::warn(
            ID,
            format!("parent image {reference} has no fixed tag"),
            "Use a tag that matches the NVFlare version used to provision the kits.",
        );
    }
    Check::pass(ID, format!("parent image {reference}"))
}

fn launcher_namespace(kit: &PreparedKit, namespace: &str) -> Check {
    const ID: &str = "launcher-namespace";
    if kit.namespace != namespace {
        return Check::fail(
            ID,
            format!("local/resources.json.default launches job pods in namespace {:?}, but the release runs in {namespace:?}.", kit.namespace),
            format!("Set `namespace: {namespace}` in k8s.yaml and prepare again, or install into {:?}.", kit.namespace),
        );
    }
    Check::pass(
        ID,
        format!("job pods launch in namespace {namespace}, where the release runs"),
    )
}
