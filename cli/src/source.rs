//! What an upload reads: one file, several files, directories (walked in name order), or
//! standard input, and the encryption of all of it into WebSocket-sized frames.
//!
//! Several inputs travel as Send's archive: the files' bytes concatenated in manifest
//! order, names (with `/` for files under a directory) and sizes in the encrypted
//! manifest. The size goes into the metadata before the first byte is sent, so standard
//! input and other pipes are first copied to an unnamed temporary file, and every file is
//! checked to still have the size it had when the manifest was made.
//!
//! Memory is bounded: one plaintext chunk and a few frames in flight, whatever the size.
//!
//! Every input can be read again from its first byte — files are reopened, spooled input
//! is rewound — so an upload a rate-limited server refused before accepting any data is
//! simply encrypted again (with a fresh salt) and sent.

use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use indicatif::ProgressBar;
use sealdrop_protocol::ece::{CHUNK_SIZE, HEADER_LEN, RECORD_SIZE};
use sealdrop_protocol::metadata::{DEFAULT_TYPE, ManifestFile};
use sealdrop_protocol::{Encryptor, Metadata, Secret};
use tokio::sync::mpsc;

use crate::client::Frames;
use crate::error::{Error, Result};
use crate::output::{Output, printable};

/// Frames in flight between the encrypting thread and the network: 8 records, 512 KiB.
const FRAMES_IN_FLIGHT: usize = 8;

/// Where one input's bytes come from.
#[derive(Debug)]
enum Origin {
    /// A regular file, opened when its turn comes.
    Path(PathBuf),
    /// A pipe or standard input, already copied to an unnamed temporary file.
    Spooled(File),
}

/// One input file.
#[derive(Debug)]
struct Input {
    origin: Origin,
    /// Its name in the share.
    name: String,
    size: u64,
}

/// Everything one upload sends.
#[derive(Debug)]
pub(crate) struct Inputs {
    files: Vec<Input>,
    /// Whether the share is an archive (several files, or a directory).
    archive: bool,
}

impl Inputs {
    /// Collects the inputs named on the command line. `-` alone is standard input.
    pub(crate) async fn collect(paths: Vec<PathBuf>, out: Output) -> Result<Self> {
        tokio::task::spawn_blocking(move || collect(&paths, out))
            .await
            .map_err(|_| Error::local("reading the inputs stopped unexpectedly"))?
    }

    /// Total plaintext size.
    pub(crate) fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// How many files.
    pub(crate) fn count(&self) -> usize {
        self.files.len()
    }

    /// The metadata of the share; `name` overrides the name recipients see.
    pub(crate) fn metadata(&self, name: Option<&str>) -> Result<Metadata> {
        if self.archive {
            let files = self
                .files
                .iter()
                .map(|f| ManifestFile {
                    name: f.name.clone(),
                    size: f.size,
                    mime: DEFAULT_TYPE.to_owned(),
                })
                .collect();
            let mut meta = Metadata::archive(files)
                .ok_or_else(|| Error::usage("the files are too large together"))?;
            if let Some(name) = name {
                name.clone_into(&mut meta.name);
            }
            return Ok(meta);
        }
        let file = self
            .files
            .first()
            .ok_or_else(|| Error::usage("there is nothing to send"))?;
        Ok(Metadata::single(
            name.unwrap_or(&file.name),
            file.size,
            DEFAULT_TYPE,
        ))
    }

