//! Dates as Elasticsearch reads them on `date` fields: the ECS default format
//! `strict_date_optional_time||epoch_millis`, Elasticsearch date math (`now-1d/d`,
//! `2024-01-01||+1M`), and the rounding rules for range bounds (a value with missing parts, like
//! `2024-01-01`, covers the whole day: an upper or exclusive-lower bound rounds up to its end).
//!
//! All instants are milliseconds since the Unix epoch, UTC (Kibana's detection engine sends no
//! time zone, so Elasticsearch uses UTC).

use chrono::{Datelike, NaiveDate, TimeZone, Utc};

/// Parses an event value of a date field. `None` when Elasticsearch would reject it.
pub fn parse_event_date(text: &str) -> Option<i64> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) || is_negative_int(text) {
        return text.parse::<i64>().ok(); // epoch_millis
    }
    parse_iso(text, false)
}

fn is_negative_int(text: &str) -> bool {
    text.strip_prefix('-')
        .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
}

/// Parses a query-side date (with date math). `round_up` fills missing parts with their maximum
/// (Elasticsearch does so for `lte`/`gt` bounds and the upper end of a term query).
pub fn parse_query_date(text: &str, now_ms: i64, round_up: bool) -> Option<i64> {
    let (anchor, math) = if let Some(rest) = text.strip_prefix("now") {
        (now_ms, rest)
    } else if let Some((anchor, math)) = text.split_once("||") {
        (parse_anchor(anchor, round_up && math.is_empty())?, math)
    } else {
        return parse_anchor(text, round_up);
    };
    apply_math(anchor, math, round_up)
}

fn parse_anchor(text: &str, round_up: bool) -> Option<i64> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && text.len() > 4 {
        return text.parse::<i64>().ok(); // epoch_millis (a 4-digit number is a year)
    }
    parse_iso(text, round_up)
}

/// `strict_date_optional_time`: `yyyy[-MM[-dd[THH[:mm[:ss[.S…]]]]]][Z|±HH[:]mm]`.
fn parse_iso(text: &str, round_up: bool) -> Option<i64> {
    let b = text.as_bytes();
    let mut pos = 0;
    let num = |pos: &mut usize, width: usize| -> Option<u32> {
        let s = text.get(*pos..*pos + width)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        *pos += width;
        s.parse().ok()
    };
    let year = num(&mut pos, 4)? as i32;
    let mut month = None;
    let mut day = None;
    if b.get(pos) == Some(&b'-') {
        pos += 1;
        month = Some(num(&mut pos, 2)?);
        if b.get(pos) == Some(&b'-') {
            pos += 1;
            day = Some(num(&mut pos, 2)?);
        }
    }
    let (mut hour, mut minute, mut second, mut nanos) = (None, None, None, None);
    if b.get(pos) == Some(&b'T') && day.is_some() {
        pos += 1;
        hour = Some(num(&mut pos, 2)?);
        if b.get(pos) == Some(&b':') {
            pos += 1;
            minute = Some(num(&mut pos, 2)?);
            if b.get(pos) == Some(&b':') {
                pos += 1;
                second = Some(num(&mut pos, 2)?);
                if let Some(b'.' | b',') = b.get(pos) {
                    pos += 1;
                    let start = pos;
                    while b.get(pos).is_some_and(u8::is_ascii_digit) && pos - start < 9 {
                        pos += 1;
                    }
                    if pos == start {
                        return None;
                    }
                    let digits = &text[start..pos];
                    let scaled: u32 = format!("{digits:0<9}").parse().ok()?;
                    nanos = Some(scaled);
                }
            }
        }
    }
    let offset_minutes: i64 = match b.get(pos) {
        None => 0,
        Some(b'Z') if pos + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if hour.is_some() => {
            pos += 1;
            let h = num(&mut pos, 2)? as i64;
            if b.get(pos) == Some(&b':') {
                pos += 1;
            }
            let m = if pos < b.len() {
                num(&mut pos, 2)? as i64
            } else {
                0
            };
            if pos != b.len() {
                return None;
            }
            let total = h * 60 + m;
            if sign == b'+' {
                total
            } else {
                -total
            }
        }
        _ => return None,
    };
    let month_v = month.unwrap_or(if round_up { 12 } else { 1 });
    let date_start = NaiveDate::from_ymd_opt(year, month_v, 1)?;
    let last_day = last_day_of_month(date_start);
    let day_v = day.unwrap_or(if round_up { last_day } else { 1 });
    let date = NaiveDate::from_ymd_opt(year, month_v, day_v)?;
    let max_or = |v: Option<u32>, max: u32| v.unwrap_or(if round_up { max } else { 0 });
    let (h, mi, s) = (max_or(hour, 23), max_or(minute, 59), max_or(second, 59));
    if h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let millis = match nanos {
        Some(n) => i64::from(n / 1_000_000),
        None if round_up => 999,
        None => 0,
    };
    let naive = date.and_hms_opt(h, mi, s)?;
    let utc = Utc.from_utc_datetime(&naive).timestamp_millis() + millis;
    Some(utc - offset_minutes * 60_000)
}

