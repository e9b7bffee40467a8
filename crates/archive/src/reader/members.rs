//! The member index of a tar file: one pass over the headers, every path sanitised.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use tar::EntryType;

use crate::error::ArchiveError;

/// The tar block size.
const BLOCK: usize = 512;

/// How many links may be followed to reach a file.
const MAX_LINK_HOPS: usize = 32;

/// A member of the archive.
#[derive(Debug, Clone)]
enum Member {
    /// A regular file: where its data starts and its size.
    File { offset: u64, size: u64 },
    /// A symbolic or hard link, to the normalised path of its target.
    Link(String),
}

/// Where a file's data lies in the tar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) offset: u64,
    pub(crate) size: u64,
}

/// The members of a tar, by normalised path.
#[derive(Debug, Default)]
pub(crate) struct Members {
    members: HashMap<String, Member>,
}

impl Members {
    /// Reads every header of the tar at `path` (seeking over the data), refusing unsafe names,
    /// links that escape the archive, device files and duplicates.
    pub(crate) fn index(file: &File, path: &Path) -> Result<Self, ArchiveError> {
        let tar_error = |source| ArchiveError::Tar {
            path: path.to_path_buf(),
            source,
        };
        let mut archive = tar::Archive::new(BufReader::new(SeekAdapter(file)));
        let mut members = HashMap::new();
        let mut end = 0;
        for entry in archive.entries_with_seek().map_err(tar_error)? {
            let entry = entry.map_err(tar_error)?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            end = entry
                .raw_file_position()
                .checked_add(entry.size())
                .and_then(|data_end| data_end.checked_next_multiple_of(BLOCK as u64))
                .ok_or_else(|| unsafe_member(&raw, format!("a size of {} bytes", entry.size())))?;
            let name = normalise(&raw).map_err(|reason| unsafe_member(&raw, reason))?;
            let kind = entry.header().entry_type();
            let member = match kind {
                EntryType::Regular | EntryType::Continuous => Member::File {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                },
                EntryType::Directory | EntryType::XGlobalHeader => continue,
                EntryType::Symlink | EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .ok_or_else(|| unsafe_member(&raw, "a link without a target".into()))?;
                    let resolved = if kind == EntryType::Symlink {
                        resolve_symlink(&name, &target)
                    } else {
                        normalise(&target)
                    }
                    .map_err(|reason| {
                        unsafe_member(&raw, format!("link target `{target}`: {reason}"))
                    })?;
                    Member::Link(resolved)
                }
                other => {
                    return Err(unsafe_member(
                        &raw,
                        format!("unsupported entry type {other:?}"),
                    ));
                }
            };
            if name.is_empty() {
                return Err(unsafe_member(
                    &raw,
                    "a file at the archive's root path".into(),
                ));
            }
            if members.insert(name, member).is_some() {
                return Err(unsafe_member(&raw, "the name appears twice".into()));
            }
        }
        check_end_marker(file, end).map_err(tar_error)?;
        Ok(Self { members })
    }

    /// The data of the file at `name` (a normalised path), following links.
    pub(crate) fn get(&self, name: &str) -> Result<Option<Span>, ArchiveError> {
        let mut current = name;
        for _ in 0..MAX_LINK_HOPS {
            match self.members.get(current) {
                None => return Ok(None),
                Some(Member::File { offset, size }) => {
                    return Ok(Some(Span {
                        offset: *offset,
                        size: *size,
                    }));
                }
                Some(Member::Link(target)) => current = target,
            }
        }
        Err(unsafe_member(name, "too many links to follow".into()))
    }

    /// Whether a member (file or link) has this normalised name.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.members.contains_key(name)
    }

    /// The normalised names of every member, in no particular order.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.members.keys().map(String::as_str)
    }
}

/// Checks that a zero block follows the last member at `end`, so that an archive cut short at a
/// member boundary is not taken for a complete one. (POSIX asks for two zero blocks; one is
/// accepted, as GNU tar does.)
fn check_end_marker(file: &File, end: u64) -> std::io::Result<()> {
    let mut block = [0_u8; BLOCK];
    let mut reader = SeekAdapter(file);
    reader.seek(SeekFrom::Start(end))?;
    reader.read_exact(&mut block).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("the archive ends at byte {end} without the end-of-archive zero block: it is truncated"),
        )
    })?;
    if block.iter().any(|&b| b != 0) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("unexpected data after the last member at byte {end}"),
        ));
    }
    Ok(())
}

fn unsafe_member(member: &str, reason: String) -> ArchiveError {
    ArchiveError::UnsafeMember {
        member: member.to_owned(),
        reason,
    }
}

/// A path relative to the archive's root, without `.` components, empty components or a
/// trailing `/`; absolute paths and `..` components are refused.
pub(crate) fn normalise(raw: &str) -> Result<String, String> {
    if raw.starts_with('/') || raw.starts_with('\\') {
        return Err("an absolute path".into());
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("a `..` component".into()),
            part if part.contains('\\') => {
                return Err(format!("a component `{part}` with a backslash"));
            }
            part => parts.push(part),
        }
    }
    Ok(parts.join("/"))
}

/// The normalised path a symbolic link at `link` pointing to `target` reaches; targets outside
/// the archive's root are refused.
fn resolve_symlink(link: &str, target: &str) -> Result<String, String> {
    if target.starts_with('/') {
        return Err("an absolute target".into());
    }
    let mut parts: Vec<&str> = link.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err("a target outside the archive".into());
                }
            }
            part => parts.push(part),
        }
    }
    Ok(parts.join("/"))
}

/// `&File` as `Read + Seek` owned by the tar reader.
struct SeekAdapter<'a>(&'a File);

impl Read for SeekAdapter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl Seek for SeekAdapter<'_> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        (&*self.0).seek(pos)
    }
}
