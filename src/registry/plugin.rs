//! The plugin itself on a registry, the way Helm 4 installs plugins from one
//! (`helm plugin install oci://<registry>/<path>/helm-nvflare:<version>`; Helm's
//! `internal/plugin/installer/oci_installer.go` and `pkg/registry/plugin.go`):
//!
//! - an OCI image manifest with `artifactType: application/vnd.helm.plugin.v1+json` and the
//!   empty config (`application/vnd.oci.empty.v1+json`, `{}`);
//! - the plugin archive as a layer titled `<repository name>-<version>.tgz`: Helm takes the
//!   repository's last path component as the plugin's folder name and looks for a layer
//!   titled `<that name>-*.tgz`;
//! - the `.prov`, when there is one, as a layer titled `<...>.tgz.prov`. Helm 4 copies only
//!   layers of type `application/vnd.oci.image.layer.v1.tar` or `...tar+gzip` out of the
//!   registry, so the `.prov` travels as `...tar` (as `oras push` labels a file).
//!
//! Helm verifies a registry plugin under the name `<plugin.yaml name>-<version>.tgz`, so the
//! `.prov` must name that file (`helm nvflare sign` writes both names for a plugin).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Value};

use super::{digest, reference, upload_blob, RegistryAccess, Remote, MANIFEST_MEDIA_TYPE};
use crate::archive::chart::{self as chart_archive, Problem};
use crate::error::{Code, Error, Result};
use crate::names::sha256_hex;

pub const PLUGIN_ARTIFACT_TYPE: &str = "application/vnd.helm.plugin.v1+json";
pub const EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
pub const PLUGIN_LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const PLUGIN_PROVENANCE_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";
/// A release archive is a binary and a few text files; this leaves room for several binaries.
const MAX_PLUGIN_BYTES: u64 = 256 * 1024 * 1024;

/// A plugin release archive, read and checked.
#[derive(Debug, Clone)]
pub struct PluginArchive {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    /// plugin.yaml's `name` (`nvflare`).
    pub name: String,
    pub version: String,
}

fn plugin_error(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::new(
        Code::InvalidArchive,
        format!("{} is not a plugin archive: {why}", path.display()),
        "Give a release archive written by scripts/release.sh (helm-nvflare-<version>-<os>-<arch>.tgz).",
    )
}

impl PluginArchive {
    /// Reads a plugin archive: one gzip stream of files and folders with clean paths, and a
    /// plugin.yaml (at the root or one folder down) naming the plugin and a strict semver
    /// version.
    pub fn read(path: &Path) -> Result<PluginArchive> {
        let meta = std::fs::metadata(path).map_err(|e| plugin_error(path, e))?;
        if !meta.is_file() || meta.len() > MAX_PLUGIN_BYTES {
            return Err(plugin_error(path, "not a regular file of a sensible size"));
        }
        let bytes = std::fs::read(path).map_err(|e| plugin_error(path, e))?;
        let (name, version) = plugin_metadata(&bytes).map_err(|p| match p {
            Problem::Invalid(why) => plugin_error(path, why),
            Problem::KeyMaterial(why) => {
                crate::archive::key_material_error(&path.display().to_string(), &why)
            }
        })?;
        Ok(PluginArchive {
            path: path.to_path_buf(),
            bytes,
            name,
            version,
        })
    }

    /// The repository name: the archive's file name up to `-<version>` (Helm's rule for
    /// naming a plugin after its archive), e.g. `helm-nvflare`.
    pub(crate) fn repository_name(&self) -> String {
        let file = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = file.strip_suffix(".tgz").unwrap_or(&file);
        let cut = stem
            .match_indices('-')
            .find(|(i, _)| {
                stem[i + 1..].starts_with(|c: char| c.is_ascii_digit())
                    && stem[i + 1..].contains('.')
            })
            .map(|(i, _)| i);
        let name = cut.map_or(stem, |i| &stem[..i]);
        if crate::names::is_path_component(name) {
            name.to_string()
        } else {
            self.name.clone()
        }
    }

    /// The name Helm 4 verifies a registry plugin under.
    pub(crate) fn registry_file_name(&self) -> String {
        format!("{}-{}.tgz", self.name, self.version)
    }
}

/// plugin.yaml's name and version, from the archive's root or its one top folder.
pub(crate) fn plugin_metadata(bytes: &[u8]) -> std::result::Result<(String, String), Problem> {
    let tar = chart_archive::gunzip(bytes, MAX_PLUGIN_BYTES)?;
    let (files, dirs) = chart_archive::entries(&tar, MAX_PLUGIN_BYTES)?;
    // A plugin archive travels like a chart: no key may ride along.
    chart_archive::refuse_key_material(&files, &dirs)?;
    let plugin_yaml = files
        .iter()
        .filter(|(rel, _)| {
            rel == "plugin.yaml" || rel.split('/').count() == 2 && rel.ends_with("/plugin.yaml")
        })
        .min_by_key(|(rel, _)| rel.len())
        .ok_or_else(|| {
            chart_archive::invalid("there is no plugin.yaml at its root or in its top folder")
        })?;
    let text = std::str::from_utf8(&plugin_yaml.1)
        .map_err(|_| chart_archive::invalid("plugin.yaml is not UTF-8"))?;
    let yaml: Value = serde_saphyr::from_str(text)
        .map_err(|_| chart_archive::invalid("plugin.yaml is not YAML"))?;
    let field = |key: &str| yaml.get(key).and_then(Value::as_str).map(str::to_string);
    let name = field("name")
        .filter(|n| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        })
        .ok_or_else(|| {
            chart_archive::invalid("plugin.yaml has no name of letters, digits, '-' or '_'")
        })?;
    let version = field("version")
        .filter(|v| crate::names::is_strict_semver(v))
        .ok_or_else(|| chart_archive::invalid("plugin.yaml has no strict semver version"))?;
    Ok((name, version))
}

