//! What the benchmark times: imgpull in each situation of issue 7, the peers on the same images,
//! and the reference commands. Each case prepares its run (untimed), names the commands to time,
//! and checks afterwards that they produced the whole image, so that no number comes from a run
//! that did less work than it claims.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::image::GeneratedImage;
use super::measure::Invocation;

/// Bytes of manifests imgpull may count as downloaded on top of the blobs.
const MANIFEST_SLACK: u64 = 64 << 10;

/// Everything the cases need to know about the fixture and the programs.
#[derive(Debug)]
pub struct Context {
    /// The `imgpull` binary under test.
    pub imgpull: PathBuf,
    /// The oci-client peer program.
    pub oci_client_peer: PathBuf,
    /// `127.0.0.1:PORT` of the registry.
    pub host: String,
    /// The test CA (PEM).
    pub ca_file: PathBuf,
    /// A directory holding only `ca.crt`, for skopeo.
    pub cert_dir: PathBuf,
    /// An empty directory used as `XDG_CONFIG_HOME`/`DOCKER_CONFIG`, so no user setting applies.
    pub empty_config: PathBuf,
    /// The generated images by name.
    pub images: HashMap<&'static str, GeneratedImage>,
    /// A cache holding the first image, filled once before the timed runs.
    pub warm_cache: PathBuf,
    /// The docker archive of the first image, written once before the timed runs.
    pub warm_archive: PathBuf,
    /// The image in the warm cache.
    pub warm_image: &'static str,
}

impl Context {
    fn image(&self, name: &str) -> Result<&GeneratedImage, String> {
        self.images
            .get(name)
            .ok_or_else(|| format!("no generated image named {name}"))
    }

    fn reference(&self, name: &str) -> String {
        format!("{}/bench/{name}:latest", self.host)
    }

    /// `imgpull pull` of `image` into `output` with the cache `cache` and `extra` options.
    pub fn imgpull(&self, image: &str, output: &Path, cache: &Path, extra: &[&str]) -> Invocation {
        Invocation::new(&self.imgpull)
            .args(["pull", "--quiet", "--json", "--ca-file"])
            .args([
                self.ca_file.as_os_str(),
                "--cache-dir".as_ref(),
                cache.as_os_str(),
                "-o".as_ref(),
                output.as_os_str(),
            ])
            .args(extra.iter().copied())
            .arg(self.reference(image))
            .env("XDG_CONFIG_HOME", &self.empty_config)
            .env("DOCKER_CONFIG", &self.empty_config)
    }
}

/// The cache an imgpull case starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// Empty.
    Cold,
    /// The warm cache itself (a warm pull adds nothing to it).
    Warm,
    /// A private copy of the warm cache (the pull adds blobs to it).
    CopyOfWarm,
}

