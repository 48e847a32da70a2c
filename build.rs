//! Build script: the git commit `hookgate --version` names.
//!
//! Outside a git checkout (a source tarball, a crate) or without git the
//! commit is `unknown`. Cargo runs this again when HEAD moves: on a checkout
//! (`HEAD` changes) and on a commit (the branch's ref changes).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=HOOKGATE_GIT_COMMIT={commit}");
    for file in watched() {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    // Without git metadata there is nothing to watch but this script.
    println!("cargo:rerun-if-changed=build.rs");
}

/// The files that change when HEAD moves. Asked of git rather than assumed
/// at `.git/HEAD`: in a worktree `.git` is a file and HEAD lives elsewhere,
/// and a path that does not exist would rerun this script on every build.
fn watched() -> Vec<PathBuf> {
    let mut names = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        names.push(branch);
    }
    names
        .iter()
        .filter_map(|name| git(&["rev-parse", "--git-path", name]))
        .map(PathBuf::from)
        .filter(|path| path.exists())
        .collect()
}

/// The trimmed output of a successful `git ARGS`, or `None`.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (output.status.success() && !text.is_empty()).then(|| text.to_string())
}
