//! Checks on the prepared kit alone: the kit and its chart agree, and the certificates.

use serde_json::Value;

use super::certs;
use super::Check;
use crate::image::ImageRef;
use crate::kit::COMM_CONFIG_JSON;
use crate::stage::prepared_kit::PreparedKit;

pub fn checks(kit: &PreparedKit, namespace: &str) -> Vec<Check> {
    let mut checks = vec![
        comm_config_matches_chart(kit),
        image(kit),
        launcher_namespace(kit, namespace),
    ];
    checks.extend(certs::kit_certificates(kit));
    checks
}

/// Job pods dial comm_config's internal host:port; the chart must serve exactly that.
fn comm_config_matches_chart(kit: &PreparedKit) -> Check {
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
    let chart_port = Some(u64::from(kit.values.parent_port));
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
