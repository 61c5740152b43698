#!/usr/bin/env python3
"""Check skill packages against Amazon's SMAPI model and what Home Assistant needs.

    validate-skill-package.py --spec SPEC.json DIR [DIR...]

Each DIR is an ASK CLI project as scripts/skill-package.sh writes it
(ask-resources.json, skill-package/skill.json, the interaction models under
skill-package/interactionModels/custom/, accountLinking.json), or a folder
of such projects. SPEC.json is the Swagger definition of the Skill
Management API that Amazon publishes in npm's ask-smapi-model package:
skill.json is checked as its SkillManifestEnvelope, each interaction model
as InteractionModelData, accountLinking.json as AccountLinkingRequest, all
strictly (a key the model does not define is an error, as are a wrong type,
a value outside an enum, a missing required key, and a broken length or
pattern). Then the rules Amazon states in prose and Home Assistant's account
linking needs: no placeholder left, each regional endpoint a function in
its region, a smart home language served from its own region, an
interaction model for each language and a carrier phrase beside every
AMAZON.SearchQuery slot, the https address and client ids Home Assistant
accepts. Prints every problem with the file and the JSON path, and exits 1
when there is any (scripts/validate-skill-package.sh installs what this
needs and runs it).
"""

import argparse
import json
import pathlib
import re
import sys
from urllib.parse import urlsplit

import jsonschema

MANIFEST = "v1.skill.Manifest.SkillManifestEnvelope"
INTERACTION_MODEL = "v1.skill.interactionModel.InteractionModelData"
ACCOUNT_LINKING = "v1.skill.accountLinking.AccountLinkingRequest"

# Alexa's regions and the AWS region it calls a smart home skill in.
AWS_REGION = {"NA": "us-east-1", "EU": "eu-west-1", "FE": "us-west-2"}
# The languages Alexa serves from each region (README, Deploy).
LOCALE_REGION = {
    "en-US": "NA", "en-CA": "NA", "fr-CA": "NA", "pt-BR": "NA", "es-US": "NA", "es-MX": "NA",
    "en-GB": "EU", "en-IN": "EU", "de-DE": "EU", "fr-FR": "EU", "it-IT": "EU", "es-ES": "EU",
    "hi-IN": "EU", "ar-SA": "EU", "ja-JP": "FE", "en-AU": "FE",
}
# The client ids Home Assistant knows Alexa's redirect addresses for.
CLIENT_IDS = {"https://pitangui.amazon.com/", "https://layla.amazon.com/", "https://alexa.amazon.co.jp/"}
ARN = re.compile(r"^arn:aws:lambda:([a-z0-9-]+):[0-9]{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?$")
SLOT = re.compile(r"\{([^}]*)\}")


def strict(definitions):
    """Amazon's Swagger definitions as strict JSON Schema (draft 4).

    An object with properties gets `additionalProperties: false`; a subtype
    (`allOf` with its base) has its base's properties merged in; a base with
    a `discriminator` becomes the choice of its subtypes, each with the
    discriminator fixed to its `x-discriminator-value`.
    """

    def flattened(name):
        definition = definitions[name]
        if "allOf" not in definition:
            return json.loads(json.dumps(definition))
        merged = {"type": "object", "properties": {}, "required": []}
        for part in definition["allOf"]:
            if "$ref" in part:
                part = flattened(part["$ref"].rsplit("/", 1)[-1])
            merged["properties"].update(part.get("properties", {}))
            merged["required"] += part.get("required", [])
        return merged

    result = {}
    for name in definitions:
        definition = flattened(name)
        if definition.get("type") == "object" and "properties" in definition:
            definition.setdefault("additionalProperties", False)
        result[name] = definition
    for base, definition in definitions.items():
        key = definition.get("discriminator")
        if not key:
            continue
        choices = []
        for name, sub in definitions.items():
            parts = [p.get("$ref", "").rsplit("/", 1)[-1] for p in sub.get("allOf", [])]
            if base in parts:
                choice = json.loads(json.dumps(result[name]))
                choice["properties"][key] = {"enum": [sub.get("x-discriminator-value", name)]}
                choices.append(choice)
        result[base] = {"type": "object", "required": [key], "anyOf": choices}
    return result


