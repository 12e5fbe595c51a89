//! The self-hosting kit (`infra/`) against the real binaries:
//!
//! - every `SEALDROP_*` variable used in `infra/` is one `sealdrop-server --help` lists;
//! - the image builds with the workspace's Rust version;
//! - the configuration `infra/compose.yaml` describes, run natively: its sealdrop
//!   environment (read from the file, with the compose hosts and secret paths mapped to
//!   local ones), `admin s3-setup` on a fresh S3 server (moto, then garage) with the
//!   lifecycle rules read back, Redis with a password, and two replicas sharing them: an
//!   upload on one replica downloads from the other, and `healthcheck` sees both.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sealdrop_e2e::{Cmd, Sandbox, Server, content, id_of};
use sealdrop_testkit::{Garage, Moto, Redis, S3Endpoint, workspace_root};

fn infra() -> PathBuf {
    workspace_root().join("infra")
}

/// Every `SEALDROP_…` name in `text` (not preceded by a letter, digit or `_`).
fn variables(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let mut found = BTreeSet::new();
    let mut at = 0;
    while let Some(i) = text[at..].find("SEALDROP_") {
        let start = at + i;
        let end = start
            + text[start..]
                .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(text.len() - start);
        let free = start == 0 || {
            let b = bytes[start - 1];
            !(b.is_ascii_alphanumeric() || b == b'_')
        };
        let name = text[start..end].trim_end_matches('_');
        if free && name.len() > "SEALDROP_".len() {
            found.insert(name.to_owned());
        }
        at = end.max(start + 1);
    }
    found
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn every_sealdrop_variable_in_infra_is_an_option_of_the_server() {
    let help = Cmd::server(&["--help"]).run();
    help.success();
    let known = variables(&help.stdout_text());
    assert!(
        known.contains("SEALDROP_LISTEN") && known.contains("SEALDROP_OWNER_RATE"),
        "no variables found in --help: {known:?}"
    );
    let mut files = Vec::new();
    files_under(&infra(), &mut files);
    files.sort();
    let mut unknown = Vec::new();
    let mut used = 0;
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for name in variables(&text) {
            used += 1;
            if !known.contains(&name) {
                let rel = file.strip_prefix(workspace_root()).unwrap_or(file);
                unknown.push(format!("{name} (in {})", rel.display()));
            }
        }
    }
    assert!(used > 20, "only {used} variables found under infra/");
    assert!(
        unknown.is_empty(),
        "not options of sealdrop-server (see `sealdrop-server --help`): {}",
        unknown.join(", ")
    );
}

#[test]
fn the_variable_scanner_finds_names_and_only_names() {
    let found = variables("SEALDROP_A=1 ${SEALDROP_B_C:-x} MY_SEALDROP_D SEALDROP_* SEALDROP_E_.");
    let found: Vec<&str> = found.iter().map(String::as_str).collect();
    assert_eq!(found, ["SEALDROP_A", "SEALDROP_B_C", "SEALDROP_E"]);
}

#[test]
fn the_image_builds_with_the_workspace_rust_version() {
    let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
    let msrv = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .unwrap()
        .trim_matches('"');
    let dockerfile = std::fs::read_to_string(infra().join("Dockerfile")).unwrap();
    assert!(
        dockerfile
            .lines()
            .any(|l| l == format!("ARG RUST_VERSION={msrv}")),
        "infra/Dockerfile should build with the workspace's rust-version {msrv}"
    );
    assert!(dockerfile.contains("cargo build --profile dist --locked"));
}

