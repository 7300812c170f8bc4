//! Dates as Elasticsearch's default `date` mapping (`strict_date_optional_time||epoch_millis`)
//! and Kibana read them, and the one output format alerts use (ISO-8601, milliseconds, `Z`).

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};
use serde_json::Value;

/// `2025-06-03T09:14:26.845Z` — JavaScript's `Date.toISOString()`, which Kibana writes.
pub fn format_ms(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A JSON date value: an ISO-8601 string (see `parse_iso`), epoch milliseconds as a number,
/// or epoch milliseconds as a numeric string (Kibana's `getValidDateFromDoc` fallback).
pub fn parse_json_date(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::String(s) => parse_iso(s).or_else(|| {
            let ms: f64 = s.trim().parse().ok()?;
            from_epoch_ms(ms)
        }),
        Value::Number(n) => from_epoch_ms(n.as_f64()?),
        _ => None,
    }
}

fn from_epoch_ms(ms: f64) -> Option<DateTime<Utc>> {
    if !ms.is_finite() {
        return None;
    }
    Utc.timestamp_millis_opt(ms.trunc() as i64).single()
}

/// `strict_date_optional_time`: `yyyy[-MM[-dd[THH[:mm[:ss[.SSS…]]][zone]]]]` with zone `Z` or
/// `±HH[[:]mm]`; missing parts are their minimum, no zone means UTC. Accepts what Kibana's
/// `isValidDateType` tests accept (`2015`, `2015-01-01T`, `2015-01-01T12Z`) and rejects what it
/// rejects (`2015Z`, `2015-01-`, `2022/12/12`, `2015-20-20`).
pub fn parse_iso(s: &str) -> Option<DateTime<Utc>> {
    let mut p = Parser {
        s: s.as_bytes(),
        i: 0,
    };
    let year = p.digits(4)? as i32;
    let (mut month, mut day) = (1, 1);
    let (mut hour, mut minute, mut second, mut nanos) = (0, 0, 0, 0u32);
    let mut offset_secs = 0i32;
    if p.eat(b'-') {
        month = p.digits(2)?;
        if p.eat(b'-') {
            day = p.digits(2)?;
            if p.eat(b'T') && !p.done() {
                hour = p.digits(2)?;
                if p.eat(b':') {
                    minute = p.digits(2)?;
                    if p.eat(b':') {
                        second = p.digits(2)?;
                        if p.eat(b'.') || p.eat(b',') {
                            nanos = p.fraction()?;
                        }
                    }
                }
                if !p.done() {
                    offset_secs = p.zone()?;
                }
            }
        }
    }
    if !p.done() {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let naive = date.and_hms_nano_opt(hour, minute, second, nanos)?;
    let local = Utc.from_utc_datetime(&naive);
    local.checked_sub_signed(chrono::Duration::seconds(i64::from(offset_secs)))
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn digits(&mut self, n: usize) -> Option<u32> {
        let chunk = self.s.get(self.i..self.i + n)?;
        if !chunk.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.i += n;
        Some(
            chunk
                .iter()
                .fold(0, |acc, d| acc * 10 + u32::from(d - b'0')),
        )
    }

    /// 1–9 fraction digits as nanoseconds.
    fn fraction(&mut self) -> Option<u32> {
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        let len = self.i - start;
        if len == 0 || len > 9 {
            return None;
        }
        let mut value = self.s[start..self.i]
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
        for _ in len..9 {
            value *= 10;
        }
        Some(value)
    }

    /// `Z`, `±HH`, `±HHmm` or `±HH:mm`, as seconds east of UTC.
    fn zone(&mut self) -> Option<i32> {
        if self.eat(b'Z') {
            return Some(0);
        }
        let sign = if self.eat(b'+') {
            1
        } else if self.eat(b'-') {
            -1
        } else {
            return None;
        };
        let hours = self.digits(2)?;
        let minutes = if self.done() {
            0
        } else {
            self.eat(b':');
            self.digits(2)?
        };
        if hours > 23 || minutes > 59 {
            return None;
        }
        Some(sign * (hours * 3600 + minutes * 60) as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn iso_forms_accepted_like_kibana_is_valid_date_type() {
        // Cases from Kibana's is_valid_date_type.test.ts.
        let valid = [
            "2015-01-01T12:10:30.666Z",
            "2015-01-01T12:10:30.666",
            "2015-01-01T12:10:30Z",
            "2015-01-01T12:10:30",
            "2015-01-01T12:10Z",
            "2015-01-01T12:10",
            "2015-01-01T12Z",
            "2015-01-01T12",
            "2015-01-01T",
            "2015-01-01",
            "2015-01",
            "2015",
        ];
        for s in valid {
            assert!(parse_iso(s).is_some(), "{s} should be valid");
        }
        let invalid = [
            "non-valid",
            "2022/12/12",
            "2015Z",
            "2015-01-",
            "2015-01-01T12: 10Z",
            "2015-20-20",
        ];
        for s in invalid {
            assert!(parse_iso(s).is_none(), "{s} should be invalid");
        }
    }

    #[test]
    fn zones_and_fractions_convert_to_utc_milliseconds() {
        let cases = [
            ("2025-06-03T09:14:22.517Z", "2025-06-03T09:14:22.517Z"),
            ("2025-06-03T11:14:22.5+02:00", "2025-06-03T09:14:22.500Z"),
            ("2025-06-03T09:14:26Z", "2025-06-03T09:14:26.000Z"),
            ("2025-06-03T04:14:26-0500", "2025-06-03T09:14:26.000Z"),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_iso(input).map(format_ms).as_deref(),
                Some(want),
                "{input}"
            );
        }
    }

    #[test]
    fn json_dates_accept_epoch_millis() {
        let want = Some("2025-06-03T09:14:22.517Z".to_string());
        assert_eq!(
            parse_json_date(&json!(1748942062517u64)).map(format_ms),
            want
        );
        assert_eq!(
            parse_json_date(&json!("1748942062517")).map(format_ms),
            want
        );
        assert_eq!(parse_json_date(&json!(true)), None);
        assert_eq!(parse_json_date(&json!(["2025-06-03"])), None);
    }
}
