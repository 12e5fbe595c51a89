//! Where a download goes, and the all-or-nothing way it gets there.
//!
//! The plan is made from the decrypted metadata before the download starts (so an
//! existing file stops us before a download is spent). Plaintext is written, as records
//! verify, into a temporary file beside the target (for an archive: a temporary
//! directory holding one file per entry); only after the decryptor's `finish` proved the
//! stream complete are they renamed into place. Any error or interruption drops the
//! temporaries, which deletes them. Standard output (`-o -`) is the exception: it streams
//! and can only report a failure by the exit code.

use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sealdrop_protocol::{Decryptor, Metadata, Secret};
use tempfile::{NamedTempFile, TempDir};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::output::{printable, sanitize_component, sanitize_relative_path};

/// The sentence of every decryption failure.
const TAMPERED: &str =
    "the download failed its integrity check: the data is corrupt, truncated or was tampered with";

/// A message from the network side to the writer.
#[derive(Debug)]
pub(crate) enum Msg {
    /// More ciphertext.
    Data(Bytes),
    /// The body ended normally.
    End,
}

/// One file of an archive, planned.
#[derive(Debug)]
pub(crate) struct PlannedEntry {
    /// The target path (under the root).
    target: PathBuf,
    size: u64,
}

/// Where the plaintext goes.
#[derive(Debug)]
pub(crate) enum Plan {
    /// Standard output.
    Stdout,
    /// One file.
    File { target: PathBuf, force: bool },
    /// Several files under a root directory.
    Archive {
        root: PathBuf,
        entries: Vec<PlannedEntry>,
        force: bool,
    },
}

impl Plan {
    /// Plans the output of a share with `meta`: `output` is `-o` (a file, a directory, or
    /// `-`). Refuses unsafe names and existing files (unless `force`).
    pub(crate) fn new(meta: &Metadata, output: Option<&Path>, force: bool) -> Result<Self> {
        let stdout = output.is_some_and(|o| o.as_os_str() == "-");
        if meta.is_archive() {
            if stdout {
                return Err(Error::usage(
                    "this share holds several files, which cannot go to standard output; use -o DIRECTORY",
                ));
            }
            return plan_archive(meta, output.unwrap_or(Path::new(".")), force);
        }
        if stdout {
            return Ok(Self::Stdout);
        }
        let name = sanitize_component(&meta.name);
        let target = match output {
            None => PathBuf::from(&name),
            Some(o) if o.is_dir() || ends_with_separator(o) => o.join(&name),
            Some(o) => o.to_owned(),
        };
        check_free(&target, force)?;
        Ok(Self::File { target, force })
    }

    /// Opens the temporaries and returns the writer for the blocking thread, which
    /// expects `size` bytes of plaintext (the metadata's size).
    pub(crate) fn open(self, secret: &Secret, size: u64) -> Result<Writer> {
        let dest = match self {
            Plan::Stdout => Dest::Stdout(std::io::stdout()),
            Plan::File { target, force } => {
                let dir = parent_dir(&target);
                create_dirs(&dir)?;
                let tmp = temp_builder()
                    .tempfile_in(&dir)
                    .map_err(|e| Error::io(format_args!("cannot write in {}", shown(&dir)), &e))?;
                Dest::File { tmp, target, force }
            }
            Plan::Archive {
                root,
                entries,
                force,
            } => {
                let parent = existing_ancestor(&root);
                let staging = tempfile::Builder::new()
                    .prefix(".sealdrop-")
                    .tempdir_in(&parent)
                    .map_err(|e| {
                        Error::io(format_args!("cannot write in {}", shown(&parent)), &e)
                    })?;
                Dest::Archive(Box::new(Archive {
                    entries,
                    force,
                    staging,
                    index: 0,
                    current: None,
                    written: 0,
                }))
            }
        };
        let flusher = match &dest {
            Dest::File { tmp, .. } => Flusher::new(tmp.as_file()),
            _ => Flusher::default(),
        };
        Ok(Writer {
            flusher,
            decryptor: Some(Decryptor::new(secret)),
            plain: Vec::new(),
            total: 0,
            expected: size,
            dest,
        })
    }
}

