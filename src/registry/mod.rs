//! `push`: chart archives to an OCI registry, as Helm pushes them (same media types,
//! config and tag mapping), so `helm pull` / `helm install oci://...` work on them.
//!
//! Each participant's chart goes under its own sub-path (`<remote>/<release>/<chart>`):
//! every client chart is named `nvflare-client`, and one site must never overwrite another.
//! The manifest is a pure function of the archive, so pushing the same archive from any
//! machine gives the same digest.

mod challenge;
mod client;
pub mod copy;
pub mod credentials;
pub mod layout;
pub mod plugin;
pub mod pull;
mod reference;
pub mod resolve;

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use client::Client;
pub use client::TlsSettings;
use credentials::Credentials;
pub use reference::Remote;

use crate::error::{Code, Error, Result};
use crate::names::sha256_hex;

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";
pub const CHART_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
pub const PROVENANCE_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";
/// A fixed creation time keeps the manifest digest independent of when and where it was pushed.
const CREATED: &str = "1970-01-01T00:00:00Z";

/// How to reach a registry: TLS, login, and the time budget of the whole command.
#[derive(Debug, Clone)]
pub struct RegistryAccess {
    pub tls: TlsSettings,
    /// From `--username` + `--password-stdin`; otherwise the stored login is used.
    pub credentials: Option<Credentials>,
    /// Where stored logins are looked up, in order (Helm's, then Docker's).
    pub credential_files: Vec<PathBuf>,
    /// The whole command must finish within this.
    pub timeout: std::time::Duration,
}

impl RegistryAccess {
    fn client(&self, host: &str) -> Result<Client> {
        let credentials = self
            .credentials
            .clone()
            .or_else(|| credentials::stored(host, &self.credential_files));
        Client::new(host, &self.tls, credentials, self.timeout)
    }
}

#[derive(Debug, Clone)]
pub struct PushSettings {
    pub archives: Vec<PathBuf>,
    pub remote: String,
    pub access: RegistryAccess,
    /// Namespace for the printed install command when the chart does not name one.
    pub default_namespace: String,
}

/// A chart archive, read and checked, ready to push.
#[derive(Debug, Clone)]
pub struct ChartArchive {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub chart: Map<String, Value>,
    pub name: String,
    pub version: String,
    /// `<archive>.prov` (Helm's provenance: a clear-signed Chart.yaml and the archive's
    /// sha256), pushed as its own layer as `helm push` does.
    pub provenance: Option<Vec<u8>>,
}

/// The `.prov` beside an archive, if there is one: a clear-signed document that names
/// this archive's sha256 (a `.prov` of another archive would fail every `helm pull
/// --verify`). Its signature is checked by Helm at pull or install time.
fn read_provenance(archive: &Path, bytes: &[u8]) -> Result<Option<Vec<u8>>> {
    let bad = |why: &str| {
        crate::archive::archive_error(
            &crate::provenance::prov_path(archive),
            format!("not a provenance file for this archive: {why}"),
        )
    };
    let Some(text) = crate::provenance::read_beside(archive).map_err(|why| bad(&why))? else {
        return Ok(None);
    };
    if !text.contains(&format!("sha256:{}", sha256_hex(bytes))) {
        return Err(bad("it does not name this archive's sha256"));
    }
    Ok(Some(text.into_bytes()))
}

impl ChartArchive {
    /// Reads and checks an archive before anything is sent: the rules `package` keeps
    /// (no key material, a strict semver version) and archive hygiene (one top folder named
    /// after the chart, only regular files and folders, no absolute or `..` paths, one
    /// complete gzip stream with nothing after it, sizes within Helm's limits).
    pub fn read(path: &Path) -> Result<ChartArchive> {
        let bytes = crate::archive::read(path)?;
        let checked = crate::archive::check_chart(path, &bytes)?;
        let provenance = read_provenance(path, &bytes)?;
        Ok(ChartArchive {
            path: path.to_path_buf(),
            bytes,
            chart: checked.chart,
            name: checked.name,
            version: checked.version,
            provenance,
        })
    }

    fn annotation(&self, key: &str) -> Option<&str> {
        self.chart.get("annotations")?.get(key)?.as_str()
    }

    /// Helm's config blob: Chart.yaml's metadata as JSON, in Helm's field order.
    pub(crate) fn config_json(&self) -> Vec<u8> {
        const ORDER: [&str; 17] = [
            "name",
            "home",
            "sources",
            "version",
            "description",
            "keywords",
            "maintainers",
            "icon",
            "apiVersion",
            "condition",
            "tags",
            "appVersion",
            "deprecated",
            "annotations",
            "kubeVersion",
            "dependencies",
            "type",
        ];
        let mut config = Map::new();
        for key in ORDER {
            match self.chart.get(key) {
                None | Some(Value::Null) | Some(Value::Bool(false)) => {}
                Some(Value::String(s)) if s.is_empty() => {}
                Some(Value::Array(a)) if a.is_empty() => {}
                Some(Value::Object(o)) if o.is_empty() => {}
                // Go marshals maps with sorted keys.
                Some(Value::Object(o)) => {
                    let sorted: std::collections::BTreeMap<_, _> = o.iter().collect();
                    config.insert(key.into(), json!(sorted));
                }
                Some(v) => {
                    config.insert(key.into(), v.clone());
                }
            }
        }
        serde_json::to_vec(&config).expect("JSON values serialize")
    }

