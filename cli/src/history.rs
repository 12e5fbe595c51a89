//! The history of shares uploaded from this machine: what owner commands need (the owner
//! token) and what `sealdrop history` lists.
//!
//! One JSON file, by default `<user data dir>/sealdrop/history.json` (on Linux
//! `~/.local/share/sealdrop/history.json`), or the path in `--history` /
//! `SEALDROP_HISTORY`. It is written atomically (temporary file and rename) with
//! permissions 0600 in a 0700 directory, because it holds links and owner tokens. It never
//! holds a password. Entries whose expiry has passed are dropped whenever it is read.
//! Two uploads finishing at the same instant may race; the later write wins.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One share uploaded from here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// The file id.
    pub(crate) id: String,
    /// The server's canonical origin (the link's base).
    pub(crate) server: String,
    /// The full share link, `#secret` included: the history is the uploader's own record.
    pub(crate) link: String,
    /// The owner token, which the server returned only once.
    pub(crate) owner_token: String,
    /// What the uploader calls the share: the file name; for several files their common
    /// directory (`photos/`) or the first file and a count.
    pub(crate) name: String,
    /// Plaintext size in bytes.
    pub(crate) size: u64,
    /// When it was uploaded, Unix seconds.
    pub(crate) uploaded_at: u64,
    /// When it expires, Unix seconds.
    pub(crate) expires_at: u64,
    /// The download limit at upload.
    pub(crate) downloads: u32,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct FileFormat {
    version: u32,
    shares: Vec<Entry>,
}

/// The loaded history.
#[derive(Debug)]
pub(crate) struct History {
    path: PathBuf,
    entries: Vec<Entry>,
    changed: bool,
}

/// The default location of the history file, if the platform has a user data directory.
pub(crate) fn default_path() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("sealdrop").join("history.json"))
}

impl History {
    /// Reads the history at `path`; a missing file is an empty history.
    pub(crate) fn load(path: &Path) -> Result<Self> {
        let entries = match std::fs::read(path) {
            Ok(bytes) => {
                let file: FileFormat = serde_json::from_slice(&bytes).map_err(|_| {
                    Error::local(format!(
                        "the history file {} is damaged; remove it or run `sealdrop history --clear`",
                        path.display()
                    ))
                })?;
                file.shares
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                return Err(Error::io(
                    format_args!("cannot read the history file {}", path.display()),
                    &e,
                ));
            }
        };
        let now = crate::output::now_unix();
        let live: Vec<Entry> = entries
            .iter()
            .filter(|e| e.expires_at > now)
            .cloned()
            .collect();
        let changed = live.len() != entries.len();
        Ok(Self {
            path: path.to_owned(),
            entries: live,
            changed,
        })
    }

    /// The entries, oldest first.
    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry of share `id` on `server`.
    pub(crate) fn find(&self, server: &str, id: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.id.eq_ignore_ascii_case(id) && e.server == server)
    }

    /// The entry of share `id` on any server, if exactly one matches.
    pub(crate) fn find_id(&self, id: &str) -> Option<&Entry> {
        let mut found = self
            .entries
            .iter()
            .filter(|e| e.id.eq_ignore_ascii_case(id));
        let first = found.next()?;
        found.next().is_none().then_some(first)
    }

    /// Records a new share.
    pub(crate) fn add(&mut self, entry: Entry) {
        self.entries
            .retain(|e| !(e.id == entry.id && e.server == entry.server));
        self.entries.push(entry);
        self.changed = true;
    }

    /// Forgets share `id` on `server`.
    pub(crate) fn remove(&mut self, server: &str, id: &str) {
        let before = self.entries.len();
        self.entries
            .retain(|e| !(e.id.eq_ignore_ascii_case(id) && e.server == server));
        self.changed |= self.entries.len() != before;
    }

    /// Writes the history back if anything changed.
    pub(crate) fn save(&mut self) -> Result<()> {
        if !self.changed {
            return Ok(());
        }
        let file = FileFormat {
            version: 1,
            shares: self.entries.clone(),
        };
        let mut json = serde_json::to_vec_pretty(&file)
            .map_err(|_| Error::local("cannot encode the history"))?;
        json.push(b'\n');
        write_private(&self.path, &json)?;
        self.changed = false;
        Ok(())
    }

    /// Deletes the history file.
    pub(crate) fn clear(path: &Path) -> Result<()> {
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(
                format_args!("cannot remove the history file {}", path.display()),
                &e,
            )),
        }
    }
}

/// Writes `bytes` to `path` atomically, readable by the owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let what = || format!("cannot write the history file {}", path.display());
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    create_private_dir(&dir).map_err(|e| Error::io(what(), &e))?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".history-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let mut tmp = builder
        .tempfile_in(&dir)
        .map_err(|e| Error::io(what(), &e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io(what(), &e))?;
    tmp.persist(path).map_err(|e| Error::io(what(), &e.error))?;
    Ok(())
}

/// Creates `dir` and its parents; directories this creates are private (0700).
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, expires_at: u64) -> Entry {
        Entry {
            id: id.to_owned(),
            server: "http://127.0.0.1:8080".to_owned(),
            link: format!("http://127.0.0.1:8080/download/{id}/#AAAAAAAAAAAAAAAAAAAAAA"),
            owner_token: "0123".to_owned(),
            name: "a.txt".to_owned(),
            size: 1,
            uploaded_at: 1,
            expires_at,
            downloads: 1,
        }
    }

    #[test]
    fn round_trips_privately_and_drops_expired_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("history.json");
        let mut h = History::load(&path).unwrap();
        assert!(h.entries().is_empty());
        let later = crate::output::now_unix() + 3600;
        h.add(entry("aaaaaaaaaaaaaaaa", later));
        h.add(entry("bbbbbbbbbbbbbbbb", 10));
        h.save().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        let h = History::load(&path).unwrap();
        assert_eq!(h.entries().len(), 1);
        assert!(
            h.find("http://127.0.0.1:8080", "AAAAAAAAAAAAAAAA")
                .is_some()
        );
        assert!(h.find_id("aaaaaaaaaaaaaaaa").is_some());
        assert!(h.find("http://other", "aaaaaaaaaaaaaaaa").is_none());
        History::clear(&path).unwrap();
        History::clear(&path).unwrap();
        assert!(History::load(&path).unwrap().entries().is_empty());
    }

    #[test]
    fn a_damaged_file_is_a_sentence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.json");
        std::fs::write(&path, b"{not json").unwrap();
        let err = History::load(&path).unwrap_err();
        assert!(err.to_string().contains("is damaged"), "{err}");
    }
}
