//! ASL timestamps: parsing for Wait `Timestamp`/`TimestampPath`, Choice `Timestamp*` and
//! `IsTimestamp`, and formatting for the timestamps placed in context objects.
//!
//! AWS accepts the ISO-8601 extended offset date-time format: `2016-03-14T01:59:00Z`,
//! `2016-03-14T01:59:00.123456789+01:00`. Concretely:
//!
//! - date `YYYY-MM-DD` (a real calendar date), an uppercase `T`, time `hh:mm` with optional
//!   `:ss` and, after the seconds, an optional fraction of 1 to 9 digits;
//! - an offset: uppercase `Z` or `+hh:mm` / `-hh:mm` (optionally `:ss`), at most 18 hours.
//!
//! Hours run 00–23, minutes and seconds 00–59 (no leap second). Anything else, including a
//! missing offset, a space instead of `T`, or surrounding whitespace, is rejected.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};

/// Parses an ASL timestamp. `None` when invalid (e.g. month 13, hour 25, missing `T`, missing
/// offset).
pub fn parse(s: &str) -> Option<DateTime<FixedOffset>> {
    let mut cursor = Cursor {
        bytes: s.as_bytes(),
        pos: 0,
    };
    let year = cursor.digits(4)?;
    cursor.literal(b'-')?;
    let month = cursor.digits(2)?;
    cursor.literal(b'-')?;
    let day = cursor.digits(2)?;
    cursor.literal(b'T')?;
    let hour = cursor.digits(2)?;
    cursor.literal(b':')?;
    let minute = cursor.digits(2)?;
    let mut second = 0;
    let mut nanos = 0;
    if cursor.peek() == Some(b':') {
        cursor.pos += 1;
        second = cursor.digits(2)?;
        if cursor.peek() == Some(b'.') {
            cursor.pos += 1;
            nanos = cursor.fraction()?;
        }
    }
    let offset_seconds = match cursor.next()? {
        b'Z' => 0,
        sign @ (b'+' | b'-') => {
            let hours = cursor.digits(2)?;
            cursor.literal(b':')?;
            let minutes = cursor.digits(2)?;
            let seconds = if cursor.peek() == Some(b':') {
                cursor.pos += 1;
                cursor.digits(2)?
            } else {
                0
            };
            if minutes > 59 || seconds > 59 {
                return None;
            }
            let total = i32::try_from(hours * 3600 + minutes * 60 + seconds).ok()?;
            if total > 18 * 3600 {
                return None;
            }
            if sign == b'-' { -total } else { total }
        }
        _ => return None,
    };
    if cursor.pos != s.len() {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    if second > 59 {
        return None;
    }
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    let offset = FixedOffset::east_opt(offset_seconds)?;
    NaiveDateTime::new(date, time)
        .and_local_timezone(offset)
        .single()
}

/// Formats an instant as AWS does in context objects and history: UTC with a `Z`, truncated to
/// milliseconds, e.g. `2025-01-01T00:00:00.123Z`. Like Java's `Instant.toString()`, a whole
/// second has no fraction (`2025-01-01T00:00:00Z`) and a fraction always has three digits.
pub fn format(t: DateTime<Utc>) -> String {
    let millis = t.nanosecond() / 1_000_000 % 1000;
    let base = t.format("%Y-%m-%dT%H:%M:%S");
    if millis == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{millis:03}Z")
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.pos += 1;
        Some(byte)
    }

    fn literal(&mut self, expected: u8) -> Option<()> {
        (self.next()? == expected).then_some(())
    }

    /// Exactly `count` ASCII digits.
    fn digits(&mut self, count: usize) -> Option<u32> {
        let mut value = 0u32;
        for _ in 0..count {
            let byte = self.next()?;
            if !byte.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u32::from(byte - b'0');
        }
        Some(value)
    }

    /// 1 to 9 digits of a fraction of a second, as nanoseconds.
    fn fraction(&mut self) -> Option<u32> {
        let mut nanos = 0u32;
        let mut count = 0;
        while let Some(byte) = self.peek().filter(u8::is_ascii_digit) {
            if count == 9 {
                return None;
            }
            nanos = nanos * 10 + u32::from(byte - b'0');
            count += 1;
            self.pos += 1;
        }
        if count == 0 {
            return None;
        }
        Some(nanos * 10u32.pow(9 - count))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Timelike};

    use super::*;

    #[test]
    fn accepts_aws_timestamps() {
        for s in [
            "2016-03-14T01:59:00Z",
            "2016-03-05T21:29:29.243167252Z",
            "2025-01-01T00:00:00.000000Z",
            "2025-01-01T00:00:00.00Z",
            "2012-10-09T19:00:55Z",
            "2012-10-09T19:00:55+01:00",
            "2012-10-09T19:00:55-08:30",
            "2012-10-09T19:00:55.5+00:00",
            "2012-10-09T19:00Z",
            "2012-10-09T19:00:55+01:00:30",
            "2024-02-29T23:59:59Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "2012-10-09T19:00:55+18:00",
        ] {
            assert!(parse(s).is_some(), "{s}");
        }
    }

    #[test]
    fn rejects_invalid_timestamps() {
        for s in [
            "2016-13-05T21:29:29Z",
            "05-12-2016T21:29:29Z",
            "2016-12-05T25:29:29Z",
            "2016-12-05 21:29:29Z",
            "2016-12-05T21:29:29",
            "2025-01-01T00:00:00.000000",
            "2025-01-01T00:00:00",
            "2016-12-05t21:29:29Z",
            "2016-12-05T21:29:29z",
            "2023-02-29T00:00:00Z",
            "2016-12-05T24:00:00Z",
            "2016-12-05T21:60:00Z",
            "2016-12-05T21:29:60Z",
            "2016-12-05T21:29:29.Z",
            "2016-12-05T21:29:29.1234567890Z",
            "2016-12-05T21:29:29+0100",
            "2016-12-05T21:29:29+01",
            "2016-12-05T21:29:29+19:00",
            "2016-12-05T21:29:29+01:60",
            "2016-12-05T21:29Z:00",
            " 2016-12-05T21:29:29Z",
            "2016-12-05T21:29:29Z ",
            "2016-12-05",
            "16-12-05T21:29:29Z",
            "2016-1-05T21:29:29Z",
            "",
            "date",
        ] {
            assert!(parse(s).is_none(), "{s}");
        }
    }

    #[test]
    fn parses_values_and_offsets() {
        let t = parse("2016-03-05T21:29:29.243167252+02:00").unwrap();
        assert_eq!(t.offset().local_minus_utc(), 7200);
        assert_eq!(t.nanosecond(), 243_167_252);
        assert_eq!(
            t.with_timezone(&Utc),
            Utc.with_ymd_and_hms(2016, 3, 5, 19, 29, 29).unwrap()
                + chrono::Duration::nanoseconds(243_167_252)
        );
        let short = parse("2012-10-09T19:00Z").unwrap();
        assert_eq!(short, parse("2012-10-09T19:00:00.000Z").unwrap());
        let tenth = parse("2012-10-09T19:00:55.5Z").unwrap();
        assert_eq!(tenth.nanosecond(), 500_000_000);
    }

    #[test]
    fn compares_instants_across_offsets() {
        let a = parse("2012-10-09T19:00:55Z").unwrap();
        let b = parse("2012-10-09T20:00:55+01:00").unwrap();
        let c = parse("2012-10-09T19:00:56Z").unwrap();
        assert_eq!(a, b);
        assert!(a < c);
    }

    #[test]
    fn formats_like_aws() {
        let t = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(format(t), "2025-01-01T00:00:00Z");
        assert_eq!(
            format(t + chrono::Duration::milliseconds(123)),
            "2025-01-01T00:00:00.123Z"
        );
        assert_eq!(
            format(t + chrono::Duration::milliseconds(120)),
            "2025-01-01T00:00:00.120Z"
        );
        assert_eq!(
            format(t + chrono::Duration::microseconds(999_999)),
            "2025-01-01T00:00:00.999Z"
        );
        assert_eq!(
            format(t + chrono::Duration::microseconds(500)),
            "2025-01-01T00:00:00Z"
        );
        let round_trip = parse(&format(t + chrono::Duration::milliseconds(7))).unwrap();
        assert_eq!(round_trip, t + chrono::Duration::milliseconds(7));
    }
}
