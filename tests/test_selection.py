"""Tests for kamtools.selection: hand-worked scores, invariants, robustness, portfolio views, recovery."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from kamtools.exceptions import ParameterError
from kamtools.selection import (
    CONTINUOUS_NORMALISATION,
    CRITERIA,
    DEFAULT_WEIGHTS,
    _kendall_tau_b,
    _tau_pairs,
    abc_classes,
    abc_summary,
    account_criteria,
    compare_selections,
    criteria_metadata,
    criteria_overview,
    default_normalisation,
    eligible_accounts,
    gini,
    kam_fit_diagnostic,
    lorenz_curve,
    plot_abc,
    plot_rank_comparison,
    portfolio_matrix,
    rank_reversal_check,
    rank_reversal_summary,
    rank_robustness,
    score_coverage,
    select_key_accounts,
    selection_robustness,
    shapiro_matrix,
    topsis,
    weight_sweep,
    weighted_sum,
)

ROOT = Path(__file__).resolve().parents[1]
# modest example counts keep the file fast; a 1,500-example run of every property passed during development
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------------------- fixtures
@pytest.fixture
def wsm_matrix():
    """Four accounts, three criteria: continuous revenue, a 1–5 rubric, a continuous cost."""
    return pd.DataFrame(
        {"revenue": [100.0, 60.0, 20.0, 40.0], "fit": [5.0, 3.0, 4.0, 1.0], "cts": [10.0, 30.0, 20.0, 50.0]},
        index=pd.Index(["a", "b", "c", "d"], name="account_id"),
    )


WSM_KW = dict(criteria_types={"cts": "cost"}, normalisation={"fit": "fixed"}, scale=(1, 5))


@pytest.fixture
def topsis_matrix():
    return pd.DataFrame({"x": [3.0, 4.0, 0.0], "y": [1.0, 2.0, 2.0], "z": [2.0, 1.0, 2.0]}, index=["a", "b", "c"])


# ----------------------------------------------------------------------------------------- weighted sum
def test_weighted_sum_hand_worked(wsm_matrix):
    # revenue, min-max: min 20, max 100, range 80 -> a 1, b 0.5, c 0, d 0.25
    # fit, fixed (x-1)/4 -> a 1, b 0.5, c 0.75, d 0
    # cts, min-max then inverted (cost): min 10, max 50 -> a 0, b .5, c .25, d 1 -> 1-: a 1, b .5, c .75, d 0
    # weights 5:3:2 -> 0.5, 0.3, 0.2
    # a = .5*1 + .3*1 + .2*1 = 1.0; b = .5*.5 + .3*.5 + .2*.5 = 0.5
    # c = .5*0 + .3*.75 + .2*.75 = 0.375; d = .5*.25 + 0 + 0 = 0.125
    score = weighted_sum(wsm_matrix, {"revenue": 5, "fit": 3, "cts": 2}, **WSM_KW)
    assert score.name == "score"
    np.testing.assert_allclose(score.to_numpy(), [1.0, 0.5, 0.375, 0.125], atol=1e-12)
    assert list(score.index) == ["a", "b", "c", "d"]
    assert score.attrs["coverage_min"] == 1.0 and score.attrs["n_incomplete"] == 0


def test_weighted_sum_missing_value_redistributes_weight(wsm_matrix):
    # d's fit is missing: its weight 0.3 is spread over revenue (.5) and cts (.2): coverage 0.7,
    # score = (.5*.25 + .2*0) / .7 = 0.125 / 0.7 = 0.178571...  (never read as fit = 0 or 1)
    m = wsm_matrix.copy()
    m.loc["d", "fit"] = np.nan
    score = weighted_sum(m, {"revenue": 5, "fit": 3, "cts": 2}, **WSM_KW)
    assert score["d"] == pytest.approx(0.125 / 0.7)
    cov = score_coverage(m, {"revenue": 5, "fit": 3, "cts": 2})
    assert cov.name == "coverage" and cov.to_dict() == pytest.approx({"a": 1.0, "b": 1.0, "c": 1.0, "d": 0.7})
    assert score.attrs["coverage_min"] == pytest.approx(0.7) and score.attrs["n_incomplete"] == 1
    # scalar attrs keep pandas operations working (a Series in attrs breaks nlargest / concat)
    assert score.nlargest(2).index.tolist() == ["a", "b"]
    # the other accounts are untouched (fit is fixed-scale)
    np.testing.assert_allclose(score[["a", "b", "c"]].to_numpy(), [1.0, 0.5, 0.375])


def test_weighted_sum_all_missing_account_is_nan_and_warned():
    m = pd.DataFrame({"x": [1.0, 2.0, np.nan], "y": [3.0, 1.0, np.nan]}, index=["a", "b", "c"])
    with pytest.warns(UserWarning, match="1 accounts have no value"):
        score = weighted_sum(m, {"x": 1, "y": 1})
    assert np.isnan(score["c"]) and score.attrs["coverage_min"] == 0


def test_fixed_equals_minmax_when_data_span_the_scale():
    # two routes: when every criterion's observed range is exactly the scale, both normalisations agree
    m = pd.DataFrame({"f": [1.0, 5.0, 3.0, 2.0], "g": [5.0, 1.0, 4.0, 2.0]}, index=list("abcd"))
    w = {"f": 0.7, "g": 0.3}
    pd.testing.assert_series_equal(weighted_sum(m, w, normalisation="fixed"), weighted_sum(m, w),
                                   check_exact=False)


def test_zero_weight_criteria_are_left_out():
    # a constant criterion with weight 0 is no error; extra columns are ignored
    m = pd.DataFrame({"x": [1.0, 3.0], "flat": [2.0, 2.0], "name": ["p", "q"]}, index=["a", "b"])
    score = weighted_sum(m, {"x": 1, "flat": 0})
    assert score.tolist() == [0.0, 1.0]


# ----------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "weights, kwargs, match",
    [
        ({"revenue": 1, "fit": -0.2}, {},
         r"weights' parameter of weighted_sum must be non-negative.*'fit' \(-0.2\)"),
        ({"revenue": 0, "fit": 0}, {}, r"must have a positive sum\. Got all-zero weights"),
        ({"revenue": 1, "nope": 1}, {}, r"unknown criteria 'nope'"),
        ({"revenue": 1}, {"criteria_types": {"ghost": "cost"}},
         r"'criteria_types' parameter.*unknown criteria 'ghost'"),
        ({"revenue": 1, "cts": 1}, {"criteria_types": {"cts": "costs"}},
         r"'benefit' or 'cost'\. Got 'costs' for 'cts'"),
        ({"revenue": 1}, {"normalisation": "zscore"}, r"'normalisation' parameter.*Got 'zscore'"),
        ({"revenue": 1}, {"normalisation": {"ghost": "fixed"}}, r"unknown criteria 'ghost'"),
        ({"fit": 1}, {"normalisation": "fixed", "scale": (1, 4)},
         r"fixed scale \[1, 4\].*'fit'.*1 of 4 values off the scale \(accounts 'a': 5\)"),
        ({"revenue": 1}, {"scale": (5, 1)},
         r"'scale' parameter of weighted_sum must be a pair \(lo, hi\) with lo < hi"),
        ([1, 2], {}, r"must be a dict or Series mapping criterion -> weight\. Got list"),
    ],
)
def test_weighted_sum_errors(wsm_matrix, weights, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        weighted_sum(wsm_matrix, weights, **kwargs)


def test_no_variation_under_minmax_names_the_criterion(wsm_matrix):
    m = wsm_matrix.assign(flat=7.0)
    with pytest.raises(ValueError, match=r"no variation in 'flat' \(all 7\)"):
        weighted_sum(m, {"revenue": 1, "flat": 1})
    # the same criterion is fine on a fixed scale
    assert weighted_sum(m, {"revenue": 1, "flat": 1}, normalisation={"flat": "fixed"}, scale={"flat": (0, 10)}
                        ).notna().all()


def test_matrix_errors_name_rows():
    m = pd.DataFrame({"x": [1.0, np.inf, 2.0]}, index=["a", "b", "c"])
    with pytest.raises(ParameterError, match=r"1 infinite values in 'x' \(accounts 'b'\)"):
        weighted_sum(m, {"x": 1})
    dup = pd.DataFrame({"x": [1.0, 2.0]}, index=["a", "a"])
    with pytest.raises(ParameterError, match=r"unique index.*1 duplicated account ids \('a'\)"):
        weighted_sum(dup, {"x": 1})
    text = pd.DataFrame({"x": ["1", "2"]}, index=["a", "b"])
    with pytest.raises(ParameterError, match=r"non-numeric column\(s\) 'x'"):
        weighted_sum(text, {"x": 1})


# ----------------------------------------------------------------------------------------- TOPSIS
def test_topsis_hand_worked(topsis_matrix):
    # weights x .5, y .25, z .25 (z is a cost); vector norms: |x| = sqrt(9+16+0) = 5,
    # |y| = sqrt(1+4+4) = 3, |z| = sqrt(4+1+4) = 3
    # r: x .6 .8 0 ; y 1/3 2/3 2/3 ; z 2/3 1/3 2/3
    # v = w r: x .3 .4 0 ; y 1/12 1/6 1/6 ; z 1/6 1/12 1/6
    # ideal A+ = (max x, max y, min z) = (.4, 1/6, 1/12); anti A- = (0, 1/12, 1/6)
    # a = (.3, 1/12, 1/6): D+ = sqrt(.1² + (1/12)² + (1/12)²) = sqrt(172/7200) = 0.154560
    #                      D- = sqrt(.3²) = 0.3            -> C = .3 / .454560 = 0.659978
    # b = (.4, 1/6, 1/12) is the ideal: D+ = 0             -> C = 1
    # c = (0, 1/6, 1/6):   D+ = sqrt(.4² + 0 + (1/12)²) = 0.408588; D- = 1/12 -> C = 0.083333/0.491921 = 0.169404
    dpos_a = math.sqrt(0.1**2 + 2 * (1 / 12) ** 2)
    dpos_c = math.sqrt(0.4**2 + (1 / 12) ** 2)
    expected = [0.3 / (0.3 + dpos_a), 1.0, (1 / 12) / (1 / 12 + dpos_c)]
    assert expected == pytest.approx([0.659978, 1.0, 0.169404], abs=1e-6)
    close = topsis(topsis_matrix, {"x": 0.5, "y": 0.25, "z": 0.25}, criteria_types={"z": "cost"})
    assert close.name == "closeness"
    np.testing.assert_allclose(close.to_numpy(), expected, atol=1e-12)


def test_topsis_two_benefit_criteria_hand_worked(topsis_matrix):
    # x, y equal weights: v_x = .3 .4 0 ; v_y = 1/6 1/3 1/3 ; A+ = (.4, 1/3), A- = (0, 1/6)
    # a: D+ = sqrt(.01 + 1/36) = .194365, D- = .3 -> .606839 ; b: 1 ; c: D+ = .4, D- = 1/6 -> 5/17
    close = topsis(topsis_matrix, {"x": 1, "y": 1})
    np.testing.assert_allclose(close.to_numpy(), [0.3 / (0.3 + math.sqrt(0.01 + 1 / 36)), 1.0, 5 / 17], atol=1e-12)


def test_topsis_zero_column_is_an_error(topsis_matrix):
    with pytest.raises(ParameterError, match=r"criteria 'zero' that are zero or missing for every account"):
        topsis(topsis_matrix.assign(zero=0.0), {"x": 1, "zero": 1})


def test_topsis_missing_value_uses_available_criteria(topsis_matrix):
    m = topsis_matrix.copy()
    m.loc["c", "y"] = np.nan
    close = topsis(m, {"x": 1, "y": 1})
    # c has only x (= the anti-ideal 0): D- = 0 on its available criterion -> closeness 0, coverage 0.5
    assert close["c"] == pytest.approx(0.0)
    assert score_coverage(m, {"x": 1, "y": 1})["c"] == pytest.approx(0.5)
    assert close.attrs["n_incomplete"] == 1


# ----------------------------------------------------------------------------------------- properties
def _matrix_strategy(min_rows=2, max_rows=10, n_cols=3, allow_nan=True):
    value = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
    cell = st.one_of(value, st.just(np.nan)) if allow_nan else value
    return st.lists(st.lists(cell, min_size=n_cols, max_size=n_cols), min_size=min_rows, max_size=max_rows)


def _frame(rows, n_cols=3):
    return pd.DataFrame(rows, columns=[f"c{j}" for j in range(n_cols)], index=[f"a{i}" for i in range(len(rows))])


def _varies(frame):
    return all(frame[c].dropna().nunique() >= 2 for c in frame.columns)


weights_st = st.lists(st.floats(0, 10, allow_nan=False), min_size=3, max_size=3).filter(lambda w: sum(w) > 0.01)
types_st = st.lists(st.sampled_from(["benefit", "cost"]), min_size=3, max_size=3)


@FAST
@given(rows=_matrix_strategy(), w=weights_st, types=types_st)
def test_property_scores_in_unit_interval(rows, w, types):
    m = _frame(rows)
    assume(_varies(m))
    weights = dict(zip(m.columns, w))
    ctypes = dict(zip(m.columns, types))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = weighted_sum(m, weights, criteria_types=ctypes)
        c = topsis(m, weights, criteria_types=ctypes)
    for series in (s, c):
        v = series.dropna().to_numpy()
        assert ((v >= 0) & (v <= 1)).all()
    cov = score_coverage(m, weights).to_numpy()
    assert ((cov >= 0) & (cov <= 1)).all()
    # accounts with no value get NaN, never a silent 0
    assert np.array_equal(np.isnan(s.to_numpy()), cov == 0)


@FAST
@given(rows=_matrix_strategy(allow_nan=False), w=weights_st, types=types_st,
       who=st.integers(0, 9), col=st.integers(0, 2), bump=st.floats(0.001, 1e3))
def test_property_raising_a_benefit_never_lowers_the_score(rows, w, types, who, col, bump):
    m = _frame(rows)
    assume(_varies(m))
    who = who % len(m)
    weights = dict(zip(m.columns, w))
    ctypes = dict(zip(m.columns, types))
    before = weighted_sum(m, weights, criteria_types=ctypes).iloc[who]
    m2 = m.copy()
    m2.iloc[who, col] += bump
    assume(_varies(m2))
    after = weighted_sum(m2, weights, criteria_types=ctypes).iloc[who]
    if ctypes[f"c{col}"] == "benefit":
        assert after >= before - 1e-12
    else:
        assert after <= before + 1e-12


@FAST
@given(rows=_matrix_strategy(), w=weights_st, factor=st.floats(0.01, 1000))
def test_property_weights_scale_invariant(rows, w, factor):
    m = _frame(rows)
    assume(_varies(m))
    w1 = dict(zip(m.columns, w))
    w2 = {k: v * factor for k, v in w1.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pd.testing.assert_series_equal(weighted_sum(m, w1), weighted_sum(m, w2), check_exact=False, rtol=1e-9)
        pd.testing.assert_series_equal(topsis(m, w1), topsis(m, w2), check_exact=False, rtol=1e-9)


@SLOW
@given(rows=_matrix_strategy(min_rows=1, max_rows=30, allow_nan=False), cap=st.integers(1, 40))
def test_property_cap_respected(rows, cap):
    m = _frame(rows)
    assume(_varies(m))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = select_key_accounts(m, {"c0": 1, "c1": 1, "c2": 1}, max_key_accounts=cap, revenue="c0")
    assert len(res.recommended) == min(cap, len(m))
    assert res.table["recommended"].sum() == len(res.recommended)
    assert res.table["rank"].is_monotonic_increasing


@FAST
@given(rows=st.lists(st.lists(st.integers(1, 5), min_size=3, max_size=3), min_size=2, max_size=12),
       w=weights_st)
def test_property_fixed_scale_has_no_rank_reversal(rows, w):
    m = _frame(rows).astype(float)
    check = rank_reversal_check(m, dict(zip(m.columns, w)), normalisation="fixed", scale=(1, 5))
    assert not check.order_changed
    assert check.dominated_rank == len(m) + 1


# ----------------------------------------------------------------------------------------- rank reversal
def test_rank_reversal_under_minmax_hand_worked():
    # A = (2, 0), B = (0, 1.5), C = (1, 2), equal weights, min-max:
    #   x range [0, 2]: A 1, B 0, C .5 ; y range [0, 2]: A 0, B .75, C 1 -> A .5, B .375, C .75: C > A > B
    # add D = (-10, -1), worse than the worst on both:
    #   x range [-10, 2] (12): A 1, B 10/12, C 11/12 ; y range [-1, 2] (3): A 1/3, B 2.5/3, C 1
    #   -> A .6667, B .8333, C .9583: C > B > A  (A and B swap: rank reversal)
    m = pd.DataFrame({"x": [2.0, 0.0, 1.0], "y": [0.0, 1.5, 2.0]}, index=["A", "B", "C"])
    w = {"x": 1, "y": 1}
    check = rank_reversal_check(m, w, dominated={"x": -10, "y": -1})
    assert check.order_changed and check.n_moved == 2
    assert check.ranks["rank_before"].to_dict() == {"A": 2, "B": 3, "C": 1}
    assert check.ranks["rank_after"].to_dict() == {"A": 3, "B": 2, "C": 1}
    np.testing.assert_allclose(check.ranks["score_after"].to_numpy(), [2 / 3, 5 / 6, 23 / 24])
    assert check.dominated_rank == 4
    # the same accounts on a fixed scale that holds D too: no reversal
    fixed = rank_reversal_check(m, w, dominated={"x": -10, "y": -1}, normalisation="fixed", scale=(-20, 10))
    assert not fixed.order_changed


def test_rank_reversal_rejects_a_non_dominated_account():
    m = pd.DataFrame({"x": [2.0, 0.0, 1.0], "y": [0.0, 1.5, 2.0]}, index=["A", "B", "C"])
    with pytest.raises(ParameterError, match=r"at least as bad as the worst account.*'y'"):
        rank_reversal_check(m, {"x": 1, "y": 1}, dominated={"x": -1, "y": 0.5})


# ----------------------------------------------------------------------------------------- robustness
def _random_matrix(n=60, seed=3):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"rev": rng.lognormal(10, 1, n), "pot": rng.lognormal(9, 1, n),
                         "fit": rng.integers(1, 6, n).astype(float), "cts": rng.lognormal(8, 0.5, n)},
                        index=[f"A{i:03d}" for i in range(n)])


ROB_W = {"rev": 0.4, "pot": 0.3, "fit": 0.2, "cts": 0.1}
ROB_KW = dict(criteria_types={"cts": "cost"}, normalisation={"fit": "fixed"})


def test_robustness_huge_concentration_reproduces_the_base_ranking():
    m = _random_matrix()
    rob = rank_robustness(m, ROB_W, k=10, n_draws=200, concentration=1e12, **ROB_KW)
    base = weighted_sum(m, ROB_W, **ROB_KW)
    # two routes to the base score
    np.testing.assert_allclose(rob["base_score"].to_numpy(), base.to_numpy(), rtol=1e-12)
    top = base.sort_values(ascending=False).index[:10]
    assert set(rob.index[rob["base_rank"] <= 10]) == set(top)
    np.testing.assert_allclose(rob.loc[top, "p_top_k"], 1.0)
    assert rob["p_top_k"].drop(top).eq(0).all()
    assert rob.attrs["p_topk_unchanged"] == 1.0
    # draws differ from the base weights by ~1e-6: at most a near-tied pair flips now and then
    assert rob.attrs["mean_kendall_tau"] == pytest.approx(1.0, abs=2e-3)
    assert rob.attrs["tau_method"] == "exact (all pairs)"
    np.testing.assert_allclose(rob["mean_rank"], rob["base_rank"], atol=0.05)


def test_robustness_uniform_weights_sanity():
    m = _random_matrix()
    # an account better than everyone on every criterion ranks first under any positive weights
    m.loc["BEST"] = [m["rev"].max() * 2, m["pot"].max() * 2, 5.0, m["cts"].min() / 2]
    rob = rank_robustness(m, ROB_W, k=5, n_draws=500, concentration=None, random_state=1, **ROB_KW)
    assert rob.loc["BEST", "p_rank1"] == 1.0 and rob.loc["BEST", "rank_ci_upper"] == 1
    assert rob["p_rank1"].sum() == pytest.approx(1.0)
    assert rob["p_top_k"].sum() == pytest.approx(5.0)
    assert (rob["rank_ci_lower"] <= rob["mean_rank"]).all() and (rob["mean_rank"] <= rob["rank_ci_upper"]).all()
    assert rob["mean_rank"].mean() == pytest.approx((len(m) + 1) / 2)
    assert 0 < rob.attrs["p_topk_unchanged"] < 1
    assert -1 <= rob.attrs["mean_kendall_tau"] < 1
    # spread narrows as the Dirichlet concentrates around the chosen weights
    tight = rank_robustness(m, ROB_W, k=5, n_draws=500, concentration=200, random_state=1, **ROB_KW)
    assert tight.attrs["mean_kendall_tau"] > rob.attrs["mean_kendall_tau"]
    assert tight.attrs["p_topk_unchanged"] >= rob.attrs["p_topk_unchanged"]


def test_robustness_is_reproducible_and_topsis_runs():
    m = _random_matrix(40)
    a = rank_robustness(m, ROB_W, k=5, n_draws=100, random_state=7, **ROB_KW)
    b = rank_robustness(m, ROB_W, k=5, n_draws=100, random_state=7, **ROB_KW)
    pd.testing.assert_frame_equal(a, b)
    t = rank_robustness(m, ROB_W, k=5, n_draws=100, concentration=1e9, method="topsis",
                        criteria_types={"cts": "cost"})
    close = topsis(m, ROB_W, criteria_types={"cts": "cost"})
    np.testing.assert_allclose(t["base_score"].to_numpy(), close.to_numpy(), rtol=1e-12)
    assert set(t.index[t["p_top_k"] == 1]) == set(close.nlargest(5).index)


def test_robustness_with_missing_values_matches_weighted_sum():
    m = _random_matrix(30)
    m.iloc[[2, 5], 2] = np.nan
    rob = rank_robustness(m, ROB_W, k=5, n_draws=50, concentration=1e9, **ROB_KW)
    np.testing.assert_allclose(rob["base_score"].to_numpy(), weighted_sum(m, ROB_W, **ROB_KW).to_numpy())
    assert rob.attrs["p_topk_unchanged"] == 1.0


def test_kendall_tau_exact_matches_scipy_with_ties():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 6, 40).astype(np.float32)  # many ties
    draws = np.vstack([base + rng.normal(0, s, 40) for s in (0.5, 2.0, 10.0)]).astype(np.float32)
    draws[0, :5] = draws[0, 0]  # ties in a draw too
    i, j, m_untied, exact = _tau_pairs(base, 10_000, np.random.default_rng(1))
    assert exact
    ours = _kendall_tau_b(draws, i, j, m_untied)
    ref = [stats.kendalltau(base, d).statistic for d in draws]  # tau-b
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_kendall_tau_sampled_pairs_close_to_exact():
    rng = np.random.default_rng(2)
    base = rng.normal(size=1000).astype(np.float32)
    draws = (base + rng.normal(0, 0.7, (4, 1000))).astype(np.float32)
    i, j, m_untied, exact = _tau_pairs(base, 10_000, rng)
    assert not exact and len(i) == 10_000 and (i != j).all()
    est = _kendall_tau_b(draws, i, j, m_untied)
    ref = np.array([stats.kendalltau(base, d).statistic for d in draws])
    # standard error about sqrt((1 - tau^2) / 10,000) < 0.01: allow 4 SE
    assert np.abs(est - ref).max() < 0.04




def _kendall_tau_b_reference(draws, i, j, m_untied):
    """The former one-shot formula of _kendall_tau_b (two d x pairs copies of the scores), kept as the reference."""
    a, b = draws[:, i], draws[:, j]
    gt, lt = a > b, a < b
    conc = np.count_nonzero(gt[:, :m_untied], axis=1)
    disc = np.count_nonzero(lt[:, :m_untied], axis=1)
    ns = conc + disc + np.count_nonzero(gt[:, m_untied:], axis=1) + np.count_nonzero(lt[:, m_untied:], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((ns > 0) & (m_untied > 0), (conc - disc) / np.sqrt(float(m_untied) * ns), np.nan)


def test_kendall_tau_hand_worked_pairs():
    # base prefers i over j in each pair; pairs (0,1), (0,2), (1,2) untied, (3,4) tied in the base (last).
    # draw [3, 2, 1, 5, 5]: C = 3 (all three untied pairs ordered like the base), D = 0; the base-tied pair is
    # tied in the draw too, so n_s = 3 and tau_b = (3 - 0) / sqrt(3 * 3) = 1.
    # draw [1, 2, 3, 5, 4]: C = 0, D = 3; the base-tied pair is untied in the draw, n_s = 4:
    # tau_b = -3 / sqrt(3 * 4) = -0.8660...
    # draw [2, nan, 1, 0, 1]: pair (0,2) concordant, pairs with the NaN count as neither; (3,4) untied:
    # C = 1, D = 0, n_s = 2, tau_b = 1 / sqrt(3 * 2) = 0.4082...
    draws = np.array([[3, 2, 1, 5, 5], [1, 2, 3, 5, 4], [2, np.nan, 1, 0, 1]], dtype=np.float32)
    i, j = np.array([0, 0, 1, 3]), np.array([1, 2, 2, 4])
    np.testing.assert_allclose(_kendall_tau_b(draws, i, j, 3), [1.0, -3 / math.sqrt(12), 1 / math.sqrt(6)])


@pytest.mark.parametrize("n, d, pairs", [(200, 130, 10_000), (200, 7, 10_000), (30, 300, 10_000), (5, 9, 3)])
def test_kendall_tau_blocked_equals_one_shot_formula(n, d, pairs):
    # (200, 130, 10,000): 10,000 sampled pairs -> blocks of 52 draws, the last one partial
    rng = np.random.default_rng(n + d)
    base = rng.integers(0, 8, n).astype(np.float32)  # ties in the base
    draws = rng.integers(0, 6, (d, n)).astype(np.float32)  # many ties in the draws
    draws[0, 0] = np.nan
    i, j, m_untied, _ = _tau_pairs(base, pairs, np.random.default_rng(1))
    ours = _kendall_tau_b(draws, i, j, m_untied)
    ref = _kendall_tau_b_reference(draws, i, j, m_untied)
    assert ours.dtype == ref.dtype and ours.shape == (d,)
    np.testing.assert_array_equal(ours, ref)
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(k=0), r"'k' parameter of rank_robustness must be an integer between 1 and the number of accounts \(60\)"),
        (dict(k=5, concentration=-1), r"'concentration' parameter.*positive number or None"),
        (dict(k=5, n_draws=0), r"'n_draws' parameter of rank_robustness must be a positive integer"),
        (dict(k=5, method="ahp"), r"'method' parameter of rank_robustness must be 'wsm' or 'topsis'\. Got 'ahp'"),
    ],
)
def test_robustness_errors(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        rank_robustness(_random_matrix(), ROB_W, **kwargs)


# ----------------------------------------------------------------------------------------- weight sweep
def test_weight_sweep_switch_points_hand_worked():
    # a = (1, 0), b = (0, 1) (already min-max normalised); base weights x .6, y .4, top 1:
    # sweeping x to t: a = t, b = 1 - t -> b overtakes a below t = .5 (at .5 the tie keeps a, first in table)
    # sweeping y to t: a = 1 - t, b = t -> b overtakes above t = .5
    m = pd.DataFrame({"x": [1.0, 0.0], "y": [0.0, 1.0]}, index=["a", "b"])
    sweep = weight_sweep(m, {"x": 0.6, "y": 0.4}, k=1)
    sw = sweep.switches
    assert sw.loc["x", "weight_down"] == pytest.approx(0.49) and np.isnan(sw.loc["x", "weight_up"])
    assert sw.loc["y", "weight_up"] == pytest.approx(0.51) and np.isnan(sw.loc["y", "weight_down"])
    assert sw.loc["x", "base_weight"] == pytest.approx(0.6)
    g = sweep.grid[sweep.grid["criterion"] == "x"]
    assert g.loc[g["weight"] < 0.5, "changed"].all() and not g.loc[g["weight"] >= 0.5, "changed"].any()
    with pytest.raises(ParameterError, match=r"'criterion' parameter of weight_sweep must be one of"):
        weight_sweep(m, {"x": 0.6, "y": 0.4}, k=1, criterion="z")


# ----------------------------------------------------------------------------------------- selection
@pytest.fixture
def crit_table():
    idx = pd.Index(["a", "b", "c", "d", "e"], name="account_id")
    return pd.DataFrame({
        "account_manager": ["Ann", "Ann", "Bob", "Bob", "Bob"],
        "is_key_account": [True, False, True, False, False],
        "current_revenue": [1000.0, 500.0, 100.0, 50.0, 10.0],
        "gross_margin_value": [300.0, 200.0, 20.0, 30.0, 2.0],
        "revenue_potential": [100.0, 900.0, 0.0, 400.0, 10.0],
        "product_fit": [5.0, 4.0, 2.0, 3.0, 1.0],
    }, index=idx)


def test_select_key_accounts_hand_worked(crit_table):
    # weights revenue .5, potential .5 (both min-max):
    #   revenue: (x - 10)/990 -> a 1, b .4949, c .0909, d .0404, e 0
    #   potential: x/900      -> a .1111, b 1, c 0, d .4444, e .0111
    #   score = mean -> a .5556, b .7475, c .0455, d .2424, e .0056 -> order b, a, d, c, e
    w = {"current_revenue": 1, "revenue_potential": 1}
    res = select_key_accounts(crit_table, w, max_key_accounts=2, capacity_per_manager=1, normalisation="minmax")
    assert list(res.recommended) == ["b", "a"]
    assert res.table.loc[["b", "a", "d", "c", "e"], "rank"].tolist() == [1, 2, 3, 4, 5]
    assert res.table.loc["a", "score"] == pytest.approx((1 + 100 / 900) / 2)
    # margin share: (300 + 200) / 552 ; revenue share 1500 / 1660
    assert res.margin_share == pytest.approx(500 / 552)
    assert res.revenue_share == pytest.approx(1500 / 1660)
    # current list {a, c}: a stays, b joins, c leaves -> 2 changes
    assert res.table["status"].dropna().to_dict() == {"b": "join", "a": "stay", "c": "leave"}
    assert res.headline == "2 key accounts recommended, covering 91 % of margin; 2 changes to the current list"
    # protect = revenue at/above the 80th percentile of all accounts (quantile of 1000, 500, 100, 50, 10 = 600)
    assert res.settings["protect_threshold"] == pytest.approx(600.0)
    assert res.table.loc["a", "kind"] == "protect" and res.table.loc["b", "kind"] == "grow"
    # Ann carries both recommended accounts against a capacity of 1
    assert bool(res.managers.loc["Ann", "over_capacity"]) and res.managers.loc["Ann", "n_key_accounts"] == 2
    # reasons: b joins on potential (vs d, the best account left out: (1 - .4444) * .5 = +0.28)
    assert res.table.loc["b", "reason"].startswith("Revenue potential (+0.28)")
    # c leaves: against a (the last account in the set) its largest shortfall is revenue:
    # (.0909 - 1) * .5 = -0.45, then potential (0 - .1111) * .5 = -0.06
    assert res.table.loc["c", "reason"] == "Revenue, last 12 months (-0.45), Revenue potential (-0.06)"
    s = res.summary()
    assert list(s.columns) == ["term", "estimate", "std_err", "ci_lower", "ci_upper"]
    assert s.set_index("term").loc["n_join", "estimate"] == 1


def test_select_current_list_as_ids_and_eligibility(crit_table):
    w = {"current_revenue": 1, "revenue_potential": 1}
    with pytest.warns(UserWarning, match="1 accounts of the 'current' list are not in the criteria table"):
        res = select_key_accounts(crit_table, w, max_key_accounts=2, current=["b", "a", "zz"])
    assert res.headline.endswith("0 changes to the current list")
    res = select_key_accounts(crit_table, w, max_key_accounts=2, eligible=["a", "c", "d", "e"])
    assert list(res.recommended) == ["a", "d"]


def test_select_growth_share_keeps_slots_for_grow_accounts(crit_table):
    w = {"current_revenue": 1}
    plain = select_key_accounts(crit_table, w, max_key_accounts=2, protect_quantile=0.5)
    # revenue only: a, b; 50th percentile is 100 -> a, b, c large: both recommended are 'protect'
    assert plain.table.loc[list(plain.recommended), "kind"].tolist() == ["protect", "protect"]
    grown = select_key_accounts(crit_table, w, max_key_accounts=2, protect_quantile=0.5, growth_share=0.5)
    kinds = grown.table.loc[list(grown.recommended), "kind"]
    assert (kinds == "grow").sum() >= 1 and len(grown.recommended) == 2
    assert set(grown.recommended) == {"a", "d"}  # b (lowest protect) gives its slot to d (best grow)


def test_select_warns_above_50_and_validates(crit_table):
    w = {"current_revenue": 1}
    with pytest.warns(UserWarning, match=r"above 50; McDonald & Woodburn advise 15–35"):
        select_key_accounts(crit_table, w, max_key_accounts=60)
    with pytest.raises(ParameterError, match=r"'max_key_accounts' parameter of select_key_accounts must be a positive"):
        select_key_accounts(crit_table, w, max_key_accounts=0)
    with pytest.raises(ParameterError, match=r"'method' parameter of select_key_accounts must be 'wsm' or 'topsis'"):
        select_key_accounts(crit_table, w, method="electre")


def test_select_default_weights_and_topsis(crit_table):
    # default weights restricted to the criteria present; TOPSIS uses the same machinery
    res = select_key_accounts(crit_table, max_key_accounts=2)
    assert set(res.weights.index) == {"current_revenue", "revenue_potential", "product_fit"}
    assert res.weights.sum() == pytest.approx(1.0)
    top = select_key_accounts(crit_table, {"current_revenue": 1, "revenue_potential": 1}, method="topsis",
                              max_key_accounts=2)
    close = topsis(crit_table, {"current_revenue": 1, "revenue_potential": 1})
    assert list(top.recommended) == list(close.nlargest(2).index)


def test_criteria_metadata_is_consistent():
    meta = criteria_metadata()
    assert set(meta["type"]) <= {"benefit", "cost"} and set(meta["kind"]) <= {"rubric", "continuous"}
    assert meta.loc["cost_to_serve", "type"] == "cost"
    assert set(DEFAULT_WEIGHTS) <= set(CRITERIA)
    assert sum(DEFAULT_WEIGHTS.values()) == pytest.approx(1.0)
    assert all((CRITERIA[c].scale is not None) == (CRITERIA[c].kind == "rubric") for c in CRITERIA)


# ----------------------------------------------------------------------------------------- portfolio views
def test_portfolio_matrix_quadrants():
    m = pd.DataFrame({"attr": [0.0, 10.0, 0.0, 10.0, 5.0], "strength": [0.0, 0.0, 10.0, 10.0, 5.0],
                      "current_revenue": [1.0, 2.0, 3.0, 4.0, 10.0]}, index=list("pqrst"))
    view = portfolio_matrix(m, attractiveness_weights={"attr": 1}, strength_weights={"strength": 1})
    # min-max scores: p (0, 0) q (1, 0) r (0, 1) s (1, 1) t (.5, .5): at the cut counts as high
    assert view.table["quadrant"].to_dict() == {"p": "Streamline", "q": "Star", "r": "Status", "s": "Strategic",
                                                "t": "Strategic"}
    assert view.table.loc["q", "posture"].startswith("Invest selectively")
    assert view.counts.loc["strategic", "n_accounts"] == 2
    assert view.counts["size_share"].sum() == pytest.approx(1.0)
    assert view.counts.loc["strategic", "size_share"] == pytest.approx(14 / 20)
    relabelled = portfolio_matrix(m, attractiveness_weights={"attr": 1}, strength_weights={"strength": 1},
                                  cutoffs=(0.6, 0.6), labels={"strategic": "Key"})
    assert relabelled.table.loc["t", "quadrant"] == "Streamline" and relabelled.table.loc["s", "quadrant"] == "Key"
    with pytest.raises(ParameterError, match=r"'labels' parameter of portfolio_matrix must have keys among"):
        portfolio_matrix(m, attractiveness_weights={"attr": 1}, strength_weights={"strength": 1},
                         labels={"gold": "x"})
    with pytest.raises(ParameterError,
                       match=r"'cutoffs' parameter of portfolio_matrix must be a pair of numbers in \[0, 1\]"):
        portfolio_matrix(m, attractiveness_weights={"attr": 1}, strength_weights={"strength": 1}, cutoffs=(2, 0.5))


def test_shapiro_matrix_quadrants():
    m = pd.DataFrame({"net_price": [0.5, 0.5, 0.1, 0.1, np.nan], "cost_to_serve": [1.0, 9.0, 1.0, 9.0, 5.0]},
                     index=list("pqrsu"))
    view = shapiro_matrix(m, cutoffs=(5.0, 0.3))
    # p high price / low cost, q high / high, r low / low, s low price / high cost; at the cut counts as high
    assert view.table["quadrant"].iloc[:4].tolist() == ["Passive", "Carriage trade", "Bargain basement", "Aggressive"]
    assert pd.isna(view.table.loc["u", "quadrant"])
    assert view.settings["price"] == "net_price"


def test_abc_classes_hand_worked():
    # 50, 30, 10, 5, 5 of 100: share before each: 0, .5, .8, .9, .95 -> A A B B C (80/95)
    # shuffled, with a tie (e and b, both 5): sorted d 50, a 30, c 10, e 5, b 5 (ties keep table order)
    v = pd.Series([5.0, 50.0, 10.0, 30.0, 5.0], index=list("edcab"))
    assert abc_classes(v).to_dict() == {"e": "B", "d": "A", "c": "B", "a": "A", "b": "C"}
    out = abc_classes(pd.Series([50.0, 30.0, 10.0, 5.0, 5.0], index=list("abcde")))
    assert out.tolist() == ["A", "A", "B", "B", "C"] and out.name == "abc_class"
    # one account above the first cut-off is class A alone; zero / negative values are class C; NaN stays NaN
    out = abc_classes([90.0, 5.0, 3.0, 2.0, 0.0, -4.0, np.nan])
    assert out.iloc[:6].tolist() == ["A", "B", "C", "C", "C", "C"] and pd.isna(out.iloc[6])
    # cut-offs are parameters: 70/90
    assert abc_classes([50.0, 30.0, 10.0, 5.0, 5.0], cutoffs=(0.7, 0.9)).tolist() == ["A", "A", "B", "C", "C"]
    with pytest.raises(ParameterError, match=r"'cutoffs' parameter of abc_classes must be increasing shares"):
        abc_classes([1.0, 2.0], cutoffs=(0.9, 0.8))


def test_gini_hand_worked_and_bounds():
    # x = 1..5: sum (2i - n - 1) x_i = -4 - 4 + 0 + 8 + 20 = 20; n sum x = 75 -> 4/15
    assert gini([1, 2, 3, 4, 5]) == pytest.approx(4 / 15)
    assert gini([7, 7, 7, 7]) == pytest.approx(0.0)
    assert gini([0, 0, 0, 8]) == pytest.approx(3 / 4)  # one holds all: (n - 1)/n
    assert gini([3, 1, 2]) == pytest.approx(gini([1, 2, 3]))  # order-free
    assert gini([2, 4, 6]) == pytest.approx(gini([1, 2, 3]))  # scale-free


def test_gini_known_distributions():
    rng = np.random.default_rng(12)
    n = 200_000
    assert gini(rng.uniform(0, 1, n)) == pytest.approx(1 / 3, abs=0.005)  # uniform: 1/3
    assert gini(rng.exponential(1.0, n)) == pytest.approx(0.5, abs=0.005)  # exponential: 1/2
    alpha = 3.0  # Pareto (Lomax + 1): G = 1 / (2 alpha - 1) = 0.2
    assert gini(rng.pareto(alpha, n) + 1) == pytest.approx(1 / (2 * alpha - 1), abs=0.01)


def test_lorenz_curve_and_gini_agree():
    rng = np.random.default_rng(5)
    v = rng.lognormal(0, 1.2, 500)
    lc = lorenz_curve(v)
    assert list(lc.columns) == ["account_share", "value_share"] and len(lc) == 501
    assert lc.iloc[0].tolist() == [0.0, 0.0] and lc.iloc[-1].tolist() == pytest.approx([1.0, 1.0])
    assert (lc["value_share"] <= lc["account_share"] + 1e-12).all()  # below the diagonal
    area = np.trapezoid(lc["value_share"], lc["account_share"])
    assert gini(v) == pytest.approx(1 - 2 * area, abs=1e-12)  # two routes
    with pytest.warns(UserWarning, match="1 negative values"):
        lorenz_curve([1.0, -2.0, 3.0])
    with pytest.raises(ParameterError, match="at least one positive value"):
        gini([0.0, 0.0])


# ----------------------------------------------------------------------------------------- KAM fit
def _panel(revenue_by_account: dict, active_months: dict | None = None, margin_rate=0.3, months=12,
           start="2024-01-01"):
    periods = pd.date_range(start, periods=months, freq="MS")
    rows = []
    for acc, yearly in revenue_by_account.items():
        act = (active_months or {}).get(acc, months)
        per = np.zeros(months)
        per[:act] = yearly / act
        rows.append(pd.DataFrame({"account_id": acc, "period": periods, "revenue": per,
                                  "gross_margin": per * margin_rate, "active": per > 0}))
    return pd.concat(rows, ignore_index=True)


def test_kam_fit_diagnostic_concentrated_repeat_business():
    # shares .6 .2 .1 .05 .05 -> HHI = .36 + .04 + .01 + .0025 + .0025 = .415 (4,150 on 0–10,000)
    panel = _panel({"A": 60.0, "B": 20.0, "C": 10.0, "D": 5.0, "E": 5.0})
    accounts = pd.DataFrame({"account_id": ["A", "B"], "wallet_estimate": [100.0, 50.0]})
    d = kam_fit_diagnostic(panel, accounts)
    assert d.value("hhi") == pytest.approx(0.415)
    assert d.value("hhi_10000") == pytest.approx(4150)
    assert d.value("top10_share") == pytest.approx(1.0)
    assert d.value("top20pct_share") == pytest.approx(0.6)  # top 20 % of 5 accounts = 1 account
    assert d.value("repeat_revenue_share") == pytest.approx(1.0)
    assert d.value("largest_account_share") == pytest.approx(0.6)
    assert d.value("largest_account_margin_share") == pytest.approx(0.6)
    # large accounts (A): wallet 100 - revenue 60 = 40 headroom, 40 % of wallet
    assert d.value("large_headroom_value") == pytest.approx(40.0)
    assert d.value("large_headroom_share") == pytest.approx(0.4)
    assert not d.against and "support" in d.verdict
    assert any("Dependency risk" in s for s in d.signals)


def test_kam_fit_diagnostic_argues_against_many_small_transactional_accounts():
    ids = [f"S{i:03d}" for i in range(100)]
    panel = _panel({a: 12.0 for a in ids}, active_months={a: 2 for a in ids})
    d = kam_fit_diagnostic(panel)
    assert d.value("top20pct_share") == pytest.approx(0.2)
    assert d.value("repeat_revenue_share") == pytest.approx(0.0)
    assert d.value("effective_accounts") == pytest.approx(100)
    assert d.against and d.verdict.startswith("The data argue against a KAM programme")
    assert np.isnan(d.value("large_headroom_value"))
    with pytest.raises(ParameterError, match=r"'most_periods' parameter of kam_fit_diagnostic must be a share"):
        kam_fit_diagnostic(panel, most_periods=2)


# ----------------------------------------------------------------------------------------- criteria table
def _hand_panel():
    # 24 months 2023-01 .. 2024-12; as_of 2024-12: current year 2024, previous year 2023
    periods = pd.date_range("2023-01-01", periods=24, freq="MS")
    prev, cur = periods < "2024-01-01", periods >= "2024-01-01"
    rev = {"X": np.full(24, 10.0),                              # 120 then 120
           "Y": np.where(prev, 5.0, 10.0),                      # 60 then 120
           "Z": np.where(prev, 2.0, 0.0)}                       # 24 then 0 (lost)
    rows = [pd.DataFrame({"account_id": a, "period": periods, "revenue": r, "gross_margin": r * 0.3,
                          "active": r > 0}) for a, r in rev.items()]
    return pd.concat(rows, ignore_index=True), cur


def test_account_criteria_hand_worked():
    panel, _ = _hand_panel()
    accounts = pd.DataFrame({
        "account_id": ["X", "Y", "Z", "W"], "account_name": ["Xco", "Yco", "Zco", "Wco"],
        "wallet_estimate": [200.0, np.nan, 50.0, 80.0], "renewal_likelihood": [0.9, np.nan, 0.5, np.nan],
        "cost_to_serve": [12.0, 6.0, 1.0, 2.0], "product_fit": [5.0, np.nan, 2.0, 3.0],
        "kam_start": pd.to_datetime(["2024-03-01", None, None, "2030-01-01"]),
    })
    crit = account_criteria(SimpleNamespace(tables={"accounts": accounts}), panel, discount_rate=0.10)
    assert list(crit.index) == ["X", "Y", "Z", "W"]  # W never bought: kept, revenue 0
    assert crit["current_revenue"].tolist() == [120.0, 120.0, 0.0, 0.0]
    np.testing.assert_allclose(crit["revenue_growth"].to_numpy(), [0.0, 1.0, -1.0, np.nan])
    np.testing.assert_allclose(crit["revenue_potential"].to_numpy(), [80.0, np.nan, 50.0, 80.0])
    np.testing.assert_allclose(crit["share_of_wallet"].to_numpy(), [0.6, np.nan, 0.0, 0.0])
    np.testing.assert_allclose(crit["gross_margin_value"].to_numpy(), [36.0, 36.0, 0.0, 0.0])
    np.testing.assert_allclose(crit["gross_margin_rate"].to_numpy(), [0.3, 0.3, np.nan, np.nan])
    np.testing.assert_allclose(crit["cost_to_serve_rate"].to_numpy(), [0.1, 0.05, np.nan, np.nan])
    # portfolio retention: active in 2023 {X, Y, Z}, still active in 2024 {X, Y} -> 2/3
    assert crit.attrs["portfolio_retention"] == pytest.approx(2 / 3)
    # lifetime value m r / (1 + d - r): X uses its renewal .9 -> 36 * .9 / .2 = 162;
    # Y has none -> 2/3: 36 * (2/3) / (1.1 - 2/3) = 55.3846; Z margin 0 -> 0
    np.testing.assert_allclose(crit["lifetime_value"].to_numpy()[:3], [162.0, 24 / (1.1 - 2 / 3), 0.0])
    assert crit["is_key_account"].tolist() == [True, False, False, False]  # from kam_start <= as_of
    assert np.isnan(crit.loc["Y", "product_fit"]) and crit.loc["X", "product_fit"] == 5.0
    assert crit.attrs["as_of"] == pd.Timestamp("2024-12-01")


def test_account_criteria_ledger_only_and_short_panel():
    panel, cur = _hand_panel()
    crit = account_criteria(None, panel)
    assert crit[["product_fit", "logo_appeal", "revenue_potential", "cost_to_serve"]].isna().all().all()
    assert crit["current_revenue"].tolist() == [120.0, 120.0, 0.0]
    short = panel[panel["period"] >= "2024-01-01"]
    with pytest.warns(UserWarning, match="revenue_growth is missing for every account"):
        crit = account_criteria(pd.DataFrame({"account_id": ["X"]}), short)
    assert crit["revenue_growth"].isna().all()
    with pytest.raises(ParameterError, match=r"'panel' parameter of account_criteria must have the columns"):
        account_criteria(None, panel.drop(columns="revenue"))


# ----------------------------------------------------------------------------------------- synthetic world
def _world_criteria(seed):
    sample = pytest.importorskip("kamtools.sample")
    panel_mod = pytest.importorskip("kamtools.panel")
    world = sample.generate_world(seed=seed)
    panel = panel_mod.build_panel(world)
    crit = account_criteria(world, panel)
    return world, panel, crit


@pytest.fixture(scope="module")
def world0():
    return _world_criteria(0)


def test_criteria_table_agrees_with_the_ledger(world0):
    world, _, crit = world0
    # two routes: revenue of the trailing 12 months from the criteria table and from the raw ledger
    tx = world.transactions
    as_of = crit.attrs["as_of"]
    window = (tx["date"] >= as_of - pd.DateOffset(months=11)) & (tx["date"] < as_of + pd.DateOffset(months=1))
    ledger = tx.loc[window].groupby(tx["account_id"].astype("string"))["revenue"].sum()
    np.testing.assert_allclose(crit["current_revenue"].reindex(ledger.index).to_numpy(), ledger.to_numpy(),
                               rtol=1e-9)
    assert set(crit.index[crit["is_key_account"]]) == set(world.truth.kam_accounts)


# Recovery of the world's truly high-potential accounts (truth.high_potential: the top 7.5 % of established
# accounts on potential = 3 x wallet x margin rate x exp(0.35 fit), 30 of 400; some of them have churned).
# The cap equals the size of the true set. Measured with the default weights and the 12-month candidate pool:
#   seed 0: defaults 20 of 30, revenue alone 22 (27 of the 30 are still buying);
#   seeds 0-4: defaults 20, 22, 18, 20, 20 (mean 20.0); revenue alone 22, 16, 19, 16, 14 (mean 17.4);
#   over seeds 0-19 (not run here): defaults 19.85, revenue alone 18.75, the earlier defaults (min-max) 16.35.
# Chance would be 30 x 30 / 320 = 2.8. The truth is one criterion (wallet margin) while the defaults also weigh
# growth, margin rate, cost to serve and lifetime value, which the world makes (nearly) independent of it: they
# cost some recovery by design, so the claim pinned is "at least revenue alone, on average", not "always".
def test_recovery_of_true_high_potential_accounts_on_the_sample_world(world0):
    world, panel, crit = world0
    truth = set(world.truth.high_potential)
    cap = len(truth)
    pool = eligible_accounts(panel, months=12, index=crit.index)
    res = select_key_accounts(crit, max_key_accounts=cap, eligible=pool)
    assert res.table.loc[res.recommended, "current_revenue"].gt(0).all()  # no lapsed account recommended
    assert len(truth & set(res.recommended)) >= 18, len(truth & set(res.recommended))  # 20 observed
    revenue_only = select_key_accounts(crit, {"current_revenue": 1}, max_key_accounts=cap, eligible=pool)
    assert len(truth & set(revenue_only.recommended)) >= 19  # 22 observed
    pm = portfolio_matrix(crit[pool], cutoffs="median")
    assert pm.counts["n_accounts"].sum() == pm.table["quadrant"].notna().sum()


def test_recovery_over_seeds_defaults_at_least_revenue_alone():
    found = {"default": [], "revenue": []}
    for seed in range(5):  # five worlds, about a second
        world, panel, crit = _world_criteria(seed)
        truth = set(world.truth.high_potential)
        pool = eligible_accounts(panel, index=crit.index)
        for name, w in (("default", None), ("revenue", {"current_revenue": 1})):
            res = select_key_accounts(crit, w, max_key_accounts=len(truth), eligible=pool)
            found[name].append(len(truth & set(res.recommended)))
    mean_default, mean_revenue = np.mean(found["default"]), np.mean(found["revenue"])
    assert mean_default >= 18, found  # 20.0 observed
    assert mean_default >= mean_revenue, found  # 20.0 against 17.4 observed


def test_lapsed_accounts_are_not_candidates(world0):
    _, panel, crit = world0
    pool = eligible_accounts(panel, months=12, index=crit.index)
    lapsed = crit.index[crit["current_revenue"] <= 0]
    assert not pool[lapsed].any() and pool.sum() == (crit["current_revenue"] > 0).sum()
    # without the rule a lapsed account with a large wallet is recommended (the reason for the rule) ...
    with pytest.warns(UserWarning, match="accounts have no value on any weighted criterion"):  # no wallet
        anyone = select_key_accounts(crit, {"revenue_potential": 1}, max_key_accounts=25)
    assert anyone.table.loc[anyone.recommended, "current_revenue"].le(0).any()
    # ... with it, none is; lapsed accounts on the current list leave with the reason
    with pytest.warns(UserWarning, match="accounts have no value on any weighted criterion"):
        res = select_key_accounts(crit, {"revenue_potential": 1}, max_key_accounts=25, eligible=pool)
    assert res.table.loc[res.recommended, "current_revenue"].gt(0).all()
    gone = res.table[res.table["is_key_account"] & ~res.table["eligible"]]
    assert (gone["status"] == "leave").all() and (gone["reason"] == "not eligible (outside the candidate pool)").all()
    assert gone["score"].isna().all() and (gone["rank"] > pool.sum()).all()


def test_ledger_only_dataset_redistributes_weights_and_reports_coverage(tmp_path):
    # a client with only a ledger: no accounts table, so every judgement score and the wallet are missing
    from kamtools.config import load_config
    from kamtools.io import load_dataset
    from kamtools.panel import build_panel

    ledger = ROOT / "data" / "sample" / "transactions.csv"
    if not ledger.exists():
        pytest.skip("sample ledger not written (kam sample --out data/sample)")
    cfg = tmp_path / "ledger.yaml"
    cfg.write_text(f"client: Ledger only\ncurrency: EUR\nperiod: M\ndata:\n  transactions: {ledger}\n")
    config = load_config(cfg)
    dataset = load_dataset(config)
    panel = build_panel(dataset, freq=config.period)
    crit = account_criteria(dataset, panel, config)
    judgement = ["product_fit", "strategic_value", "relationship_strength", "renewal_likelihood", "logo_appeal",
                 "revenue_potential", "cost_to_serve_rate"]
    assert crit[judgement].isna().all().all()
    pool = eligible_accounts(panel, index=crit.index)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the stated rule applies quietly: no warning per criterion
        res = select_key_accounts(crit, max_key_accounts=25, eligible=pool)
    # of the default weights only revenue .10, growth .05, lifetime value .20 and margin rate .05 have data:
    # 0.40 of the weight; they act as .25, .125, .5, .125
    used = {"current_revenue": 0.25, "revenue_growth": 0.125, "lifetime_value": 0.5, "gross_margin_rate": 0.125}
    assert res.settings["weights_used"] == pytest.approx(used)
    assert set(res.settings["criteria_without_values"]) == {"revenue_potential", "strategic_value", "product_fit",
                                                            "cost_to_serve_rate", "logo_appeal"}
    scored = res.table[res.table["score"].notna()]
    full = scored[["current_revenue", "revenue_growth", "lifetime_value", "gross_margin_rate"]].notna().all(axis=1)
    np.testing.assert_allclose(scored.loc[full, "coverage"], 0.40)
    assert (scored.loc[~full, "coverage"] < 0.40).all()
    # two routes: the same ranking as selecting with the usable weights alone
    direct = select_key_accounts(crit, used, max_key_accounts=25, eligible=pool)
    np.testing.assert_allclose(res.table["score"].to_numpy(), direct.table["score"].reindex(res.table.index),
                               equal_nan=True)
    assert list(res.recommended) == list(direct.recommended)
    overview = criteria_overview(crit, eligible=pool)
    assert overview.loc["strategic_value", "value_rate"] == 0 and overview.loc["strategic_value", "weight_used"] == 0
    assert overview.loc["lifetime_value", "weight_used"] == pytest.approx(0.5)
    assert "not eligible" not in " ".join(res.table["reason"].dropna())  # no current list: no changes
    assert res.headline == "25 key accounts recommended, covering 42 % of margin"
    # the notebook's other steps run and say what is missing instead of failing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pm = portfolio_matrix(crit[pool])
        sh = shapiro_matrix(crit[pool])
        rob = selection_robustness(res, n_draws=50)
        rr = rank_reversal_summary(res)
    assert not pm.available and pm.settings["note"].startswith("strength not available: provide accounts with")
    assert not sh.available and sh.settings["note"] == "not available: provide accounts with cost_to_serve"
    assert set(rob.settings["weights"]) == set(used)
    assert "weighted sum, rubrics only (fixed scale)" not in rr.index


def test_criterion_without_variation_is_scored_without_and_said_so(crit_table):
    # a small ledger where no account bought twice: the book's retention is 0, so the retention-based
    # lifetime value m·0/(1+d-0) is 0 for every account. weighted_sum refuses such a criterion (the
    # contract when called directly); the selection leaves it out by the stated rule instead, as it does
    # for a criterion without values, and redistributes its weight.
    m = crit_table.assign(lifetime_value=0.0, logo_appeal=3.0)
    w = {"current_revenue": 1, "revenue_potential": 1, "lifetime_value": 2, "logo_appeal": 1}
    with pytest.raises(ValueError, match=r"no variation in 'lifetime_value' \(all 0\)"):
        weighted_sum(m, {"current_revenue": 1, "lifetime_value": 1}, normalisation="rank")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = select_key_accounts(m, w, max_key_accounts=2)
    # lifetime value (2 of 5) is dropped; logo appeal is a rubric on its fixed scale: a constant 3 is
    # (3 - 1)/4 = 0.5 for everyone and stays. Weights that act: revenue, potential, logo 1/3 each.
    assert res.settings["criteria_without_variation"] == {"lifetime_value": 0.0}
    assert res.settings["weights_used"] == pytest.approx({"current_revenue": 1 / 3, "revenue_potential": 1 / 3,
                                                          "logo_appeal": 1 / 3})
    assert res.settings["notes"] == ["lifetime_value: the same value (0) for every candidate with a value, so "
                                     "it cannot rank them; weight redistributed over the other criteria"]
    # two routes: the same scores as selecting with the other criteria alone
    direct = select_key_accounts(m, {"current_revenue": 1, "revenue_potential": 1, "logo_appeal": 1},
                                 max_key_accounts=2)
    pd.testing.assert_series_equal(res.table["score"], direct.table["score"])
    # rank: revenue a 1, b .75, c .5, d .25, e 0; potential b 1, d .75, a .5, e .25, c 0; logo .5
    assert res.table.loc["a", "score"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert list(res.recommended) == ["b", "a"]  # b (.75 + 1 + .5)/3 = .75, a .667
    assert "lifetime_value" not in res.scoring_inputs()["weights"]  # robustness draws only what acts
    # TOPSIS: a constant puts everyone at the ideal and the anti-ideal alike; dropped the same way
    top = select_key_accounts(m, w, max_key_accounts=2, method="topsis")
    assert set(top.settings["criteria_without_variation"]) == {"lifetime_value", "logo_appeal"}
    # the criteria table says why the weight does not act
    ov = criteria_overview(m, w)
    assert ov.loc["lifetime_value", "weight_used"] == 0 and ov.loc["lifetime_value", "value_rate"] == 1
    assert ov.loc["lifetime_value", "note"] == ("the same value (0) for every candidate: cannot rank them, "
                                                "weight redistributed")
    assert ov.loc["logo_appeal", "note"] == "" and ov.loc["current_revenue", "weight_used"] == pytest.approx(1 / 3)
    # nothing left that varies: an error that names the criteria
    with pytest.raises(ParameterError, match=r"'criteria' parameter of select_key_accounts must vary across the "
                                             r"candidate pool.*no variation in 'lifetime_value' \(all 0\)"):
        select_key_accounts(m, {"lifetime_value": 1})


def test_portfolio_matrix_leaves_out_a_criterion_without_variation(crit_table):
    m = crit_table.assign(revenue_growth=0.0, relationship_strength=np.nan)
    pm = portfolio_matrix(m, attractiveness_weights={"current_revenue": 1, "revenue_growth": 1},
                          strength_weights={"product_fit": 1})
    assert pm.settings["dropped"]["attractiveness"] == ["revenue_growth"]
    # attractiveness is the percentile rank of revenue alone: a 1, b .75, c .5, d .25, e 0
    np.testing.assert_allclose(pm.table["attractiveness_score"], [1.0, 0.75, 0.5, 0.25, 0.0])
    np.testing.assert_allclose(pm.table["attractiveness_coverage"], 0.5)  # against the axis weights as set
    flat = portfolio_matrix(m, attractiveness_weights={"revenue_growth": 1}, strength_weights={"product_fit": 1})
    assert flat.settings["note"] == "attractiveness not available: no criterion of it varies across the accounts " \
                                    "(revenue_growth)"


def test_plot_abc_with_missing_values():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # a margin missing for some accounts (cost unknown): no class for them, the curve counts them as 0
    values = pd.Series([50.0, np.nan, 30.0, 20.0], index=list("abcd"))
    assert abc_classes(values).isna().tolist() == [False, True, False, False]
    fig, ax = plt.subplots()
    try:
        assert plot_abc(values, ax=ax) is ax
        assert [t.get_text() for t in ax.texts] == ["A", "B"]  # a + c = 80 % (A), d (B); b has no class
    finally:
        plt.close(fig)


# ----------------------------------------------------------------------------------------- rank normalisation
def test_rank_normalisation_hand_worked():
    # x: 10, 30, 20, 20, NaN -> mid-ranks among the 4 present: 1, 4, 2.5, 2.5 -> (r - 1)/(4 - 1): 0, 1, .5, .5
    # y (cost): 5, 1, 3, 2, 4 -> ranks 5, 1, 3, 2, 4 -> (r - 1)/4: 1, 0, .5, .25, .75 -> inverted 0, 1, .5, .75, .25
    # weights .5 / .5: a 0, b 1, c .5, d .625; e has only y: .25 (coverage .5)
    m = pd.DataFrame({"x": [10.0, 30.0, 20.0, 20.0, np.nan], "y": [5.0, 1.0, 3.0, 2.0, 4.0]}, index=list("abcde"))
    score = weighted_sum(m, {"x": 1, "y": 1}, criteria_types={"y": "cost"}, normalisation="rank")
    np.testing.assert_allclose(score.to_numpy(), [0.0, 1.0, 0.5, 0.625, 0.25])
    # ranks depend only on the order: a monotone transform (log) of a criterion changes nothing (two routes)
    logged = m.assign(x=np.log(m["x"]))
    pd.testing.assert_series_equal(weighted_sum(logged, {"x": 1, "y": 1}, criteria_types={"y": "cost"},
                                                normalisation="rank"), score)
    with pytest.raises(ParameterError, match=r"rank-normalised criterion.*no variation in 'flat' \(all 2\)"):
        weighted_sum(m.assign(flat=2.0), {"x": 1, "flat": 1}, normalisation="rank")
    with pytest.raises(ParameterError, match=r"'normalisation' parameter of weighted_sum must be 'minmax', "
                                             r"'fixed', 'rank'"):
        weighted_sum(m, {"x": 1}, normalisation="zscore")


def test_rank_normalisation_spreads_a_skewed_criterion():
    # the reason for the default: min-max squeezes a lognormal criterion near 0, ranks spread it over [0, 1]
    rng = np.random.default_rng(4)
    m = pd.DataFrame({"revenue": rng.lognormal(10, 1.5, 400)})
    mm = weighted_sum(m, {"revenue": 1})
    rk = weighted_sum(m, {"revenue": 1}, normalisation="rank")
    assert mm.median() < 0.05 and rk.median() == pytest.approx(0.5)
    assert default_normalisation()["revenue_potential"] == "rank" == CONTINUOUS_NORMALISATION
    assert default_normalisation("minmax")["current_revenue"] == "minmax"
    assert default_normalisation()["product_fit"] == "fixed"
    with pytest.raises(ParameterError, match=r"'continuous' parameter of default_normalisation must be"):
        default_normalisation("zscore")


@FAST
@given(rows=_matrix_strategy(min_rows=2, max_rows=12, allow_nan=False), w=weights_st, types=types_st)
def test_property_rank_normalisation_without_gaps_has_no_rank_reversal(rows, w, types):
    # adding an account below everyone maps every percentile p to ((n - 1) p + 1) / n (the same affine map for
    # every criterion when none has gaps), so the weighted sum keeps the others' order
    m = _frame(rows)
    assume(_varies(m))
    check = rank_reversal_check(m, dict(zip(m.columns, w)), normalisation="rank",
                                criteria_types=dict(zip(m.columns, types)))
    assert not check.order_changed
    assert check.dominated_rank == len(m) + 1


# ----------------------------------------------------------------------------------------- notebook helpers
def test_eligible_accounts_hand_worked():
    periods = pd.to_datetime(["2024-01-01", "2024-12-01", "2025-06-01", "2025-12-01"])
    p = pd.DataFrame({"account_id": ["a"] * 4 + ["b"] * 4 + ["c"] * 4,
                      "period": list(periods) * 3,
                      "revenue": [5, 5, 0, 0,   # a: last bought 2024-12 -> lapsed over 12 months, not over 13
                                  0, 0, 0, 7,   # b: bought in the last month
                                  0, 0, -3, 0]})  # c: only a credit note in the window: not a purchase
    out = eligible_accounts(p, months=12)
    assert out.to_dict() == {"a": False, "b": True, "c": False} and out.name == "eligible"
    assert eligible_accounts(p, months=13)["a"]  # (2024-11, 2025-12] holds 2024-12
    assert eligible_accounts(p, months=12, as_of="2025-06-01")["a"]
    assert eligible_accounts(p, index=["b", "z"]).to_dict() == {"b": True, "z": False}
    with pytest.raises(ParameterError, match=r"'months' parameter of eligible_accounts must be a positive integer"):
        eligible_accounts(p, months=0)


def test_select_scores_only_the_candidate_pool(crit_table):
    w = {"current_revenue": 1, "revenue_potential": 1}
    res = select_key_accounts(crit_table, w, max_key_accounts=2, eligible=["b", "c", "d", "e"])
    sub = select_key_accounts(crit_table.drop(index="a"), w, max_key_accounts=2)
    # two routes: the pool is normalised without 'a', exactly as if 'a' were not in the table
    pool = ["b", "c", "d", "e"]
    np.testing.assert_allclose(res.table.loc[pool, "score"], sub.table.loc[pool, "score"])
    assert np.isnan(res.table.loc["a", "score"]) and res.table.loc["a", "rank"] == 5
    assert res.table.loc["a", "status"] == "leave"  # on the current list, out of the pool
    assert res.table.loc["a", "reason"] == "not eligible (outside the candidate pool)"
    # protect threshold over the pool: 80th percentile of 500, 100, 50, 10 = 260
    assert res.settings["protect_threshold"] == pytest.approx(260.0)
    assert res.settings["n_eligible"] == 4
    with pytest.raises(ParameterError, match=r"'eligible' parameter of select_key_accounts must leave at least one"):
        select_key_accounts(crit_table, w, eligible=[])


def test_changes_list_joiners_then_leavers_with_names(crit_table):
    t = crit_table.assign(account_name=["Ann Co", "Bee Co", "Cee Co", "Dee Co", "Eee Co"])
    res = select_key_accounts(t, {"current_revenue": 1, "revenue_potential": 1}, max_key_accounts=2,
                              normalisation="minmax")
    ch = res.changes
    assert ch["status"].tolist() == ["join", "leave", "stay"] and list(ch.index) == ["b", "c", "a"]
    assert ch.loc["b", "account_name"] == "Bee Co" and ch.loc["b", "kind"] == "grow"
    assert res.recommended_table().columns[:3].tolist() == ["account_name", "account_manager", "rank"]


def test_compare_selections_hand_worked(crit_table):
    # weighted (min-max revenue + potential, cap 2): b, a; revenue only: a, b -> same set, ranks swapped
    w = {"current_revenue": 1, "revenue_potential": 1}
    a = select_key_accounts(crit_table, w, max_key_accounts=2, normalisation="minmax")
    b = select_key_accounts(crit_table, {"current_revenue": 1}, max_key_accounts=2)
    c = compare_selections(a, b)
    assert list(c.index) == ["b", "a"] and c.attrs["overlap"] == 2
    assert c["rank_weighted_criteria"].tolist() == [1, 2] and c["rank_revenue"].tolist() == [2, 1]
    assert (c["chosen_by"] == "both").all()
    # potential only (cap 2): b (900), d (400); against revenue (a, b): b both, d potential only, a revenue only
    p = select_key_accounts(crit_table, {"revenue_potential": 1}, max_key_accounts=2)
    c = compare_selections(p, b, names=("potential", "revenue"))
    assert c["chosen_by"].to_dict() == {"b": "both", "d": "potential", "a": "revenue"}
    assert c.attrs["overlap"] == 1
    with pytest.raises(ParameterError, match=r"'baseline' parameter of compare_selections must be a SelectionResult"):
        compare_selections(a, crit_table)


def test_abc_summary_hand_worked():
    # 50, 30, 10, 5, 5 (of 100) -> A A B B C (80/95): A 2 accounts 80, B 2 accounts 15, C 1 account 5
    # Gini: sorted 5 5 10 30 50, sum (2i - 6) x_i = -20 - 10 + 0 + 60 + 200 = 230; / (5 * 100) = 0.46
    out = abc_summary(pd.Series([50.0, 30.0, 10.0, 5.0, 5.0], index=list("abcde")))
    assert out["n_accounts"].tolist() == [2, 2, 1]
    np.testing.assert_allclose(out["value_share"], [0.8, 0.15, 0.05])
    np.testing.assert_allclose(out["account_share"], [0.4, 0.4, 0.2])
    assert out.attrs["gini"] == pytest.approx(0.46)
    # a class nobody falls into is shown with 0 accounts: 90 of 100 closes A; the second account starts at
    # 90 % (past B's 80 %), so it is C, and B and D are empty
    out = abc_summary([90.0, 10.0], cutoffs=(0.5, 0.8, 0.95), labels=("A", "B", "C", "D"))
    assert out["n_accounts"].tolist() == [1, 0, 1, 0]


def test_criteria_overview_weights_and_coverage(crit_table):
    m = crit_table.assign(strategic_value=np.nan, logo_appeal=[5.0, np.nan, 3.0, np.nan, 1.0])
    w = {"current_revenue": 2, "strategic_value": 1, "logo_appeal": 1}
    ov = criteria_overview(m, w, eligible=["a", "b", "c", "d"])
    # weights as set: .5, .25, .25; strategic value has no value: its .25 is spread -> 2/3, 0, 1/3
    assert ov.loc["current_revenue", "weight"] == pytest.approx(0.5)
    assert ov.loc["current_revenue", "weight_used"] == pytest.approx(2 / 3)
    assert ov.loc["strategic_value", "weight_used"] == 0
    assert ov.loc["logo_appeal", "weight_used"] == pytest.approx(1 / 3)
    # coverage over the 4 accounts of the pool: logo appeal 2 of 4
    assert ov.loc["logo_appeal", "accounts_with_value"] == 2 and ov.loc["logo_appeal", "value_rate"] == 0.5
    assert ov.loc["logo_appeal", "normalisation"] == "fixed" and ov.loc["current_revenue", "normalisation"] == "rank"
    assert ov.loc["revenue_potential", "source"].startswith("ledger + wallet")


def test_selection_robustness_reproduces_the_selection():
    m = _random_matrix(40)
    w = {"rev": 0.4, "pot": 0.3, "fit": 0.3}
    res = select_key_accounts(m, w, max_key_accounts=5, revenue="rev", normalisation={"fit": "fixed"})
    tight = selection_robustness(res, n_draws=200, concentration=1e12)
    # draws equal to the chosen weights: the base ranking is the selection's, the list never changes
    acc = tight.accounts
    assert acc["base_rank"].tolist() == res.table.loc[acc.index, "rank"].tolist()
    assert set(acc.index[acc["p_top_k"] == 1]) == set(res.recommended)
    first = tight.models.iloc[0]
    assert first["p_set_unchanged"] == 1.0 and first["n_stable"] == 5 and first["n_contenders"] == 0
    assert list(tight.models.index) == ["around the chosen weights (Dirichlet, concentration 1e+12)",
                                        "no preference (uniform weights)"]
    assert 0 <= tight.models.iloc[1]["p_set_unchanged"] < 1  # uniform weights do move the list
    assert list(tight.summary().columns) == ["term", "estimate", "std_err", "ci_lower", "ci_upper"]
    # the scoring inputs carry the selection's normalisation: rank_robustness gives the same base scores
    rob = rank_robustness(**res.scoring_inputs(), k=5, n_draws=10)
    np.testing.assert_allclose(rob["base_score"], res.table.loc[rob.index, "score"])
    with pytest.raises(ParameterError, match=r"'threshold' parameter of selection_robustness must be in \(0, 1\)"):
        selection_robustness(res, threshold=1.5)


def test_rank_reversal_summary_rubrics_never_reverse():
    m = _random_matrix(30).rename(columns={"fit": "product_fit", "rev": "current_revenue",
                                           "pot": "revenue_potential"})
    m["strategic_value"] = np.random.default_rng(8).integers(1, 6, len(m)).astype(float)
    w = {"current_revenue": 0.3, "revenue_potential": 0.3, "product_fit": 0.2, "strategic_value": 0.2}
    res = select_key_accounts(m, w, max_key_accounts=5)
    rr = rank_reversal_summary(res)
    assert list(rr.columns) == ["order_changed", "n_moved", "top_k_changed", "dominated_rank"]
    assert rr.index[0] == "this selection (weighted sum, rubrics on their fixed scale, continuous by percentile rank)"
    assert not rr.loc["weighted sum, rubrics only (fixed scale)", "order_changed"]
    assert (rr["dominated_rank"] == len(m) + 1).all()
    # percentile ranks alone, no missing values: every criterion maps by the same affine map, no reversal
    # (mixed with fixed-scale rubrics the ranked criteria shrink by (n - 1)/n against them: near-ties can move)
    ranked = select_key_accounts(m, {"current_revenue": 0.5, "revenue_potential": 0.5}, max_key_accounts=5)
    rr = rank_reversal_summary(ranked)
    assert rr.index[0] == "this selection (weighted sum, continuous by percentile rank)"
    assert not rr.iloc[0]["order_changed"] and rr.iloc[0]["n_moved"] == 0


def test_portfolio_views_say_what_is_missing():
    m = pd.DataFrame({"current_revenue": [1.0, 2.0, 3.0], "revenue_potential": [3.0, 1.0, 2.0],
                      "product_fit": np.nan, "gross_margin_rate": [0.3, 0.2, 0.4]}, index=list("abc"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pm = portfolio_matrix(m, strength_weights={"product_fit": 1})
        sh = shapiro_matrix(m.assign(cost_to_serve=np.nan))
    assert not pm.available and pm.settings["note"] == "strength not available: provide accounts with product_fit"
    assert pm.table["quadrant"].isna().all() and pm.counts["n_accounts"].sum() == 0
    assert pm.table["attractiveness_score"].notna().all()  # the other axis is still computed
    assert not sh.available and "cost_to_serve" in sh.settings["note"]
    # a criterion without values is left out of its axis; the coverage is against the axis weights as set
    pm2 = portfolio_matrix(m, attractiveness_weights={"current_revenue": 1, "revenue_potential": 1,
                                                      "product_fit": 2}, strength_weights={"gross_margin_rate": 1})
    assert pm2.settings["dropped"]["attractiveness"] == ["product_fit"]
    np.testing.assert_allclose(pm2.table["attractiveness_coverage"], 0.5)
    assert pm2.available


def test_kam_fit_findings_table():
    panel = _panel({"A": 60.0, "B": 20.0, "C": 10.0, "D": 5.0, "E": 5.0})
    d = kam_fit_diagnostic(panel)
    f = d.findings()
    assert list(f.columns) == ["finding"] and f.index[-1] == "verdict"
    assert f["finding"].iloc[-1] == d.verdict and len(f) == len(d.signals) + 1


# ----------------------------------------------------------------------------------------- display
def test_results_plot_on_given_axes(crit_table):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = select_key_accounts(crit_table, {"current_revenue": 1, "revenue_potential": 1}, max_key_accounts=2)
    m = pd.DataFrame({"attr": [0.0, 10.0, 5.0], "strength": [0.0, 10.0, 3.0], "current_revenue": [1.0, 2.0, 3.0]},
                     index=list("pqr"))
    view = portfolio_matrix(m, attractiveness_weights={"attr": 1}, strength_weights={"strength": 1})
    sweep = weight_sweep(m, {"attr": 1, "strength": 1}, k=1)
    check = rank_reversal_check(m, {"attr": 1, "strength": 1})
    robust = selection_robustness(res, n_draws=20)
    empty = portfolio_matrix(m.assign(strength=np.nan), attractiveness_weights={"attr": 1},
                             strength_weights={"strength": 1})
    try:
        for obj in (res, view, sweep, check, robust):
            fig, ax = plt.subplots()
            assert obj.plot(ax=ax) is ax
            assert isinstance(obj._repr_html_(), str)
            assert list(obj.summary().columns) == ["term", "estimate", "std_err", "ci_lower", "ci_upper"]
            plt.close(fig)
        fig, ax = plt.subplots()
        assert empty.plot(ax=ax) is ax and ax.texts[0].get_text().startswith("strength not available")
        plt.close(fig)
        baseline = select_key_accounts(crit_table, {"current_revenue": 1}, max_key_accounts=2)
        fig, ax = plt.subplots()
        assert plot_rank_comparison(res, baseline, ax=ax) is ax
        assert ax.get_xlabel() == "rank by revenue" and len(ax.collections) == 4
        plt.close(fig)
        fig, ax = plt.subplots()
        assert plot_abc([50.0, 30.0, 10.0, 5.0, 5.0], ax=ax, value_label="margin") is ax
        assert ax.get_ylabel() == "cumulative share of margin" and "Gini 0.46" in ax.get_legend().texts[0].get_text()
        plt.close(fig)
    finally:
        plt.close("all")
