//! `imgpull pull`: the whole pipeline, in the order it happens, in [`run`].

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use imgpull_archive::{ArchiveImage, Durability, WrittenImage};
use imgpull_blobstore::{DiffIdEntry, Lease, StatsRecorder, Store};
use imgpull_reference::{Descriptor, Digest, Reference, media_types};
use imgpull_registry::{Client, MAX_DESCRIPTOR_SIZE, PlatformChoice, ResolvedImage};
use serde::Deserialize;

use super::arrivals::{Arrivals, ArrivingSource};
use super::fetch::{self, Download, Fetcher};
use super::output::{self, ArchiveJob, Destination};
use crate::cli::{Format, PullArgs};
use crate::config::{self, ConfigFile};
use crate::error::CliError;
use crate::naming::{self, NameParts};
use crate::report::{CacheReport, ImageReport, PullReport};
use crate::signal::Cancel;
use crate::ui::{PullProgress, Ui};

/// Pulls the images of `args` into the cache and writes them as one archive.
pub async fn run(args: PullArgs, ui: Ui, cancel: Cancel) -> Result<(), CliError> {
    // 1. Settings: config file, references, options that only make sense together.
    let config = ConfigFile::load(args.registry.config.as_deref())?;
    let references = args
        .images
        .iter()
        .map(|text| super::parse_reference(text))
        .collect::<Result<Vec<_>, _>>()?;
    let extra_tag = extra_tag(args.tag.as_deref(), &references)?;
    check_options(&args)?;
    let choice = super::platform_choice(args.platform.as_deref(), args.all_platforms, &config)?;
    let concurrency = usize::from(config::concurrency(args.max_concurrent_downloads, &config));

    // 2. One registry client for every image; one cache, leased until the end so that no
    // `cache prune` or `clear` removes a blob this pull found present. Opening it blocks on
    // the disk (and the lease on a running prune): a blocking thread.
    let registries: Vec<&str> = references.iter().map(Reference::registry).collect();
    let client = super::registry_client(&args.registry, &config, &registries)?;
    let cache_dir = if args.no_cache {
        None
    } else {
        Some(config::cache_dir(args.cache_dir.as_deref(), &config)?)
    };
    let (store, _lease) = tokio::task::spawn_blocking(move || open_store(cache_dir)).await??;
    let store = Arc::new(store);

    // 3. Resolve every image, concurrently: manifests and configs (small, verified) before
    // any layer.
    let pulled = Arc::new(
        futures_util::future::try_join_all(
            references
                .iter()
                .map(|reference| Pulled::resolve(&client, reference, &choice)),
        )
        .await?,
    );

    // 4. Decide the output now, so that a refused name costs no download.
    let gzip = args.gzip || args.output.as_deref().is_some_and(naming::wants_gzip);
    let destination = destination(&args, &pulled, extra_tag.as_ref(), gzip)?;

    // 5. Store what was already fetched and plan the downloads: every missing blob, largest
    // first (on a blocking thread: each stored document is fsynced).
    let progress = ui.pull_progress();
    let stats = Arc::new(StatsRecorder::default());
    let downloads = {
        let (store, pulled, progress, stats) = (
            Arc::clone(&store),
            Arc::clone(&pulled),
            progress.clone(),
            Arc::clone(&stats),
        );
        tokio::task::spawn_blocking(move || plan_downloads(&store, &pulled, &progress, &stats))
            .await??
    };

    // 6. Download, and meanwhile write the archive in one streaming pass from the cache (a
    // blocking thread whose reads of a blob still on its way wait for it).
    let arrivals = Arc::new(Arrivals::new(
        downloads
            .iter()
            .map(|download| download.descriptor.digest.clone()),
    ));
    let job = ArchiveJob {
        destination: destination.clone(),
        format: args.format,
        gzip,
        uncompressed_layers: args.uncompressed_layers,
        durability: if args.sync || config.sync {
            Durability::Synced
        } else {
            Durability::Unsynced
        },
        // A default name was checked to hold the same images (or --force was given).
        replace_layout: args.output.is_none(),
        images: pulled
            .iter()
            .map(|image| image.archive_image(extra_tag.as_ref()))
            .collect(),
    };
    let writing = {
        let (store, arrivals, cancel) = (Arc::clone(&store), Arc::clone(&arrivals), cancel.clone());
        tokio::task::spawn_blocking(move || {
            output::write_archive(
                &job,
                &ArrivingSource::new(&store, &arrivals, &cancel),
                &cancel,
            )
        })
    };
    let fetcher = Fetcher {
        client,
        store: Arc::clone(&store),
        arrivals: Arc::clone(&arrivals),
        progress: progress.clone(),
        stats: Arc::clone(&stats),
    };
    let written = download_while_writing(&fetcher, downloads, concurrency, writing).await?;
    progress.finish();

    // 7. Remember the images in the cache's index.json (and the diff_ids the archive writer
    // verified while inflating layers), and tell the user. The index locks may be held by
    // another process: a blocking thread.
    if !args.no_cache {
        let images: Vec<(Reference, Descriptor)> = pulled
            .iter()
            .map(|image| (image.reference.clone(), image.top_descriptor()))
            .collect();
        let diff_ids = verified_diff_ids(&written);
        let store = Arc::clone(&store);
        tokio::task::spawn_blocking(move || {
            for (reference, top) in &images {
                store.record_image(reference, top)?;
            }
            store.record_diff_ids(diff_ids)
        })
        .await??;
    }
    for note in written.iter().flat_map(|image| &image.notes) {
        ui.note(&format!("note: {note}"));
    }
    let report = report(&destination, &pulled, &written, &stats);
    let load = load_command(&destination, args.format);
    ui.pull_summary(&report, load.as_deref());
    Ok(())
}

