//! The two [`Sink`]s: a tar stream and a directory.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::ArchiveError;
use crate::layout::Sink;
use crate::output::Durability;
use crate::tar_out::{Slot, TarWriter};

impl<W: Write> Sink for TarWriter<W> {
    fn put_file(&mut self, name: &str, data: &[u8]) -> Result<(), ArchiveError> {
        self.file(name, data)
    }

    fn put_blob(
        &mut self,
        name: &str,
        size: u64,
        fill: &mut dyn FnMut(&mut dyn Write) -> Result<(), ArchiveError>,
    ) -> Result<(), ArchiveError> {
        self.entry(name, size, fill)
    }

    fn put_blob_in_file(
        &mut self,
        name: &str,
        size: u64,
        fill: &mut dyn FnMut(&mut File) -> Result<(), ArchiveError>,
    ) -> Result<bool, ArchiveError> {
        self.file_entry(name, size, fill)
    }

    fn put_measured_blob(
        &mut self,
        name: &str,
        fill: &mut dyn FnMut(&mut dyn Write) -> Result<(), ArchiveError>,
    ) -> Result<Option<u64>, ArchiveError> {
        self.measured_entry(name, fill)
    }

    fn reserve_blob(&mut self, name: &str, size: u64) -> Result<Option<Slot>, ArchiveError> {
        self.reserve(name, size)
    }

    fn fill_slot(
        &mut self,
        slot: &Slot,
        fill: &mut dyn FnMut(&mut File) -> Result<(), ArchiveError>,
    ) -> Result<(), ArchiveError> {
        TarWriter::fill_slot(self, slot, fill)
    }
}

/// A directory being filled; each file is written to a temporary name and renamed when
/// complete, so a file under its final name is always whole.
pub(crate) struct DirSink {
    root: PathBuf,
    durability: Durability,
}

impl DirSink {
    pub(crate) fn new(root: PathBuf, durability: Durability) -> Self {
        Self { root, durability }
    }

    fn prepare(&self, name: &str) -> Result<PathBuf, ArchiveError> {
        let path = self.root.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| ArchiveError::file("cannot create", parent, e))?;
        }
        Ok(path)
    }
}

impl DirSink {
    /// Writes the file `name` of `size` bytes that `fill` writes into a temporary file, which is
    /// synced (unless [`Durability::Unsynced`]) and renamed into place once complete.
    fn put_with(
        &mut self,
        name: &str,
        size: u64,
        fill: &mut dyn FnMut(&mut File) -> Result<(), ArchiveError>,
    ) -> Result<(), ArchiveError> {
        let path = self.prepare(name)?;
        let dir = path.parent().unwrap_or(&self.root);
        let mut temp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(dir)
            .map_err(|e| ArchiveError::file("cannot create a temporary file in", dir, e))?;
        fill(temp.as_file_mut())?;
        let written = temp
            .as_file()
            .metadata()
            .map_err(|e| ArchiveError::write(name, e))?
            .len();
        if written != size {
            return Err(ArchiveError::write(
                name,
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("wrote {written} bytes instead of {size}"),
                ),
            ));
        }
        if self.durability == Durability::Synced {
            temp.as_file()
                .sync_all()
                .map_err(|e| ArchiveError::write(name, e))?;
        }
        temp.persist(&path)
            .map_err(|e| ArchiveError::file("cannot rename a temporary file to", &path, e.error))?;
        Ok(())
    }
}

impl Sink for DirSink {
    fn put_file(&mut self, name: &str, data: &[u8]) -> Result<(), ArchiveError> {
        self.put_blob(name, data.len() as u64, &mut |out| {
            out.write_all(data)
                .map_err(|e| ArchiveError::write(name, e))
        })
    }

    fn put_blob(
        &mut self,
        name: &str,
        size: u64,
        fill: &mut dyn FnMut(&mut dyn Write) -> Result<(), ArchiveError>,
    ) -> Result<(), ArchiveError> {
        self.put_with(name, size, &mut |file| {
            let mut out = BufWriter::with_capacity(crate::copy::BUFFER, file);
            fill(&mut out)?;
            out.flush().map_err(|e| ArchiveError::write(name, e))
        })
    }

    fn put_blob_in_file(
        &mut self,
        name: &str,
        size: u64,
        fill: &mut dyn FnMut(&mut File) -> Result<(), ArchiveError>,
    ) -> Result<bool, ArchiveError> {
        self.put_with(name, size, fill)?;
        Ok(true)
    }

    /// Layers are never decompressed into a layout directory: not needed.
    fn put_measured_blob(
        &mut self,
        _name: &str,
        _fill: &mut dyn FnMut(&mut dyn Write) -> Result<(), ArchiveError>,
    ) -> Result<Option<u64>, ArchiveError> {
        Ok(None)
    }

    fn link_blob(&mut self, name: &str, path: &Path) -> Result<bool, ArchiveError> {
        let target = self.prepare(name)?;
        // A hard link fails across filesystems or where links are not allowed; the caller then
        // copies.
        Ok(fs::hard_link(path, &target).is_ok())
    }
}
