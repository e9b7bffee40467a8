//! Property tests: round trips through the string forms, and no panics on any input.

use imgpull_reference::{Digest, Platform, Reference};
use proptest::prelude::*;

fn registry() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("docker.io".to_owned())),
        Just(Some("index.docker.io".to_owned())),
        Just(Some("registry-1.docker.io".to_owned())),
        Just(Some("localhost".to_owned())),
        "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?(\\.[a-zA-Z0-9]{1,6}){1,3}(:[0-9]{1,5})?".prop_map(Some),
        "[a-z]{1,8}:[0-9]{1,5}".prop_map(Some),
        "\\[[0-9a-f]{0,4}(:[0-9a-f]{0,4}){2,7}\\](:[0-9]{1,5})?".prop_map(Some),
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z0-9]{1,6}(([._]|__|-{1,3})[a-z0-9]{1,6}){0,2}", 1..4)
        .prop_map(|components| components.join("/"))
}

fn tag() -> impl Strategy<Value = Option<String>> {
    prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
}

fn digest() -> impl Strategy<Value = Option<Digest>> {
    prop::option::of(prop_oneof![
        any::<[u8; 32]>().prop_map(Digest::from_sha256_bytes),
        any::<Vec<u8>>().prop_map(|bytes| Digest::sha512(&bytes)),
    ])
}

fn assemble(
    registry: Option<&str>,
    path: &str,
    tag: Option<&str>,
    digest: Option<&Digest>,
) -> String {
    let mut s = String::new();
    if let Some(registry) = registry {
        s.push_str(registry);
        s.push('/');
    }
    s.push_str(path);
    if let Some(tag) = tag {
        s.push(':');
        s.push_str(tag);
    }
    if let Some(digest) = digest {
        s.push('@');
        s.push_str(&digest.to_string());
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_references_parse_and_round_trip(
        registry in registry(),
        path in path(),
        tag in tag(),
        digest in digest(),
    ) {
        // Without a registry, a first component with `.` would itself be read as a registry.
        prop_assume!(registry.is_some() || !path.split('/').next().unwrap_or_default().contains('.'));
        let input = assemble(registry.as_deref(), &path, tag.as_deref(), digest.as_ref());
        let r = match Reference::parse(&input) {
            Ok(r) => r,
            Err(imgpull_reference::ReferenceError::NameTooLong { .. }) => {
                return Err(TestCaseError::reject("name longer than 255"));
            }
            Err(e) => return Err(TestCaseError::fail(format!("`{input}`: {e}"))),
        };
        prop_assert_eq!(r.tag(), tag.as_deref());
        prop_assert_eq!(r.digest(), digest.as_ref());
        prop_assert!(r.repository().ends_with(&path));

        // Display adds `:latest` only when there is neither tag nor digest.
        let explicit = match r.tag_or_default() {
            Some(t) => r.with_tag(t).unwrap(),
            None => r.clone(),
        };
        prop_assert_eq!(&Reference::parse(&r.to_string()).unwrap(), &explicit);
        prop_assert_eq!(&Reference::parse(&r.familiar()).unwrap(), &explicit);
        if r.tag().is_some() || r.digest().is_some() {
            prop_assert_eq!(&Reference::parse(&r.to_string()).unwrap(), &r);
        }
    }

    #[test]
    fn parse_never_panics_on_arbitrary_strings(s in any::<String>()) {
        let _ = Reference::parse(&s);
        let _ = Digest::parse(&s);
        let _ = Platform::parse(&s);
    }

    #[test]
    fn parse_never_panics_on_reference_like_strings(s in "[a-zA-Z0-9:/@._\\-\\[\\]%+ ]{0,96}") {
        if let Ok(r) = Reference::parse(&s) {
            // Whatever parses has a canonical form that parses to the same canonical form.
            let again = Reference::parse(&r.canonical()).unwrap();
            prop_assert_eq!(again.canonical(), r.canonical());
            prop_assert!(r.name().len() <= imgpull_reference::NAME_MAX_LEN);
        }
    }

    #[test]
    fn digests_round_trip(bytes in any::<[u8; 32]>()) {
        let d = Digest::from_sha256_bytes(bytes);
        prop_assert_eq!(Digest::parse(&d.to_string()).unwrap(), d.clone());
        prop_assert!(d.hex().bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }

    #[test]
    fn platforms_round_trip(s in "[a-z0-9_.-]{1,10}/[a-z0-9_.-]{1,10}(/[a-z0-9_.-]{1,10})?") {
        let platform = Platform::parse(&s).unwrap();
        prop_assert_eq!(platform.to_string(), s);
        let normalized = platform.normalized();
        prop_assert_eq!(Platform::parse(&normalized.to_string()).unwrap().normalized(), normalized.clone());
        prop_assert!(platform.matches(&normalized));
        prop_assert!(normalized.matches(&platform));
    }

    #[test]
    fn lone_platform_parts_complete_to_a_platform_that_round_trips(s in prop_oneof![
        "[A-Za-z0-9_.-]{1,10}",
        prop::sample::select(&["linux", "Windows", "macos", "aarch64", "ARMHF", "x86_64", "arm", "i686"][..])
            .prop_map(str::to_owned),
    ]) {
        if let Ok(platform) = Platform::parse(&s) {
            // Exactly one of OS and architecture is the part given; the other is the host's.
            prop_assert!(platform.os == s || platform.architecture == s);
            prop_assert_eq!(Platform::parse(&platform.to_string()).unwrap(), platform.clone());
            prop_assert!(platform.matches(&platform.normalized()));
        }
    }
}