fn last_day_of_month(first: NaiveDate) -> u32 {
    let (y, m) = if first.month() == 12 {
        (first.year() + 1, 1)
    } else {
        (first.year(), first.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|d| d.pred_opt())
        .map_or(28, |d| d.day())
}

/// Applies `+1d`, `-2h`, `/d` … to an instant.
fn apply_math(mut ms: i64, math: &str, round_up: bool) -> Option<i64> {
    let b = math.as_bytes();
    let mut pos = 0;
    while pos < b.len() {
        let op = b[pos];
        pos += 1;
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        let amount: i64 = if pos > start {
            math[start..pos].parse().ok()?
        } else {
            1
        };
        let unit = *b.get(pos)?;
        pos += 1;
        match op {
            b'+' | b'-' => {
                let n = if op == b'+' { amount } else { -amount };
                ms = add_units(ms, n, unit)?;
            }
            b'/' if pos == start + 1 => ms = round(ms, unit, round_up)?,
            _ => return None,
        }
    }
    Some(ms)
}

fn add_units(ms: i64, n: i64, unit: u8) -> Option<i64> {
    let fixed = |per: i64| ms.checked_add(n.checked_mul(per)?);
    match unit {
        b's' => fixed(1_000),
        b'm' => fixed(60_000),
        b'h' | b'H' => fixed(3_600_000),
        b'd' => fixed(86_400_000),
        b'w' => fixed(7 * 86_400_000),
        b'M' | b'y' => {
            let months = if unit == b'y' { n * 12 } else { n };
            let dt = Utc.timestamp_millis_opt(ms).single()?;
            let shifted = if months >= 0 {
                dt.checked_add_months(chrono::Months::new(u32::try_from(months).ok()?))
            } else {
                dt.checked_sub_months(chrono::Months::new(u32::try_from(-months).ok()?))
            }?;
            Some(shifted.timestamp_millis())
        }
        _ => None,
    }
}

/// Rounds down to the start of the unit, or (round_up) to its last millisecond.
fn round(ms: i64, unit: u8, round_up: bool) -> Option<i64> {
    let dt = Utc.timestamp_millis_opt(ms).single()?;
    let start = match unit {
        b's' => ms.div_euclid(1_000) * 1_000,
        b'm' => ms.div_euclid(60_000) * 60_000,
        b'h' | b'H' => ms.div_euclid(3_600_000) * 3_600_000,
        b'd' => ms.div_euclid(86_400_000) * 86_400_000,
        b'w' => {
            let day = ms.div_euclid(86_400_000) * 86_400_000;
            day - i64::from(dt.weekday().num_days_from_monday()) * 86_400_000
        }
        b'M' => Utc
            .with_ymd_and_hms(dt.year(), dt.month(), 1, 0, 0, 0)
            .single()?
            .timestamp_millis(),
        b'y' => Utc
            .with_ymd_and_hms(dt.year(), 1, 1, 0, 0, 0)
            .single()?
            .timestamp_millis(),
        _ => return None,
    };
    if !round_up {
        return Some(start);
    }
    Some(add_units(start, 1, unit)? - 1)
}

/// Formats an instant as Elasticsearch prints dates: `2025-06-03T09:14:26.845Z`.
pub fn format_millis(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map_or_else(String::new, |dt| {
            dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|d| d.timestamp_millis())
            .unwrap_or(i64::MIN)
    }

    #[test]
    fn event_dates_in_strict_date_optional_time_or_epoch_millis() {
        let cases: &[(&str, Option<&str>)] = &[
            ("2025-06-03T09:14:22.517Z", Some("2025-06-03T09:14:22.517Z")),
            ("2025-06-03T09:14:26Z", Some("2025-06-03T09:14:26Z")),
            (
                "2025-06-03T09:14:26.123456789Z",
                Some("2025-06-03T09:14:26.123Z"),
            ),
            ("2025-06-03T11:14:26+02:00", Some("2025-06-03T09:14:26Z")),
            ("2025-06-03T11:14:26+0200", Some("2025-06-03T09:14:26Z")),
            ("2025-06-03", Some("2025-06-03T00:00:00Z")),
            ("2025-06", Some("2025-06-01T00:00:00Z")),
            ("2025-06-03T09", Some("2025-06-03T09:00:00Z")),
            ("1748942066000", Some("2025-06-03T09:14:26Z")),
            ("2025-13-03", None),
            ("2025-02-30", None),
            ("03/06/2025", None),
            ("2025-06-03 09:14:26", None),
            ("", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_event_date(text), expected.map(at), "{text}");
        }
    }

    #[test]
    fn query_dates_round_missing_parts_and_apply_date_math() {
        let now = at("2025-06-03T09:14:26.845Z");
        let cases: &[(&str, bool, &str)] = &[
            ("2025-06-03", false, "2025-06-03T00:00:00Z"),
            ("2025-06-03", true, "2025-06-03T23:59:59.999Z"),
            ("2025", true, "2025-12-31T23:59:59.999Z"),
            ("2024-02", true, "2024-02-29T23:59:59.999Z"),
            ("now", false, "2025-06-03T09:14:26.845Z"),
            ("now-1d", false, "2025-06-02T09:14:26.845Z"),
            ("now-1d/d", false, "2025-06-02T00:00:00Z"),
            ("now-1d/d", true, "2025-06-02T23:59:59.999Z"),
            ("now+1M", false, "2025-07-03T09:14:26.845Z"),
            ("2025-01-31||+1M", false, "2025-02-28T00:00:00Z"),
            ("now/w", false, "2025-06-02T00:00:00Z"),
            ("now-30m", false, "2025-06-03T08:44:26.845Z"),
        ];
        for (text, up, expected) in cases {
            assert_eq!(
                parse_query_date(text, now, *up),
                Some(at(expected)),
                "{text} up={up}"
            );
        }
        assert_eq!(parse_query_date("now-1x", now, false), None);
        assert_eq!(format_millis(now), "2025-06-03T09:14:26.845Z");
    }
}
