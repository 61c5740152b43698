//! `lee doctor`: the doctor's check list (see [`lee_host::doctor`]) run
//! from this machine, printed one line per check, or as JSON with `--json`.
//!
//! The token it asks Home Assistant with: `--token-file`, else `HA_TOKEN`,
//! else `LONG_LIVED_ACCESS_TOKEN`; `HA_TOKEN_PARAMETER` is read through the
//! AWS Parameters and Secrets extension, which runs only in Lambda.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use lee_host::config::{Config, Problem, Secret};
use lee_host::doctor::{self, Token};

/// How long the doctor may take here: every check has its own timeout
/// well inside this.
const TIME: Duration = Duration::from_secs(60);

/// Examine the setup `config` describes and print the report; exit status
/// 1 when a check failed.
pub fn run(
    config: &Config,
    problems: &[Problem],
    token_file: Option<&str>,
    json: bool,
) -> ExitCode {
    let token = match (token_file, &config.ha_token, &config.long_lived_token) {
        (Some(file), _, Some(token)) => Ok(named(token, format!("--token-file {file}"))),
        (None, Some(token), _) => Ok(named(token, "HA_TOKEN".into())),
        (None, None, Some(token)) => Ok(named(token, "LONG_LIVED_ACCESS_TOKEN".into())),
        _ if config.token_parameter.is_some() => Err(
            "HA_TOKEN_PARAMETER is read through the AWS Parameters and Secrets extension, which runs only in Lambda"
                .to_string(),
        ),
        _ => Err("no token given".to_string()),
    };
    let setup = doctor::Setup {
        config,
        problems,
        token,
        deadline: Instant::now() + TIME,
    };
    let report = doctor::examine(&setup);
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    if report.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn named(token: &Secret, source: String) -> Token {
    Token {
        secret: token.clone(),
        source,
    }
}