fn plan_archive(meta: &Metadata, root: &Path, force: bool) -> Result<Plan> {
    if root.exists() && !root.is_dir() {
        return Err(Error::local(format!(
            "{} exists and is not a directory",
            shown(root)
        )));
    }
    let mut entries = Vec::new();
    let mut files = HashSet::new();
    let mut dirs = HashSet::new();
    for file in &meta.manifest.files {
        let parts = sanitize_relative_path(&file.name).ok_or_else(|| {
            Error::integrity(format!(
                "the share holds an unsafe file name, {}; nothing was saved",
                printable(&file.name)
            ))
        })?;
        let key = parts.join("/").to_lowercase();
        let mut prefix = String::new();
        for part in parts.iter().take(parts.len().saturating_sub(1)) {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(&part.to_lowercase());
            dirs.insert(prefix.clone());
        }
        if !files.insert(key.clone()) {
            return Err(Error::integrity(format!(
                "the share holds the file {} twice; nothing was saved",
                printable(&file.name)
            )));
        }
        let target = parts.iter().fold(root.to_owned(), |p, c| p.join(c));
        entries.push(PlannedEntry {
            target,
            size: file.size,
        });
    }
    if let Some(clash) = files.iter().find(|f| dirs.contains(*f)) {
        return Err(Error::integrity(format!(
            "the share holds {} both as a file and as a directory; nothing was saved",
            printable(clash)
        )));
    }
    let sum = entries
        .iter()
        .try_fold(0u64, |acc, e| acc.checked_add(e.size));
    if sum != Some(meta.size) {
        return Err(Error::integrity(
            "the share's file list does not add up to its size; nothing was saved",
        ));
    }
    for entry in &entries {
        check_free(&entry.target, force)?;
        let mut dir = entry.target.parent();
        while let Some(d) = dir {
            if d == root || d.as_os_str().is_empty() {
                break;
            }
            if d.exists() && !d.is_dir() {
                return Err(Error::local(format!(
                    "{} exists and is not a directory",
                    shown(d)
                )));
            }
            dir = d.parent();
        }
    }
    Ok(Plan::Archive {
        root: root.to_owned(),
        entries,
        force,
    })
}

/// Refuses an existing `target` unless `force`, and a directory always.
fn check_free(target: &Path, force: bool) -> Result<()> {
    match std::fs::symlink_metadata(target) {
        Ok(meta) if meta.is_dir() => Err(Error::local(format!("{} is a directory", shown(target)))),
        Ok(_) if !force => Err(Error::local(format!(
            "{} already exists; use --force to overwrite it",
            shown(target)
        ))),
        _ => Ok(()),
    }
}

fn ends_with_separator(path: &Path) -> bool {
    let text = path.as_os_str().to_string_lossy();
    text.ends_with('/') || text.ends_with(std::path::MAIN_SEPARATOR)
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// `path` itself if it exists, else its closest existing ancestor (or `.`).
fn existing_ancestor(path: &Path) -> PathBuf {
    let mut current = Some(path);
    while let Some(p) = current {
        if p.as_os_str().is_empty() {
            break;
        }
        if p.is_dir() {
            return p.to_owned();
        }
        current = p.parent();
    }
    PathBuf::from(".")
}

fn create_dirs(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::io(
            format_args!("cannot create the directory {}", shown(dir)),
            &e,
        )
    })
}

/// Temporary files readable as any new file would be (mode 0666 less the umask), so the
/// renamed result has ordinary permissions.
fn temp_builder() -> tempfile::Builder<'static, 'static> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".sealdrop-").suffix(".part");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder
}

fn shown(path: &Path) -> String {
    printable(&path.display().to_string())
}

/// An archive being written.
#[derive(Debug)]
struct Archive {
    entries: Vec<PlannedEntry>,
    force: bool,
    staging: TempDir,
    /// The entry being written.
    index: usize,
    /// Its staging file and the bytes it still needs.
    current: Option<(File, u64)>,
    written: u64,
}

impl Archive {
    fn staged(&self, index: usize) -> PathBuf {
        self.staging.path().join(index.to_string())
    }

    /// Writes plaintext, splitting it over the entries in manifest order.
    fn write(&mut self, mut data: &[u8]) -> Result<()> {
        loop {
            if self.current.is_none() {
                let Some(entry) = self.entries.get(self.index) else {
                    return if data.is_empty() {
                        Ok(())
                    } else {
                        Err(Error::integrity(format!("{TAMPERED}; nothing was saved")))
                    };
                };
                let size = entry.size;
                let path = self.staged(self.index);
                let file = File::create(&path).map_err(|e| {
                    Error::io(
                        format_args!("cannot write in {}", shown(self.staging.path())),
                        &e,
                    )
                })?;
                self.current = Some((file, size));
            }
            let Some((file, left)) = &mut self.current else {
                return Ok(());
            };
            if *left == 0 {
                file.sync_all().map_err(|e| self.write_error(&e))?;
                self.current = None;
                self.index += 1;
                continue;
            }
            if data.is_empty() {
                return Ok(());
            }
            let take = data.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
            let (head, rest) = data.split_at(take);
            file.write_all(head)
                .map_err(|e| Error::io("cannot write the download", &e))?;
            *left -= take as u64;
            self.written += take as u64;
            data = rest;
        }
    }

