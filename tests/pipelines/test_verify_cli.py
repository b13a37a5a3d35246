"""`assay verify` and `assay verify --audit`."""

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from assay.pipelines.cli.main import app
from assay.pipelines.errors import AssayError
from assay.pipelines.steps.verify_io import as_checks, audit_file, read_items
from assay.verifiers import VERIFIERS


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.timeout(120)
def test_verify_adds_status_and_score_in_order_and_keeps_other_keys(tmp_path):
    rows = [
        {"id": "a", "response": "She makes 9 * 2 = 18 dollars.\n#### 18", "gold": "18"},
        {"id": "b", "response": "The answer is (B).", "gold": "C", "verifier": "mc", "extra": [1, 2]},
        {"id": "c", "response": "I don't know.", "gold": "7"},
        {"id": "d", "response": "Answer: 0.333333", "gold": "\\frac{1}{3}", "verifier": "math"},
    ]
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["verify", "--input", str(_write(tmp_path / "in.jsonl", rows)), "--output", str(out), "--workers", "2"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["id"], r["status"], r["score"]) for r in lines] == [
        ("a", "correct", 1.0), ("b", "incorrect", 0.0), ("c", "no_answer", 0.0), ("d", "correct", 1.0)]
    assert lines[1]["extra"] == [1, 2] and lines[1]["verifier"] == "mc"
    assert "correct 2, incorrect 1, no_answer 1" in " ".join(result.output.split())


@pytest.mark.timeout(120)
def test_verify_prints_every_status_and_says_what_an_error_is(tmp_path):
    rows = [{"response": "#### 4", "gold": "4"},
            {"response": "#### 4", "gold": "4", "verifier": "numeric", "options": {"rel_tol": "wide"}}]  # the verifier raises
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["verify", "--input", str(_write(tmp_path / "in.jsonl", rows)), "--output", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())
    assert "correct 1, error 1" in printed and "1 verdicts are timeout or error: the verifier did not judge" in printed