    /// Starts encrypting on a blocking thread, from the first byte of the first input;
    /// the frames come out of the returned channel: the 21-byte header, then one 64 KiB
    /// record each, the last one shorter. The previous run must have ended (the spooled
    /// inputs' read positions are shared).
    pub(crate) fn encrypt(self: &Arc<Self>, secret: Secret, progress: ProgressBar) -> Frames {
        let (tx, rx) = mpsc::channel(FRAMES_IN_FLIGHT);
        let inputs = Arc::clone(self);
        let task = tokio::task::spawn_blocking(move || {
            let result = inputs
                .reopen()
                .and_then(|files| produce(files, &secret, &tx, &progress));
            if let Err(e) = &result {
                // Make an HTTP body fail too, so the server discards the upload.
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
            result
        });
        Frames { rx, task }
    }
}

impl Inputs {
    /// The inputs, ready to be read from their first byte.
    fn reopen(&self) -> Result<Vec<Input>> {
        self.files.iter().map(Input::reopen).collect()
    }
}

impl Input {
    /// This input, to be read from its first byte: the same path, or the spooled file
    /// rewound.
    fn reopen(&self) -> Result<Self> {
        let origin = match &self.origin {
            Origin::Path(path) => Origin::Path(path.clone()),
            Origin::Spooled(file) => {
                let read_back = |e| Error::io("cannot read back a temporary file", &e);
                // The clone shares the file's position: rewinding it rewinds both.
                let mut again = file.try_clone().map_err(read_back)?;
                again.rewind().map_err(read_back)?;
                Origin::Spooled(again)
            }
        };
        Ok(Self {
            origin,
            name: self.name.clone(),
            size: self.size,
        })
    }
}

fn collect(paths: &[PathBuf], out: Output) -> Result<Inputs> {
    let is_stdin = |p: &PathBuf| p.as_os_str() == "-";
    if paths.iter().any(is_stdin) {
        if paths.len() > 1 {
            return Err(Error::usage(
                "'-' (standard input) cannot be combined with other files",
            ));
        }
        let input = spool(std::io::stdin().lock(), "stdin", "standard input")?;
        return Ok(Inputs {
            files: vec![input],
            archive: false,
        });
    }
    let mut files = Vec::new();
    let mut archive = paths.len() > 1;
    for path in paths {
        let shown = printable(&path.display().to_string());
        let meta = std::fs::metadata(path)
            .map_err(|e| Error::io(format_args!("cannot read {shown}"), &e))?;
        let name = base_name(path)?;
        if meta.is_dir() {
            archive = true;
            let before = files.len();
            walk(path, &name, &mut files, out)?;
            if files.len() == before {
                return Err(Error::usage(format!(
                    "there are no files to send in {shown}"
                )));
            }
        } else if meta.is_file() {
            files.push(Input {
                origin: Origin::Path(path.clone()),
                name,
                size: meta.len(),
            });
        } else {
            let file =
                File::open(path).map_err(|e| Error::io(format_args!("cannot read {shown}"), &e))?;
            files.push(spool(file, &name, &shown)?);
        }
    }
    let mut seen = std::collections::HashSet::new();
    for f in &files {
        if !seen.insert(f.name.as_str()) {
            return Err(Error::usage(format!(
                "two files would both be called {} in the share",
                printable(&f.name)
            )));
        }
    }
    Ok(Inputs { files, archive })
}

/// The last component of `path` as UTF-8 (`.` and `..` resolved first).
fn base_name(path: &Path) -> Result<String> {
    let shown = printable(&path.display().to_string());
    let owned;
    let name = match path.file_name() {
        Some(n) => n,
        None => {
            owned = std::fs::canonicalize(path)
                .map_err(|e| Error::io(format_args!("cannot read {shown}"), &e))?;
            owned
                .file_name()
                .ok_or_else(|| Error::usage(format!("{shown} has no name to send it under")))?
        }
    };
    name.to_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::usage(format!("the name of {shown} is not valid UTF-8")))
}

/// Adds the files under `dir`, in name order, named `prefix/relative/path`. Symbolic
/// links to files are followed; links to directories and special files are skipped.
fn walk(dir: &Path, prefix: &str, files: &mut Vec<Input>, out: Output) -> Result<()> {
    let shown = printable(&dir.display().to_string());
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .and_then(|rd| rd.collect::<std::io::Result<Vec<_>>>())
        .map_err(|e| Error::io(format_args!("cannot read the directory {shown}"), &e))?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let shown = printable(&path.display().to_string());
        let name = entry
            .file_name()
            .to_str()
            .map(|n| format!("{prefix}/{n}"))
            .ok_or_else(|| Error::usage(format!("the name of {shown} is not valid UTF-8")))?;
        let kind = entry
            .file_type()
            .map_err(|e| Error::io(format_args!("cannot read {shown}"), &e))?;
        if kind.is_dir() {
            walk(&path, &name, files, out)?;
            continue;
        }
        let meta = std::fs::metadata(&path)
            .map_err(|e| Error::io(format_args!("cannot read {shown}"), &e))?;
        if meta.is_file() {
            files.push(Input {
                origin: Origin::Path(path),
                name,
                size: meta.len(),
            });
        } else {
            out.warn(&format!("skipping {shown}: not a regular file"));
        }
    }
    Ok(())
}

