//! lee's logs: one JSON object per line, redacted before anything is
//! formatted.
//!
//! What it is for: logs a CloudWatch Logs Insights query can read (every
//! line has `timestamp`, `level`, `message`, the fields of the spans it ran
//! in, flattened, and its own fields), and that never carry a secret, at any
//! level, debug included. Every frontend installs [`JsonLogs`]; none formats
//! a line any other way.
//!
//! Redaction is done by the layer, on every value, before it is written:
//! - a field whose name says it holds a secret (`token`, `authorization`,
//!   `secret`, `password`, `cookie`, `code`, ...) is written as
//!   `[redacted]`, whatever its value;
//! - in every other value: the configured secrets ([`register_secrets`]) are
//!   replaced, `Bearer <anything>` loses its credential (lee's own words,
//!   "no bearer token", are not one), a URL query value
//!   named like a token (`?token=`, `&access_token=`, `authSig=`: Home
//!   Assistant's camera and media `entity_picture` links carry one) loses
//!   its value, and inside JSON text the string value of any such key is
//!   replaced;
//! - event bodies are only logged through [`body`], which redacts the JSON
//!   structurally and never writes bytes that are not JSON.
//!
//! Levels come from `LOG_LEVEL` (`error|warn|info|debug|trace`), else
//! Lambda's `AWS_LAMBDA_LOG_LEVEL`, else `info`; `DEBUG` turns on debug.

use std::io::Write;
use std::sync::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are not searched for in text: a two-letter
/// "secret" would redact half of every line and protect nothing.
const MIN_SECRET_LEN: usize = 6;

/// At most this many configured secrets are searched for.
const MAX_SECRETS: usize = 32;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Add secrets (tokens, shared secret, header values, keys) to those every
/// log value is searched for. The set only grows, up to 32 (the oldest go
/// first): a secret replaced by a reload may still sit in a late log line.
pub fn register_secrets<'a>(secrets: impl IntoIterator<Item = &'a str>) {
    let mut kept = SECRETS
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for secret in secrets {
        if secret.len() < MIN_SECRET_LEN || kept.iter().any(|k| k == secret) {
            continue;
        }
        if kept.len() == MAX_SECRETS {
            kept.remove(0);
        }
        kept.push(secret.to_string());
    }
}

/// Whether a field or JSON key of this name holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    const PARTS: [&str; 8] = [
        "token",
        "authorization",
        "secret",
        "password",
        "passwd",
        "cookie",
        "api_key",
        "apikey",
    ];
    PARTS.iter().any(|part| name.contains(part))
        // An OAuth authorization code (AcceptGrant's `grant.code`).
        || name == "code"
        || name == "x-lee-secret"
}

/// `text` with every secret it may hold replaced (see the module's doc).
pub fn scrub(text: &str) -> String {
    let secrets = SECRETS
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // Longest first, so a secret containing another is replaced whole.
    let mut found: Vec<&String> = secrets
        .iter()
        .filter(|s| text.contains(s.as_str()))
        .collect();
    // Most values (names, ids, lee's own messages) hold nothing to redact.
    let bearer = text.len() >= 6
        && text
            .as_bytes()
            .windows(6)
            .any(|w| w.eq_ignore_ascii_case(b"bearer"));
    let query = query_secret_at(text, 0).is_some();
    if found.is_empty() && !bearer && !query && !text.contains('"') {
        return text.to_string();
    }
    found.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for secret in found {
        out = out.replace(secret.as_str(), REDACTED);
    }
    drop(secrets);
    if query {
        out = scrub_query_values(&out);
    }
    let out = scrub_bearer(&out);
    scrub_json_keys(&out)
}

/// Query parameter names (ASCII case ignored) whose value is a credential;
/// `token=` also catches `access_token=`, `refresh_token=` and
/// `X-Amz-Security-Token=`.
const QUERY_SECRETS: [&[u8]; 2] = [b"token=", b"authsig="];

