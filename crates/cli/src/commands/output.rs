//! Writing the archive: one streaming pass over the cached blobs into a temporary file that is
//! renamed into place at the end (or into stdout), and the check that keeps a default output
//! name from silently replacing a different image.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufWriter, Stdout, Write};
use std::path::{Path, PathBuf};

use imgpull_archive::{
    ArchiveImage, ArchiveReader, AtomicFile, BlobSource, DockerArchiveOptions, DockerArchiveWriter,
    Durability, FileOutput, GzipWriter, OciArchiveWriter, OciLayoutWriter, WrittenImage,
};
use imgpull_reference::Reference;

use crate::cli::Format;
use crate::error::CliError;
use crate::signal::{Cancel, CancelWriter};

/// Write buffer for stdout; files are buffered by [`AtomicFile`].
const STDOUT_BUFFER: usize = 1 << 20;

/// Where the archive goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A file or (for `--format oci`) a directory.
    Path(PathBuf),
    /// Standard output (`-o -`).
    Stdout,
}

impl Destination {
    /// How the destination is shown: the path, or `-`.
    pub fn display(&self) -> String {
        match self {
            Self::Path(path) => path.display().to_string(),
            Self::Stdout => "-".to_owned(),
        }
    }
}

/// Everything needed to write one archive.
#[derive(Debug)]
pub struct ArchiveJob {
    /// Where to write.
    pub destination: Destination,
    /// Which layout.
    pub format: Format,
    /// Compress the whole archive.
    pub gzip: bool,
    /// Inflate every layer (docker format).
    pub uncompressed_layers: bool,
    /// Whether the output is fsynced before it is renamed into place (`--sync`).
    pub durability: Durability,
    /// Replace an existing OCI layout at the destination (`--format oci`), once the new one is
    /// complete; a tar is always replaced atomically.
    pub replace_layout: bool,
    /// The images, in order.
    pub images: Vec<ArchiveImage>,
}

/// Writes the archive from the blobs of `source`; stops at the next write once `cancel` is
/// raised, leaving nothing under the destination's name.
pub fn write_archive(
    job: &ArchiveJob,
    source: &dyn BlobSource,
    cancel: &Cancel,
) -> Result<Vec<WrittenImage>, CliError> {
    match (job.format, &job.destination) {
        (Format::Oci, Destination::Path(path)) => {
            // An existing layout is replaced only by `finish`, once the new one is complete:
            // a failure or a signal before leaves it as it was.
            let mut writer = if job.replace_layout {
                OciLayoutWriter::create_replacing(path, job.durability)?
            } else {
                OciLayoutWriter::create_with(path, job.durability)?
            };
            let written = add_all(&job.images, |image| writer.add_image(image, source), cancel)?;
            // The layout's files are not written through a `CancelWriter`: look before the
            // rename that makes it appear (dropping the writer removes its temporary directory).
            if cancel.is_cancelled() {
                return Err(CliError::Interrupted);
            }
            writer.finish()?;
            Ok(written)
        }
        (Format::Oci, Destination::Stdout) => Err(CliError::Usage(
            "--format oci writes a directory; use --format oci-archive to write to stdout"
                .to_owned(),
        )),
        (Format::Docker, _) => {
            let options = DockerArchiveOptions {
                uncompressed_layers: job.uncompressed_layers,
            };
            let mut writer = DockerArchiveWriter::for_file(Sink::open(job, cancel)?, options);
            let written = add_all(&job.images, |image| writer.add_image(image, source), cancel)?;
            writer.finish()?.finish(cancel)?;
            Ok(written)
        }
        (Format::OciArchive, _) => {
            let mut writer = OciArchiveWriter::for_file(Sink::open(job, cancel)?);
            let written = add_all(&job.images, |image| writer.add_image(image, source), cancel)?;
            writer.finish()?.finish(cancel)?;
            Ok(written)
        }
    }
}

fn add_all(
    images: &[ArchiveImage],
    mut add: impl FnMut(&ArchiveImage) -> Result<WrittenImage, imgpull_archive::ArchiveError>,
    cancel: &Cancel,
) -> Result<Vec<WrittenImage>, CliError> {
    let mut written = Vec::with_capacity(images.len());
    for image in images {
        if cancel.is_cancelled() {
            return Err(CliError::Interrupted);
        }
        match add(image) {
            Ok(image) => written.push(image),
            Err(_) if cancel.is_cancelled() => return Err(CliError::Interrupted),
            Err(error) => return Err(error.into()),
        }
    }
    Ok(written)
}