/// One plugin archive pushed.
#[derive(Debug, Clone, Serialize)]
pub struct PushedPlugin {
    pub archive: PathBuf,
    pub plugin: String,
    pub version: String,
    pub reference: String,
    pub digest: String,
    pub provenance: bool,
    /// `helm plugin install oci://...` (Helm 4).
    pub helm_command: String,
}

/// What `push --plugin` published.
#[derive(Debug, Clone, Serialize)]
pub struct PluginPushReport {
    pub plugins: Vec<PushedPlugin>,
}

impl crate::output::Report for PluginPushReport {
    /// A `key: value` block per archive.
    fn text(&self) -> String {
        crate::output::key_value_blocks(&self.plugins)
    }
}

/// The `.prov` beside a plugin archive, which must name the archive under the file name
/// Helm 4 verifies registry plugins under, with this archive's sha256.
fn plugin_provenance(archive: &PluginArchive) -> Result<Option<Vec<u8>>> {
    let bad = |why: String| {
        Error::new(
            Code::InvalidArchive,
            format!("{}: {why}", crate::provenance::prov_path(&archive.path).display()),
            "Sign the archive with `helm nvflare sign <archive> --key ... --keyring ...` (it names both file names Helm verifies under).",
        )
    };
    let Some(text) = crate::provenance::read_beside(&archive.path).map_err(bad)? else {
        return Ok(None);
    };
    let wanted = format!(
        "{}: sha256:{}",
        archive.registry_file_name(),
        sha256_hex(&archive.bytes)
    );
    if !text.contains(&wanted) {
        return Err(bad(format!(
            "it does not name {} with this archive's sha256, which Helm 4 checks for a plugin from a registry",
            archive.registry_file_name()
        )));
    }
    Ok(Some(text.into_bytes()))
}

/// The manifest Helm 4 installs a plugin from; a pure function of the archive and `.prov`.
pub(crate) fn plugin_manifest(
    archive: &PluginArchive,
    repo_name: &str,
    prov: Option<&[u8]>,
) -> Vec<u8> {
    let title = format!("{repo_name}-{}.tgz", archive.version);
    let mut layers = vec![json!({
        "mediaType": PLUGIN_LAYER_MEDIA_TYPE,
        "digest": digest(&archive.bytes),
        "size": archive.bytes.len(),
        "annotations": {"org.opencontainers.image.title": title},
    })];
    if let Some(prov) = prov {
        layers.push(json!({
            "mediaType": PLUGIN_PROVENANCE_MEDIA_TYPE,
            "digest": digest(prov),
            "size": prov.len(),
            "annotations": {"org.opencontainers.image.title": format!("{title}.prov")},
        }));
    }
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "org.opencontainers.image.created",
        super::CREATED.to_string(),
    );
    annotations.insert("org.opencontainers.image.title", archive.name.clone());
    annotations.insert("org.opencontainers.image.version", archive.version.clone());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": PLUGIN_ARTIFACT_TYPE,
        "config": {"mediaType": EMPTY_CONFIG_MEDIA_TYPE, "digest": digest(b"{}"), "size": 2},
        "layers": layers,
        "annotations": annotations,
    });
    serde_json::to_vec(&manifest).expect("JSON values serialize")
}

/// Pushes a plugin archive (and its `.prov`) to `<remote>/<repository name>:<version>`.
pub fn push_plugin(path: &Path, remote: &str, access: &RegistryAccess) -> Result<PushedPlugin> {
    let remote = Remote::parse(remote)?;
    let archive = PluginArchive::read(path)?;
    let prov = plugin_provenance(&archive)?;
    let repo_name = archive.repository_name();
    let repo = remote.repository(None, &repo_name);
    let client = access.client(&remote.host)?;
    let scope = format!("repository:{repo}:pull,push");
    upload_blob(&client, &repo, b"{}", &scope)?;
    upload_blob(&client, &repo, &archive.bytes, &scope)?;
    if let Some(prov) = &prov {
        upload_blob(&client, &repo, prov, &scope)?;
    }
    let manifest = plugin_manifest(&archive, &repo_name, prov.as_deref());
    let tag = reference::tag_for_version(&archive.version);
    super::put_manifest(&client, &repo, &tag, &manifest, &scope)?;
    let mut helm_command = format!("helm plugin install oci://{}/{repo}:{tag}", remote.host);
    if access.tls.plain_http {
        helm_command.push_str(" --plain-http");
    }
    // Helm 4 verifies by default; without a .prov it can only install with this.
    if prov.is_none() {
        helm_command.push_str(" --verify=false");
    }
    Ok(PushedPlugin {
        archive: archive.path.clone(),
        plugin: archive.name.clone(),
        version: archive.version.clone(),
        reference: format!("{}/{repo}:{tag}", remote.host),
        digest: digest(&manifest),
        provenance: prov.is_some(),
        helm_command,
    })
}

#[cfg(test)]
mod tests {
    use super::PluginArchive;

    #[test]
    fn repository_names() {
        let archive = |file: &str| PluginArchive {
            path: file.into(),
            bytes: Vec::new(),
            name: "nvflare".into(),
            version: "0.1.0".into(),
        };
        assert_eq!(
            archive("dist/helm-nvflare-0.1.0-linux-amd64.tgz").repository_name(),
            "helm-nvflare"
        );
        assert_eq!(archive("nvflare-0.1.0.tgz").repository_name(), "nvflare");
        assert_eq!(archive("Weird Name.tgz").repository_name(), "nvflare");
    }
}