/// Where the value of the first credential-named query parameter at or
/// after `from` starts, when it is not empty. Finding the `=` signs is a
/// memchr-style scan: text without one costs nothing more.
fn query_secret_at(text: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    text.get(from..)?
        .match_indices('=')
        .map(|(at, _)| from + at + 1)
        .find(|&value| {
            QUERY_SECRETS.iter().any(|name| {
                value >= name.len() && bytes[value - name.len()..value].eq_ignore_ascii_case(name)
            }) && bytes
                .get(value)
                .is_some_and(|&b| is_query_value_byte(bytes, value, b))
        })
}

/// Whether the byte at `at` still belongs to a query value. A value ends at
/// the next parameter (`&`), a fragment (`#`), a quote (plain or escaped),
/// a backslash (a JSON escape) other than an escaped slash, or whitespace
/// and other characters a URL never holds unencoded. Anything else, `,`
/// `;` `)` included, is taken as part of the value: better a word too many
/// redacted than a credential's tail kept.
fn is_query_value_byte(bytes: &[u8], at: usize, byte: u8) -> bool {
    match byte {
        b'\\' => bytes.get(at + 1) == Some(&b'/'),
        b'&' | b'#' | b'"' | b'\'' | b'<' | b'>' | b'`' => false,
        _ => !byte.is_ascii_whitespace() && !byte.is_ascii_control(),
    }
}

/// `?token=abc&x=1` → `?token=[redacted]&x=1`, for every credential-named
/// query parameter, in URLs plain, in JSON and in JSON quoted again.
fn scrub_query_values(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    while let Some(start) = query_secret_at(text, copied) {
        let mut end = start;
        while end < bytes.len() && is_query_value_byte(bytes, end, bytes[end]) {
            // An escaped slash is two bytes of the value.
            end += if bytes[end] == b'\\' { 2 } else { 1 };
        }
        // The value ends at an ASCII byte, so both ends are char boundaries.
        out.push_str(&text[copied..start]);
        out.push_str(REDACTED);
        copied = end.min(bytes.len());
    }
    out.push_str(&text[copied..]);
    out
}

/// Words that follow `bearer` in lee's own sentences ("the directive
/// carries no bearer token"): never a credential, so never redacted.
const BEARER_WORDS: [&str; 3] = ["token", "tokens", "token's"];

/// `Bearer xyz` → `Bearer [redacted]` (any case of `bearer`), unless `xyz`
/// is one of the [`BEARER_WORDS`].
fn scrub_bearer(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    if !lower.contains("bearer") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    let mut from = 0;
    while let Some(at) = lower[from..].find("bearer") {
        let start = from + at + "bearer".len();
        let credential_start = start + text[start..].len() - text[start..].trim_start().len();
        let credential_end = text[credential_start..]
            .find(|c: char| c.is_whitespace() || c == '"' || c == ',' || c == '\\')
            .map_or(text.len(), |n| credential_start + n);
        let credential = &text[credential_start..credential_end];
        let words = BEARER_WORDS
            .iter()
            .any(|word| credential.eq_ignore_ascii_case(word));
        if credential_start > start && credential_end > credential_start && !words {
            out.push_str(&text[rest..credential_start]);
            out.push_str(REDACTED);
            rest = credential_end;
        }
        from = start.max(credential_end);
        if from >= text.len() {
            break;
        }
    }
    out.push_str(&text[rest..]);
    out
}