/// The byte sink of a tar archive: cancellable, into a file that appears only when complete
/// (which the archive writer may also write to directly: blobs copied file to file, layers
/// inflated in one pass), or through gzip or into stdout.
enum Sink {
    /// A plain tar file. Every write and every direct use of the file looks at the
    /// cancellation flag first, as [`CancelWriter`] does for the streams.
    File { file: AtomicFile, cancel: Cancel },
    /// Compressed, or standard output.
    Stream(CancelWriter<Compressed>),
}

enum Compressed {
    Plain(Target),
    Gzip(Box<GzipWriter<Target>>),
}

enum Target {
    File(AtomicFile),
    Stdout(BufWriter<Stdout>),
}

impl Sink {
    fn open(job: &ArchiveJob, cancel: &Cancel) -> Result<Self, CliError> {
        let target = match &job.destination {
            Destination::Path(path) if !job.gzip => {
                return Ok(Self::File {
                    file: AtomicFile::create_with(path, job.durability)?,
                    cancel: cancel.clone(),
                });
            }
            Destination::Path(path) => Target::File(AtomicFile::create_with(path, job.durability)?),
            Destination::Stdout => {
                Target::Stdout(BufWriter::with_capacity(STDOUT_BUFFER, io::stdout()))
            }
        };
        let compressed = if job.gzip {
            Compressed::Gzip(Box::new(GzipWriter::new(target)))
        } else {
            Compressed::Plain(target)
        };
        Ok(Self::Stream(CancelWriter::new(compressed, cancel.clone())))
    }

    /// Ends the gzip stream and renames the file into place, unless a signal came first.
    fn finish(self, cancel: &Cancel) -> Result<(), CliError> {
        let target = match self {
            Self::File { file, .. } => Target::File(file),
            Self::Stream(stream) => match stream.into_inner() {
                Compressed::Plain(target) => target,
                Compressed::Gzip(gzip) => gzip.finish()?,
            },
        };
        if cancel.is_cancelled() {
            return Err(CliError::Interrupted);
        }
        match target {
            Target::File(file) => {
                file.commit()?;
            }
            Target::Stdout(mut stdout) => stdout.flush().map_err(|source| CliError::Io {
                action: "write the archive to",
                path: "standard output".into(),
                source,
            })?,
        }
        Ok(())
    }
}

/// The error of a write after a signal.
fn cancelled(cancel: &Cancel) -> io::Result<()> {
    if cancel.is_cancelled() {
        Err(io::Error::other("cancelled by signal"))
    } else {
        Ok(())
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::File { file, cancel } => {
                cancelled(cancel)?;
                file.write(buf)
            }
            Self::Stream(stream) => stream.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Self::File { file, cancel } => {
                cancelled(cancel)?;
                file.write_all(buf)
            }
            Self::Stream(stream) => stream.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::File { file, cancel } => {
                cancelled(cancel)?;
                file.flush()
            }
            Self::Stream(stream) => stream.flush(),
        }
    }
}

impl FileOutput for Sink {
    fn file(&mut self) -> io::Result<Option<&mut File>> {
        match self {
            Self::File { file, cancel } => {
                cancelled(cancel)?;
                file.file()
            }
            Self::Stream(_) => Ok(None),
        }
    }
}

impl Write for Compressed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(target) => target.write(buf),
            Self::Gzip(gzip) => gzip.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(target) => target.flush(),
            Self::Gzip(gzip) => gzip.flush(),
        }
    }
}

impl Write for Target {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::File(file) => file.write(buf),
            Self::Stdout(stdout) => stdout.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::File(file) => file.flush(),
            Self::Stdout(stdout) => stdout.flush(),
        }
    }
}

/// What an archive holds, as comparable keys: the canonical name of each tagged image, or
/// `@<manifest digest>` for an untagged one.
pub fn image_keys(names: &[Reference], manifest_digest: &str) -> BTreeSet<String> {
    if names.is_empty() {
        return BTreeSet::from([format!("@{manifest_digest}")]);
    }
    names
        .iter()
        .map(|name| name.without_digest().canonical())
        .collect()
}

