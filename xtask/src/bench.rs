//! `cargo xtask bench`: times whole-process image pulls by imgpull and its peers against a real
//! registry on 127.0.0.1 (issue 7). See docs/PERFORMANCE.md for what it measures and the results.
//!
//! Steps: build `imgpull` and the oci-client peer program (`xtask/oci-client-peer`, a separate
//! package so that the workspace never compiles oci-client); make a CA with `openssl`; start
//! `docker-registry` with TLS; generate the seeded images as an OCI layout and push them with
//! skopeo (kept under `target/bench/fixture-<key>/` for the next run); pull the first image once
//! into a warm cache; then, round after round, run every case once under GNU time and check its
//! output; finally print the table and write `target/bench/bench{,-quick}.{md,json}`.

mod cases;
mod fixture;
mod image;
mod measure;
mod report;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::shell;
use cases::{Action, Cache, Case, Context};
use fixture::{Pki, Registry};
use image::{Blob, Content, GeneratedImage, ImageSpec, LayerSpec, Layout};
use measure::{Invocation, Meter};
use report::{CaseResult, Report};

/// Bumped whenever the generator's output changes, so that stale fixtures are not reused.
const GENERATOR_VERSION: u32 = 1;
/// Sizes are divided by this with `--quick`.
const QUICK_SCALE: u64 = 64;
/// Runs per case unless `--runs` says otherwise.
const DEFAULT_RUNS: usize = 5;
/// The image whose warm cache and archive the warm cases use.
const WARM_IMAGE: &str = "big";

const OPTIONS: &str = "options: --quick (tiny images, one run, debug builds: checks the harness only), \
                       --runs N (default 5), --fresh (regenerate and push the images), \
                       --imgpull PATH (time this binary instead of building one), \
                       --prepare (only generate and push the images)";

#[derive(Debug)]
struct Options {
    quick: bool,
    runs: usize,
    fresh: bool,
    prepare: bool,
    imgpull: Option<PathBuf>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut options = Self {
            quick: false,
            runs: DEFAULT_RUNS,
            fresh: false,
            prepare: false,
            imgpull: None,
        };
        let mut runs = None;
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--fresh" => options.fresh = true,
                "--prepare" => options.prepare = true,
                "--imgpull" => {
                    options.imgpull =
                        Some(PathBuf::from(args.next().ok_or("--imgpull needs a path")?));
                }
                "--runs" => {
                    let value = args.next().ok_or("--runs needs a number")?;
                    runs = Some(
                        value
                            .parse::<usize>()
                            .ok()
                            .filter(|&n| (1..=100).contains(&n))
                            .ok_or(format!("--runs {value}: expected 1 to 100"))?,
                    );
                }
                other => return Err(format!("unknown option `{other}` for `bench`\n{OPTIONS}")),
            }
        }
        options.runs = runs.unwrap_or(if options.quick { 1 } else { DEFAULT_RUNS });
        Ok(options)
    }
}

