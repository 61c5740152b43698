//! What `deploy/template.yaml` deploys, read from its text (CloudFormation
//! cannot run here; `scripts/lint-template.sh` checks it with cfn-lint).
//!
//! What it is for: the exposure the template creates (issue 13). The
//! Function URL runs on a function of its own, so URL traffic never takes
//! the Alexa function's concurrency, and may be capped; the URL's auth is
//! `AWS_IAM` or `NONE` as `FunctionUrlAuth` says (`auto`: `AWS_IAM` exactly
//! when ops over HTTP are on), and only an unauthenticated URL is opened to
//! everyone; every variable the template sets is one lee reads, and every
//! parameter that names a variable sets it.

use std::collections::BTreeMap;

/// The template's text.
fn template() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/template.yaml"
    ))
    .expect("read deploy/template.yaml")
}

/// The entries of a YAML block: each line indented by exactly `indent`
/// spaces that opens `Name:` starts one, and the more indented lines after
/// it are its body (its first line's value included).
fn entries(lines: &[&str], indent: usize) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in lines {
        let depth = line.len() - line.trim_start().len();
        let opens = depth == indent && !line.trim_start().starts_with(['#', '-']);
        if opens && let Some((name, rest)) = line.trim().split_once(':') {
            if let Some((name, body)) = current.take() {
                found.insert(name, body);
            }
            current = Some((name.to_string(), format!("{rest}\n")));
        } else if depth > indent || line.trim().is_empty() {
            if let Some((_, body)) = &mut current {
                body.push_str(line);
                body.push('\n');
            }
        } else if depth < indent {
            break;
        }
    }
    if let Some((name, body)) = current {
        found.insert(name, body);
    }
    found
}

/// The entries under a top-level section (`Resources:`, say) or under a
/// path of keys inside one.
fn section(text: &str, path: &[&str]) -> BTreeMap<String, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut block = entries(&lines, 0);
    for key in path {
        let body = block
            .remove(*key)
            .unwrap_or_else(|| panic!("no {key} in {path:?}"));
        let body_lines: Vec<&str> = body.lines().skip(1).collect();
        let indent = body_lines
            .iter()
            .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .map_or(0, |l| l.len() - l.trim_start().len());
        block = entries(&body_lines, indent);
    }
    block
}

/// The value of `key:` on one line of `body` (the first such line).
fn value<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    body.lines()
        .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix(':').map(str::trim))
}

/// The resource `!GetAtt X.Arn` in `key` names.
fn arn_of<'a>(body: &'a str, key: &str) -> &'a str {
    let v = value(body, key).unwrap_or_else(|| panic!("no {key} in {body}"));
    v.strip_prefix("!GetAtt ")
        .and_then(|v| v.strip_suffix(".Arn"))
        .unwrap_or_else(|| panic!("{key} is not a !GetAtt .Arn: {v}"))
}

