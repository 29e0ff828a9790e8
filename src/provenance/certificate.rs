//! Which keys of an OpenPGP certificate may sign, judged as gpg and Helm 4 (ProtonMail's
//! go-crypto) judge them, not by rpgp's all-or-nothing binding check:
//!
//! - only self-signatures count: signatures that name another issuer (third-party
//!   certifications, which `gpg --export` includes) are ignored, never fatal;
//! - a user ID counts when its newest self-signature is a certification, not a revocation;
//! - the primary key's flags and expiry come from the primary user ID's newest
//!   certification (else the newest one of any user ID), else the newest direct-key
//!   signature; a subkey's from its newest binding signature;
//! - a revocation by the primary key revokes the whole certificate or that subkey;
//! - a key signs only when its flags grant signing (no flags: its algorithm decides), and a
//!   signing subkey only with a valid back-signature;
//! - signatures over MD5 are not signatures.

use pgp::composed::SignedPublicKey;
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{Signature, SignatureType, SubpacketData};
use pgp::types::{KeyDetails, Tag, Timestamp};

/// One key of a certificate: the primary or a subkey, as its self-signatures describe it.
#[derive(Debug, Clone)]
pub struct KeyState {
    pub fingerprint: String,
    pub revoked: bool,
    pub can_sign: bool,
    /// When it stops being valid (None: never).
    pub expiry: Option<u64>,
    /// When its newest binding was made (which subkey `sign` prefers).
    bound_at: u64,
    /// A subkey without a valid binding (or a signing subkey without a back-signature).
    unbound: Option<&'static str>,
}

/// Which key of the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Primary,
    /// An index into the key's `public_subkeys`.
    Subkey(usize),
}

/// A certificate whose primary key has at least one valid self-signature.
#[derive(Debug)]
pub struct Certificate<'a> {
    pub key: &'a SignedPublicKey,
    /// User IDs with a valid, unrevoked self-certification, as Helm shows them.
    pub user_ids: Vec<String>,
    pub fingerprint: String,
    pub primary: KeyState,
    pub subkeys: Vec<KeyState>,
}

fn secs(t: Timestamp) -> u64 {
    u64::from(t.as_secs())
}

/// Made at a sane time, over a hash that still counts, and not itself expired.
fn sane(sig: &Signature, now: u64) -> bool {
    let Some(created) = sig.created().map(secs) else {
        return false;
    };
    let expired = sig
        .signature_expiration_time()
        .filter(|d| d.as_secs() > 0)
        .is_some_and(|d| created + u64::from(d.as_secs()) <= now);
    created <= now + 60 && !expired && sig.hash_alg() != Some(HashAlgorithm::Md5)
}

/// Whether the signature says it was made by `key` (or says nothing, so only the
/// cryptography can tell).
fn issued_by(sig: &Signature, key: &impl KeyDetails) -> bool {
    let fingerprints = sig.issuer_fingerprint();
    let ids = sig.issuer_key_id();
    if fingerprints.is_empty() && ids.is_empty() {
        return true;
    }
    let fingerprint = key.fingerprint();
    let id = key.legacy_key_id();
    fingerprints.iter().any(|f| **f == fingerprint) || ids.iter().any(|i| **i == id)
}

fn has_key_flags(sig: &Signature) -> bool {
    sig.config().is_some_and(|c| {
        c.hashed_subpackets()
            .any(|p| matches!(p.data, SubpacketData::KeyFlags(_)))
    })
}

fn newest<'s>(sigs: impl Iterator<Item = &'s Signature>) -> Option<&'s Signature> {
    sigs.max_by_key(|s| s.created().map_or(0, secs))
}

fn created_at(sig: &Signature) -> u64 {
    sig.created().map_or(0, secs)
}

/// A key's expiry from the signature that binds it: its creation plus the lifetime.
fn expiry_from(key_created: Timestamp, sig: &Signature) -> Option<u64> {
    sig.key_expiration_time()
        .filter(|d| d.as_secs() > 0)
        .map(|d| secs(key_created) + u64::from(d.as_secs()))
}