    /// The OCI image manifest as Helm writes it; its sha256 is the pushed digest.
    pub fn manifest(&self) -> Vec<u8> {
        let config = self.config_json();
        let mut annotations = std::collections::BTreeMap::new();
        annotations.insert("org.opencontainers.image.created", CREATED.to_string());
        annotations.insert("org.opencontainers.image.title", self.name.clone());
        annotations.insert("org.opencontainers.image.version", self.version.clone());
        if let Some(d) = self
            .chart
            .get("description")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
        {
            annotations.insert("org.opencontainers.image.description", d.to_string());
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": digest(&config), "size": config.len()},
            "layers": self.layers(),
            "annotations": annotations,
        });
        serde_json::to_vec(&manifest).expect("JSON values serialize")
    }

    /// The chart, then its provenance when there is one: Helm's layer order.
    fn layers(&self) -> Vec<Value> {
        let mut layers = vec![
            json!({"mediaType": CHART_MEDIA_TYPE, "digest": digest(&self.bytes), "size": self.bytes.len()}),
        ];
        if let Some(prov) = &self.provenance {
            layers.push(json!({"mediaType": PROVENANCE_MEDIA_TYPE, "digest": digest(prov), "size": prov.len()}));
        }
        layers
    }

    /// The sub-path that keeps participants apart: the chart's release name, when it has one.
    fn participant_path(&self) -> Option<&str> {
        self.annotation("nvflare/release").filter(|r| {
            !r.is_empty()
                && r.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
    }
}

/// `sha256:` and 64 hex digits.
pub(crate) fn digest_is_sha256(text: &str) -> bool {
    text.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// One archive `push` published.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pushed {
    pub archive: PathBuf,
    pub chart: String,
    pub version: String,
    pub reference: String,
    pub digest: String,
    /// `helm upgrade --install <release> oci://... --version <v> --namespace <ns>`.
    pub helm_command: String,
    /// Whether a `.prov` went with it (`helm pull --verify` can check it).
    pub provenance: bool,
}

/// What `push` published, archive by archive.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PushReport {
    pub charts: Vec<Pushed>,
}

impl crate::output::Report for PushReport {
    /// A `key: value` block per archive.
    fn text(&self) -> String {
        crate::output::key_value_blocks(&self.charts)
    }
}

fn status_error(
    client: &Client,
    what: &str,
    mut response: ureq::http::Response<ureq::Body>,
) -> Error {
    let status = response.status();
    let body = Client::body_text(&mut response);
    let body: String = body.chars().take(300).collect();
    client.protocol_error(&format!("HTTP {status} to {what}: {}", body.trim()))
}

fn upload_blob(client: &Client, repo: &str, bytes: &[u8], scope: &str) -> Result<()> {
    let blob_digest = digest(bytes);
    let head = client.send(
        "HEAD",
        &client.url(&format!("/v2/{repo}/blobs/{blob_digest}")),
        None,
        None,
        scope,
    )?;
    if head.status() == 200 {
        return Ok(());
    }
    let start = client.send(
        "POST",
        &client.url(&format!("/v2/{repo}/blobs/uploads/")),
        None,
        None,
        scope,
    )?;
    if start.status() != 202 {
        return Err(status_error(client, "start a blob upload", start));
    }
    let location = start
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| client.protocol_error("a blob upload without Location"))?
        .to_string();
    let separator = if location.contains('?') { '&' } else { '?' };
    let url = client.resolve(&format!("{location}{separator}digest={blob_digest}"))?;
    let put = client.send(
        "PUT",
        &url,
        Some("application/octet-stream"),
        Some(bytes),
        scope,
    )?;
    if put.status() != 201 && put.status() != 204 {
        return Err(status_error(client, "upload a blob", put));
    }
    Ok(())
}

/// Stores a manifest under a tag; a registry that names another digest for it is refused.
fn put_manifest(
    client: &Client,
    repo: &str,
    tag: &str,
    manifest: &[u8],
    scope: &str,
) -> Result<()> {
    put_manifest_as(client, repo, tag, manifest, MANIFEST_MEDIA_TYPE, scope)
}

/// Stores a manifest of `media_type` under a tag or its digest.
fn put_manifest_as(
    client: &Client,
    repo: &str,
    tag: &str,
    manifest: &[u8],
    media_type: &str,
    scope: &str,
) -> Result<()> {
    let manifest_digest = digest(manifest);
    let url = client.url(&format!("/v2/{repo}/manifests/{tag}"));
    let response = client.send("PUT", &url, Some(media_type), Some(manifest), scope)?;
    if response.status() != 201 && response.status() != 200 {
        return Err(status_error(client, "store the manifest", response));
    }
    if let Some(answered) = response
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
    {
        if answered != manifest_digest {
            return Err(client.protocol_error(&format!(
                "digest {answered} for a manifest whose digest is {manifest_digest}"
            )));
        }
    }
    Ok(())
}