#[test]
fn the_function_url_runs_apart_from_the_alexa_function_with_the_chosen_auth() {
    let text = template();
    let resources = section(&text, &["Resources"]);
    let of_type = |kind: &str| -> Vec<(&String, &String)> {
        resources
            .iter()
            .filter(|(_, body)| value(body, "Type") == Some(kind))
            .collect()
    };
    let alexa: Vec<&str> = of_type("AWS::Lambda::Permission")
        .into_iter()
        .filter(|(_, b)| value(b, "Principal") == Some("alexa-connectedhome.amazon.com"))
        .map(|(_, b)| arn_of(b, "FunctionName"))
        .collect();
    assert_eq!(alexa, ["LeeFunction"], "Alexa invokes LeeFunction");
    let urls = of_type("AWS::Lambda::Url");
    assert_eq!(urls.len(), 1);
    let (_, url) = urls[0];
    let url_function = arn_of(url, "TargetFunctionArn");
    assert_ne!(
        url_function, "LeeFunction",
        "the Function URL shares the Alexa function's concurrency"
    );
    let function = |name: &str| -> &String {
        let body = &resources[name];
        assert_eq!(value(body, "Type"), Some("AWS::Serverless::Function"));
        body
    };
    assert!(!function("LeeFunction").contains("FunctionUrlConfig"));
    let url_body = function(url_function);
    assert_eq!(value(url_body, "Condition"), Some("CreateFunctionUrl"));
    assert_eq!(
        value(url_body, "ReservedConcurrentExecutions"),
        Some(
            "!If [HasUrlReservedConcurrency, !Ref FunctionUrlReservedConcurrency, !Ref AWS::NoValue]"
        )
    );
    // The same code and settings: from Globals, not set per function.
    for shared in ["CodeUri", "Environment", "Handler"] {
        for name in ["LeeFunction", url_function] {
            assert!(
                value(function(name), shared).is_none(),
                "{name} sets {shared}"
            );
        }
    }

    // auto means AWS_IAM exactly when ops over HTTP are on.
    assert_eq!(
        value(url, "AuthType"),
        Some("!If [UrlAuthIsIam, AWS_IAM, NONE]")
    );
    let conditions = section(&text, &["Conditions"]);
    let iam: String = conditions["UrlAuthIsIam"].split_whitespace().collect();
    assert_eq!(
        iam,
        "!Or-!Equals[!RefFunctionUrlAuth,AWS_IAM]-!And-!Equals[!RefFunctionUrlAuth,auto]-!Equals[!RefOpsOverHttp,\"true\"]"
    );
    // Everyone may call the URL only when it is unauthenticated.
    let open: Vec<&str> = of_type("AWS::Lambda::Permission")
        .into_iter()
        .filter(|(_, b)| value(b, "Principal") == Some("\"*\""))
        .map(|(_, b)| {
            assert_eq!(arn_of(b, "FunctionName"), url_function);
            value(b, "Condition").unwrap()
        })
        .collect();
    assert_eq!(open, ["CreatePublicFunctionUrl"; 2]);
    assert_eq!(
        conditions["CreatePublicFunctionUrl"].trim(),
        "!And [!Condition CreateFunctionUrl, !Not [!Condition UrlAuthIsIam]]"
    );

    let parameters = section(&text, &["Parameters"]);
    let auth = &parameters["FunctionUrlAuth"];
    assert_eq!(value(auth, "AllowedValues"), Some("[auto, AWS_IAM, NONE]"));
    assert_eq!(value(auth, "Default"), Some("auto"));
    let reserved = &parameters["FunctionUrlReservedConcurrency"];
    assert_eq!(value(reserved, "Default"), Some("\"\""));
    assert!(value(reserved, "Description").unwrap().contains("10"));
    assert_eq!(
        value(&parameters["OpsOverHttp"], "Default"),
        Some("\"false\"")
    );
    for name in ["HealthUrl", "FunctionArn"] {
        assert!(section(&text, &["Outputs"]).contains_key(name), "{name}");
    }
}

#[test]
fn every_variable_the_template_sets_is_one_lee_reads_and_every_parameter_sets_its_own() {
    let text = template();
    let set = section(&text, &["Globals", "Function", "Environment", "Variables"]);
    // Read outside the configuration itself: by the logger and the reloader.
    let read_elsewhere = ["LOG_LEVEL", "PARAMETER_PREFIX"];
    for name in set.keys() {
        assert!(
            lee_host::config::VARIABLES.contains(&name.as_str())
                || read_elsewhere.contains(&name.as_str()),
            "the template sets {name}, which lee does not read"
        );
    }
    let parameters = section(&text, &["Parameters"]);
    for (parameter, body) in &parameters {
        let description = value(body, "Description").unwrap_or_default();
        let Some(variable) = description
            .trim_start_matches('"')
            .strip_prefix('(')
            .and_then(|d| d.split_once(')'))
            .map(|(v, _)| v)
        else {
            continue;
        };
        let wired = set
            .get(variable)
            .is_some_and(|v| v.contains(&format!("!Ref {parameter}")));
        assert!(wired, "{parameter} does not set {variable}");
    }
    for (parameter, says) in [
        (
            "SharedSecret",
            &["32", "/diagnostics", "/health", "/op"][..],
        ),
        ("LongLivedAccessToken", &["engine ops", "health", "Debug"]),
        ("EnableFunctionUrl", &["/health", "/diagnostics", "/op"]),
        ("OpsAllowServices", &["deny list"]),
    ] {
        let description = value(&parameters[parameter], "Description").unwrap();
        for word in says {
            assert!(description.contains(word), "{parameter}: {description}");
        }
    }
}

