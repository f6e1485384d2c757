//! Time as data: RFC 3339 parsing and Go-compatible formatting, with no clock.
//!
//! The core never reads the clock. Callers pass a [`UnixTime`] ("now") into every
//! decision that depends on time, so expiry test vectors never rot.

use core::fmt;

/// A UTC instant with nanosecond precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime {
    secs: i64,
    nanos: u32,
}

/// Seconds in a day.
const DAY: i64 = 86_400;
/// `0000-01-01T00:00:00Z`: the first instant with an RFC 3339 UTC form.
const MIN_SECS: i64 = -62_167_219_200;
/// `9999-12-31T23:59:59Z`: the last second with an RFC 3339 UTC form.
const MAX_SECS: i64 = 253_402_300_799;

impl UnixTime {
    /// The Unix epoch.
    pub const EPOCH: Self = Self { secs: 0, nanos: 0 };

    /// An instant `secs` seconds and `nanos` nanoseconds after the epoch.
    /// `nanos` is reduced modulo one second.
    pub const fn from_unix(secs: i64, nanos: u32) -> Self {
        Self {
            secs: secs + (nanos / 1_000_000_000) as i64,
            nanos: nanos % 1_000_000_000,
        }
    }

    /// Whole seconds since the epoch.
    pub const fn secs(self) -> i64 {
        self.secs
    }

    /// Nanoseconds within the second.
    pub const fn subsec_nanos(self) -> u32 {
        self.nanos
    }

    /// This instant moved by `secs` seconds (saturating).
    pub const fn add_secs(self, secs: i64) -> Self {
        Self {
            secs: self.secs.saturating_add(secs),
            nanos: self.nanos,
        }
    }

    /// This instant moved by whole days (saturating).
    pub const fn add_days(self, days: i64) -> Self {
        self.add_secs(days.saturating_mul(DAY))
    }

    /// This instant moved by calendar years, as Go's `time.AddDate(years, 0, 0)` does
    /// (February 29th rolls over to March 1st).
    pub fn add_years(self, years: i64) -> Self {
        let days = self.secs.div_euclid(DAY);
        let rem = self.secs.rem_euclid(DAY);
        let (y, m, d) = civil_from_days(days);
        let days = days_from_civil(y + years, m, d);
        Self {
            secs: days * DAY + rem,
            nanos: self.nanos,
        }
    }

    /// Parses any RFC 3339 date-time (`2026-11-21T20:24:27.278162772Z`, `…-05:00`).
    pub fn parse_rfc3339(s: &str) -> Result<Self, TimeError> {
        let err = || TimeError {
            input: s.to_owned(),
        };
        let b = s.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
            return Err(err());
        }
        if b[13] != b':' || b[16] != b':' {
            return Err(err());
        }
        let num = |r: core::ops::Range<usize>| -> Result<i64, TimeError> {
            let part = &b[r];
            if part.iter().all(u8::is_ascii_digit) {
                Ok(part.iter().fold(0i64, |a, d| a * 10 + i64::from(d - b'0')))
            } else {
                Err(err())
            }
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(err());
        }
        let mut i = 19;
        let mut nanos = 0u32;
        if b[i] == b'.' {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                if i - start < 9 {
                    nanos = nanos * 10 + u32::from(b[i] - b'0');
                }
                i += 1;
            }
            let digits = i - start;
            if digits == 0 {
                return Err(err());
            }
            for _ in digits..9 {
                nanos *= 10;
            }
        }
        let offset = match b.get(i) {
            Some(b'Z' | b'z') if i + 1 == b.len() => 0,
            Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
                let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
                if h > 23 || m > 59 {
                    return Err(err());
                }
                let off = h * 3600 + m * 60;
                if *sign == b'-' { -off } else { off }
            }
            _ => return Err(err()),
        };
        let days = days_from_civil(year, month, day);
        let secs = days * DAY + hour * 3600 + minute * 60 + second - offset;
        // An offset can carry a date written in years 0000–9999 out of that range in UTC
        // (`9999-12-31T23:00:00-05:00` is in year 10000), where it has no RFC 3339 form
        // to write back (Go's `MarshalJSON` refuses such times too).
        if !(MIN_SECS..=MAX_SECS).contains(&secs) {
            return Err(err());
        }
        Ok(Self { secs, nanos })
    }

    /// Formats as Go's `time.RFC3339Nano` in UTC: fraction trimmed of trailing zeros and
    /// left out when zero, zone `Z`. This is what Notary writes into `expires`.
    pub fn to_rfc3339(self) -> String {
        let days = self.secs.div_euclid(DAY);
        let rem = self.secs.rem_euclid(DAY);
        let (y, m, d) = civil_from_days(days);
        let mut out = format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        );
        if self.nanos != 0 {
            let frac = format!("{:09}", self.nanos);
            out.push('.');
            out.push_str(frac.trim_end_matches('0'));
        }
        out.push('Z');
        out
    }

    /// Formats as Go's `time.RFC1123` in UTC, which Notary uses for `Last-Modified`:
    /// `Sat, 21 Nov 2026 20:24:27 UTC` (note `UTC`, not `GMT`).
    pub fn to_rfc1123_utc(self) -> String {
        const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let days = self.secs.div_euclid(DAY);
        let rem = self.secs.rem_euclid(DAY);
        let (y, m, d) = civil_from_days(days);
        let weekday = WEEKDAYS[days.rem_euclid(7) as usize];
        format!(
            "{weekday}, {d:02} {} {y:04} {:02}:{:02}:{:02} UTC",
            MONTHS[(m - 1) as usize],
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// A string that is not an RFC 3339 date-time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeError {
    /// The rejected input.
    pub input: String,
}

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an RFC 3339 time: {:?}", self.input)
    }
}