def where(path):
    """A JSON path as written in the file: manifest.apis.smartHome.regions.NA."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


class Check:
    def __init__(self, spec):
        definitions = strict(json.loads(pathlib.Path(spec).read_text())["definitions"])
        self.validators = {
            root: jsonschema.Draft4Validator({"definitions": definitions, "$ref": f"#/definitions/{root}"})
            for root in (MANIFEST, INTERACTION_MODEL, ACCOUNT_LINKING)
        }
        self.problems = []
        self.files = 0

    def problem(self, file, path, message):
        self.problems.append(f"{file}: {where(path)}: {message}")

    def load(self, file, root):
        """The file's JSON, checked against Amazon's model `root`."""
        self.files += 1
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            self.problem(file, [], f"not readable JSON: {error}")
            return None
        for error in sorted(self.validators[root].iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
            self.problem(file, list(error.absolute_path), f"{error.message} (Amazon's {root.rsplit('.', 1)[-1]})")
        self.placeholders(file, document, [])
        return document

    def placeholders(self, file, value, path):
        if isinstance(value, dict):
            for key, item in value.items():
                self.placeholders(file, item, path + [key])
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.placeholders(file, item, path + [index])
        elif isinstance(value, str) and "${" in value:
            self.problem(file, path, f"placeholder left in {value!r}: write the package with scripts/skill-package.sh")

    def project(self, folder):
        """One ASK CLI project: its files, then what ties them together."""
        expected = {"ask-resources.json", "accountLinking.json", "skill-package/skill.json"}
        models = {}
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = file.relative_to(folder).as_posix()
            if name.startswith("skill-package/interactionModels/custom/") and name.endswith(".json"):
                models[file.stem] = file
            elif name not in expected and not name.startswith(".ask/"):
                self.problem(file, [], "not part of a skill package: ask deploy would upload it or ignore it; remove it")
        for name in sorted(expected):
            if not (folder / name).is_file():
                self.problem(folder / name, [], "missing: write the package with scripts/skill-package.sh")
        resources = folder / "ask-resources.json"
        if resources.is_file():
            self.ask_resources(resources)
        linking = folder / "accountLinking.json"
        if linking.is_file():
            self.account_linking(linking, self.load(linking, ACCOUNT_LINKING))
        skill_file = folder / "skill-package" / "skill.json"
        skill = self.load(skill_file, MANIFEST) if skill_file.is_file() else None
        for _, file in sorted(models.items()):
            self.interaction_model(file, self.load(file, INTERACTION_MODEL))
        if skill is not None:
            self.manifest(skill_file, skill, models)

    def ask_resources(self, file):
        """What `ask deploy` reads: a profile whose skill metadata is ./skill-package."""
        self.files += 1
        try:
            resources = json.loads(file.read_text(encoding="utf-8"))
            sources = [p["skillMetadata"]["src"] for p in resources["profiles"].values()]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            self.problem(file, [], f"not an ASK CLI project file ({error!r}): keep skills/*/ask-resources.json's shape")
            return
        if resources.get("askcliResourcesVersion") != "2020-03-31" or sources != ["./skill-package"]:
            self.problem(file, ["profiles"], "ask deploy needs askcliResourcesVersion 2020-03-31 and one profile with skillMetadata.src ./skill-package")

    def manifest(self, file, skill, models):
        manifest = skill.get("manifest") if isinstance(skill, dict) else None
        if not isinstance(manifest, dict):
            return
        apis = manifest.get("apis") or {}
        locales = sorted((manifest.get("publishingInformation") or {}).get("locales") or {})
        for kind in ("smartHome", "custom"):
            api = apis.get(kind)
            if not isinstance(api, dict):
                continue
            path = ["manifest", "apis", kind]
            default = (api.get("endpoint") or {}).get("uri", "")
            if not ARN.match(default):
                self.problem(file, path + ["endpoint", "uri"], f"{default!r} is not a Lambda function ARN: lee's FunctionArn output")
            regions = api.get("regions") or {}
            for region, entry in regions.items():
                uri = ((entry or {}).get("endpoint") or {}).get("uri", "")
                found = ARN.match(uri)
                if region not in AWS_REGION:
                    self.problem(file, path + ["regions", region], f"Alexa has no region {region!r}: NA, EU or FE")
                elif not found or found.group(1) != AWS_REGION[region]:
                    self.problem(file, path + ["regions", region, "endpoint", "uri"],
                                 f"{uri!r} is not a function in {AWS_REGION[region]}, where Alexa calls the {region} region's skills")
            if kind == "smartHome":
                default_region = ARN.match(default).group(1) if ARN.match(default) else None
                for locale in locales:
                    region = LOCALE_REGION.get(locale)
                    served = region in regions or AWS_REGION.get(region) == default_region
                    if not served:
                        self.problem(file, ["manifest", "publishingInformation", "locales", locale],
                                     f"Alexa calls {locale}'s smart home skill only in {AWS_REGION.get(region, 'its region')}, "
                                     "and no endpoint is there: deploy lee there and pass its ARN to scripts/skill-package.sh")
            if kind == "custom" and sorted(models) != locales:
                self.problem(file, ["manifest", "publishingInformation", "locales"],
                             f"languages {locales} but interaction models for {sorted(models)}: each language needs "
                             "skill-package/interactionModels/custom/<locale>.json and no other")
        if "custom" not in apis and models:
            self.problem(file, ["manifest", "apis"], "interaction models without apis.custom: only a custom skill has them")

    def interaction_model(self, file, data):
        try:
            intents = data["interactionModel"]["languageModel"]["intents"]
        except (TypeError, KeyError):
            return
        for i, intent in enumerate(intents if isinstance(intents, list) else []):
            if not isinstance(intent, dict):
                continue
            slots = {s.get("name"): s.get("type") for s in intent.get("slots") or [] if isinstance(s, dict)}
            path = ["interactionModel", "languageModel", "intents", i]
            for j, sample in enumerate(intent.get("samples") or []):
                if not isinstance(sample, str):
                    continue
                used = SLOT.findall(sample)
                for name in used:
                    if name not in slots:
                        self.problem(file, path + ["samples", j], f"{{{name}}} is not a slot of {intent.get('name')}: declare it or fix the name")
                carrier = SLOT.sub("", sample).strip()
                if any(slots.get(name) == "AMAZON.SearchQuery" for name in used) and not carrier:
                    self.problem(file, path + ["samples", j],
                                 f"{sample!r}: an AMAZON.SearchQuery slot needs a carrier phrase (words beside it), or Alexa refuses the model")

    def account_linking(self, file, data):
        try:
            request = data["accountLinkingRequest"]
        except (TypeError, KeyError):
            return
        if not isinstance(request, dict):
            return
        path = ["accountLinkingRequest"]
        hosts = set()
        for key, end in (("authorizationUrl", "/auth/authorize"), ("accessTokenUrl", "/auth/token")):
            url = request.get(key, "")
            parts = urlsplit(url) if isinstance(url, str) else None
            if not parts or parts.scheme != "https" or parts.path != end or parts.port not in (None, 443) or parts.query:
                self.problem(file, path + [key], f"{url!r}: Home Assistant's {end} over https on port 443 (https://YOUR_HA{end})")
            else:
                hosts.add(parts.hostname)
        if len(hosts) > 1:
            self.problem(file, path, f"authorizationUrl and accessTokenUrl name different hosts {sorted(hosts)}: both are Home Assistant's")
        if request.get("clientId") not in CLIENT_IDS:
            self.problem(file, path + ["clientId"],
                         f"{request.get('clientId')!r}: Home Assistant accepts Alexa as {', '.join(sorted(CLIENT_IDS))} (with the trailing slash)")
        if request.get("type") != "AUTH_CODE":
            self.problem(file, path + ["type"], "Home Assistant's OAuth is an authorization code grant: AUTH_CODE")
        if request.get("accessTokenScheme") != "REQUEST_BODY_CREDENTIALS":
            self.problem(file, path + ["accessTokenScheme"], "Home Assistant reads the client id from the request body: REQUEST_BODY_CREDENTIALS")
        if "smart_home" not in (request.get("scopes") or []):
            self.problem(file, path + ["scopes"], "the scope Home Assistant's documentation gives is smart_home")


def projects(folder):
    """The ASK CLI projects at or under `folder`."""
    if (folder / "ask-resources.json").is_file():
        return [folder]
    return sorted(p.parent for p in folder.glob("*/ask-resources.json"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="spec.json of npm's ask-smapi-model")
    parser.add_argument("folders", nargs="+", type=pathlib.Path)
    arguments = parser.parse_args()
    check = Check(arguments.spec)
    found = []
    for folder in arguments.folders:
        found += projects(folder)
        if not projects(folder):
            check.problem(folder, [], "no ASK CLI project (ask-resources.json) here or one folder down")
    for folder in found:
        check.project(folder)
    for problem in check.problems:
        print(problem, file=sys.stderr)
    if check.problems:
        print(f"{len(check.problems)} problems in {len(found)} skill packages", file=sys.stderr)
        return 1
    print(f"ok: {len(found)} skill packages, {check.files} files valid against Amazon's SMAPI model")
    return 0


if __name__ == "__main__":
    sys.exit(main())
