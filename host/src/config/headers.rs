//! `EXTRA_HEADERS`: headers added to every request to Home Assistant
//! (e.g. Cloudflare Access), parsed from `Name: value, Name2: value2`.

use super::Secret;

/// `Name: value, Name2: value2` → header pairs. Names must be HTTP tokens,
/// values visible ASCII; `Authorization` and `Host` are lee's to set.
pub(super) fn parse_extra_headers(raw: &str) -> Result<Vec<(String, Secret)>, String> {
    let mut headers = Vec::new();
    for (i, item) in raw.split(',').enumerate() {
        if item.trim().is_empty() {
            continue;
        }
        let Some((name, value)) = item.split_once(':') else {
            return Err(format!(
                "header {} has no ':' between name and value",
                i + 1
            ));
        };
        let (name, value) = (name.trim(), value.trim());
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(format!("header {} has an invalid name", i + 1));
        }
        if ["authorization", "host", "content-length"].contains(&name.to_ascii_lowercase().as_str())
        {
            return Err(format!(
                "header {name} is set by lee and cannot be overridden"
            ));
        }
        if value.is_empty() || !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(format!("header {name} has an empty or invalid value"));
        }
        headers.push((name.to_string(), Secret::new(value.to_string())));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_name_value_pairs_lee_does_not_set_itself() {
        let headers = parse_extra_headers(" A: 1 ,, B-c:two words ").unwrap();
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.expose()))
            .collect();
        assert_eq!(pairs, [("A", "1"), ("B-c", "two words")]);
        for bad in [
            "X-Key marker",
            "Bad Name: v",
            "Host: h",
            "AUTHORIZATION: x",
            "X:",
            "X: \u{7f}",
        ] {
            let why = parse_extra_headers(bad).unwrap_err();
            assert!(!why.contains("marker"), "{why}");
        }
    }
}
