//! Copying an image from its registry to a mirror, by digest, as `skopeo copy --all` does:
//! an index (or Docker manifest list) with all its platforms, so the mirror answers the
//! same index digest, or only the platforms asked for; Docker v2 and OCI manifests.
//!
//! Everything the source sends is untrusted. Manifests are read up to 4 MiB and must hash
//! to the digest that names them; an image names at most 1,000 layers; every blob streams
//! from the source to the mirror through a reader that hashes and counts it, and fails the
//! upload when it runs past its size or ends with another digest, so the mirror never
//! commits it. Nothing is tagged at the mirror until every blob and manifest of the image
//! is there. Redirects are followed one by one, each checked (never https down to http),
//! and our logins go only to the registry they belong to.

use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::Ordering;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::client::Client;
use super::{digest, digest_is_sha256, put_manifest_as, status_error, RegistryAccess};
use crate::error::{Brief, Code, Error, Result};
use crate::image::ImageRef;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// More than any real image has; a manifest naming more is refused before any copy.
pub const MAX_LAYERS: usize = 1000;
const MAX_PLATFORMS: usize = 256;
const MAX_REDIRECTS: usize = 5;

/// `os/arch[/variant]`, as `--platform` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(text: &str) -> std::result::Result<Platform, String> {
        let parts: Vec<&str> = text.split('/').collect();
        let ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        };
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: Some(variant.to_string()),
            }),
            _ => Err(format!(
                "{text:?} is not os/arch[/variant], e.g. linux/amd64"
            )),
        }
    }

    fn matches(&self, p: &Value) -> bool {
        p["os"] == self.os.as_str()
            && p["architecture"] == self.architecture.as_str()
            && self
                .variant
                .as_ref()
                .is_none_or(|v| p["variant"] == v.as_str())
    }
}

/// Where the image goes: a repository on the mirror, under the source's tag.
#[derive(Debug, Clone)]
pub struct Destination {
    pub host: String,
    pub repository: String,
}

/// What a copy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The digest the mirror answers for the image.
    pub digest: String,
    /// The mirror had it already, under this tag.
    pub present: bool,
    pub blobs_sent: usize,
    pub blobs_mounted: usize,
    pub blobs_present: usize,
    pub bytes_sent: u64,
}

fn refused(image: &str, why: impl std::fmt::Display) -> Error {
    Error::new(
        Code::VerificationFailed,
        format!("{} was not mirrored: {why}; nothing was tagged at the mirror for it.", crate::terminal::escape(image)),
        "The source registry sent something else than the image it names: check the source (and any proxy in between), then mirror again.",
    )
}