/// Stores the documents already fetched (manifests, index, configs) and lists the blobs the
/// cache lacks, each once, largest first. A layer whose uncompressed copy is cached (from
/// `cache import`) is a hit: the archive writer substitutes the copy.
fn plan_downloads(
    store: &Store,
    pulled: &[Pulled],
    progress: &PullProgress,
    stats: &StatsRecorder,
) -> Result<Vec<Download>, CliError> {
    let mut downloads = Vec::new();
    let mut seen = HashSet::new();
    for image in pulled {
        for (digest, bytes) in image.documents() {
            store.put(digest, bytes)?;
        }
        for extra in &image.extra_blobs {
            if seen.insert(extra.descriptor.digest.clone()) {
                downloads.push(extra.clone());
            }
        }
        for (layer, diff_id) in image.layers() {
            if !seen.insert(layer.digest.clone()) {
                continue;
            }
            if !store.contains(&layer.digest) && diff_id.is_some_and(|id| store.contains(id)) {
                stats.hit(layer.size);
                progress.expect_bytes(layer.size);
                progress.cached(&layer.digest.to_string(), layer.size);
                continue;
            }
            downloads.push(Download {
                reference: image.reference.clone(),
                descriptor: layer.clone(),
            });
        }
    }
    downloads.sort_by_key(|download| std::cmp::Reverse(download.descriptor.size));
    let total = downloads
        .iter()
        .try_fold(0_u64, |total, d| total.checked_add(d.descriptor.size))
        .ok_or_else(|| CliError::InvalidDocument {
            what: "the manifests of this pull".to_owned(),
            reason: "their blob sizes add up to more than 2^64 bytes".to_owned(),
        })?;
    progress.expect_bytes(total);
    Ok(downloads)
}

/// Runs the downloads while the archive writer (already started) consumes their blobs.
///
/// A download failure stops the writer (which removes its temporary file) before the error is
/// returned; a writer failure (an unwritable output, a full disk) stops the downloads at once,
/// keeping their partial files.
async fn download_while_writing(
    fetcher: &Fetcher,
    downloads: Vec<Download>,
    concurrency: usize,
    mut writing: tokio::task::JoinHandle<Result<Vec<WrittenImage>, CliError>>,
) -> Result<Vec<WrittenImage>, CliError> {
    let downloaded = tokio::select! {
        downloaded = fetch::download_all(fetcher, downloads, concurrency) => downloaded,
        written = &mut writing => {
            // The writer ended first: it failed (dropping the downloads stops them), or every
            // blob it needed has arrived and the last download tasks are merely returning.
            return written?;
        }
    };
    if downloaded.is_err() {
        fetcher.arrivals.fail();
    } else {
        fetcher.progress.phase("writing the archive");
    }
    let written = writing.await?;
    downloaded?;
    written
}