/// In JSON text (or text that quotes some): the string value after any
/// secret-named key is replaced. `"token": "abc"` → `"token": "[redacted]"`,
/// escaped quotes included (`\"token\":\"abc\"`).
fn scrub_json_keys(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        // A quote, possibly escaped, opens a key candidate.
        let Some(quote) = quote_at(bytes, i) else {
            i += 1;
            continue;
        };
        let key_start = i + quote;
        let Some(key_len) = bytes[key_start..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\')
        else {
            break;
        };
        let key_end = key_start + key_len;
        let key = &text[key_start..key_end];
        let Some(close) = quote_at(bytes, key_end) else {
            i = key_end.max(i + 1);
            continue;
        };
        let mut j = key_end + close;
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        if j >= bytes.len() || bytes[j] != b':' || !is_secret_name(key) {
            // Not a secret's key: its closing quote may open the next string.
            i = key_end;
            continue;
        }
        j += 1;
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        let Some(open) = quote_at(bytes, j) else {
            i = j;
            continue;
        };
        let value_start = j + open;
        let value_end = string_end(bytes, value_start, open > 1);
        out.push_str(&text[copied..value_start]);
        out.push_str(REDACTED);
        copied = value_end;
        i = value_end.max(value_start + 1);
    }
    out.push_str(&text[copied.min(text.len())..]);
    out
}

/// How many bytes the quote at `i` takes: `"` is 1, `\"` is 2.
fn quote_at(bytes: &[u8], i: usize) -> Option<usize> {
    match bytes.get(i..) {
        Some([b'"', ..]) => Some(1),
        Some([b'\\', b'"', ..]) => Some(2),
        _ => None,
    }
}

/// Where the string whose content starts at `start` ends (at its closing
/// quote). In quoted-JSON (`escaped`), the closing quote is `\"`.
fn string_end(bytes: &[u8], start: usize, escaped: bool) -> usize {
    let mut k = start;
    // In quoted JSON every byte of the inner string may be escaped once
    // more: decode that outer escape, then read the inner string as JSON.
    let mut inner_escape = false;
    while k < bytes.len() {
        let (decoded, width) = match (bytes[k], escaped) {
            (b'\\', true) => (bytes.get(k + 1).copied().unwrap_or(b'\\'), 2),
            (byte, _) => (byte, 1),
        };
        if inner_escape {
            inner_escape = false;
        } else if decoded == b'\\' {
            inner_escape = true;
        } else if decoded == b'"' {
            return k;
        }
        k += width;
    }
    bytes.len()
}

/// An event or answer body for a debug log: its JSON with every
/// secret-named value replaced (at any depth), or only its size when it is
/// not JSON.
pub fn body(bytes: &[u8]) -> String {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(mut value) => {
            redact_value(&mut value);
            scrub(&value.to_string())
        }
        Err(_) => format!("[{} bytes, not JSON]", bytes.len()),
    }
}

fn redact_value(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if is_secret_name(key) && !matches!(item, Value::Null | Value::Bool(_)) {
                    *item = Value::String(REDACTED.into());
                } else {
                    redact_value(item);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        _ => {}
    }
}

/// The level named by `LOG_LEVEL` (or `AWS_LAMBDA_LOG_LEVEL`), with
/// `DEBUG` on meaning at least debug. An unknown name is an error naming
/// what is accepted.
pub fn level_from(var: impl Fn(&str) -> Option<String>) -> Result<LevelFilter, String> {
    let debug = var("DEBUG").is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    });
    let named = var("LOG_LEVEL").or_else(|| var("AWS_LAMBDA_LOG_LEVEL"));
    let level = match named.as_deref().map(|v| v.trim().to_ascii_lowercase()) {
        None => LevelFilter::INFO,
        Some(name) => match name.as_str() {
            "" | "info" => LevelFilter::INFO,
            "error" | "fatal" => LevelFilter::ERROR,
            "warn" | "warning" => LevelFilter::WARN,
            "debug" => LevelFilter::DEBUG,
            "trace" => LevelFilter::TRACE,
            "off" => LevelFilter::OFF,
            _ => {
                return Err(format!(
                    "LOG_LEVEL must be error, warn, info, debug or trace, not {name:?}"
                ));
            }
        },
    };
    Ok(if debug {
        level.max(LevelFilter::DEBUG)
    } else {
        level
    })
}

/// The JSON-lines layer. `W` makes the writer for each line (stdout for the
/// Lambda, stderr for the stdio harness, a buffer in tests); a line is
/// written with one `write_all`.
pub struct JsonLogs<W> {
    make_writer: W,
}

