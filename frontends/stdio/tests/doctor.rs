//! `lee doctor` as a person runs it: one line per check, the exit status
//! saying whether one failed, `--json` for machines.

use std::process::{Command, Output};

use lee_testkit::RealHa;

fn lee_doctor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lee"))
        .arg("doctor")
        .args(args)
        .env_remove("BASE_URL")
        .env_remove("AWS_REGION")
        .env_remove("LONG_LIVED_ACCESS_TOKEN")
        .env_remove("HA_TOKEN")
        .output()
        .expect("run lee doctor")
}

#[test]
fn against_the_real_home_assistant_every_check_passes() {
    let Some(ha) = RealHa::from_env() else {
        return;
    };
    let token_file = std::env::temp_dir().join(format!("lee-doctor-token-{}", std::process::id()));
    std::fs::write(&token_file, &ha.token).unwrap();
    let file = token_file.to_str().unwrap();
    let output = lee_doctor(&["--ha-url", &ha.url, "--token-file", file]);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{text}");
    assert!(
        text.starts_with("lee doctor: 10 checks, 0 failed, 0 warnings\n"),
        "{text}"
    );
    let api = text
        .lines()
        .find(|l| l.starts_with("ok       api"))
        .expect(&text);
    assert!(
        api.ends_with(&format!("accepted the token from --token-file {file}")),
        "{api}"
    );
    assert!(!text.contains(&ha.token), "the token leaked");

    let output = lee_doctor(&["--ha-url", &ha.url, "--token-file", file, "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ok"], true);
    std::fs::remove_file(token_file).unwrap();
}

#[test]
fn a_failed_check_is_exit_status_1_with_its_fix() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let output = lee_doctor(&["--ha-url", &format!("http://127.0.0.1:{port}")]);
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8(output.stdout).unwrap();
    let tcp = text
        .lines()
        .find(|l| l.starts_with("failed   tcp"))
        .expect(&text);
    assert!(
        tcp.contains("refused the connection") && tcp.contains(" Fix: "),
        "{tcp}"
    );
}
