//! The one Parameter Store client (`lee_host::parameters::ParameterStore`)
//! against a stand-in of the Parameters and Secrets extension and servers
//! that misbehave: a value, `None` for a parameter that does not exist, and
//! otherwise why not, within the time given and never with a secret.

use std::time::{Duration, Instant};

use lee_host::config::{Extension, Secret};
use lee_host::parameters::{Failure, ParameterStore};
use lee_testkit::{Fault, FaultServer, ParameterExtension};

const SESSION: &str = "session-token-for-the-extension";
const SECOND: Duration = Duration::from_secs(1);

fn store(port: u16, session_token: Option<&str>) -> ParameterStore {
    ParameterStore::new(&Extension {
        port,
        session_token: session_token.map(|t| Secret::new(t.to_string())),
        ttl: Duration::from_secs(300),
    })
}

fn store_at(server: &FaultServer) -> ParameterStore {
    store(
        server.url.rsplit(':').next().unwrap().parse().unwrap(),
        Some(SESSION),
    )
}

#[test]
fn the_store_answers_a_value_or_none_for_a_parameter_that_does_not_exist() {
    let extension = ParameterExtension::start(SESSION);
    extension.set("/lee/test/HA_TOKEN", "a secret value");
    let store = store(extension.port, Some(SESSION));
    for _ in 0..2 {
        assert_eq!(
            store.get("/lee/test/HA_TOKEN", SECOND),
            Ok(Some("a secret value".to_string()))
        );
        assert_eq!(store.get("/lee/test/BASE_URL", SECOND), Ok(None));
    }
    let answer = br#"{"Parameter":{"Name":"/lee/a b","Value":" v "}}"#;
    let server = FaultServer::start(vec![Fault::Respond(
        200,
        "application/json",
        answer.to_vec(),
    )]);
    let got = store_at(&server).get("/lee/a b", SECOND);
    assert_eq!(got, Ok(Some(" v ".to_string())), "the value as it is");
    let asked = server.received();
    assert_eq!(
        asked[0].request_line,
        "GET /systemsmanager/parameters/get?name=%2Flee%2Fa%20b&withDecryption=true HTTP/1.1"
    );
    assert_eq!(
        asked[0].header("x-aws-parameters-secrets-token"),
        Some(SESSION)
    );
}

#[test]
fn the_store_says_why_it_has_no_value_never_with_a_secret() {
    let extension = ParameterExtension::start(SESSION);
    extension.set("/lee/ha_token", "a secret value");
    let wrong_session = store(extension.port, Some("another-session-token"));
    let refused = wrong_session.get("/lee/ha_token", SECOND).unwrap_err();
    assert_eq!(refused, Failure::Refused(401));
    assert!(refused.to_string().contains("HTTP 401"), "{refused}");
    extension.fail();
    let failed = store(extension.port, Some(SESSION))
        .get("/lee/ha_token", SECOND)
        .unwrap_err();
    assert_eq!(failed, Failure::Refused(500));

    let before = extension.requests();
    let no_session = store(extension.port, None)
        .get("/lee/ha_token", SECOND)
        .unwrap_err();
    assert_eq!(no_session, Failure::NoSessionToken);
    assert!(no_session.to_string().contains("AWS_SESSION_TOKEN"));
    assert_eq!(extension.requests(), before, "not asked without one");

    let answers = [
        (b"not json".to_vec(), Failure::NotJson),
        (
            br#"{"Parameter":{"Name":"/lee/ha_token"}}"#.to_vec(),
            Failure::NoValue,
        ),
    ];
    for (body, failure) in answers {
        let server = FaultServer::start(vec![Fault::Respond(200, "application/json", body)]);
        let got = store_at(&server).get("/lee/ha_token", SECOND);
        assert_eq!(got, Err(failure));
    }
    let truncated = FaultServer::start(vec![Fault::Truncate(b"{\"Parameter\":".to_vec())]);
    let got = store_at(&truncated).get("/lee/ha_token", SECOND);
    assert_eq!(got, Err(Failure::Unreadable));
    let closed = FaultServer::start(vec![Fault::Close]);
    let got = store_at(&closed).get("/lee/ha_token", SECOND);
    assert_eq!(got, Err(Failure::NoAnswer));

    for failure in [
        refused,
        failed,
        no_session,
        Failure::NotJson,
        Failure::NoValue,
        Failure::Unreadable,
        Failure::NoAnswer,
    ] {
        let said = failure.to_string();
        assert!(
            !said.contains(SESSION) && !said.contains("secret value"),
            "{said}"
        );
    }
}

#[test]
fn the_store_gives_up_on_a_hung_extension_within_its_time() {
    let extension = ParameterExtension::start(SESSION);
    extension.hang();
    let started = Instant::now();
    let got = store(extension.port, Some(SESSION)).get("/lee/ha_token", Duration::from_millis(200));
    let took = started.elapsed();
    assert_eq!(got, Err(Failure::NoAnswer));
    assert!(took < Duration::from_secs(1), "gave up after {took:?}");
}
