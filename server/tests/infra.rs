//! The example configuration of the self-hosting kit (`infra/sealdrop.example.toml`)
//! cannot drift from the code: it goes through the real loader, lists every option the
//! server knows with its flag and environment variable, and the values it shows as
//! defaults are the defaults.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::CommandFactory as _;
use clap::Parser as _;
use sealdrop_server::config::{Args, Config, Settings};

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/sealdrop.example.toml")
}

fn example() -> String {
    std::fs::read_to_string(example_path()).expect("infra/sealdrop.example.toml")
}

/// Every option of `sealdrop-server`: long flag name → environment variable (`--config`
/// is not a setting of the file itself).
fn options() -> BTreeMap<String, String> {
    Args::command()
        .get_arguments()
        .filter_map(|arg| {
            let long = arg.get_long()?;
            let env = arg.get_env()?.to_str()?;
            (long != "config").then(|| (long.to_owned(), env.to_owned()))
        })
        .collect()
}

/// A commented-out setting: `#key = value`, as opposed to prose (`# text`).
fn setting(line: &str) -> Option<&str> {
    let rest = line.strip_prefix('#')?;
    let key = rest.split(" = ").next()?;
    (!key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
    .then_some(key)
}

/// The file with its settings uncommented; `examples` also keeps the lines that show an
/// example rather than the default (`# example` at the end).
fn uncommented(text: &str, examples: bool) -> String {
    text.lines()
        .filter_map(|line| match setting(line) {
            Some(_) if !examples && line.trim_end().ends_with("# example") => None,
            Some(_) => Some(&line[1..]),
            None => Some(line),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_example_config_loads_as_it_is() {
    let args = Args::try_parse_from([
        "sealdrop-server",
        "--config",
        example_path().to_str().unwrap(),
    ])
    .unwrap();
    let loaded = Config::load(args).unwrap();
    let builtin = Config::from_settings(Settings::default()).unwrap();
    assert_eq!(format!("{loaded:?}"), format!("{builtin:?}"));
}

#[test]
fn the_example_config_lists_every_option_with_its_flag_and_variable() {
    let text = example();
    let lines: Vec<&str> = text.lines().collect();
    let mut missing = Vec::new();
    let mut undocumented = Vec::new();
    for (long, env) in options() {
        let Some(at) = lines.iter().position(|l| setting(l) == Some(long.as_str())) else {
            missing.push(format!("--{long} ({env})"));
            continue;
        };
        // The comment block right above the setting names its flag and variable.
        let block = lines[..at]
            .iter()
            .rev()
            .take_while(|l| l.starts_with('#') && setting(l).is_none());
        let wanted = format!("# --{long}, {env}; default ");
        if !block.clone().any(|l| l.starts_with(&wanted)) {
            undocumented.push(format!("#{long} (wanted a line `{wanted}…` above it)"));
        }
    }
    assert!(
        missing.is_empty(),
        "infra/sealdrop.example.toml does not list the option(s) {}: add a commented block \
         for each, with its flag, environment variable and default",
        missing.join(", ")
    );
    assert!(
        undocumented.is_empty(),
        "infra/sealdrop.example.toml: {}",
        undocumented.join("; ")
    );
}

#[test]
fn every_value_in_the_example_config_parses_and_the_defaults_are_the_defaults() {
    let text = example();
    // Every value shown, examples included, is valid for the real deserializer (unknown
    // keys are refused).
    toml::from_str::<Settings>(&uncommented(&text, true))
        .unwrap_or_else(|e| panic!("infra/sealdrop.example.toml, uncommented: {e}"));
    // The values shown as defaults give exactly the built-in configuration, also with
    // the S3 store (whose options count only then).
    for storage in [None, Some("s3://bucket")] {
        let mut shown: Settings = toml::from_str(&uncommented(&text, false)).unwrap();
        let mut builtin = Settings::default();
        if let Some(storage) = storage {
            shown.storage = Some(storage.to_owned());
            builtin.storage = Some(storage.to_owned());
        }
        let shown = format!("{:#?}", Config::from_settings(shown).unwrap());
        let builtin = format!("{:#?}", Config::from_settings(builtin).unwrap());
        let differences: Vec<String> = shown
            .lines()
            .zip(builtin.lines())
            .filter(|(a, b)| a != b)
            .map(|(a, b)| format!("shown {} / built in {}", a.trim(), b.trim()))
            .collect();
        assert!(
            differences.is_empty() && shown.lines().count() == builtin.lines().count(),
            "infra/sealdrop.example.toml shows values that are not the defaults (mark an \
             example with `# example`): {}",
            differences.join("; ")
        );
    }
}
