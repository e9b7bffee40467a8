//! Feeds arbitrary bytes to every parser of `imgpull-reference`.
//!
//! Parsing must never panic, and whatever parses must survive its own string forms: the canonical
//! and familiar forms of a reference parse back to the same reference (with an implied `latest`
//! made explicit), digests and platforms parse back from their `Display`.

#![no_main]

use imgpull_reference::{Digest, Platform, Reference};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };

    if let Ok(reference) = Reference::parse(input) {
        let explicit = match reference.tag_or_default() {
            Some(tag) => reference
                .with_tag(tag)
                .expect("a parsed or default tag is valid"),
            None => reference.clone(),
        };
        let canonical = Reference::parse(&reference.canonical())
            .unwrap_or_else(|e| panic!("canonical form of `{input}` does not parse: {e}"));
        assert_eq!(canonical, explicit, "canonical form of `{input}`");
        let familiar = Reference::parse(&reference.familiar())
            .unwrap_or_else(|e| panic!("familiar form of `{input}` does not parse: {e}"));
        assert_eq!(familiar, explicit, "familiar form of `{input}`");
        assert!(reference.name().len() <= imgpull_reference::NAME_MAX_LEN);
    }

    if let Ok(digest) = Digest::parse(input) {
        assert_eq!(digest.to_string(), input, "digests display as parsed");
        assert_eq!(digest.hex().len(), digest.algorithm().hex_len());
    }

    if let Ok(platform) = Platform::parse(input) {
        if input.contains('/') {
            assert_eq!(platform.to_string(), input, "platforms display as parsed");
        } else {
            // A lone OS or architecture is completed from the host.
            let shown = platform.to_string();
            assert_eq!(Platform::parse(&shown).ok(), Some(platform.clone()), "`{shown}` parses back");
        }
        let normalized = platform.normalized();
        assert_eq!(normalized.normalized(), normalized, "normalisation is idempotent");
        assert!(platform.matches(&normalized), "`{input}` matches its normal form");
    }
});