/// A blob's bytes on their way from the source to the mirror, hashed and counted: a read
/// past the blob's size or an end with another digest is an error, so the upload fails.
struct Checked<R> {
    inner: R,
    size: u64,
    expected: String,
    read: u64,
    hasher: Sha256,
    failure: Option<String>,
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let fail = |this: &mut Self, why: String| {
            this.failure = Some(why.clone());
            Err(std::io::Error::new(std::io::ErrorKind::InvalidData, why))
        };
        if crate::interrupt::INTERRUPTED.load(Ordering::SeqCst) {
            return fail(self, "interrupted".into());
        }
        // One byte past the size is enough to know the blob is longer than it says.
        let room = (self.size + 1 - self.read).min(buf.len() as u64) as usize;
        let n = self.inner.read(&mut buf[..room])?;
        self.read += n as u64;
        if self.read > self.size {
            return fail(
                self,
                format!(
                    "blob {} is longer than its {} bytes",
                    self.expected, self.size
                ),
            );
        }
        self.hasher.update(&buf[..n]);
        if n == 0 || self.read == self.size {
            if self.read < self.size && n == 0 {
                return fail(
                    self,
                    format!(
                        "blob {} ended after {} of its {} bytes",
                        self.expected, self.read, self.size
                    ),
                );
            }
            if self.read == self.size {
                let got = format!("sha256:{}", hex(&self.hasher.clone().finalize()));
                if got != self.expected {
                    return fail(self, format!("blob {} has digest {got}", self.expected));
                }
            }
        }
        Ok(n)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn header(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A descriptor's digest and size, checked.
fn descriptor(d: &Value, image: &str) -> Result<(String, u64)> {
    let digest = d["digest"].as_str().unwrap_or_default();
    if !digest_is_sha256(digest) {
        return Err(refused(
            image,
            format!(
                "a descriptor with digest {:?} (only sha256 is copied)",
                crate::terminal::escape(digest)
            ),
        ));
    }
    let size = d["size"]
        .as_u64()
        .ok_or_else(|| refused(image, "a descriptor without a size"))?;
    Ok((digest.to_string(), size))
}

/// Where an image is read from: a registry, or an OCI image layout (a bundle).
pub trait Source {
    /// The manifest `reference` (a tag or a digest) names: its bytes, the media type it
    /// was served as, and the digest the source says it has.
    fn manifest(&mut self, reference: &str) -> Result<Option<(Vec<u8>, String, Option<String>)>>;
    /// A blob's bytes, and the length the source announces.
    fn blob(&mut self, digest: &str) -> Result<(Box<dyn Read + '_>, Option<u64>)>;
}

/// How a blob gets to where it goes.
pub enum Start {
    Present,
    Mounted,
    /// Send it to this upload.
    Upload(String),
}

/// Where an image is written: a registry (the mirror), or an OCI image layout.
pub trait Sink {
    /// The digest the sink holds under `tag`, if any.
    fn digest_of(&mut self, tag: &str) -> Result<Option<String>>;
    fn start_blob(&mut self, digest: &str) -> Result<Start>;
    /// Sends `size` bytes read from `body` to an upload `start_blob` began; `body` fails
    /// the read when the bytes are not the blob's.
    fn send_blob(
        &mut self,
        upload: String,
        digest: &str,
        size: u64,
        body: &mut dyn Read,
    ) -> Result<()>;
    fn put_manifest(&mut self, reference: &str, bytes: &[u8], media_type: &str) -> Result<()>;
}

/// Copies `image` from `source` to `sink`, tagging it there (with its tag, else its
/// digest) last of all. Every manifest must hash to the digest that names it; every blob streams
/// through the digest check.
pub fn copy(
    source: &mut dyn Source,
    sink: &mut dyn Sink,
    image: &ImageRef,
    platforms: &[Platform],
    progress: &dyn Fn(&str),
) -> Result<Copied> {
    let name = &image.to_string();
    let reference = &reference_of(image);
    let tag = if image.tag.is_empty() {
        reference
    } else {
        &image.tag
    };
    let (top, media_type) = checked_manifest(source, reference, name)?;
    let top_json: Value = serde_json::from_slice(&top).expect("checked as JSON");
    // The image manifests to copy, and the top manifest as the sink stores it.
    let mut manifests: Vec<(Vec<u8>, String, String)> = Vec::new();
    let top = if media_type == OCI_INDEX || media_type == DOCKER_LIST {
        let entries = top_json["manifests"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if entries.len() > MAX_PLATFORMS {
            return Err(refused(
                name,
                format!(
                    "an index of {} manifests (at most {MAX_PLATFORMS})",
                    entries.len()
                ),
            ));
        }
        let chosen: Vec<Value> = entries
            .into_iter()
            .filter(|e| platforms.is_empty() || platforms.iter().any(|p| p.matches(&e["platform"])))
            .collect();
        if chosen.is_empty() {
            return Err(Error::invalid_args(
                format!(
                    "{} has no manifest for --platform {}.",
                    crate::terminal::escape(name),
                    platforms
                        .iter()
                        .map(|p| format!("{}/{}", p.os, p.architecture))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "Leave --platform out to copy every platform, or name one the image has.",
            ));
        }
        for entry in &chosen {
            let (child_digest, size) = descriptor(entry, name)?;
            let (bytes, child_type) = checked_manifest(source, &child_digest, name)?;
            if bytes.len() as u64 != size {
                return Err(refused(
                    name,
                    format!(
                        "manifest {child_digest} is {} bytes, not the {size} its index says",
                        bytes.len()
                    ),
                ));
            }
            if child_type != OCI_MANIFEST && child_type != DOCKER_MANIFEST {
                return Err(refused(
                    name,
                    format!(
                        "an index entry of type {:?}",
                        crate::terminal::escape(&child_type)
                    ),
                ));
            }
            manifests.push((bytes, child_type, child_digest));
        }
        if platforms.is_empty() {
            top
        } else {
            let mut filtered = top_json.clone();
            filtered["manifests"] = Value::Array(chosen);
            serde_json::to_vec(&filtered).expect("JSON serializes")
        }
    } else if media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST {
        top
    } else {
        return Err(refused(
            name,
            format!(
                "a manifest of type {:?} (Docker v2 and OCI images are copied)",
                crate::terminal::escape(&media_type)
            ),
        ));
    };
    let top_digest = digest(&top);
    if sink.digest_of(tag)?.as_deref() == Some(top_digest.as_str()) {
        return Ok(Copied {
            digest: top_digest,
            present: true,
            blobs_sent: 0,
            blobs_mounted: 0,
            blobs_present: 0,
            bytes_sent: 0,
        });
    }
    let single = manifests.is_empty();
    if single {
        manifests.push((top.clone(), media_type.clone(), top_digest.clone()));
    }
    // Every blob of every manifest, named (and counted) before any is copied.
    let mut blobs: Vec<(String, u64)> = Vec::new();
    for (bytes, _, _) in &manifests {
        let m: Value = serde_json::from_slice(bytes)
            .map_err(|_| refused(name, "a manifest that is not JSON"))?;
        let layers = m["layers"].as_array().cloned().unwrap_or_default();
        if layers.len() > MAX_LAYERS {
            return Err(refused(
                name,
                format!(
                    "a manifest naming {} layers (at most {MAX_LAYERS})",
                    layers.len()
                ),
            ));
        }
        blobs.push(descriptor(&m["config"], name)?);
        for layer in &layers {
            blobs.push(descriptor(layer, name)?);
        }
    }
    let mut copied = Copied {
        digest: top_digest.clone(),
        present: false,
        blobs_sent: 0,
        blobs_mounted: 0,
        blobs_present: 0,
        bytes_sent: 0,
    };
    let mut seen = std::collections::HashSet::new();
    for (i, (blob, size)) in blobs.iter().enumerate() {
        if !seen.insert(blob.clone()) {
            continue;
        }
        crate::interrupt::check()?;
        progress(&format!(
            "{}: blob {}/{} ({} MiB)",
            crate::terminal::escape(name),
            i + 1,
            blobs.len(),
            size >> 20
        ));
        match sink.start_blob(blob)? {
            Start::Present => copied.blobs_present += 1,
            Start::Mounted => copied.blobs_mounted += 1,
            Start::Upload(upload) => {
                let (body, length) = source.blob(blob)?;
                if let Some(length) = length.filter(|l| l != size) {
                    return Err(refused(
                        name,
                        format!("blob {blob} is sent as {length} bytes, not its {size}"),
                    ));
                }
                let mut reader = Checked {
                    inner: body,
                    size: *size,
                    expected: blob.clone(),
                    read: 0,
                    hasher: Sha256::new(),
                    failure: None,
                };
                let sent = sink.send_blob(upload, blob, *size, &mut reader);
                if let Some(why) = reader.failure.take() {
                    if why == "interrupted" {
                        return Err(crate::interrupt::interrupted());
                    }
                    return Err(refused(name, why));
                }
                sent?;
                copied.blobs_sent += 1;
                copied.bytes_sent += size;
            }
        }
    }
    if !single {
        for (bytes, child_type, child_digest) in &manifests {
            sink.put_manifest(child_digest, bytes, child_type)?;
        }
    }
    sink.put_manifest(tag, &top, &media_type)?;
    Ok(copied)
}

/// A manifest from `source`, its digest checked: against the reference when that is a
/// digest, and against what the source says it is.
fn checked_manifest(
    source: &mut dyn Source,
    reference: &str,
    name: &str,
) -> Result<(Vec<u8>, String)> {
    let Some((bytes, served_as, said)) = source.manifest(reference)? else {
        return Err(Error::new(
            Code::RegistryError,
            format!("{} has no manifest {}.", crate::terminal::escape(name), crate::terminal::escape(reference)),
            "Check the image reference (`helm nvflare images` lists them), or push the image there first.",
        ));
    };
    let got = digest(&bytes);
    if reference.starts_with("sha256:") && got != reference {
        return Err(refused(
            name,
            format!("the manifest for {reference} has digest {got}"),
        ));
    }
    if let Some(said) = said.filter(|a| *a != got) {
        return Err(refused(
            name,
            format!(
                "the source says {} for a manifest whose digest is {got}",
                crate::terminal::escape(&said)
            ),
        ));
    }
    let parsed: Value =
        serde_json::from_slice(&bytes).map_err(|_| refused(name, "a manifest that is not JSON"))?;
    let media_type = parsed["mediaType"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| served_as.split(';').next().unwrap_or("").trim().to_string());
    Ok((bytes, media_type))
}

/// The registries of one mirror run: a client per host (each keeps its login), and which
/// blobs the mirror holds in which repository, for cross-repository mounts.
pub struct Session {
    source: RegistryAccess,
    mirror: RegistryAccess,
    clients: HashMap<(bool, String), Client>,
    held: HashMap<String, String>,
}

impl Session {
    pub fn new(source: RegistryAccess, mirror: RegistryAccess) -> Session {
        Session {
            source,
            mirror,
            clients: HashMap::new(),
            held: HashMap::new(),
        }
    }

    fn ensure(&mut self, mirror: bool, host: &str) -> Result<()> {
        let key = (mirror, host.to_string());
        if !self.clients.contains_key(&key) {
            let access = if mirror { &self.mirror } else { &self.source };
            let client = access.client(host)?;
            self.clients.insert(key, client);
        }
        Ok(())
    }

    /// Copies `image` from its registry to `dest`, under its tag (its digest when it has
    /// none).
    pub fn copy(
        &mut self,
        image: &ImageRef,
        dest: &Destination,
        platforms: &[Platform],
        progress: &dyn Fn(&str),
    ) -> Result<Copied> {
        let (host, repo) = image.registry_and_path();
        self.ensure(false, &host)?;
        self.ensure(true, &dest.host)?;
        let mut source = RegistrySource {
            client: &self.clients[&(false, host.clone())],
            repo,
        };
        let mut sink = RegistrySink {
            client: &self.clients[&(true, dest.host.clone())],
            repo: &dest.repository,
            held: &mut self.held,
        };
        copy(&mut source, &mut sink, image, platforms, progress)
    }

    /// Copies `image` from its registry into `sink` (a bundle's layout).
    pub(crate) fn copy_to(
        &mut self,
        image: &ImageRef,
        sink: &mut dyn Sink,
        platforms: &[Platform],
        progress: &dyn Fn(&str),
    ) -> Result<Copied> {
        let (host, repo) = image.registry_and_path();
        self.ensure(false, &host)?;
        let mut source = RegistrySource {
            client: &self.clients[&(false, host.clone())],
            repo,
        };
        copy(&mut source, sink, image, platforms, progress)
    }

    /// Copies `image` from `source` (a bundle's layout, say) to `dest`.
    pub(crate) fn copy_from(
        &mut self,
        source: &mut dyn Source,
        image: &ImageRef,
        dest: &Destination,
        platforms: &[Platform],
        progress: &dyn Fn(&str),
    ) -> Result<Copied> {
        self.ensure(true, &dest.host)?;
        let mut sink = RegistrySink {
            client: &self.clients[&(true, dest.host.clone())],
            repo: &dest.repository,
            held: &mut self.held,
        };
        copy(source, &mut sink, image, platforms, progress)
    }
}

/// What a pull of `image` asks for: its digest, else its tag, else `latest`.
pub(crate) fn reference_of(image: &ImageRef) -> String {
    if !image.digest.is_empty() {
        image.digest.clone()
    } else if image.tag.is_empty() {
        "latest".to_string()
    } else {
        image.tag.clone()
    }
}

/// An image's repository on a registry.
pub struct RegistrySource<'a> {
    pub client: &'a Client,
    pub repo: String,
}

impl RegistrySource<'_> {
    /// GET, following each redirect ourselves (each checked; our login stays home).
    fn get(&self, path: &str, accept: Option<&str>) -> Result<ureq::http::Response<ureq::Body>> {
        let scope = format!("repository:{}:pull", self.repo);
        let mut url = self.client.url(path);
        for _ in 0..=MAX_REDIRECTS {
            let response = self.client.send_unfollowed("GET", &url, accept, &scope)?;
            if !response.status().is_redirection() {
                return Ok(response);
            }
            let location = header(&response, "location")
                .ok_or_else(|| self.client.protocol_error("a redirect without Location"))?;
            url = self.client.resolve(&location)?;
        }
        Err(self
            .client
            .protocol_error(&format!("more than {MAX_REDIRECTS} redirects")))
    }
}

impl Source for RegistrySource<'_> {
    fn manifest(&mut self, reference: &str) -> Result<Option<(Vec<u8>, String, Option<String>)>> {
        let mut response = self.get(
            &format!("/v2/{}/manifests/{reference}", self.repo),
            Some(ACCEPT),
        )?;
        if response.status() == 404 {
            return Ok(None);
        }
        if response.status() != 200 {
            return Err(status_error(self.client, "read a manifest", response));
        }
        let said = header(&response, "docker-content-digest");
        let served_as = header(&response, "content-type").unwrap_or_default();
        let bytes = self.client.body_bytes(&mut response, MAX_MANIFEST_BYTES)?;
        Ok(Some((bytes, served_as, said)))
    }

    fn blob(&mut self, digest: &str) -> Result<(Box<dyn Read + '_>, Option<u64>)> {
        let response = self.get(&format!("/v2/{}/blobs/{digest}", self.repo), None)?;
        if response.status() != 200 {
            return Err(status_error(self.client, "read a blob", response));
        }
        let length = header(&response, "content-length").and_then(|l| l.parse().ok());
        Ok((Box::new(response.into_body().into_reader()), length))
    }
}

/// A repository on the mirror; `held` says where else on it a blob is, for mounts.
pub struct RegistrySink<'a> {
    pub client: &'a Client,
    pub repo: &'a str,
    pub held: &'a mut HashMap<String, String>,
}

impl Sink for RegistrySink<'_> {
    fn digest_of(&mut self, tag: &str) -> Result<Option<String>> {
        let scope = format!("repository:{}:pull,push", self.repo);
        let url = self
            .client
            .url(&format!("/v2/{}/manifests/{tag}", self.repo));
        let response = self.client.send("HEAD", &url, Some(ACCEPT), None, &scope)?;
        Ok((response.status() == 200)
            .then(|| header(&response, "docker-content-digest"))
            .flatten())
    }

