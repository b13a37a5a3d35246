"""Verifiers of your own: named by package.module:function or by an entry point, run in the
verifier workers (which import them from the path the caller found them under), wrapped into
Verdicts, failing as error or timeout, and versioned for the difficulty history."""

import hashlib
import math
import sys

import pytest

from assay.verifiers import VERIFIERS, Check, OperatorSpec, Verdict, resolve_verifier, verifier_names, verifier_version, verify, verify_batch
from assay.verifiers.rewards import trl_reward
from assay.verifiers.verdict import as_verdict
from tests.helpers import register_entry_point, write_plugin


@pytest.mark.parametrize(
    "returned, status, score",
    [
        (True, "correct", 1.0),
        (False, "incorrect", 0.0),
        (1, "correct", 1.0),
        (0, "incorrect", 0.0),
        (0.25, "incorrect", 0.25),
        (1.0, "correct", 1.0),
        (1.5, "error", 0.0),
        (-0.1, "error", 0.0),
        (math.nan, "error", 0.0),
        (None, "error", 0.0),
        ("1", "error", 0.0),
        (Verdict("no_answer", 0.0, None, "mine"), "no_answer", 0.0),
    ],
)
def test_what_a_plugin_returns_becomes_a_verdict(returned, status, score):
    verdict = as_verdict(returned)
    assert (verdict.status, verdict.score) == (status, score)


@pytest.mark.timeout(300)
def test_a_module_plugin_runs_in_workers_that_never_saw_its_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))  # the current folder appended below is undone after the test
    verify_batch([Check("#### 1", "1")] * 4, workers=2)  # these workers start without tmp_path
    write_plugin(tmp_path, "assay_test_tags_a")
    monkeypatch.chdir(tmp_path)  # found in the current folder, as `assay --verifier` run there finds it
    tag, same, raises, says_yes = (OperatorSpec(f"assay_test_tags_a.tags:{fn}") for fn in ("answer_tag", "same_text", "raises", "says_yes"))
    items = [
        Check("so <answer>18</answer>", "18", tag),
        Check("<answer>17</answer>", "18", tag),
        Check("18", "18", tag),
        Check("x", "x", same),
        Check("x", "y", same),
        Check("x", "y", raises),
        Check("x", "y", says_yes),
        Check("#### 3", "3"),
    ]
    verdicts = verify_batch(items, workers=2)
    assert [(v.status, v.score) for v in verdicts] == [
        ("correct", 1.0), ("incorrect", 0.25), ("incorrect", 0.0), ("correct", 1.0), ("incorrect", 0.0),
        ("error", 0.0), ("error", 0.0), ("correct", 1.0)]
    assert verdicts[5].reason == "RuntimeError: a bug in the plug-in"
    assert "expected a Verdict, a bool or a number in [0, 1]" in verdicts[6].reason
    assert verify("<answer>18</answer>", "18", tag).status == "correct"  # in this process too


@pytest.mark.timeout(300)
def test_a_plugin_that_never_returns_is_a_timeout_after_its_own_budget(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(write_plugin(tmp_path, "assay_test_tags_b")))
    spec = OperatorSpec("assay_test_tags_b.tags:spins")
    assert resolve_verifier(spec).plugin.timeout_s == 0.3
    [verdict] = verify_batch([Check("x", "y", spec)], workers=1, timeout_s=60.0)
    assert verdict.status == "timeout" and "(budget 0.3 s)" in verdict.reason


def test_the_version_is_the_declared_one_else_the_module_files_hash(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(write_plugin(tmp_path, "assay_test_tags_c")))
    undeclared = "def graded(response, gold, **options):\n    return response.strip() == gold.strip()\n"
    write_plugin(tmp_path / "other", "assay_test_tags_d", undeclared)
    monkeypatch.syspath_prepend(str(tmp_path / "other"))
    digest = hashlib.sha256(undeclared.encode()).hexdigest()[:12]
    declared, hashed = OperatorSpec("assay_test_tags_c.tags:answer_tag"), OperatorSpec("assay_test_tags_d.tags:graded")
    assert resolve_verifier(declared).version == f"assay-verifiers-2+{declared}@1.0"
    assert resolve_verifier(hashed).version == f"assay-verifiers-2+{hashed}@sha256:{digest}"
    assert verifier_version(["math", hashed, declared, "mc", declared]) == \
        f"assay-verifiers-2+{declared}@1.0+{hashed}@sha256:{digest}"
    assert verifier_version(["math", "code"]) == "assay-verifiers-2"


@pytest.mark.timeout(300)
def test_an_entry_point_plugin_is_listed_and_a_row_may_name_it(tmp_path, monkeypatch):
    verify_batch([Check("#### 1", "1")] * 4, workers=2)  # workers started before the site exists
    site = write_plugin(tmp_path / "site", "assay_test_tags_e")
    register_entry_point(site, "assay-test-tags", "answer-tag-test", "assay_test_tags_e.tags:answer_tag")
    monkeypatch.syspath_prepend(str(site))
    assert "answer-tag-test" in verifier_names()
    assert resolve_verifier("answer-tag-test", paths=False).version == "assay-verifiers-2+answer-tag-test@1.0"
    verdicts = verify_batch([Check("<answer>7</answer>", "7", "answer-tag-test"),
                             Check("7", "7", "answer-tag-test")], workers=2)
    assert [(v.status, v.score) for v in verdicts] == [("correct", 1.0), ("incorrect", 0.0)]
    with pytest.raises(ValueError, match=rf"unknown verifier 'answer-tag'; valid: {', '.join(VERIFIERS)}, .*answer-tag-test"):
        resolve_verifier("answer-tag")
    # A TRL dataset's verifier column may name it too (verl and OpenRLHF rows go the same way).
    said = [[{"role": "assistant", "content": "<answer>7</answer>"}], [{"role": "assistant", "content": "<answer>8</answer>"}]]
    assert trl_reward([[], []], said, answer=["7", "7"], verifier=["answer-tag-test"] * 2, verifier_options=["{}"] * 2) == [1.0, 0.25]
    with pytest.raises(ValueError, match="never by a row"):
        trl_reward([[]], said[:1], answer=["7"], verifier=["assay_test_tags_e.tags:answer_tag"], verifier_options=["{}"])


def test_names_that_resolve_to_nothing_usable_say_why(tmp_path, monkeypatch):
    write_plugin(tmp_path, "assay_test_tags_f", "raise ImportError('needs a package that is not installed')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cases = {
        "assay_test_nowhere.tags:fn": "assay_test_nowhere.tags:fn: cannot import assay_test_nowhere.tags (ModuleNotFoundError",
        "assay_test_tags_f.tags:fn": "assay_test_tags_f.tags:fn: cannot import assay_test_tags_f.tags (ImportError: needs a package",
        "assay.verifiers.simple:nope": "assay.verifiers.simple:nope: assay.verifiers.simple has no function nope",
        "maths": f"unknown verifier 'maths'; valid: {', '.join(VERIFIERS)}",
    }
    for spec, message in cases.items():
        with pytest.raises(ValueError) as caught:
            resolve_verifier(spec)
        assert str(caught.value).startswith(message), spec
    refused = r"a package.module:function plug-in is chosen with --verifier \(in code: an assay.verifiers.OperatorSpec\), never by a row"
    with pytest.raises(ValueError, match=refused):
        resolve_verifier("os:system", paths=False)
    with pytest.raises(ValueError, match="chosen with --verifier"):  # a plain str is a row's: never imported
        verify_batch([Check("x", "y", "shutil:rmtree")])
