#!/usr/bin/env bash
# Fill the skills in skills/ (ASK CLI projects) with one Home Assistant's
# address and the lee function's ARNs, ready for `ask deploy`:
#
#   scripts/skill-package.sh [-o DIR] BASE_URL FUNCTION_ARN [FUNCTION_ARN...]
#
# BASE_URL is Home Assistant's public address (https, port 443, no path): the
# account linking of both skills points at its /auth/authorize and
# /auth/token. Each FUNCTION_ARN is lee's function in one of the regions
# Alexa calls (us-east-1 North America, eu-west-1 Europe, us-west-2 Far
# East); it becomes that region's endpoint, the first one also the default
# endpoint and the account linking's client id (the Alexa region you live
# in). The smart home skill keeps only the languages of the regions given,
# since Alexa calls a smart home skill's function only in its language's
# region; the Assist skill keeps all its languages.
#
# Writes DIR/smart-home and DIR/assist (default DIR: skill-packages/, not
# committed), each with ask-resources.json, skill-package/ and
# accountLinking.json. Check the result with scripts/validate-skill-package.sh.
# With SMART_HOME_SKILL_ID (and ASSIST_SKILL_ID) set to a skill created
# before, its project also gets .ask/ask-states.json, so that `ask deploy`
# updates that skill instead of creating another one.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

usage() {
    die "usage: scripts/skill-package.sh [-o DIR] BASE_URL FUNCTION_ARN [FUNCTION_ARN...]
  e.g.  scripts/skill-package.sh https://ha.example.com arn:aws:lambda:eu-west-1:123456789012:function:lee"
}

