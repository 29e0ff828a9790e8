//! Refusing key material in a chart: a chart archive travels to registries and other
//! sites, so no private key, certificate or startup kit folder may ever be in one. Used by
//! `package` on a chart folder and by `push` on every entry of an archive.
//!
//! Keys are found by file name and by content: PEM armour in any case, DER-encoded keys
//! (PKCS#1, PKCS#8, encrypted PKCS#8, SEC1, DSA), PKCS#12 bundles and X.509 certificates,
//! OpenSSH and PuTTY private keys, JWKs with a private member, and any of these again
//! inside a base64 run (a Secret manifest, a value in values.yaml).

/// File names that hold keys or certificates, whatever their content.
const KEY_LIKE_SUFFIXES: [&str; 15] = [
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
    ".ppk",
    ".jwk",
    // OpenPGP keyrings and armored keys (`gpg --export-secret-keys > secring.gpg`).
    ".gpg",
    ".asc",
    ".kbx",
];
/// Kit folders that must never be inside a chart.
const KIT_FOLDERS: [&str; 2] = ["startup", "local"];
/// Text markers, matched case-insensitively anywhere in a file.
const TEXT_MARKERS: [(&[u8], &str); 6] = [
    (b"private key-----", "a PEM private key"),
    (b"-----begin certificate", "a PEM certificate"),
    (b"-----begin encrypted", "a PEM encrypted key"),
    (b"-----begin pgp private key", "an OpenPGP private key"),
    (b"putty-user-key-file-", "a PuTTY private key"),
    (b"openssh-key-v1\0", "an OpenSSH private key"),
];
/// Members that only a private JWK has.
const JWK_PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];
/// Shorter base64 runs cannot hold a key.
const MIN_BASE64_RUN: usize = 64;

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
    if lower.starts_with("secring") {
        return Some(format!("{rel} is named like an OpenPGP secret keyring"));
    }
    if lower.starts_with("id_rsa")
        || lower.starts_with("id_ed25519")
        || lower.starts_with("id_ecdsa")
    {
        return Some(format!("{rel} is named like an SSH private key"));
    }
    content_reason(contents?, 2).map(|what| format!("{rel} contains {what}"))
}

/// What key material `bytes` holds; `depth` bounds how often base64 is unwrapped.
fn content_reason(bytes: &[u8], depth: u8) -> Option<&'static str> {
    let lower = bytes.to_ascii_lowercase();
    if let Some((_, what)) = TEXT_MARKERS
        .iter()
        .find(|(marker, _)| contains(&lower, marker))
    {
        return Some(what);
    }
    if let Some(what) = der_reason(bytes) {
        return Some(what);
    }
    if holds_openpgp_secret_key(bytes) {
        return Some("an OpenPGP secret key");
    }
    if jwk_has_private_member(bytes) {
        return Some("a private JSON Web Key");
    }
    if depth == 0 {
        return None;
    }
    base64_runs(bytes).find_map(|decoded| content_reason(&decoded, depth - 1))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// One DER element: (tag, contents, what follows it).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The elements of a DER SEQUENCE's contents, or None if they do not parse exactly.
fn children(mut body: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let (tag, content, rest) = tlv(body)?;
        out.push((tag, content));
        body = rest;
    }
    Some(out)
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;
/// 1.2.840.113549.1.7.1 (data) and .2 (signedData), the content types of a PKCS#12 authSafe.
const PKCS7_DATA: [u8; 8] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07];

