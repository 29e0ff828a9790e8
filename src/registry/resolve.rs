//! An image's digest from its registry, as a pull would resolve its tag: a HEAD of the
//! manifest, accepting indexes and manifests (OCI and Docker v2). Credentials come from
//! the same places as for push, and go only to that registry.

use super::{digest_is_sha256, RegistryAccess};
use crate::error::{Code, Error, Result};
use crate::image::ImageRef;

const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// The digest the registry answers for `image`'s tag (`latest` when it has none).
pub fn digest(image: &ImageRef, access: &RegistryAccess) -> Result<String> {
    let (host, repo) = image.registry_and_path();
    let reference = if image.tag.is_empty() {
        "latest"
    } else {
        &image.tag
    };
    let client = access.client(&host)?;
    let scope = format!("repository:{repo}:pull");
    let response = client.send(
        "HEAD",
        &client.url(&format!("/v2/{repo}/manifests/{reference}")),
        Some(ACCEPT),
        None,
        &scope,
    )?;
    if response.status() == 404 {
        return Err(Error::new(
            Code::RegistryError,
            format!("Registry {host} has no {repo}:{reference}."),
            "Check the image reference, or push the image first.",
        ));
    }
    if response.status() != 200 {
        return Err(super::status_error(&client, "resolve an image", response));
    }
    let answered = response
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if !digest_is_sha256(&answered) {
        return Err(client.protocol_error("a manifest without a sha256 Docker-Content-Digest"));
    }
    Ok(answered)
}