out=skill-packages
if [ "${1:-}" = "-o" ]; then
    [ $# -ge 2 ] || usage
    out=$2
    shift 2
fi
[ $# -ge 2 ] || usage
base_url=$1
shift

# BASE_URL: what Amazon's account linking can reach (https on port 443, a
# publicly trusted certificate), written the way lee's BASE_URL is.
case "$base_url" in
    https://*) ;;
    http://*) die "BASE_URL '$base_url' is plain http: account linking needs Home Assistant over https on port 443 with a publicly trusted certificate; write https://YOUR_HA" ;;
    *) die "BASE_URL '$base_url' does not start with https://: write Home Assistant's public address, e.g. https://ha.example.com" ;;
esac
authority=${base_url#https://}
authority=${authority%/}
case "$authority" in
    */* | *\?* | *\#*) die "BASE_URL '$base_url' has a path, query or fragment: write only https://host (the skills add /auth/authorize and /auth/token themselves)" ;;
    *@*) die "BASE_URL '$base_url' holds a user name or password: write only https://host" ;;
    "") die "BASE_URL '$base_url' names no host: write https://YOUR_HA" ;;
esac
case "$authority" in
    *:443) authority=${authority%:443} ;;
    *:*) die "BASE_URL '$base_url' names port ${authority##*:}: Amazon's account linking reaches Home Assistant only on port 443; publish it there (a reverse proxy or port forward) and write https://${authority%:*}" ;;
esac
[[ "$authority" =~ ^[A-Za-z0-9.-]+$ ]] || die "BASE_URL '$base_url': '$authority' is not a host name; write https://ha.example.com"
base_url="https://$authority"

# Each ARN: lee's function in a region Alexa calls, one per Alexa region.
seen=""
for arn in "$@"; do
    [[ "$arn" =~ ^arn:aws:lambda:([a-z0-9-]+):[0-9]{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?$ ]] \
        || die "'$arn' is not a Lambda function ARN: use the stack's FunctionArn output, e.g. arn:aws:lambda:eu-west-1:123456789012:function:lee"
    region=${BASH_REMATCH[1]}
    case "$region" in
        us-east-1) alexa=NA ;;
        eu-west-1) alexa=EU ;;
        us-west-2) alexa=FE ;;
        *) die "'$arn' is in $region, where Alexa never calls a smart home skill: deploy lee in us-east-1 (English US/CA, French CA, Portuguese BR, Spanish US/MX), eu-west-1 (English UK/IN, French FR, German, Italian, Spanish ES) or us-west-2 (Japanese, English AU)" ;;
    esac
    case " $seen " in
        *" $alexa "*) die "two ARNs for Alexa's $alexa region ($region): give one function per region" ;;
    esac
    seen="$seen $alexa"
done

for variable in SMART_HOME_SKILL_ID ASSIST_SKILL_ID; do
    value=${!variable:-}
    [ -z "$value" ] || [[ "$value" =~ ^amzn1\.ask\.skill\.[0-9a-fA-F-]+$ ]] \
        || die "$variable '$value' is not a skill id: copy it from the Alexa developer console (amzn1.ask.skill.<uuid>)"
done

command -v python3 >/dev/null || die "python3 is missing"
mkdir -p "$out"
SMART_HOME_SKILL_ID=${SMART_HOME_SKILL_ID:-} ASSIST_SKILL_ID=${ASSIST_SKILL_ID:-} \
    python3 - "$out" "$base_url" "$@" <<'PY'
import json, os, pathlib, shutil, sys

out, base_url, arns = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
skills = pathlib.Path("skills")
ALEXA_REGION = {"us-east-1": "NA", "eu-west-1": "EU", "us-west-2": "FE"}
CLIENT_ID = {
    "NA": "https://pitangui.amazon.com/",
    "EU": "https://layla.amazon.com/",
    "FE": "https://alexa.amazon.co.jp/",
}
# The languages Alexa serves from each region (README, Deploy).
LOCALE_REGION = {
    "en-US": "NA", "en-CA": "NA", "fr-CA": "NA", "pt-BR": "NA", "es-US": "NA", "es-MX": "NA",
    "en-GB": "EU", "en-IN": "EU", "de-DE": "EU", "fr-FR": "EU", "it-IT": "EU", "es-ES": "EU",
    "hi-IN": "EU", "ar-SA": "EU", "ja-JP": "FE", "en-AU": "FE",
}
by_region = {ALEXA_REGION[arn.split(":")[3]]: arn for arn in arns}
first = ALEXA_REGION[arns[0].split(":")[3]]


def fill(text):
    return (text.replace("${BASE_URL}", base_url)
                .replace("${ALEXA_CLIENT_ID}", CLIENT_ID[first])
                .replace("${FUNCTION_ARN}", arns[0]))


SKILL_ID = {"smart-home": os.environ["SMART_HOME_SKILL_ID"], "assist": os.environ["ASSIST_SKILL_ID"]}
for name in ("smart-home", "assist"):
    target = out / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(skills / name, target)
    (target / "accountLinking.json").write_text(fill((skills / "accountLinking.json").read_text()))
    path = target / "skill-package" / "skill.json"
    skill = json.loads(fill(path.read_text()))
    manifest = skill["manifest"]
    api = manifest["apis"]["smartHome" if name == "smart-home" else "custom"]
    api["regions"] = {r: {"endpoint": {"uri": by_region[r]}} for r in api["regions"] if r in by_region}
    if name == "smart-home":
        locales = manifest["publishingInformation"]["locales"]
        for locale in [l for l in locales if LOCALE_REGION[l] not in by_region]:
            del locales[locale]
    path.write_text(json.dumps(skill, indent=2, ensure_ascii=False) + "\n")
    if SKILL_ID[name]:
        (target / ".ask").mkdir()
        states = {"askcliStatesVersion": "2020-03-31", "profiles": {"default": {"skillId": SKILL_ID[name]}}}
        (target / ".ask" / "ask-states.json").write_text(json.dumps(states, indent=2) + "\n")
    print(f"{target}: {', '.join(sorted(manifest['publishingInformation']['locales']))}"
          + (f" (ask deploy updates {SKILL_ID[name]})" if SKILL_ID[name] else ""))
PY

echo "client id for account linking: $(sed -n 's/.*"clientId": "\(.*\)".*/\1/p' "$out/smart-home/accountLinking.json") (the Alexa region of the first ARN)"
cat <<EOF
next: check with scripts/validate-skill-package.sh $out, then paste the values into the
Alexa developer console, or with the ASK CLI (with SMART_HOME_SKILL_ID set, ask deploy
updates that skill; without, it creates one and prints its id):
  (cd $out/smart-home && ask deploy)
  ask smapi update-account-linking-info -s SKILL_ID -g development --account-linking-request file:$out/smart-home/accountLinking.json
and the same for $out/assist (README: From zero to "Alexa, turn on the kitchen light").
EOF
