//! Where a route's secrets come from: `secret`, `secrets` or `secret_file`.
//!
//! A `secret_file` (a Docker or Kubernetes secret) is read while the config
//! is loaded, so every reload reads it again. Errors name the file, never
//! what is in it.

use std::io::Read;
use std::path::Path;

use secrecy::SecretString;

use super::schema::SecretSource;
use super::signature::FieldProblem;

/// A secret file larger than this is not a secret: refuse it rather than
/// read a log file or a disk image by mistake.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// The configured secrets, first first, and the field they came from;
/// reads `secret_file` now. No secret at all gives an empty list.
pub fn resolve(
    source: SecretSource<'_>,
) -> Result<(&'static str, Vec<SecretString>), FieldProblem> {
    match (source.secret, source.secrets, source.secret_file) {
        (None, None, None) => Ok(("secret", Vec::new())),
        (Some(one), None, None) => Ok(("secret", vec![one.clone()])),
        (None, Some(many), None) => Ok(("secrets", many.clone())),
        (None, None, Some(path)) => read_secret_file(Path::new(path))
            .map(|secret| ("secret_file", vec![secret]))
            .map_err(|message| ("secret_file", message)),
        _ => Err((
            "secret",
            "set only one of `secret`, `secrets` or `secret_file`".into(),
        )),
    }
}

/// The secret in the file at `path`, without its trailing newlines.
///
/// Only a regular file is read (a symlink to one is fine, as Kubernetes
/// mounts them), so a FIFO or a device cannot block or flood the load.
pub fn read_secret_file(path: &Path) -> Result<SecretString, String> {
    let shown = path.display();
    let cannot_read = |e: std::io::Error| format!("cannot read `{shown}`: {e}");
    let metadata = std::fs::metadata(path).map_err(cannot_read)?;
    if !metadata.is_file() {
        return Err(format!("`{shown}` is not a regular file"));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(cannot_read)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("`{shown}` is larger than {MAX_FILE_BYTES} bytes"));
    }
    let text = String::from_utf8(bytes).map_err(|_| format!("`{shown}` is not UTF-8 text"))?;
    let secret = without_trailing_newlines(&text);
    if secret.is_empty() {
        return Err(format!("`{shown}` is empty"));
    }
    Ok(SecretString::from(secret))
}

/// `text` without the `\n` or `\r\n` line ends an editor or `echo` leaves.
fn without_trailing_newlines(mut text: &str) -> &str {
    while let Some(rest) = text.strip_suffix('\n') {
        text = rest.strip_suffix('\r').unwrap_or(rest);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn file_with(content: &[u8]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), content).unwrap();
        file
    }

    fn from_file(path: &str) -> Result<(&'static str, Vec<String>), FieldProblem> {
        let path = Some(path.to_string());
        let source = SecretSource {
            secret: &None,
            secrets: &None,
            secret_file: &path,
        };
        let (field, secrets) = resolve(source)?;
        let exposed = secrets.iter().map(|s| s.expose_secret().to_string());
        Ok((field, exposed.collect()))
    }

    #[test]
    fn a_secret_file_is_read_without_its_trailing_newlines() {
        for content in [&b"s3cret"[..], b"s3cret\n", b"s3cret\r\n", b"s3cret\n\n"] {
            let file = file_with(content);
            let resolved = from_file(file.path().to_str().unwrap());
            assert_eq!(resolved, Ok(("secret_file", vec!["s3cret".to_string()])));
        }
    }

    #[test]
    fn spaces_and_inner_newlines_belong_to_the_secret() {
        let file = file_with(b" a\nb \n");
        let secret = read_secret_file(file.path()).unwrap();
        assert_eq!(secret.expose_secret(), " a\nb ");
    }

    #[test]
    fn a_missing_empty_or_unreadable_secret_file_names_the_path_not_the_content() {
        let empty = file_with(b"\r\n");
        let binary = file_with(b"\xff\xfesecret-bytes");
        let huge = file_with(&vec![b'x'; MAX_FILE_BYTES as usize + 1]);
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let cases = [
            (empty.path(), "is empty"),
            (binary.path(), "is not UTF-8 text"),
            (huge.path(), "is larger than"),
            (dir.path(), "is not a regular file"),
            (missing.as_path(), "cannot read"),
        ];
        for (path, reason) in cases {
            let (field, message) = from_file(path.to_str().unwrap()).unwrap_err();
            assert_eq!(field, "secret_file");
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(message.contains(reason), "{message}");
            assert!(!message.contains("secret-bytes"), "{message}");
        }
    }

    #[test]
    fn only_one_of_secret_secrets_and_secret_file_may_be_set() {
        let one = Some(SecretString::from("a"));
        let many = Some(vec![SecretString::from("b")]);
        let file = Some("/run/secrets/c".to_string());
        let cases = [
            SecretSource {
                secret: &one,
                secrets: &many,
                secret_file: &None,
            },
            SecretSource {
                secret: &one,
                secrets: &None,
                secret_file: &file,
            },
            SecretSource {
                secret: &None,
                secrets: &many,
                secret_file: &file,
            },
        ];
        for sources in cases {
            let (_, message) = resolve(sources).unwrap_err();
            assert!(message.contains("only one of"), "{message}");
        }
    }
}
