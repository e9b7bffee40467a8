//! Docker-save and OCI image archives and layouts: deterministic writers and a verifying reader.
//!
//! The crate knows tar and JSON layouts and nothing about the network: blobs are read
//! through a small trait, [`BlobSource`], so that any store (or memory, in tests) can feed it.
//!
//! - [`DockerArchiveWriter`] writes what `docker save` writes (the Docker 25+ dual layout:
//!   `manifest.json` for every docker engine and an OCI `index.json` beside it).
//! - [`OciLayoutWriter`] and [`OciArchiveWriter`] write an OCI image layout, as a directory or a
//!   tar.
//! - [`ArchiveReader`] reads all of them back (and legacy `docker save` tars), sanitising every
//!   member path and verifying every digest and diff_id.
//! - [`AtomicFile`] and [`GzipWriter`] are the outputs: a file that appears complete or not at
//!   all, and gzip compression of a whole archive; [`FileOutput`] is what lets the tar writers
//!   write into a file directly. [`Durability`] says whether an output is fsynced before it
//!   appears (`Synced`, the default, flushed to disk in the background as it grows) or only
//!   renamed (`Unsynced`, as `docker save -o` writes). [`OciLayoutWriter::create_replacing`]
//!   swaps a new layout in over an old one only once it is complete.
//!
//! Design notes:
//!
//! - Every blob copied from a [`BlobSource`] is counted on the way, and hashed unless its source
//!   verified it when storing it ([`Blob::verified_file`], which only the blob cache serves): a
//!   source that yields a wrong size or wrong bytes is an integrity error
//!   ([`ArchiveError::is_integrity`]), never a silently corrupt archive. Verified blobs skip the
//!   SHA-256 pass (about 1.7 GB/s with SHA-NI) and, into a [`FileOutput`], are copied file to
//!   file in the kernel (`copy_file_range`); hard links into an OCI layout directory are the
//!   zero-copy path. The uncompressed content of an inflated layer is always hashed and checked
//!   against its diff_id.
//! - Outputs are deterministic: blobs in the order images and layers are added, each written
//!   once, fixed tar metadata, JSON with a fixed field order; the same input gives the same bytes.
//! - A decompressed layer is written in one pass into a [`FileOutput`] (its tar header written
//!   afterwards, in its place), else in two (measure and verify, then write and verify again),
//!   see [`DockerArchiveWriter`].
//! - The reader never extracts anything: it indexes tar members, refuses unsafe names and links,
//!   and streams blobs from their offsets, so memory stays bounded whatever the layer sizes.
//!
//! Writing a docker archive of one image from blobs in memory:
//!
//! ```
//! use imgpull_archive::{ArchiveImage, ArchiveReader, DockerArchiveOptions, DockerArchiveWriter, MemorySource};
//! use imgpull_reference::{Digest, Reference};
//!
//! let mut source = MemorySource::new();
//! let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
//! let config_digest = source.insert(config.to_vec());
//! let manifest = format!(
//!     r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[]}}"#,
//!     config.len()
//! );
//! let image = ArchiveImage::new(manifest.into_bytes(), "application/vnd.oci.image.manifest.v1+json")
//!     .with_tag(Reference::parse("example.com/app:1.0")?);
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("app.tar");
//! let mut writer = DockerArchiveWriter::new(std::fs::File::create(&path)?, DockerArchiveOptions::default());
//! let written = writer.add_image(&image, &source)?;
//! writer.finish()?;
//! assert_eq!(written.image_id(), &config_digest);
//!
//! let reader = ArchiveReader::open(&path)?;
//! assert_eq!(reader.images()[0].names, ["example.com/app:1.0"]);
//! reader.verify()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod compression;
mod copy;
mod docker;
mod error;
mod hash_behind;
mod image;
mod json;
mod layout;
mod oci;
mod output;
mod reader;
mod sinks;
mod source;
mod tar_out;

pub use compression::{Compression, DOCKER_LAYER_TAR};
pub use docker::{DockerArchiveOptions, DockerArchiveWriter};
pub use error::ArchiveError;
pub use image::{
    ArchiveImage, CONTAINERD_IMAGE_NAME, ImageIndex, LayerForm, Note, OCI_REF_NAME, WrittenImage,
    WrittenLayer,
};
pub use json::artifact_blobs;
pub use oci::{OciArchiveWriter, OciLayoutWriter};
pub use output::{AtomicFile, Durability, FileOutput, GzipWriter};
pub use reader::{ArchiveFormat, ArchiveReader, ArchivedImage, ArchivedLayer, VerifyReport};
pub use source::{Blob, BlobSource, MemorySource};
