//! What the pilot tests share: a scratch root to install the package into
//! (an overlay of this machine's `/` whose writes land in a tmpfs, in the
//! test's private mount namespace — the machine itself is not touched),
//! the package built from this build's binary, and a stand-in for
//! `systemctl` there (no systemd runs in a scratch root:
//! `tests/it/pilot/systemctl.sh` does what the installed units say).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs a command; fails the test with its output unless it succeeds.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The scratch root: `/` seen through an overlay whose writes land in a
/// tmpfs, with /proc, /dev and /run of its own. The node started in it is
/// killed when the test ends, whatever happens.
pub struct ScratchRoot {
    pub root: PathBuf,
    _tmp: tempfile::TempDir,
}

impl ScratchRoot {
    pub fn new() -> ScratchRoot {
        let tmp = tempfile::tempdir().unwrap();
        let layers = tmp.path().join("layers");
        std::fs::create_dir(&layers).unwrap();
        run(Command::new("mount")
            .args(["-t", "tmpfs", "scratch"])
            .arg(&layers));
        for dir in ["upper", "work", "root"] {
            std::fs::create_dir(layers.join(dir)).unwrap();
        }
        let root = layers.join("root");
        let options = format!(
            "lowerdir=/,upperdir={},workdir={}",
            layers.join("upper").display(),
            layers.join("work").display()
        );
        run(Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &options])
            .arg(&root));
        run(Command::new("mount")
            .args(["-t", "proc", "proc"])
            .arg(root.join("proc")));
        run(Command::new("mount")
            .arg("--rbind")
            .arg("/dev")
            .arg(root.join("dev")));
        run(Command::new("mount")
            .args(["-t", "tmpfs", "run"])
            .arg(root.join("run")));
        ScratchRoot { root, _tmp: tmp }
    }

    pub fn path(&self, inside: &str) -> PathBuf {
        self.root.join(inside.trim_start_matches('/'))
    }

    /// Runs `args` chrooted into the scratch root.
    pub fn chroot(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("chroot");
        cmd.arg(&self.root).args(args).env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
        cmd
    }

    pub fn node_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.path("/run/stemedb.standin.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Owner name, group name and permission bits of a path inside.
    pub fn owner_and_mode(&self, inside: &str) -> (String, String, u32) {
        let meta = std::fs::metadata(self.path(inside)).unwrap_or_else(|e| panic!("{inside}: {e}"));
        let name = |file: &str, id: u32| {
            std::fs::read_to_string(self.path(file))
                .unwrap()
                .lines()
                .find_map(|line| {
                    let f: Vec<&str> = line.split(':').collect();
                    (f[2] == id.to_string()).then(|| f[0].to_string())
                })
                .unwrap_or_else(|| id.to_string())
        };
        (
            name("/etc/passwd", meta.uid()),
            name("/etc/group", meta.gid()),
            meta.permissions().mode() & 0o7777,
        )
    }
}

impl Drop for ScratchRoot {
    fn drop(&mut self) {
        if let Some(pid) = self.node_pid() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

/// The package of this build's binary (gzip, for speed); its path.
pub fn build_deb(out_dir: &Path) -> String {
    let built = run(Command::new("bash")
        .arg(repo("scripts/deb.sh"))
        .arg(&*crate::support::BINARY)
        .arg(out_dir)
        .arg("fast"));
    let deb = stdout(&built).lines().last().unwrap().to_string();
    assert!(deb.ends_with("_amd64.deb"), "{deb}");
    deb
}

impl ScratchRoot {
    /// `dpkg -i` of `deb` into this root, and the stand-in `systemctl`.
    pub fn install(&self, deb: &str) {
        run(Command::new("dpkg")
            .arg(format!("--root={}", self.root.display()))
            .args(["-i", deb]));
        let standin = self.path("/usr/local/sbin/systemctl");
        std::fs::copy(repo("tests/it/pilot/systemctl.sh"), &standin).unwrap();
        std::fs::set_permissions(&standin, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}