    fn start_blob(&mut self, blob: &str) -> Result<Start> {
        let scope = format!("repository:{}:pull,push", self.repo);
        let head = self.client.send(
            "HEAD",
            &self.client.url(&format!("/v2/{}/blobs/{blob}", self.repo)),
            None,
            None,
            &scope,
        )?;
        if head.status() == 200 {
            self.held.insert(blob.to_string(), self.repo.to_string());
            return Ok(Start::Present);
        }
        let from = self
            .held
            .get(blob)
            .filter(|r| r.as_str() != self.repo)
            .cloned();
        let (path, scope) = match &from {
            Some(other) => (
                format!("/v2/{}/blobs/uploads/?mount={blob}&from={other}", self.repo),
                format!("{scope} repository:{other}:pull"),
            ),
            None => (format!("/v2/{}/blobs/uploads/", self.repo), scope),
        };
        let start = self
            .client
            .send("POST", &self.client.url(&path), None, None, &scope)?;
        if start.status() == 201 && from.is_some() {
            self.held.insert(blob.to_string(), self.repo.to_string());
            return Ok(Start::Mounted);
        }
        if start.status() != 202 {
            return Err(status_error(self.client, "start a blob upload", start));
        }
        let location = header(&start, "location")
            .ok_or_else(|| self.client.protocol_error("a blob upload without Location"))?;
        let separator = if location.contains('?') { '&' } else { '?' };
        Ok(Start::Upload(
            self.client
                .resolve(&format!("{location}{separator}digest={blob}"))?,
        ))
    }

