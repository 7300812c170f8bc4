//! Rule versions from Elastic's version lock (`detection_rules/etc/version.lock.json`).
//!
//! Elastic rules carry no `version` in their TOML; the packager takes it from the lock file of the
//! detection-rules clone, keyed by `rule_id` (alert-schema §6). The loader looks for that file by
//! walking up from each rule's folder and reads every lock file at most once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::diag::line_col;

/// Path of the lock file inside a detection-rules clone.
const LOCK_RELATIVE_PATH: &str = "detection_rules/etc/version.lock.json";

/// A parsed lock file: `rule_id` → version.
#[derive(Debug, Clone, Default)]
pub struct VersionLock {
    pub path: PathBuf,
    pub versions: HashMap<String, u32>,
}

/// Why a lock file could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Finds and caches lock files for rule folders.
#[derive(Debug, Default)]
pub struct LockCache {
    /// Folder → lock file that governs it (None = no lock above it).
    by_dir: HashMap<PathBuf, Option<PathBuf>>,
    /// Lock file → parsed content (None = unreadable, error already reported).
    locks: HashMap<PathBuf, Option<VersionLock>>,
}

impl LockCache {
    /// The lock that governs `rule_file`, parsing it on first use. A broken lock file is reported
    /// once through `errors` and then treated as absent.
    pub fn lock_for(
        &mut self,
        rule_file: &Path,
        errors: &mut Vec<LockError>,
    ) -> Option<&VersionLock> {
        let dir = rule_file.parent()?.to_path_buf();
        let lock_path = match self.by_dir.get(&dir) {
            Some(found) => found.clone(),
            None => {
                let found = find_lock(&dir);
                self.by_dir.insert(dir, found.clone());
                found
            }
        }?;
        if !self.locks.contains_key(&lock_path) {
            let parsed = match read_lock(&lock_path) {
                Ok(lock) => Some(lock),
                Err(e) => {
                    errors.push(e);
                    None
                }
            };
            self.locks.insert(lock_path.clone(), parsed);
        }
        self.locks.get(&lock_path).and_then(Option::as_ref)
    }
}

/// Walks up from `dir` (made absolute) looking for `detection_rules/etc/version.lock.json`.
fn find_lock(dir: &Path) -> Option<PathBuf> {
    let start = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    start
        .ancestors()
        .map(|d| d.join(LOCK_RELATIVE_PATH))
        .find(|p| p.is_file())
}

/// Reads a lock file: an object keyed by rule_id whose entries hold an integer `version`.
/// Entries without a usable version are skipped (other keys of the entry are ignored).
pub fn read_lock(path: &Path) -> Result<VersionLock, LockError> {
    let err = |line, column, message: String| LockError {
        path: path.to_path_buf(),
        line,
        column,
        message,
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| err(0, 0, format!("cannot read version lock: {e}")))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        err(
            e.line(),
            e.column(),
            format!("version lock is not valid JSON: {e}"),
        )
    })?;
    let serde_json::Value::Object(entries) = value else {
        let lc = line_col(&text, 0);
        return Err(err(
            lc.line,
            lc.column,
            "version lock: expected a JSON object keyed by rule_id".to_string(),
        ));
    };
    let versions = entries
        .iter()
        .filter_map(|(rule_id, entry)| {
            let v = entry.get("version")?.as_u64()?;
            Some((rule_id.clone(), u32::try_from(v).ok()?))
        })
        .collect();
    Ok(VersionLock {
        path: path.to_path_buf(),
        versions,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may panic on bad fixtures.
mod tests {
    use super::*;

    #[test]
    fn finds_lock_above_rule_folder_and_reads_versions() {
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("detection_rules/etc");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            etc.join("version.lock.json"),
            r#"{"abc": {"rule_name": "x", "sha256": "00", "type": "query", "version": 207},
                "noversion": {"rule_name": "y"}}"#,
        )
        .unwrap();
        let rules = root.path().join("rules/integrations/okta");
        std::fs::create_dir_all(&rules).unwrap();
        let mut cache = LockCache::default();
        let mut errors = Vec::new();
        let lock = cache.lock_for(&rules.join("r.toml"), &mut errors).unwrap();
        assert_eq!(lock.versions.get("abc"), Some(&207));
        assert_eq!(lock.versions.get("noversion"), None);
        assert!(errors.is_empty());
    }

    #[test]
    fn broken_lock_is_reported_once_with_position() {
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("detection_rules/etc");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(etc.join("version.lock.json"), "{\n  \"a\": ,\n}").unwrap();
        let mut cache = LockCache::default();
        let mut errors = Vec::new();
        assert!(cache
            .lock_for(&root.path().join("r1.toml"), &mut errors)
            .is_none());
        assert!(cache
            .lock_for(&root.path().join("r2.toml"), &mut errors)
            .is_none());
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].line, errors[0].column), (2, 8));
    }
}