/// What a case runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `imgpull pull` with extra options.
    Imgpull {
        /// Image name.
        image: &'static str,
        /// Starting cache.
        cache: Cache,
        /// Extra options, e.g. `--format oci`.
        extra: Vec<&'static str>,
    },
    /// `skopeo copy docker://… docker-archive:…`.
    SkopeoArchive(&'static str),
    /// `skopeo copy docker://… dir:…`.
    SkopeoDir(&'static str),
    /// The oci-client peer program.
    OciClient(&'static str),
    /// `curl --parallel` of the image's blobs, then `openssl dgst -sha256` of the files; only the
    /// blobs not in `except` when given.
    Curl {
        /// Image name.
        image: &'static str,
        /// Leave out the blobs of this image.
        except: Option<&'static str>,
    },
    /// `cat` of the warm archive into a new file; with `sync`, then `fsync` of the file and its
    /// directory (what imgpull does by default before and after renaming its output into place).
    Cat {
        /// Whether the copy is made durable.
        sync: bool,
    },
}

/// One timed situation.
#[derive(Debug, Clone)]
pub struct Case {
    /// Stable identifier, e.g. `imgpull/big/cold` (used in the JSON and the targets).
    pub id: String,
    /// What a reader of the table sees.
    pub label: String,
    /// What it runs.
    pub action: Action,
}

impl Case {
    /// A case.
    pub fn new(id: &str, label: &str, action: Action) -> Self {
        Self {
            id: id.to_owned(),
            label: label.to_owned(),
            action,
        }
    }

    /// Whether the case runs imgpull (its peak RSS is a target).
    pub fn is_imgpull(&self) -> bool {
        matches!(self.action, Action::Imgpull { .. })
    }

    /// Prepares `scratch` (an empty directory) for one run and returns the commands to time.
    pub fn prepare(&self, context: &Context, scratch: &Path) -> Result<Vec<Invocation>, String> {
        let out = scratch.join("out");
        Ok(match &self.action {
            Action::Imgpull {
                image,
                cache,
                extra,
            } => {
                let cache_dir = match cache {
                    Cache::Cold => scratch.join("cache"),
                    Cache::Warm => context.warm_cache.clone(),
                    Cache::CopyOfWarm => {
                        let copy = scratch.join("cache");
                        untimed(
                            Command::new("cp")
                                .arg("-a")
                                .arg(&context.warm_cache)
                                .arg(&copy),
                        )?;
                        copy
                    }
                };
                vec![context.imgpull(image, &out, &cache_dir, extra)]
            }
            Action::SkopeoArchive(image) => vec![skopeo(
                context,
                image,
                &format!("docker-archive:{}:bench/{image}:latest", out.display()),
                scratch,
            )],
            Action::SkopeoDir(image) => vec![skopeo(
                context,
                image,
                &format!("dir:{}", out.display()),
                scratch,
            )],
            Action::OciClient(image) => vec![
                Invocation::new(&context.oci_client_peer)
                    .args([
                        "--ca-file".as_ref(),
                        context.ca_file.as_os_str(),
                        "--out".as_ref(),
                        out.as_os_str(),
                    ])
                    .arg(context.reference(image)),
            ],
            Action::Curl { image, except } => {
                fs::create_dir_all(&out)
                    .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
                let blobs = curl_blobs(context, image, *except)?;
                let mut config = String::new();
                for (digest, _) in &blobs {
                    let _ = writeln!(
                        config,
                        "url = \"https://{}/v2/bench/{image}/blobs/{digest}\"\noutput = \"{}\"",
                        context.host,
                        out.join(digest).display()
                    );
                }
                let list = scratch.join("curl.cfg");
                fs::write(&list, config)
                    .map_err(|e| format!("cannot write {}: {e}", list.display()))?;
                let files: Vec<PathBuf> =
                    blobs.iter().map(|(digest, _)| out.join(digest)).collect();
                vec![
                    Invocation::new("curl")
                        .args([
                            "--parallel",
                            "--parallel-max",
                            "64",
                            "--silent",
                            "--no-progress-meter",
                            "--show-error",
                            "--fail",
                            "--cacert",
                        ])
                        .args([
                            context.ca_file.as_os_str(),
                            "--config".as_ref(),
                            list.as_os_str(),
                        ]),
                    Invocation::new("openssl")
                        .args(["dgst", "-sha256"])
                        .args(files),
                ]
            }
            Action::Cat { sync: false } => vec![
                Invocation::new("cat")
                    .args([&context.warm_archive])
                    .stdout_to(out),
            ],
            // One process under GNU time; coreutils `sync FILE…` fsyncs each file it names.
            Action::Cat { sync: true } => vec![
                Invocation::new("sh")
                    .args(["-c", r#"cat "$1" > "$2" && sync "$2" "$3""#, "sh"])
                    .args([context.warm_archive.as_path(), out.as_path(), scratch]),
            ],
        })
    }

    /// Checks one run's results; returns notes about imgpull's own report that look wrong.
    pub fn check(
        &self,
        context: &Context,
        scratch: &Path,
        stdouts: &[String],
    ) -> Result<Vec<String>, String> {
        let out = scratch.join("out");
        let mut notes = Vec::new();
        match &self.action {
            Action::Imgpull {
                image,
                cache,
                extra,
            } => {
                let generated = context.image(image)?;
                if extra.contains(&"oci") {
                    require_file(&out.join("index.json"), 1)?;
                } else {
                    let least = if extra.contains(&"--uncompressed-layers") {
                        generated.uncompressed
                    } else {
                        generated.blob_bytes()
                    };
                    require_file(&out, least)?;
                }
                notes.extend(check_imgpull_report(
                    stdouts.first().map_or("", String::as_str),
                    context,
                    image,
                    *cache,
                ));
            }
            Action::SkopeoArchive(image) => require_file(&out, context.image(image)?.uncompressed)?,
            Action::SkopeoDir(image) => {
                for blob in context.image(image)?.blobs() {
                    require_file(&out.join(blob.hex()), blob.size)?;
                }
            }
            Action::OciClient(image) => {
                let generated = context.image(image)?;
                let expected = format!(
                    "blobs={} bytes={}",
                    generated.layers.len() + 1,
                    generated.blob_bytes()
                );
                let printed = stdouts.first().map_or("", |text| text.trim());
                if printed != expected {
                    return Err(format!(
                        "the oci-client peer printed {printed:?}, expected {expected:?}"
                    ));
                }
            }
            Action::Curl { image, except } => {
                let printed = stdouts.get(1).map_or("", String::as_str);
                for (digest, _) in curl_blobs(context, image, *except)? {
                    let hex = digest.trim_start_matches("sha256:");
                    if !printed
                        .lines()
                        .any(|line| line.ends_with(&format!(")= {hex}")))
                    {
                        return Err(format!("openssl did not confirm blob {digest}: {printed}"));
                    }
                }
            }
            Action::Cat { .. } => {
                let size = fs::metadata(&context.warm_archive)
                    .map_err(|e| format!("cannot stat the warm archive: {e}"))?
                    .len();
                require_file(&out, size)?;
            }
        }
        Ok(notes)
    }
}

/// The blobs (digest, size) a curl case fetches.
fn curl_blobs(
    context: &Context,
    image: &str,
    except: Option<&str>,
) -> Result<Vec<(String, u64)>, String> {
    let skip: Vec<&str> = match except {
        Some(other) => context
            .image(other)?
            .blobs()
            .map(|blob| blob.digest.as_str())
            .collect(),
        None => Vec::new(),
    };
    Ok(context
        .image(image)?
        .blobs()
        .filter(|blob| !skip.contains(&blob.digest.as_str()))
        .map(|blob| (blob.digest.clone(), blob.size))
        .collect())
}

fn skopeo(context: &Context, image: &str, destination: &str, scratch: &Path) -> Invocation {
    Invocation::new("skopeo")
        .args(["copy", "--quiet", "--src-cert-dir"])
        .args([context.cert_dir.as_os_str()])
        .arg(format!("docker://{}", context.reference(image)))
        .arg(destination.to_owned())
        // skopeo stages decompressed layers in TMPDIR: keep them in the run's scratch directory.
        .env("TMPDIR", scratch)
}

/// Runs an untimed preparation command.
fn untimed(command: &mut Command) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed ({status})"))
    }
}

fn require_file(path: &Path, at_least: u64) -> Result<(), String> {
    let size = fs::metadata(path)
        .map_err(|e| format!("expected output {} is missing: {e}", path.display()))?
        .len();
    if size < at_least {
        return Err(format!(
            "{} has {size} bytes, expected at least {at_least}",
            path.display()
        ));
    }
    Ok(())
}

/// Compares imgpull's `--json` cache statistics with what the case's starting cache implies.
fn check_imgpull_report(stdout: &str, context: &Context, image: &str, cache: Cache) -> Vec<String> {
    let Ok(report) = serde_json::from_str::<Value>(stdout.trim()) else {
        return vec![format!("imgpull printed no JSON report: {stdout:?}")];
    };
    let downloaded = report["cache"]["bytes_downloaded"]
        .as_u64()
        .unwrap_or(u64::MAX);
    let Ok(generated) = context.image(image) else {
        return Vec::new();
    };
    // The new layers; the config and manifests may be counted too (a few kilobytes).
    let cached: Vec<&str> = match cache {
        Cache::Cold => Vec::new(),
        Cache::Warm | Cache::CopyOfWarm => context
            .image(context.warm_image)
            .map(|warm| warm.blobs().map(|blob| blob.digest.as_str()).collect())
            .unwrap_or_default(),
    };
    let new_layers: u64 = generated
        .layers
        .iter()
        .filter(|blob| !cached.contains(&blob.digest.as_str()))
        .map(|blob| blob.size)
        .sum();
    let config = if cached.contains(&generated.config.digest.as_str()) {
        0
    } else {
        generated.config.size
    };
    if (new_layers..=new_layers + config + MANIFEST_SLACK).contains(&downloaded) {
        Vec::new()
    } else {
        vec![format!(
            "imgpull reported {downloaded} bytes downloaded for {image}, expected the {new_layers} bytes of the layers not in its cache"
        )]
    }
}