/// `KEY=VALUE` lines of an env file.
fn env_file(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// `${NAME:-default}` in `value` resolved from `vars`, else to its default.
fn interpolate(value: &str, vars: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find("${") {
        out += &rest[..i];
        let end = rest[i..].find('}').expect("a closing brace") + i;
        let inner = &rest[i + 2..end];
        let (name, default) = inner.split_once(":-").unwrap_or((inner, ""));
        match vars.iter().find(|(k, _)| k == name) {
            Some((_, v)) => out += v,
            None => out += default,
        }
        rest = &rest[end + 1..];
    }
    out + rest
}

/// The sealdrop services' environment in `infra/compose.yaml` (the
/// `x-sealdrop-environment` block), with `vars` as compose's variables (an env file).
fn compose_environment(vars: &[(String, String)]) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(infra().join("compose.yaml")).unwrap();
    let mut lines = text
        .lines()
        .skip_while(|l| *l != "x-sealdrop-environment: &sealdrop-environment")
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with("  "));
    let mut env = Vec::new();
    for line in lines.by_ref() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once(": ").expect("KEY: value");
        let value = value.trim().trim_matches('"');
        env.push((key.to_owned(), interpolate(value, vars)));
    }
    assert!(
        env.len() > 10,
        "no x-sealdrop-environment block in compose.yaml"
    );
    env
}

/// Replaces `from` with `to` in the values of `env`, asserting it was there.
fn map_value(env: &mut [(String, String)], from: &str, to: &str) {
    let mut hits = 0;
    for (_, value) in env.iter_mut() {
        if value.contains(from) {
            *value = value.replace(from, to);
            hits += 1;
        }
    }
    assert!(
        hits > 0,
        "compose.yaml's sealdrop environment has no {from:?}"
    );
}

/// The value of `key` in `env`.
fn value<'a>(env: &'a [(String, String)], key: &str) -> &'a str {
    env.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in compose.yaml's sealdrop environment"))
}

/// compose.yaml with the redis profile (`--env-file replicas.env`), on `s3` and `redis`.
fn replicas_environment(
    s3: &S3Endpoint,
    redis: &Redis,
    secrets: &Path,
    redis_password: &str,
) -> Vec<(String, String)> {
    let vars = env_file(&infra().join("replicas.env"));
    assert!(vars.contains(&("COMPOSE_PROFILES".into(), "redis".into())));
    let mut env = compose_environment(&vars);
    assert_eq!(value(&env, "SEALDROP_STORAGE"), "s3://sealdrop");
    map_value(&mut env, "http://minio:9000", &s3.endpoint);
    map_value(&mut env, "redis://redis:6379", &redis.url);
    map_value(
        &mut env,
        "/run/secrets/",
        &format!("{}/", secrets.display()),
    );
    // Each replica's metrics on a port of its own (containers each have their own 9100).
    map_value(&mut env, "0.0.0.0:9100", "127.0.0.1:0");
    std::fs::write(secrets.join("s3_access_key_id"), &s3.access_key).unwrap();
    std::fs::write(
        secrets.join("s3_secret_access_key"),
        format!("{}\n", s3.secret_key),
    )
    .unwrap();
    std::fs::write(secrets.join("redis_password"), redis_password).unwrap();
    std::fs::write(secrets.join("upload_tokens"), "").unwrap();
    env
}

/// `sealdrop-server [args]` in the environment `env`.
fn server_cmd(args: &[&str], env: &[(String, String)]) -> Cmd {
    env.iter()
        .fold(Cmd::server(args), |cmd, (k, v)| cmd.env(k, v))
}