    fn write_error(&self, e: &std::io::Error) -> Error {
        Error::io(
            format_args!("cannot write in {}", shown(self.staging.path())),
            e,
        )
    }

    /// After the stream verified: every entry must be complete; then rename into place.
    fn finish(mut self) -> Result<Vec<(PathBuf, u64)>> {
        self.write(&[])?;
        if self.index < self.entries.len() {
            return Err(Error::integrity(format!("{TAMPERED}; nothing was saved")));
        }
        let mut done = Vec::new();
        for (index, entry) in self.entries.iter().enumerate() {
            create_dirs(&parent_dir(&entry.target))?;
            check_free(&entry.target, self.force)?;
            std::fs::rename(self.staged(index), &entry.target).map_err(|e| {
                Error::io(format_args!("cannot write {}", shown(&entry.target)), &e)
            })?;
            done.push((entry.target.clone(), entry.size));
        }
        Ok(done)
    }
}

#[derive(Debug)]
enum Dest {
    Stdout(std::io::Stdout),
    File {
        tmp: NamedTempFile,
        target: PathBuf,
        force: bool,
    },
    Archive(Box<Archive>),
}

/// Decrypts and writes on a blocking thread.
#[derive(Debug)]
pub(crate) struct Writer {
    /// `None` once finished.
    decryptor: Option<Decryptor>,
    plain: Vec<u8>,
    total: u64,
    /// The plaintext size the metadata announced. A ciphertext cut down to its header is
    /// a valid empty file for RFC 8188; only this size tells it was truncated.
    expected: u64,
    dest: Dest,
    /// Starts the write-back of a single-file download while it goes on.
    flusher: Flusher,
}

/// Bytes written between two background flushes of a download's temporary file.
const FLUSH_EVERY: u64 = 16 << 20;

/// Early write-back of the temporary file of a download.
///
/// Linux starts writing dirty pages back only once they are 30 s old or a share of memory
/// is dirty, so a download would otherwise reach the disk inside the final `fsync`, after
/// its last byte arrived (1.7 s for 1 GiB on a disk that writes 600 MB/s, with the network
/// idle). Every [`FLUSH_EVERY`] bytes an `fdatasync` of a second handle of the file runs
/// on a thread of its own, at most one at a time, while the download continues. A failed
/// background sync fails the download: Linux reports a write-back error once per open
/// file, and the second handle shares it with the writer.
#[derive(Debug, Default)]
struct Flusher {
    /// A clone of the file's handle; `None` for other destinations, or if it could not be
    /// cloned (then only the final `fsync` runs).
    file: Option<std::sync::Arc<File>>,
    since: u64,
    running: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    error: Option<std::io::Error>,
}

impl Flusher {
    fn new(file: &File) -> Self {
        Self {
            file: file.try_clone().ok().map(std::sync::Arc::new),
            ..Self::default()
        }
    }

    /// Counts `n` bytes written, and starts a flush when enough were and none runs.
    fn wrote(&mut self, n: usize) {
        self.since += n as u64;
        if self.since < FLUSH_EVERY || self.running.as_ref().is_some_and(|r| !r.is_finished()) {
            return;
        }
        if let Some(done) = self.running.take() {
            self.collect(done);
        }
        let Some(file) = self.file.clone() else {
            return;
        };
        self.since = 0;
        self.running = std::thread::Builder::new()
            .name("sealdrop-flush".into())
            .spawn(move || file.sync_data())
            .ok();
    }

    fn collect(&mut self, done: std::thread::JoinHandle<std::io::Result<()>>) {
        let error = match done.join() {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(_) => std::io::Error::other("the flushing thread failed"),
        };
        self.error.get_or_insert(error);
    }

    /// Waits for the running flush; the first background error, if any.
    fn finish(&mut self) -> std::io::Result<()> {
        if let Some(running) = self.running.take() {
            self.collect(running);
        }
        self.error.take().map_or(Ok(()), Err)
    }
}

/// What a finished download wrote: `(path, bytes)` per file; `-` for standard output.
pub(crate) type Written = Vec<(PathBuf, u64)>;