/// `--tag NAME:TAG`: a name for the one image of the pull (typically pulled by digest).
fn extra_tag(tag: Option<&str>, references: &[Reference]) -> Result<Option<Reference>, CliError> {
    let Some(tag) = tag else { return Ok(None) };
    if references.len() != 1 {
        return Err(CliError::Usage(
            "--tag names one image; pull one image with it".to_owned(),
        ));
    }
    let reference = super::parse_reference(tag)?;
    if reference.tag().is_none() || reference.digest().is_some() {
        return Err(CliError::Usage(format!(
            "--tag {tag}: expected NAME:TAG, without a digest"
        )));
    }
    Ok(Some(reference))
}

fn check_options(args: &PullArgs) -> Result<(), CliError> {
    if args.all_platforms && args.format == Format::Docker {
        return Err(CliError::Usage(
            "--all-platforms keeps a whole index, which only OCI outputs hold: add --format oci or oci-archive"
                .to_owned(),
        ));
    }
    if args.format == Format::Oci && (args.gzip || args.uncompressed_layers) {
        return Err(CliError::Usage(
            "--gzip and --uncompressed-layers apply to tar outputs, not to --format oci".to_owned(),
        ));
    }
    let to_stdout = args
        .output
        .as_deref()
        .is_some_and(|path| path.as_os_str() == "-");
    if to_stdout && args.json {
        return Err(CliError::Usage(
            "-o - writes the archive to stdout, where --json would write too: choose one"
                .to_owned(),
        ));
    }
    if to_stdout && args.format == Format::Oci {
        return Err(CliError::Usage(
            "--format oci writes a directory; use --format oci-archive to write to stdout"
                .to_owned(),
        ));
    }
    if args.format == Format::OciArchive && args.uncompressed_layers {
        return Err(CliError::Usage(
            "--uncompressed-layers applies to the docker format; OCI outputs keep the registry's layers".to_owned(),
        ));
    }
    Ok(())
}

/// The cache in `dir` (`None`: a temporary one, `--no-cache`) and a lease on it.
fn open_store(dir: Option<PathBuf>) -> Result<(Store, Lease), CliError> {
    let store = match dir {
        Some(dir) => Store::open(dir)?,
        None => Store::temporary()?,
    };
    let lease = store.lease()?;
    Ok((store, lease))
}

/// `-o PATH`, `-o -`, or the default name derived from the images (checked not to replace a
/// different image).
fn destination(
    args: &PullArgs,
    pulled: &[Pulled],
    extra_tag: Option<&Reference>,
    gzip: bool,
) -> Result<Destination, CliError> {
    match &args.output {
        Some(path) if path.as_os_str() == "-" => Ok(Destination::Stdout),
        Some(path) => {
            let parent = path
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty());
            if let Some(parent) = parent.filter(|parent| !parent.is_dir()) {
                return Err(CliError::Io {
                    action: "write the output into",
                    path: parent.to_path_buf(),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                });
            }
            if args.format != Format::Oci && path.is_dir() {
                return Err(CliError::Usage(format!(
                    "-o {}: a directory; the {} format writes a file (name it, e.g. -o {}/image.tar)",
                    path.display(),
                    if args.format == Format::Docker {
                        "docker"
                    } else {
                        "oci-archive"
                    },
                    path.display()
                )));
            }
            Ok(Destination::Path(path.clone()))
        }
        None => {
            let parts: Vec<NameParts<'_>> = pulled.iter().map(Pulled::name_parts).collect();
            let name = naming::default_output_name(&parts, args.format, gzip).ok_or_else(|| {
                CliError::Usage(
                    "too many images for a default output name; name the output with -o".to_owned(),
                )
            })?;
            let path = PathBuf::from(name);
            let wanted: BTreeSet<String> = pulled
                .iter()
                .flat_map(|image| image.keys(extra_tag))
                .collect();
            output::check_existing(&path, &wanted, args.force)?;
            Ok(Destination::Path(path))
        }
    }
}

/// The `rootfs.diff_ids` of an image config.
#[derive(Debug, Default, Deserialize)]
struct ConfigRootfs {
    #[serde(default)]
    rootfs: Option<Rootfs>,
}

#[derive(Debug, Default, Deserialize)]
struct Rootfs {
    #[serde(default)]
    diff_ids: Vec<Digest>,
}

