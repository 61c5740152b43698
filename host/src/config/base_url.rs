//! [`BaseUrl`]: Home Assistant's address (`BASE_URL`), checked to be an
//! http or https origin the transport can use.

/// Home Assistant's address, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl {
    /// `http://host:port` or `https://host:port`, without a trailing slash.
    pub origin: String,
    /// Whether TLS is used.
    pub https: bool,
}

impl BaseUrl {
    /// Check an address: an http or https URL with a host and no path,
    /// query or credentials. A refusal says what to change (a path to
    /// drop is named; a query, which may hold a credential, is not shown).
    pub fn parse(raw: &str) -> Result<BaseUrl, String> {
        const EXAMPLE: &str = "as in https://ha.example.com:8123";
        let trimmed = raw.trim().trim_end_matches('/');
        let (https, rest) = if let Some(rest) = trimmed.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = trimmed.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(format!("must start with https:// or http://, {EXAMPLE}"));
        };
        if rest.is_empty() {
            return Err("has no host".into());
        }
        if rest.contains(['?', '#']) {
            return Err(format!(
                "must be only scheme, host and port, without a query or fragment, {EXAMPLE}"
            ));
        }
        if let Some(slash) = rest.find('/') {
            return Err(format!(
                "must be only scheme, host and port: drop the path {} (lee adds \
                 /api/alexa/smart_home itself), {EXAMPLE}",
                &rest[slash..]
            ));
        }
        if rest.contains('@') {
            return Err("must not contain credentials".into());
        }
        if !rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b))
        {
            return Err("has characters a host name cannot have".into());
        }
        let (host, port) = match rest.strip_prefix('[') {
            // An IPv6 literal: [addr] or [addr]:port.
            Some(bracketed) => match bracketed.split_once(']') {
                Some((addr, _)) if addr.parse::<std::net::Ipv6Addr>().is_err() => {
                    return Err("has something in [ ] that is not an IPv6 address".into());
                }
                Some((addr, "")) => (addr, None),
                Some((addr, after)) => (addr, Some(after.strip_prefix(':').unwrap_or("x"))),
                None => return Err("has an unclosed [ in its host".into()),
            },
            None => match rest.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            },
        };
        if host.is_empty() {
            return Err("has no host".into());
        }
        if host.contains(['[', ']']) {
            return Err("has a [ or ] outside an IPv6 address".into());
        }
        if port.is_some_and(|p| p.parse::<u16>().is_err()) {
            return Err("has a port that is not a number from 0 to 65535".into());
        }
        Ok(BaseUrl {
            origin: trimmed.to_string(),
            https,
        })
    }

    /// The host: a name, an IPv4 address, or an IPv6 address without its brackets.
    pub fn host(&self) -> &str {
        let authority = self.authority();
        match authority.strip_prefix('[') {
            Some(bracketed) => bracketed.split(']').next().unwrap_or(bracketed),
            None => authority.split(':').next().unwrap_or(authority),
        }
    }

    /// The port: the one given, else 443 for https and 80 for http.
    pub fn port(&self) -> u16 {
        let authority = self.authority();
        let after_host = match authority.rsplit_once(']') {
            Some((_, after)) => after,
            None => authority,
        };
        after_host
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or(if self.https { 443 } else { 80 })
    }

    fn authority(&self) -> &str {
        let scheme = if self.https { "https://" } else { "http://" };
        self.origin.strip_prefix(scheme).unwrap_or(&self.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked() {
        for good in [
            "http://127.0.0.1:8123",
            "https://ha.example.com",
            "http://[::1]:8123",
        ] {
            assert!(BaseUrl::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "ftp://x",
            "https://",
            "https://ha.example.com/api",
            "https://user:pw@ha.example.com",
            "https://ha example.com",
            "https://ha.example.com:port",
            "https://ha.example.com:99999",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
    }

    /// Issue 16: a refused address says how to write one.
    #[test]
    fn a_refused_address_says_how_to_write_it() {
        let why = |raw: &str| BaseUrl::parse(raw).unwrap_err();
        assert_eq!(
            why("127.0.0.1:8123"),
            "must start with https:// or http://, as in https://ha.example.com:8123"
        );
        for (raw, path) in [
            ("http://127.0.0.1:8123/api", "/api"),
            ("https://ha.example.com/api/", "/api"),
            (
                "https://ha.example.com/api/alexa/smart_home",
                "/api/alexa/smart_home",
            ),
        ] {
            assert!(
                why(raw).contains(&format!("drop the path {path} ")),
                "{raw}: {}",
                why(raw)
            );
        }
        // A query may hold a credential: it is never repeated.
        let with_query = why("https://ha.example.com/?token=s3cr3t");
        assert!(!with_query.contains("s3cr3t"), "{with_query}");
        assert!(
            with_query.contains("as in https://ha.example.com:8123"),
            "{with_query}"
        );
    }

    #[test]
    fn host_and_port_are_read_from_the_address() {
        let parts = |raw: &str| {
            let url = BaseUrl::parse(raw).unwrap();
            (url.host().to_string(), url.port())
        };
        assert_eq!(
            parts("https://ha.example.com"),
            ("ha.example.com".into(), 443)
        );
        assert_eq!(parts("http://ha:8123/"), ("ha".into(), 8123));
        assert_eq!(parts("http://[::1]"), ("::1".into(), 80));
        assert_eq!(
            parts("https://[2001:db8::1]:8443"),
            ("2001:db8::1".into(), 8443)
        );
    }

    /// Found by fuzzing (config): addresses without a usable host were
    /// accepted, so the problem showed only as every request failing.
    #[test]
    fn base_urls_without_a_usable_host_are_refused() {
        for bad in [
            "https://]",
            "http://:8123",
            "http://ha]",
            "http://h[a:80",
            "http://[]",
            "http://[zz]:8123",
            "http://[::1]]",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
        for good in [
            "http://[::1]",
            "http://[2001:db8::1]:8123",
            "http://ha:8123",
        ] {
            assert!(BaseUrl::parse(good).is_ok(), "{good}");
        }
    }
}
