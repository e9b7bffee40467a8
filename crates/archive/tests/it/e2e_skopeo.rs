//! Independent validation of the writers' outputs with skopeo (and podman where it runs).
//!
//! skopeo must be installed (the CI installs it); set `IMGPULL_SKIP_E2E=1` to skip these
//! tests on a machine without it.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use crate::common::{Layer, Stored, TestImage, index_of, list_of};
use imgpull_archive::{
    ArchiveImage, AtomicFile, DockerArchiveOptions, DockerArchiveWriter, MemorySource,
    OciArchiveWriter, OciLayoutWriter,
};
use imgpull_reference::media_types;
use serde_json::Value;

/// Whether the end-to-end tests run: they do unless `IMGPULL_SKIP_E2E=1`, and then skopeo
/// must be present.
fn enabled() -> bool {
    if std::env::var("IMGPULL_SKIP_E2E").is_ok_and(|v| v == "1") {
        eprintln!("IMGPULL_SKIP_E2E=1: skipping the skopeo checks");
        return false;
    }
    let found = Command::new("skopeo").arg("--version").output();
    assert!(
        found.as_ref().is_ok_and(|o| o.status.success()),
        "skopeo is required for these tests (install it, or set IMGPULL_SKIP_E2E=1): {found:?}"
    );
    true
}

/// Records that a check did not run here, and lets the calling test pass: prints a note (libtest
/// shows it only for a failing test) and appends `check: reason` to `e2e-skips.txt` in cargo's
/// target directory, which `cargo xtask test` lists after the tests. The same file and line as
/// `imgpull_tests::tools::skipped`, which this crate does not depend on (the harness brings an
/// async runtime and an HTTP stack).
fn skipped(check: &str, reason: &str) {
    let reason: Vec<&str> = reason.split_whitespace().collect();
    let line = format!("{check}: {}\n", reason.join(" "));
    eprint!("note: skipped {line}");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("cargo's tmp directory is in the target directory");
    let file = target.join("e2e-skips.txt");
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .and_then(|mut skips| skips.write_all(line.as_bytes()))
        .unwrap_or_else(|error| panic!("cannot record a skip in {}: {error}", file.display()));
}