/// The config and layer descriptors of a manifest that `resolve` did not return (attestations).
#[derive(Debug, Deserialize)]
struct ManifestBlobs {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// One reference of the pull, resolved.
#[derive(Debug)]
struct Pulled {
    reference: Reference,
    /// One image, or one per platform with `--all-platforms`.
    images: Vec<ResolvedImage>,
    /// The diff_ids of each image's layers (in image order; empty when the config has none).
    diff_ids: Vec<Vec<Digest>>,
    /// Manifests of the index that are not images of `images` (attestations, unknown
    /// platforms), fetched so that OCI outputs can keep the whole index.
    extra_manifests: Vec<(Digest, Vec<u8>)>,
    /// The blobs of `extra_manifests`.
    extra_blobs: Vec<Download>,
    /// Whether every platform is kept.
    all_platforms: bool,
    /// The platform chosen from an index, as the default output name shows it.
    chosen_platform: Option<String>,
}

impl Pulled {
    async fn resolve(
        client: &Client,
        reference: &Reference,
        choice: &PlatformChoice,
    ) -> Result<Self, CliError> {
        let images = client.resolve(reference, choice).await?;
        let Some(first) = images.first() else {
            return Err(CliError::NoImage(reference.to_string()));
        };
        let all_platforms = *choice == PlatformChoice::All;
        let chosen_platform = match (&first.index, &first.platform) {
            (Some(_), Some(platform)) if !all_platforms => Some(platform.to_string()),
            _ => None,
        };
        let diff_ids = images
            .iter()
            .map(|image| {
                serde_json::from_slice::<ConfigRootfs>(&image.config_bytes)
                    .ok()
                    .and_then(|config| config.rootfs)
                    .map(|rootfs| rootfs.diff_ids)
                    .filter(|ids| ids.len() == image.layers.len())
                    .unwrap_or_default()
            })
            .collect();
        let mut pulled = Self {
            reference: reference.clone(),
            images,
            diff_ids,
            extra_manifests: Vec::new(),
            extra_blobs: Vec::new(),
            all_platforms,
            chosen_platform,
        };
        if pulled.all_platforms {
            pulled.fetch_rest_of_index(client).await?;
        }
        Ok(pulled)
    }

    /// Fetches what the OCI writer needs of the index beyond the images `resolve` returned:
    /// the other image manifests (attestations, `unknown/unknown`) and their blobs, nested
    /// indexes and what they list, and entries of other media types (artifacts), fetched as
    /// they are.
    async fn fetch_rest_of_index(&mut self, client: &Client) -> Result<(), CliError> {
        #[derive(Deserialize)]
        struct IndexEntries {
            #[serde(default)]
            manifests: Vec<Descriptor>,
        }
        /// Indexes below the top one that are walked; the archive writer refuses deeper ones.
        const MAX_NESTED: usize = 3;
        let Some(index) = self.images.first().and_then(|image| image.index.clone()) else {
            return Ok(());
        };
        let mut known: HashSet<Digest> = self
            .images
            .iter()
            .map(|image| image.manifest.digest.clone())
            .chain([index.digest.clone()])
            .collect();
        let mut indexes = vec![(index.digest, index.bytes, 0)];
        while let Some((digest, bytes, depth)) = indexes.pop() {
            let entries: IndexEntries =
                serde_json::from_slice(&bytes).map_err(|error| CliError::InvalidDocument {
                    what: format!("index {digest} of {}", self.reference),
                    reason: error.to_string(),
                })?;
            for entry in entries.manifests {
                if !known.insert(entry.digest.clone()) {
                    continue;
                }
                let reference = self.reference.with_digest(entry.digest.clone());
                if media_types::is_image_manifest(&entry.media_type) {
                    let manifest = client.manifest(&reference).await?;
                    let blobs: ManifestBlobs =
                        serde_json::from_slice(&manifest.bytes).map_err(|error| {
                            CliError::InvalidDocument {
                                what: format!("manifest {} of {}", entry.digest, self.reference),
                                reason: error.to_string(),
                            }
                        })?;
                    self.fetch_blobs_of(
                        &entry.digest,
                        std::iter::once(blobs.config).chain(blobs.layers),
                    )?;
                    self.extra_manifests.push((manifest.digest, manifest.bytes));
                } else if media_types::is_index(&entry.media_type) {
                    if depth >= MAX_NESTED {
                        return Err(CliError::InvalidDocument {
                            what: format!("index {} of {}", entry.digest, self.reference),
                            reason: format!(
                                "indexes nested more than {MAX_NESTED} deep, which an OCI output does not take"
                            ),
                        });
                    }
                    let nested = client.manifest(&reference).await?;
                    indexes.push((nested.digest.clone(), nested.bytes.clone(), depth + 1));
                    self.extra_manifests.push((nested.digest, nested.bytes));
                } else {
                    // An artifact (a signature, an SBOM, a type imgpull does not know): kept
                    // with the blobs it refers to, which the layout must hold.
                    let bytes = client.index_entry(&self.reference, &entry).await?;
                    self.fetch_blobs_of(&entry.digest, imgpull_archive::artifact_blobs(&bytes))?;
                    self.extra_manifests.push((entry.digest, bytes));
                }
            }
        }
        Ok(())
    }

