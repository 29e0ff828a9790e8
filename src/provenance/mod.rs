//! Helm provenance: the `.prov` beside a chart (or plugin) archive that `helm verify`,
//! `helm pull --verify`, `helm install --verify` and Helm 4's `helm plugin install` check.
//!
//! A `.prov` is an OpenPGP clear-signed text (SHA-512, as Helm signs): the archive's
//! metadata as YAML, the line `...`, then `files:` mapping the archive's file name to
//! `sha256:<hex>`. Verifying means: the signature is good and made by a key of the
//! keyring that was valid then and is valid now (Helm 4 refuses expired keys too), and
//! the signed text names this file with this archive's sha256.

pub mod certificate;
pub mod helm_yaml;
pub mod keyring;

use std::collections::BTreeMap;

use pgp::composed::{ArmorOptions, CleartextSignedMessage, SignedPublicKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{SignatureConfig, SignatureType, Subpacket, SubpacketData};
use pgp::types::{KeyDetails, Password, Timestamp};
use serde::Serialize;

use crate::error::{Code, Error, Result};
use crate::names::sha256_hex;
use certificate::{Certificate, Which};
pub use keyring::{Keyring, SigningKey};

/// A provenance file is a short clear-signed text; anything far larger is not one.
pub const MAX_PROVENANCE_BYTES: u64 = 256 * 1024;

/// The clear-signed `.prov` text for an archive, naming it under each of `file_names`
/// (a plugin archive is verified under its file name when installed from a file or URL,
/// and as `<name>-<version>.tgz` when installed from a registry).
pub fn sign(
    key: &SigningKey,
    archive: &[u8],
    file_names: &[String],
    metadata_yaml: &str,
) -> Result<String> {
    let sum = format!("sha256:{}", sha256_hex(archive));
    let files: BTreeMap<&str, &str> = file_names
        .iter()
        .map(|n| (n.as_str(), sum.as_str()))
        .collect();
    let mut body = metadata_yaml.to_string();
    body.push_str("\n...\nfiles:\n");
    for (name, sum) in files {
        body.push_str(&format!("  {}: {sum}\n", helm_yaml::scalar(name)));
    }
    // The line break before the signature armor is not part of the signed text.
    let text = body.trim_end_matches('\n');
    let failed = |e: pgp::errors::Error| {
        Error::new(
            Code::InvalidKeyring,
            format!("Signing with key {} failed: {e}", key.fingerprint),
            "Use an RSA, DSA or ECDSA signing key (Helm 3 cannot check Ed25519 signatures).",
        )
    };
    let stubs = key.key.public_subkeys.len();
    let message = match key.which {
        Which::Primary => clear_sign(text, &key.key.primary_key),
        Which::Subkey(i) => clear_sign(text, &key.key.secret_subkeys[i - stubs].key),
    }
    .map_err(failed)?;
    let armored = message
        .to_armored_string(ArmorOptions::default())
        .map_err(failed)?;
    // Helm's files end right after the armor's last line.
    let prov = armored.trim_end_matches('\n').to_string();
    // Never write a .prov that does not verify: check it as verify-chart would.
    let refused = |why: String| {
        Error::new(
            Code::InvalidArchive,
            format!("The .prov just made would not verify: {why}"),
            "Nothing was written. Check the archive's Chart.yaml (its text goes into the .prov) and the key.",
        )
    };
    let metadata_back = message
        .signed_text()
        .replace("\r\n", "\n")
        .split_once("\n...\n")
        .and_then(|(m, _)| serde_saphyr::from_str::<serde_json::Value>(m).ok());
    let metadata_meant = serde_saphyr::from_str::<serde_json::Value>(metadata_yaml).ok();
    if metadata_meant.is_none() || metadata_back != metadata_meant {
        return Err(refused(
            "its metadata (from Chart.yaml) does not read back the same from the signed text"
                .into(),
        ));
    }
    for name in file_names {
        verify_against(
            std::slice::from_ref(&key.public),
            "the signing key",
            archive,
            prov.as_bytes(),
            name,
        )
        .map_err(|e| refused(e.message))?;
    }
    Ok(prov)
}

/// A clear-signed text, SHA-512 as Helm signs, by `signer` (already unlocked).
fn clear_sign<K>(text: &str, signer: &K) -> pgp::errors::Result<CleartextSignedMessage>
where
    K: pgp::types::SigningKey + KeyDetails,
{
    let mut config = SignatureConfig::v4(
        SignatureType::Text,
        signer.algorithm(),
        HashAlgorithm::Sha512,
    );
    config.hashed_subpackets = vec![
        Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::now()))?,
        Subpacket::regular(SubpacketData::IssuerFingerprint(signer.fingerprint()))?,
    ];
    // Helm 3's OpenPGP code finds the signer by this (v4) key ID only.
    config.unhashed_subpackets = vec![Subpacket::regular(SubpacketData::IssuerKeyId(
        signer.legacy_key_id(),
    ))?];
    CleartextSignedMessage::new_many(text, |normalized| {
        Ok(vec![config.sign(
            signer,
            &Password::empty(),
            normalized.as_bytes(),
        )?])
    })
}

