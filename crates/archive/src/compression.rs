//! Layer compression: recognising it and undoing it.

use std::cell::Cell;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;
use imgpull_reference::media_types;
use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};
use tempfile::NamedTempFile;

use crate::error::ArchiveError;

pub use imgpull_reference::media_types::DOCKER_LAYER_TAR;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (possibly several members).
    Gzip,
    /// Zstandard (possibly several frames, as in `zstd:chunked`).
    Zstd,
}

impl Compression {
    /// The compression a layer media type announces, or `None` when the media type is not a
    /// layer type this crate knows.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        let essence = media_types::essence(media_type);
        if !media_types::is_layer(&essence) {
            return None;
        }
        Some(if essence.ends_with("gzip") {
            Self::Gzip
        } else if essence.ends_with("+zstd") {
            Self::Zstd
        } else {
            Self::None
        })
    }

    /// The compression recognised from the first bytes of a blob (its magic number).
    pub fn sniff(prefix: &[u8]) -> Self {
        if prefix.starts_with(&GZIP_MAGIC) {
            Self::Gzip
        } else if prefix.starts_with(&ZSTD_MAGIC) {
            Self::Zstd
        } else {
            Self::None
        }
    }

    /// Recognises the compression of `reader` from its first bytes, read from it; returns it with
    /// a reader of the whole input (those bytes included), ready for [`Compression::decoder`].
    ///
    /// ```
    /// use imgpull_archive::Compression;
    /// use std::io::Read;
    ///
    /// let (compression, mut whole) = Compression::detect(&b"plain tar bytes"[..])?;
    /// assert_eq!(compression, Compression::None);
    /// let mut content = Vec::new();
    /// whole.read_to_end(&mut content)?;
    /// assert_eq!(content, b"plain tar bytes");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn detect<R: Read>(mut reader: R) -> io::Result<(Self, impl Read)> {
        let mut prefix = [0_u8; ZSTD_MAGIC.len()];
        let filled = crate::copy::read_full(&mut reader, &mut prefix)?;
        let prefix = &prefix[..filled];
        Ok((
            Self::sniff(prefix),
            io::Cursor::new(prefix.to_vec()).chain(reader),
        ))
    }

    /// The short name (`none`, `gzip`, `zstd`).
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
        }
    }

    /// A reader of the uncompressed content of `compressed`.
    ///
    /// The reader consumes `compressed` to its end (trailing data after the last gzip member or
    /// zstd frame included), so that a hasher wrapped around `compressed` sees every byte.
    pub fn decoder<'a>(self, compressed: impl Read + 'a) -> Box<dyn Read + 'a> {
        match self {
            Self::None => Box::new(compressed),
            Self::Gzip => Box::new(DrainAfter::new(MultiGzDecoder::new(
                BufReader::with_capacity(BUFFER, compressed),
            ))),
            Self::Zstd => Box::new(ZstdFrames::new(BufReader::with_capacity(
                BUFFER, compressed,
            ))),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

const BUFFER: usize = 128 * 1024;

/// How far a gzip-compressed input archive may expand when it is inflated to a temporary file
/// (a gzip stream cannot be seeked): `ratio` times the compressed bytes read so far, but at least
/// `floor` bytes. The bound follows the bytes actually read, not the file's length, so that a
/// pipe (`/dev/stdin`, `<(curl …)`, whose length is 0) or a growing file is treated like a
/// regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InflateLimit {
    /// How many times the compressed bytes read so far an archive may inflate to.
    pub(crate) ratio: u64,
    /// How many bytes any archive may inflate to.
    pub(crate) floor: u64,
}

impl InflateLimit {
    /// The limit of [`ArchiveReader`](crate::ArchiveReader): 100 times, at least 1 GiB. deflate
    /// reaches about 1000 times on runs of zeros, which is what a gzip bomb is made of, while an
    /// image tar (layers compressed, or plain file systems) seldom shrinks more than 10 times.
    pub(crate) const ARCHIVE: Self = Self {
        ratio: 100,
        floor: 1 << 30,
    };

    /// The most bytes an archive may inflate to once `compressed` bytes of it have been read.
    fn max_output(self, compressed: u64) -> u64 {
        compressed.saturating_mul(self.ratio).max(self.floor)
    }
}

