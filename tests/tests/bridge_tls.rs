//! How lee trusts Home Assistant's certificate: a private CA through
//! `SSL_CA_BUNDLE`, mutual TLS through `SSL_CLIENT_CERT`/`SSL_CLIENT_KEY`,
//! `NOT_VERIFY_SSL` as the escape hatch; an unknown CA or a certificate for
//! another name is `BRIDGE_UNREACHABLE`, tried once, never retried.

use lee_core::alexa::ErrorType;
use lee_core::bridge::{Answered, Reason};
use lee_core::retry::Failure;
use lee_host::Bridge;
use lee_testkit::tls::{TestCa, TlsServer, self_signed, self_signed_expired};
use lee_testkit::{AlexaSchema, bridge_from_env, capture_logs};

const HA_BODY: &[u8] = br#"{"event":{"header":{"namespace":"Alexa","name":"StateReport","payloadVersion":"3","messageId":"x","correlationToken":"c"},"payload":{}},"context":{"properties":[]}}"#;

const REPORT_STATE: &[u8] = br#"{"directive":{"header":{"namespace":"Alexa","name":"ReportState","payloadVersion":"3","messageId":"m","correlationToken":"c"},"endpoint":{"scope":{"type":"BearerToken","token":"tls-test-token"},"endpointId":"light#bed_light"},"payload":{}}}"#;

/// A bridge configured through its environment variables, which must all be usable.
fn bridge_with(vars: &[(&str, &str)]) -> Bridge {
    let bridge = bridge_from_env(vars);
    assert!(bridge.problems().is_empty(), "{:?}", bridge.problems());
    bridge
}

fn assert_tls_failure(bridge: &mut Bridge, server: &TlsServer) {
    let answer = bridge.answer(REPORT_STATE, None);
    assert_eq!(
        answer.outcome,
        Answered::Error(
            ErrorType::BridgeUnreachable,
            Reason::Failed(Failure::TlsFailure)
        )
    );
    AlexaSchema::load().assert_valid(answer.body);
    assert_eq!(server.connections(), 1, "a TLS failure is not retried");
    assert_eq!(
        server.requests(),
        0,
        "nothing was sent over an untrusted connection"
    );
}

#[test]
fn a_private_ca_in_the_bundle_is_trusted() {
    let ca = TestCa::new();
    let server = TlsServer::start(&ca.issue(&["127.0.0.1"]), None, HA_BODY);
    let mut bridge = bridge_with(&[("BASE_URL", &server.url), ("SSL_CA_BUNDLE", &ca.pem)]);
    let answer = bridge.answer(REPORT_STATE, None);
    assert_eq!(answer.outcome, Answered::PassedThrough);
    assert_eq!(answer.body, HA_BODY);
}

#[test]
fn an_unknown_ca_is_refused() {
    let ca = TestCa::new();
    let server = TlsServer::start(&ca.issue(&["127.0.0.1"]), None, HA_BODY);
    let mut bridge = bridge_with(&[("BASE_URL", &server.url)]);
    assert_tls_failure(&mut bridge, &server);
}

#[test]
fn a_certificate_for_another_name_is_refused_and_the_log_says_which_names_it_has() {
    let ca = TestCa::new();
    let server = TlsServer::start(&ca.issue(&["ha.example.com"]), None, HA_BODY);
    let mut bridge = bridge_with(&[("BASE_URL", &server.url), ("SSL_CA_BUNDLE", &ca.pem)]);
    let ((), logs) = capture_logs(|| assert_tls_failure(&mut bridge, &server));
    let reason = logs
        .iter()
        .find(|l| l.contains("TLS with Home Assistant failed"))
        .unwrap_or_else(|| panic!("no log line says why: {logs:#?}"));
    assert!(
        reason.contains("the certificate is for ha.example.com, not 127.0.0.1"),
        "{reason}"
    );
    assert!(
        reason.contains("Fix: use one of those names in BASE_URL"),
        "{reason}"
    );
}

