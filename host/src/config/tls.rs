//! The TLS material lee reads from the environment: certificates to trust
//! (`SSL_CA_BUNDLE`) and a client identity for mutual TLS (`SSL_CLIENT_CERT`,
//! `SSL_CLIENT_KEY`), each PEM given inline or as the path of a file.

use std::fmt;
use std::path::Path;

use super::Secret;

/// PEM material, from a file or given inline.
#[derive(Clone, PartialEq, Eq)]
pub struct Pem(pub Vec<u8>);

impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pem({} bytes)", self.0.len())
    }
}

/// `SSL_CA_BUNDLE`: certificates to trust besides the public web roots.
pub(super) fn read_ca_bundle(
    var: &impl Fn(&str) -> Option<String>,
    problem: &mut impl FnMut(&'static str, String),
) -> Option<Pem> {
    let raw = var("SSL_CA_BUNDLE")?;
    read_pem(&raw, "CERTIFICATE", false)
        .map_err(|why| problem("SSL_CA_BUNDLE", why))
        .ok()
}

/// `SSL_CLIENT_CERT` and `SSL_CLIENT_KEY`: both or neither; the key is a
/// [`Secret`].
pub(super) fn read_client_identity(
    var: &impl Fn(&str) -> Option<String>,
    problem: &mut impl FnMut(&'static str, String),
) -> Option<(Pem, Secret)> {
    match (var("SSL_CLIENT_CERT"), var("SSL_CLIENT_KEY")) {
        (None, None) => None,
        (Some(cert), Some(key)) => {
            let cert = read_pem(&cert, "CERTIFICATE", false);
            let key = read_pem(&key, "PRIVATE KEY", true);
            match (cert, key) {
                (Ok(cert), Ok(key)) => {
                    let key = String::from_utf8(key.0).unwrap_or_default();
                    Some((cert, Secret::new(key)))
                }
                (cert, key) => {
                    if let Err(why) = cert {
                        problem("SSL_CLIENT_CERT", why);
                    }
                    if let Err(why) = key {
                        problem("SSL_CLIENT_KEY", why);
                    }
                    None
                }
            }
        }
        (Some(_), None) => {
            problem(
                "SSL_CLIENT_KEY",
                "is needed with SSL_CLIENT_CERT for mutual TLS".into(),
            );
            None
        }
        (None, Some(_)) => {
            problem(
                "SSL_CLIENT_CERT",
                "is needed with SSL_CLIENT_KEY for mutual TLS".into(),
            );
            None
        }
    }
}

/// PEM given inline, or the contents of the file it names. `label` is the
/// PEM block kind that must be present (`CERTIFICATE`, or any `... PRIVATE KEY`).
/// When the value may be `secret` (the client key), an error never quotes
/// it: key material pasted without its `-----BEGIN` line is taken for a
/// file name, and would otherwise be logged as one.
fn read_pem(raw: &str, label: &str, secret: bool) -> Result<Pem, String> {
    let bytes = if raw.trim_start().starts_with("-----BEGIN") {
        raw.as_bytes().to_vec()
    } else {
        let path = Path::new(raw.trim());
        std::fs::read(path).map_err(|e| {
            if secret {
                format!("is neither PEM (-----BEGIN ...) nor a file lee can read: {e}")
            } else {
                format!("cannot read {}: {e}", path.display())
            }
        })?
    };
    let text = String::from_utf8_lossy(&bytes);
    let found = text
        .lines()
        .any(|line| line.starts_with("-----BEGIN") && line.contains(label));
    if found {
        Ok(Pem(bytes))
    } else {
        Err(format!("holds no PEM block of kind {label}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::read;

    /// Found by fuzzing (config): a client key that is not PEM was taken for
    /// a file name and quoted whole in the problem.
    #[test]
    fn a_client_key_that_is_not_pem_is_not_quoted() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        for key in [
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7marker",
            "\"-----BEGIN PRIVATE KEY-----\nMIIEvmarker\n-----END PRIVATE KEY-----\"",
            "key\0marker",
        ] {
            let (c, problems) = read(&[
                ("BASE_URL", "http://h"),
                ("SSL_CLIENT_CERT", pem),
                ("SSL_CLIENT_KEY", key),
            ]);
            assert!(c.client_identity.is_none());
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(problems[0].variable, "SSL_CLIENT_KEY");
            assert!(!problems[0].message.contains("marker"), "{}", problems[0]);
        }
        // A certificate is no secret: its file name is shown.
        let (_, problems) = read(&[("SSL_CA_BUNDLE", "/nonexistent/ca.pem")]);
        assert!(problems[1].message.contains("/nonexistent/ca.pem"));
    }

    #[test]
    fn pem_is_taken_inline_or_from_a_file() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        assert!(read_pem(pem, "CERTIFICATE", false).is_ok());
        let path = std::env::temp_dir().join(format!("lee-config-{}.pem", std::process::id()));
        std::fs::write(&path, pem).unwrap();
        assert_eq!(
            read_pem(path.to_str().unwrap(), "CERTIFICATE", false)
                .unwrap()
                .0,
            pem.as_bytes()
        );
        assert!(read_pem(path.to_str().unwrap(), "PRIVATE KEY", true).is_err());
        std::fs::remove_file(path).unwrap();
    }
}