/// Inflates the gzip-compressed archive `path` (`whole` reads it from its first byte; it may be
/// a pipe) into a temporary file, stopping with [`ArchiveError::InflateLimit`] as soon as the
/// output passes `limit` of the compressed bytes read so far (the partial file is deleted).
pub(crate) fn inflate_archive(
    path: &Path,
    whole: impl Read,
    limit: InflateLimit,
) -> Result<NamedTempFile, ArchiveError> {
    let tar_error = |source| ArchiveError::Tar {
        path: path.to_path_buf(),
        source,
    };
    let mut temp = NamedTempFile::new()
        .map_err(|e| ArchiveError::file("cannot create a temporary file for", path, e))?;
    let read = Cell::new(0_u64);
    let mut decoder = Compression::Gzip.decoder(Counting {
        inner: whole,
        count: &read,
    });
    let mut buffer = vec![0_u8; BUFFER];
    let mut written = 0_u64;
    loop {
        let n = match decoder.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(tar_error(e)),
        };
        written = written.saturating_add(n as u64);
        let max = limit.max_output(read.get());
        if written > max {
            return Err(ArchiveError::InflateLimit {
                path: path.to_path_buf(),
                limit: max,
                ratio: limit.ratio,
                floor: limit.floor,
                compressed: read.get(),
            });
        }
        temp.as_file_mut()
            .write_all(&buffer[..n])
            .map_err(|e| ArchiveError::file("cannot write the decompressed copy of", path, e))?;
    }
    Ok(temp)
}

/// A reader that adds the bytes it reads to `count`.
struct Counting<'a, R> {
    inner: R,
    count: &'a Cell<u64>,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get().saturating_add(n as u64));
        Ok(n)
    }
}

/// Reads a gzip decoder to its end, then drains what remains of its input.
struct DrainAfter<R: BufRead> {
    decoder: MultiGzDecoder<R>,
    done: bool,
}

impl<R: BufRead> DrainAfter<R> {
    fn new(decoder: MultiGzDecoder<R>) -> Self {
        Self {
            decoder,
            done: false,
        }
    }
}

impl<R: BufRead> Read for DrainAfter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        let n = self.decoder.read(buf)?;
        if n == 0 {
            self.done = true;
            io::copy(self.decoder.get_mut(), &mut io::sink())?;
        }
        Ok(n)
    }
}

/// A Zstandard decoder of every frame of a stream, skipping skippable frames.
struct ZstdFrames<R: BufRead> {
    source: R,
    decoder: FrameDecoder,
    in_frame: bool,
}

impl<R: BufRead> ZstdFrames<R> {
    fn new(source: R) -> Self {
        Self {
            source,
            decoder: FrameDecoder::new(),
            in_frame: false,
        }
    }