/// The compose deployment on the S3 server `s3`: set-up, rules, two replicas.
fn compose_replicas_on(s3: &S3Endpoint, store: &str) {
    let password = "a redis password: with spaces/and@signs";
    let redis = Redis::start_with_password(password);
    let secrets = tempfile::tempdir().unwrap();
    let env = replicas_environment(s3, &redis, secrets.path(), password);

    // The one-shot set-up job: creates the bucket, puts the rules; then nothing to do.
    let setup = server_cmd(&["admin", "s3-setup"], &env).run();
    setup.success();
    let text = setup.stdout_text();
    assert!(
        text.starts_with("created bucket \"sealdrop\""),
        "{store}: {text}"
    );
    println!("{store}: admin s3-setup said:\n{text}");
    let again = server_cmd(&["admin", "s3-setup"], &env).run();
    again.success();
    assert!(
        again.stdout_text().contains("already in place"),
        "{store}: {}",
        again.stdout_text()
    );

    // The rules are really on the bucket: one per day of the 7-day maximum expiry, a day
    // longer each, and the abort rule (the slowest allowed upload of 2.5 GiB at 16 KiB/s
    // takes 1.9 days: 3 days).
    let rules = lifecycle_rules(s3);
    let expected: Vec<(String, String, Option<i32>, Option<i32>)> = (1..=7)
        .map(|d| {
            (
                format!("sealdrop-expire-{d}d"),
                format!("{d}-"),
                Some(d + 1),
                None,
            )
        })
        .chain([(
            "sealdrop-abort-incomplete-uploads".to_owned(),
            String::new(),
            None,
            Some(3),
        )])
        .collect();
    assert_eq!(rules, expected, "{store}: the bucket's lifecycle rules");

    // Two replicas from the same environment (the harness adds --listen, --data-dir and
    // --base-url, as the published ports would differ).
    let a = Server::start_with_env(&[], &as_str(&env));
    let b = Server::start_with_env(&[], &as_str(&env));
    let sb = Sandbox::new(&a);
    // Larger than one 8 MiB part: a multipart upload.
    sb.write("report.bin", &content(12 << 20, 7));
    let link = sb.upload(&["--transport", "ws", "report.bin"]);
    // The blob's key carries the 1-day prefix the rules expire (it is deleted with the
    // share's only download).
    let keys = object_keys(s3);
    assert_eq!(keys, [format!("1-{}", id_of(&link))], "{store}");
    let on_b = link.replacen(&a.base, &b.base, 1);
    let sb_b = Sandbox::new(&b);
    sb_b.sealdrop(&["download", &on_b, "-o", "copy.bin"])
        .run()
        .success();
    assert_eq!(sb_b.read("copy.bin"), sb.read("report.bin"), "{store}");

    // Nothing was written on local disk: a read-only root file system is enough.
    assert!(!a.data_dir().exists() && !b.data_dir().exists(), "{store}");

    // The container health check, against each replica, then with Redis gone.
    for server in [&a, &b] {
        let listen = format!("127.0.0.1:{}", server.port);
        server_cmd(&["--listen", &listen, "healthcheck"], &env)
            .run()
            .success();
    }
    let mut redis = redis;
    redis.stop();
    let listen = format!("127.0.0.1:{}", a.port);
    let sick = server_cmd(
        &["--listen", &listen, "healthcheck", "--timeout", "20s"],
        &env,
    )
    .run();
    sick.code(1);
    assert!(sick.stderr.contains("answered 503"), "{}", sick.stderr);
}

fn as_str(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The lifecycle rules of bucket `sealdrop`: (id, prefix, expiration days, abort days),
/// sorted by id.
fn lifecycle_rules(s3: &S3Endpoint) -> Vec<(String, String, Option<i32>, Option<i32>)> {
    let out = runtime()
        .block_on(
            s3.client()
                .get_bucket_lifecycle_configuration()
                .bucket("sealdrop")
                .send(),
        )
        .unwrap();
    let mut rules: Vec<_> = out
        .rules()
        .iter()
        .map(|r| {
            assert_eq!(r.status().as_str(), "Enabled");
            (
                r.id().unwrap_or_default().to_owned(),
                r.filter()
                    .and_then(|f| f.prefix())
                    .unwrap_or_default()
                    .to_owned(),
                r.expiration().and_then(|e| e.days()),
                r.abort_incomplete_multipart_upload()
                    .and_then(|a| a.days_after_initiation()),
            )
        })
        .collect();
    rules.sort_by(|x, y| {
        let key = |r: &(String, String, Option<i32>, Option<i32>)| (r.3.is_some(), r.2);
        key(x).cmp(&key(y))
    });
    rules
}

/// The object keys in bucket `sealdrop`.
fn object_keys(s3: &S3Endpoint) -> Vec<String> {
    let out = runtime()
        .block_on(s3.client().list_objects_v2().bucket("sealdrop").send())
        .unwrap();
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

#[test]
fn the_compose_deployment_runs_on_moto() {
    let moto = Moto::start();
    compose_replicas_on(&moto.s3, "moto");
}

#[test]
fn the_compose_deployment_runs_on_garage() {
    let garage = Garage::start();
    compose_replicas_on(&garage.s3, "garage");
}
