//! A deterministic tar stream writer: ustar headers, fixed metadata, exact entry sizes.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};

use tar::{EntryType, Header};

use crate::error::ArchiveError;
use crate::output::FileOutput;

const BLOCK: usize = 512;
const FILE_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o755;

/// Writes tar entries with uid/gid 0, no user or group names, mtime 0 (the epoch), mode 0644
/// for files and 0755 for directories, so that the same content gives the same bytes.
///
/// Parent directories get their own entries, emitted once before their first child. Once an
/// entry failed half-written, every later call fails too, so that a caller that carries on after
/// an error cannot finish a corrupt archive.
///
/// Built with [`TarWriter::on_file`], it also writes entries straight into the output's file:
/// blobs copied file to file, and entries whose size is known only once written (their header
/// is written after them, in its place). The bytes are the same either way.
pub(crate) struct TarWriter<W: Write> {
    out: W,
    /// How to reach the output's file, when it is one.
    file: Option<FileAccess<W>>,
    dirs: BTreeSet<String>,
    /// The entry whose writing failed, if any.
    broken: Option<String>,
    /// How many reserved entries are still to be filled: the archive cannot end before.
    open_slots: usize,
}

/// [`FileOutput::file`] of the output type.
type FileAccess<W> = fn(&mut W) -> io::Result<Option<&mut File>>;

impl<W: Write> TarWriter<W> {
    pub(crate) fn new(out: W) -> Self {
        Self {
            out,
            file: None,
            dirs: BTreeSet::new(),
            broken: None,
            open_slots: 0,
        }
    }

    /// A writer that also writes into the output's file directly.
    pub(crate) fn on_file(out: W) -> Self
    where
        W: FileOutput,
    {
        Self {
            file: Some(<W as FileOutput>::file),
            ..Self::new(out)
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

    /// Writes a regular file entry of `size` bytes that `fill` writes straight into the output's
    /// file (from its current position, which it must leave at the entry's end). `Ok(false)`,
    /// with nothing written, when the output is not a file.
    pub(crate) fn file_entry(
        &mut self,
        name: &str,
        size: u64,
        fill: &mut dyn FnMut(&mut File) -> Result<(), ArchiveError>,
    ) -> Result<bool, ArchiveError> {
        self.check_intact(name)?;
        let written = self.write_file_entry(name, Some(size), &mut |file| {
            let start = position(file, name)?;
            fill(file)?;
            let written = position(file, name)? - start;
            if written == size {
                Ok(size)
            } else {
                Err(ArchiveError::write(
                    name,
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("wrote {written} bytes instead of the entry size {size}"),
                    ),
                ))
            }
        });
        if written.is_err() {
            self.broken = Some(name.to_owned());
        }
        written.map(|done| done.is_some())
    }

    /// Writes a regular file entry whose content `fill` writes and whose size is known only
    /// once written: the header is written after the content, in its place, so this needs the
    /// output's file. Returns the size, or `Ok(None)`, with nothing written, when the output
    /// is not a file.
    pub(crate) fn measured_entry(
        &mut self,
        name: &str,
        fill: &mut dyn FnMut(&mut dyn Write) -> Result<(), ArchiveError>,
    ) -> Result<Option<u64>, ArchiveError> {
        self.check_intact(name)?;
        let written = self.write_file_entry(name, None, &mut |file| {
            let start = position(file, name)?;
            let mut out = BufWriter::with_capacity(crate::copy::BUFFER, &mut *file);
            fill(&mut out)?;
            out.flush().map_err(|e| ArchiveError::write(name, e))?;
            drop(out);
            Ok(position(file, name)? - start)
        });
        if written.is_err() {
            self.broken = Some(name.to_owned());
        }
        written
    }

    /// Writes the header of a regular file entry of `size` bytes and its padding, leaving its
    /// content to be written later by [`TarWriter::fill_slot`]; `Ok(None)`, with nothing
    /// written, when the output is not a file.
    pub(crate) fn reserve(&mut self, name: &str, size: u64) -> Result<Option<Slot>, ArchiveError> {
        self.check_intact(name)?;
        let reserved = self.write_reserved(name, size);
        if reserved.is_err() {
            self.broken = Some(name.to_owned());
        }
        reserved
    }

    /// How to reach the file the archive's bytes go to, when they reach one as they are
    /// written (not through gzip or a pipe), so that the entry `name` can be written into the
    /// file directly.
    fn file_access(&mut self, name: &str) -> Result<Option<FileAccess<W>>, ArchiveError> {
        let Some(file_of) = self.file else {
            return Ok(None);
        };
        let reached = file_of(&mut self.out)
            .map_err(|e| ArchiveError::write(name, e))?
            .is_some();
        Ok(reached.then_some(file_of))
    }

    fn write_reserved(&mut self, name: &str, size: u64) -> Result<Option<Slot>, ArchiveError> {
        let Some(file_of) = self.file_access(name)? else {
            return Ok(None);
        };
        self.parents(name)?;
        let header = header(name, size, EntryType::Regular, FILE_MODE)?;
        self.out
            .write_all(header.as_bytes())
            .map_err(|e| ArchiveError::write(name, e))?;
        let file = output_file(file_of, &mut self.out, name)?;
        let offset = position(file, name)?;
        let end = offset
            .checked_add(size)
            .filter(|end| i64::try_from(*end).is_ok())
            .ok_or_else(|| {
                ArchiveError::write(
                    name,
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("an entry of {size} bytes at offset {offset} ends past the largest file offset"),
                    ),
                )
            })?;
        // Past the end of the file: the next write leaves a hole, which `fill_slot` fills.
        file.seek(SeekFrom::Start(end))
            .map_err(|e| ArchiveError::write(name, e))?;
        self.pad(name, size)?;
        self.open_slots += 1;
        Ok(Some(Slot {
            name: name.to_owned(),
            offset,
            size,
        }))
    }

