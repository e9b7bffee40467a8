//! A deterministic tar stream writer: ustar headers, fixed metadata, exact entry sizes.

use std::collections::BTreeSet;
use std::io::{self, Write};

use tar::{EntryType, Header};

use crate::error::ArchiveError;

const BLOCK: usize = 512;
const FILE_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o755;

/// Writes tar entries with uid/gid 0, no user or group names, mtime 0 (the epoch), mode 0644
/// for files and 0755 for directories, so that the same content gives the same bytes.
///
/// Parent directories get their own entries, emitted once before their first child. Once an
/// entry failed half-written, every later call fails too, so that a caller that carries on after
/// an error cannot finish a corrupt archive.
pub(crate) struct TarWriter<W: Write> {
    out: W,
    dirs: BTreeSet<String>,
    /// The entry whose writing failed, if any.
    broken: Option<String>,
}

impl<W: Write> TarWriter<W> {
    pub(crate) fn new(out: W) -> Self {
        Self {
            out,
            dirs: BTreeSet::new(),
            broken: None,
        }
    }

    /// Writes a regular file entry with `data`.
    pub(crate) fn file(&mut self, name: &str, data: &[u8]) -> Result<(), ArchiveError> {
        self.entry(name, data.len() as u64, &mut |out| {
            out.write_all(data)
                .map_err(|e| ArchiveError::write(name, e))
        })
    }

    /// Writes a regular file entry of `size` bytes whose content `fill` writes. `fill` must write
    /// exactly `size` bytes: writing more fails inside `fill`, writing fewer fails here; either way
    /// the tar stream is unusable afterwards, and the writer refuses any further entry.
    pub(crate) fn entry(
        &mut self,
        name: &str,
        size: u64,
        fill: &mut dyn FnMut(&mut dyn Write) -> Result<(), ArchiveError>,
    ) -> Result<(), ArchiveError> {
        self.check_intact(name)?;
        let written = self.write_entry(name, size, fill);
        if written.is_err() {
            self.broken = Some(name.to_owned());
        }
        written
    }

    fn write_entry(
        &mut self,
        name: &str,
        size: u64,
        fill: &mut dyn FnMut(&mut dyn Write) -> Result<(), ArchiveError>,
    ) -> Result<(), ArchiveError> {
        self.parents(name)?;
        let header = header(name, size, EntryType::Regular, FILE_MODE)?;
        self.out
            .write_all(header.as_bytes())
            .map_err(|e| ArchiveError::write(name, e))?;
        let mut bounded = Bounded {
            out: &mut self.out,
            remaining: size,
        };
        fill(&mut bounded)?;
        if bounded.remaining != 0 {
            return Err(ArchiveError::write(
                name,
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{} bytes short of the entry size {size}", bounded.remaining),
                ),
            ));
        }
        self.pad(name, size)
    }

    /// Ends the archive (two zero blocks), flushes, and returns the writer.
    pub(crate) fn finish(mut self) -> Result<W, ArchiveError> {
        self.check_intact("the end of the tar stream")?;
        self.out
            .write_all(&[0; 2 * BLOCK])
            .and_then(|()| self.out.flush())
            .map_err(|e| ArchiveError::write("the end of the tar stream", e))?;
        Ok(self.out)
    }

    fn check_intact(&self, what: &str) -> Result<(), ArchiveError> {
        match &self.broken {
            None => Ok(()),
            Some(broken) => Err(ArchiveError::write(
                what,
                io::Error::other(format!(
                    "the archive is incomplete: writing `{broken}` failed earlier"
                )),
            )),
        }
    }

    fn parents(&mut self, name: &str) -> Result<(), ArchiveError> {
        for (i, _) in name.match_indices('/') {
            let dir = &name[..=i];
            if self.dirs.insert(dir.to_owned()) {
                let header = header(dir, 0, EntryType::Directory, DIR_MODE)?;
                self.out
                    .write_all(header.as_bytes())
                    .map_err(|e| ArchiveError::write(dir, e))?;
            }
        }
        Ok(())
    }

    fn pad(&mut self, name: &str, size: u64) -> Result<(), ArchiveError> {
        let rest = size % BLOCK as u64;
        if rest != 0 {
            let start = usize::try_from(rest).unwrap_or(0);
            self.out
                .write_all(&[0; BLOCK][start..])
                .map_err(|e| ArchiveError::write(name, e))?;
        }
        Ok(())
    }
}

fn header(name: &str, size: u64, kind: EntryType, mode: u32) -> Result<Header, ArchiveError> {
    let mut header = Header::new_ustar();
    header
        .set_path(name)
        .map_err(|e| ArchiveError::write(name, e))?;
    if kind == EntryType::Directory && !name.ends_with('/') {
        return Err(ArchiveError::write(
            name,
            io::Error::new(io::ErrorKind::InvalidInput, "directory names end with `/`"),
        ));
    }
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_cksum();
    Ok(header)
}

/// A writer that refuses to go past the declared size of a tar entry.
struct Bounded<'a, W: Write> {
    out: &'a mut W,
    remaining: u64,
}

impl<W: Write> Write for Bounded<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() as u64 > self.remaining {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "more data than the entry size announced in its header",
            ));
        }
        let n = self.out.write(buf)?;
        self.remaining -= n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