/// Runs skopeo with `args`, asserting success, and returns its stdout.
fn skopeo(tmp: &Path, args: &[&str]) -> String {
    let output = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .env("TMPDIR", tmp)
        .output()
        .expect("run skopeo");
    assert!(
        output.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

fn inspect(tmp: &Path, target: &str) -> Value {
    serde_json::from_str(&skopeo(tmp, &["inspect", target])).expect("inspect JSON")
}

/// `skopeo inspect --config`: the image config.
fn inspect_config(tmp: &Path, target: &str) -> Value {
    serde_json::from_str(&skopeo(tmp, &["inspect", "--config", target])).expect("config JSON")
}

/// `skopeo inspect` choosing the linux/arm/v7 image of an index.
fn inspect_arm_v7(tmp: &Path, target: &str) -> Value {
    let args = [
        "--override-arch",
        "arm",
        "--override-variant",
        "v7",
        "inspect",
        target,
    ];
    serde_json::from_str(&skopeo(tmp, &args)).expect("inspect JSON")
}

/// `skopeo copy` (of every platform with `all`) into a new OCI layout `tmp/name`, which
/// re-digests every blob.
fn copy_to_layout(tmp: &Path, from: &str, name: &str, all: bool) {
    let to = format!("oci:{}:x", tmp.join(name).display());
    let mut args = vec!["copy"];
    if all {
        args.push("--all");
    }
    args.extend([from, to.as_str()]);
    skopeo(tmp, &args);
}

fn docker_archive(
    path: &Path,
    images: &[ArchiveImage],
    source: &MemorySource,
    options: DockerArchiveOptions,
) {
    let mut writer = DockerArchiveWriter::new(AtomicFile::create(path).unwrap(), options);
    for image in images {
        writer.add_image(image, source).unwrap();
    }
    writer.finish().unwrap().commit().unwrap();
}

/// Checks a docker archive with `skopeo inspect` (selecting `selector` when given) and
/// `skopeo copy` to an OCI layout, which re-hashes every blob. skopeo names the layers of a
/// docker archive by their diff_ids, which it checks when reading them.
fn check_docker_archive(tmp: &Path, path: &Path, selector: Option<&str>, image: &TestImage) {
    let target = match selector {
        Some(s) => format!("docker-archive:{}:{s}", path.display()),
        None => format!("docker-archive:{}", path.display()),
    };
    let info = inspect(tmp, &target);
    assert_eq!(info["Architecture"], image.platform.architecture);
    assert_eq!(info["Os"], image.platform.os);
    let layers: Vec<String> = info["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect();
    let diff_ids: Vec<String> = image
        .layers
        .iter()
        .map(|l| l.diff_id().to_string())
        .collect();
    assert_eq!(layers, diff_ids);
    let config: Value = inspect_config(tmp, &target);
    assert_eq!(
        config["rootfs"]["diff_ids"][0],
        image.layers[0].diff_id().to_string()
    );
    let copy = tmp.join(format!(
        "copy-{}",
        path.file_name().unwrap().to_string_lossy()
    ));
    skopeo(
        tmp,
        &["copy", &target, &format!("oci:{}:x", copy.display())],
    );
    let copied = inspect(tmp, &format!("oci:{}:x", copy.display()));
    assert_eq!(copied["Architecture"], image.platform.architecture);
}

#[test]
fn skopeo_reads_docker_archives() {
    if !enabled() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();

    // A single image with OCI media types and gzip layers.
    let single = TestImage::simple("single", "linux/amd64", Stored::Gzip, false);
    // A Docker schema 2 image.
    let schema2 = TestImage::simple("schema2", "linux/amd64", Stored::Gzip, true);
    // An arm/v7 image chosen from a multi-platform index.
    let arm = TestImage::simple("arm", "linux/arm/v7", Stored::Gzip, true);
    let amd = TestImage::simple("amd", "linux/amd64", Stored::Gzip, true);
    let mut source = MemorySource::new();
    for image in [&single, &schema2, &arm, &amd] {
        image.add_to(&mut source);
    }

    let path = tmp.join("single.tar");
    docker_archive(
        &path,
        &[single.archive_image(&["example.com/single:1"])],
        &source,
        DockerArchiveOptions::default(),
    );
    check_docker_archive(tmp, &path, None, &single);

    let path = tmp.join("schema2.tar");
    docker_archive(
        &path,
        &[schema2.archive_image(&["schema2:latest"])],
        &source,
        DockerArchiveOptions::default(),
    );
    check_docker_archive(tmp, &path, None, &schema2);

    let path = tmp.join("untagged.tar");
    docker_archive(
        &path,
        &[schema2.archive_image(&[])],
        &source,
        DockerArchiveOptions::default(),
    );
    check_docker_archive(tmp, &path, None, &schema2);

    let path = tmp.join("arm.tar");
    let from_index = arm
        .archive_image(&["multi:1"])
        .with_index(index_of(&[&amd, &arm]), media_types::OCI_IMAGE_INDEX);
    docker_archive(
        &path,
        &[from_index],
        &source,
        DockerArchiveOptions::default(),
    );
    check_docker_archive(tmp, &path, None, &arm);

    let path = tmp.join("multi.tar");
    docker_archive(
        &path,
        &[
            single.archive_image(&["one:1"]),
            schema2.archive_image(&["two:2"]),
            arm.archive_image(&[]),
        ],
        &source,
        DockerArchiveOptions::default(),
    );
    check_docker_archive(tmp, &path, Some("one:1"), &single);
    check_docker_archive(tmp, &path, Some("two:2"), &schema2);
    check_docker_archive(tmp, &path, Some("@2"), &arm);

    let path = tmp.join("uncompressed.tar");
    docker_archive(
        &path,
        &[schema2.archive_image(&["raw:1"])],
        &source,
        DockerArchiveOptions {
            uncompressed_layers: true,
        },
    );
    check_docker_archive(tmp, &path, None, &schema2);
}

#[test]
fn skopeo_reads_oci_layouts_and_archives() {
    if !enabled() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    let amd = TestImage::simple("oci-amd", "linux/amd64", Stored::Gzip, false);
    let arm = TestImage::simple("oci-arm", "linux/arm/v7", Stored::Gzip, false);
    let zstd = TestImage::new(
        "linux/amd64",
        vec![Layer::new(&[("z", b"zstd layer")], Stored::Zstd, false)],
        false,
    );
    let mut source = MemorySource::new();
    for image in [&amd, &arm, &zstd] {
        image.add_to(&mut source);
    }

    // One image per tag, and an image with a zstd layer.
    let layout = tmp.join("layout");
    let mut writer = OciLayoutWriter::create(&layout).unwrap();
    writer
        .add_image(&amd.archive_image(&["example.com/app:1.0"]), &source)
        .unwrap();
    writer
        .add_image(&zstd.archive_image(&["example.com/zstd:2.0"]), &source)
        .unwrap();
    // A Docker schema 2 image, converted to OCI media types.
    let schema2 = TestImage::simple("oci-schema2", "linux/amd64", Stored::Gzip, true);
    schema2.add_to(&mut source);
    let converted = writer
        .add_image(
            &schema2.archive_image(&["example.com/schema2:5.0"]),
            &source,
        )
        .unwrap();
    writer.finish().unwrap();
    let info = inspect(tmp, &format!("oci:{}:1.0", layout.display()));
    assert_eq!(info["Digest"], amd.manifest_digest().to_string());
    let info = inspect(tmp, &format!("oci:{}:2.0", layout.display()));
    assert_eq!(info["Digest"], zstd.manifest_digest().to_string());
    let target = format!("oci:{}:5.0", layout.display());
    let info = inspect(tmp, &target);
    assert_eq!(info["Digest"], converted.manifest.digest.to_string());
    let config: Value = inspect_config(tmp, &target);
    assert_eq!(
        config["rootfs"]["diff_ids"][0],
        schema2.layers[0].diff_id().to_string()
    );
    copy_to_layout(tmp, &target, "schema2-copy", false);
    copy_to_layout(
        tmp,
        &format!("oci:{}:1.0", layout.display()),
        "layout-copy",
        false,
    );

    // The same as an OCI archive.
    let archive = tmp.join("app.oci.tar");
    let mut writer = OciArchiveWriter::new(AtomicFile::create(&archive).unwrap());
    writer
        .add_image(&amd.archive_image(&["example.com/app:1.0"]), &source)
        .unwrap();
    writer.finish().unwrap().commit().unwrap();
    let info = inspect(tmp, &format!("oci-archive:{}:1.0", archive.display()));
    assert_eq!(info["Digest"], amd.manifest_digest().to_string());
    copy_to_layout(
        tmp,
        &format!("oci-archive:{}:1.0", archive.display()),
        "archive-copy",
        false,
    );

    // Every platform: the index is kept, and each platform can be chosen.
    let index = index_of(&[&amd, &arm]);
    let all = tmp.join("all");
    let mut writer = OciLayoutWriter::create(&all).unwrap();
    writer
        .add_image(
            &arm.archive_image(&["example.com/multi:3.0"])
                .with_index(index.clone(), media_types::OCI_IMAGE_INDEX),
            &source,
        )
        .unwrap();
    writer.finish().unwrap();
    let target = format!("oci:{}:3.0", all.display());
    let raw: Value = serde_json::from_str(&skopeo(tmp, &["inspect", "--raw", &target])).unwrap();
    assert_eq!(raw["manifests"].as_array().unwrap().len(), 2);
    let info: Value = inspect_arm_v7(tmp, &target);
    assert_eq!(info["Architecture"], "arm");
    let layers: Vec<Value> = arm
        .layers
        .iter()
        .map(|l| Value::from(l.descriptor.digest.to_string()))
        .collect();
    assert_eq!(info["Layers"], Value::from(layers));
    copy_to_layout(tmp, &target, "all-copy", true);

    // A Docker manifest list of schema 2 images is kept the same way.
    let amd2 = TestImage::simple("list-amd", "linux/amd64", Stored::Gzip, true);
    let arm2 = TestImage::simple("list-arm", "linux/arm/v7", Stored::Gzip, true);
    amd2.add_to(&mut source);
    arm2.add_to(&mut source);
    let list = list_of(&[&amd2, &arm2], media_types::DOCKER_MANIFEST_LIST);
    let archive = tmp.join("list.oci.tar");
    let mut writer = OciArchiveWriter::new(AtomicFile::create(&archive).unwrap());
    writer
        .add_image(
            &amd2
                .archive_image(&["example.com/list:4.0"])
                .with_index(list, media_types::DOCKER_MANIFEST_LIST),
            &source,
        )
        .unwrap();
    writer.finish().unwrap().commit().unwrap();
    let target = format!("oci-archive:{}:4.0", archive.display());
    let info: Value = inspect_arm_v7(tmp, &target);
    assert_eq!(info["Architecture"], "arm");
    copy_to_layout(tmp, &target, "list-copy", true);
}

/// `podman load` of docker archives (gzip, zstd inflated, and uncompressed layers; several
/// images in one archive), where podman can run (as root, vfs storage).
/// The check that [`podman_loads_docker_archives_where_it_runs`] skips when podman cannot run.
const PODMAN_LOAD: &str = "imgpull-archive e2e_skopeo: podman load of docker archives";

#[test]
fn podman_loads_docker_archives_where_it_runs() {
    if !enabled() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    let image = TestImage::simple("podman", "linux/amd64", Stored::Gzip, true);
    let oci = TestImage::simple("podman-oci", "linux/amd64", Stored::Gzip, false);
    let zstd = TestImage::new(
        "linux/amd64",
        vec![Layer::new(
            &[("z", b"zstd layer for podman")],
            Stored::Zstd,
            false,
        )],
        false,
    );
    let mut source = MemorySource::new();
    for test in [&image, &oci, &zstd] {
        test.add_to(&mut source);
    }
    let multi = tmp.join("podman.tar");
    docker_archive(
        &multi,
        &[
            image.archive_image(&["example.com/podman:1"]),
            oci.archive_image(&["podman-oci:2"]),
            zstd.archive_image(&["podman-zstd:3"]),
        ],
        &source,
        DockerArchiveOptions::default(),
    );
    let raw = tmp.join("podman-raw.tar");
    docker_archive(
        &raw,
        &[image.archive_image(&["podman-raw:4"])],
        &source,
        DockerArchiveOptions {
            uncompressed_layers: true,
        },
    );

    let storage_conf = tmp.join("storage.conf");
    let (root, run) = (tmp.join("root"), tmp.join("run"));
    std::fs::write(
        &storage_conf,
        format!(
            "[storage]\ndriver = \"vfs\"\nrunroot = \"{}\"\ngraphroot = \"{}\"\n",
            run.display(),
            root.display()
        ),
    )
    .unwrap();
    let podman = |args: &[&str]| {
        Command::new("podman")
            .args(["--storage-driver", "vfs", "--root"])
            .arg(&root)
            .arg("--runroot")
            .arg(&run)
            .args(["--events-backend", "file", "--cgroup-manager", "cgroupfs"])
            .args(args)
            .env("CONTAINERS_STORAGE_CONF", &storage_conf)
            .env("TMPDIR", tmp)
            .output()
    };
    match podman(&["version"]) {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            skipped(PODMAN_LOAD, &format!("podman cannot run here: {stderr}"));
            return;
        }
        Err(e) => {
            skipped(PODMAN_LOAD, &format!("podman is not available here: {e}"));
            return;
        }
    }
    for archive in [&multi, &raw] {
        let out = podman(&["load", "-i", archive.to_str().unwrap()]).unwrap();
        assert!(
            out.status.success(),
            "podman load {} failed: {}",
            archive.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = podman(&[
        "images",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Repository}}:{{.Tag}}",
    ])
    .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    // podman qualifies a short name with `localhost/` or `docker.io/library/`.
    for (test, name) in [
        (&image, "example.com/podman:1"),
        (&oci, "podman-oci:2"),
        (&zstd, "podman-zstd:3"),
        (&image, "podman-raw:4"),
    ] {
        let id = test.config_digest();
        let found = listing.lines().any(|line| {
            line.split_once(' ').is_some_and(|(shown_id, shown_name)| {
                (shown_id == id.to_string() || shown_id == id.hex())
                    && (shown_name == name || shown_name.ends_with(&format!("/{name}")))
            })
        });
        assert!(found, "podman images lacks {name} with ID {id}: {listing}");
    }
}

/// The reader on archives written by another tool: skopeo's docker-archive and oci-archive
/// outputs (from a layout this crate wrote) read back and verified.
#[test]
fn archives_written_by_skopeo_are_read_and_verified() {
    if !enabled() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    let image = TestImage::simple("from-skopeo", "linux/arm/v7", Stored::Gzip, false);
    let mut source = MemorySource::new();
    image.add_to(&mut source);
    let layout = tmp.join("layout");
    let mut writer = OciLayoutWriter::create(&layout).unwrap();
    writer
        .add_image(&image.archive_image(&["example.com/app:1.0"]), &source)
        .unwrap();
    writer.finish().unwrap();
    let from = format!("oci:{}:1.0", layout.display());

    let docker = tmp.join("skopeo-docker.tar");
    skopeo(
        tmp,
        &[
            "copy",
            &from,
            &format!("docker-archive:{}:example.com/app:1.0", docker.display()),
        ],
    );
    let reader = imgpull_archive::ArchiveReader::open(&docker).unwrap();
    assert_eq!(
        reader.format(),
        imgpull_archive::ArchiveFormat::DockerArchive
    );
    let report = reader.verify().unwrap();
    assert_eq!(report.layers, image.layers.len());
    let read = &reader.images()[0];
    assert_eq!(read.names, ["example.com/app:1.0"]);
    assert_eq!(read.config.digest, image.config_digest());
    let diff_ids: Vec<_> = read
        .layers
        .iter()
        .map(|l| l.diff_id.clone().unwrap())
        .collect();
    let expected: Vec<_> = image.layers.iter().map(Layer::diff_id).collect();
    assert_eq!(diff_ids, expected);

    let oci = tmp.join("skopeo-oci.tar");
    skopeo(
        tmp,
        &["copy", &from, &format!("oci-archive:{}:2.0", oci.display())],
    );
    let reader = imgpull_archive::ArchiveReader::open(&oci).unwrap();
    assert_eq!(reader.format(), imgpull_archive::ArchiveFormat::OciArchive);
    reader.verify().unwrap();
    assert_eq!(reader.images()[0].names, ["2.0"]);
    assert_eq!(reader.images()[0].config.digest, image.config_digest());
}
