//! The doctor's `tls` and `account_linking` checks against real TLS servers
//! made at test time (and the real Home Assistant for plain HTTP): a certificate lee trusts, one for another name, an
//! expired one, one from an unknown CA, a self-signed one, Home Assistant's
//! documented self-signed `CA:TRUE` one (trusted from `SSL_CA_BUNDLE` while its
//! name and dates hold), a server that
//! demands a client certificate, plain HTTP on an `https://` address; and
//! account linking on a private address. Each failure says what was seen
//! and the fix.

use lee_testkit::tls::{TestCa, TlsServer, self_signed, self_signed_expired};
use lee_testkit::{RealHa, bridge_from_env};
use serde_json::Value;

const BODY: &[u8] = br#"{"message": "API running."}"#;

fn doctor(vars: &[(&str, &str)]) -> Value {
    let mut bridge = bridge_from_env(vars);
    let body = bridge.handle(br#"{"doctor": true}"#, None).body.to_vec();
    serde_json::from_slice(&body).expect("the doctor answers JSON")
}

/// The `check` line as (status, seen, fix); `None` when it is not there.
fn line(report: &Value, check: &str) -> Option<(String, String, String)> {
    let found = report["checks"]
        .as_array()?
        .iter()
        .find(|c| c["check"] == check)?;
    let text = |k: &str| found[k].as_str().unwrap_or_default().to_string();
    Some((text("status"), text("seen"), text("fix")))
}

fn tls(report: &Value) -> (String, String, String) {
    line(report, "tls").unwrap_or_else(|| panic!("no tls line in {report:#}"))
}

#[test]
fn a_trusted_certificate_shows_protocol_names_expiry_and_issuer() {
    let ca = TestCa::new();
    let server = TlsServer::start(&ca.issue(&["127.0.0.1"]), None, BODY);
    let report = doctor(&[("BASE_URL", &server.url), ("SSL_CA_BUNDLE", &ca.pem)]);
    let (status, seen, _) = tls(&report);
    assert_eq!(status, "ok", "{report:#}");
    assert!(
        seen.starts_with("TLS 1.3, certificate for 127.0.0.1, valid until"),
        "{seen}"
    );
    assert!(
        seen.contains("days left), issued by rcgen self signed cert"),
        "{seen}"
    );
    // A private address: Amazon cannot reach it, so account linking is
    // checked at the skill's public address instead.
    let (status, seen, _) = line(&report, "account_linking").expect("an account_linking line");
    assert_eq!(status, "skipped");
    assert!(seen.contains("127.0.0.1 is a private address"), "{seen}");
}

#[test]
fn a_certificate_for_another_name_says_which_names_it_has() {
    let ca = TestCa::new();
    let server = TlsServer::start(&ca.issue(&["ha.example.com"]), None, BODY);
    let report = doctor(&[("BASE_URL", &server.url), ("SSL_CA_BUNDLE", &ca.pem)]);
    let (status, seen, fix) = tls(&report);
    assert_eq!(status, "failed");
    assert!(
        seen.starts_with("the certificate is for ha.example.com, not 127.0.0.1"),
        "{seen}"
    );
    assert!(fix.contains("use one of those names in BASE_URL"), "{fix}");
    assert!(
        line(&report, "api").is_none(),
        "the checks after tls stop: {report:#}"
    );
}

#[test]
fn an_expired_certificate_says_when() {
    let ca = TestCa::new();
    let server = TlsServer::start(&ca.issue_expired(&["127.0.0.1"]), None, BODY);
    let report = doctor(&[("BASE_URL", &server.url), ("SSL_CA_BUNDLE", &ca.pem)]);
    let (status, seen, fix) = tls(&report);
    assert_eq!(status, "failed");
    assert!(
        seen.starts_with("the certificate expired on 2021-12-31T00:00:00Z"),
        "{seen}"
    );
    assert!(fix.starts_with("renew the certificate"), "{fix}");
}

#[test]
fn an_unknown_ca_and_a_self_signed_certificate_are_told_apart() {
    let ca = TestCa::new();
    let server = TlsServer::start(&ca.issue(&["127.0.0.1"]), None, BODY);
    let report = doctor(&[("BASE_URL", &server.url)]);
    let (status, seen, fix) = tls(&report);
    assert_eq!(status, "failed");
    assert!(
        seen.starts_with("the certificate is issued by a CA lee does not trust"),
        "{seen}"
    );
    assert!(fix.contains("SSL_CA_BUNDLE"), "{fix}");

    let server = TlsServer::start(&self_signed(&["127.0.0.1"], false), None, BODY);
    let report = doctor(&[("BASE_URL", &server.url)]);
    let (status, seen, fix) = tls(&report);
    assert_eq!(status, "failed");
    assert!(
        seen.starts_with("the certificate is self-signed, and not in SSL_CA_BUNDLE"),
        "{seen}"
    );
    assert!(
        fix.starts_with("put this certificate (its PEM) in SSL_CA_BUNDLE"),
        "{fix}"
    );
}

#[test]
fn home_assistants_documented_ca_true_certificate_is_trusted_from_the_bundle_while_its_name_and_dates_hold()
 {
    let identity = self_signed(&["127.0.0.1"], true);
    let server = TlsServer::start(&identity, None, BODY);
    // Not in the bundle: named, with the way out.
    let report = doctor(&[("BASE_URL", &server.url)]);
    let (status, seen, fix) = tls(&report);
    assert_eq!(status, "failed");
    assert!(
        seen.contains("self-signed CA certificate (CA:TRUE)"),
        "{seen}"
    );
    assert!(
        fix.starts_with("put this certificate (its PEM) in SSL_CA_BUNDLE"),
        "{fix}"
    );
    // In the bundle: trusted.
    let report = doctor(&[("BASE_URL", &server.url), ("SSL_CA_BUNDLE", &identity.cert)]);
    let (status, seen, _) = tls(&report);
    assert_eq!(status, "ok", "{report:#}");
    assert!(seen.contains("certificate for 127.0.0.1"), "{seen}");
    assert!(seen.ends_with("self-signed"), "{seen}");

    // The same kind of certificate for another name, or expired: refused.
    let other = self_signed(&["ha.example.com"], true);
    let server = TlsServer::start(&other, None, BODY);
    let report = doctor(&[("BASE_URL", &server.url), ("SSL_CA_BUNDLE", &other.cert)]);
    let (status, seen, _) = tls(&report);
    assert_eq!(status, "failed");
    assert!(
        seen.starts_with("the certificate is for ha.example.com, not 127.0.0.1"),
        "{seen}"
    );
    let expired = self_signed_expired(&["127.0.0.1"]);
    let server = TlsServer::start(&expired, None, BODY);
    let report = doctor(&[("BASE_URL", &server.url), ("SSL_CA_BUNDLE", &expired.cert)]);
    let (status, seen, _) = tls(&report);
    assert_eq!(status, "failed");
    assert!(
        seen.starts_with("the certificate expired on 2021-12-31T00:00:00Z"),
        "{seen}"
    );
}

#[test]
fn a_server_that_demands_a_client_certificate_asks_for_ssl_client_cert() {
    let ca = TestCa::new();
    let server = TlsServer::start(&ca.issue(&["127.0.0.1"]), Some(&ca), BODY);
    let report = doctor(&[("BASE_URL", &server.url), ("SSL_CA_BUNDLE", &ca.pem)]);
    let (status, seen, fix) = tls(&report);
    assert_eq!(status, "failed", "{report:#}");
    assert!(
        seen.starts_with("the server asks for a client certificate"),
        "{seen}"
    );
    assert!(fix.contains("SSL_CLIENT_CERT and SSL_CLIENT_KEY"), "{fix}");

    let client = ca.issue(&["lee"]);
    let report = doctor(&[
        ("BASE_URL", &server.url),
        ("SSL_CA_BUNDLE", &ca.pem),
        ("SSL_CLIENT_CERT", &client.cert),
        ("SSL_CLIENT_KEY", &client.key),
    ]);
    assert_eq!(tls(&report).0, "ok", "{report:#}");
}

#[test]
fn plain_http_on_an_https_address_is_named() {
    // The real Home Assistant, which serves plain HTTP, asked for TLS.
    let Some(ha) = RealHa::from_env() else {
        return;
    };
    let url = ha.url.replacen("http://", "https://", 1);
    let report = doctor(&[("BASE_URL", &url)]);
    let (status, seen, fix) = tls(&report);
    assert_eq!(status, "failed", "{report:#}");
    assert!(seen.contains("plain HTTP"), "{seen}");
    assert!(fix.contains("write http:// in BASE_URL"), "{fix}");
}

#[test]
fn not_verify_ssl_is_a_warning_with_the_way_out() {
    let server = TlsServer::start(&self_signed(&["127.0.0.1"], true), None, BODY);
    let report = doctor(&[("BASE_URL", &server.url), ("NOT_VERIFY_SSL", "true")]);
    let (status, seen, fix) = tls(&report);
    assert_eq!(status, "warning", "{report:#}");
    assert!(seen.contains("NOT_VERIFY_SSL is set"), "{seen}");
    assert!(fix.contains("SSL_CA_BUNDLE"), "{fix}");
}