@pytest.mark.timeout(120)
def test_unusable_input_is_one_line_and_a_nonzero_exit(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"response": "4", "gold": "4"}\n{"response": "4", "gold": \n')
    proc = subprocess.run(
        [sys.executable, "-m", "assay.pipelines.cli.main", "verify", "--input", str(bad), "--output", str(tmp_path / "o.jsonl")],
        capture_output=True, text=True, timeout=100,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert f"{bad}:2: not valid JSON" in proc.stderr


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"gold": "4"}', "'response' must be a string"),
        ('{"response": "4", "gold": 4}', "'gold' must be a string"),
        ('{"response": "4", "gold": "4", "verifier": "maths"}', f"unknown verifier 'maths'; valid: {', '.join(VERIFIERS)}"),
        ('[1, 2]', "expected a JSON object"),
    ],
)
def test_read_items_names_the_bad_line(tmp_path, line, message):
    path = tmp_path / "in.jsonl"
    path.write_text('{"response": "4", "gold": "4"}\n' + line + "\n")
    with pytest.raises(AssayError, match=f"in.jsonl:2: {message}".replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        read_items(path)


def test_a_byte_order_mark_is_not_part_of_the_first_line(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"response": "#### 4", "gold": "4"}\n{"response": "5", "gold": "5"}\n')
    assert [item["response"] for item in read_items(path)] == ["#### 4", "5"]


@pytest.mark.timeout(120)
def test_audit_reports_agreement_statuses_and_gold_roundtrip(tmp_path):
    rows = [
        {"response": "#### 18", "gold": "18", "expected": True},
        {"response": "#### 17", "gold": "18", "expected": False},
        {"response": "$\\boxed{\\frac{1}{2006!}}$", "gold": "\\frac{1}{2004!}", "expected": False},
        {"response": "The answer is (B).", "gold": "B", "verifier": "mc", "expected": True},
        {"response": "no idea", "gold": "\\frac{", "expected": False},  # a broken gold
        {"response": "```python\nprint(1)\n```", "gold": '{"inputs": ["\\n"], "outputs": ["1\\n"]}', "verifier": "code", "expected": True},
    ]
    report = audit_file(_write(tmp_path / "labelled.jsonl", rows), workers=2, timeout_s=2.0)
    assert report.rows == 6 and report.agree == 6 and report.agreement == 1.0
    assert report.false_positives == 0 and report.false_negatives == 0
    assert report.counts["correct"] == 3
    assert report.golds == 5
    assert [(v, g) for v, g, _ in report.gold_failures] == [("math", "\\frac{")]
    result = CliRunner().invoke(app, ["verify", "--audit", str(tmp_path / "labelled.jsonl"), "--workers", "2"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "agreement with labels: 6/6 (100.0%)" in output
    assert "gold round trip: 4/5" in output


def test_audit_needs_expected_labels(tmp_path):
    with pytest.raises(AssayError, match="'expected' must be true or false"):
        audit_file(_write(tmp_path / "l.jsonl", [{"response": "4", "gold": "4"}]), workers=1, timeout_s=2.0)


def _verify_cli(tmp_path, rows, *flags, path=None):
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "PATH": path} if path else None
    proc = subprocess.run(
        [sys.executable, "-m", "assay.pipelines.cli.main", "verify", "--input", str(_write(tmp_path / "in.jsonl", rows)), "--output", str(out),
         "--workers", "1", *flags],
        capture_output=True, text=True, timeout=200, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line)["status"] for line in out.read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_without_namespaces_code_is_refused_unless_the_operator_opts_in(tmp_path):
    # An `unshare` that fails, as on a host without user namespaces. A line cannot opt itself
    # in: only the operator's --sandbox (or ASSAY_SANDBOX) chooses the mode.
    fake = tmp_path / "bin" / "unshare"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'unshare: unshare failed: Operation not permitted' >&2\nexit 1\n")
    fake.chmod(0o755)
    path = f"{fake.parent}:{os.environ['PATH']}"
    code = {"response": "```python\nprint(1)\n```", "gold": '{"inputs": ["\\n"], "outputs": ["1\\n"]}', "verifier": "code"}
    rows = [code, {**code, "options": {"sandbox": "weak"}}, {"response": "#### 18", "gold": "18"}]
    assert _verify_cli(tmp_path, rows, path=path) == ["error", "error", "correct"]
    assert _verify_cli(tmp_path, rows, "--sandbox", "weak", path=path) == ["correct", "correct", "correct"]


def test_sandbox_check_prints_every_layer_and_what_it_protects():
    from assay.verifiers.sandbox_protocol import LAYERS

    result = CliRunner().invoke(app, ["verify", "--sandbox-check"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert all(name in output for name in LAYERS)
    assert "pids_cgroup" in output and "strict mode (the default)" in output


def test_an_unknown_sandbox_mode_is_refused_naming_the_valid_ones(tmp_path):
    result = CliRunner().invoke(app, ["verify", "--input", str(_write(tmp_path / "in.jsonl", [{"response": "1", "gold": "1"}])),
                                      "--output", str(tmp_path / "o.jsonl"), "--sandbox", "loose"])
    assert isinstance(result.exception, AssayError)
    assert str(result.exception) == "--sandbox: unknown sandbox mode 'loose'; valid: strict, weak"


def test_the_operators_sandbox_mode_reaches_sandboxed_verifiers_only(monkeypatch):
    monkeypatch.delenv("ASSAY_SANDBOX", raising=False)
    lines = [{"response": "print(2)", "gold": "[]", "verifier": "code", "options": {"sandbox": "weak", "time_limit_s": 1}},
             {"response": "#### 2", "gold": "2", "extra": True}]
    # A line's own mode is replaced by the operator's (strict when none is given); math takes no sandbox.
    assert [(c.verifier, c.options) for c in as_checks(lines, None)] == [("code", {"sandbox": "strict", "time_limit_s": 1}), ("math", {})]
    assert as_checks(lines, "weak")[0].options["sandbox"] == "weak"
    with pytest.raises(AssayError, match="--sandbox"):
        as_checks(lines, "loose")