/// Runs the benchmark.
pub fn run(args: &[String]) -> Result<(), String> {
    let options = Options::parse(args)?;
    for tool in ["docker-registry", "skopeo", "curl", "openssl", "cp", "cat"] {
        if !shell::on_path(tool) {
            return Err(format!(
                "`{tool}` is not installed (run `cargo xtask setup`)"
            ));
        }
    }
    let root = shell::workspace_root();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let bench_dir = target.join("bench");
    let work = WorkDir::create(bench_dir.join(format!("run-{}", std::process::id())))?;
    let pki = Pki::generate(&work.path.join("pki"))?;
    let specs = plan(if options.quick { QUICK_SCALE } else { 1 });
    let fixture_dir = if options.quick {
        work.path.join("fixture")
    } else {
        bench_dir.join(format!("fixture-{}", fixture_key(&specs)))
    };
    if options.fresh && fixture_dir.exists() {
        fs::remove_dir_all(&fixture_dir)
            .map_err(|e| format!("cannot remove {}: {e}", fixture_dir.display()))?;
    }
    if !options.quick {
        remove_stale_fixtures(&bench_dir, &fixture_dir)?;
    }
    let registry = Registry::start(&fixture_dir.join("registry"), &pki, &work.path)?;
    let images = ensure_images(&fixture_dir, &specs, &registry, &pki)?;
    if options.prepare {
        return Ok(());
    }
    let imgpull = match &options.imgpull {
        Some(path) => {
            fs::canonicalize(path).map_err(|e| format!("--imgpull {}: {e}", path.display()))?
        }
        None => build_imgpull(&target, options.quick)?,
    };
    let peer = build_peer(&root, &bench_dir, options.quick)?;

    let empty_config = work.path.join("config");
    fs::create_dir_all(&empty_config)
        .map_err(|e| format!("cannot create {}: {e}", empty_config.display()))?;
    let context = Context {
        imgpull,
        oci_client_peer: peer,
        host: registry.host(),
        ca_file: pki.ca_file(),
        cert_dir: pki.cert_dir(),
        empty_config,
        images: images
            .iter()
            .map(|image| (image.name, image.clone()))
            .collect(),
        warm_cache: work.path.join("warm/cache"),
        warm_archive: work.path.join("warm/big.tar"),
        warm_image: WARM_IMAGE,
    };
    let timeout = Duration::from_secs(if options.quick { 120 } else { 900 });
    let meter = Meter::new(&work.path.join("meter"), registry.pid(), timeout)?;
    eprintln!("xtask: bench: filling the warm cache with `{WARM_IMAGE}`");
    meter.run(&[context.imgpull(WARM_IMAGE, &context.warm_archive, &context.warm_cache, &[])])?;

    let cases = cases();
    let mut results: Vec<CaseResult> = cases
        .iter()
        .map(|case| CaseResult {
            case: case.clone(),
            commands: Vec::new(),
            samples: Vec::new(),
        })
        .collect();
    let mut notes = Vec::new();
    let load_start = load_average();
    for round in 1..=options.runs {
        for result in &mut results {
            let scratch = work.path.join("scratch");
            fs::create_dir_all(&scratch)
                .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
            let steps = result.case.prepare(&context, &scratch)?;
            let (sample, stdouts) = meter
                .run(&steps)
                .map_err(|e| format!("{}: {e}", result.case.id))?;
            for note in result
                .case
                .check(&context, &scratch, &stdouts)
                .map_err(|e| format!("{}: {e}", result.case.id))?
            {
                let note = format!("{}: {note}", result.case.id);
                if !notes.contains(&note) {
                    notes.push(note);
                }
            }
            fs::remove_dir_all(&scratch)
                .map_err(|e| format!("cannot remove {}: {e}", scratch.display()))?;
            eprintln!(
                "xtask: bench: round {round}/{}: {:<26} {:>7.2} s  cpu {:>6.2} s  registry {:>6.2} s  rss {:>6.1} MiB",
                options.runs,
                result.case.id,
                sample.wall,
                sample.cpu(),
                sample.server_cpu,
                sample.max_rss_kib as f64 / 1024.0
            );
            if result.commands.is_empty() {
                result.commands = steps.iter().map(Invocation::describe).collect();
            }
            result.samples.push(sample);
        }
    }
    let report = Report {
        machine: machine(),
        imgpull: format!("{} ({})", context.imgpull.display(), revision(&root)),
        load: (load_start, load_average()),
        runs: options.runs,
        quick: options.quick,
        images,
        results,
        notes,
    };
    drop(registry);
    let markdown = report.markdown();
    print!("{markdown}");
    let name = if options.quick {
        "bench-quick"
    } else {
        "bench"
    };
    let json = serde_json::to_string_pretty(&report.json())
        .map_err(|e| format!("cannot encode the report: {e}"))?;
    for (path, contents) in [
        (bench_dir.join(format!("{name}.md")), markdown),
        (bench_dir.join(format!("{name}.json")), json),
    ] {
        fs::write(&path, contents).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("xtask: bench: wrote {}", path.display());
    }
    Ok(())
}