#[test]
fn a_stack_outside_alexas_regions_is_refused_saying_which_region_each_language_needs() {
    let text = template();
    let rule = &section(&text, &["Rules"])["AlexaRegion"];
    assert!(
        rule.contains("!Contains [[us-east-1, eu-west-1, us-west-2], !Ref AWS::Region]"),
        "{rule}"
    );
    // The same regions and languages as the doctor's region check.
    for (region, languages) in lee_host::doctor::ALEXA_REGIONS {
        assert!(
            rule.contains(&format!("{region} for {languages}")),
            "{region}: {rule}"
        );
    }
}

#[test]
fn the_custom_skill_may_invoke_the_alexa_function_only_when_its_id_is_given() {
    let text = template();
    let resources = section(&text, &["Resources"]);
    let permission = &resources["AlexaCustomSkillPermission"];
    assert_eq!(value(permission, "Condition"), Some("HasCustomSkill"));
    assert_eq!(
        value(permission, "Principal"),
        Some("alexa-appkit.amazon.com")
    );
    assert_eq!(
        value(permission, "EventSourceToken"),
        Some("!Ref AlexaCustomSkillId")
    );
    assert_eq!(arn_of(permission, "FunctionName"), "LeeFunction");
    let conditions = section(&text, &["Conditions"]);
    assert_eq!(
        conditions["HasCustomSkill"].trim(),
        r#"!Not [!Equals [!Ref AlexaCustomSkillId, ""]]"#
    );
    let variables = section(&text, &["Globals", "Function", "Environment", "Variables"]);
    assert_eq!(
        variables["ALEXA_SKILL_ID"].trim(),
        "!If [HasCustomSkill, !Ref AlexaCustomSkillId, !Ref AWS::NoValue]"
    );
}

#[test]
fn parameter_store_settings_bring_the_extension_layer_of_the_region_and_read_one_parameter() {
    let text = template();
    let layers = section(&text, &["Mappings", "ParametersExtension"]);
    let regions: Vec<&str> = layers.keys().map(String::as_str).collect();
    assert_eq!(regions, ["eu-west-1", "us-east-1", "us-west-2"]);
    for (region, body) in &layers {
        let arn = value(body, "Arm64").expect("an arm64 layer");
        assert!(
            arn.starts_with(&format!("arn:aws:lambda:{region}:"))
                && arn.contains(":layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:"),
            "{arn}"
        );
    }
    let conditions = section(&text, &["Conditions"]);
    assert_eq!(
        conditions["NeedsExtensionLayer"].trim(),
        "!Or [!Condition HasHaTokenParameter, !Condition HasParameterPrefix]"
    );
    let function = section(&text, &["Globals", "Function"]);
    assert!(
        function["Layers"].contains("!FindInMap [ParametersExtension, !Ref AWS::Region, Arm64]"),
        "{}",
        function["Layers"]
    );
    // The token parameter: ssm:GetParameter on that one parameter.
    let role = &section(&text, &["Resources"])["LeeRole"];
    assert!(
        role.contains("Action: ssm:GetParameter\n                  Resource: !Sub arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${HaTokenParameter}\n"),
        "{role}"
    );
}