#[test]
fn an_expired_certificate_is_refused_and_the_log_says_when_it_expired() {
    let ca = TestCa::new();
    let server = TlsServer::start(&ca.issue_expired(&["127.0.0.1"]), None, HA_BODY);
    let mut bridge = bridge_with(&[("BASE_URL", &server.url), ("SSL_CA_BUNDLE", &ca.pem)]);
    let ((), logs) = capture_logs(|| assert_tls_failure(&mut bridge, &server));
    assert!(
        logs.iter()
            .any(|l| l.contains("the certificate expired on 2021-12-31T00:00:00Z")),
        "{logs:#?}"
    );
}

#[test]
fn not_verify_ssl_accepts_any_certificate() {
    let ca = TestCa::new();
    let server = TlsServer::start(&ca.issue(&["ha.example.com"]), None, HA_BODY);
    let mut bridge = bridge_with(&[("BASE_URL", &server.url), ("NOT_VERIFY_SSL", "true")]);
    let answer = bridge.answer(REPORT_STATE, None);
    assert_eq!(answer.outcome, Answered::PassedThrough);
}

#[test]
fn mutual_tls_presents_the_client_certificate() {
    let ca = TestCa::new();
    let server = TlsServer::start(&ca.issue(&["127.0.0.1"]), Some(&ca), HA_BODY);
    let client = ca.issue(&["lee-client"]);
    let mut bridge = bridge_with(&[
        ("BASE_URL", &server.url),
        ("SSL_CA_BUNDLE", &ca.pem),
        ("SSL_CLIENT_CERT", &client.cert),
        ("SSL_CLIENT_KEY", &client.key),
    ]);
    let answer = bridge.answer(REPORT_STATE, None);
    assert_eq!(answer.outcome, Answered::PassedThrough);

    let mut anonymous = bridge_with(&[("BASE_URL", &server.url), ("SSL_CA_BUNDLE", &ca.pem)]);
    let answer = anonymous.answer(REPORT_STATE, None);
    assert!(
        matches!(
            answer.outcome,
            Answered::Error(ErrorType::BridgeUnreachable, _)
        ),
        "{:?}",
        answer.outcome
    );
    assert_eq!(
        server.requests(),
        1,
        "only the authenticated client got through"
    );
}

#[test]
fn home_assistants_documented_self_signed_ca_true_certificate_is_trusted_from_the_bundle() {
    // As `openssl req -x509 -newkey rsa:4096 -nodes ... -addext
    // "subjectAltName = ..."` makes it with OpenSSL 3: CA:TRUE, used as the
    // server's own certificate.
    let identity = self_signed(&["127.0.0.1"], true);
    let server = TlsServer::start(&identity, None, HA_BODY);
    let mut bridge = bridge_with(&[("BASE_URL", &server.url), ("SSL_CA_BUNDLE", &identity.cert)]);
    let answer = bridge.answer(REPORT_STATE, None);
    assert_eq!(answer.outcome, Answered::PassedThrough);
    assert_eq!(answer.body, HA_BODY);

    // Without it in the bundle, refused: byte for byte is the rule.
    let server = TlsServer::start(&identity, None, HA_BODY);
    let mut bridge = bridge_with(&[("BASE_URL", &server.url)]);
    assert_tls_failure(&mut bridge, &server);
}

#[test]
fn a_bundled_server_certificate_must_still_name_the_host_and_be_valid() {
    let other = self_signed(&["ha.example.com"], true);
    let server = TlsServer::start(&other, None, HA_BODY);
    let mut bridge = bridge_with(&[("BASE_URL", &server.url), ("SSL_CA_BUNDLE", &other.cert)]);
    let ((), logs) = capture_logs(|| assert_tls_failure(&mut bridge, &server));
    assert!(
        logs.iter()
            .any(|l| l.contains("the certificate is for ha.example.com, not 127.0.0.1")),
        "{logs:#?}"
    );

    let expired = self_signed_expired(&["127.0.0.1"]);
    let server = TlsServer::start(&expired, None, HA_BODY);
    let mut bridge = bridge_with(&[("BASE_URL", &server.url), ("SSL_CA_BUNDLE", &expired.cert)]);
    assert_tls_failure(&mut bridge, &server);
}