impl Writer {
    /// Consumes ciphertext from `rx` until [`Msg::End`], then verifies and puts the files
    /// in place. If the channel closes without `End`, the download was abandoned: the
    /// temporaries are deleted and an interruption is returned.
    pub(crate) fn run(mut self, mut rx: mpsc::Receiver<Msg>) -> Result<Written> {
        loop {
            match rx.blocking_recv() {
                Some(Msg::Data(bytes)) => {
                    let verified = match self.decryptor.as_mut() {
                        Some(d) => d.update(&bytes, &mut self.plain).is_ok(),
                        None => false,
                    };
                    if !verified {
                        return Err(self.tampered());
                    }
                    self.flush()?;
                }
                Some(Msg::End) => break,
                None => return Err(Error::interrupted()),
            }
        }
        let complete = match self.decryptor.take() {
            Some(d) => d.finish(&mut self.plain).is_ok(),
            None => false,
        };
        if !complete {
            return Err(self.tampered());
        }
        self.flush()?;
        if self.total != self.expected {
            return Err(self.tampered());
        }
        self.complete()
    }

    fn tampered(&self) -> Error {
        match self.dest {
            Dest::Stdout(_) => Error::integrity(format!("{TAMPERED}; the output is incomplete")),
            _ => Error::integrity(format!("{TAMPERED}; nothing was saved")),
        }
    }

    /// Writes the verified plaintext buffered so far.
    fn flush(&mut self) -> Result<()> {
        if self.plain.is_empty() {
            return Ok(());
        }
        self.total += self.plain.len() as u64;
        match &mut self.dest {
            Dest::Stdout(out) => out
                .write_all(&self.plain)
                .map_err(|e| Error::io("cannot write to standard output", &e))?,
            Dest::File { tmp, .. } => {
                tmp.write_all(&self.plain)
                    .map_err(|e| Error::io("cannot write the download", &e))?;
                self.flusher.wrote(self.plain.len());
            }
            Dest::Archive(archive) => archive.write(&self.plain)?,
        }
        self.plain.clear();
        Ok(())
    }

    fn complete(mut self) -> Result<Written> {
        self.flusher
            .finish()
            .map_err(|e| Error::io("cannot write the download", &e))?;
        match self.dest {
            Dest::Stdout(mut out) => {
                out.flush()
                    .map_err(|e| Error::io("cannot write to standard output", &e))?;
                Ok(vec![(PathBuf::from("-"), self.total)])
            }
            Dest::File { tmp, target, force } => {
                tmp.as_file()
                    .sync_all()
                    .map_err(|e| Error::io("cannot write the download", &e))?;
                let persisted = if force {
                    tmp.persist(&target)
                } else {
                    tmp.persist_noclobber(&target)
                };
                persisted.map_err(|e| {
                    if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                        Error::local(format!(
                            "{} already exists; use --force to overwrite it",
                            shown(&target)
                        ))
                    } else {
                        Error::io(format_args!("cannot write {}", shown(&target)), &e.error)
                    }
                })?;
                Ok(vec![(target, self.total)])
            }
            Dest::Archive(archive) => archive.finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sealdrop_protocol::metadata::ManifestFile;

    fn archive(names: &[(&str, u64)]) -> Metadata {
        Metadata::archive(
            names
                .iter()
                .map(|(n, s)| ManifestFile {
                    name: (*n).to_owned(),
                    size: *s,
                    mime: "x".into(),
                })
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn archives_with_unsafe_or_clashing_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for bad in [
            archive(&[("../x", 1)]),
            archive(&[("/etc/passwd", 1)]),
            archive(&[("a", 1), ("A", 1)]),
            archive(&[("a", 1), ("a/b", 1)]),
        ] {
            let err = Plan::new(&bad, Some(root), false).unwrap_err();
            assert_eq!(err.kind(), crate::error::Kind::Integrity, "{err}");
        }
        let mut lying = archive(&[("a", 1)]);
        lying.size = 2;
        assert!(Plan::new(&lying, Some(root), false).is_err());
        assert!(Plan::new(&archive(&[("d/a", 1), ("d/b", 2)]), Some(root), false).is_ok());
        assert!(Plan::new(&archive(&[("a", 1)]), Some(Path::new("-")), false).is_err());
    }

    #[test]
    fn existing_files_are_kept_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.txt");
        std::fs::write(&target, b"old").unwrap();
        let meta = Metadata::single("a.txt", 3, "x");
        let err = Plan::new(&meta, Some(dir.path()), false).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("already exists; use --force to overwrite it")
        );
        assert!(Plan::new(&meta, Some(dir.path()), true).is_ok());
        let meta = Metadata::single("../../evil", 3, "x");
        match Plan::new(&meta, Some(dir.path()), false).unwrap() {
            Plan::File { target, .. } => assert_eq!(target, dir.path().join(".._.._evil")),
            other => panic!("{other:?}"),
        }
    }
}
