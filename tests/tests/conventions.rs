//! The conventions of a command-line tool, with the real binaries: shell completions that
//! load in bash and zsh, manual pages of both binaries that `man` renders without a
//! warning, `scripts/dist-assets` (what a package installs), and the CLI's configuration
//! file: flags beat the environment, which beats the file, which beats the defaults;
//! `sealdrop config` says where each setting comes from and never prints a secret; a
//! malformed file is one sentence with its line and exit code 1. `--copy` keeps the link
//! on a real X11 clipboard (Xvfb, read back with xclip) after sealdrop exits, `--open`
//! calls the system's opener (a recording stand-in for xdg-open), and both say so in one
//! note where there is no desktop.

use std::path::{Path, PathBuf};
use std::process::Command;

use sealdrop_e2e::{Cmd, Sandbox, Server, bin};

/// Runs `program args` with `envs`, returning (exit code, stdout, stderr).
fn run(program: &str, args: &[&str], envs: &[(&str, &Path)]) -> (i32, String, String) {
    let out = Command::new(program)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, *v)))
        .env_remove("SEALDROP_CONFIG")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whether `program` is on the PATH.
fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_bash_completion_script_loads_and_completes() {
    let sealdrop = bin("sealdrop");
    // Loaded as a user's shell would, then asked what `sealdrop upl<TAB>` and
    // `sealdrop completions <TAB>` complete to.
    let script = r#"source <("$SEALDROP" completions bash) || exit 9
complete -p sealdrop || exit 8
COMP_WORDS=(sealdrop upl); COMP_CWORD=1; _sealdrop sealdrop upl sealdrop
echo "upl: ${COMPREPLY[*]}"
COMP_WORDS=(sealdrop completions ""); COMP_CWORD=2; _sealdrop sealdrop "" completions
echo "shells: ${COMPREPLY[*]}""#;
    let (code, out, err) = run(
        "bash",
        &["--norc", "--noprofile", "-c", script],
        &[("SEALDROP", &sealdrop)],
    );
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "complete -o bashdefault -o default -o nosort -F _sealdrop sealdrop"
    );
    assert_eq!(lines[1], "upl: upload");
    assert!(
        lines[2].ends_with("bash elvish fish powershell zsh"),
        "{}",
        lines[2]
    );
}

#[test]
fn the_zsh_completion_script_loads() {
    if !installed("zsh") {
        eprintln!("zsh is not installed (scripts/test installs it): skipped");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let sealdrop = bin("sealdrop");
    // compinit without a dump file or the insecure-directory check, as a bare shell.
    let script = r#"autoload -Uz compinit && compinit -u -D || exit 9
source <("$SEALDROP" completions zsh) || exit 8
print -r -- "${_comps[sealdrop]}"
whence -w _sealdrop"#;
    let (code, out, err) = run(
        "zsh",
        &["-f", "-c", script],
        &[("SEALDROP", &sealdrop), ("HOME", home.path())],
    );
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    assert_eq!(out, "_sealdrop\n_sealdrop: function\n");
}

#[test]
fn every_shell_gets_a_script_that_knows_the_commands() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = Cmd::sealdrop(&["completions", shell]).run();
        out.success();
        let text = out.stdout_text();
        for word in ["upload", "download", "expiry", "token-file"] {
            assert!(text.contains(word), "{shell}: no {word}");
        }
    }
    Cmd::sealdrop(&["completions", "tcsh"]).run().code(1);
}

/// Renders `page` with `man -l` at 80 columns; returns the text, asserting no warning.
fn render(page: &Path) -> String {
    let (code, out, err) = run(
        "man",
        &["--warnings", "-l", page.to_str().unwrap()],
        &[
            ("MANWIDTH", Path::new("80")),
            ("MANPAGER", Path::new("cat")),
            ("PAGER", Path::new("cat")),
        ],
    );
    assert_eq!(code, 0, "{}: {err}", page.display());
    assert!(
        !err.to_lowercase().contains("warning") && !out.to_lowercase().contains("warning:"),
        "{}: {err}",
        page.display()
    );
    out
}