    /// Writes the content of a reserved entry: `fill` writes exactly its size into the output
    /// file, from the slot's position.
    pub(crate) fn fill_slot(
        &mut self,
        slot: &Slot,
        fill: &mut dyn FnMut(&mut File) -> Result<(), ArchiveError>,
    ) -> Result<(), ArchiveError> {
        self.check_intact(&slot.name)?;
        let filled = self.write_slot(slot, fill);
        if filled.is_err() {
            self.broken = Some(slot.name.clone());
        }
        filled
    }

    fn write_slot(
        &mut self,
        slot: &Slot,
        fill: &mut dyn FnMut(&mut File) -> Result<(), ArchiveError>,
    ) -> Result<(), ArchiveError> {
        let name = slot.name.as_str();
        let file_of = self.file.ok_or_else(|| {
            ArchiveError::write(name, io::Error::other("the output is not a file"))
        })?;
        let file = output_file(file_of, &mut self.out, name)?;
        let end = position(file, name)?;
        file.seek(SeekFrom::Start(slot.offset))
            .map_err(|e| ArchiveError::write(name, e))?;
        fill(file)?;
        let written = position(file, name)? - slot.offset;
        if written != slot.size {
            return Err(ArchiveError::write(
                name,
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "wrote {written} bytes instead of the entry size {}",
                        slot.size
                    ),
                ),
            ));
        }
        file.seek(SeekFrom::Start(end))
            .map_err(|e| ArchiveError::write(name, e))?;
        self.open_slots = self.open_slots.saturating_sub(1);
        Ok(())
    }

    /// The entry at the output file's position: parents, header (`size`, or, when `None`,
    /// a placeholder rewritten once `fill` returned the size), content, padding.
    fn write_file_entry(
        &mut self,
        name: &str,
        size: Option<u64>,
        fill: &mut dyn FnMut(&mut File) -> Result<u64, ArchiveError>,
    ) -> Result<Option<u64>, ArchiveError> {
        // Checked before anything is written, so that the caller can fall back.
        let Some(file_of) = self.file_access(name)? else {
            return Ok(None);
        };
        self.parents(name)?;
        let header_bytes = match size {
            Some(size) => *header(name, size, EntryType::Regular, FILE_MODE)?.as_bytes(),
            None => [0; BLOCK],
        };
        self.out
            .write_all(&header_bytes)
            .map_err(|e| ArchiveError::write(name, e))?;
        let file = output_file(file_of, &mut self.out, name)?;
        let header_at = position(file, name)? - BLOCK as u64;
        let written = fill(file)?;
        if size.is_none() {
            let header = header(name, written, EntryType::Regular, FILE_MODE)?;
            let end = header_at + BLOCK as u64 + written;
            file.seek(SeekFrom::Start(header_at))
                .and_then(|_| file.write_all(header.as_bytes()))
                .and_then(|()| file.seek(SeekFrom::Start(end)))
                .map_err(|e| ArchiveError::write(name, e))?;
        }
        self.pad(name, written)?;
        Ok(Some(written))
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
        if self.open_slots > 0 {
            return Err(ArchiveError::write(
                "the end of the tar stream",
                io::Error::other(format!(
                    "the archive is incomplete: {} reserved entries were never written",
                    self.open_slots
                )),
            ));
        }
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

/// The place of an entry whose content is written later ([`TarWriter::reserve`]).
#[derive(Debug)]
pub(crate) struct Slot {
    name: String,
    offset: u64,
    size: u64,
}

/// The output's file, its buffer flushed.
fn output_file<'w, W>(
    file_of: FileAccess<W>,
    out: &'w mut W,
    name: &str,
) -> Result<&'w mut File, ArchiveError> {
    file_of(out)
        .map_err(|e| ArchiveError::write(name, e))?
        .ok_or_else(|| ArchiveError::write(name, io::Error::other("the output is not a file")))
}

/// The position of `file`, which the direct writes advance.
fn position(file: &mut File, name: &str) -> Result<u64, ArchiveError> {
    file.stream_position()
        .map_err(|e| ArchiveError::write(name, e))
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_reserved_entry_that_ends_past_the_largest_offset_is_refused() {
        for size in [u64::MAX - 100, i64::MAX.unsigned_abs()] {
            let mut tar = TarWriter::on_file(tempfile::tempfile().unwrap());
            let error = tar.reserve("blobs/sha256/big", size).unwrap_err();
            assert!(
                error.to_string().contains("past the largest file offset"),
                "{size}: {error}"
            );
            assert!(tar.file("after", b"x").is_err(), "the writer is broken");
        }
    }
}
