//! Enrichment from external data: GeoIP City/ASN on `source.ip` and user-agent parsing of
//! `user_agent.original` (mapping doc §9), shaped as Elasticsearch's `geoip` and `user_agent`
//! processors shape them.
//!
//! Design choice: nothing is bundled. The user points at MaxMind `.mmdb` files and a uap-core
//! `regexes.yaml`; without them the enriched fields are simply absent and [`Enrichment::describe`]
//! says so, because silently inventing geo data would make rules on `source.as.*` untrustworthy.
//! User agents are parsed with the `uaparser` crate (the established Rust implementation of
//! uap-core, loading the same `regexes.yaml` format Elasticsearch bundles); the one value it does
//! not report, the fourth version component, is recovered from the same regexes ([`UaBuild`]).

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use maxminddb::Reader;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use uaparser::{Parser, UserAgentParser};

use super::path;
use super::OktaError;

/// Where the enrichment data lives. Every field is optional; absent means "not enriched".
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichmentConfig {
    /// MaxMind GeoIP2/GeoLite2 City database (`.mmdb`), fills `source.geo.*`. Default: none.
    #[serde(default)]
    pub geoip_city_db: Option<PathBuf>,
    /// MaxMind GeoIP2/GeoLite2 ASN database (`.mmdb`), fills `source.as.*`. Default: none.
    #[serde(default)]
    pub geoip_asn_db: Option<PathBuf>,
    /// uap-core `regexes.yaml`, fills `user_agent.name/version/os.*/device.name`. Default: none.
    #[serde(default)]
    pub ua_regexes: Option<PathBuf>,
}

/// Loaded enrichment data, shared read-only by all workers.
pub struct Enrichment {
    city: Option<(Reader<Vec<u8>>, String)>,
    asn: Option<(Reader<Vec<u8>>, String)>,
    ua: Option<(UserAgentParser, String)>,
    ua_build: Option<UaBuild>,
}

/// The fourth user-agent version component (uap-core's `patch_minor`, regex group 5), which
/// Elasticsearch reports (`112.0.0.0`) and the `uaparser` crate drops. Same regexes, same order,
/// same compile options as `uaparser`, so the first match is the one it used.
struct UaBuild {
    matchers: Vec<(regex::bytes::Regex, bool)>,
}

#[derive(Deserialize)]
struct UaFile {
    user_agent_parsers: Vec<UaEntry>,
}

#[derive(Deserialize)]
struct UaEntry {
    regex: String,
    family_replacement: Option<String>,
}

impl UaBuild {
    fn load(bytes: &[u8]) -> Result<Self, String> {
        let file: UaFile = serde_yaml::from_slice(bytes).map_err(|e| e.to_string())?;
        // uaparser removes escapes the regex crate rejects (`\!`, `\ `, `\/`).
        let invalid = regex::Regex::new(r"\\([! /])").map_err(|e| e.to_string())?;
        let mut matchers = Vec::with_capacity(file.user_agent_parsers.len());
        for e in file.user_agent_parsers {
            let re = regex::bytes::RegexBuilder::new(&invalid.replace_all(&e.regex, "$1"))
                .unicode(false)
                .size_limit(20 * (1 << 20))
                .build()
                .map_err(|e| e.to_string())?;
            matchers.push((re, e.family_replacement.is_some()));
        }
        Ok(UaBuild { matchers })
    }

    fn build(&self, ua: &str) -> Option<String> {
        for (re, has_family_replacement) in &self.matchers {
            let Some(c) = re.captures(ua.as_bytes()) else {
                continue;
            };
            // uaparser skips a match that yields no family and tries the next regex.
            if !has_family_replacement && c.get(1).is_none_or(|m| m.as_bytes().is_empty()) {
                continue;
            }
            return c
                .get(5)
                .and_then(|m| std::str::from_utf8(m.as_bytes()).ok())
                .filter(|s| !s.is_empty())
                .map(str::to_string);
        }
        None
    }
}

impl fmt::Debug for Enrichment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enrichment")
            .field("describe", &self.describe())
            .finish()
    }
}

fn open_mmdb(p: &Path) -> Result<(Reader<Vec<u8>>, String), OktaError> {
    let reader = Reader::open_readfile(p).map_err(|e| OktaError::Enrichment {
        path: p.to_path_buf(),
        message: e.to_string(),
    })?;
    let m = reader.metadata();
    let desc = format!(
        "{} ({}, build epoch {})",
        p.display(),
        m.database_type,
        m.build_epoch
    );
    Ok((reader, desc))
}

