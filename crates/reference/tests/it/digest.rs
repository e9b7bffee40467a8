//! Digest construction, validation, hashing and serde.

use std::io::Write as _;

use imgpull_reference::{Algorithm, Digest, DigestFault, ReferenceError};

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const EMPTY_SHA512: &str = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";

fn fault(input: &str) -> DigestFault {
    match Digest::parse(input) {
        Err(ReferenceError::InvalidDigest { digest, fault }) => {
            assert_eq!(digest, input);
            fault
        }
        other => panic!("`{input}`: {other:?}"),
    }
}

#[test]
fn known_vectors() {
    assert_eq!(Digest::sha256(b"").hex(), EMPTY_SHA256);
    assert_eq!(Digest::sha512(b"").hex(), EMPTY_SHA512);
    assert_eq!(Digest::sha512(b"").algorithm(), Algorithm::Sha512);
    assert_eq!(
        Digest::compute(Algorithm::Sha256, b"").to_string(),
        format!("sha256:{EMPTY_SHA256}")
    );
}

#[test]
fn from_sha256_bytes_is_lowercase_hex() {
    let mut bytes = [0u8; 32];
    bytes[0] = 0xab;
    bytes[31] = 0x0f;
    let d = Digest::from_sha256_bytes(bytes);
    assert_eq!(d.algorithm(), Algorithm::Sha256);
    assert_eq!(d.hex().len(), 64);
    assert!(d.hex().starts_with("ab00"));
    assert!(d.hex().ends_with("000f"));
    assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
}

#[test]
fn parse_accepts_valid_digests() {
    let d: Digest = format!("sha256:{EMPTY_SHA256}").parse().unwrap();
    assert_eq!(d, Digest::sha256(b""));
    assert_eq!(d.hex(), EMPTY_SHA256);
    let d = Digest::parse(&format!("sha512:{EMPTY_SHA512}")).unwrap();
    assert_eq!(d, Digest::sha512(b""));
}

#[test]
fn parse_rejects_each_fault() {
    assert_eq!(fault(EMPTY_SHA256), DigestFault::MissingAlgorithm);
    assert_eq!(fault(""), DigestFault::MissingAlgorithm);
    assert_eq!(
        fault(&format!("sha384:{EMPTY_SHA256}")),
        DigestFault::UnknownAlgorithm("sha384".into())
    );
    assert_eq!(
        fault(&format!("SHA256:{EMPTY_SHA256}")),
        DigestFault::MalformedAlgorithm
    );
    assert_eq!(
        fault(&format!(":{EMPTY_SHA256}")),
        DigestFault::MalformedAlgorithm
    );
    assert_eq!(
        fault(&format!("sha256+:{EMPTY_SHA256}")),
        DigestFault::MalformedAlgorithm
    );
    assert_eq!(
        fault(&format!("sha256:{EMPTY_SHA256}0")),
        DigestFault::WrongLength {
            algorithm: "sha256",
            expected: 64,
            found: 65
        }
    );
    assert_eq!(
        fault(&format!("sha512:{EMPTY_SHA256}")),
        DigestFault::WrongLength {
            algorithm: "sha512",
            expected: 128,
            found: 64
        }
    );
    assert_eq!(
        fault(&format!("sha256:{}", EMPTY_SHA256.to_uppercase())),
        DigestFault::NotLowercaseHex
    );
    // Path traversal cannot hide in the hex part.
    assert_eq!(
        fault("sha256:../../etc/passwd"),
        DigestFault::NotLowercaseHex
    );
}

#[test]
fn hasher_matches_one_shot_and_write() {
    let data = b"The quick brown fox jumps over the lazy dog";
    for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
        let mut hasher = algorithm.hasher();
        assert_eq!(hasher.algorithm(), algorithm);
        for chunk in data.chunks(5) {
            hasher.write_all(chunk).unwrap();
        }
        hasher.flush().unwrap();
        let digest = hasher.finish();
        assert_eq!(digest, Digest::compute(algorithm, data));
        assert_eq!(digest.hex().len(), algorithm.hex_len());
        assert!(digest.verify(data));
        assert!(!digest.verify(b"something else"));
    }
}

#[test]
fn ordering_and_display() {
    let a = Digest::parse(&format!("sha256:{}", "0".repeat(64))).unwrap();
    let b = Digest::parse(&format!("sha256:{}", "1".repeat(64))).unwrap();
    assert!(a < b);
    assert_eq!(Algorithm::Sha256.to_string(), "sha256");
    assert_eq!(Algorithm::Sha512.as_str(), "sha512");
}

#[test]
fn serde_as_string() {
    let d = Digest::sha256(b"");
    let json = serde_json::to_string(&d).unwrap();
    assert_eq!(json, format!("\"sha256:{EMPTY_SHA256}\""));
    assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
    let err = serde_json::from_str::<Digest>("\"sha256:xyz\"").unwrap_err();
    assert!(
        err.to_string().contains("invalid digest `sha256:xyz`"),
        "{err}"
    );
    assert!(serde_json::from_str::<Digest>("42").is_err());
}