/// Copies a stream of unknown length into an unnamed temporary file.
fn spool(mut reader: impl Read, name: &str, shown: &str) -> Result<Input> {
    let mut file =
        tempfile::tempfile().map_err(|e| Error::io("cannot create a temporary file", &e))?;
    let size = std::io::copy(&mut reader, &mut file)
        .map_err(|e| Error::io(format_args!("cannot read {shown}"), &e))?;
    file.rewind()
        .map_err(|e| Error::io("cannot read back a temporary file", &e))?;
    Ok(Input {
        origin: Origin::Spooled(file),
        name: name.to_owned(),
        size,
    })
}

/// Reads exactly each input's recorded size, in order, as one stream.
struct Concat {
    files: std::vec::IntoIter<Input>,
    current: Option<(File, u64, String)>,
}

impl Concat {
    fn new(files: Vec<Input>) -> Self {
        Self {
            files: files.into_iter(),
            current: None,
        }
    }

    /// Fills `buf` as far as the inputs go; 0 at the end.
    fn read_full(&mut self, buf: &mut [u8]) -> Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            let Some((file, left, shown)) = &mut self.current else {
                match self.files.next() {
                    Some(input) => self.current = Some(open(input)?),
                    None => break,
                }
                continue;
            };
            if *left == 0 {
                let mut probe = [0u8; 1];
                if read_retry(file, &mut probe, shown)? != 0 {
                    return Err(Error::local(format!(
                        "{shown} grew while it was being sent"
                    )));
                }
                self.current = None;
                continue;
            }
            let want = usize::try_from(*left).unwrap_or(usize::MAX);
            let end = buf.len().min(filled.saturating_add(want));
            let Some(dest) = buf.get_mut(filled..end) else {
                break;
            };
            let n = read_retry(file, dest, shown)?;
            if n == 0 {
                return Err(Error::local(format!(
                    "{shown} shrank while it was being sent"
                )));
            }
            filled += n;
            *left -= n as u64;
        }
        Ok(filled)
    }
}

fn read_retry(file: &mut File, buf: &mut [u8], shown: &str) -> Result<usize> {
    loop {
        match file.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(format_args!("cannot read {shown}"), &e)),
            Ok(n) => return Ok(n),
        }
    }
}

fn open(input: Input) -> Result<(File, u64, String)> {
    match input.origin {
        Origin::Spooled(file) => Ok((file, input.size, printable(&input.name))),
        Origin::Path(path) => {
            let shown = printable(&path.display().to_string());
            let file = File::open(&path)
                .map_err(|e| Error::io(format_args!("cannot read {shown}"), &e))?;
            Ok((file, input.size, shown))
        }
    }
}

/// Reads, encrypts and sends frames until the inputs end or the receiver goes away.
fn produce(
    files: Vec<Input>,
    secret: &Secret,
    tx: &mpsc::Sender<std::io::Result<Bytes>>,
    progress: &ProgressBar,
) -> Result<()> {
    let mut encryptor =
        Encryptor::new(secret).map_err(|e| Error::local(format!("cannot encrypt: {e}")))?;
    let mut reader = Concat::new(files);
    let mut chunk = vec![0u8; CHUNK_SIZE];
    let mut out = Vec::with_capacity(RECORD_SIZE.saturating_mul(2));
    let mut framer = Framer::default();
    loop {
        let n = reader.read_full(&mut chunk)?;
        if n == 0 {
            break;
        }
        encryptor
            .update(chunk.get(..n).unwrap_or_default(), &mut out)
            .map_err(|e| Error::local(format!("cannot encrypt: {e}")))?;
        progress.inc(n as u64);
        if !framer.send(&mut out, false, tx) {
            return Ok(());
        }
    }
    encryptor
        .finish(&mut out)
        .map_err(|e| Error::local(format!("cannot encrypt: {e}")))?;
    framer.send(&mut out, true, tx);
    Ok(())
}

