#!/usr/bin/env python3
"""The skill package validator refuses broken packages and passes good ones.

    python3 scripts/validate-skill-package.test.py

Writes the packages with scripts/skill-package.sh (example values), checks
that scripts/validate-skill-package.sh passes them, then breaks a copy one
way at a time (a key Amazon's model lacks, a wrong type, a value outside an
enum, a required key missing, a text too long, an unknown interface, an
endpoint in the wrong region, a language without its interaction model, a
search slot without a carrier phrase, account linking Home Assistant
refuses, a placeholder left, a stray file) and expects each to be refused
with the problem named. Run by .ci/run.
"""

import json
import pathlib
import shutil
import subprocess
import tempfile
import unittest

ROOT = pathlib.Path(__file__).resolve().parent.parent
BASE_URL = "https://ha.example.com"
ARNS = [
    "arn:aws:lambda:eu-west-1:123456789012:function:lee",
    "arn:aws:lambda:us-east-1:123456789012:function:lee",
    "arn:aws:lambda:us-west-2:123456789012:function:lee",
]


def run(*command):
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


class Refusals(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = pathlib.Path(tempfile.mkdtemp(prefix="lee-skills-"))
        cls.good = cls.work / "good"
        made = run("scripts/skill-package.sh", "-o", str(cls.good), BASE_URL, *ARNS)
        assert made.returncode == 0, made.stderr

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work)

    def broken(self, file, change):
        """A copy of the good packages with `change` applied to `file`'s JSON."""
        copy = self.work / self.id().rsplit(".", 1)[-1]
        shutil.copytree(self.good, copy)
        path = copy / file
        document = json.loads(path.read_text())
        change(document)
        path.write_text(json.dumps(document))
        return copy

    def refused(self, folder, *expected):
        checked = run("scripts/validate-skill-package.sh", str(folder))
        self.assertEqual(checked.returncode, 1, checked.stdout + checked.stderr)
        for words in expected:
            self.assertIn(words, checked.stderr)

    def test_the_written_packages_pass(self):
        checked = run("scripts/validate-skill-package.sh", str(self.good))
        self.assertEqual(checked.returncode, 0, checked.stderr)
        self.assertIn("ok: 2 skill packages, 20 files valid", checked.stdout)

    def test_a_key_the_model_lacks(self):
        def change(s):
            s["manifest"]["apis"]["smartHome"]["endpoints"] = []
        self.refused(self.broken("smart-home/skill-package/skill.json", change),
                     "manifest.apis.smartHome: Additional properties are not allowed ('endpoints' was unexpected)")

    def test_a_value_outside_the_enum(self):
        def change(s):
            s["manifest"]["apis"]["smartHome"]["protocolVersion"] = "4"
        self.refused(self.broken("smart-home/skill-package/skill.json", change), "'4' is not one of ['2', '2.0', '3', '3.0']")

    def test_a_wrong_type(self):
        def change(s):
            s["manifest"]["publishingInformation"]["locales"]["en-US"]["examplePhrases"] = "Alexa, turn on the light"
        self.refused(self.broken("smart-home/skill-package/skill.json", change),
                     "locales.en-US.examplePhrases: 'Alexa, turn on the light' is not of type 'array'")

    def test_a_text_too_long(self):
        def change(s):
            s["manifest"]["publishingInformation"]["locales"]["de-DE"]["summary"] = "x" * 161
        self.refused(self.broken("assist/skill-package/skill.json", change), "locales.de-DE.summary: 'xxx")

    def test_an_unknown_interface(self):
        def change(s):
            s["manifest"]["apis"]["custom"]["interfaces"] = [{"type": "RENDER_TEMPLATE"}, {"type": "HOLOGRAM"}]
        self.refused(self.broken("assist/skill-package/skill.json", change),
                     "manifest.apis.custom.interfaces[1]: {'type': 'HOLOGRAM'} is not valid")

    def test_a_required_key_missing(self):
        def change(m):
            del m["interactionModel"]["languageModel"]["invocationName"]
        self.refused(self.broken("assist/skill-package/interactionModels/custom/fr-FR.json", change),
                     "fr-FR.json: interactionModel.languageModel: 'invocationName' is a required property")

    def test_a_search_slot_without_a_carrier_phrase(self):
        def change(m):
            m["interactionModel"]["languageModel"]["intents"][0]["samples"].append("{utterance}")
        self.refused(self.broken("assist/skill-package/interactionModels/custom/en-GB.json", change),
                     "an AMAZON.SearchQuery slot needs a carrier phrase")

    def test_an_endpoint_in_the_wrong_region(self):
        def change(s):
            s["manifest"]["apis"]["smartHome"]["regions"]["FE"]["endpoint"]["uri"] = ARNS[0]
        self.refused(self.broken("smart-home/skill-package/skill.json", change),
                     "regions.FE.endpoint.uri: 'arn:aws:lambda:eu-west-1:123456789012:function:lee' is not a function in us-west-2")

    def test_a_language_without_its_interaction_model(self):
        copy = self.broken("assist/ask-resources.json", lambda r: None)
        (copy / "assist/skill-package/interactionModels/custom/it-IT.json").unlink()
        self.refused(copy, "each language needs skill-package/interactionModels/custom/<locale>.json")

    def test_account_linking_home_assistant_refuses(self):
        def change(a):
            a["accountLinkingRequest"]["accessTokenScheme"] = "HTTP_BASIC"
            a["accountLinkingRequest"]["clientId"] = "https://pitangui.amazon.com"
            a["accountLinkingRequest"]["accessTokenUrl"] = "https://ha.example.com:8123/auth/token"
        self.refused(self.broken("smart-home/accountLinking.json", change),
                     "accessTokenScheme: Home Assistant reads the client id from the request body",
                     "clientId: 'https://pitangui.amazon.com': Home Assistant accepts Alexa as",
                     "accessTokenUrl: 'https://ha.example.com:8123/auth/token'")

    def test_an_unknown_account_linking_type(self):
        def change(a):
            a["accountLinkingRequest"]["type"] = "PASSWORD"
        self.refused(self.broken("assist/accountLinking.json", change),
                     "accountLinkingRequest.type: 'PASSWORD' is not one of ['AUTH_CODE', 'IMPLICIT']")

    def test_the_unfilled_templates(self):
        self.refused(ROOT / "skills", "manifest.apis.smartHome.endpoint.uri: placeholder left in '${FUNCTION_ARN}'")

    def test_a_stray_file(self):
        copy = self.broken("assist/ask-resources.json", lambda r: None)
        (copy / "assist/skill-package/notes.txt").write_text("x")
        self.refused(copy, "notes.txt: (top level): not part of a skill package")


if __name__ == "__main__":
    unittest.main(verbosity=2)