/// Archives as given; a folder stands for the .tgz files in it and in its subfolders (a
/// packaged federation: `<dir>/<participant>/<chart>-<version>.tgz`).
pub fn expand_archives(args: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut archives = Vec::new();
    for path in args {
        if path.is_dir() {
            archives.extend(packaged_in(path)?);
        } else {
            archives.push(path.clone());
        }
    }
    Ok(archives)
}

/// The archives `package <federation>` wrote into `dir`, from the list it left there. The
/// list is read as untrusted: each entry must be a plain relative path to a `.tgz` file
/// inside `dir`.
fn packaged_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let list_path = dir.join(crate::prepared::marker::PACKAGES_FILE);
    let bad = |why: String| {
        Error::new(
            Code::InvalidArchive,
            format!("{}: {why}", list_path.display()),
            "Give the archives themselves, or package the federation into this folder again (`helm nvflare package <prepared> -d <dir>`).",
        )
    };
    let meta = std::fs::symlink_metadata(&list_path).map_err(|_| {
        Error::new(
            Code::InvalidArchive,
            format!(
                "{} holds no list of packaged archives ({}).",
                dir.display(),
                crate::prepared::marker::PACKAGES_FILE
            ),
            "Push the archives themselves (`helm nvflare push dist/*.tgz oci://...`), or `helm nvflare package <prepared federation> -d <dir>` first: push <dir> pushes exactly what that wrote.",
        )
    })?;
    if !meta.is_file() || meta.len() > 16 * 1024 * 1024 {
        return Err(bad("not a regular file of a sensible size".into()));
    }
    let text = std::fs::read_to_string(&list_path).map_err(|e| bad(e.to_string()))?;
    let list: crate::prepared::marker::PackageList =
        serde_json::from_str(&text).map_err(|e| bad(format!("does not parse: {e}")))?;
    list.archives
        .iter()
        .map(|rel| {
            let clean = !rel.is_empty()
                && rel.ends_with(".tgz")
                && !rel.starts_with('/')
                && rel
                    .split('/')
                    .all(|part| !part.is_empty() && part != "." && part != "..");
            // Every component is checked: a linked folder could lead out of `dir`.
            let path = dir.join(rel);
            let regular = crate::fs_tree::no_links_below(dir, Path::new(rel))
                .and_then(std::fs::symlink_metadata)
                .is_ok_and(|m| m.is_file());
            match (clean, regular) {
                (true, true) => Ok(path),
                (false, _) => Err(bad(format!(
                    "{:?} is not a relative path to a .tgz in the folder",
                    crate::terminal::escape(rel)
                ))),
                (true, false) => Err(bad(format!(
                    "{} is missing, not a regular file, or reached through a link",
                    crate::terminal::escape(rel)
                ))),
            }
        })
        .collect()
}

/// Reads and checks every archive first: nothing is pushed unless all of them are good.
pub fn push(settings: &PushSettings, out: &crate::output::Output) -> Result<PushReport> {
    let remote = Remote::parse(&settings.remote)?;
    if settings.archives.is_empty() {
        return Err(Error::invalid_args(
            "No chart archive to push.",
            "helm nvflare push <chart.tgz>... oci://<registry>/<path>",
        ));
    }
    let archives = settings
        .archives
        .iter()
        .map(|p| ChartArchive::read(p))
        .collect::<Result<Vec<_>>>()?;
    let client = settings.access.client(&remote.host)?;
    let mut pushed = Vec::new();
    for (i, archive) in archives.iter().enumerate() {
        out.progress(i, archives.len(), "charts pushed");
        let repo = remote.repository(archive.participant_path(), &archive.name);
        let scope = format!("repository:{repo}:pull,push");
        let config = archive.config_json();
        upload_blob(&client, &repo, &config, &scope)?;
        upload_blob(&client, &repo, &archive.bytes, &scope)?;
        if let Some(prov) = &archive.provenance {
            upload_blob(&client, &repo, prov, &scope)?;
        }
        let manifest = archive.manifest();
        let manifest_digest = digest(&manifest);
        let tag = reference::tag_for_version(&archive.version);
        put_manifest(&client, &repo, &tag, &manifest, &scope)?;
        let release = archive
            .annotation("nvflare/release")
            .map(str::to_string)
            .unwrap_or_else(|| archive.name.clone());
        let namespace = archive
            .annotation("nvflare/namespace")
            .unwrap_or(&settings.default_namespace)
            .to_string();
        let oci = format!("oci://{}/{repo}", remote.host);
        pushed.push(Pushed {
            archive: archive.path.clone(),
            reference: format!("{}/{repo}:{tag}", remote.host),
            digest: manifest_digest,
            chart: archive.name.clone(),
            version: archive.version.clone(),
            helm_command: format!(
                "helm upgrade --install {release} {oci} --version {} --namespace {namespace}",
                archive.version
            ),
            provenance: archive.provenance.is_some(),
        });
    }
    out.progress(archives.len(), archives.len(), "charts pushed");
    Ok(PushReport { charts: pushed })
}