/// Refuses to replace an existing output at `path` that holds other images than `wanted`
/// (see [`image_keys`]); `force` skips the check. A file that is not a readable archive is
/// never replaced without `force`. Reading the names costs a pass over the tar's headers (a
/// gzip-compressed one is decompressed to a temporary file first).
pub fn check_existing(path: &Path, wanted: &BTreeSet<String>, force: bool) -> Result<(), CliError> {
    if force || !path.exists() {
        return Ok(());
    }
    let refuse = |existing: String| CliError::OutputExists {
        path: path.to_path_buf(),
        existing,
        wanted: wanted.iter().cloned().collect::<Vec<_>>().join(", "),
    };
    let Ok(reader) = ArchiveReader::open(path) else {
        return Err(refuse("something that is not an image archive".to_owned()));
    };
    let mut existing = BTreeSet::new();
    for image in reader.images() {
        let names: Vec<Reference> = image
            .names
            .iter()
            .filter_map(|name| Reference::parse(name).ok())
            .collect();
        let digest = image
            .manifest
            .as_ref()
            .map(|m| m.digest.to_string())
            .unwrap_or_default();
        existing.extend(image_keys(&names, &digest));
    }
    if existing == *wanted {
        Ok(())
    } else {
        Err(refuse(existing.into_iter().collect::<Vec<_>>().join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(text: &str) -> Reference {
        Reference::parse(text).expect("valid reference")
    }

    #[test]
    fn keys_are_canonical_names_or_the_manifest_digest() {
        let docker_style = image_keys(&[reference("nginx:1.25")], "sha256:aa");
        let canonical = image_keys(&[reference("docker.io/library/nginx:1.25")], "sha256:bb");
        assert_eq!(
            docker_style, canonical,
            "the same name however it is spelled"
        );
        assert_eq!(
            image_keys(
                &[reference(
                    "ghcr.io/o/app:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                )],
                "x"
            ),
            BTreeSet::from(["ghcr.io/o/app:1".to_owned()])
        );
        assert_eq!(
            image_keys(&[], "sha256:aa"),
            BTreeSet::from(["@sha256:aa".to_owned()])
        );
    }

    #[test]
    fn missing_outputs_and_force_skip_the_check() {
        let wanted = BTreeSet::from(["docker.io/library/nginx:1.25".to_owned()]);
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(check_existing(&dir.path().join("absent.tar"), &wanted, false).is_ok());
        let other = dir.path().join("not-an-archive.tar");
        std::fs::write(&other, b"hello").expect("file");
        let error = check_existing(&other, &wanted, false).expect_err("not an archive");
        assert!(matches!(error, CliError::OutputExists { .. }));
        assert!(check_existing(&other, &wanted, true).is_ok());
    }

    fn job(destination: Destination, gzip: bool) -> ArchiveJob {
        ArchiveJob {
            destination,
            format: Format::Docker,
            gzip,
            uncompressed_layers: false,
            durability: Durability::Synced,
            replace_layout: false,
            images: Vec::new(),
        }
    }

    #[test]
    fn only_a_plain_tar_file_is_written_directly_and_a_signal_stops_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cancel = Cancel::default();
        let gzip = job(Destination::Path(dir.path().join("a.tar.gz")), true);
        let mut sink = Sink::open(&gzip, &cancel).expect("sink");
        assert!(sink.file().expect("no error").is_none(), "compressed");
        drop(sink);

        let plain = job(Destination::Path(dir.path().join("a.tar")), false);
        let mut sink = Sink::open(&plain, &cancel).expect("sink");
        sink.write_all(b"head").expect("write");
        let file = sink.file().expect("no error").expect("a file");
        file.write_all(b" direct").expect("direct write");
        cancel.cancel();
        assert!(sink.file().is_err(), "no direct write after a signal");
        assert!(sink.write_all(b"more").is_err(), "no write after a signal");
        assert!(matches!(sink.finish(&cancel), Err(CliError::Interrupted)));
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
        assert!(left.is_empty(), "nothing is left behind: {left:?}");
    }
}