/// What a good `.prov` says.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    /// The signer's user IDs.
    pub signed_by: Vec<String>,
    pub fingerprint: String,
    /// When the signature was made (UTC date).
    pub signed_on: String,
    pub file: String,
    pub sha256: String,
}

fn failed(why: impl Into<String>) -> Error {
    Error::new(
        Code::VerificationFailed,
        why,
        "Do not install this chart. Ask its publisher for the archive, its .prov and their public key, and check again.",
    )
}

/// Checks a `.prov` against the keyring and the archive; `file_name` is the name the
/// archive is verified under (its file name, as Helm uses).
pub fn verify(keyring: &Keyring, archive: &[u8], prov: &[u8], file_name: &str) -> Result<Verified> {
    verify_against(
        &keyring.keys,
        &keyring.path.display().to_string(),
        archive,
        prov,
        file_name,
    )
}

/// Hashes no signature may rest on (Helm 4 refuses MD5; gpg and go-crypto SHA-1 too).
const WEAK_HASHES: [HashAlgorithm; 3] = [
    HashAlgorithm::Md5,
    HashAlgorithm::Sha1,
    HashAlgorithm::Ripemd160,
];

fn verify_against(
    keys: &[SignedPublicKey],
    keyring_name: &str,
    archive: &[u8],
    prov: &[u8],
    file_name: &str,
) -> Result<Verified> {
    if prov.len() as u64 > MAX_PROVENANCE_BYTES {
        return Err(failed("The provenance file is far larger than any .prov."));
    }
    let text = std::str::from_utf8(prov).map_err(|_| failed("The provenance file is not text."))?;
    let (message, _) = CleartextSignedMessage::from_string(text)
        .map_err(|_| failed("The provenance file is not an OpenPGP clear-signed document."))?;
    let now = keyring::now_secs();
    let certificates: Vec<Certificate> = keys
        .iter()
        .filter_map(|k| Certificate::of(k, now))
        .collect();
    // Every key that made a good signature, and why it may not count, if it may not.
    let mut refusals = Vec::new();
    let mut good = None;
    'search: for cert in &certificates {
        let candidates = std::iter::once((Which::Primary, &cert.key.primary_key as &dyn Verifier))
            .chain(
                cert.key
                    .public_subkeys
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (Which::Subkey(i), &s.key as &dyn Verifier)),
            );
        for (which, verifier) in candidates {
            let Some(signature) = message
                .signatures()
                .iter()
                .find(|s| verifier.verifies(s, &message))
            else {
                continue;
            };
            let signed_at = signature.created().map_or(0, |t| u64::from(t.as_secs()));
            let who = format!("{} ({})", cert.user_ids.join(", "), cert.fingerprint);
            if let Some(hash) = signature.hash_alg().filter(|h| WEAK_HASHES.contains(h)) {
                refusals.push(format!(
                    "The signature by {who} is over {hash}, a hash too weak to trust."
                ));
                continue;
            }
            if !matches!(
                signature.typ(),
                Some(SignatureType::Text | SignatureType::Binary)
            ) {
                refusals.push(format!(
                    "The signature by {who} is not a document signature."
                ));
                continue;
            }
            let own_expiry = signature
                .signature_expiration_time()
                .filter(|l| l.as_secs() > 0)
                .map(|l| signed_at + u64::from(l.as_secs()));
            if let Some(expiry) = own_expiry.filter(|e| *e <= now) {
                refusals.push(format!(
                    "The signature by {who} expired on {}.",
                    keyring::date(expiry)
                ));
                continue;
            }
            if let Some(why) = cert.refuses(which, signed_at, now) {
                refusals.push(format!("The signing key {who} may not sign: {why}."));
                continue;
            }
            good = Some((cert, signed_at));
            break 'search;
        }
    }
    let Some((cert, signed_at)) = good else {
        return Err(failed(refusals.into_iter().next().unwrap_or_else(|| {
            format!(
                "The signature is not good for any key in {keyring_name}: signed by another key, or the signed text was changed."
            )
        })));
    };
    // Only the signed text counts: the files are read from it, never from the armor.
    let signed = message.signed_text().replace("\r\n", "\n");
    let sums = files_of(&signed)?;
    let sum = format!("sha256:{}", sha256_hex(archive));
    match sums.get(file_name) {
        None => Err(failed(format!(
            "The provenance names no file {file_name:?} (it names {}).",
            sums.keys()
                .map(|k| format!("{:?}", crate::terminal::escape(k)))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        Some(named) if *named != sum => Err(failed(format!(
            "{file_name} was changed after it was signed: its sha256 is {} but the signed provenance says {}.",
            sum.trim_start_matches("sha256:"),
            crate::terminal::escape(named.trim_start_matches("sha256:"))
        ))),
        Some(_) => Ok(Verified {
            signed_by: cert.user_ids.clone(),
            fingerprint: cert.fingerprint.clone(),
            signed_on: keyring::date(signed_at),
            file: file_name.to_string(),
            sha256: sum.trim_start_matches("sha256:").to_string(),
        }),
    }
}

/// A primary key or a subkey, either of which can check a signature on the message.
trait Verifier {
    fn verifies(
        &self,
        signature: &pgp::packet::Signature,
        message: &CleartextSignedMessage,
    ) -> bool;
}

impl<K: pgp::types::VerifyingKey> Verifier for K {
    fn verifies(
        &self,
        signature: &pgp::packet::Signature,
        message: &CleartextSignedMessage,
    ) -> bool {
        signature
            .verify(self, message.signed_text().as_bytes())
            .is_ok()
    }
}

/// The `files:` part of a signed text (after the `...` line).
fn files_of(signed: &str) -> Result<BTreeMap<String, String>> {
    #[derive(serde::Deserialize)]
    struct Sums {
        files: BTreeMap<String, String>,
    }
    let (_, files) = signed
        .split_once("\n...\n")
        .ok_or_else(|| failed("The signed text has no `...` line before its file list."))?;
    let sums: Sums = serde_saphyr::from_str(files)
        .map_err(|_| failed("The signed file list does not parse."))?;
    Ok(sums.files)
}

/// `<archive>.prov` as text, read as untrusted: None when there is none; the reason when it
/// is not a regular file (a link is not followed) of at most [`MAX_PROVENANCE_BYTES`], or
/// not a clear-signed text. Callers turn the reason into their own error.
pub(crate) fn read_beside(
    archive: &std::path::Path,
) -> std::result::Result<Option<String>, String> {
    let path = prov_path(archive);
    let Ok(meta) = std::fs::symlink_metadata(&path) else {
        return Ok(None);
    };
    if !meta.is_file() || meta.len() > MAX_PROVENANCE_BYTES {
        return Err("not a regular file of a sensible size".into());
    }
    let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    if !text.starts_with("-----BEGIN PGP SIGNED MESSAGE-----") {
        return Err("not an OpenPGP clear-signed document".into());
    }
    Ok(Some(text))
}

/// `<archive>.prov`.
pub(crate) fn prov_path(archive: &std::path::Path) -> std::path::PathBuf {
    let mut name = archive.as_os_str().to_owned();
    name.push(".prov");
    std::path::PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use pgp::composed::{KeyType, SecretKeyParamsBuilder, SignedPublicKey};
    use pgp::ser::Serialize;

    use super::keyring::{signing_key, Keyring};
    use super::{sign, verify};
    use crate::error::Code;

    /// A key made by rpgp (Ed25519: fast; the gpg-made RSA keys that Helm 3 also reads are
    /// in tests/signing.rs), written as the keyring files gpg exports.
    fn key(
        dir: &std::path::Path,
        uid: &str,
        passphrase: Option<&str>,
    ) -> (std::path::PathBuf, std::path::PathBuf) {
        let mut params = SecretKeyParamsBuilder::default();
        params
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(true)
            .primary_user_id(uid.into())
            .passphrase(passphrase.map(str::to_string));
        let secret = params
            .build()
            .unwrap()
            .generate(rand::thread_rng())
            .unwrap();
        let name = uid.split_whitespace().next().unwrap();
        let secring = dir.join(format!("{name}.sec"));
        let pubring = dir.join(format!("{name}.pub"));
        std::fs::write(&secring, secret.to_bytes().unwrap()).unwrap();
        std::fs::write(&pubring, SignedPublicKey::from(secret).to_bytes().unwrap()).unwrap();
        (secring, pubring)
    }

    #[test]
    fn signs_and_verifies_and_catches_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (secring, pubring) = key(dir.path(), "Alice <alice@example.com>", Some("pw"));
        let (other_sec, _) = key(dir.path(), "Mallory <m@example.com>", None);
        let archive = b"chart bytes".to_vec();
        let names = vec!["c-1.0.0.tgz".to_string()];
        let signer = signing_key(&secring, "Alice", Some("pw".into())).unwrap();
        let prov = sign(&signer, &archive, &names, "name: c\nversion: 1.0.0\n").unwrap();
        assert!(prov.starts_with("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nname: c\n"));
        let keyring = Keyring::load(&pubring).unwrap();

        let ok = verify(&keyring, &archive, prov.as_bytes(), "c-1.0.0.tgz").unwrap();
        assert_eq!(ok.signed_by, ["Alice <alice@example.com>"]);

        let fail = |archive: &[u8], prov: &str, name: &str| {
            let err = verify(&keyring, archive, prov.as_bytes(), name).unwrap_err();
            assert_eq!(err.code, Code::VerificationFailed);
            err.message
        };
        assert!(fail(b"chart bytez", &prov, "c-1.0.0.tgz").contains("was changed"));
        assert!(fail(&archive, &prov, "d-1.0.0.tgz").contains("names no file"));
        let altered = prov.replace("version: 1.0.0", "version: 1.0.1");
        assert!(fail(&archive, &altered, "c-1.0.0.tgz").contains("not good"));
        let by_other = sign(
            &signing_key(&other_sec, "Mallory", None).unwrap(),
            &archive,
            &names,
            "x: y\n",
        )
        .unwrap();
        assert!(fail(&archive, &by_other, "c-1.0.0.tgz").contains("not good"));
        assert!(fail(&archive, "not a prov", "c-1.0.0.tgz").contains("clear-signed"));

        for (name, pw, why) in [
            ("Alice", Some("wrong"), "does not unlock"),
            ("Alice", None, "--passphrase-file"),
            ("Bob", Some("pw"), "no secret key"),
        ] {
            let err = signing_key(&secring, name, pw.map(Into::into)).unwrap_err();
            assert_eq!(err.code, Code::InvalidKeyring);
            assert!(err.message.contains(why), "{}", err.message);
            assert!(
                !err.message.contains("wrong"),
                "the passphrase leaked: {}",
                err.message
            );
        }
        let err = signing_key(&pubring, "Alice", None).unwrap_err();
        assert!(err.message.contains("public keys only"), "{}", err.message);
    }
}
