//! Keyrings as Helm reads them: a file of OpenPGP keys, binary (the legacy
//! `secring.gpg`/`pubring.gpg` that `gpg --export-secret-keys` / `gpg --export` write) or
//! ASCII-armored. Signing keys are looked up by name the way Helm does it.

use std::path::{Path, PathBuf};

use pgp::composed::{PublicOrSecret, SignedPublicKey, SignedSecretKey};
use pgp::types::{KeyDetails, Password, Timestamp};

use super::certificate::{Certificate, Which};

use crate::error::{Code, Error, Result};

/// A keyring is the operator's own file; this only keeps a wrong path (a disk image, a
/// device) from being read whole.
const MAX_KEYRING_BYTES: u64 = 64 * 1024 * 1024;

pub(super) fn keyring_error(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::new(
        Code::InvalidKeyring,
        format!("Keyring {}: {why}", path.display()),
        "Give a keyring file of OpenPGP keys: `gpg --export-secret-keys > secring.gpg` to sign, `gpg --export > pubring.gpg` to verify.",
    )
}

/// Every key in the file, public or secret. Which of their keys may sign is decided when
/// they are used ([`super::certificate`]): a third-party certification or a broken user
/// ID never drops a whole key here.
fn read_keys(path: &Path) -> Result<Vec<PublicOrSecret>> {
    let meta = std::fs::metadata(path).map_err(|e| keyring_error(path, e))?;
    if !meta.is_file() || meta.len() > MAX_KEYRING_BYTES {
        return Err(keyring_error(path, "not a regular file of a sensible size"));
    }
    let bytes = std::fs::read(path).map_err(|e| keyring_error(path, e))?;
    let not_keys = || keyring_error(path, "holds no OpenPGP keys");
    let (keys, _) = PublicOrSecret::from_reader_many(&bytes[..]).map_err(|_| not_keys())?;
    let keys: Vec<PublicOrSecret> = keys.filter_map(|k| k.ok()).collect();
    if keys.is_empty() {
        return Err(not_keys());
    }
    Ok(keys)
}

/// Public keys to verify against (secret keys in the file count by their public part).
#[derive(Debug)]
pub struct Keyring {
    pub path: PathBuf,
    pub keys: Vec<SignedPublicKey>,
}

impl Keyring {
    pub fn load(path: &Path) -> Result<Keyring> {
        let keys = read_keys(path)?
            .into_iter()
            .map(|k| match k {
                PublicOrSecret::Public(p) => p,
                PublicOrSecret::Secret(s) => s.to_public_key(),
            })
            .collect();
        Ok(Keyring {
            path: path.to_path_buf(),
            keys,
        })
    }

    /// The certificates whose primary key has a valid self-signature.
    pub fn certificates(&self, now: u64) -> Vec<Certificate<'_>> {
        self.keys
            .iter()
            .filter_map(|k| Certificate::of(k, now))
            .collect()
    }
}