    fn send_blob(
        &mut self,
        upload: String,
        blob: &str,
        size: u64,
        body: &mut dyn Read,
    ) -> Result<()> {
        let put = self
            .client
            .put_reader(&upload, "application/octet-stream", body, size)?;
        if put.status() != 201 && put.status() != 204 {
            return Err(status_error(self.client, "upload a blob", put));
        }
        self.held.insert(blob.to_string(), self.repo.to_string());
        Ok(())
    }

    fn put_manifest(&mut self, reference: &str, bytes: &[u8], media_type: &str) -> Result<()> {
        let scope = format!("repository:{}:pull,push", self.repo);
        put_manifest_as(self.client, self.repo, reference, bytes, media_type, &scope)
    }
}

/// How one image's copy ended, as `mirror` and `bundle push` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Copied,
    Present,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct MirroredImage {
    pub source: String,
    pub destination: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    pub status: Status,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub used_by: Vec<String>,
    pub blobs_sent: usize,
    pub blobs_mounted: usize,
    pub blobs_present: usize,
    pub bytes_sent: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Brief>,
}

impl MirroredImage {
    pub fn new(source: &str, destination: &str, used_by: Vec<String>) -> MirroredImage {
        MirroredImage {
            source: source.to_string(),
            destination: destination.to_string(),
            digest: None,
            status: Status::Failed,
            used_by,
            blobs_sent: 0,
            blobs_mounted: 0,
            blobs_present: 0,
            bytes_sent: 0,
            error: None,
        }
    }

