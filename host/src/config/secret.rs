//! [`Secret`]: a configuration value (a token, a header value, a key, the
//! shared secret) that never appears in `Debug` output and is compared in
//! constant time; [`Secret::from_file`] reads one from a command line's
//! `--token-file`.

use std::fmt;
use std::path::Path;

/// A value that must never be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// The token in the file at `path` (a command line's `--token-file`),
    /// trimmed. An error says what `--token-file` takes and shows the path
    /// only when the file exists and the path does not look like a token:
    /// a token pasted where the path belongs is never repeated.
    pub fn from_file(path: &Path) -> Result<Secret, String> {
        const TAKES: &str = "--token-file takes the path of a file holding the token";
        let shown = path.to_str().filter(|p| !looks_like_token(p));
        match (std::fs::read_to_string(path), shown) {
            (Ok(token), _) if !token.trim().is_empty() => Ok(Secret(token.trim().to_string())),
            (Err(e), _) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
                "{TAKES}, and no file has the path given (not shown: it may be a token)"
            )),
            (Ok(_), Some(path)) => Err(format!("--token-file {path} is empty")),
            (Err(e), Some(path)) => Err(format!("--token-file {path} cannot be read: {e}")),
            (Ok(_), None) => Err(format!("{TAKES}; the file given is empty")),
            (Err(e), None) => Err(format!("{TAKES}; the file given cannot be read: {e}")),
        }
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is the secret, compared in constant time so the
    /// answer's timing says nothing about how much of it matched.
    pub fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        let mut difference = a.len() ^ b.len();
        for (i, x) in a.iter().enumerate() {
            difference |= usize::from(x ^ b.get(i).copied().unwrap_or(!x));
        }
        difference == 0
    }
}

/// Whether a command-line argument looks like a token rather than a path:
/// a JSON Web Token (Home Assistant's long-lived tokens), or a long word
/// with neither a `/` nor a `.` (Alexa's `Atza|...`).
fn looks_like_token(argument: &str) -> bool {
    let name = argument.rsplit('/').next().unwrap_or(argument);
    name.starts_with("eyJ") || argument.len() >= 32 && !argument.contains(['/', '.'])
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16: a token pasted where `--token-file` wants a path, or a
    /// path that does not exist, is never repeated; the error says what the
    /// option takes.
    #[test]
    fn a_token_file_argument_is_shown_only_when_it_is_a_file() {
        let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhYmMifQ.c2lnbmF0dXJl";
        for argument in [
            jwt,
            "Atza|IwEBIJ8a7d6f5e4c3b2a1908f7e6d5c4b3a2918f7e6d5c4b3a2",
            "/nonexistent/token",
            "token.txt-that-is-not-there",
        ] {
            let why = Secret::from_file(Path::new(argument)).unwrap_err();
            assert!(!why.contains(argument), "{why}");
            assert!(
                why.contains("--token-file takes the path of a file holding the token"),
                "{why}"
            );
        }
        let dir = std::env::temp_dir().join(format!("lee-secret-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty");
        std::fs::write(&empty, " \n").unwrap();
        let why = Secret::from_file(&empty).unwrap_err();
        assert!(
            why.contains(&*empty.to_string_lossy()) && why.contains("is empty"),
            "{why}"
        );
        let good = dir.join("token");
        std::fs::write(&good, "  s3cr3t-token\n").unwrap();
        assert_eq!(Secret::from_file(&good).unwrap().expose(), "s3cr3t-token");
        // A file named like a token is not named either.
        let named_like_one = dir.join(jwt);
        std::fs::write(&named_like_one, "").unwrap();
        let why = Secret::from_file(&named_like_one).unwrap_err();
        assert!(!why.contains(jwt), "{why}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn secrets_compare_whole() {
        let s = Secret::new("s3cret".into());
        assert!(s.matches("s3cret"));
        for other in ["", "s3cre", "s3cret!", "S3cret", "x3cret"] {
            assert!(!s.matches(other), "{other}");
        }
    }
}
