//! Hashing of normalised identifiers for audience exports (Google Customer
//! Match, Meta Conversions API), which both take lowercase hex SHA-256 of
//! the UTF-8 bytes of the normalised value.

use sha2::{Digest, Sha256};

/// Lowercase hexadecimal SHA-256 of the UTF-8 bytes of `text` (64 chars).
/// SQL NULL gives NULL; the empty string hashes like any other string, so
/// normalise first (the normalisers return NULL for empty input).
///
/// ```sql
/// select sha256_hex(normalize_email(email)) from customers;
/// select sha256_hex('abc');
/// -- 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
/// ```
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fips_180_vectors() {
        // FIPS 180-2 appendix B test vectors.
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256_hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn hashes_utf8_bytes() {
        let expected = hex::encode(Sha256::digest("élodie".as_bytes()));
        assert_eq!(sha256_hex("élodie"), expected);
        assert_eq!(sha256_hex("x").len(), 64);
    }
}