impl std::error::Error for TimeError {}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
/// Day-of-month overflow (Feb 29 in a common year) rolls into the next month, like Go.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_formats() {
        let t = UnixTime::parse_rfc3339("2026-11-21T20:24:27.278162772Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-21T20:24:27.278162772Z");
        let off = UnixTime::parse_rfc3339("2116-07-03T17:56:36.027379879-05:00").unwrap();
        assert_eq!(off.to_rfc3339(), "2116-07-03T22:56:36.027379879Z");
        let plain = UnixTime::parse_rfc3339("1970-01-01T00:00:00Z").unwrap();
        assert_eq!(plain, UnixTime::EPOCH);
        assert_eq!(
            UnixTime::parse_rfc3339("2026-12-05T20:24:27.3Z")
                .unwrap()
                .to_rfc3339(),
            "2026-12-05T20:24:27.3Z"
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00+0500",
            "2026-01-01T24:00:00Z",
            "२०२६-01-01T00:00:00Z",
        ] {
            assert!(UnixTime::parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn offsets_cannot_leave_the_four_digit_years() {
        // Found by fuzzing (fuzz/time_rfc3339): these parsed, but their UTC form (years
        // 10000 and -1) could not be written as RFC 3339 and did not parse back.
        for bad in [
            "9999-12-31T23:59:59.99995-05:00",
            "0000-01-01T00:00:00+01:00",
        ] {
            assert!(UnixTime::parse_rfc3339(bad).is_err(), "{bad}");
        }
        for (ok, utc) in [
            (
                "9999-12-31T23:59:59.999999999Z",
                "9999-12-31T23:59:59.999999999Z",
            ),
            ("9999-12-31T23:59:59+00:00", "9999-12-31T23:59:59Z"),
            ("0000-01-01T00:00:00Z", "0000-01-01T00:00:00Z"),
            ("0000-01-01T01:00:00+01:00", "0000-01-01T00:00:00Z"),
        ] {
            let t = UnixTime::parse_rfc3339(ok).unwrap();
            assert_eq!(t.to_rfc3339(), utc);
            assert_eq!(UnixTime::parse_rfc3339(utc).unwrap(), t);
        }
    }

    #[test]
    fn calendar_round_trip() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn add_years_like_go() {
        let leap = UnixTime::parse_rfc3339("2024-02-29T12:00:00Z").unwrap();
        assert_eq!(leap.add_years(1).to_rfc3339(), "2025-03-01T12:00:00Z");
        assert_eq!(leap.add_years(4).to_rfc3339(), "2028-02-29T12:00:00Z");
    }

    #[test]
    fn rfc1123_says_utc() {
        let t = UnixTime::parse_rfc3339("2026-11-21T20:24:27Z").unwrap();
        assert_eq!(t.to_rfc1123_utc(), "Sat, 21 Nov 2026 20:24:27 UTC");
        assert_eq!(
            UnixTime::EPOCH.to_rfc1123_utc(),
            "Thu, 01 Jan 1970 00:00:00 UTC"
        );
    }
}
