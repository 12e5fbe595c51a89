//! A small disk that fills up: a tmpfs of a given size, for the "disk full" tests.

use std::path::Path;
use std::process::{Command, Stdio};

/// A tmpfs mounted on a temporary directory, unmounted when dropped.
#[derive(Debug)]
pub struct SmallDisk {
    dir: Option<tempfile::TempDir>,
}

impl SmallDisk {
    /// Mounts a tmpfs of `size` (`mount`'s `size=` option, e.g. `2m`) as root, or with
    /// `sudo -n` otherwise. When neither works the test is skipped (`None`, with a line on
    /// standard error), except under CI (`CI` set), where it fails.
    pub fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mounted = privileged("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if mounted {
            return Some(Self { dir: Some(dir) });
        }
        assert!(
            std::env::var_os("CI").is_none(),
            "mounting a tmpfs needs root (or sudo without a password): the disk-full test cannot run"
        );
        eprintln!("SKIPPED: mounting a tmpfs needs root (or sudo without a password)");
        None
    }

    /// The mounted directory.
    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("mounted until dropped").path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = privileged("umount").arg("-l").arg(dir.path()).status();
        }
    }
}

/// `program` as root: directly when we are root, else through `sudo -n`.
fn privileged(program: &str) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if root {
        Command::new(program)
    } else {
        let mut sudo = Command::new("sudo");
        sudo.args(["-n", program]);
        sudo
    }
}
