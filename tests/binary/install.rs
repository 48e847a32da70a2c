//! The gateway as the package installs it: where it finds its config and
//! its store, what `--version` says, and the completions and man page.

use std::process::{Command, Output};

use support::*;

use crate::process::{hookgate, serve_by, write_config};

/// Runs `command`, returning stdout and stderr together, and its output.
fn run(command: &mut Command) -> (String, Output) {
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (text, output)
}

#[test]
fn without_a_config_in_the_working_directory_check_reads_etc() {
    let empty = tempfile::tempdir().unwrap();

    // Only read: whether the file is there or not, check names it.
    let (text, _) = run(hookgate().arg("check").current_dir(empty.path()));

    assert!(text.contains("/etc/hookgate/routes.toml"), "{text}");
}

#[test]
fn a_relative_store_path_goes_under_state_directory() {
    let downstream = "http://127.0.0.1:9/hook";
    let (config_dir, state, work) = (tempdir(), tempdir(), tempdir());
    // No [store] path: the default, data/hookgate.db, opened at start.
    let queued = chatwoot_config(downstream, "delivery = \"queued\"");
    let config = write_config(&config_dir, &queued);
    let mut command = hookgate();
    command
        .current_dir(work.path())
        .env("STATE_DIRECTORY", state.path());

    let (_gateway, _, _logs) = serve_by(command, &config);

    assert!(state.path().join("data/hookgate.db").is_file());
    assert!(!work.path().join("data").exists());
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn version_names_the_commit_built() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8(output.stdout).unwrap().trim().to_string())
        .unwrap_or_else(|| "unknown".into());

    let (text, output) = run(hookgate().arg("--version"));

    assert!(output.status.success(), "{text}");
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(text, format!("hookgate {version} ({commit})\n"));
}

#[test]
fn completions_for_bash_complete_every_subcommand() {
    let (script, output) = run(hookgate().args(["completions", "bash"]));

    assert!(output.status.success(), "{script}");
    assert!(script.contains("complete -F _hookgate"), "{script}");
    for subcommand in [
        "serve",
        "check",
        "openapi",
        "sign",
        "queue",
        "completions",
        "man",
    ] {
        assert!(script.contains(subcommand), "{subcommand} missing");
    }
}

#[test]
fn man_prints_a_roff_page_with_the_subcommands_and_files() {
    let (page, output) = run(hookgate().arg("man"));

    assert!(output.status.success(), "{page}");
    assert!(page.contains("\n.TH HOOKGATE 1 "), "{page}");
    assert!(page.contains("hookgate\\-serve(1)"), "{page}");
    assert!(page.contains("/etc/hookgate/hookgate.env"), "{page}");
}

#[test]
fn man_out_dir_writes_a_page_per_subcommand() {
    let dir = tempdir();

    let (listed, output) = run(hookgate().args(["man", "--out-dir"]).arg(dir.path()));

    assert!(output.status.success(), "{listed}");
    for page in ["hookgate.1", "hookgate-serve.1", "hookgate-queue-ls.1"] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(text.contains(".TH HOOKGATE"), "{page}: {text}");
    }
}
