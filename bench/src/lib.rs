//! lee's benchmarks. The benchmarks live in `benches/`, each saying at its
//! top what it measures and how; this library holds only the events the
//! criterion benchmarks share, shaped and sized like the real ones. Run them
//! with `cargo bench -p lee-bench`; those that need the real Home Assistant
//! of `../shared/ha` skip when its harness is not running.

/// A stand-in for a Home Assistant access token: a JWT of the same shape and
/// length (183 characters) as the ones Home Assistant issues, signed by
/// nobody and accepted nowhere.
pub const TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiIwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZiIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoyMDE1MzYwMDAwfQ.c2lnbmVkLWJ5LW5vYm9keS1mb3ItdGhlLWJlbmNobWF";

/// Characters of an Alexa correlationToken. Real ones are opaque base64 of
/// a few hundred characters; lee echoes them into error answers unchanged.
pub const CORRELATION_TOKEN_LEN: usize = 344;

/// A correlationToken as long as Alexa's, the same every run.
pub fn correlation_token() -> String {
    const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state: u32 = 2026;
    let mut token: String = (0..CORRELATION_TOKEN_LEN - 2)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            char::from(BASE64[(state >> 26) as usize])
        })
        .collect();
    token.push_str("==");
    token
}

/// A directive for `endpoint_id` with `token` in its endpoint scope, compact
/// JSON as Alexa sends it, with a messageId and a full-length
/// correlationToken.
pub fn endpoint_directive(namespace: &str, name: &str, endpoint_id: &str, token: &str) -> Vec<u8> {
    format!(
        r#"{{"directive":{{"header":{{"namespace":"{namespace}","name":"{name}","payloadVersion":"3","messageId":"1bd5d003-31b9-476f-ad03-71d471922820","correlationToken":"{correlation}"}},"endpoint":{{"scope":{{"type":"BearerToken","token":"{token}"}},"endpointId":"{endpoint_id}","cookie":{{}}}},"payload":{{}}}}}}"#,
        correlation = correlation_token(),
    )
    .into_bytes()
}

/// `Alexa.PowerController.TurnOn` for `switch#decorative_lights`, carrying [`TOKEN`].
pub fn turn_on_directive() -> Vec<u8> {
    endpoint_directive(
        "Alexa.PowerController",
        "TurnOn",
        "switch#decorative_lights",
        TOKEN,
    )
}

/// `Alexa.ReportState` for `light#bed_light`, carrying [`TOKEN`].
pub fn report_state_directive() -> Vec<u8> {
    endpoint_directive("Alexa", "ReportState", "light#bed_light", TOKEN)
}

/// `Alexa.Discovery.Discover` with `token` in `payload.scope`, compact JSON
/// as Alexa sends it.
pub fn discovery_directive(token: &str) -> Vec<u8> {
    format!(
        r#"{{"directive":{{"header":{{"namespace":"Alexa.Discovery","name":"Discover","payloadVersion":"3","messageId":"6d6d6e5a-2f44-4f0c-9d3e-6b2a9b2b7e41"}},"payload":{{"scope":{{"type":"BearerToken","token":"{token}"}}}}}}}}"#
    )
    .into_bytes()
}
