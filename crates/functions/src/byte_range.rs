//! The one byte range a `Range: bytes=...` header of the object API may ask for (RFC 9110,
//! section 14.1.2): `bytes=FIRST-LAST`, `bytes=FIRST-` or the suffix `bytes=-LENGTH`.

use object_store::GetRange;
use std::ops::Range;

/// A byte range asked for, before the object's size is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ByteRange {
    /// From byte `first` to byte `last` (included), or to the end when `last` is `None`.
    From {
        /// The first byte.
        first: u64,
        /// The last byte, included.
        last: Option<u64>,
    },
    /// The last `length` bytes.
    Suffix {
        /// How many bytes.
        length: u64,
    },
}

impl ByteRange {
    /// Reads a `Range` header's value; several ranges, another unit or a malformed range
    /// are refused with the reason.
    pub(crate) fn parse(header: &str) -> Result<ByteRange, String> {
        let spec = header
            .trim()
            .strip_prefix("bytes=")
            .ok_or_else(|| format!("Range '{header}' is not of the form bytes=FIRST-LAST"))?;
        if spec.contains(',') {
            return Err(format!(
                "Range '{header}' asks for several ranges; one is served"
            ));
        }
        let (first, last) = spec
            .split_once('-')
            .ok_or_else(|| format!("Range '{header}' has no '-'"))?;
        let number = |text: &str| {
            text.trim()
                .parse::<u64>()
                .map_err(|_| format!("Range '{header}': '{text}' is not a byte position"))
        };
        match (first.trim(), last.trim()) {
            ("", "") => Err(format!("Range '{header}' names no byte")),
            ("", length) => Ok(ByteRange::Suffix {
                length: number(length)?,
            }),
            (first, "") => Ok(ByteRange::From {
                first: number(first)?,
                last: None,
            }),
            (first, last) => {
                let (first, last) = (number(first)?, number(last)?);
                if last < first {
                    return Err(format!("Range '{header}' ends before it starts"));
                }
                Ok(ByteRange::From {
                    first,
                    last: Some(last),
                })
            }
        }
    }

    /// The bytes served of an object of `size` bytes, or `None` when the range is
    /// unsatisfiable (it starts at or past the end, or it is an empty suffix).
    pub(crate) fn resolve(self, size: u64) -> Option<Range<u64>> {
        let range = match self {
            ByteRange::From { first, .. } if first >= size => return None,
            ByteRange::From { first, last } => {
                first..last.map_or(size, |last| last.saturating_add(1).min(size))
            }
            ByteRange::Suffix { length } => size.saturating_sub(length)..size,
        };
        (!range.is_empty()).then_some(range)
    }

    /// The same range in the object store's terms.
    pub(crate) fn to_get_range(self) -> GetRange {
        match self {
            ByteRange::From {
                first,
                last: Some(last),
            } => GetRange::Bounded(first..last.saturating_add(1)),
            ByteRange::From { first, last: None } => GetRange::Offset(first),
            ByteRange::Suffix { length } => GetRange::Suffix(length),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ByteRange;

    #[test]
    fn the_three_forms_are_read_and_anything_else_refused() {
        let from = |first, last| ByteRange::From { first, last };
        assert_eq!(ByteRange::parse("bytes=0-99"), Ok(from(0, Some(99))));
        assert_eq!(ByteRange::parse(" bytes=5 - 5 "), Ok(from(5, Some(5))));
        assert_eq!(ByteRange::parse("bytes=100-"), Ok(from(100, None)));
        assert_eq!(
            ByteRange::parse("bytes=-20"),
            Ok(ByteRange::Suffix { length: 20 })
        );
        for bad in [
            "bytes=",
            "bytes=-",
            "bytes=9-3",
            "bytes=0-1,4-5",
            "items=0-9",
            "bytes=a-9",
            "0-9",
            "bytes=1",
        ] {
            let err = ByteRange::parse(bad).unwrap_err();
            assert!(err.contains(bad.trim()), "{bad}: {err}");
        }
    }

    #[test]
    fn ranges_are_cut_at_the_end_and_unsatisfiable_ones_are_none() {
        let from = |first, last| ByteRange::From { first, last };
        assert_eq!(from(2, Some(5)).resolve(10), Some(2..6));
        assert_eq!(from(2, Some(50)).resolve(10), Some(2..10));
        assert_eq!(from(9, None).resolve(10), Some(9..10));
        assert_eq!(from(10, None).resolve(10), None);
        assert_eq!(from(0, Some(0)).resolve(0), None);
        assert_eq!(from(0, Some(u64::MAX)).resolve(3), Some(0..3));
        assert_eq!(ByteRange::Suffix { length: 4 }.resolve(10), Some(6..10));
        assert_eq!(ByteRange::Suffix { length: 40 }.resolve(10), Some(0..10));
        assert_eq!(ByteRange::Suffix { length: 0 }.resolve(10), None);
        assert_eq!(ByteRange::Suffix { length: 4 }.resolve(0), None);
    }
}