/// The images of issue 7, sizes divided by `scale`: `big` (≈ 450 MB compressed: two random
/// 150 MiB layers, two 200 MiB text layers that gzip about 3:1, two tiny ones), `big2` (4 of
/// big's layers and 2 new), `double` (big's six kinds of layer in the same order, the four large
/// ones twice as large, all with other seeds: twice the bytes in as many layers, for peak RSS),
/// `many` (40 random 1 MiB layers) and `many4` (160 of them: four times the layers, for peak RSS).
fn plan(scale: u64) -> Vec<ImageSpec> {
    let mib = |n: u64| (n << 20) / scale;
    let random = |seed, size| LayerSpec {
        seed,
        size,
        content: Content::Random,
    };
    let text = |seed, size| LayerSpec {
        seed,
        size,
        content: Content::Text,
    };
    let (tiny_text, tiny_random) = (8 << 10, 32 << 10);
    // big's shape: tiny text, random, text, random, text, tiny random; `seeds` in that order.
    let shaped = |seeds: [u64; 6], factor: u64| {
        vec![
            text(seeds[0], tiny_text),
            random(seeds[1], mib(150 * factor)),
            text(seeds[2], mib(200 * factor)),
            random(seeds[3], mib(150 * factor)),
            text(seeds[4], mib(200 * factor)),
            random(seeds[5], tiny_random),
        ]
    };
    let many = |first_seed: u64, count: u64| {
        (first_seed..first_seed + count)
            .map(|seed| random(seed, mib(1)))
            .collect()
    };
    vec![
        ImageSpec {
            name: "big",
            layers: shaped([5, 1, 3, 2, 4, 6], 1),
        },
        ImageSpec {
            name: "big2",
            layers: shaped([5, 1, 3, 7, 8, 6], 1),
        },
        ImageSpec {
            name: "double",
            layers: shaped([11, 12, 13, 14, 15, 16], 2),
        },
        ImageSpec {
            name: "many",
            layers: many(100, 40),
        },
        ImageSpec {
            name: "many4",
            layers: many(1000, 160),
        },
    ]
}

