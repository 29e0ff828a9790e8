//! Refusing key material in a chart: a chart archive travels to registries and other
//! sites, so no private key, certificate or startup kit folder may ever be in one.

use std::path::Path;

/// File names that hold keys or certificates, whatever their content.
const KEY_LIKE_SUFFIXES: [&str; 10] = [
    ".key",
    ".pem",
    ".crt",
    ".cer",
    ".der",
    ".p12",
    ".pfx",
    ".jks",
    ".keystore",
    ".csr",
];
/// Kit folders that must never be inside a chart.
const KIT_FOLDERS: [&str; 2] = ["startup", "local"];
/// PEM armour of keys and certificates, found in files of any name.
const PEM_MARKERS: [&[u8]; 3] = [
    b"PRIVATE KEY-----",
    b"-----BEGIN CERTIFICATE",
    b"-----BEGIN ENCRYPTED",
];

/// Why `rel` (a path inside the chart) looks like key material, if it does.
pub fn reason(rel: &str, is_dir: bool, contents: Option<&[u8]>) -> Option<String> {
    let base = rel.rsplit('/').next().unwrap_or(rel);
    let lower = base.to_ascii_lowercase();
    if is_dir {
        return KIT_FOLDERS
            .contains(&lower.as_str())
            .then(|| format!("{rel}/ is a startup kit folder"));
    }
    if let Some(suffix) = KEY_LIKE_SUFFIXES.iter().find(|s| lower.ends_with(*s)) {
        return Some(format!(
            "{rel} has a key or certificate file name ({suffix})"
        ));
    }
    if lower.starts_with("id_rsa")
        || lower.starts_with("id_ed25519")
        || lower.starts_with("id_ecdsa")
    {
        return Some(format!("{rel} is named like an SSH private key"));
    }
    let contents = contents?;
    PEM_MARKERS
        .iter()
        .any(|marker| contents.windows(marker.len()).any(|w| w == *marker))
        .then(|| format!("{rel} contains a PEM private key or certificate"))
}

/// Scans every file and folder under `chart_dir`, ignored or not: a key that `.helmignore`
/// happens to skip is still a key lying in a folder meant for publishing.
pub fn scan(chart_dir: &Path) -> std::io::Result<Option<String>> {
    let mut stack = vec![(chart_dir.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let meta = std::fs::metadata(entry.path())?;
            if meta.is_dir() {
                if let Some(why) = reason(&rel, true, None) {
                    return Ok(Some(why));
                }
                stack.push((entry.path(), rel));
            } else if meta.is_file() {
                let contents = std::fs::read(entry.path())?;
                if let Some(why) = reason(&rel, false, Some(&contents)) {
                    return Ok(Some(why));
                }
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::reason;

    #[test]
    fn recognises_keys_by_name_and_by_content() {
        assert!(reason("templates/server.key", false, Some(b"x")).is_some());
        assert!(reason("files/rootCA.PEM", false, Some(b"x")).is_some());
        assert!(reason("startup", true, None).is_some());
        assert!(reason(
            "notes.txt",
            false,
            Some(b"-----BEGIN RSA PRIVATE KEY-----\nabc")
        )
        .is_some());
        assert!(reason(
            "notes.txt",
            false,
            Some(b"-----BEGIN CERTIFICATE-----\nabc")
        )
        .is_some());
        assert!(reason("values.yaml", false, Some(b"image: x")).is_none());
        assert!(reason("templates", true, None).is_none());
    }
}
