//! The doctor's first checks: the configuration's problems, and the AWS
//! region Alexa calls a smart home skill's function in.

use super::{Check, Setup, Status};

/// The regions Alexa calls a smart home skill's function in, with the
/// skill languages each serves (Amazon's "Develop Smart Home Skills for
/// Multiple Languages").
pub const ALEXA_REGIONS: [(&str, &str); 3] = [
    (
        "us-east-1",
        "English (US, CA), French (CA), Portuguese (BR), Spanish (MX, US)",
    ),
    (
        "eu-west-1",
        "English (UK, IN), French (FR), German, Italian, Spanish (ES), Hindi, Dutch, Arabic",
    ),
    ("us-west-2", "Japanese, English (AU)"),
];

/// One line per configuration problem, each naming its variable.
pub(super) fn configuration(setup: &Setup<'_>, checks: &mut Vec<Check>) {
    if setup.problems.is_empty() {
        checks.push(Check::new(
            "configuration",
            Status::Ok,
            "no problems in the settings",
        ));
    }
    for problem in setup.problems {
        checks.push(
            Check::new("configuration", Status::Failed, problem.to_string())
                .fix(format!("correct {} as the message says", problem.variable)),
        );
    }
}

/// Whether Alexa can call a function in this region.
pub(super) fn region(setup: &Setup<'_>, checks: &mut Vec<Check>) {
    let Some(region) = setup.config.aws_region.as_deref() else {
        checks.push(Check::new(
            "region",
            Status::Skipped,
            "not running in AWS (AWS_REGION is not set)",
        ));
        return;
    };
    let needs = ALEXA_REGIONS
        .iter()
        .map(|(r, languages)| format!("{r} for {languages}"))
        .collect::<Vec<_>>()
        .join("; ");
    match ALEXA_REGIONS.iter().find(|(r, _)| *r == region) {
        Some((_, languages)) => checks.push(
            Check::new(
                "region",
                Status::Ok,
                format!("{region}: Alexa calls smart home skills here for {languages}"),
            )
            .fix(format!(
                "none, if your skill's language is one of these; otherwise deploy in {needs}"
            )),
        ),
        None => checks.push(
            Check::new(
                "region",
                Status::Failed,
                format!("{region}: Alexa never calls a smart home skill's function in this region"),
            )
            .fix(format!(
                "deploy the stack in the region of your skill's language: {needs}"
            )),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Problem};

    fn run(region: Option<&str>, problems: &[Problem]) -> Vec<Check> {
        let config = Config {
            aws_region: region.map(str::to_string),
            ..Config::default()
        };
        let setup = Setup {
            config: &config,
            problems,
            token: Err("none".into()),
            deadline: std::time::Instant::now(),
        };
        let mut checks = Vec::new();
        configuration(&setup, &mut checks);
        super::region(&setup, &mut checks);
        checks
    }

    #[test]
    fn a_region_alexa_never_calls_fails_and_says_where_each_language_goes() {
        let checks = run(Some("ap-southeast-2"), &[]);
        assert_eq!(checks[1].status, Status::Failed);
        let fix = checks[1].fix.as_deref().unwrap();
        assert!(
            fix.contains("us-west-2 for Japanese, English (AU)"),
            "{fix}"
        );
        assert!(fix.contains("eu-west-1 for English (UK, IN)"), "{fix}");
        assert_eq!(run(Some("eu-west-1"), &[])[1].status, Status::Ok);
        assert_eq!(run(None, &[])[1].status, Status::Skipped);
    }

    #[test]
    fn every_problem_is_a_line_naming_its_variable() {
        let problems = [
            Problem {
                variable: "BASE_URL",
                message: "is not set".into(),
            },
            Problem {
                variable: "DEBUG",
                message: "must be true/false".into(),
            },
        ];
        let checks = run(None, &problems);
        let seen: Vec<&str> = checks[..2].iter().map(|c| c.seen.as_str()).collect();
        assert_eq!(seen, ["BASE_URL: is not set", "DEBUG: must be true/false"]);
        assert!(checks[..2].iter().all(|c| c.status == Status::Failed));
    }
}