pub(crate) fn fingerprint_hex(fingerprint: &pgp::types::Fingerprint) -> String {
    fingerprint
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

pub(crate) fn now_secs() -> u64 {
    u64::from(Timestamp::now().as_secs())
}

/// A date for messages: `YYYY-MM-DD` (UTC).
pub fn date(secs: u64) -> String {
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let days = (secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// A time for names and records: `YYYY-MM-DD HH:MM:SS` (UTC).
pub(crate) fn date_time(secs: u64) -> String {
    let t = secs % 86_400;
    format!(
        "{} {:02}:{:02}:{:02}",
        date(secs),
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

/// The secret key `--key` names, unlocked once (the passphrase's key derivation is slow
/// by design; a federation signs hundreds of archives), ready to sign.
pub struct SigningKey {
    pub key: SignedSecretKey,
    /// The key that signs: the primary, or a subkey when the primary may not.
    pub which: Which,
    /// The user ID that matched `--key`.
    pub signer: String,
    /// The primary key's fingerprint.
    pub fingerprint: String,
    /// The public certificate, to check what was signed with the same code as verify-chart.
    pub public: SignedPublicKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the passphrase or key material.
        f.debug_struct("SigningKey")
            .field("signer", &self.signer)
            .field("fingerprint", &self.fingerprint)
            .field("which", &self.which)
            .finish()
    }
}

/// `--key` names a key as Helm's does: a user ID equal to it wins; otherwise the one key
/// whose user ID contains it (more than one is an error). A fingerprint or 16-digit key ID
/// also names a key.
fn find<'a>(
    keys: &'a [(SignedSecretKey, Vec<String>)],
    name: &str,
    path: &Path,
) -> Result<(&'a SignedSecretKey, String)> {
    let wanted = name.to_ascii_uppercase().replace(' ', "");
    let mut candidates: Vec<(&SignedSecretKey, String)> = Vec::new();
    for (key, uids) in keys {
        let fingerprint = fingerprint_hex(&key.primary_key.fingerprint());
        if let Some(exact) = uids.iter().find(|u| u.as_str() == name) {
            return Ok((key, exact.clone()));
        }
        let by_id = wanted.len() >= 16
            && wanted.bytes().all(|b| b.is_ascii_hexdigit())
            && fingerprint.ends_with(&wanted);
        if by_id {
            return Ok((key, uids.first().cloned().unwrap_or(fingerprint)));
        }
        if let Some(partial) = uids.iter().find(|u| u.contains(name)) {
            candidates.push((key, partial.clone()));
        }
    }
    match candidates.len() {
        1 => Ok(candidates.remove(0)),
        0 => Err(keyring_error(
            path,
            format!(
                "no secret key with a user ID containing {:?}",
                crate::terminal::escape(name)
            ),
        )),
        _ => Err(keyring_error(
            path,
            format!(
                "more than one key contains the ID {:?}: {}",
                crate::terminal::escape(name),
                candidates
                    .iter()
                    .map(|(_, u)| u.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )),
    }
}

/// Loads `--key` from `--keyring` and unlocks it with the passphrase (if it has one), so
/// a wrong passphrase is found before anything is written.
pub fn signing_key(keyring: &Path, name: &str, passphrase: Option<Password>) -> Result<SigningKey> {
    let now = now_secs();
    // Each secret key with the user IDs its valid self-signatures carry.
    let secret: Vec<(SignedSecretKey, Vec<String>)> = read_keys(keyring)?
        .into_iter()
        .filter_map(|k| match k {
            PublicOrSecret::Secret(s) => {
                let public = s.to_public_key();
                let uids = Certificate::of(&public, now)?.user_ids;
                Some((s, uids))
            }
            PublicOrSecret::Public(_) => None,
        })
        .collect();
    if secret.is_empty() {
        return Err(keyring_error(
            keyring,
            "holds public keys only; signing needs the secret key (`gpg --export-secret-keys`)",
        ));
    }
    let (key, signer) = find(&secret, name, keyring)?;
    let fingerprint = fingerprint_hex(&key.primary_key.fingerprint());
    let key_error =
        |why: String| keyring_error(keyring, format!("key {signer} ({fingerprint}): {why}"));
    let public = key.to_public_key();
    let certificate = Certificate::of(&public, now)
        .ok_or_else(|| key_error("it has no valid self-signature".into()))?;
    let which = certificate.signer(now).map_err(key_error)?;
    let mut key = key.clone();
    // `to_public_key` lists the subkeys without a secret first, then the secret ones.
    let stubs = key.public_subkeys.len();
    let params_encrypted = match which {
        Which::Primary => key.primary_key.secret_params().is_encrypted(),
        Which::Subkey(i) if i < stubs => {
            return Err(key_error(format!(
                "its signing subkey {} has no secret part in this keyring",
                certificate.subkeys[i].fingerprint
            )))
        }
        Which::Subkey(i) => key.secret_subkeys[i - stubs]
            .key
            .secret_params()
            .is_encrypted(),
    };
    let passphrase = match (params_encrypted, passphrase) {
        (false, _) => Password::empty(),
        (true, Some(p)) => p,
        (true, None) => {
            return Err(key_error(
                "it is protected by a passphrase; give it with --passphrase-file FILE (or --passphrase-file - for stdin)".into(),
            ))
        }
    };
    let unlocked = match which {
        Which::Primary => key.primary_key.remove_password(&passphrase),
        Which::Subkey(i) => key.secret_subkeys[i - stubs]
            .key
            .remove_password(&passphrase),
    };
    if unlocked.is_err() {
        return Err(key_error("the passphrase does not unlock it".into()));
    }
    drop(certificate);
    Ok(SigningKey {
        key,
        which,
        signer,
        fingerprint,
        public,
    })
}

/// The first line of `--passphrase-file` (`-` reads stdin), as Helm reads it.
pub fn read_passphrase(file: &Path) -> Result<Password> {
    use std::io::{BufRead, Read};
    let error = |why: String| {
        Error::new(
            Code::InvalidArgs,
            format!("--passphrase-file {}: {why}", file.display()),
            "Give a file whose first line is the key's passphrase, or - to read it from stdin.",
        )
    };
    let mut line = String::new();
    let read = if file == Path::new("-") {
        std::io::stdin().lock().take(64 * 1024).read_line(&mut line)
    } else {
        let f = std::fs::File::open(file).map_err(|e| error(e.to_string()))?;
        std::io::BufReader::new(f.take(64 * 1024)).read_line(&mut line)
    };
    read.map_err(|e| error(e.to_string()))?;
    let passphrase = line.trim_end_matches(['\n', '\r']);
    if passphrase.is_empty() {
        return Err(error("the first line is empty".into()));
    }
    Ok(Password::from(passphrase))
}

#[cfg(test)]
mod tests {
    use super::date;

    #[test]
    fn dates() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_700_000_000), "2023-11-14");
        assert_eq!(date(951_782_400), "2000-02-29");
    }
}
