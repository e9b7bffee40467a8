//! `Content-Range` parsing and the strict check of a ranged blob response.

/// A parsed `Content-Range: bytes START-END/TOTAL` header (`TOTAL` may be `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    /// First byte position of the body, inclusive.
    pub start: u64,
    /// Last byte position of the body, inclusive.
    pub end: u64,
    /// Total length of the resource, when the server knows it.
    pub total: Option<u64>,
}

impl ContentRange {
    /// Parses a `Content-Range` header value of the form `bytes START-END/TOTAL` or
    /// `bytes START-END/*`. Returns `None` for anything else, including unsatisfied
    /// ranges (`bytes */TOTAL`) and ranges whose end is before their start.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        let (unit, rest) = value.split_once(' ')?;
        if !unit.eq_ignore_ascii_case("bytes") {
            return None;
        }
        let (range, total) = rest.trim().split_once('/')?;
        let (start, end) = range.split_once('-')?;
        let start = parse_position(start)?;
        let end = parse_position(end)?;
        if end < start {
            return None;
        }
        let total = match total {
            "*" => None,
            total => {
                let total = parse_position(total)?;
                if end >= total {
                    return None;
                }
                Some(total)
            }
        };
        Some(Self { start, end, total })
    }

    /// Checks that this range answers a request for `bytes=offset-` of a blob of
    /// `size` bytes: it must start exactly at `offset`, end at the blob's last byte,
    /// and state the blob's size as total when it states one.
    pub fn answers(&self, offset: u64, size: u64) -> bool {
        self.usable_for(offset, size) == Some(size)
    }

    /// Whether this range can serve a request for `bytes=offset-` of a blob of `size`
    /// bytes, and where its bytes end (exclusive): it must start exactly at `offset`, end
    /// within the blob (RFC 9110 lets a server send less than asked for, the rest being
    /// asked for again), and state the blob's size as total when it states one.
    pub fn usable_for(&self, offset: u64, size: u64) -> Option<u64> {
        (self.start == offset && self.end < size && self.total.is_none_or(|total| total == size))
            .then(|| self.end + 1)
    }
}

/// A decimal byte position: ASCII digits only (no sign, no spaces).
fn parse_position(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_well_formed_ranges() {
        assert_eq!(
            ContentRange::parse("bytes 100-199/200"),
            Some(ContentRange {
                start: 100,
                end: 199,
                total: Some(200)
            })
        );
        assert_eq!(
            ContentRange::parse("Bytes 0-0/*"),
            Some(ContentRange {
                start: 0,
                end: 0,
                total: None
            })
        );
    }

    #[test]
    fn rejects_malformed_ranges() {
        for bad in [
            "",
            "bytes",
            "bytes */200",
            "bytes 10-5/200",
            "bytes 0-200/200",
            "items 0-1/2",
            "bytes -1-5/10",
            "bytes +1-5/10",
            "bytes 1 -5/10",
            "bytes 0-1",
            "bytes 0-99999999999999999999999/1",
        ] {
            assert_eq!(ContentRange::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn answers_checks_start_end_and_total() {
        let range = ContentRange::parse("bytes 100-199/200").unwrap();
        assert!(range.answers(100, 200));
        assert!(!range.answers(99, 200));
        assert!(!range.answers(100, 300));
        let open = ContentRange::parse("bytes 100-199/*").unwrap();
        assert!(open.answers(100, 200));
        let short = ContentRange::parse("bytes 100-150/200").unwrap();
        assert!(!short.answers(100, 200));
    }

    #[test]
    fn a_shorter_range_from_the_offset_is_usable_up_to_its_end() {
        let short = ContentRange::parse("bytes 100-150/200").unwrap();
        assert_eq!(short.usable_for(100, 200), Some(151));
        assert_eq!(short.usable_for(101, 200), None);
        assert_eq!(short.usable_for(100, 300), None);
        let whole = ContentRange::parse("bytes 100-199/*").unwrap();
        assert_eq!(whole.usable_for(100, 200), Some(200));
        let past = ContentRange::parse("bytes 100-250/*").unwrap();
        assert_eq!(past.usable_for(100, 200), None);
    }
}
