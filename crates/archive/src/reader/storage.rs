//! Where an archive's members are read from: a tar file (plain, or gzip-compressed and
//! decompressed to a temporary file) or a layout directory.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use super::members::Members;
use crate::compression::{self, Compression, InflateLimit};
use crate::error::ArchiveError;
use crate::source::Blob;

/// An opened archive's members.
#[derive(Debug)]
pub(super) enum Storage {
    /// A tar file and the index of its members.
    Tar { file: TarFile, members: Members },
    /// A layout directory (canonical path).
    Dir { root: PathBuf },
}

/// The tar file, or the decompressed copy of a gzip-compressed one.
#[derive(Debug)]
pub(super) enum TarFile {
    Path(PathBuf),
    Inflated {
        original: PathBuf,
        temp: NamedTempFile,
    },
}

impl Storage {
    /// Opens a directory or a tar file, indexing the tar's members.
    pub(super) fn open(path: &Path) -> Result<Self, ArchiveError> {
        let metadata =
            fs::metadata(path).map_err(|e| ArchiveError::file("cannot open", path, e))?;
        if metadata.is_dir() {
            let root =
                fs::canonicalize(path).map_err(|e| ArchiveError::file("cannot open", path, e))?;
            return Ok(Self::Dir { root });
        }
        let file = TarFile::open_path(path)?;
        let members = Members::index(&file.open()?, path)?;
        Ok(Self::Tar { file, members })
    }

    /// The names of every member (tar) or of every file under `blobs/<algorithm>/` (directory).
    pub(super) fn names(&self) -> Result<Vec<String>, ArchiveError> {
        match self {
            Self::Tar { members, .. } => Ok(members.names().map(str::to_owned).collect()),
            Self::Dir { root } => list_blob_files(root),
        }
    }

    /// Whether a member exists.
    pub(super) fn contains(&self, name: &str) -> bool {
        match self {
            Self::Tar { members, .. } => members.contains(name),
            Self::Dir { root } => root.join(name).is_file(),
        }
    }

    /// Opens a member (a normalised path), or `None` when there is none.
    pub(super) fn open_member(&self, member: &str) -> Result<Option<Blob<'_>>, ArchiveError> {
        let (handle, offset, size) = match self {
            Self::Tar { file, members } => {
                let Some(span) = members.get(member)? else {
                    return Ok(None);
                };
                (file.open()?, span.offset, span.size)
            }
            Self::Dir { .. } => {
                let Some(real) = self.file_path(member)? else {
                    return Ok(None);
                };
                let handle =
                    File::open(&real).map_err(|e| ArchiveError::file("cannot open", &real, e))?;
                let size = handle
                    .metadata()
                    .map_err(|e| ArchiveError::file("cannot read", &real, e))?
                    .len();
                (handle, 0, size)
            }
        };
        let mut reader = BufReader::with_capacity(crate::copy::BUFFER, handle);
        if offset > 0 {
            reader
                .seek(SeekFrom::Start(offset))
                .map_err(|e| self.read_error(member, e))?;
        }
        Ok(Some(Blob::new(reader.take(size), size)))
    }

    /// The real path of a member of a directory, refusing links that leave it; `None` for a
    /// missing member, a member that is not a regular file, or a tar.
    pub(super) fn file_path(&self, member: &str) -> Result<Option<PathBuf>, ArchiveError> {
        let Self::Dir { root } = self else {
            return Ok(None);
        };
        let Ok(real) = fs::canonicalize(root.join(member)) else {
            return Ok(None);
        };
        if !real.starts_with(root) {
            return Err(ArchiveError::UnsafeMember {
                member: member.to_owned(),
                reason: "a link to a file outside the layout".into(),
            });
        }
        Ok(real.is_file().then_some(real))
    }

    /// An error reading `member`, naming the archive and the member.
    pub(super) fn read_error(&self, member: &str, source: io::Error) -> ArchiveError {
        let archive = match self {
            Self::Tar { file, .. } => file.path(),
            Self::Dir { root } => root,
        };
        ArchiveError::File {
            action: "cannot read",
            path: archive.join(member),
            source,
        }
    }
}

impl TarFile {
    /// Opens a tar, decompressing a gzip-compressed one into a temporary file first (a gzip
    /// stream cannot be seeked, and layers are never held in memory), within
    /// [`InflateLimit::ARCHIVE`] of the compressed bytes read (a pipe's length is unknown).
    fn open_path(path: &Path) -> Result<Self, ArchiveError> {
        let file = File::open(path).map_err(|e| ArchiveError::file("cannot open", path, e))?;
        let (compression, whole) = Compression::detect(BufReader::new(file))
            .map_err(|e| ArchiveError::file("cannot read", path, e))?;
        if compression != Compression::Gzip {
            return Ok(Self::Path(path.to_path_buf()));
        }
        let temp = compression::inflate_archive(path, whole, InflateLimit::ARCHIVE)?;
        Ok(Self::Inflated {
            original: path.to_path_buf(),
            temp,
        })
    }

    /// A new handle on the tar (each reader has its own file position).
    fn open(&self) -> Result<File, ArchiveError> {
        match self {
            Self::Path(path) => {
                File::open(path).map_err(|e| ArchiveError::file("cannot open", path, e))
            }
            Self::Inflated { original, temp } => temp.reopen().map_err(|e| {
                ArchiveError::file("cannot reopen the decompressed copy of", original, e)
            }),
        }
    }

    /// The archive's path as given.
    fn path(&self) -> &Path {
        match self {
            Self::Path(path) | Self::Inflated { original: path, .. } => path,
        }
    }
}

/// The `blobs/<algorithm>/<hex>` files of a layout directory.
fn list_blob_files(root: &Path) -> Result<Vec<String>, ArchiveError> {
    let blobs = root.join("blobs");
    let mut names = Vec::new();
    let Ok(algorithms) = fs::read_dir(&blobs) else {
        return Ok(names);
    };
    for algorithm in algorithms {
        let algorithm = algorithm.map_err(|e| ArchiveError::file("cannot list", &blobs, e))?;
        let dir = algorithm.path();
        if !dir.is_dir() {
            continue;
        }
        for file in fs::read_dir(&dir).map_err(|e| ArchiveError::file("cannot list", &dir, e))? {
            let file = file.map_err(|e| ArchiveError::file("cannot list", &dir, e))?;
            names.push(format!(
                "blobs/{}/{}",
                algorithm.file_name().to_string_lossy(),
                file.file_name().to_string_lossy()
            ));
        }
    }
    Ok(names)
}