/// Recognises a whole file that is one DER key, key bundle or certificate.
fn der_reason(bytes: &[u8]) -> Option<&'static str> {
    let (tag, body, rest) = tlv(bytes)?;
    if tag != SEQUENCE || rest.iter().any(|b| !b.is_ascii_whitespace()) {
        return None;
    }
    let items = children(body)?;
    let tags: Vec<u8> = items.iter().map(|(t, _)| *t).collect();
    let small_int = |i: usize| -> Option<u8> {
        match items.get(i) {
            Some((INTEGER, [v])) => Some(*v),
            _ => None,
        }
    };
    let starts_with_oid = |i: usize| -> bool {
        matches!(items.get(i), Some((SEQUENCE, inner)) if tlv(inner).is_some_and(|(t, _, _)| t == OID))
    };
    if tags.len() >= 9 && tags.iter().all(|t| *t == INTEGER) && small_int(0) <= Some(1) {
        return Some("a DER RSA private key (PKCS#1)");
    }
    if tags.len() == 6 && tags.iter().all(|t| *t == INTEGER) && small_int(0) == Some(0) {
        return Some("a DER DSA private key");
    }
    if tags.len() >= 3
        && small_int(0).is_some_and(|v| v <= 1)
        && starts_with_oid(1)
        && tags[2] == OCTET_STRING
    {
        return Some("a DER private key (PKCS#8)");
    }
    if tags == [SEQUENCE, OCTET_STRING] && starts_with_oid(0) {
        return Some("a DER encrypted private key (PKCS#8)");
    }
    if tags.len() >= 2 && small_int(0) == Some(1) && tags[1] == OCTET_STRING {
        return Some("a DER EC private key (SEC1)");
    }
    if tags.len() >= 2 && small_int(0) == Some(3) {
        if let Some((SEQUENCE, auth_safe)) = items.get(1) {
            if let Some((OID, oid, _)) = tlv(auth_safe) {
                if oid.starts_with(&PKCS7_DATA) {
                    return Some("a PKCS#12 key bundle");
                }
            }
        }
    }
    if tags == [SEQUENCE, SEQUENCE, BIT_STRING] {
        return Some("a DER certificate");
    }
    None
}

/// Whether `bytes` start a run of binary OpenPGP packets (old or new format) among which
/// is a secret key or secret subkey packet (tags 5 and 7), protected or not: what
/// `gpg --export-secret-keys` writes. Every packet up to it must have a valid header and
/// fit in the file, so other binary data is not taken for a key.
fn holds_openpgp_secret_key(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    for _ in 0..256 {
        let Some((&first, after)) = rest.split_first() else {
            return false;
        };
        if first & 0x80 == 0 {
            return false;
        }
        let (tag, len, after) = if first & 0x40 != 0 {
            let tag = first & 0x3f;
            match after {
                [l, tail @ ..] if *l < 192 => (tag, *l as usize, tail),
                [l1, l2, tail @ ..] if *l1 < 224 => {
                    (tag, ((*l1 as usize - 192) << 8) + *l2 as usize + 192, tail)
                }
                [255, a, b, c, d, tail @ ..] => {
                    (tag, u32::from_be_bytes([*a, *b, *c, *d]) as usize, tail)
                }
                _ => return false,
            }
        } else {
            let tag = (first >> 2) & 0x0f;
            match (first & 3, after) {
                (0, [l, tail @ ..]) => (tag, *l as usize, tail),
                (1, [a, b, tail @ ..]) => (tag, u16::from_be_bytes([*a, *b]) as usize, tail),
                (2, [a, b, c, d, tail @ ..]) => {
                    (tag, u32::from_be_bytes([*a, *b, *c, *d]) as usize, tail)
                }
                _ => return false,
            }
        };
        if tag == 0 || len > after.len() {
            return false;
        }
        let body = &after[..len];
        // A key packet: version 3 to 6, a creation time, then a known algorithm.
        if matches!(tag, 5 | 7) && len >= 6 && (3..=6).contains(&body[0]) {
            let algorithm = if body[0] == 3 {
                body.get(7)
            } else {
                body.get(5)
            };
            if algorithm.is_some_and(|a| matches!(a, 1..=3 | 16..=22 | 25..=30)) {
                return true;
            }
        }
        rest = &after[len..];
    }
    false
}

/// A JSON document with an object (at any depth, e.g. a JWK set) that has `kty` and a
/// member only private keys carry.
fn jwk_has_private_member(bytes: &[u8]) -> bool {
    let trimmed = bytes.trim_ascii_start();
    if !(trimmed.starts_with(b"{") || trimmed.starts_with(b"[")) || !contains(bytes, b"kty") {
        return false;
    }
    fn private(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::Object(map) => {
                (map.get("kty").is_some_and(|k| k.is_string())
                    && JWK_PRIVATE_MEMBERS.iter().any(|m| map.contains_key(*m)))
                    || map.values().any(private)
            }
            serde_json::Value::Array(items) => items.iter().any(private),
            _ => false,
        }
    }
    serde_json::from_slice::<serde_json::Value>(bytes).is_ok_and(|v| private(&v))
}