    /// Adds the blobs `descriptors` of the manifest `manifest` to the downloads.
    fn fetch_blobs_of(
        &mut self,
        manifest: &Digest,
        descriptors: impl IntoIterator<Item = Descriptor>,
    ) -> Result<(), CliError> {
        for descriptor in descriptors {
            if descriptor.size > MAX_DESCRIPTOR_SIZE {
                return Err(CliError::InvalidDocument {
                    what: format!("manifest {manifest} of {}", self.reference),
                    reason: format!(
                        "{} has size {}, above the OCI spec's int64",
                        descriptor.digest, descriptor.size
                    ),
                });
            }
            self.extra_blobs.push(Download {
                reference: self.reference.clone(),
                descriptor,
            });
        }
        Ok(())
    }

    /// Manifests, index and configs already in memory, to store as blobs.
    fn documents(&self) -> impl Iterator<Item = (&Digest, &[u8])> {
        let index = self.images.first().and_then(|image| image.index.as_ref());
        index
            .map(|index| (&index.digest, index.bytes.as_slice()))
            .into_iter()
            .chain(self.images.iter().flat_map(|image| {
                [
                    (&image.manifest.digest, image.manifest.bytes.as_slice()),
                    (&image.config.digest, image.config_bytes.as_slice()),
                ]
            }))
            .chain(
                self.extra_manifests
                    .iter()
                    .map(|(digest, bytes)| (digest, bytes.as_slice())),
            )
    }

    /// Every layer with its diff_id when the config gives it.
    fn layers(&self) -> impl Iterator<Item = (&Descriptor, Option<&Digest>)> {
        self.images
            .iter()
            .zip(&self.diff_ids)
            .flat_map(|(image, ids)| {
                image
                    .layers
                    .iter()
                    .enumerate()
                    .map(move |(i, layer)| (layer, ids.get(i)))
            })
    }

    /// What the archive writer needs: tags, manifest (and the index for every platform).
    fn archive_image(&self, extra_tag: Option<&Reference>) -> ArchiveImage {
        let image = &self.images[0];
        let mut archive =
            ArchiveImage::new(image.manifest.bytes.clone(), &image.manifest.media_type);
        archive
            .manifest_descriptor
            .platform
            .clone_from(&image.platform);
        for name in self.names(extra_tag) {
            archive = archive.with_tag(name);
        }
        match (&image.index, self.all_platforms) {
            (Some(index), true) => archive.with_index(index.bytes.clone(), &index.media_type),
            _ => archive,
        }
    }

    /// The names the image is written under: the reference's tag (none for a reference by
    /// digest alone, which loads untagged) and `--tag`.
    fn names(&self, extra_tag: Option<&Reference>) -> Vec<Reference> {
        let mut names = Vec::new();
        if self.reference.tag().is_some() || self.reference.digest().is_none() {
            names.push(self.reference.without_digest());
        }
        names.extend(extra_tag.cloned());
        names
    }

    /// The manifest (or index, with every platform) recorded in the cache's index.json.
    fn top_descriptor(&self) -> Descriptor {
        let image = &self.images[0];
        if let (Some(index), true) = (&image.index, self.all_platforms) {
            return index.descriptor();
        }
        let mut descriptor = image.manifest.descriptor();
        descriptor.platform.clone_from(&image.platform);
        descriptor
    }