impl Enrichment {
    /// No enrichment: `source.geo`, `source.as` and parsed `user_agent.*` stay absent.
    pub fn none() -> Self {
        Enrichment {
            city: None,
            asn: None,
            ua: None,
            ua_build: None,
        }
    }

    /// Loads every configured file; the first unreadable one is an error naming its path.
    pub fn load(cfg: &EnrichmentConfig) -> Result<Self, OktaError> {
        let city = cfg.geoip_city_db.as_deref().map(open_mmdb).transpose()?;
        let asn = cfg.geoip_asn_db.as_deref().map(open_mmdb).transpose()?;
        let mut ua_build = None;
        let ua = match cfg.ua_regexes.as_deref() {
            None => None,
            Some(p) => {
                let bytes = std::fs::read(p).map_err(|e| OktaError::Enrichment {
                    path: p.to_path_buf(),
                    message: e.to_string(),
                })?;
                // Java regexes (as in Elasticsearch) are ASCII-only for \d, \w unless asked.
                let parser = UserAgentParser::builder()
                    .with_unicode_support(false)
                    .build_from_bytes(&bytes)
                    .map_err(|e| OktaError::Enrichment {
                        path: p.to_path_buf(),
                        message: format!("expected a uap-core regexes.yaml: {e}"),
                    })?;
                ua_build = Some(UaBuild::load(&bytes).map_err(|e| OktaError::Enrichment {
                    path: p.to_path_buf(),
                    message: format!("expected a uap-core regexes.yaml: {e}"),
                })?);
                Some((parser, p.display().to_string()))
            }
        };
        Ok(Enrichment {
            city,
            asn,
            ua,
            ua_build,
        })
    }

    /// One line for the start-up log saying what will and will not be enriched.
    pub fn describe(&self) -> String {
        let part = |name: &str, v: Option<&String>, fields: &str| match v {
            Some(d) => format!("{name}: {d}"),
            None => format!("{name}: not configured, {fields} will be absent"),
        };
        format!(
            "okta enrichment: {}; {}; {}",
            part(
                "geoip city",
                self.city.as_ref().map(|c| &c.1),
                "source.geo.*"
            ),
            part("geoip asn", self.asn.as_ref().map(|c| &c.1), "source.as.*"),
            part(
                "user agent",
                self.ua.as_ref().map(|c| &c.1),
                "user_agent.name/version/os/device"
            ),
        )
    }

    /// Steps 21 of the pipeline: user-agent parse, then GeoIP City and ASN on `source.ip`.
    pub(crate) fn apply(&self, doc: &mut Map<String, Value>) {
        if let (Some((parser, _)), Some(original)) = (
            &self.ua,
            path::get_str(doc, "user_agent.original").map(str::to_string),
        ) {
            let build = self.ua_build.as_ref().and_then(|b| b.build(&original));
            for (k, v) in parse_user_agent(parser, &original, build.as_deref()) {
                let _ = path::set(doc, &format!("user_agent.{k}"), v);
            }
        }
        let Some(ip) = path::get_str(doc, "source.ip").and_then(|s| s.parse::<IpAddr>().ok())
        else {
            return;
        };
        if let Some((reader, _)) = &self.city {
            if let Some(geo) = city(reader, ip).filter(|g| !g.is_empty()) {
                let _ = path::set(doc, "source.geo", Value::Object(geo));
            }
        }
        if let Some((reader, _)) = &self.asn {
            if let Some(asn) = asn(reader, ip).filter(|g| !g.is_empty()) {
                let _ = path::set(doc, "source.as", Value::Object(asn));
            }
        }
    }
}

/// Elasticsearch `user_agent` processor output with default properties (no `device.type`).
fn parse_user_agent(parser: &UserAgentParser, ua: &str, build: Option<&str>) -> Map<String, Value> {
    let client = parser.parse(ua);
    let mut out = Map::new();
    out.insert(
        "name".into(),
        Value::String(client.user_agent.family.to_string()),
    );
    let u = &client.user_agent;
    if let Some(v) = dotted(&[
        u.major.as_deref(),
        u.minor.as_deref(),
        u.patch.as_deref(),
        build,
    ]) {
        out.insert("version".into(), Value::String(v));
    }
    // uaparser reports an unmatched OS as family "Other"; Elasticsearch then omits `os`.
    let os = &client.os;
    if os.family != "Other" {
        let mut o = Map::new();
        o.insert("name".into(), Value::String(os.family.to_string()));
        let parts = [
            os.major.as_deref(),
            os.minor.as_deref(),
            os.patch.as_deref(),
            os.patch_minor.as_deref(),
        ];
        if let Some(v) = dotted(&parts) {
            o.insert("full".into(), Value::String(format!("{} {v}", os.family)));
            o.insert("version".into(), Value::String(v));
        }
        out.insert("os".into(), Value::Object(o));
    }
    out.insert(
        "device".into(),
        json!({"name": client.device.family.to_string()}),
    );
    out
}

