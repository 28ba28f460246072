//! Random keys and constant-time comparison.

use rand::RngCore;

/// A random key of `bytes` random bytes, hex-encoded (so `2 * bytes` chars).
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// Compares two secrets in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// nginx `secure_link_md5`: the binary MD5 of `expression` with
/// `$secure_link_expires`, `$uri`, `$remote_addr` and `$secret` replaced,
/// as base64url without padding, which is what the edge's nginx compares
/// with the link's `md5` parameter.
pub fn secure_link_md5(
    expression: &str,
    expires: i64,
    uri: &str,
    remote_addr: &str,
    secret: &str,
) -> String {
    use base64::Engine as _;
    use md5::Digest as _;
    let text = expression
        .replace("$secure_link_expires", &expires.to_string())
        .replace("$remote_addr", remote_addr)
        .replace("$uri", uri)
        .replace("$secret", secret);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(md5::Md5::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_keys_are_hex_and_distinct() {
        let a = super::random_hex(16);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, super::random_hex(16));
        assert!(super::constant_time_eq(b"abc", b"abc"));
        assert!(!super::constant_time_eq(b"abc", b"abd"));
        assert!(!super::constant_time_eq(b"abc", b"ab"));
    }
}