impl<W> JsonLogs<W> {
    /// Lines to `make_writer`.
    pub fn new(make_writer: W) -> Self {
        JsonLogs { make_writer }
    }
}

/// A span's fields, redacted, kept in the span's extensions.
struct SpanFields(Map<String, Value>);

/// Collects fields into a JSON map, redacting as it goes.
struct Collect<'a>(&'a mut Map<String, Value>);

impl Collect<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let value = if is_secret_name(field.name()) {
            Value::String(REDACTED.into())
        } else {
            value
        };
        self.0.insert(field.name().to_string(), value);
    }
}

impl Visit for Collect<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        // Milliseconds to the microsecond are what a reader wants.
        let rounded = (value * 1e3).round() / 1e3;
        self.put(
            field,
            serde_json::Number::from_f64(rounded).map_or(Value::Null, Value::Number),
        );
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(scrub(value)));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::String(scrub(&format!("{value:?}"))));
    }
}

impl<S, W> Layer<S> for JsonLogs<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Map::new();
        attrs.record(&mut Collect(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<SpanFields>()
        {
            values.record(&mut Collect(&mut fields.0));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut own = Map::new();
        event.record(&mut Collect(&mut own));
        let message = own
            .remove("message")
            .unwrap_or(Value::String(String::new()));
        // Outer spans first, so an inner span's field wins over an outer one's.
        let mut rest = Map::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<SpanFields>() {
                    for (key, value) in &fields.0 {
                        rest.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        let correlation: Vec<&str> = ["request_id", "message_id"]
            .iter()
            .filter_map(|key| rest.get(*key).and_then(Value::as_str))
            .collect();
        if !correlation.is_empty() {
            let id = Value::String(correlation.join("/"));
            rest.insert("correlation_id".into(), id);
        }
        rest.extend(own);
        for first in ["timestamp", "level", "message"] {
            rest.remove(first);
        }
        // timestamp, level and message lead, as a reader scans for them;
        // the other fields follow in name order.
        let mut text = format!(
            "{{\"timestamp\":\"{}\",\"level\":\"{}\",\"message\":{}",
            timestamp(SystemTime::now()),
            level_name(*event.metadata().level()),
            message
        );
        let others = Value::Object(rest).to_string();
        if others.len() > 2 {
            text.push(',');
            text.push_str(&others[1..]);
        } else {
            text.push('}');
        }
        text.push('\n');
        // A log line that cannot be written is dropped; answering matters more.
        let _ = self.make_writer.make_writer().write_all(text.as_bytes());
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

/// RFC 3339 in UTC with milliseconds: `2026-11-28T14:05:09.123Z`, written
/// by humantime. A clock before 1970 reads as 1970 and one past the year
/// 9999 (humantime writes four-digit years) as that year's last
/// millisecond: a log line never fails for its timestamp.
pub fn timestamp(at: SystemTime) -> String {
    const LAST: Duration = Duration::new(253_402_300_799, 999_999_999);
    humantime::format_rfc3339_millis(at.clamp(UNIX_EPOCH, UNIX_EPOCH + LAST)).to_string()
}

/// Run `f` with [`JsonLogs`] capturing every line it logs on this thread,
/// at every level (trace included): for tests and tools that check what lee
/// logs. Returns `f`'s result and the lines, in order.
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
    use tracing_subscriber::layer::SubscriberExt;
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry()
        .with(JsonLogs::new(captured.clone()).with_filter(LevelFilter::TRACE));
    let result = tracing::subscriber::with_default(subscriber, f);
    let bytes = captured
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (result, text.lines().map(str::to_string).collect())
}

/// Where [`capture`] keeps the lines.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(f: impl FnOnce()) -> Vec<Value> {
        let ((), lines) = super::capture(f);
        lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn a_line_has_time_level_message_span_fields_and_correlation() {
        let lines = capture(|| {
            let outer = tracing::info_span!("invocation", request_id = "req-1");
            let _o = outer.enter();
            let inner = tracing::info_span!("directive", message_id = "msg-2", namespace = "Alexa");
            let _i = inner.enter();
            tracing::info!(duration_ms = 1.23456, requests = 1u64, "answered");
        });
        let line = &lines[0];
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "answered");
        assert_eq!(line["request_id"], "req-1");
        assert_eq!(line["message_id"], "msg-2");
        assert_eq!(line["correlation_id"], "req-1/msg-2");
        assert_eq!(line["namespace"], "Alexa");
        assert_eq!(line["duration_ms"], 1.235);
        assert_eq!(line["requests"], 1);
        let ts = line["timestamp"].as_str().unwrap();
        assert_eq!(ts.len(), 24, "{ts}");
        assert!(ts.ends_with('Z'));
    }

    #[test]
    fn secret_named_fields_are_redacted_at_every_level() {
        let lines = capture(|| {
            let span = tracing::trace_span!("s", access_token = "abc123secret");
            let _e = span.enter();
            tracing::debug!(token = "abc123secret", authorization = ?"Bearer abc123secret", "x");
            tracing::trace!(client_secret = 5u64, "y");
        });
        let text = serde_json::to_string(&lines).unwrap();
        assert!(!text.contains("abc123secret"), "{text}");
        assert_eq!(lines[0]["token"], REDACTED);
        assert_eq!(lines[0]["access_token"], REDACTED);
        assert_eq!(lines[1]["client_secret"], REDACTED);
    }

    #[test]
    fn values_lose_bearer_credentials_and_json_secrets() {
        assert_eq!(
            scrub("sent Authorization: Bearer eyJhbGciOi.x-y_z to HA"),
            "sent Authorization: Bearer [redacted] to HA"
        );
        assert_eq!(
            scrub(r#"{"scope":{"type":"BearerToken","token":"abc"}}"#),
            r#"{"scope":{"type":"BearerToken","token":"[redacted]"}}"#
        );
        assert_eq!(
            scrub(r#"got "{\"token\" : \"a\\\"bc\", \"n\": 1}""#),
            r#"got "{\"token\" : \"[redacted]\", \"n\": 1}""#
        );
        assert_eq!(
            scrub(r#"{"code":"grant-code-1"}"#),
            r#"{"code":"[redacted]"}"#
        );
        // Unclosed and odd text is left readable and never panics.
        for odd in [
            r#""token": "abc"#,
            r#"""#,
            r#"\"#,
            "bearer",
            "Bearer ",
            "é\"token\":",
        ] {
            let _ = scrub(odd);
        }
        assert_eq!(scrub("no secrets here"), "no secrets here");
    }

    /// lee's own sentences about tokens are not secrets: only what follows
    /// `Bearer` as a credential is.
    #[test]
    fn lees_words_about_tokens_are_kept() {
        for words in [
            "the directive carries no bearer token",
            "the directive's bearer token cannot be sent to Home Assistant",
            "Bearer tokens, bearer token's scope",
        ] {
            assert_eq!(scrub(words), words);
        }
        let answer = br#"{"event":{"payload":{"type":"INVALID_AUTHORIZATION_CREDENTIAL","message":"the directive carries no bearer token"}}}"#;
        assert!(body(answer).contains("no bearer token"), "{}", body(answer));
        // A credential that starts like the word is still one.
        assert_eq!(
            scrub("Authorization: Bearer token-5f3a9c"),
            "Authorization: Bearer [redacted]"
        );
        assert_eq!(scrub("bearer tokenXYZ123"), "bearer [redacted]");
    }

    #[test]
    fn query_credentials_lose_their_values_in_and_outside_json() {
        // Home Assistant's camera and media pictures, as its states carry them.
        assert_eq!(
            scrub("GET /api/camera_proxy/camera.front?token=83c9298eb1f81b02 answered 200"),
            "GET /api/camera_proxy/camera.front?token=[redacted] answered 200"
        );
        assert_eq!(
            scrub("/auth?client=x&access_token=eyJ.a-b_c%2F&state=1#top"),
            "/auth?client=x&access_token=[redacted]&state=1#top"
        );
        assert_eq!(
            scrub("/api/tts_proxy/a.mp3?authSig=eyJhbGciOiJIUzI1NiJ9.e30.c2ln, played"),
            "/api/tts_proxy/a.mp3?authSig=[redacted] played"
        );
        assert_eq!(scrub("x?TOKEN=Secret-1"), "x?TOKEN=[redacted]");
        assert_eq!(
            scrub(r#"{"entity_picture":"/api/camera_proxy/camera.front?token=abc123","n":1}"#),
            r#"{"entity_picture":"/api/camera_proxy/camera.front?token=[redacted]","n":1}"#
        );
        assert_eq!(
            scrub(r#"got "{\"entity_picture\":\"/api/x?token=abc123\"}""#),
            r#"got "{\"entity_picture\":\"/api/x?token=[redacted]\"}""#
        );
        // JSON may escape the slashes, inside the value too.
        assert_eq!(
            scrub(r#"{"u":"\/api\/x?token=ab\/cd&w=1"}"#),
            r#"{"u":"\/api\/x?token=[redacted]&w=1"}"#
        );
        assert_eq!(
            scrub("'/x?token=abc123' <img src=/y?authsig=def456>"),
            "'/x?token=[redacted]' <img src=/y?authsig=[redacted]>"
        );
        // No value, or a name that only looks alike: left as it is.
        for kept in [
            "set HA_TOKEN= to a long-lived token",
            "x?tokens=5&token_count=2",
            "token=",
            "é=token=",
        ] {
            assert_eq!(scrub(kept), kept);
        }
    }

    #[test]
    fn a_picture_token_is_redacted_at_every_level_and_in_bodies() {
        const PICTURE: &str = "/api/camera_proxy/camera.front?token=cam-4f1e9a7b";
        let lines = capture(|| {
            let span = tracing::trace_span!("s", picture = PICTURE);
            let _e = span.enter();
            tracing::error!(url = PICTURE, "e");
            tracing::warn!(url = ?PICTURE, "w");
            tracing::info!("picture {PICTURE}");
            tracing::debug!(state = %format!(r#"{{"entity_picture":"{PICTURE}"}}"#), "d");
            tracing::trace!(answer = %body(format!(r#"[{{"entity_picture":"{PICTURE}"}}]"#).as_bytes()), "t");
        });
        assert_eq!(lines.len(), 5);
        let text = serde_json::to_string(&lines).unwrap();
        assert!(!text.contains("cam-4f1e9a7b"), "{text}");
        assert_eq!(
            lines[0]["url"],
            "/api/camera_proxy/camera.front?token=[redacted]"
        );
        assert_eq!(
            lines[2]["message"],
            "picture /api/camera_proxy/camera.front?token=[redacted]"
        );
    }

    #[test]
    fn registered_secrets_are_replaced_anywhere() {
        register_secrets(["configured-secret-value", "short", "configured-secret"]);
        let lines = capture(|| {
            tracing::warn!("header X-Custom: configured-secret-value refused; short stays");
        });
        assert_eq!(
            lines[0]["message"],
            "header X-Custom: [redacted] refused; short stays"
        );
    }

    #[test]
    fn bodies_are_redacted_structurally_or_not_logged() {
        let event = br#"{"directive":{"endpoint":{"scope":{"type":"BearerToken","token":"tok-123456"}},
            "payload":{"grant":{"type":"OAuth2.AuthorizationCode","code":"code-123456"},
            "grantee":{"type":"BearerToken","token":"tok-654321"}}},
            "context":{"System":{"apiAccessToken":"api-123456","user":{"accessToken":"acc-123456"}}}}"#;
        let logged = body(event);
        for secret in [
            "tok-123456",
            "code-123456",
            "tok-654321",
            "api-123456",
            "acc-123456",
        ] {
            assert!(!logged.contains(secret), "{logged}");
        }
        assert!(logged.contains("BearerToken"));
        assert_eq!(body(b"Bearer abc <html>"), "[17 bytes, not JSON]");
    }

    #[test]
    fn levels_come_from_log_level_and_debug() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(level_from(env(&[])), Ok(LevelFilter::INFO));
        assert_eq!(
            level_from(env(&[("LOG_LEVEL", "warn")])),
            Ok(LevelFilter::WARN)
        );
        assert_eq!(
            level_from(env(&[("AWS_LAMBDA_LOG_LEVEL", "ERROR")])),
            Ok(LevelFilter::ERROR)
        );
        assert_eq!(
            level_from(env(&[("LOG_LEVEL", "warn"), ("DEBUG", "true")])),
            Ok(LevelFilter::DEBUG)
        );
        assert_eq!(
            level_from(env(&[("LOG_LEVEL", "trace"), ("DEBUG", "1")])),
            Ok(LevelFilter::TRACE)
        );
        assert!(
            level_from(env(&[("LOG_LEVEL", "loud")]))
                .unwrap_err()
                .contains("LOG_LEVEL")
        );
    }

    proptest::proptest! {
        #[test]
        fn scrubbing_any_text_never_panics(text in ".{0,80}") {
            let _ = scrub(&text);
        }

        #[test]
        fn a_secret_key_never_keeps_its_value(
            key in "(token|accessToken|client_secret|Authorization|password)",
            value in "[A-Z0-9_-]{8,24}",
            before in "[a-z {:,]{0,10}",
            escaped in proptest::bool::ANY,
        ) {
            let text = if escaped {
                format!(r#"{before}\"{key}\" : \"{value}\""#)
            } else {
                format!(r#"{before}"{key}": "{value}" and more"#)
            };
            let scrubbed = scrub(&text);
            proptest::prop_assert!(!scrubbed.contains(&value), "{text} -> {scrubbed}");
        }

        #[test]
        fn a_query_credential_never_survives(
            name in "(token|access_token|authSig|TOKEN|X-Amz-Security-Token)",
            value in "[A-Z0-9][A-Z0-9%~+/._-]{5,39}",
            path in "[a-z/_.]{0,12}",
            after in "(|&size=2|#f| and more|, next)",
            form in 0..3usize,
        ) {
            let url = format!("{path}?{name}={value}{after}");
            let text = match form {
                0 => url,
                1 => serde_json::json!({"entity_picture": url}).to_string(),
                _ => serde_json::to_string(&serde_json::json!({"entity_picture": url}).to_string())
                    .unwrap(),
            };
            let scrubbed = scrub(&text);
            proptest::prop_assert!(!scrubbed.contains(&value), "{text} -> {scrubbed}");
        }

        #[test]
        fn a_bearer_credential_never_survives(value in "[A-Za-z0-9._~+/=-]{6,40}") {
            let scrubbed = scrub(&format!("header Authorization: Bearer {value}"));
            proptest::prop_assert!(!scrubbed.contains(&value), "{scrubbed}");
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let at = UNIX_EPOCH + Duration::from_millis(1_795_874_709_123);
        assert_eq!(timestamp(at), "2026-11-28T14:05:09.123Z");
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(timestamp(leap), "2000-02-29T00:00:00.000Z");
        // Milliseconds are cut, not rounded, as the hand-written writer did.
        let late = UNIX_EPOCH + Duration::new(1_795_874_709, 999_999_999);
        assert_eq!(timestamp(late), "2026-11-28T14:05:09.999Z");
        // A clock out of humantime's range reads as its nearest end.
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(timestamp(before), "1970-01-01T00:00:00.000Z");
        let after = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(timestamp(after), "9999-12-31T23:59:59.999Z");
    }
}