impl<'a> Certificate<'a> {
    /// None when the primary key has no valid self-signature at all: gpg does not use it.
    pub fn of(key: &'a SignedPublicKey, now: u64) -> Option<Certificate<'a>> {
        let primary = &key.primary_key;
        let own = |s: &&Signature| issued_by(s, primary) && sane(s, now);

        let revoked = key
            .details
            .revocation_signatures
            .iter()
            .filter(own)
            .any(|s| {
                s.typ() == Some(SignatureType::KeyRevocation) && s.verify_key(primary).is_ok()
            });

        // Each user ID's newest valid certification, unless a newer revocation retracts it.
        let mut user_ids = Vec::new();
        let mut certifications: Vec<&Signature> = Vec::new();
        for user in &key.details.users {
            let verified = |s: &&Signature| {
                own(s)
                    && s.verify_certification(primary, Tag::UserId, &user.id)
                        .is_ok()
            };
            let certification = newest(
                user.signatures
                    .iter()
                    .filter(|s| {
                        s.is_certification() && s.typ() != Some(SignatureType::CertRevocation)
                    })
                    .filter(verified),
            );
            let revocation = newest(
                user.signatures
                    .iter()
                    .filter(|s| s.typ() == Some(SignatureType::CertRevocation))
                    .filter(verified),
            );
            let Some(certification) = certification else {
                continue;
            };
            if revocation.is_some_and(|r| created_at(r) >= created_at(certification)) {
                continue;
            }
            user_ids.push(crate::terminal::escape(&String::from_utf8_lossy(
                user.id.id(),
            )));
            certifications.push(certification);
        }
        let direct = newest(
            key.details
                .direct_signatures
                .iter()
                .filter(own)
                .filter(|s| s.typ() == Some(SignatureType::Key) && s.verify_key(primary).is_ok()),
        );
        let binding = newest(certifications.iter().copied().filter(|s| s.is_primary()))
            .or_else(|| newest(certifications.iter().copied()))
            .or(direct)?;

        let flags_from = [Some(binding), direct]
            .into_iter()
            .flatten()
            .find(|s| has_key_flags(s));
        let can_sign =
            flags_from.is_none_or(|s| s.key_flags().sign()) && primary.algorithm().can_sign();
        let expiry = expiry_from(primary.created_at(), binding)
            .or_else(|| direct.and_then(|d| expiry_from(primary.created_at(), d)));
        let primary_state = KeyState {
            fingerprint: super::keyring::fingerprint_hex(&primary.fingerprint()),
            revoked,
            can_sign,
            expiry,
            bound_at: created_at(binding),
            unbound: None,
        };

        let subkeys = key
            .public_subkeys
            .iter()
            .map(|sub| {
                let verified = |s: &&Signature| {
                    issued_by(s, primary)
                        && sane(s, now)
                        && s.verify_subkey_binding(primary, &sub.key).is_ok()
                };
                let revoked = sub
                    .signatures
                    .iter()
                    .filter(|s| s.typ() == Some(SignatureType::SubkeyRevocation))
                    .any(|s| verified(&s));
                let binding = newest(
                    sub.signatures
                        .iter()
                        .filter(|s| s.typ() == Some(SignatureType::SubkeyBinding))
                        .filter(verified),
                );
                let fingerprint = super::keyring::fingerprint_hex(&sub.key.fingerprint());
                let Some(binding) = binding else {
                    return KeyState {
                        fingerprint,
                        revoked,
                        can_sign: false,
                        expiry: None,
                        bound_at: 0,
                        unbound: Some("it has no valid binding signature from the primary key"),
                    };
                };
                let wants_sign = if has_key_flags(binding) {
                    binding.key_flags().sign()
                } else {
                    sub.key.algorithm().can_sign()
                };
                // A signing subkey must sign the primary back, or anyone could claim it.
                let back_signed = binding.embedded_signature().is_some_and(|back| {
                    back.typ() == Some(SignatureType::KeyBinding)
                        && back.verify_primary_key_binding(&sub.key, primary).is_ok()
                });
                KeyState {
                    fingerprint,
                    revoked,
                    can_sign: wants_sign && back_signed,
                    expiry: expiry_from(sub.key.created_at(), binding),
                    bound_at: created_at(binding),
                    unbound: (wants_sign && !back_signed)
                        .then_some("it is a signing subkey without a back-signature"),
                }
            })
            .collect();

        Some(Certificate {
            key,
            user_ids,
            fingerprint: primary_state.fingerprint.clone(),
            primary: primary_state,
            subkeys,
        })
    }

    pub fn state(&self, which: Which) -> &KeyState {
        match which {
            Which::Primary => &self.primary,
            Which::Subkey(i) => &self.subkeys[i],
        }
    }

    /// Why `which` may not sign at time `at` (and now), if it may not: the whole
    /// certificate's state first, then the key's own.
    pub fn refuses(&self, which: Which, at: u64, now: u64) -> Option<String> {
        let key = self.state(which);
        let name = match which {
            Which::Primary => "the key".to_string(),
            Which::Subkey(_) => format!("its subkey {}", key.fingerprint),
        };
        if self.primary.revoked {
            return Some("the key is revoked".into());
        }
        if let Some(expiry) = self.primary.expiry.filter(|e| *e <= at || *e <= now) {
            return Some(format!(
                "the key expired on {}",
                super::keyring::date(expiry)
            ));
        }
        if let Some(why) = key.unbound {
            return Some(format!("{name} is not usable: {why}"));
        }
        if key.revoked {
            return Some(format!("{name} is revoked"));
        }
        if let Some(expiry) = key.expiry.filter(|e| *e <= at || *e <= now) {
            return Some(format!(
                "{name} expired on {}",
                super::keyring::date(expiry)
            ));
        }
        if !key.can_sign {
            return Some(format!("{name} is not allowed to sign (its key flags)"));
        }
        None
    }

    /// The key `sign` uses, as gpg picks it: the primary when it may sign, else the
    /// newest-bound subkey that may.
    pub fn signer(&self, now: u64) -> Result<Which, String> {
        if self.refuses(Which::Primary, now, now).is_none() {
            return Ok(Which::Primary);
        }
        let best = (0..self.subkeys.len())
            .filter(|i| self.refuses(Which::Subkey(*i), now, now).is_none())
            .max_by_key(|i| self.subkeys[*i].bound_at);
        match best {
            Some(i) => Ok(Which::Subkey(i)),
            None => Err(self
                .refuses(Which::Primary, now, now)
                .filter(|why| !why.ends_with("(its key flags)"))
                .unwrap_or_else(|| {
                    "neither the key nor any of its subkeys may sign (revoked, expired, or not a signing key)".into()
                })),
        }
    }
}
