//! Which routes file a command reads when none is named. In order: the
//! `--config` flag, `HOOKGATE_CONFIG` (both clap's), `config/routes.toml`
//! in the working directory (a clone), then `/etc/hookgate/routes.toml`
//! (the package's).

use std::path::{Path, PathBuf};

/// The config of a clone, relative to the working directory.
pub const WORKING_DIRECTORY_CONFIG: &str = "config/routes.toml";

/// The config the Debian package installs.
pub const SYSTEM_CONFIG: &str = "/etc/hookgate/routes.toml";

/// The routes file when neither the flag nor `HOOKGATE_CONFIG` names one.
pub fn default_config() -> PathBuf {
    default_config_in(Path::new("."), Path::new(SYSTEM_CONFIG))
}

/// `config/routes.toml` when `working_directory` holds it (returned relative,
/// as the operator would type it), else `system`. When neither exists the
/// answer is `system`, so the error names where an installed gateway looks.
fn default_config_in(working_directory: &Path, system: &Path) -> PathBuf {
    if working_directory.join(WORKING_DIRECTORY_CONFIG).is_file() {
        PathBuf::from(WORKING_DIRECTORY_CONFIG)
    } else {
        system.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A working directory and a stand-in for `/etc/hookgate/routes.toml`.
    fn dirs() -> (tempfile::TempDir, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let system = root.path().join("etc/hookgate/routes.toml");
        std::fs::create_dir_all(system.parent().unwrap()).unwrap();
        std::fs::write(&system, "[server]\n").unwrap();
        std::fs::create_dir(root.path().join("work")).unwrap();
        (root, system)
    }

    #[test]
    fn a_config_in_the_working_directory_comes_before_etc() {
        let (root, system) = dirs();
        let work = root.path().join("work");
        std::fs::create_dir(work.join("config")).unwrap();
        std::fs::write(work.join(WORKING_DIRECTORY_CONFIG), "[server]\n").unwrap();

        let chosen = default_config_in(&work, &system);

        assert_eq!(chosen, Path::new("config/routes.toml"));
    }

    #[test]
    fn etc_is_the_fallback_without_a_config_in_the_working_directory() {
        let (root, system) = dirs();
        let work = root.path().join("work");
        // A directory of that name is no config.
        std::fs::create_dir_all(work.join(WORKING_DIRECTORY_CONFIG)).unwrap();

        let chosen = default_config_in(&work, &system);

        assert_eq!(chosen, system);
    }
}