    /// Starts the next frame; `false` at the end of the input.
    fn next_frame(&mut self) -> io::Result<bool> {
        loop {
            if self.source.fill_buf()?.is_empty() {
                return Ok(false);
            }
            match self.decoder.reset(&mut self.source) {
                Ok(()) => return Ok(true),
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let skipped =
                        io::copy(&mut (&mut self.source).take(length.into()), &mut io::sink())?;
                    if skipped != u64::from(length) {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "truncated zstd skippable frame",
                        ));
                    }
                }
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
        }
    }
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.in_frame {
                while self.decoder.can_collect() < buf.len() && !self.decoder.is_finished() {
                    let wanted = buf.len() - self.decoder.can_collect();
                    self.decoder
                        .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBytes(wanted))
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                }
                let n = self.decoder.read(buf)?;
                if n > 0 {
                    return Ok(n);
                }
                self.in_frame = false;
            }
            if !self.next_frame()? {
                return Ok(0);
            }
            self.in_frame = true;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::{Read, Write};

    use std::path::Path;

    use super::{Compression, DOCKER_LAYER_TAR, InflateLimit, inflate_archive};
    use crate::error::ArchiveError;
    use imgpull_reference::media_types;

    fn zstd(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn decode(compression: Compression, data: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        compression.decoder(data).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn media_types_announce_their_compression() {
        let cases = [
            (media_types::OCI_LAYER_TAR, Some(Compression::None)),
            (media_types::OCI_LAYER_TAR_GZIP, Some(Compression::Gzip)),
            (media_types::OCI_LAYER_TAR_ZSTD, Some(Compression::Zstd)),
            (media_types::DOCKER_LAYER_TAR_GZIP, Some(Compression::Gzip)),
            (
                media_types::DOCKER_FOREIGN_LAYER_TAR_GZIP,
                Some(Compression::Gzip),
            ),
            (DOCKER_LAYER_TAR, Some(Compression::None)),
            (media_types::IN_TOTO, None),
            (media_types::OCI_IMAGE_CONFIG, None),
        ];
        for (media_type, expected) in cases {
            assert_eq!(
                Compression::from_media_type(media_type),
                expected,
                "{media_type}"
            );
        }
    }

    #[test]
    fn magic_numbers_are_recognised() {
        assert_eq!(Compression::sniff(&gzip(b"x")), Compression::Gzip);
        assert_eq!(Compression::sniff(&zstd(b"x")), Compression::Zstd);
        assert_eq!(Compression::sniff(b"ustar"), Compression::None);
        assert_eq!(Compression::sniff(b""), Compression::None);
    }

    #[test]
    fn detection_keeps_the_bytes_it_read() {
        let compressed = gzip(b"layer");
        let (compression, whole) = Compression::detect(&compressed[..]).unwrap();
        assert_eq!(compression, Compression::Gzip);
        let mut out = Vec::new();
        compression.decoder(whole).read_to_end(&mut out).unwrap();
        assert_eq!(out, b"layer");
        // Shorter than any magic number.
        let (compression, mut whole) = Compression::detect(&b"ab"[..]).unwrap();
        assert_eq!(compression, Compression::None);
        out.clear();
        whole.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"ab");
    }

    #[test]
    fn every_gzip_member_and_zstd_frame_is_decoded() {
        let mut members = gzip(b"first ");
        members.extend(gzip(b"second"));
        assert_eq!(
            decode(Compression::Gzip, &members).unwrap(),
            b"first second"
        );

        // Two frames with a skippable frame between them, as zstd:chunked writes.
        let mut frames = zstd(b"first ");
        frames.extend([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
        frames.extend(zstd(b"second"));
        assert_eq!(decode(Compression::Zstd, &frames).unwrap(), b"first second");
    }

    #[test]
    fn corrupt_or_truncated_streams_are_errors() {
        let data: Vec<u8> = (0..20_000_u32).flat_map(u32::to_le_bytes).collect();
        let gz = gzip(&data);
        assert!(decode(Compression::Gzip, &gz[..gz.len() / 2]).is_err());
        let zst = zstd(&data);
        assert!(decode(Compression::Zstd, &zst[..zst.len() / 2]).is_err());
        let mut skippable = zstd(b"x");
        skippable.extend([0x50, 0x2a, 0x4d, 0x18, 100, 0, 0, 0, 1]);
        assert!(decode(Compression::Zstd, &skippable).is_err());
    }

    /// Inflates `compressed` as the archive `bomb.tar.gz` within `limit`.
    fn inflate(compressed: &[u8], limit: InflateLimit) -> Result<Vec<u8>, ArchiveError> {
        let temp = inflate_archive(Path::new("bomb.tar.gz"), compressed, limit)?;
        Ok(std::fs::read(temp.path()).unwrap())
    }

    /// Inflates `compressed` as `fifo.tar.gz` read from a pipe (no length, no seeking), fed by
    /// another thread in small writes.
    fn inflate_from_pipe(
        compressed: Vec<u8>,
        limit: InflateLimit,
    ) -> Result<Vec<u8>, ArchiveError> {
        let (reader, mut writer) = std::io::pipe().unwrap();
        let feeder = std::thread::spawn(move || {
            for chunk in compressed.chunks(4096) {
                // The reader stops early on a bomb: the pipe then breaks, which is expected.
                if writer.write_all(chunk).is_err() {
                    break;
                }
            }
        });
        let result = inflate_archive(Path::new("fifo.tar.gz"), reader, limit);
        feeder.join().unwrap();
        Ok(std::fs::read(result?.path()).unwrap())
    }

    /// `len` bytes that gzip shrinks only about twice (xorshift noise, then a constant pair).
    fn half_random(len: usize) -> Vec<u8> {
        let mut x = 0x9e37_79b9_u32;
        let mut out = Vec::with_capacity(len + 4);
        while out.len() < len {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            out.extend_from_slice(&x.to_le_bytes()[..2]);
            out.extend_from_slice(b"ab");
        }
        out.truncate(len);
        out
    }

    #[test]
    fn a_pipe_is_limited_by_the_bytes_read_like_a_file() {
        let limit = InflateLimit {
            ratio: 100,
            floor: 64 << 10,
        };
        // 4 MiB, far above the floor, that a pipe (whose length reads as 0) must let through.
        let content = half_random(4 << 20);
        let compressed = gzip(&content);
        assert!(compressed.len() as u64 > limit.floor);
        assert!(inflate_from_pipe(compressed.clone(), limit).unwrap() == content);
        assert!(inflate(&compressed, limit).unwrap() == content);

        // A bomb still stops, from a pipe as from a file, within the bytes read so far.
        let bomb = gzip(&vec![0_u8; 32 << 20]);
        for err in [
            inflate_from_pipe(bomb.clone(), limit).unwrap_err(),
            inflate(&bomb, limit).unwrap_err(),
        ] {
            let ArchiveError::InflateLimit {
                limit: max,
                compressed,
                ..
            } = err
            else {
                panic!("not the inflation limit: {err}");
            };
            assert!(compressed <= bomb.len() as u64);
            assert_eq!(max, limit.max_output(compressed));
            assert!(max < 32 << 20);
        }
    }

    #[test]
    fn archive_limit_is_a_ratio_with_a_floor() {
        assert_eq!(InflateLimit::ARCHIVE.max_output(0), 1 << 30);
        assert_eq!(InflateLimit::ARCHIVE.max_output(1 << 20), 1 << 30);
        assert_eq!(InflateLimit::ARCHIVE.max_output(1 << 30), 100 << 30);
        assert_eq!(InflateLimit::ARCHIVE.max_output(u64::MAX), u64::MAX);
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit_with_a_hint() {
        // 8 MiB of zeros in about 8 KiB: a ratio of about 1000.
        let zeros = vec![0_u8; 8 << 20];
        let bomb = gzip(&zeros);
        let compressed = bomb.len() as u64;
        assert!(compressed * 100 < zeros.len() as u64);
        let limit = InflateLimit {
            ratio: 100,
            floor: 1 << 20,
        };
        let err = inflate(&bomb, limit).unwrap_err();
        let ArchiveError::InflateLimit {
            limit: max,
            compressed: read,
            ..
        } = &err
        else {
            panic!("not the inflation limit: {err}");
        };
        let (max, read) = (*max, *read);
        assert!(read <= compressed);
        assert_eq!(max, limit.max_output(read));
        assert!(!err.is_integrity());
        assert_eq!(
            err.to_string(),
            format!(
                "`bomb.tar.gz` decompresses to more than {max} bytes (100 times the {read} \
                 compressed bytes read so far, at least 1048576): refused as a possible gzip \
                 bomb; if you trust it, decompress it yourself (`gunzip -k`) and give the plain \
                 tar, which is read in place"
            )
        );
        // The ratio alone refuses it too; either bound, large enough, lets it through.
        let ratio_only = InflateLimit {
            ratio: 100,
            floor: 0,
        };
        assert!(matches!(
            inflate(&bomb, ratio_only),
            Err(ArchiveError::InflateLimit { limit, compressed: read, .. })
                if limit == read * 100 && read <= compressed
        ));
        let roomy = InflateLimit {
            ratio: 100,
            floor: 16 << 20,
        };
        assert_eq!(inflate(&bomb, roomy).unwrap(), zeros);
        let generous = InflateLimit {
            ratio: 2000,
            floor: 0,
        };
        assert_eq!(inflate(&bomb, generous).unwrap(), zeros);
    }

    #[test]
    fn the_limit_is_inclusive() {
        let content = b"exactly this many bytes".repeat(100);
        let compressed = gzip(&content);
        let exact = InflateLimit {
            ratio: 0,
            floor: content.len() as u64,
        };
        assert_eq!(inflate(&compressed, exact).unwrap(), content);
        let short = InflateLimit {
            floor: content.len() as u64 - 1,
            ..exact
        };
        assert!(matches!(
            inflate(&compressed, short),
            Err(ArchiveError::InflateLimit { .. })
        ));
        // Corruption stays a tar-stream error, not a limit error.
        assert!(matches!(
            inflate(&compressed[..compressed.len() / 2], exact),
            Err(ArchiveError::Tar { .. })
        ));
    }
}