/// The pages a `man DIR` command wrote, by file name.
fn pages(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn both_binaries_manual_pages_render_without_warnings() {
    if !installed("man") {
        panic!("man is not installed (scripts/test installs man-db)");
    }
    let dir = tempfile::tempdir().unwrap();
    let cli = dir.path().join("cli");
    let server = dir.path().join("server");
    Cmd::sealdrop(&["man", cli.to_str().unwrap()])
        .run()
        .success();
    Cmd::server(&["man", server.to_str().unwrap()])
        .run()
        .success();
    let cli_pages = pages(&cli);
    let commands = [
        "completions",
        "config",
        "delete",
        "download",
        "exists",
        "history",
        "info",
        "man",
        "params",
        "password",
        "upload",
    ];
    let mut expected: Vec<String> = commands.iter().map(|c| format!("sealdrop-{c}.1")).collect();
    expected.push("sealdrop.1".into());
    expected.sort();
    assert_eq!(cli_pages, expected);
    let server_pages = pages(&server);
    for page in [
        "sealdrop-server.1",
        "sealdrop-server-admin.1",
        "sealdrop-server-healthcheck.1",
    ] {
        assert!(server_pages.iter().any(|p| p == page), "{server_pages:?}");
    }
    for page in cli_pages.iter().map(|p| cli.join(p)) {
        render(&page);
    }
    for page in server_pages.iter().map(|p| server.join(p)) {
        render(&page);
    }

    // The top pages: what a reader looks for is there.
    let top = render(&cli.join("sealdrop.1"));
    for heading in [
        "SYNOPSIS",
        "OPTIONS",
        "SUBCOMMANDS",
        "EXIT STATUS",
        "CONFIGURATION",
        "FILES",
        "SEE ALSO",
    ] {
        assert!(
            top.lines().any(|l| l == heading),
            "sealdrop(1) has no {heading}"
        );
    }
    assert!(
        top.contains("SEALDROP_HOST")
            || render(&cli.join("sealdrop-upload.1")).contains("SEALDROP_HOST")
    );
    let upload = render(&cli.join("sealdrop-upload.1"));
    assert!(upload.contains("--expiry") && upload.contains("SEALDROP_EXPIRY"));
    let server_top = render(&server.join("sealdrop-server.1"));
    assert!(server_top.contains("--listen") && server_top.contains("SEALDROP_LISTEN"));

    // Without a directory, the top page on standard output.
    let out = Cmd::sealdrop(&["man"]).run();
    out.success();
    assert_eq!(out.stdout, std::fs::read(cli.join("sealdrop.1")).unwrap());
    let out = Cmd::server(&["man"]).run();
    out.success();
    assert_eq!(
        out.stdout,
        std::fs::read(server.join("sealdrop-server.1")).unwrap()
    );
}

#[test]
fn dist_assets_lays_out_what_a_package_installs() {
    let out = tempfile::tempdir().unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/dist-assets");
    let bin_dir = bin("sealdrop").parent().unwrap().to_owned();
    let (code, stdout, err) = run(
        script.to_str().unwrap(),
        &[out.path().to_str().unwrap()],
        &[("SEALDROP_BIN_DIR", &bin_dir)],
    );
    assert_eq!((code, err.as_str(), stdout.as_str()), (0, "", ""));
    for file in [
        "man/man1/sealdrop.1",
        "man/man1/sealdrop-upload.1",
        "man/man1/sealdrop-server.1",
        "man/man1/sealdrop-server-admin.1",
        "bash-completion/completions/sealdrop",
        "zsh/vendor-completions/_sealdrop",
        "fish/vendor_completions.d/sealdrop.fish",
    ] {
        let len = std::fs::metadata(out.path().join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .len();
        assert!(len > 100, "{file} is {len} bytes");
    }
}

// ---- The configuration file ----

/// Writes the sandbox's default configuration file.
fn write_config(sb: &Sandbox, text: &str) -> PathBuf {
    let path = sb.config_path();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// `sealdrop --json upload f.txt` with `args` before the file, without the sandbox's
/// SEALDROP_HOST (the file names the server), and `env`.
fn upload(sb: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let mut all = vec!["--json", "upload"];
    all.extend_from_slice(args);
    all.push("f.txt");
    let mut cmd = sb.sealdrop(&all).env_remove("SEALDROP_HOST");
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    let out = cmd.run();
    out.success();
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn flags_beat_the_environment_which_beats_the_file_which_beats_the_defaults() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    sb.write("f.txt", b"hello");
    write_config(
        &sb,
        &format!(
            "# the defaults of this machine\nhost = \"{}\"\nexpiry = \"2h\"\ndownloads = 2\n",
            server.base
        ),
    );

    // The file alone: its host, expiry and download limit.
    let up = upload(&sb, &[], &[]);
    assert!(
        up["link"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/download/", server.base))
    );
    assert_eq!(
        (up["expiry_seconds"].as_u64(), up["downloads"].as_u64()),
        (Some(7200), Some(2))
    );

    // The environment beats the file; a flag beats both.
    let env = [("SEALDROP_DOWNLOADS", "3"), ("SEALDROP_EXPIRY", "1h")];
    let up = upload(&sb, &[], &env);
    assert_eq!(
        (up["expiry_seconds"].as_u64(), up["downloads"].as_u64()),
        (Some(3600), Some(3))
    );
    let up = upload(&sb, &["--downloads", "4", "-e", "5m"], &env);
    assert_eq!(
        (up["expiry_seconds"].as_u64(), up["downloads"].as_u64()),
        (Some(300), Some(4))
    );

    // The same through `sealdrop config`, which names each source.
    let out = sb
        .sealdrop(&["--json", "config", "--downloads", "4"])
        .env_remove("SEALDROP_HOST")
        .env("SEALDROP_EXPIRY", "1h")
        .run();
    out.success();
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &shown["settings"];
    assert_eq!(
        shown["config_file"],
        serde_json::json!({"path": sb.config_path().to_str().unwrap(), "read": true})
    );
    assert_eq!(
        s["host"],
        serde_json::json!({"value": server.base, "source": "file", "line": 2})
    );
    assert_eq!(
        s["expiry"],
        serde_json::json!({"value": 3600, "source": "environment", "variable": "SEALDROP_EXPIRY"})
    );
    assert_eq!(
        s["downloads"],
        serde_json::json!({"value": 4, "source": "flag"})
    );
    assert_eq!(
        s["transport"],
        serde_json::json!({"value": "auto", "source": "default"})
    );
    // Global options count too, before or after the command.
    let out = sb
        .sealdrop(&["config", "--max-wait", "10"])
        .env("SEALDROP_NO_WAIT", "true")
        .run();
    out.success();
    let text = out.stdout_text();
    let line = |key: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no {key} in\n{text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(line("max-wait"), "max-wait 10s (10 seconds) --max-wait");
    assert_eq!(line("no-wait"), "no-wait true SEALDROP_NO_WAIT");
    assert_eq!(
        line("expiry"),
        "expiry 2h (7200 seconds) configuration file, line 3"
    );
    assert_eq!(line("qr"), "qr false default");
    assert!(text.starts_with(&format!(
        "configuration file: {}\n",
        sb.config_path().display()
    )));

    // --config and SEALDROP_CONFIG point elsewhere; --no-config reads none.
    let other = sb.write("other.toml", b"downloads = 5\n");
    let up = upload(
        &sb,
        &["--config", other.to_str().unwrap(), "--host", &server.base],
        &[],
    );
    assert_eq!(up["downloads"].as_u64(), Some(5));
    let up = upload(
        &sb,
        &["--host", &server.base],
        &[("SEALDROP_CONFIG", other.to_str().unwrap())],
    );
    assert_eq!(up["downloads"].as_u64(), Some(5));
    let up = upload(&sb, &["--no-config", "--host", &server.base], &[]);
    assert_eq!(up["downloads"].as_u64(), Some(1), "the server's default");
}

#[test]
fn a_token_file_in_the_configuration_gives_way_to_a_token_in_the_environment() {
    const TOKEN: &str = "conventions-token-Qm7vX2pL9sT4";
    let creds = tempfile::tempdir().unwrap();
    let tokens = creds.path().join("tokens");
    std::fs::write(&tokens, format!("{TOKEN} name=cli\n")).unwrap();
    let server = Server::start_with(&[
        "--upload-auth",
        "token",
        "--upload-tokens-file",
        tokens.to_str().unwrap(),
    ]);
    let sb = Sandbox::new(&server);
    sb.write("f.txt", b"hello");
    // A relative token-file is next to the configuration file.
    let config = write_config(&sb, "token-file = \"token\"\n");
    std::fs::write(config.with_file_name("token"), format!("{TOKEN}\n")).unwrap();
    sb.upload(&["f.txt"]);

    // A wrong token in the file, the right one in the environment: the environment wins.
    std::fs::write(config.with_file_name("token"), "not-the-token\n").unwrap();
    sb.sealdrop(&["upload", "-q", "f.txt"])
        .run()
        .fails(3, &format!("{} refused the upload token", server.base));
    sb.sealdrop(&["upload", "-q", "f.txt"])
        .env("SEALDROP_TOKEN", TOKEN)
        .run()
        .success();

    // `sealdrop config` shows that, and no secret.
    let out = sb
        .sealdrop(&["config"])
        .env("SEALDROP_TOKEN", TOKEN)
        .env("SEALDROP_BASIC_AUTH", "user:basic-secret-Zx81")
        .run();
    out.success();
    let text = out.stdout_text();
    assert!(
        !text.contains(TOKEN) && !text.contains("basic-secret-Zx81"),
        "{text}"
    );
    assert!(text.contains("token        set (hidden)"), "{text}");
    assert!(text.contains("basic-auth   set (hidden)"), "{text}");
    let token_file = config.with_file_name("token");
    assert!(
        text.contains(&format!(
            "token-file   {} (unused: SEALDROP_TOKEN is set)  configuration file, line 1\n",
            token_file.display()
        )),
        "{text}"
    );
    let out = sb
        .sealdrop(&["--json", "config"])
        .env("SEALDROP_TOKEN", TOKEN)
        .run();
    out.success();
    assert!(!out.stdout_text().contains(TOKEN));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        shown["settings"]["token-file"],
        serde_json::json!({"value": token_file.to_str().unwrap(), "source": "file", "line": 1, "unused": true})
    );
    assert_eq!(
        shown["settings"]["token"],
        serde_json::json!({"set": true, "source": "environment", "variable": "SEALDROP_TOKEN"})
    );
}

#[test]
fn a_malformed_configuration_is_one_sentence_with_the_file_the_line_and_exit_1() {
    let sb = Sandbox::with_host("http://127.0.0.1:1");
    sb.write("f.txt", b"hello");
    let path = write_config(
        &sb,
        "host = \"https://send.example.com\"\n\nexpiry = \"soon\"\n",
    );
    let file = path.display();
    let sentence = format!(
        "the configuration file {file} has an error on line 3: \"expiry\" is not a duration like \"5m\", \"1h\", \"1d\" or 300 (seconds)"
    );
    sb.sealdrop(&["upload", "f.txt"]).run().fails(1, &sentence);
    // Every command reads it, `config` too; completions and manual pages do not need it.
    sb.sealdrop(&["config"]).run().fails(1, &sentence);
    sb.sealdrop(&["completions", "bash"]).run().success();
    sb.sealdrop(&["man"]).run().success();
    // --no-config skips it.
    sb.sealdrop(&["--no-config", "config"]).run().success();

    // Not TOML.
    write_config(
        &sb,
        "host = \"https://send.example.com\"\ndownloads = = 2\n",
    );
    let out = sb.sealdrop(&["config"]).run();
    out.code(1);
    assert!(
        out.stderr.starts_with(&format!(
            "sealdrop: the configuration file {file} has an error on line 2: it is not valid TOML ("
        )) && out.stderr.lines().count() == 1,
        "{}",
        out.stderr
    );

    // A secret is refused, and never repeated.
    write_config(&sb, "token = \"s3cr3t-in-the-file\"\n");
    let out = sb.sealdrop(&["upload", "f.txt"]).run();
    out.fails(1, &format!("the configuration file {file} has an error on line 1: \"token\" would keep a secret in the file, which sealdrop never reads: put the token in a file only you can read and name it with token-file, or use SEALDROP_TOKEN"));
    write_config(&sb, "downloads = 1\npassword = \"s3cr3t-in-the-file\"\n");
    let out = sb.sealdrop(&["config"]).run();
    out.code(1);
    assert!(
        out.stderr
            .contains("line 2: \"password\" would keep a secret"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("s3cr3t"));

    // An unknown setting names the known ones.
    write_config(&sb, "hots = \"https://send.example.com\"\n");
    let out = sb.sealdrop(&["config"]).run();
    out.fails(1, &format!("the configuration file {file} has an error on line 1: \"hots\" is not a setting (the settings are host, expiry, downloads, token-file, transport, qr, history, no-history, max-wait, no-wait, no-progress)"));

    // A file that --config names must exist (a local file error, exit 5); the default
    // one may be absent.
    let missing = sb.path("missing.toml");
    sb.sealdrop(&["config", "--config", missing.to_str().unwrap()])
        .run()
        .fails(
            5,
            &format!(
                "cannot read the configuration file {}: no such file or directory",
                missing.display()
            ),
        );
    std::fs::remove_file(&path).unwrap();
    let out = sb.sealdrop(&["config"]).run();
    out.success();
    assert!(
        out.stdout_text()
            .starts_with(&format!("configuration file: {file} (there is none)\n"))
    );
}

// ---- --copy and --open ----

/// `cmd` without a desktop session.
fn headless(cmd: Cmd) -> Cmd {
    cmd.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY")
}

const NO_CLIPBOARD: &str = "sealdrop: the link was not copied: there is no clipboard here (no X11 display: DISPLAY is not set)\n";
const NO_DESKTOP: &str =
    "was not opened: there is no desktop session here (DISPLAY and WAYLAND_DISPLAY are not set)\n";

#[test]
fn copy_and_open_without_a_desktop_say_so_in_one_note_each_and_succeed() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    sb.write("f.txt", b"hello");
    let out = headless(sb.sealdrop(&["upload", "--copy", "--open", "f.txt"])).run();
    out.success();
    assert!(
        out.stdout_text()
            .starts_with(&format!("{}/download/", server.base))
    );
    assert_eq!(
        out.stderr,
        format!("{NO_CLIPBOARD}sealdrop: the link {NO_DESKTOP}")
    );
    // -q keeps standard error for errors.
    let out = headless(sb.sealdrop(&["upload", "-q", "--copy", "f.txt"]))
        .env("SEALDROP_OPEN", "1")
        .run();
    out.success();
    assert_eq!(out.stderr, "");
    let link = out.stdout_text().trim().to_owned();

    let out = headless(sb.sealdrop(&["download", "--open", &link, "-o", "g.txt"])).run();
    out.success();
    assert_eq!(out.stderr, format!("sealdrop: g.txt {NO_DESKTOP}"));
    assert_eq!(sb.read("g.txt"), b"hello");
    let link = sb.upload(&["f.txt"]);
    let out = headless(sb.sealdrop(&["download", "--open", &link, "-o", "-"])).run();
    out.success();
    assert_eq!(out.stdout, b"hello");
    assert_eq!(
        out.stderr,
        "sealdrop: nothing was opened: the download went to standard output\n"
    );
}

/// A fake system opener first on the PATH: it records its arguments in `log`, one call
/// a line.
fn fake_opener(dir: &Path, log: &Path) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("xdg-open");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\n", log.display()),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&script, perms).unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The calls of the fake opener once there are `n` (it runs detached).
fn opened(log: &Path, n: usize) -> Vec<String> {
    sealdrop_testkit::wait::until(
        &format!("{n} calls of the opener"),
        sealdrop_testkit::wait::EVENTUALLY,
        || {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let lines: Vec<String> = text.lines().map(str::to_owned).collect();
            (lines.len() >= n).then_some(lines)
        },
    )
}

#[test]
fn open_hands_the_link_or_the_received_file_to_the_system_opener() {
    let server = Server::start();
    let sb = Sandbox::new(&server);
    let tools = tempfile::tempdir().unwrap();
    let log = tools.path().join("opened");
    let path = fake_opener(tools.path(), &log);
    sb.write("f.txt", b"hello");
    sb.write("install.sh", b"echo pwned\n");
    let desktop = |cmd: Cmd| {
        cmd.env("PATH", &path)
            .env("DISPLAY", ":999")
            .env_remove("WAYLAND_DISPLAY")
    };

    let out = desktop(sb.sealdrop(&["upload", "-q", "--open", "f.txt"])).run();
    out.success();
    assert_eq!(out.stderr, "");
    let link = out.stdout_text().trim().to_owned();
    assert_eq!(opened(&log, 1), [link.as_str()]);

    let out = desktop(sb.sealdrop(&["download", "--open", &link, "-o", "got/g.txt"])).run();
    out.success();
    assert_eq!(out.stderr, "");
    assert_eq!(opened(&log, 2)[1], "got/g.txt");

    // A file that may run code when opened: its folder is opened, and a note says why.
    let link = sb.upload(&["install.sh"]);
    let out = desktop(sb.sealdrop(&["download", "--open", &link, "-o", "got/"])).run();
    out.success();
    assert_eq!(
        out.stderr,
        "sealdrop: got/install.sh was not opened, since opening a file of its type may run it: its folder is opened instead\n"
    );
    assert_eq!(opened(&log, 3)[2], "got");
}

/// A private X server (Xvfb) on a display it picks; killed on drop.
struct Xvfb {
    child: std::process::Child,
    display: String,
}

impl Xvfb {
    fn start() -> Self {
        use std::io::BufRead;
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-nolisten",
                "tcp",
                "-screen",
                "0",
                "320x240x24",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start Xvfb");
        // Xvfb writes its display number once it accepts connections.
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let number = line.trim();
        assert!(!number.is_empty(), "Xvfb did not start");
        Self {
            child,
            display: format!(":{number}"),
        }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `sealdrop __hold-clipboard` processes serving `display`.
fn holders(display: &str) -> Vec<u32> {
    let sealdrop = bin("sealdrop");
    let want_env = format!("DISPLAY={display}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        if args.first().copied() != Some(sealdrop.as_os_str().as_encoded_bytes())
            || args.get(1).copied() != Some(b"__hold-clipboard".as_slice())
        {
            continue;
        }
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        if environ.split(|&b| b == 0).any(|v| v == want_env.as_bytes()) {
            found.push(pid);
        }
    }
    found
}

/// What `xclip -o` reads from the clipboard of `display`.
fn clipboard(display: &str) -> String {
    let out = Command::new("xclip")
        .args(["-o", "-selection", "clipboard"])
        .env("DISPLAY", display)
        .output()
        .expect("run xclip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn copy_keeps_the_link_on_an_x11_clipboard_until_another_program_takes_it() {
    if !installed("Xvfb") || !installed("xclip") {
        eprintln!("Xvfb or xclip is not installed (scripts/test installs them): skipped");
        return;
    }
    let server = Server::start();
    let sb = Sandbox::new(&server);
    sb.write("f.txt", b"hello");
    let x = Xvfb::start();
    let copy = || {
        let out = sb
            .sealdrop(&["upload", "-q", "--copy", "f.txt"])
            .env("DISPLAY", &x.display)
            .run();
        out.success();
        assert_eq!(out.stderr, "");
        out.stdout_text().trim().to_owned()
    };

    // sealdrop has exited; its holder serves the link to other programs, and never had
    // it on its command line.
    let link = copy();
    assert_eq!(clipboard(&x.display), link);
    let pids = holders(&x.display);
    assert_eq!(pids.len(), 1, "{pids:?}");
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", pids[0])).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains(&link));

    // Another program takes the clipboard: the holder ends.
    let mut xclip = Command::new("xclip")
        .args(["-selection", "clipboard"])
        .env("DISPLAY", &x.display)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        xclip
            .stdin
            .take()
            .unwrap()
            .write_all(b"something else")
            .unwrap();
    }
    let _ = xclip.wait();
    sealdrop_testkit::wait::until(
        "the holder to end once the clipboard is taken",
        sealdrop_testkit::wait::EVENTUALLY,
        || holders(&x.display).is_empty(),
    );
    assert_eq!(clipboard(&x.display), "something else");

    // The X server goes away: the holder ends too.
    let link = copy();
    assert_eq!(clipboard(&x.display), link);
    assert_eq!(holders(&x.display).len(), 1);
    let display = x.display.clone();
    drop(x);
    sealdrop_testkit::wait::until(
        "the holder to end with its X server",
        sealdrop_testkit::wait::EVENTUALLY,
        || holders(&display).is_empty(),
    );
}
