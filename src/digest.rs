//! SHA-256 (ring), hex (the `hex` crate) and constant-time comparison
//! (`subtle`), in one place: secrets are stored as digests, tokens are
//! remembered by their digest, audit records are chained by it.

use subtle::ConstantTimeEq;

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// SHA-256 of `data`, as lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha256(data))
}

/// A 64-character hex SHA-256, as configured (`secret_sha256`).
pub fn decode_sha256_hex(h: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(h, &mut out).ok()?;
    Some(out)
}

/// Equal without a timing difference that depends on where they differ.
pub fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_comparison() {
        let h = sha256_hex(b"x");
        assert_eq!(h.len(), 64);
        assert_eq!(decode_sha256_hex(&h), Some(sha256(b"x")));
        assert_eq!(decode_sha256_hex("zz"), None);
        assert_eq!(decode_sha256_hex(&"g".repeat(64)), None);
        assert!(constant_time_eq(&sha256(b"x"), &sha256(b"x")));
        assert!(!constant_time_eq(&sha256(b"x"), &sha256(b"y")));
    }
}
