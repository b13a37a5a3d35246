"""Learnability filters: pass-rate band, variance, Beta-posterior band; hand-derived numbers."""

import pyarrow as pa
import pytest

from assay.filters.learnability import (
    PassBandConfig,
    PosteriorBandConfig,
    VarianceConfig,
    pass_band,
    posterior_band,
    variance,
)


def counts(n, c):
    return pa.table({"n": pa.array(n, pa.int64()), "n_correct": pa.array(c, pa.int64())})


def test_pass_band_is_inclusive_and_names_the_side():
    d = pass_band(counts([8, 8, 8, 8, 8, 10, 10], [0, 1, 4, 7, 8, 1, 9]))
    # p_hat: 0, .125, .5, .875, 1, .1, .9 against [0.1, 0.9]
    assert d.keep.to_pylist() == [False, True, True, True, False, True, True]
    assert d.reason[0].as_py() == "too_hard: p_hat 0.000 outside [0.10, 0.90] (0/8 correct)"
    assert d.reason[4].as_py() == "too_easy: p_hat 1.000 outside [0.10, 0.90] (8/8 correct)"
    assert d.scores["p_hat"].to_pylist() == [0.0, 0.125, 0.5, 0.875, 1.0, 0.1, 0.9]


def test_variance_threshold_matches_the_band_it_implies():
    # p(1-p) >= 0.09 <=> 0.1 <= p <= 0.9; 1/10 gives 0.09 exactly (up to rounding) and is kept.
    d = variance(counts([10, 10, 10, 4], [0, 1, 10, 2]))
    assert d.keep.to_pylist() == [False, True, False, True]
    assert d.scores["variance"].to_pylist()[3] == 0.25
    assert d.reason[2].as_py() == "too_easy: variance 0.000 < 0.090 (10/10 correct)"
    assert variance(counts([4], [1]), VarianceConfig(min_variance=0.2)).reason[0].as_py() == \
        "too_hard: variance 0.188 < 0.200 (1/4 correct)"


def test_posterior_band_tells_0_of_8_from_0_of_64():
    # Uniform prior: 0 of n leaves Beta(1, n + 1), whose CDF is 1 - (1 - x)**(n + 1), so
    # P(0.1 < p < 0.9) = 0.9**(n + 1) - 0.1**(n + 1): 0.38742 for n = 8, 0.00106 for n = 64.
    d = posterior_band(counts([8, 64], [0, 0]), PosteriorBandConfig(tau=0.3))
    prob = d.scores["prob_in_band"].to_pylist()
    assert prob[0] == pytest.approx(0.9**9 - 0.1**9, abs=1e-9)
    assert prob[1] == pytest.approx(0.9**65 - 0.1**65, abs=1e-9)
    assert d.keep.to_pylist() == [True, False]
    assert d.reason[1].as_py() == "too_hard: P(0.10 < p < 0.90) = 0.001 < 0.30 (0/64 correct)"
    # The point-estimate filters cannot tell them apart: p_hat = 0 for both.
    assert pass_band(counts([8, 64], [0, 0])).keep.to_pylist() == [False, False]


def test_posterior_band_all_solved_is_too_easy_and_the_prior_counts():
    # 8 of 8: Beta(9, 1), CDF x**9: P(0.1 < p < 0.9) = 0.9**9 - 0.1**9, mass above the band 1 - 0.9**9.
    d = posterior_band(counts([8], [8]))
    assert d.scores["prob_in_band"][0].as_py() == pytest.approx(0.9**9 - 0.1**9, abs=1e-9)
    assert d.reason[0].as_py().startswith("too_easy: P(0.10 < p < 0.90) = 0.387 < 0.50")
    # Prior Beta(1, 3): 0 of 8 leaves Beta(1, 11): 0.9**11 - 0.1**11 = 0.31381.
    stricter = posterior_band(counts([8], [0]), PosteriorBandConfig(prior_beta=3.0))
    assert stricter.scores["prob_in_band"][0].as_py() == pytest.approx(0.9**11 - 0.1**11, abs=1e-9)


def test_unscored_and_bad_counts_have_their_own_reasons():
    t = counts([None, 0, 8, 8, 8], [None, 0, 9, -1, 4])
    for fn in (pass_band, variance, posterior_band):
        d = fn(t)
        assert d.reason.to_pylist()[:4] == [
            "unscored: no difficulty observations for this model",
            "unscored: 0 samples",
            "bad_counts: n_correct 9 with n 8",
            "bad_counts: n_correct -1 with n 8",
        ]
        assert d.keep.to_pylist() == [False, False, False, False, True]
        assert d.scores["p_hat"].to_pylist() == [None, None, None, None, 0.5]


def test_a_table_with_no_usable_counts():
    d = posterior_band(pa.table({"n": pa.array([None], pa.int64()), "n_correct": pa.array([None], pa.int64())}))
    assert d.keep.to_pylist() == [False] and d.scores["prob_in_band"].to_pylist() == [None]


def test_bad_input_and_bad_configs_fail_clearly():
    with pytest.raises(ValueError, match="pass_band: input has no column 'n_correct'"):
        pass_band(pa.table({"n": [8]}))
    with pytest.raises(ValueError, match="variance: column 'n' must hold integers, got double"):
        variance(pa.table({"n": [8.0], "n_correct": [1]}))
    with pytest.raises(ValueError, match="need 0 <= lo < hi <= 1"):
        PassBandConfig(lo=0.9, hi=0.1)
    with pytest.raises(ValueError, match="tau must be in"):
        PosteriorBandConfig(tau=1.5)
    with pytest.raises(ValueError, match="prior_alpha and prior_beta must be positive"):
        PosteriorBandConfig(prior_alpha=0.0)
    with pytest.raises(ValueError, match="min_variance must be in"):
        VarianceConfig(min_variance=0.3)
