//! Images the tests build and push into a plain registry over its HTTP API: real gzip'd
//! tar layers, a config, Docker v2 or OCI manifests, and an index over several platforms.

use std::io::Write;

use serde_json::json;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// `sha256:<hex>`, as registries name blobs and manifests.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", super::sha256_bytes(bytes))
}

/// A gzip'd tar holding one file `name` of `size` bytes of `fill`.
pub fn layer(name: &str, size: usize, fill: u8) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    let mut h = tar::Header::new_gnu();
    h.set_size(size as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    b.append_data(&mut h, name, std::io::repeat(fill).take_n(size))
        .unwrap();
    b.into_inner().unwrap().finish().unwrap()
}

trait TakeN: std::io::Read + Sized {
    fn take_n(self, n: usize) -> std::io::Take<Self> {
        self.take(n as u64)
    }
}
impl<R: std::io::Read> TakeN for R {}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
}

/// Pushes `bytes` as a blob of `repo` on the plain registry `host`; its descriptor.
pub fn push_blob(host: &str, repo: &str, bytes: &[u8], media_type: &str) -> serde_json::Value {
    let digest = sha256(bytes);
    let a = agent();
    let start = a
        .post(&format!("http://{host}/v2/{repo}/blobs/uploads/"))
        .send_empty()
        .unwrap();
    assert_eq!(start.status(), 202);
    let location = start.headers()["location"].to_str().unwrap().to_string();
    let url = if location.starts_with('/') {
        format!("http://{host}{location}")
    } else {
        location
    };
    let sep = if url.contains('?') { '&' } else { '?' };
    let put = a
        .put(&format!("{url}{sep}digest={digest}"))
        .header("Content-Type", "application/octet-stream")
        .send(bytes)
        .unwrap();
    assert_eq!(put.status(), 201, "blob upload");
    json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
}

pub fn push_manifest(host: &str, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) {
    let put = agent()
        .put(&format!("http://{host}/v2/{repo}/manifests/{reference}"))
        .header("Content-Type", media_type)
        .send(bytes)
        .unwrap();
    assert!(
        put.status() == 201,
        "manifest {repo}:{reference}: {}",
        put.status()
    );
}

/// An image for one platform: a config and `layers`; returns the manifest bytes (pushed
/// by digest, and under `tag` when given).
pub fn image(
    host: &str,
    repo: &str,
    tag: Option<&str>,
    arch: &str,
    layers: &[Vec<u8>],
    oci: bool,
) -> Vec<u8> {
    let (config_type, layer_type, manifest_type) = if oci {
        (
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar+gzip",
            OCI_MANIFEST,
        )
    } else {
        (
            "application/vnd.docker.container.image.v1+json",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            DOCKER_MANIFEST,
        )
    };
    let config = serde_json::to_vec(&json!({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| {
            let mut d = flate2::read::GzDecoder::new(l.as_slice());
            let mut raw = Vec::new();
            std::io::Read::read_to_end(&mut d, &mut raw).unwrap();
            sha256(&raw)
        }).collect::<Vec<_>>()}
    }))
    .unwrap();
    let config = push_blob(host, repo, &config, config_type);
    let layers: Vec<_> = layers
        .iter()
        .map(|l| push_blob(host, repo, l, layer_type))
        .collect();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": manifest_type, "config": config, "layers": layers
    }))
    .unwrap();
    push_manifest(host, repo, &sha256(&manifest), manifest_type, &manifest);
    if let Some(tag) = tag {
        push_manifest(host, repo, tag, manifest_type, &manifest);
    }
    manifest
}

/// An OCI index over linux/amd64 and linux/arm64 under `tag`, the two sharing `base`;
/// returns (index bytes, [amd64 manifest, arm64 manifest]).
pub fn two_platform_index(
    host: &str,
    repo: &str,
    tag: &str,
    base: &[u8],
) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut children = Vec::new();
    let mut entries = Vec::new();
    for (arch, fill) in [("amd64", b'a'), ("arm64", b'b')] {
        let own = layer(&format!("opt/{arch}"), 40_000, fill);
        let m = image(host, repo, None, arch, &[base.to_vec(), own], true);
        entries.push(
            json!({"mediaType": OCI_MANIFEST, "digest": sha256(&m), "size": m.len(),
            "platform": {"architecture": arch, "os": "linux"}}),
        );
        children.push(m);
    }
    let index = serde_json::to_vec(
        &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}),
    )
    .unwrap();
    push_manifest(host, repo, tag, OCI_INDEX, &index);
    (index, children)
}

/// What a registry answers for `repo:reference` over plain HTTP or TLS (`ca`), with the
/// test login: (status, Docker-Content-Digest, body).
pub fn get_manifest(
    host: &str,
    repo: &str,
    reference: &str,
    tls: Option<(&std::path::Path, &str, &str)>,
) -> (u16, String, Vec<u8>) {
    let accept = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
    let (scheme, agent) = match tls {
        None => ("http", agent()),
        Some((ca, _, _)) => {
            let pem = std::fs::read(ca).unwrap();
            let cert = ureq::tls::Certificate::from_pem(&pem).unwrap();
            let tls = ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&[cert.to_owned()]))
                .build();
            (
                "https",
                ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .tls_config(tls)
                    .build()
                    .new_agent(),
            )
        }
    };
    let mut req = agent
        .get(&format!(
            "{scheme}://{host}/v2/{repo}/manifests/{reference}"
        ))
        .header("Accept", accept);
    if let Some((_, user, password)) = tls {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        req = req.header("Authorization", &format!("Basic {token}"));
    }
    let mut r = req.call().unwrap();
    let digest = r
        .headers()
        .get("docker-content-digest")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_vec().unwrap_or_default();
    let _ = std::io::sink().write_all(&body);
    (status, digest, body)
}
