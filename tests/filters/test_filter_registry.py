"""The FILTERS table: every filter by name, configs from plain values, clear errors, and every
filter run on one small record table through the table."""

import dataclasses
import json

import pyarrow as pa
import pytest

from assay.filters.decontam import ContaminationConfig, Finding, contamination
from assay.filters.registry import FILTERS, LEARNABILITY, ROWS, get_filter, make_config


@pytest.mark.parametrize("name", FILTERS)
def test_every_name_resolves_to_its_entry(name):
    spec = get_filter(name)
    assert spec == FILTERS[name] and dataclasses.is_dataclass(spec.config)


def test_the_contamination_filter_takes_the_findings_as_its_config():
    assert get_filter("contamination") == (contamination, ContaminationConfig, ROWS)
    assert get_filter("contamination").input_field() == "the decontamination step's findings"
    assert [name for name, spec in FILTERS.items() if spec.input_field() is not None] == ["contamination"]


def test_each_filter_has_a_stage_and_the_learnability_ones_read_pass_counts():
    assert {spec.stage for spec in FILTERS.values()} == {ROWS, LEARNABILITY}
    assert [name for name, spec in FILTERS.items() if spec.stage == LEARNABILITY] == ["pass_band", "variance", "posterior_band"]


def test_unknown_names_and_options_fail_listing_the_valid_ones():
    with pytest.raises(ValueError, match=f"unknown filter 'dedupe'; valid: {', '.join(FILTERS)}$"):
        get_filter("dedupe")
    with pytest.raises(ValueError, match="unknown pass_band option 'low'; valid: lo, hi"):
        make_config("pass_band", {"low": 0.2})
    with pytest.raises(ValueError, match="option 'threshold' must be float, got str '0.8'"):
        make_config("dedup", {"threshold": "0.8"})
    with pytest.raises(ValueError, match="option 'num_perm' must be int, got bool"):
        make_config("dedup", {"num_perm": True})
    with pytest.raises(ValueError, match="filter 'contamination' takes no options"):
        make_config("contamination", {"min_score": 0.5})


def test_configs_from_plain_values():
    assert make_config("quality", {"target_forms": ["free_form", "true_false"]}).target_forms == ("free_form", "true_false")
    assert make_config("gold", {"workers": None, "timeout_s": 3}).timeout_s == 3
    with pytest.raises(ValueError, match="filter 'contamination' takes no options: its config is the decontamination step's findings"):
        make_config("contamination", {})  # the pipeline gives it, never a config file
    with pytest.raises(ValueError, match="threshold must be in"):
        make_config("dedup", {"threshold": 2.0})


RECORDS = pa.table({
    "uid": ["u1", "u2", "u3"], "source": ["a", "b", "a"], "split": ["train"] * 3,
    "prompt": ["What is 6 times 7?", "what is 6 times 7?", "Which is larger? (A) 2 (B) 3 (C) 1"],
    "answer": ["42", "42", "B"], "verifier": ["math", "math", "mc"], "domain": ["math", "math", "multiple_choice"],
    "meta": ["{}", "{}", json.dumps({"verifier_options": {"choices": ["2", "3", "1"]}})],
    "n": pa.array([8, None, 8], pa.int64()), "n_correct": pa.array([4, None, 8], pa.int64()),
})
FINDINGS = [Finding(2, "arc", "17", "ngram", 1.0, "which is larger")]  # what decontamination stored for RECORDS

# Which of RECORDS each built-in filter keeps at its default settings, derived by hand.
KEPT = {
    "dedup": [True, False, True],
    "quality": [True, True, False],  # multiple choice under the free-form target
    "gold": [True, True, True],
    "contamination": [True, True, False],
    "pass_band": [True, False, False],
    "variance": [True, False, False],
    "posterior_band": [True, False, False],
}


def decide(name):
    """Filter `name` run through the table on RECORDS, at its defaults (gold on one worker)."""
    fn = FILTERS[name].fn
    if name == "contamination":  # its config is the findings, by uid
        return fn(RECORDS, ContaminationConfig.of_matches(RECORDS["uid"].to_pylist(), FINDINGS))
    return fn(RECORDS, make_config(name, {"workers": 1} if name == "gold" else {}))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", FILTERS)
def test_every_filter_runs_through_the_table_and_gives_a_reason_for_each_drop(name):
    decision = decide(name)
    keep = decision.keep.to_pylist()
    assert len(keep) == len(decision.reason) == RECORDS.num_rows
    assert decision.reason.is_valid().to_pylist() == [not k for k in keep]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", KEPT)
def test_the_built_in_filters_keep_the_hand_derived_rows(name):
    assert decide(name).keep.to_pylist() == KEPT[name]
