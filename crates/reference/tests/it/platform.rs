//! Platform parsing, containerd normalisation and matching.

use imgpull_reference::Platform;

fn p(s: &str) -> Platform {
    Platform::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn parse_and_display() {
    let platform = p("linux/arm64/v8");
    assert_eq!(platform.os, "linux");
    assert_eq!(platform.architecture, "arm64");
    assert_eq!(platform.variant.as_deref(), Some("v8"));
    assert_eq!(platform.to_string(), "linux/arm64/v8");
    assert_eq!(p("windows/amd64").to_string(), "windows/amd64");
    assert_eq!(
        "linux/386".parse::<Platform>().unwrap(),
        Platform::new("linux", "386")
    );
    for bad in [
        "",
        "linux/",
        "/amd64",
        "linux/arm/v7/x",
        "linux/am d64",
        "linux/arm//",
    ] {
        assert!(Platform::parse(bad).is_err(), "`{bad}` parsed");
    }
}

#[test]
fn lone_operating_system_takes_the_host_architecture() {
    let host = Platform::host();
    for (input, normal_os) in [
        ("linux", "linux"),
        ("windows", "windows"),
        ("freebsd", "freebsd"),
        ("Linux", "linux"),
        ("macos", "darwin"),
    ] {
        let platform = p(input);
        // The part given keeps its spelling; the rest is the (normalised) host's.
        assert_eq!(platform.os, input);
        assert_eq!(platform.architecture, host.architecture, "`{input}`");
        assert_eq!(platform.variant, host.variant, "`{input}`");
        assert_eq!(platform.normalized().os, normal_os);
    }
    #[cfg(target_arch = "x86_64")]
    assert_eq!(p("windows").to_string(), "windows/amd64");
    #[cfg(target_arch = "aarch64")]
    assert_eq!(p("windows").to_string(), "windows/arm64");
}

#[test]
fn lone_architecture_is_a_linux_platform_on_every_host() {
    let host_os = "linux";
    let cases = [
        ("arm64", "arm64"),
        ("aarch64", "arm64"),
        ("AArch64", "arm64"),
        ("amd64", "amd64"),
        ("x86_64", "amd64"),
        ("x86-64", "amd64"),
        ("armhf", "arm/v7"),
        ("armel", "arm/v6"),
        ("arm", "arm/v7"),
        ("i386", "386"),
        ("i686", "386"),
        ("386", "386"),
        ("ppc64le", "ppc64le"),
        ("s390x", "s390x"),
        ("riscv64", "riscv64"),
        ("loong64", "loong64"),
        ("wasm", "wasm"),
    ];
    for (input, normal) in cases {
        let platform = p(input);
        assert_eq!(platform.os, host_os, "`{input}`");
        assert_eq!(platform.architecture, input);
        assert_eq!(platform.variant, None, "`{input}`");
        assert_eq!(
            platform.normalized().to_string(),
            format!("{host_os}/{normal}"),
            "normalising `{input}`"
        );
        assert!(platform.matches(&p(&format!("{host_os}/{normal}"))));
    }
    assert_eq!(p("arm64").to_string(), "linux/arm64");
    assert!(p("armhf").matches(&p("linux/arm/v7")));
    assert!(!p("arm64").matches(&p("windows/arm64")));
    assert!(!p("arm64").matches(&p("darwin/arm64")));
}

#[test]
fn lone_parts_display_in_a_form_that_parses_back() {
    for input in ["linux", "windows", "arm64", "aarch64", "armhf", "x86_64"] {
        let platform = p(input);
        assert!(platform.to_string().contains('/'), "`{input}`");
        assert_eq!(p(&platform.to_string()), platform, "`{input}`");
    }
}

#[test]
fn lone_unknown_parts_are_refused() {
    for bad in [
        "plan10", "x86", "armv7", "arm64v8", "latest", "v7", "amd64/",
    ] {
        assert!(Platform::parse(bad).is_err(), "`{bad}` parsed");
    }
}

#[test]
fn normalisation_as_containerd() {
    let cases = [
        ("linux/x86_64", "linux/amd64"),
        ("linux/x86-64", "linux/amd64"),
        ("linux/amd64/v1", "linux/amd64"),
        ("linux/amd64/v3", "linux/amd64/v3"),
        ("linux/aarch64", "linux/arm64"),
        ("linux/arm64/v8", "linux/arm64"),
        ("linux/arm64/8", "linux/arm64"),
        ("linux/arm64/v8.0", "linux/arm64"),
        ("linux/aarch64/9", "linux/arm64/v9"),
        ("linux/armhf", "linux/arm/v7"),
        ("linux/armel", "linux/arm/v6"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/arm/7", "linux/arm/v7"),
        ("linux/arm/6", "linux/arm/v6"),
        ("linux/arm/5", "linux/arm/v5"),
        ("linux/i386", "linux/386"),
        ("linux/i686", "linux/386"),
        ("Linux/AMD64", "linux/amd64"),
        ("macos/arm64", "darwin/arm64"),
        ("linux/ppc64le", "linux/ppc64le"),
        ("linux/s390x", "linux/s390x"),
        ("linux/riscv64", "linux/riscv64"),
    ];
    for (input, expected) in cases {
        assert_eq!(
            p(input).normalized().to_string(),
            expected,
            "normalising `{input}`"
        );
        // Normalisation is idempotent.
        assert_eq!(p(input).normalized().normalized(), p(input).normalized());
    }
}

#[test]
fn effective_variant_defaults() {
    assert_eq!(p("linux/arm64").effective_variant(), Some("v8"));
    assert_eq!(p("linux/arm").effective_variant(), Some("v7"));
    assert_eq!(p("linux/amd64").effective_variant(), Some("v1"));
    assert_eq!(p("linux/s390x").effective_variant(), None);
    assert_eq!(p("linux/arm/v6").effective_variant(), Some("v6"));
}

#[test]
fn exact_matches() {
    let yes = [
        ("linux/arm64", "linux/arm64/v8"),
        ("linux/arm64", "linux/arm64"),
        ("linux/arm64/v8", "linux/arm64"),
        ("linux/aarch64", "linux/arm64/v8"),
        ("linux/amd64", "linux/x86_64"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/arm/v7", "linux/arm"),
        ("linux/armhf", "linux/arm/v7"),
        ("linux/arm/v6", "linux/armel"),
        ("linux/386", "linux/i386"),
        ("windows/amd64", "windows/amd64"),
    ];
    for (requested, candidate) in yes {
        assert!(
            p(requested).matches(&p(candidate)),
            "{requested} should match {candidate}"
        );
    }
    let no = [
        ("linux/arm64", "linux/amd64"),
        ("linux/amd64", "windows/amd64"),
        ("linux/arm64", "linux/arm64/v9"),
        ("linux/arm/v7", "linux/arm/v6"),
        ("linux/arm/v6", "linux/arm/v7"),
        ("linux/amd64", "linux/amd64/v3"),
        ("linux/arm64", "linux/arm/v7"),
        ("linux/amd64", "unknown/unknown"),
    ];
    for (requested, candidate) in no {
        assert!(
            !p(requested).matches(&p(candidate)),
            "{requested} should not match {candidate}"
        );
    }
}

#[test]
fn preference_ranks_older_compatible_variants() {
    let wanted = p("linux/arm/v7");
    assert_eq!(wanted.preference(&p("linux/arm/v7")), Some(0));
    assert_eq!(wanted.preference(&p("linux/arm/v6")), Some(1));
    assert_eq!(wanted.preference(&p("linux/arm/v5")), Some(2));
    assert_eq!(wanted.preference(&p("linux/arm/v8")), None);
    let v3 = p("linux/amd64/v3");
    assert_eq!(v3.preference(&p("linux/amd64")), Some(2));
    assert_eq!(v3.preference(&p("linux/amd64/v2")), Some(1));
    assert_eq!(v3.preference(&p("linux/amd64/v4")), None);
    assert_eq!(p("linux/arm64/v9").preference(&p("linux/arm64")), Some(1));
}

#[test]
fn os_version_and_features() {
    let mut requested = p("windows/amd64");
    let mut candidate = p("windows/amd64");
    candidate.os_version = Some("10.0.17763.1879".into());
    candidate.os_features = vec!["win32k".into()];
    // Nothing requested: any version and features match.
    assert!(requested.matches(&candidate));
    requested.os_version = Some("10.0.17763.1879".into());
    assert!(requested.matches(&candidate));
    requested.os_version = Some("10.0.20348.1".into());
    assert!(!requested.matches(&candidate));
    requested.os_version = None;
    requested.os_features = vec!["win32k".into()];
    assert!(requested.matches(&candidate));
    requested.os_features = vec!["other".into()];
    assert!(!requested.matches(&candidate));
}

#[test]
fn default_target_is_linux_on_the_host_architecture() {
    let (target, host) = (Platform::default_target(), Platform::host());
    assert_eq!(target, target.normalized());
    assert_eq!(target.os, "linux");
    assert_eq!(
        (target.architecture, target.variant),
        (host.architecture, host.variant)
    );
    #[cfg(target_arch = "x86_64")]
    assert_eq!(Platform::default_target().to_string(), "linux/amd64");
    #[cfg(target_arch = "aarch64")]
    assert_eq!(Platform::default_target().to_string(), "linux/arm64");
}

#[test]
fn host_is_normalised() {
    let host = Platform::host();
    assert_eq!(host, host.normalized());
    assert!(host.matches(&host));
    assert!(!host.os.is_empty() && !host.architecture.is_empty());
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    assert_eq!(host.to_string(), "linux/amd64");
    #[cfg(all(target_os = "linux", target_arch = "aarch64"))]
    assert_eq!(host.to_string(), "linux/arm64");
}

#[test]
fn serde_in_oci_shape() {
    let mut platform = p("windows/amd64");
    platform.os_version = Some("10.0.17763.1879".into());
    platform.os_features = vec!["win32k".into()];
    platform.variant = Some("v2".into());
    let json = serde_json::to_string(&platform).unwrap();
    assert_eq!(
        json,
        r#"{"architecture":"amd64","os":"windows","os.version":"10.0.17763.1879","os.features":["win32k"],"variant":"v2"}"#
    );
    assert_eq!(serde_json::from_str::<Platform>(&json).unwrap(), platform);
    let minimal = serde_json::to_string(&p("linux/arm64")).unwrap();
    assert_eq!(minimal, r#"{"architecture":"arm64","os":"linux"}"#);
    assert_eq!(
        serde_json::from_str::<Platform>(
            r#"{"os":"linux","architecture":"arm","variant":"v7","extra":1}"#
        )
        .unwrap(),
        p("linux/arm/v7")
    );
}