/// `major[.minor[.patch[.build]]]`, stopping at the first missing part, as Elasticsearch joins.
fn dotted(parts: &[Option<&str>]) -> Option<String> {
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        match p.filter(|p| !p.is_empty()) {
            Some(p) => {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(p);
            }
            None => break,
        }
    }
    (!out.is_empty()).then_some(out)
}

fn en_name(v: &Value) -> Option<Value> {
    v.get("names")
        .and_then(|n| n.get("en"))
        .filter(|n| n.is_string())
        .cloned()
}

/// Elasticsearch `geoip` City properties: continent_name, country_iso_code, country_name,
/// region_iso_code, region_name, city_name, location. Region is the most specific subdivision.
fn city(reader: &Reader<Vec<u8>>, ip: IpAddr) -> Option<Map<String, Value>> {
    let record: Value = reader.lookup(ip).ok()?.decode::<Value>().ok()??;
    let mut out = Map::new();
    if let Some(n) = record.get("continent").and_then(en_name) {
        out.insert("continent_name".into(), n);
    }
    let country = record.get("country");
    let country_iso = country
        .and_then(|c| c.get("iso_code"))
        .and_then(Value::as_str);
    if let Some(iso) = country_iso {
        out.insert("country_iso_code".into(), Value::String(iso.to_string()));
    }
    if let Some(n) = country.and_then(en_name) {
        out.insert("country_name".into(), n);
    }
    if let Some(sub) = record
        .get("subdivisions")
        .and_then(Value::as_array)
        .and_then(|s| s.last())
    {
        if let (Some(c), Some(s)) = (country_iso, sub.get("iso_code").and_then(Value::as_str)) {
            out.insert("region_iso_code".into(), Value::String(format!("{c}-{s}")));
        }
        if let Some(n) = en_name(sub) {
            out.insert("region_name".into(), n);
        }
    }
    if let Some(n) = record.get("city").and_then(en_name) {
        out.insert("city_name".into(), n);
    }
    let loc = record.get("location");
    let lat = loc.and_then(|l| l.get("latitude")).and_then(Value::as_f64);
    let lon = loc.and_then(|l| l.get("longitude")).and_then(Value::as_f64);
    if let (Some(lat), Some(lon)) = (lat, lon) {
        out.insert("location".into(), json!({"lat": lat, "lon": lon}));
    }
    Some(out)
}

/// Elasticsearch `geoip` ASN with `asn` and `organization_name`, renamed to ECS
/// `number` and `organization.name` as the pipeline does.
fn asn(reader: &Reader<Vec<u8>>, ip: IpAddr) -> Option<Map<String, Value>> {
    let record: Value = reader.lookup(ip).ok()?.decode::<Value>().ok()??;
    let mut out = Map::new();
    if let Some(n) = record
        .get("autonomous_system_number")
        .and_then(Value::as_u64)
    {
        out.insert("number".into(), json!(n));
    }
    if let Some(o) = record
        .get("autonomous_system_organization")
        .and_then(Value::as_str)
    {
        out.insert("organization".into(), json!({"name": o}));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_names_every_missing_source() {
        let d = Enrichment::none().describe();
        assert!(
            d.contains("geoip city: not configured, source.geo.*"),
            "{d}"
        );
        assert!(d.contains("geoip asn: not configured"), "{d}");
        assert!(d.contains("user agent: not configured"), "{d}");
    }

    #[test]
    fn load_reports_the_missing_path() {
        let cfg = EnrichmentConfig {
            geoip_city_db: Some("/nonexistent/x.mmdb".into()),
            ..Default::default()
        };
        let err = Enrichment::load(&cfg)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("/nonexistent/x.mmdb"), "{err}");
    }

    #[test]
    fn dotted_version_stops_at_first_missing_part() {
        assert_eq!(
            dotted(&[Some("72"), Some("0"), None, Some("9")]),
            Some("72.0".into())
        );
        assert_eq!(dotted(&[None, Some("1")]), None);
    }
}
