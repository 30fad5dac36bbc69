//! The few primitives authentication needs: randomness, password hashing, HMAC, sealing of
//! secrets that must be read back, and base64url.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use hmac::Mac;
use sha2::{Digest as _, Sha256};

use crate::{Result, ServiceError};

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `n` bytes from the operating system's generator.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random generator works");
    bytes
}

/// A random string of `len` characters from `alphabet` (uniform: rejection sampling).
pub(crate) fn random_string(len: usize, alphabet: &[u8]) -> String {
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes::<64>() {
            if (b as usize) < limit && out.len() < len {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    out
}

/// A random base62 string: 32 characters carry 190 bits.
pub(crate) fn random_token(len: usize) -> String {
    random_string(len, BASE62)
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Compares without an early exit, so the time taken does not tell where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An argon2id hash in PHC form, with a fresh salt.
pub(crate) fn hash_password(password: &str) -> Result<String> {
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| ServiceError::internal(format!("hashing a password: {e}")))
}

/// An argon2id hash with [`hash_password`]'s parameters that no known password matches (its
/// output is random bytes), verified for unknown users so that a failed login takes as long
/// whether or not the user exists. A constant, not hashed at start: hashing takes the 19 MiB
/// argon2 asks for, which was most of a fresh server's peak memory.
pub(crate) const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$ts9LMgEa6V4xFY7TL1f0gA$\
     Ioz8CFXjNizB4wcTLj3i9f5vHNFoAC0QLwFei1Uq5JA";

pub(crate) fn verify_password(password: &str, hash: &str) -> bool {
    argon2::Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

pub(crate) fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

pub(crate) fn b64_decode(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// Seals a secret with AES-256-GCM: a random 12-byte nonce, then the ciphertext and tag.
pub(crate) fn seal(key: &[u8; 32], plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
    let nonce_bytes = random_bytes::<12>();
    let nonce = Nonce::from(nonce_bytes);
    let mut out = nonce_bytes.to_vec();
    out.extend(
        cipher
            .encrypt(&nonce, plaintext)
            .expect("AES-GCM encrypts any secret of a sane size"),
    );
    out
}

/// Opens what [`seal`] sealed; `None` if it was sealed with another key or altered.
pub(crate) fn unseal(key: &[u8; 32], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < 12 {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(12);
    let nonce: [u8; 12] = nonce.try_into().ok()?;
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key))
        .decrypt(&Nonce::from(nonce), ciphertext)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives() {
        let t = random_token(32);
        assert_eq!(t.len(), 32);
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(random_token(32), t);
        let key = random_bytes::<32>();
        let sealed = seal(&key, b"secret key");
        assert_eq!(unseal(&key, &sealed).as_deref(), Some(&b"secret key"[..]));
        assert_eq!(unseal(&random_bytes::<32>(), &sealed), None);
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(unseal(&key, &altered), None);
        assert!(constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd"));
        assert_eq!(
            b64url_decode(&b64url(b"\xff\x00 x")).unwrap(),
            b"\xff\x00 x"
        );
        // SWR's long-term login: hex HMAC-SHA256 of the AK keyed with the SK.
        assert_eq!(
            hex::encode(hmac_sha256(
                b"EXAMPLESKabcdefghijklmnopqrstuvwxyz012345",
                b"EXAMPLEAK0123456789"
            )),
            "f0ed942165ac1bb922192806b2969c59583004b5f5c3dc0826f297224bdd60e1"
        );
    }

    #[test]
    fn passwords() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn dummy_hash_costs_what_a_real_one_does() {
        // Same algorithm, version and cost parameters as a fresh hash, so verifying either
        // takes as long.
        let params = |h: &str| h.rsplitn(3, '$').nth(2).unwrap().to_owned();
        assert_eq!(
            params(DUMMY_HASH),
            params(&hash_password("correct horse").unwrap())
        );
        let dummy = argon2::PasswordHash::new(DUMMY_HASH).expect("a PHC string");
        assert_eq!(dummy.hash.map(|h| h.len()), Some(32));
        assert!(!verify_password("", DUMMY_HASH));
    }
}