/// Cuts ciphertext into the frames Send clients send: the header alone, then records.
#[derive(Debug, Default)]
struct Framer {
    header_sent: bool,
}

impl Framer {
    /// Sends every complete frame in `out` (all of it when `last`), removing it from
    /// `out`. `false` when the receiver has gone away.
    fn send(
        &mut self,
        out: &mut Vec<u8>,
        last: bool,
        tx: &mpsc::Sender<std::io::Result<Bytes>>,
    ) -> bool {
        let mut start = 0;
        let mut frames = Vec::new();
        if !self.header_sent && out.len() >= HEADER_LEN {
            frames.push(Bytes::copy_from_slice(
                out.get(..HEADER_LEN).unwrap_or_default(),
            ));
            start = HEADER_LEN;
            self.header_sent = true;
        }
        while let Some(record) = out.get(start..start.saturating_add(RECORD_SIZE)) {
            frames.push(Bytes::copy_from_slice(record));
            start = start.saturating_add(RECORD_SIZE);
        }
        if last && start < out.len() {
            frames.push(Bytes::copy_from_slice(out.get(start..).unwrap_or_default()));
            start = out.len();
        }
        out.drain(..start);
        frames
            .into_iter()
            .all(|frame| tx.blocking_send(Ok(frame)).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames_of(plain: &[u8]) -> Vec<Vec<u8>> {
        let secret = Secret::generate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, plain).unwrap();
        let input = Input {
            origin: Origin::Path(path),
            name: "f".into(),
            size: plain.len() as u64,
        };
        let (tx, mut rx) = mpsc::channel(1024);
        produce(vec![input], &secret, &tx, &ProgressBar::hidden()).unwrap();
        drop(tx);
        let mut frames = Vec::new();
        while let Ok(f) = rx.try_recv() {
            frames.push(f.unwrap().to_vec());
        }
        // The frames decrypt to the input.
        let mut dec = sealdrop_protocol::Decryptor::new(&secret);
        let mut back = Vec::new();
        for f in &frames {
            dec.update(f, &mut back).unwrap();
        }
        dec.finish(&mut back).unwrap();
        assert_eq!(back, plain);
        frames
    }

    #[test]
    fn frames_are_the_header_then_one_record_each() {
        let sizes: Vec<usize> = frames_of(&[]).iter().map(Vec::len).collect();
        assert_eq!(sizes, [21]);
        let sizes: Vec<usize> = frames_of(&[7]).iter().map(Vec::len).collect();
        assert_eq!(sizes, [21, 18]);
        let sizes: Vec<usize> = frames_of(&vec![1; CHUNK_SIZE])
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [21, RECORD_SIZE]);
        let sizes: Vec<usize> = frames_of(&vec![1; 2 * CHUNK_SIZE + 5])
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [21, RECORD_SIZE, RECORD_SIZE, 22]);
    }

    #[test]
    fn a_file_that_changed_size_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        let grown = Input {
            origin: Origin::Path(path.clone()),
            name: "f".into(),
            size: 4,
        };
        let mut buf = vec![0u8; 100];
        let err = Concat::new(vec![grown]).read_full(&mut buf).unwrap_err();
        assert!(
            err.to_string().ends_with("grew while it was being sent"),
            "{err}"
        );
        let shrunk = Input {
            origin: Origin::Path(path),
            name: "f".into(),
            size: 6,
        };
        let err = Concat::new(vec![shrunk]).read_full(&mut buf).unwrap_err();
        assert!(
            err.to_string().ends_with("shrank while it was being sent"),
            "{err}"
        );
    }

    #[test]
    fn directories_are_walked_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("top");
        std::fs::create_dir_all(root.join("b")).unwrap();
        std::fs::write(root.join("z.txt"), b"z").unwrap();
        std::fs::write(root.join("b").join("a.txt"), b"a").unwrap();
        std::fs::write(root.join("a.txt"), b"").unwrap();
        let out = Output::new(false, true, true);
        let inputs = collect(&[root], out).unwrap();
        let names: Vec<&str> = inputs.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["top/a.txt", "top/b/a.txt", "top/z.txt"]);
        assert!(inputs.archive);
        let meta = inputs.metadata(None).unwrap();
        assert!(meta.is_archive());
        assert_eq!(meta.size, 2);
    }
}
