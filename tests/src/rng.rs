//! A tiny seeded generator (SplitMix64) for deterministic test content; not for cryptography.

use std::io::{self, Read};

/// SplitMix64: a fast, well-distributed 64-bit generator from a single `u64` seed.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fills `buf` with pseudo-random bytes.
    pub(crate) fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }
}

/// Words for compressible text content.
const WORDS: [&str; 16] = [
    "layer", "image", "registry", "manifest", "digest", "config", "blob", "platform", "index",
    "token", "archive", "cache", "pull", "push", "tar", "gzip",
];

/// A reader of `remaining` deterministic bytes: random (incompressible) or text (compressible).
#[derive(Debug)]
pub(crate) struct ContentReader {
    rng: SplitMix64,
    remaining: u64,
    text: bool,
    pending: Vec<u8>,
}

impl ContentReader {
    pub(crate) fn new(seed: u64, len: u64, text: bool) -> Self {
        Self {
            rng: SplitMix64::new(seed),
            remaining: len,
            text,
            pending: Vec::new(),
        }
    }
}

impl Read for ContentReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        let out = &mut buf[..want];
        if self.text {
            let mut filled = 0;
            while filled < want {
                if self.pending.is_empty() {
                    let value = self.rng.next_u64();
                    // The index is masked to 0..16, so the cast cannot truncate meaningfully.
                    let word = WORDS[(value & 0xF) as usize];
                    self.pending.extend_from_slice(word.as_bytes());
                    self.pending
                        .push(if value & 0x1F0 == 0 { b'\n' } else { b' ' });
                    self.pending.reverse();
                }
                while filled < want {
                    let Some(byte) = self.pending.pop() else {
                        break;
                    };
                    out[filled] = byte;
                    filled += 1;
                }
            }
        } else {
            self.rng.fill(out);
        }
        self.remaining -= want as u64;
        Ok(want)
    }
}
