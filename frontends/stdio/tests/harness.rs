//! The `lee` binary as a person uses it: events piped in, one answer per
//! line out, in order, nothing lost, errors for what cannot be read.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use lee_testkit::{AlexaSchema, Fault, FaultServer};
use serde_json::Value;

fn lee(args: &[&str], stdin: &[u8]) -> Output {
    lee_with(args, None, stdin)
}

/// `lee` with `BASE_URL` set to `base_url`, or unset.
fn lee_with(args: &[&str], base_url: Option<&str>, stdin: &[u8]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lee"));
    match base_url {
        Some(url) => command.env("BASE_URL", url),
        None => command.env_remove("BASE_URL"),
    };
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lee");
    let mut input = child.stdin.take().unwrap();
    let bytes = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&bytes);
    });
    let output = child.wait_with_output().expect("lee finishes");
    writer.join().unwrap();
    output
}

fn answers(output: &Output) -> Vec<Value> {
    String::from_utf8(output.stdout.clone())
        .expect("answers are UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is one JSON answer"))
        .collect()
}

fn example(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../examples/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn error_type(answer: &Value) -> &str {
    answer["event"]["payload"]["type"].as_str().unwrap_or("")
}

#[test]
fn the_readme_example_runs_discovery_and_turn_on_against_the_demo_home() {
    let input = [
        example("discovery.json"),
        example("turn_on.json"),
        example("report_state.json"),
    ]
    .concat();
    let output = lee(&["--demo"], &input);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answers = answers(&output);
    assert_eq!(answers.len(), 3);
    let schema = AlexaSchema::load();
    for answer in &answers[..2] {
        schema.assert_valid(serde_json::to_vec(answer).unwrap().as_slice());
    }
    assert_eq!(answers[0]["event"]["header"]["name"], "Discover.Response");
    assert!(
        answers[0]["event"]["payload"]["endpoints"]
            .as_array()
            .unwrap()
            .len()
            >= 6
    );
    assert_eq!(
        answers[1]["event"]["header"]["correlationToken"],
        "example-correlation-turn-on"
    );
    let power = answers[2]["context"]["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "powerState")
        .expect("a powerState");
    assert_eq!(power["value"], "ON", "the TurnOn changed the demo home");
}

#[test]
fn without_an_address_the_demo_home_answers() {
    let output = lee(&[], &example("discovery.json"));
    assert_eq!(
        answers(&output)[0]["event"]["header"]["name"],
        "Discover.Response"
    );
}

/// Issue 16: a `BASE_URL` that is set but unusable is an error naming it
/// and the fix, never a quiet switch to the demo home (whose health report
/// would then say Home Assistant is reachable).
#[test]
fn a_set_but_unusable_base_url_is_an_error_not_the_demo_home() {
    for (base_url, fix) in [
        (
            "127.0.0.1:8123",
            "must start with https:// or http://, as in https://ha.example.com:8123",
        ),
        ("http://127.0.0.1:8123/api", "drop the path /api"),
        ("https://ha.example.com/api/", "drop the path /api"),
        ("", "is empty"),
        ("  ", "is empty"),
    ] {
        let output = lee_with(&[], Some(base_url), &example("health.json"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{base_url:?}: {stderr}");
        assert!(
            output.stdout.is_empty(),
            "{base_url:?}: answered from the demo home"
        );
        assert!(
            stderr.contains("BASE_URL") && stderr.contains(fix),
            "{base_url:?}: {stderr}"
        );
    }
    // --demo asks for the demo home whatever BASE_URL says; --ha-url wins over it.
    let output = lee_with(&["--demo"], Some("127.0.0.1:8123"), &example("health.json"));
    assert!(output.status.success());
    assert_eq!(answers(&output)[0]["config"]["demo_home"], true);
    let server = FaultServer::start(vec![Fault::Respond(
        200,
        "application/json",
        b"{}".to_vec(),
    )]);
    let output = lee_with(
        &["--ha-url", &server.url],
        Some(""),
        &example("health.json"),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_line_gets_one_answer_in_order_and_nothing_is_lost() {
    let mut input = Vec::new();
    input.extend_from_slice(b"{\"health_check\": true}\n");
    // A blank line is no event: no answer.
    input.extend_from_slice(b"\n \t\r\n");
    input.extend_from_slice(b"not json\n");
    input.extend_from_slice(b"\xff\xfe\xfd\n");
    input.extend_from_slice(b"{\"directive\": {\"header\":\n");
    input.extend_from_slice(&[b'['; 100]);
    input.extend_from_slice(b"\n");
    input.extend_from_slice(&vec![b'x'; 300 * 1024]);
    input.extend_from_slice(b"\n");
    input.extend_from_slice(b"{\"health_check\": true}");
    let output = lee(&["--demo"], &input);
    assert!(output.status.success());
    let answers = answers(&output);
    assert_eq!(answers.len(), 7, "one answer per event");
    assert_eq!(answers[0]["lee"]["version"], env!("CARGO_PKG_VERSION"));
    for (i, answer) in answers[1..6].iter().enumerate() {
        assert_eq!(
            error_type(answer),
            "INVALID_DIRECTIVE",
            "event {}: {answer}",
            i + 2
        );
    }
    let message = answers[1]["event"]["payload"]["message"].as_str().unwrap();
    assert!(message.contains("not valid JSON"), "{message}");
    assert!(
        answers[5]["event"]["payload"]["message"]
            .as_str()
            .unwrap()
            .contains("at most")
    );
    assert_eq!(
        answers[6]["lee"]["version"],
        env!("CARGO_PKG_VERSION"),
        "the last line, with no newline"
    );
}

#[test]
fn hostile_lines_are_each_answered_with_a_clear_error_and_the_rest_go_on() {
    let health = b"{\"health_check\": true}";
    let mut input = Vec::new();
    // Nested 100 000 deep, within the event buffer: refused by depth.
    input.extend(std::iter::repeat_n(b'[', 100_000));
    input.extend(std::iter::repeat_n(b']', 100_000));
    input.push(b'\n');
    // Lambda's 6 MB payload limit, as one line: skipped unread, answered.
    input.extend_from_slice(b"{\"directive\": \"");
    input.extend(std::iter::repeat_n(b'a', 6 * 1024 * 1024));
    input.extend_from_slice(b"\"}\n");
    input.extend_from_slice(health);
    input.extend_from_slice(b"\n\n\n");
    input.extend_from_slice(b"[\n");
    input.extend_from_slice(b"{\"directive\": \"\xc3\x28\"}\n");
    input.extend_from_slice(health);
    let output = lee(&["--demo"], &input);
    assert!(output.status.success());
    let answers = answers(&output);
    let kinds: Vec<&str> = answers
        .iter()
        .map(|a| {
            if a["lee"]["version"].is_string() {
                "health"
            } else {
                error_type(a)
            }
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "INVALID_DIRECTIVE",
            "INVALID_DIRECTIVE",
            "health",
            "INVALID_DIRECTIVE",
            "INVALID_DIRECTIVE",
            "health"
        ],
        "one answer per event (blank lines are none), in order, the last without a newline"
    );
    let message = |n: usize| {
        answers[n]["event"]["payload"]["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(message(0).contains("deep"), "{}", message(0));
    assert!(message(1).contains("at most"), "{}", message(1));
    assert!(message(4).contains("UTF-8"), "{}", message(4));
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        log.lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "{log}"
    );
}

#[test]
fn pretty_output_is_still_valid_json_per_answer() {
    let output = lee(&["--demo", "--pretty"], &example("health.json"));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.lines().count() > 1);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert!(v["lee"].is_object());
}

#[test]
fn ha_url_sends_events_to_that_home_assistant() {
    let body = br#"{"event":{"header":{"namespace":"Alexa","name":"Response"},"payload":{}}}"#;
    let server = FaultServer::start(vec![Fault::Respond(200, "application/json", body.to_vec())]);
    let output = lee(&["--ha-url", &server.url], &example("turn_on.json"));
    assert_eq!(output.stdout, [&body[..], b"\n"].concat());
    let request = &server.received()[0];
    assert_eq!(request.header("authorization"), Some("Bearer demo-token"));
}

#[test]
fn usage_errors_exit_non_zero_and_say_why() {
    for args in [
        &["--no-such-flag"][..],
        &["--ha-url", "ftp://ha.example.com"],
        &["--token-file", "/nonexistent/token"],
        &["--demo", "--ha-url", "http://127.0.0.1:1"],
    ] {
        let output = lee(args, b"");
        assert!(!output.status.success(), "{args:?}");
        assert!(!output.stderr.is_empty(), "{args:?}");
    }
    let help = lee(&["--help"], b"");
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--demo"));
}

/// Issue 16: the demo home needs no token, for ops or for the health check.
#[test]
fn the_demo_home_runs_ops_without_a_token() {
    let input = concat!(
        r#"{"op": "ha.states", "domain": "light"}"#,
        "\n",
        r#"{"op": "ha.health"}"#,
        "\n",
        r#"{"health_check": true}"#,
    );
    for args in [&["--demo"][..], &[]] {
        let output = lee(args, input.as_bytes());
        let answers = answers(&output);
        assert_eq!(answers.len(), 3);
        assert_eq!(answers[0]["ok"], true, "{}", answers[0]);
        assert!(!answers[0]["states"].as_array().unwrap().is_empty());
        assert_eq!(answers[1]["reachable"], true, "{}", answers[1]);
        assert_eq!(answers[2]["home_assistant"]["token_accepted"], true);
    }
}

/// Issue 16: a token pasted where `--token-file` wants a path is never
/// echoed on stderr.
#[test]
fn a_token_given_to_token_file_is_not_echoed() {
    let token =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJsZWUtdGVzdCJ9.c2lnbmF0dXJlLXBhc3RlZA";
    for args in [
        &["--token-file", token][..],
        &["--demo", "--token-file", token],
        &["--token-file", token, "doctor"],
    ] {
        let output = lee(args, b"");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(!stderr.contains("eyJ"), "{stderr}");
        assert!(
            stderr.contains("--token-file takes the path of a file holding the token"),
            "{stderr}"
        );
    }
}

#[test]
fn engine_ops_run_from_the_harness_against_the_real_home_assistant() {
    let Some(ha) = lee_testkit::RealHa::from_env() else {
        return;
    };
    let token_file = std::env::temp_dir().join(format!("lee-harness-token-{}", std::process::id()));
    std::fs::write(&token_file, &ha.token).unwrap();
    let ops = concat!(
        r#"{"op": "ha.health"}"#,
        "\n",
        r#"{"op": "ha.find", "name": "kitchen lite"}"#,
        "\n",
        r#"{"op": "ha.state", "entity_id": "light.bed_light"}"#,
        "\n",
        r#"{"op": "ha.state", "entity_id": "Not An Entity"}"#,
        "\n",
    );
    let output = lee(
        &[
            "--ha-url",
            &ha.url,
            "--token-file",
            token_file.to_str().unwrap(),
        ],
        ops.as_bytes(),
    );
    std::fs::remove_file(&token_file).unwrap();
    assert!(output.status.success());
    let answers = answers(&output);
    assert_eq!(answers.len(), 4);
    assert_eq!(answers[0]["reachable"], true);
    assert_eq!(answers[1]["best"]["entity_id"], "light.kitchen_lights");
    assert_eq!(answers[2]["state"]["entity_id"], "light.bed_light");
    assert_eq!(answers[3]["error"]["code"], "invalid_entity_id");
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains(&ha.token),
        "the token never reaches a log"
    );
}

/// Issue 16: the README's examples piped into lee against a real Home
/// Assistant with `--token-file` carry their own `demo-token`, which wins;
/// the refusal says which token it was, and never shows one.
#[test]
fn a_refused_token_is_named_by_where_it_came_from_against_the_real_home_assistant() {
    let Some(ha) = lee_testkit::RealHa::from_env() else {
        return;
    };
    let token_file = |name: &str, token: &str| {
        let path = std::env::temp_dir().join(format!("lee-{name}-{}", std::process::id()));
        std::fs::write(&path, token).unwrap();
        path
    };
    let good = token_file("good-token", &ha.token);
    let wrong = token_file("wrong-token", "not-a-home-assistant-token");
    let without_token = br#"{"directive":{"header":{"namespace":"Alexa.Discovery","name":"Discover","payloadVersion":"3","messageId":"m"},"payload":{}}}"#;
    let input = [&example("turn_on.json")[..], b"\n", without_token].concat();
    let run = |file: &std::path::Path| {
        let output = lee(
            &["--ha-url", &ha.url, "--token-file", file.to_str().unwrap()],
            &input,
        );
        assert!(output.status.success());
        let log = String::from_utf8_lossy(&output.stderr).to_string();
        let out = String::from_utf8_lossy(&output.stdout).to_string();
        for secret in [&ha.token[..], "demo-token", "not-a-home-assistant-token"] {
            assert!(
                !log.contains(secret) && !out.contains(secret),
                "{log}\n{out}"
            );
        }
        (answers(&output), log)
    };
    let message = |answer: &Value| {
        answer["event"]["payload"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };

    let (answers, log) = run(&good);
    assert_eq!(error_type(&answers[0]), "INVALID_AUTHORIZATION_CREDENTIAL");
    let refused = message(&answers[0]);
    assert!(
        refused.contains("the directive's own bearer token")
            && refused.contains("--token-file")
            && refused.contains("only for a directive that carries none"),
        "{refused}"
    );
    assert!(log.contains("the directive's own bearer token"), "{log}");
    assert_eq!(
        answers[1]["event"]["header"]["name"], "Discover.Response",
        "the token file stands in for a directive without one"
    );

    let (answers, _) = run(&wrong);
    let refused = message(&answers[1]);
    assert!(
        refused.contains("long-lived token standing in") && refused.contains("--token-file"),
        "{refused}"
    );
    std::fs::remove_file(&good).unwrap();
    std::fs::remove_file(&wrong).unwrap();
}
