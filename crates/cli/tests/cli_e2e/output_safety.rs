//! Replacing an output: the old one stays whole until the new one is complete.

use std::fs;

use imgpull_archive::ArchiveReader;
use imgpull_reference::{Digest, Platform};
use imgpull_tests::fake::{FakeRegistry, Fault};
use imgpull_tests::tools;

use crate::support::*;

/// The manifest digests of the OCI layout at `path`, each of whose blobs must hash to its name.
fn layout_manifests(path: &std::path::Path) -> Vec<String> {
    for entry in fs::read_dir(path.join("blobs/sha256")).expect("blobs") {
        let entry = entry.expect("entry");
        let bytes = fs::read(entry.path()).expect("blob");
        assert_eq!(
            Digest::sha256(&bytes).hex(),
            entry.file_name().to_string_lossy(),
            "{}",
            entry.path().display()
        );
    }
    let reader = ArchiveReader::open(path).expect("a readable layout");
    reader
        .images()
        .iter()
        .map(|image| {
            image
                .manifest
                .as_ref()
                .expect("a manifest")
                .digest
                .to_string()
        })
        .collect()
}

#[test]
fn a_failed_pull_over_an_oci_layout_leaves_the_old_layout_whole() {
    // A wiremock registry (to corrupt one blob on demand); it needs no external tool.
    if tools::skip_e2e() {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let registry = runtime.block_on(FakeRegistry::start());
    let platform = Platform::default_target();
    let old = registry.push_image("team/app", Some("1"), &platform, &[vec![1_u8; 50_000]]);
    let sandbox = Sandbox::new();
    let reference = format!("{}/team/app:1", registry.host());
    let pull = |extra: &[&str]| {
        let mut args = vec!["pull", "--json", "--format", "oci", "--no-cache"];
        args.extend_from_slice(extra);
        args.push(&reference);
        sandbox.run(&args)
    };
    let report: serde_json::Value =
        serde_json::from_slice(&pull(&[]).stdout).expect("the first pull succeeds");
    let layout = sandbox.out().join(str_at(&report, "/output"));
    assert_eq!(
        layout_manifests(&layout),
        [old.descriptor.digest.to_string()]
    );
    let index = fs::read(layout.join("index.json")).expect("index.json");

    // The tag now names another image, whose layer the registry corrupts: the replacing pull
    // fails (exit 6) after the layout writer started, and the old layout is untouched.
    let new = registry.push_image("team/app", Some("1"), &platform, &[vec![2_u8; 50_000]]);
    registry.inject(
        &format!("/blobs/{}", new.layers[0].digest),
        Fault::CorruptBytes,
        usize::MAX,
    );
    let failed = pull(&["--force"]);
    expect_error(&failed, 6, Some("integrity"), &[]);
    assert_eq!(fs::read(layout.join("index.json")).expect("kept"), index);
    assert_eq!(
        layout_manifests(&layout),
        [old.descriptor.digest.to_string()]
    );
    let names: Vec<_> = fs::read_dir(sandbox.out())
        .expect("out")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temporary directory is left: {names:?}");

    // Once the registry serves the layer intact, the layout is replaced.
    registry.clear_faults();
    let replaced = pull(&["--force"]);
    assert_success(&replaced, &["pull", "--force"]);
    assert_eq!(
        layout_manifests(&layout),
        [new.descriptor.digest.to_string()]
    );
    let names: Vec<_> = fs::read_dir(sandbox.out()).expect("out").collect();
    assert_eq!(names.len(), 1, "the old layout is removed");
}
