//! Secrets at rest: XChaCha20-Poly1305 (RustCrypto `chacha20poly1305`) under a key from the
//! configuration (`DIDHUB_SECRET_KEY`: 32 bytes as 64 hex digits).
//!
//! A sealed value is `<key id>.<hex of nonce and ciphertext>`: the key id (8 hex digits of a
//! SHA-256 of the key) says which key opens it, so that keys can rotate: a [`Keyring`] seals
//! under its current key and opens under the current or any older key it was given, and
//! `didhub secrets rotate` seals again under the current key what an older one sealed. The
//! nonce is random (24 bytes: no two values share one). The caller binds each value to where
//! it is stored (`aad`, e.g. the ticket's id), so a sealed value copied to another row does
//! not open there.
//!
//! Keys never appear in `Debug` output, errors or logs.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

const NONCE: usize = 24;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error(
        "no secret key is configured: set DIDHUB_SECRET_KEY (or --secret-key, or secret_key in \
         the configuration file) to 64 hex digits (`didhub secrets new-key` makes one) before \
         storing secrets"
    )]
    NoKey,
    #[error("a secret key is 32 bytes written as 64 hex digits; the value given is not")]
    BadKey,
    #[error("the value was sealed under key {0}, which is not configured (give it as an old key)")]
    UnknownKey(String),
    #[error("the sealed value is damaged or does not belong here")]
    Damaged,
}

/// One key and its id.
#[derive(Clone)]
pub struct SecretKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.id)
    }
}

impl SecretKey {
    /// A key from its configuration text: 64 hex digits (spaces around are ignored).
    pub fn parse(text: &str) -> Result<SecretKey, SecretError> {
        let bytes = hex::decode(text.trim()).map_err(|_| SecretError::BadKey)?;
        if bytes.len() != 32 {
            return Err(SecretError::BadKey);
        }
        let mut h = Sha256::new();
        h.update(b"didhub secret key id\0");
        h.update(&bytes);
        let id = hex::encode(&h.finalize()[..4]);
        Ok(SecretKey {
            id,
            cipher: XChaCha20Poly1305::new(Key::from_slice(&bytes)),
        })
    }

    /// A new random key, as configuration text.
    pub fn generate() -> String {
        hex::encode(XChaCha20Poly1305::generate_key(&mut OsRng))
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The keys of a process: the current one (sealing), and older ones (opening only).
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    current: Option<SecretKey>,
    old: Vec<SecretKey>,
}

impl Keyring {
    pub fn new(current: Option<SecretKey>, old: Vec<SecretKey>) -> Keyring {
        Keyring { current, old }
    }

    /// The id of the key values are sealed under, if one is configured.
    pub fn current_id(&self) -> Option<&str> {
        self.current.as_ref().map(|k| k.id.as_str())
    }

    /// Seals `plain` under the current key, bound to `aad`.
    pub fn seal(&self, plain: &str, aad: &str) -> Result<String, SecretError> {
        let key = self.current.as_ref().ok_or(SecretError::NoKey)?;
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = key
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Damaged)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{}.{}", key.id, hex::encode(out)))
    }

    /// The key id a sealed value names.
    pub fn key_id(sealed: &str) -> Option<&str> {
        sealed.split_once('.').map(|(id, _)| id)
    }

    /// Opens a value sealed under any key of the ring, bound to `aad`.
    pub fn open(&self, sealed: &str, aad: &str) -> Result<String, SecretError> {
        let (id, body) = sealed.split_once('.').ok_or(SecretError::Damaged)?;
        let key = self
            .current
            .iter()
            .chain(&self.old)
            .find(|k| k.id == id)
            .ok_or_else(|| SecretError::UnknownKey(id.chars().take(16).collect()))?;
        let bytes = hex::decode(body).map_err(|_| SecretError::Damaged)?;
        if bytes.len() < NONCE {
            return Err(SecretError::Damaged);
        }
        let (nonce, ct) = bytes.split_at(NONCE);
        let plain = key
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Damaged)?;
        String::from_utf8(plain).map_err(|_| SecretError::Damaged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn sealed_values_open_only_with_their_key_and_place() {
        let k1 = SecretKey::parse(K1).unwrap();
        let k2 = SecretKey::parse(&SecretKey::generate()).unwrap();
        let ring = Keyring::new(Some(k1.clone()), vec![]);
        let s = ring.seal("hunter2", "ticket A").unwrap();
        assert!(s.starts_with(&format!("{}.", k1.id())));
        assert!(!s.contains("hunter2"));
        assert_eq!(ring.open(&s, "ticket A").unwrap(), "hunter2");
        assert_eq!(ring.open(&s, "ticket B"), Err(SecretError::Damaged));
        // Two seals of one value differ (random nonces).
        assert_ne!(s, ring.seal("hunter2", "ticket A").unwrap());
        // Under a new current key, the old one still opens when given.
        let rotated = Keyring::new(Some(k2.clone()), vec![k1.clone()]);
        assert_eq!(rotated.open(&s, "ticket A").unwrap(), "hunter2");
        let only_new = Keyring::new(Some(k2), vec![]);
        assert!(matches!(
            only_new.open(&s, "ticket A"),
            Err(SecretError::UnknownKey(_))
        ));
        let mut bad = s.clone();
        bad.pop();
        bad.push(if s.ends_with('0') { '1' } else { '0' });
        assert_eq!(ring.open(&bad, "ticket A"), Err(SecretError::Damaged));
        assert_eq!(Keyring::default().seal("x", "y"), Err(SecretError::NoKey));
    }

    #[test]
    fn keys_are_checked_and_never_shown() {
        assert_eq!(SecretKey::parse("abc").unwrap_err(), SecretError::BadKey);
        assert_eq!(
            SecretKey::parse(&K1[..62]).unwrap_err(),
            SecretError::BadKey
        );
        let k = SecretKey::parse(K1).unwrap();
        assert!(!format!("{k:?}").contains("0102"));
        assert!(!format!("{:?}", Keyring::new(Some(k), vec![])).contains("0102"));
    }
}