/// Every run of base64 (standard or URL-safe, line breaks allowed) long enough to hold a
/// key, decoded.
fn base64_runs(bytes: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    use base64::Engine;
    let is_b64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_' | b'=');
    let mut runs = Vec::new();
    let mut start = None;
    for (i, &b) in bytes.iter().chain(std::iter::once(&b' ')).enumerate() {
        let inside = is_b64(b) || (start.is_some() && matches!(b, b'\n' | b'\r'));
        match (inside, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push(&bytes[s..i]);
                start = None;
            }
            _ => {}
        }
    }
    runs.into_iter().filter_map(|run| {
        let clean: Vec<u8> = run
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        if clean.len() < MIN_BASE64_RUN {
            return None;
        }
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        engines.iter().find_map(|e| e.decode(&clean).ok())
    })
}

#[cfg(test)]
mod tests {
    use super::reason;
    use base64::Engine;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

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

    #[test]
    fn recognises_pem_in_any_case_and_inside_base64() {
        let key = rcgen::KeyPair::generate().unwrap();
        let pem = key.serialize_pem();
        let lower = pem.to_ascii_lowercase();
        assert!(reason("a.txt", false, Some(lower.as_bytes())).is_some());
        let wrapped = format!("data:\n  blob: {}\n", b64(pem.as_bytes()));
        assert!(reason("templates/s.yaml", false, Some(wrapped.as_bytes()))
            .unwrap()
            .contains("PEM private key"));
    }

    #[test]
    fn recognises_der_keys_and_certificates() {
        let key = rcgen::KeyPair::generate().unwrap();
        let der = key.serialize_der();
        assert!(reason("files/blob", false, Some(&der))
            .unwrap()
            .contains("PKCS#8"));
        let cert = rcgen::CertificateParams::new(vec!["x".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        assert!(reason("files/blob", false, Some(cert.der()))
            .unwrap()
            .contains("certificate"));
        let in_yaml = format!("k: {}\n", b64(&der));
        assert!(reason("values.yaml", false, Some(in_yaml.as_bytes())).is_some());
    }

    #[test]
    fn recognises_jwk_putty_and_openssh() {
        let jwk = br#"{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"secret"}]}"#;
        assert!(reason("files/keys.json", false, Some(jwk)).is_some());
        let public = br#"{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b"}]}"#;
        assert!(reason("files/keys.json", false, Some(public)).is_none());
        assert!(reason(
            "files/k",
            false,
            Some(b"PuTTY-User-Key-File-3: ssh-ed25519\n")
        )
        .is_some());
        let openssh = b64(b"openssh-key-v1\0\0\0\0\x04none\0\0\0\x04none\0\0\0\0\0\0\0\x01 padding to make it long enough");
        assert!(reason("files/k", false, Some(openssh.as_bytes())).is_some());
    }

    #[test]
    fn recognises_binary_openpgp_secret_keys() {
        // A new-format secret key packet (tag 5): version 4, time, EdDSA (22), then junk.
        let mut packet = vec![0xc5, 10, 4, 0, 0, 0, 0, 22, 1, 2, 3, 4];
        assert!(reason("files/blob", false, Some(&packet)).is_some());
        // An old-format public key (tag 6) then a secret subkey (tag 7).
        let mut keyring = vec![0x98, 6, 4, 0, 0, 0, 0, 1];
        keyring.extend([0x9c, 6, 4, 0, 0, 0, 0, 1]);
        assert!(reason("files/blob", false, Some(&keyring)).is_some());
        let wrapped = format!("k: {}\n", b64(&keyring.repeat(8)));
        assert!(reason("values.yaml", false, Some(wrapped.as_bytes())).is_some());
        // A public key alone, or a length past the end, is not a secret key.
        assert!(reason("files/blob", false, Some(&keyring[..8])).is_none());
        packet[1] = 200;
        assert!(reason("files/blob", false, Some(&packet)).is_none());
        for name in ["keys/release.gpg", "keys/pub.asc", "secring.old"] {
            assert!(reason(name, false, Some(b"x")).is_some(), "{name}");
        }
    }

    #[test]
    fn ordinary_chart_text_is_not_key_material() {
        let text = include_str!("../../chart-templates/server/templates/server-deployment.yaml");
        assert!(reason("templates/d.yaml", false, Some(text.as_bytes())).is_none());
        let long_word = "A".repeat(200);
        assert!(reason("values.yaml", false, Some(long_word.as_bytes())).is_none());
    }
}
