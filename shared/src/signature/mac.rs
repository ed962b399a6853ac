//! HMAC-SHA256 keyed with arbitrary-length secrets, without a fallible constructor.

use hmac::{Hmac, KeyInit};
use sha2::{Digest, Sha256};

pub(super) type HmacSha256 = Hmac<Sha256>;

/// SHA-256's block size; HMAC keys are normalised to exactly this many bytes.
const BLOCK: usize = 64;

/// Builds the MAC from a key of any length. RFC 2104 §2: a key longer than the
/// block is replaced by its hash, then zero-padded to the block size. Doing that
/// here lets us use the infallible fixed-size constructor instead of handling
/// an "invalid length" error that cannot happen.
pub(super) fn keyed(key: &[u8]) -> HmacSha256 {
    let mut block = hmac::digest::Key::<HmacSha256>::default();
    if key.len() > BLOCK {
        let hashed = Sha256::digest(key);
        block[..hashed.len()].copy_from_slice(&hashed);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    HmacSha256::new(&block)
}

/// HMAC-SHA256 of the concatenation of `parts`.
pub(super) fn tag(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    use hmac::Mac;
    let mut mac = keyed(key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Constant-time check of `expected` against HMAC-SHA256 of `parts`.
pub(super) fn matches(key: &[u8], parts: &[&[u8]], expected: &[u8]) -> bool {
    use hmac::Mac;
    let mut mac = keyed(key);
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(expected).is_ok()
}

pub(super) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Decodes hex of either case; `None` for odd length or a non-hex digit.
pub(super) fn from_hex(text: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use hmac::{KeyInit, Mac};

    use super::*;

    #[test]
    fn normalised_keys_give_the_same_mac_as_the_variable_length_constructor() {
        for len in [0usize, 1, 31, 63, 64, 65, 200] {
            let key = vec![0x5au8; len];
            let mut reference =
                <HmacSha256 as KeyInit>::new_from_slice(&key).expect("HMAC takes any key length");
            reference.update(b"body");
            let want = reference.finalize().into_bytes().to_vec();
            assert_eq!(tag(&key, &[b"bo", b"dy"]), want, "key length {len}");
        }
    }

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let bytes = [0u8, 0x0f, 0xab, 0xff];
        assert_eq!(to_hex(&bytes), "000fabff");
        assert_eq!(from_hex("000FABff"), Some(bytes.to_vec()));
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex(""), Some(vec![]));
    }
}