    /// What a copy did.
    pub fn record(&mut self, c: Copied) {
        self.digest = Some(c.digest);
        self.status = if c.present {
            Status::Present
        } else {
            Status::Copied
        };
        (
            self.blobs_sent,
            self.blobs_mounted,
            self.blobs_present,
            self.bytes_sent,
        ) = (c.blobs_sent, c.blobs_mounted, c.blobs_present, c.bytes_sent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(data: &[u8], size: u64, expected: &str) -> (std::io::Result<u64>, Option<String>) {
        let mut r = Checked {
            inner: data,
            size,
            expected: expected.to_string(),
            read: 0,
            hasher: Sha256::new(),
            failure: None,
        };
        let n = std::io::copy(&mut r, &mut std::io::sink());
        (n, r.failure)
    }

    #[test]
    fn a_blob_streams_only_with_its_digest_and_size() {
        let data = b"layer bytes";
        let d = digest(data);
        assert_eq!(checked(data, 11, &d).0.unwrap(), 11);
        assert!(checked(data, 11, &digest(b"other"))
            .1
            .unwrap()
            .contains("has digest"));
        assert!(checked(data, 5, &d).1.unwrap().contains("longer than"));
        assert!(checked(data, 20, &d).1.unwrap().contains("ended after"));
    }

    #[test]
    fn platforms() {
        let p = Platform::parse("linux/arm64/v8").unwrap();
        assert!(p.matches(
            &serde_json::json!({"os": "linux", "architecture": "arm64", "variant": "v8"})
        ));
        assert!(!p.matches(&serde_json::json!({"os": "linux", "architecture": "amd64"})));
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux/amd64;rm").is_err());
    }
}