    fn name_parts(&self) -> NameParts<'_> {
        NameParts {
            registry: self.reference.registry(),
            repository: self.reference.repository(),
            tag: self.reference.tag(),
            digest_hex: self.reference.digest().map(Digest::hex),
            platform: self.chosen_platform.as_deref(),
        }
    }

    /// The keys an archive of this image holds (see [`output::image_keys`]).
    fn keys(&self, extra_tag: Option<&Reference>) -> BTreeSet<String> {
        output::image_keys(
            &self.names(extra_tag),
            &self.top_descriptor().digest.to_string(),
        )
    }
}

/// The diff_ids the archive writer checked (inflated layers): the only (diff_id, blob) pairs
/// known to be true, since a config's claim alone is not proof.
fn verified_diff_ids(written: &[WrittenImage]) -> Vec<(Digest, DiffIdEntry)> {
    written
        .iter()
        .flat_map(|image| &image.layers)
        .filter(|layer| layer.diff_id_verified)
        .filter_map(|layer| {
            let diff_id = layer.diff_id.clone()?;
            let entry = DiffIdEntry {
                blob: layer.original.digest.clone(),
                media_type: layer.original.media_type.clone(),
            };
            Some((diff_id, entry))
        })
        .collect()
}

fn report(
    destination: &Destination,
    pulled: &[Pulled],
    written: &[WrittenImage],
    stats: &StatsRecorder,
) -> PullReport {
    let stats = stats.snapshot();
    PullReport {
        output: destination.display(),
        images: pulled
            .iter()
            .zip(written)
            .map(|(image, written)| ImageReport {
                reference: image.reference.to_string(),
                manifest_digest: written.top.digest.to_string(),
                config_digest: written.config.digest.to_string(),
                platform: if image.all_platforms {
                    None
                } else {
                    image.images[0].platform.as_ref().map(ToString::to_string)
                },
                layers: written.layers.len(),
            })
            .collect(),
        cache: CacheReport {
            hits: stats.hits,
            misses: stats.misses,
            bytes_downloaded: stats.bytes_downloaded,
            bytes_reused: stats.bytes_reused,
        },
    }
}

/// The command that loads the output, for the summary.
fn load_command(destination: &Destination, format: Format) -> Option<String> {
    let Destination::Path(path) = destination else {
        return None;
    };
    let path = path.display();
    Some(match format {
        Format::Docker => format!("docker load -i {path}"),
        Format::OciArchive => {
            format!("podman load -i {path}  (or: skopeo copy oci-archive:{path} …)")
        }
        Format::Oci => format!("skopeo copy oci:{path} …"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn checked(args: &[&str]) -> Result<(), CliError> {
        let cli = crate::cli::Cli::try_parse_from(["imgpull", "pull"].iter().chain(args))
            .expect("parses");
        let crate::cli::Command::Pull(pull) = cli.command else {
            panic!("expected pull");
        };
        check_options(&pull)
    }

    #[test]
    fn options_that_cannot_work_together_are_usage_errors() {
        for args in [
            &["--all-platforms", "a"][..],
            &["--format", "oci", "--gzip", "a"],
            &["--format", "oci", "-o", "-", "a"],
            &["--format", "oci-archive", "--uncompressed-layers", "a"],
            &["--json", "-o", "-", "a"],
        ] {
            let error = checked(args).expect_err(&format!("{args:?}"));
            assert_eq!(error.kind().exit_code(), 2, "{args:?}");
        }
        for args in [
            &["a"][..],
            &["--all-platforms", "--format", "oci-archive", "a"],
            &["-o", "-", "--gzip", "a"],
            &["--uncompressed-layers", "--json", "a"],
        ] {
            assert!(checked(args).is_ok(), "{args:?}");
        }
    }

    #[test]
    fn extra_tag_needs_one_image_and_a_tag() {
        let one = [Reference::parse(
            "ghcr.io/o/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        )
        .expect("reference")];
        let tag = extra_tag(Some("app:1.0"), &one)
            .expect("valid")
            .expect("some");
        assert_eq!(tag.canonical(), "docker.io/library/app:1.0");
        assert!(extra_tag(Some("app"), &one).is_err(), "a tag is required");
        let two = [one[0].clone(), one[0].clone()];
        assert!(extra_tag(Some("app:1"), &two).is_err());
        assert!(extra_tag(None, &two).expect("no tag").is_none());
    }
}
