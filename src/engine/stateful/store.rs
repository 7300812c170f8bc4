//! Durable state: one snapshot file per input partition, replaced atomically.
//!
//! Design: a snapshot is the partition's whole state plus the input offset it covers, written
//! as JSON to `<name>.tmp`, fsynced, renamed over `<name>.json`, and the directory fsynced — so
//! after a crash the file is either the old or the new snapshot, never a torn one. The offset
//! travels inside the same file as the state, so they can never disagree. This needs no
//! dependency; an embedded database (redb) would add incremental writes, which the per-rule
//! size limits make unnecessary for now.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{PartitionKey, PartitionState};

/// Snapshot format version (bumped on incompatible changes; older files are then ignored).
const FORMAT_VERSION: u32 = 1;

/// Why state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot create the state directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write state file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read state file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path} is not a rulestream snapshot: {message}")]
    Corrupt { path: PathBuf, message: String },
}

/// A serialized partition state and the last input offset it includes.
#[derive(Debug, Clone)]
pub struct PartitionSnapshot {
    pub key: PartitionKey,
    /// Events at or below this offset are in the state (`None`: file input, no offsets).
    pub offset: Option<i64>,
    pub bytes: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Envelope<S> {
    version: u32,
    topic: String,
    partition: i32,
    state: S,
}

/// A directory of partition snapshots.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    /// Opens (creating) the directory.
    pub fn open(dir: &Path) -> Result<StateStore, StateError> {
        fs::create_dir_all(dir).map_err(|source| StateError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(StateStore {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `p-<hex topic>-<partition>.json` (hex keeps any topic name a safe file name).
    fn path(&self, key: &PartitionKey) -> PathBuf {
        self.dir.join(format!(
            "p-{}-{}.json",
            hex::encode(&key.topic),
            key.partition
        ))
    }

    /// Serializes `state` for `key` (cheap to hand to another thread, written later).
    pub fn snapshot(key: &PartitionKey, state: &PartitionState) -> PartitionSnapshot {
        let envelope = Envelope {
            version: FORMAT_VERSION,
            topic: key.topic.clone(),
            partition: key.partition,
            state,
        };
        PartitionSnapshot {
            key: key.clone(),
            offset: state.offset,
            bytes: serde_json::to_vec(&envelope).unwrap_or_default(),
        }
    }

    /// Writes a snapshot atomically (tmp file, fsync, rename, fsync directory).
    pub fn write(&self, snapshot: &PartitionSnapshot) -> Result<(), StateError> {
        let path = self.path(&snapshot.key);
        let tmp = path.with_extension("tmp");
        let err = |source| StateError::Write {
            path: path.clone(),
            source,
        };
        let mut file = File::create(&tmp).map_err(err)?;
        file.write_all(&snapshot.bytes).map_err(err)?;
        file.sync_all().map_err(err)?;
        drop(file);
        fs::rename(&tmp, &path).map_err(err)?;
        // The rename is durable only once the directory entry is.
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// The last snapshot of `key`, if any.
    pub fn load(&self, key: &PartitionKey) -> Result<Option<PartitionState>, StateError> {
        let path = self.path(key);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Read { path, source }),
        };
        let envelope: Envelope<PartitionState> =
            serde_json::from_slice(&bytes).map_err(|e| StateError::Corrupt {
                path: path.clone(),
                message: e.to_string(),
            })?;
        if envelope.version != FORMAT_VERSION {
            return Err(StateError::Corrupt {
                path,
                message: format!(
                    "format version {} (expected {FORMAT_VERSION})",
                    envelope.version
                ),
            });
        }
        Ok(Some(envelope.state))
    }
}