/// Removes the fixtures of earlier image plans (`fixture-<other key>`, about 2 GB each): only
/// `keep` can be reused.
fn remove_stale_fixtures(bench_dir: &Path, keep: &Path) -> Result<(), String> {
    let Ok(entries) = fs::read_dir(bench_dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let stale = path != keep
            && path.is_dir()
            && entry.file_name().to_string_lossy().starts_with("fixture-");
        if stale {
            eprintln!(
                "xtask: bench: removing the stale fixture {}",
                path.display()
            );
            fs::remove_dir_all(&path)
                .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// Every timed case, in the order of a round.
fn cases() -> Vec<Case> {
    let imgpull = |image, cache, extra: &[&'static str]| Action::Imgpull {
        image,
        cache,
        extra: extra.to_vec(),
    };
    vec![
        Case::new(
            "imgpull/big/cold",
            "imgpull big, cold cache",
            imgpull("big", Cache::Cold, &[]),
        ),
        Case::new(
            "imgpull/big/cold-sync",
            "imgpull big, cold cache, --sync",
            imgpull("big", Cache::Cold, &["--sync"]),
        ),
        Case::new(
            "imgpull/big/warm",
            "imgpull big, warm cache",
            imgpull("big", Cache::Warm, &[]),
        ),
        Case::new(
            "imgpull/big/warm-sync",
            "imgpull big, warm cache, --sync",
            imgpull("big", Cache::Warm, &["--sync"]),
        ),
        Case::new(
            "imgpull/big2/after-big",
            "imgpull big2 after big",
            imgpull("big2", Cache::CopyOfWarm, &[]),
        ),
        Case::new(
            "imgpull/big/oci",
            "imgpull big --format oci, cold",
            imgpull("big", Cache::Cold, &["--format", "oci"]),
        ),
        Case::new(
            "imgpull/big/uncompressed",
            "imgpull big --uncompressed-layers, cold",
            imgpull("big", Cache::Cold, &["--uncompressed-layers"]),
        ),
        Case::new(
            "imgpull/double/cold",
            "imgpull double (big's layers at 2× the size), cold",
            imgpull("double", Cache::Cold, &[]),
        ),
        Case::new(
            "imgpull/many/cold",
            "imgpull many, cold cache",
            imgpull("many", Cache::Cold, &[]),
        ),
        Case::new(
            "imgpull/many4/cold",
            "imgpull many4, cold cache",
            imgpull("many4", Cache::Cold, &[]),
        ),
        Case::new(
            "oci-client/big",
            "oci-client big (blobs to files)",
            Action::OciClient("big"),
        ),
        Case::new(
            "skopeo-archive/big",
            "skopeo big → docker-archive",
            Action::SkopeoArchive("big"),
        ),
        Case::new(
            "skopeo-dir/big",
            "skopeo big → dir",
            Action::SkopeoDir("big"),
        ),
        Case::new(
            "curl/big",
            "curl --parallel + openssl dgst, big",
            Action::Curl {
                image: "big",
                except: None,
            },
        ),
        Case::new(
            "curl/big2-new",
            "curl + openssl, big2's 2 new layers",
            Action::Curl {
                image: "big2",
                except: Some("big"),
            },
        ),
        Case::new(
            "cat/big",
            "cat big's archive > new file",
            Action::Cat { sync: false },
        ),
        Case::new(
            "cat-sync/big",
            "cat big's archive > new file, then fsync it and its directory",
            Action::Cat { sync: true },
        ),
        Case::new(
            "oci-client/many",
            "oci-client many",
            Action::OciClient("many"),
        ),
        Case::new(
            "skopeo-archive/many",
            "skopeo many → docker-archive",
            Action::SkopeoArchive("many"),
        ),
        Case::new(
            "skopeo-dir/many",
            "skopeo many → dir",
            Action::SkopeoDir("many"),
        ),
        Case::new(
            "curl/many",
            "curl --parallel + openssl dgst, many",
            Action::Curl {
                image: "many",
                except: None,
            },
        ),
    ]
}

/// `cargo build` of the imgpull binary: release for real numbers, debug (what `cargo xtask test`
/// builds anyway) for `--quick`.
fn build_imgpull(target: &Path, quick: bool) -> Result<PathBuf, String> {
    let mut command = shell::cargo();
    command.args(["build", "--package", "imgpull", "--bin", "imgpull"]);
    if !quick {
        command.arg("--release");
    }
    shell::run(&mut command)?;
    Ok(target
        .join(if quick { "debug" } else { "release" })
        .join("imgpull"))
}

/// `cargo build` of the oci-client peer, a package outside the workspace with its own lock file
/// and target directory.
fn build_peer(root: &Path, bench_dir: &Path, quick: bool) -> Result<PathBuf, String> {
    let peer_target = bench_dir.join("peer-target");
    let mut command = shell::cargo();
    command
        .args(["build", "--locked", "--manifest-path"])
        .arg(root.join("xtask/oci-client-peer/Cargo.toml"))
        .arg("--target-dir")
        .arg(&peer_target);
    if !quick {
        command.arg("--release");
    }
    shell::run(&mut command)?;
    Ok(peer_target
        .join(if quick { "debug" } else { "release" })
        .join("oci-client-peer"))
}

/// A stable name for a set of image specs (and the generator version).
fn fixture_key(specs: &[ImageSpec]) -> String {
    let digest = Sha256::digest(format!("{GENERATOR_VERSION} {specs:?}").as_bytes());
    hex::encode(&digest[..6])
}

/// The images in the registry: read from `images.json` when an earlier run pushed them to this
/// fixture, otherwise generated, pushed with skopeo and recorded (the layout is then removed).
fn ensure_images(
    fixture_dir: &Path,
    specs: &[ImageSpec],
    registry: &Registry,
    pki: &Pki,
) -> Result<Vec<GeneratedImage>, String> {
    let record = fixture_dir.join("images.json");
    if let Ok(text) = fs::read_to_string(&record) {
        eprintln!(
            "xtask: bench: reusing the images pushed earlier to {}",
            fixture_dir.display()
        );
        return images_from_json(&text, specs);
    }
    let layout_dir = fixture_dir.join("layout");
    if layout_dir.exists() {
        fs::remove_dir_all(&layout_dir)
            .map_err(|e| format!("cannot remove {}: {e}", layout_dir.display()))?;
    }
    let mut layout = Layout::create(&layout_dir)?;
    let mut images = Vec::new();
    for spec in specs {
        eprintln!("xtask: bench: generating image `{}`", spec.name);
        let image = layout.add(spec)?;
        shell::run(
            shell::without_proxy(&mut Command::new("skopeo"))
                .args(["copy", "--quiet", "--dest-cert-dir"])
                .arg(pki.cert_dir())
                .arg(layout.transport_ref(spec.name))
                .arg(format!(
                    "docker://{}/bench/{}:latest",
                    registry.host(),
                    spec.name
                )),
        )?;
        images.push(image);
    }
    let json = serde_json::to_string_pretty(&images_to_json(&images))
        .map_err(|e| format!("cannot encode {}: {e}", record.display()))?;
    fs::write(&record, json).map_err(|e| format!("cannot write {}: {e}", record.display()))?;
    fs::remove_dir_all(&layout_dir)
        .map_err(|e| format!("cannot remove {}: {e}", layout_dir.display()))?;
    Ok(images)
}

fn images_to_json(images: &[GeneratedImage]) -> Value {
    let blob = |blob: &Blob| json!({"digest": blob.digest, "size": blob.size});
    Value::Array(
        images
            .iter()
            .map(|image| {
                json!({
                    "name": image.name,
                    "manifest": blob(&image.manifest),
                    "config": blob(&image.config),
                    "layers": image.layers.iter().map(blob).collect::<Vec<_>>(),
                    "uncompressed": image.uncompressed,
                })
            })
            .collect(),
    )
}

fn images_from_json(text: &str, specs: &[ImageSpec]) -> Result<Vec<GeneratedImage>, String> {
    let invalid =
        || "the fixture's images.json is invalid: run `cargo xtask bench --fresh`".to_owned();
    let value: Value = serde_json::from_str(text).map_err(|_| invalid())?;
    let blob = |value: &Value| -> Option<Blob> {
        Some(Blob {
            digest: value["digest"].as_str()?.to_owned(),
            size: value["size"].as_u64()?,
        })
    };
    let by_name: HashMap<&str, &Value> = value
        .as_array()
        .ok_or_else(invalid)?
        .iter()
        .filter_map(|image| Some((image["name"].as_str()?, image)))
        .collect();
    let image = |spec: &ImageSpec| -> Option<GeneratedImage> {
        let image = by_name.get(spec.name)?;
        Some(GeneratedImage {
            name: spec.name,
            manifest: blob(&image["manifest"])?,
            config: blob(&image["config"])?,
            layers: image["layers"]
                .as_array()?
                .iter()
                .map(blob)
                .collect::<Option<_>>()?,
            uncompressed: image["uncompressed"].as_u64()?,
        })
    };
    specs
        .iter()
        .map(|spec| image(spec).ok_or_else(invalid))
        .collect()
}

/// CPU model, cores and memory, from /proc.
fn machine() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| {
            line.strip_prefix("model name")
                .and_then(|rest| rest.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = cpuinfo
        .lines()
        .filter(|line| line.starts_with("processor"))
        .count();
    let memory_kib: u64 = fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            line.strip_prefix("MemTotal:")?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {cores} cores, {:.1} GiB RAM, Linux {}",
        memory_kib as f64 / f64::from(1 << 20),
        kernel.trim()
    )
}

/// The workspace's git revision, and whether its tree has uncommitted changes.
fn revision(root: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .current_dir(root)
            .args(args)
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    match (
        git(&["rev-parse", "--short", "HEAD"]),
        git(&["status", "--porcelain", "--untracked-files=no"]),
    ) {
        (Some(commit), Some(changes)) if changes.is_empty() => {
            format!("workspace at commit {commit}")
        }
        (Some(commit), Some(_)) => format!("workspace at commit {commit} with uncommitted changes"),
        _ => "revision unknown".to_owned(),
    }
}

/// The 1, 5 and 15 minute load averages.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A working directory removed (with everything in it) when dropped.
struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    fn create(path: PathBuf) -> Result<Self, String> {
        if path.exists() {
            fs::remove_dir_all(&path)
                .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
        }
        fs::create_dir_all(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(Self { path })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_matches_issue_7() {
        let specs = plan(1);
        let names: Vec<&str> = specs.iter().map(|spec| spec.name).collect();
        assert_eq!(names, ["big", "big2", "double", "many", "many4"]);
        let [big, big2, double, many, many4] = [0, 1, 2, 3, 4].map(|i| &specs[i].layers);
        assert_eq!(big.len(), 6);
        assert_eq!(big2.iter().filter(|layer| big.contains(layer)).count(), 4);
        // double: big's kinds in big's order, each large layer twice as large, no seed reused.
        let kinds = |layers: &[LayerSpec]| layers.iter().map(|l| l.content).collect::<Vec<_>>();
        assert_eq!(kinds(double), kinds(big));
        for (large, small) in double.iter().zip(big.iter()).skip(1).take(4) {
            assert_eq!(large.size, 2 * small.size);
        }
        let size = |layers: &[LayerSpec]| layers.iter().map(|layer| layer.size).sum::<u64>();
        assert_eq!(size(double), 2 * size(big) - 8 * 1024 - 32 * 1024);
        assert_eq!((many.len(), many[0].size), (40, 1 << 20));
        assert_eq!((many4.len(), many4[0].size), (160, 1 << 20));
        // Apart from the 4 layers big2 takes from big, every layer has a seed of its own.
        let mut seeds: Vec<u64> = [big2, double, many, many4]
            .into_iter()
            .flatten()
            .filter(|layer| !big.contains(layer))
            .chain(big)
            .map(|layer| layer.seed)
            .collect();
        let layers = seeds.len();
        seeds.sort_unstable();
        seeds.dedup();
        assert_eq!((layers, seeds.len()), (6 + 2 + 6 + 40 + 160, layers));
        assert!(plan(QUICK_SCALE)[0].layers[1].size < 4 << 20);
        assert_ne!(fixture_key(&specs), fixture_key(&plan(QUICK_SCALE)));
    }

    #[test]
    fn recorded_images_read_back() {
        let image = GeneratedImage {
            name: "big",
            manifest: Blob {
                digest: "sha256:aa".into(),
                size: 1,
            },
            config: Blob {
                digest: "sha256:bb".into(),
                size: 2,
            },
            layers: vec![Blob {
                digest: "sha256:cc".into(),
                size: 3,
            }],
            uncompressed: 9,
        };
        let text = images_to_json(std::slice::from_ref(&image)).to_string();
        let specs = &plan(1)[..1];
        let back = images_from_json(&text, specs).unwrap();
        assert_eq!(
            (back[0].layers.clone(), back[0].uncompressed),
            (image.layers, 9)
        );
        assert!(images_from_json("[]", specs).is_err());
    }

    #[test]
    fn options() {
        let parse = |args: &[&str]| {
            Options::parse(&args.iter().map(ToString::to_string).collect::<Vec<_>>())
        };
        assert_eq!(parse(&[]).unwrap().runs, DEFAULT_RUNS);
        assert_eq!(parse(&["--quick"]).unwrap().runs, 1);
        let options = parse(&["--runs", "3", "--fresh"]).unwrap();
        assert!(options.fresh && !options.quick && options.runs == 3 && options.imgpull.is_none());
        let options = parse(&["--imgpull", "/bin/imgpull", "--prepare"]).unwrap();
        assert!(options.prepare);
        assert_eq!(options.imgpull, Some(PathBuf::from("/bin/imgpull")));
        assert!(parse(&["--imgpull"]).is_err());
        assert!(parse(&["--runs", "0"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
    }
}
