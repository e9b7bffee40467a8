//! Registry mirrors that serve bad bytes: a layer whose mirror copy fails verification is
//! fetched again from the registry; bad copies everywhere are an integrity error.

use std::fs;
use std::path::{Path, PathBuf};

use imgpull_reference::Digest;
use imgpull_tests::image::{GeneratedImage, ImageSpec, LayerSpec};
use imgpull_tests::push::PushOptions;
use imgpull_tests::real::{RegistryConfig, RegistryServer};
use imgpull_tests::require_e2e;
use imgpull_tests::tools::{DOCKER_REGISTRY, SKOPEO};
use indicatif::HumanBytes;

use crate::support::*;

/// Two TLS registries, the second one a mirror of the first, both holding the same image.
fn registry_and_mirror(
    repository_and_tag: &str,
) -> (RegistryServer, RegistryServer, GeneratedImage) {
    let spec = ImageSpec::new("mirrored")
        .layer(LayerSpec::random(21, 300 << 10))
        .layer(LayerSpec::random(22, 200 << 10));
    let registry = RegistryServer::start(RegistryConfig::tls()).expect("registry");
    let mirror = RegistryServer::start(RegistryConfig::tls()).expect("mirror");
    let options = PushOptions::new();
    let image = push_image(&registry, &spec, &[repository_and_tag], &options);
    let mirrored = push_image(&mirror, &spec, &[repository_and_tag], &options);
    assert_eq!(mirrored, image, "the generated image is the same for both");
    (registry, mirror, image)
}

/// The cache file of a blob.
fn cached_blob(cache: &Path, digest: &str) -> PathBuf {
    cache
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// The partial downloads of a blob left in a cache (`.imgpull/partial`, named after the
/// digest).
fn partials(cache: &Path, digest: &str) -> Vec<PathBuf> {
    let hex = digest.trim_start_matches("sha256:");
    fs::read_dir(cache.join(".imgpull/partial"))
        .map(|entries| {
            entries
                .map(|entry| entry.expect("entry").path())
                .filter(|path| path.to_string_lossy().contains(hex))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_layer_a_mirror_corrupts_is_pulled_from_the_registry_and_corrupt_everywhere_is_exit_6() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let (registry, mirror, image) = registry_and_mirror("team/mirrored:1");
    let layer = &image.layers[0].blob;
    mirror
        .corrupt_blob(&layer.digest)
        .expect("mirror copy corrupted");
    let reference = registry.image_ref("team/mirrored:1");
    let mirror_flag = format!("{}={}", registry.host(), mirror.url());
    let (registry_ca, mirror_ca) = (ca(&registry), ca(&mirror));
    let pull = |sandbox: &Sandbox, output: &str| {
        sandbox.run(&[
            "pull",
            "--json",
            "-o",
            output,
            "--registry-mirror",
            &mirror_flag,
            "--ca-file",
            &registry_ca,
            "--ca-file",
            &mirror_ca,
            &reference,
        ])
    };
    let warning = |stderr: &str| {
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|line| line.starts_with("warning:"))
            .collect();
        assert_eq!(lines.len(), 1, "one warning: {stderr}");
        for part in [&layer.digest, &format!("mirror {}", mirror.url())] {
            assert!(
                lines[0].contains(part.as_str()),
                "`{part}` not in {}",
                lines[0]
            );
        }
    };

    // The mirror's bad copy is thrown away and the registry's is stored.
    let sandbox = Sandbox::new();
    let output = pull(&sandbox, "good.tar");
    assert_success(&output, &["pull", "through a corrupting mirror"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    warning(&stderr);
    // One progress line for the layer, of the registry's download alone.
    let short = &layer.digest[..19];
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with(short))
        .collect();
    let downloaded = format!("{short} downloaded {} in", HumanBytes(layer.size));
    assert!(
        lines.len() == 1 && lines[0].starts_with(&downloaded),
        "{lines:?}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("stdout is one JSON document");
    assert_pulled(&report, &image);
    assert_docker_archive(&sandbox.out().join("good.tar"), &image);
    let stored = fs::read(cached_blob(&sandbox.cache(), &layer.digest)).expect("layer cached");
    assert_eq!(Digest::sha256(&stored).to_string(), layer.digest);
    assert_eq!(
        partials(&sandbox.cache(), &layer.digest),
        Vec::<PathBuf>::new()
    );
    // Every layer was a miss; the mirror's thrown-away copy crossed the network and counts.
    assert_eq!(u64_at(&report, "/cache/hits"), 0);
    assert_eq!(u64_at(&report, "/cache/misses"), image.layers.len() as u64);
    assert_eq!(
        u64_at(&report, "/cache/bytes_downloaded"),
        image.layers_size() + layer.size
    );
    assert_eq!(u64_at(&report, "/cache/bytes_reused"), 0);

    // Bad at the registry too: an integrity error, and nothing unverified is kept.
    registry
        .corrupt_blob(&layer.digest)
        .expect("registry copy corrupted");
    let fresh = Sandbox::new();
    let failed = pull(&fresh, "bad.tar");
    let stderr = expect_error(&failed, 6, Some("integrity"), &[&layer.digest]);
    warning(&stderr);
    assert!(!fresh.out().join("bad.tar").exists());
    assert!(!cached_blob(&fresh.cache(), &layer.digest).exists());
    assert_eq!(
        partials(&fresh.cache(), &layer.digest),
        Vec::<PathBuf>::new()
    );
}
