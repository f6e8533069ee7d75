"""Tests for kamtools.kpi.

Evidence used: hand-worked examples (the computation is in the comments), the published
values of shared/REFERENCES.md (NPS 50/30/20 → 30 with SE 7.81; GRR/NRR 0.92/1.07; 2 %/month
→ 21.53 %/year), two routes to the same answer (kpi_table against the single-purpose
functions), hypothesis invariants, and recovery of known truth from kamtools.sample.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kamtools import kpi
from kamtools.exceptions import DataValidationError, ParameterError

MONTHS = pd.date_range("2023-01-01", periods=36, freq="MS")


def _panel(revenue: dict[str, list[float]], start: str = "2023-01-01") -> pd.DataFrame:
    """A monthly panel from account -> revenue per month (active = revenue > 0)."""
    periods = pd.date_range(start, periods=len(next(iter(revenue.values()))), freq="MS")
    frame = pd.DataFrame(revenue, index=periods).rename_axis("period").reset_index()
    long = frame.melt(id_vars="period", var_name="account_id", value_name="revenue")
    long["active"] = long["revenue"] > 0
    return long[["account_id", "period", "revenue", "active"]]


def _activity_panel(pattern: dict[str, str]) -> pd.DataFrame:
    """Panel from account -> '1101' activity strings (revenue 1 when active)."""
    return _panel({a: [float(c) for c in s] for a, s in pattern.items()})


# ---------------------------------------------------------------------------------------------
# NPS and CSAT
# ---------------------------------------------------------------------------------------------
# 50 promoters (9–10), 30 passives (7–8), 20 detractors (0–6) out of 100
NPS_503020 = [10] * 25 + [9] * 25 + [8] * 15 + [7] * 15 + [6] * 10 + [0] * 10


def test_nps_published_example():
    # NPS = 50 % − 20 % = 30 (shared/REFERENCES.md, KPIs)
    assert kpi.nps(NPS_503020) == pytest.approx(30.0)


def test_nps_standard_error_published_example():
    # SE = 100·sqrt((0.5 + 0.2 − 0.3²)/100) = 100·sqrt(0.0061) = 7.8102 → 7.81
    se = kpi.nps_standard_error(NPS_503020)
    assert se == pytest.approx(100 * math.sqrt(0.0061))
    assert round(se, 2) == 7.81


def test_nps_ignores_missing_answers():
    with_missing = pd.Series(NPS_503020 + [np.nan, None], dtype="Float64")
    assert kpi.nps(with_missing) == pytest.approx(30.0)
    assert kpi.nps_standard_error(with_missing) == pytest.approx(7.8102, abs=1e-4)


def test_nps_extremes_and_empty():
    assert kpi.nps([9, 10, 10]) == 100.0
    assert kpi.nps_standard_error([9, 10, 10]) == 0.0  # no variance: all +1
    assert kpi.nps([0, 6]) == -100.0
    assert math.isnan(kpi.nps([np.nan]))
    assert math.isnan(kpi.nps_standard_error([]))


def test_nps_refuses_values_off_the_scale():
    with pytest.raises(ParameterError, match=r"The 'scores' parameter of nps must be integers from 0 to 10"
                                             r".*1 of 3 values are not \(positions 1: 11"):
        kpi.nps([9, 11, 3])
    with pytest.raises(ParameterError, match=r"nps_standard_error must be integers.*8\.5"):
        kpi.nps_standard_error([8.5, 9])
    with pytest.raises(ParameterError, match=r"positions 0: 'x'"):
        kpi.nps(["x", 9])


def test_csat_top2box_and_mean_hand_example():
    scores = [5, 4, 3, 2, 1, 5]
    assert kpi.csat(scores) == pytest.approx(3 / 6)  # 5, 4, 5 in the top two boxes
    assert kpi.csat(scores, method="mean") == pytest.approx(20 / 6)  # (5+4+3+2+1+5)/6
    assert kpi.csat([7, 9, 10], scale=(0, 10)) == pytest.approx(2 / 3)  # 9 and 10 on 0–10
    with pytest.raises(ParameterError, match=r"The 'method' parameter of csat must be 'top2box' or 'mean'"):
        kpi.csat(scores, method="median")
    with pytest.raises(ParameterError, match=r"csat must be integers from 1 to 5"):
        kpi.csat([0, 5])


# ---------------------------------------------------------------------------------------------
# churn annualisation
# ---------------------------------------------------------------------------------------------
def test_annualise_churn_published_example():
    # 1 − 0.98^12 = 0.215283, not 12 × 0.02 = 0.24
    assert kpi.annualise_churn(0.02) == pytest.approx(1 - 0.98**12)
    assert round(kpi.annualise_churn(0.02), 4) == 0.2153


def test_annualise_churn_is_vectorised_and_keeps_the_index():
    s = pd.Series([0.0, 0.02, 1.0, np.nan], index=list("abcd"), name="logo_churn_rate")
    out = kpi.annualise_churn(s)
    assert list(out.index) == list("abcd") and out.name == "logo_churn_rate"
    np.testing.assert_allclose(out.to_numpy()[:3], [0.0, 1 - 0.98**12, 1.0])
    assert np.isnan(out.iloc[3])
    arr = kpi.annualise_churn(np.array([0.1, 0.2]), periods_per_year=4)  # quarterly
    np.testing.assert_allclose(arr, [1 - 0.9**4, 1 - 0.8**4])


def test_annualise_churn_refuses_percent_and_bad_periods():
    with pytest.raises(ParameterError, match=r"The 'rate' parameter of annualise_churn must be a fraction"):
        kpi.annualise_churn(2.0)  # 2 (%) passed as a percentage
    with pytest.raises(ParameterError, match=r"'periods_per_year' parameter of annualise_churn must be a positive"):
        kpi.annualise_churn(0.02, periods_per_year=0)


# ---------------------------------------------------------------------------------------------
# logo churn
# ---------------------------------------------------------------------------------------------
CHURN_PATTERN = {
    "A": "1111",  # stays
    "B": "1100",  # lost in month 3
    "C": "1011",  # a one-month lapse, not churn (default rule)
    "D": "0110",  # new in month 2 (not at the start of month 2), lost in month 4
    "E": "1000",  # lost in month 2
}


def test_logo_churn_hand_example_default_rule():
    # month 2: customers at its start A, B, C, E (D is new) -> E lost: 1/4
    # month 3: A, B, C, D (C in a lapse is still a customer) -> B lost: 1/4
    # month 4: A, C, D (B already lost) -> D lost: 1/3
    rate = kpi.logo_churn(_activity_panel(CHURN_PATTERN))
    assert rate.name == "logo_churn_rate"
    assert np.isnan(rate.iloc[0])
    np.testing.assert_allclose(rate.to_numpy()[1:], [1 / 4, 1 / 4, 1 / 3])


def test_logo_churn_gap_rule_and_censoring():
    panel = _activity_panel(CHURN_PATTERN)
    # churn_gap=2: B (2 inactive months to the end) lost in month 3, E lost in month 2,
    # C's 1-month lapse is no churn; D's single inactive final month is undetermined -> NaN
    r2 = kpi.logo_churn(panel, churn_gap=2)
    np.testing.assert_allclose(r2.to_numpy()[1:3], [1 / 4, 1 / 4])
    assert np.isnan(r2.iloc[3])
    # churn_gap=1: every inactive month after activity is churn; C is lost in month 2 and won back
    # month 2: {A,B,C,E} lose C,E: 2/4; month 3: {A,B,D} lose B: 1/3; month 4: {A,C,D} lose D: 1/3
    r1 = kpi.logo_churn(panel, churn_gap=1)
    np.testing.assert_allclose(r1.to_numpy()[1:], [2 / 4, 1 / 3, 1 / 3])


def test_logo_churn_by_group():
    panel = _activity_panel(CHURN_PATTERN)
    panel["segment"] = panel["account_id"].map({"A": "x", "B": "x", "C": "y", "D": "y", "E": "y"})
    rate = kpi.logo_churn(panel, by="segment")
    m2 = MONTHS[1]
    assert rate.loc[(m2, "x")] == 0.0  # A, B at the start, none lost
    assert rate.loc[(m2, "y")] == 0.5  # C, E at the start, E lost


def test_logo_churn_errors_name_the_rule():
    panel = _activity_panel(CHURN_PATTERN)
    with pytest.raises(ParameterError, match=r"'churn_gap' parameter of logo_churn must be an integer >= 1"):
        kpi.logo_churn(panel, churn_gap=0)
    with pytest.raises(DataValidationError, match=r"panel: must have one row per \(account_id, period\); 1 rows"):
        kpi.logo_churn(pd.concat([panel, panel.iloc[[0]]], ignore_index=True))
    with pytest.raises(DataValidationError, match=r"panel: missing required column\(s\) \['revenue'\]"):
        kpi.logo_churn(panel.drop(columns="revenue"))


# ---------------------------------------------------------------------------------------------
# GRR / NRR, upsell, renewal, repeat purchase
# ---------------------------------------------------------------------------------------------
# Cohort of the published example (k€): start 1,000; churn 50 (D); contraction 30 (C);
# expansion 150 (B); F and G are new logos and must not count.
START = {"A": 400, "B": 300, "C": 200, "D": 50, "E": 50, "F": 0, "G": 0}
END = {"A": 400, "B": 450, "C": 170, "D": 0, "E": 50, "F": 200, "G": 10}


def test_revenue_retention_published_example_single_periods():
    # GRR = (1000 − 50 − 30)/1000 = 0.92; NRR = (1000 − 50 − 30 + 150)/1000 = 1.07
    panel = _panel({a: [START[a], END[a]] for a in START})
    grr, nrr = kpi.revenue_retention(panel, start=MONTHS[0], end=MONTHS[1], window=1)
    assert grr == pytest.approx(0.92)
    assert nrr == pytest.approx(1.07)


def test_revenue_retention_trailing_twelve_months():
    # the same cohort spread evenly over two years of months: trailing-12 sums give the same answer
    panel = _panel({a: [START[a] / 12] * 12 + [END[a] / 12] * 12 for a in START})
    grr, nrr = kpi.revenue_retention(panel, start=MONTHS[11], end=MONTHS[23])
    assert (grr, nrr) == (pytest.approx(0.92), pytest.approx(1.07))
    bridge = kpi.revenue_bridge(panel, start=MONTHS[11], end=MONTHS[23])
    assert bridge["n_accounts"] == 5
    assert bridge[["start_value", "churn_value", "contraction_value", "expansion_value"]].to_list() == \
        pytest.approx([1000, 50, 30, 150])
    # the single months still compare 1/12 of each: the answer does not depend on the window here
    assert kpi.revenue_retention(panel, start=MONTHS[11], end=MONTHS[23], window=1) == \
        (pytest.approx(0.92), pytest.approx(1.07))


def test_grr_is_capped_at_one_when_nobody_shrinks():
    panel = _panel({"a": [100, 150], "b": [100, 100]})
    grr, nrr = kpi.revenue_retention(panel, start=MONTHS[0], end=MONTHS[1], window=1)
    assert grr == 1.0 and nrr == pytest.approx(1.25)


def test_revenue_retention_errors():
    panel = _panel({a: [START[a], END[a]] for a in START})
    with pytest.raises(ParameterError, match=r"'start' parameter of revenue_bridge must be one of the panel's"):
        kpi.revenue_retention(panel, start="2022-01-01", end=MONTHS[1], window=1)
    with pytest.raises(ParameterError, match=r"'window' parameter of revenue_bridge must be at most 1"):
        kpi.revenue_retention(panel, start=MONTHS[0], end=MONTHS[1])  # 12 months do not fit
    with pytest.raises(ParameterError, match=r"'end' parameter of revenue_bridge must be a period after start"):
        kpi.revenue_retention(panel, start=MONTHS[1], end=MONTHS[0], window=1)
    empty = _panel({"a": [0, 10]})
    with pytest.raises(DataValidationError, match=r"no account has 'revenue' > 0"):
        kpi.revenue_retention(empty, start=MONTHS[0], end=MONTHS[1], window=1)


def test_upsell_renewal_repeat_hand_example():
    panel = _panel({a: [START[a], END[a]] for a in START})
    # upsell: cohort A–E (5), only B grew -> 1/5; B grew 50 %, so with min_growth 0.6 nobody
    assert kpi.upsell_rate(panel, start=MONTHS[0], end=MONTHS[1], window=1) == pytest.approx(0.2)
    assert kpi.upsell_rate(panel, start=MONTHS[0], end=MONTHS[1], window=1, min_growth=0.6) == 0.0
    # renewal: active in month 1 A–E (5), active again A, B, C, E -> 4/5
    assert kpi.renewal_rate(panel, start=MONTHS[0], end=MONTHS[1], window=1) == pytest.approx(0.8)
    # repeat purchase: buyers of month 2 A, B, C, E, F, G (6), of whom A, B, C, E bought before -> 4/6
    assert kpi.repeat_purchase_share(panel, end=MONTHS[1], window=1) == pytest.approx(4 / 6)
    with pytest.raises(ParameterError, match=r"'window' parameter of repeat_purchase_share must be at most 1"):
        kpi.repeat_purchase_share(panel, end=MONTHS[1], window=2)


def test_cross_sell_rate_hand_example():
    tx = pd.DataFrame(
        [
            ("a", "2023-01-05", 10.0, "P1"), ("a", "2023-02-03", 10.0, "P1"), ("a", "2023-02-09", 5.0, "P2"),
            ("b", "2023-01-05", 10.0, "P1"), ("b", "2023-02-05", 10.0, "P1"),
            ("c", "2023-02-05", 10.0, "P3"),  # new account: not an existing customer
            ("d", "2023-01-05", 10.0, "P2"),  # existing but did not buy in February
            ("e", "2023-01-05", 10.0, "P1"), ("e", "2023-02-05", 10.0, "P1"),
            ("e", "2023-02-06", -5.0, "P4"),  # a credit note is not a purchase of P4
        ],
        columns=["account_id", "date", "revenue", "product"],
    )
    tx["date"] = pd.to_datetime(tx["date"])
    # existing and active in February: a, b, e; a bought P2, new to it -> 1/3
    assert kpi.cross_sell_rate(tx, start="2023-02-01", end="2023-03-01") == pytest.approx(1 / 3)


# ---------------------------------------------------------------------------------------------
# referenceable, outcomes, interactions, acquisition, manager satisfaction, CLV
# ---------------------------------------------------------------------------------------------
def test_referenceable_share_hand_example():
    surveys = pd.DataFrame({
        "account_id": ["a", "a", "b", "c", "d"],
        "date": pd.to_datetime(["2023-09-15", "2024-05-15", "2024-02-10", "2022-01-10", "2024-06-01"]),
        "referenceable": pd.array([True, False, False, True, None], dtype="boolean"),
    })
    # window (2023-06-30, 2024-06-30]: a agreed once (Sep 2023), b said no, c only in 2022,
    # d gave no answer -> asked {a, b}: 1/2; base of five accounts: 1/5
    assert kpi.referenceable_share(surveys, as_of="2024-06-30") == pytest.approx(0.5)
    assert kpi.referenceable_share(surveys, as_of="2024-06-30", accounts=list("abcde")) == pytest.approx(0.2)


def test_outcomes_share_counts_due_goals_only():
    outcomes = pd.DataFrame({
        "account_id": ["a", "a", "b", "b", "c"],
        "goal": ["g1", "g2", "g1", "g2", "g1"],
        "target_date": pd.to_datetime(["2024-01-31", "2024-03-31", "2024-02-29", "2024-12-31", None]),
        "achieved": pd.array([True, False, None, True, True], dtype="boolean"),
    })
    # due by 2024-06-30: a/g1 met, a/g2 not, b/g1 unknown = not met; b/g2 not due; c/g1 undated
    assert kpi.outcomes_share(outcomes, as_of="2024-06-30") == pytest.approx(1 / 3)
    assert math.isnan(kpi.outcomes_share(outcomes, as_of="2023-12-31"))


def test_interaction_summary_hand_example():
    inter = pd.DataFrame({
        "account_id": ["a", "a", "b", "c", "e", "e", "e"],
        "date": pd.to_datetime(["2024-01-01", "2024-01-31", "2024-01-01", "2023-12-20",
                                "2024-01-10", "2024-01-10", "2024-01-20"]),
    })
    tiers = pd.Series({"a": "key", "b": "key", "c": "other", "d": "other", "e": "other"})
    out = kpi.interaction_summary(inter, start="2024-01-01", end="2024-01-31",
                                  cadence={"key": 2, "other": 1}, tiers=tiers)
    # a: touched Jan 1 and 31 -> 2 contacts, longest silence Jan 2–30 = 29 days, 0 days since
    # b: Jan 1 only -> Jan 2–31 = 30 days; 30 days since
    # c: last touch Dec 20 (before the window) -> 0 contacts, 31 days silent, 11 + 31 = 42 days since
    # d: never touched -> 31 days silent, days since unknown
    # e: Jan 10 (twice), Jan 20 -> 3 contacts; silences 9, 9, 11 days -> 11; 11 days since
    assert out["contacts"].to_list() == [2, 1, 0, 0, 3]
    assert out["longest_gap_days"].to_list() == [29, 30, 31, 31, 11]
    np.testing.assert_array_equal(out["days_since_last_touch"], [0, 30, 42, np.nan, 11])
    # cadence: a 2/2, b 1/2, c 0/1, d 0/1, e 3/1 per month
    assert out["cadence_attainment"].to_list() == [1.0, 0.5, 0.0, 0.0, 3.0]


def test_acquisition_rate_by_channel():
    prospects = pd.DataFrame({
        "prospect_id": [f"L{i}" for i in range(6)],
        "first_contact": pd.to_datetime(["2024-01-05"] * 6),
        "converted": pd.to_datetime([None, None, None, "2024-02-10", "2024-01-20", "2024-05-01"]),
        "channel": ["X", "X", "X", "X", "Y", "Y"],
    })
    # X: 1 of 4; Y: 2 of 2; all: 3 of 6; as of April, Y's May conversion does not count yet
    rate = kpi.acquisition_rate(prospects)
    assert rate.name == "acquisition_rate"
    assert rate.to_dict() == {"X": 0.25, "Y": 1.0}
    assert kpi.acquisition_rate(prospects, by=None) == 0.5
    assert kpi.acquisition_rate(prospects, as_of="2024-04-30")["Y"] == 0.5
    flags = prospects.assign(converted=[False, False, False, True, True, True])
    assert kpi.acquisition_rate(flags, by=None) == 0.5


def test_manager_satisfaction_mean_and_range():
    ms = pd.DataFrame({"account_manager": ["m1", "m1", "m2"],
                       "date": pd.to_datetime(["2024-01-10", "2024-02-10", "2024-01-10"]),
                       "satisfaction": [4, 5, 3]})
    assert kpi.manager_satisfaction(ms).to_dict() == {"m1": 4.5, "m2": 3.0}
    with pytest.raises(DataValidationError, match=r"manager_surveys: column 'satisfaction' must hold numbers "
                                                  r"from 1 to 5 or be empty; 1 of 3 rows are not \(rows 2: 6"):
        kpi.manager_satisfaction(ms.assign(satisfaction=[4, 5, 6]))


def test_account_clv_from_trailing_margin():
    pytest.importorskip("kamtools.retention")
    panel = _panel({"a": [100.0] * 12, "b": [100.0] * 12, "c": [100.0] * 6 + [0.0] * 6})
    panel["gross_margin"] = np.where(panel["revenue"] > 0, 10.0, 0.0)
    panel.loc[(panel["account_id"] == "b") & (panel["period"] == MONTHS[3]), "gross_margin"] = np.nan
    panel = panel.loc[~((panel["account_id"] == "c") & (panel["period"] > MONTHS[5]))]
    # a: margin 12 × 10 = 120 a year; m·r/(1+d−r) = 120 × 0.8 / 0.32 = 300 ("next" timing)
    # b: one month of unknown margin -> NaN; c: inactive for the last six months is still current
    clv = kpi.account_clv(panel, retention=0.8, discount_rate=0.12)
    assert clv.name == "clv_value"
    assert clv["a"] == pytest.approx(300.0)
    assert np.isnan(clv["b"])
    assert clv["c"] == pytest.approx(60 * 0.8 / 0.32)
    # as of month 6 over a 6-month window: c earned 60, a 60
    early = kpi.account_clv(panel, retention=0.8, discount_rate=0.12, as_of=MONTHS[5], window=6)
    assert early["a"] == pytest.approx(60 * 0.8 / 0.32)


# ---------------------------------------------------------------------------------------------
# kpi_table: availability and two routes to the same answer
# ---------------------------------------------------------------------------------------------
def _random_world(seed: int = 7, n: int = 30, T: int = 26):
    """A small random book with every table (for comparing kpi_table with the plain functions)."""
    rng = np.random.default_rng(seed)
    periods = pd.date_range("2023-01-01", periods=T, freq="MS")
    ids = np.array([f"A{i:02d}" for i in range(n)])
    buy_p = rng.uniform(0.2, 0.95, n)
    stop = rng.integers(8, 3 * T, n)  # some accounts stop buying (churn)
    first = np.where(rng.random(n) < 0.2, rng.integers(1, T // 2, n), 0)  # some are new
    a_i, t_i = np.nonzero((rng.random((n, T)) < buy_p[:, None]) & (np.arange(T) < stop[:, None])
                          & (np.arange(T) >= first[:, None]))
    lines = rng.integers(1, 4, a_i.size)
    a_l, t_l = np.repeat(a_i, lines), np.repeat(t_i, lines)
    tx = pd.DataFrame({
        "account_id": ids[a_l],
        "date": periods[t_l] + pd.to_timedelta(rng.integers(0, 28, a_l.size), unit="D"),
        "revenue": rng.gamma(2.0, 500.0, a_l.size),
        "product": np.array([f"P{k}" for k in range(1, 7)])[rng.integers(0, 6, a_l.size)],
    })
    tx["gross_margin"] = 0.3 * tx["revenue"]
    monthly = tx.assign(period=tx["date"].dt.to_period("M").dt.start_time).groupby(
        ["account_id", "period"], as_index=False)[["revenue", "gross_margin"]].sum()
    monthly["active"] = monthly["revenue"] > 0
    accounts = pd.DataFrame({
        "account_id": ids,
        "account_manager": np.array(["M1", "M2", "M3"])[rng.integers(0, 3, n)],
        "segment": np.array(["Key", "Core"])[rng.integers(0, 2, n)],
    })

    def dates(k):
        return periods[0] + pd.to_timedelta(rng.integers(0, T * 30, k), unit="D")

    k = 400
    surveys = pd.DataFrame({
        "account_id": ids[rng.integers(0, n, k)], "date": dates(k),
        "nps": pd.array(np.where(rng.random(k) < 0.1, np.nan, rng.integers(0, 11, k)), dtype="Float64"),
        "csat": rng.integers(1, 6, k),
        "referenceable": pd.array(np.where(rng.random(k) < 0.2, None, rng.random(k) < 0.4), dtype="boolean"),
    })
    k = 600
    interactions = pd.DataFrame({"account_id": ids[rng.integers(0, n, k)], "date": dates(k)})
    k = 80
    outcomes = pd.DataFrame({"account_id": ids[rng.integers(0, n, k)], "goal": "g",
                             "target_date": dates(k), "achieved": rng.random(k) < 0.6})
    k = 150
    contact = dates(k)
    prospects = pd.DataFrame({
        "prospect_id": [f"L{i}" for i in range(k)], "first_contact": contact,
        "converted": contact.where(rng.random(k) < 0.3) + pd.to_timedelta(rng.integers(0, 90, k), unit="D"),
        "channel": np.array(["X", "Y", "Z"])[rng.integers(0, 3, k)],
    })
    k = 60
    manager_surveys = pd.DataFrame({"account_manager": np.array(["M1", "M2", "M3"])[rng.integers(0, 3, k)],
                                    "date": dates(k), "satisfaction": rng.integers(1, 6, k)})
    tables = {"transactions": tx, "accounts": accounts, "surveys": surveys, "interactions": interactions,
              "outcomes": outcomes, "prospects": prospects, "manager_surveys": manager_surveys}
    return tables, monthly, periods


@pytest.fixture(scope="module")
def world_kpis():
    tables, panel, periods = _random_world()
    cadence = {"Key": 2, "Core": 1}
    kpis = kpi.kpi_table(tables, panel, cadence=cadence)
    return tables, panel, periods, kpis


def _value(kpis, kpi_name, *, level="portfolio", group="portfolio", window="trailing_12m", period=None):
    sel = kpis[(kpis["kpi"] == kpi_name) & (kpis["level"] == level) & (kpis["group"] == group)
               & (kpis["window"] == window)]
    if period is not None:
        sel = sel[sel["period"] == period]
    assert len(sel) == 1, (kpi_name, level, group, window, period, len(sel))
    return float(sel["value"].iloc[0])


def test_kpi_table_shape_and_columns(world_kpis):
    _, _, periods, kpis = world_kpis
    assert list(kpis.columns) == ["level", "group", "account_id", "period", "window", "kpi", "value", "message"]
    assert set(kpis["level"]) == {"account", "account_manager", "segment", "channel", "portfolio"}
    assert set(kpis["window"].dropna()) == {"period", "trailing_12m"}
    acc = kpis[kpis["level"] == "account"]
    assert (acc["account_id"] == acc["group"]).all()
    assert kpis.loc[kpis["level"] != "account", "account_id"].isna().all()
    assert kpis["message"].isna().all()  # every table present: everything available
    assert not kpis.duplicated(["level", "group", "period", "window", "kpi"]).any()


def test_kpi_table_panel_kpis_match_the_plain_functions(world_kpis):
    _, panel, periods, kpis = world_kpis
    last, year_ago = periods[-1], periods[-13]
    grr, nrr = kpi.revenue_retention(panel, start=year_ago, end=last)
    assert _value(kpis, "grr", period=last) == pytest.approx(grr)
    assert _value(kpis, "nrr", period=last) == pytest.approx(nrr)
    assert _value(kpis, "revenue_churn_rate", period=last) == pytest.approx(1 - grr)
    assert _value(kpis, "upsell_rate", period=last) == pytest.approx(
        kpi.upsell_rate(panel, start=year_ago, end=last))
    assert _value(kpis, "renewal_rate", period=last) == pytest.approx(
        kpi.renewal_rate(panel, start=year_ago, end=last))
    assert _value(kpis, "repeat_purchase_share", period=last) == pytest.approx(
        kpi.repeat_purchase_share(panel, end=last))
    # single-period GRR compares the month with the month before
    grr1, _ = kpi.revenue_retention(panel, start=periods[-2], end=last, window=1)
    assert _value(kpis, "grr", window="period", period=last) == pytest.approx(grr1)
    # logo churn per month, and its annualisation 1 − (1 − c)^12
    churn = kpi.logo_churn(panel)
    table = kpis[(kpis["kpi"] == "logo_churn_rate") & (kpis["level"] == "portfolio")
                 & (kpis["window"] == "period")].set_index("period")["value"]
    pd.testing.assert_series_equal(table, churn.dropna(), check_names=False, check_freq=False,
                                   check_index_type=False)
    ann = _value(kpis, "logo_churn_annualised_rate", window="period", period=periods[5])
    assert ann == pytest.approx(kpi.annualise_churn(churn.iloc[5]))


def test_kpi_table_clv_matches_account_clv(world_kpis):
    pytest.importorskip("kamtools.retention")
    _, panel, periods, kpis = world_kpis
    last = periods[-1]
    # no renewal_likelihood in this accounts table: retention = the portfolio's trailing renewal rate
    r = kpi.renewal_rate(panel, start=periods[-13], end=last)
    clv = kpi.account_clv(panel, retention=r, discount_rate=0.10)
    assert _value(kpis, "clv_value", period=last) == pytest.approx(clv.sum())
    one = clv.index[0]
    assert _value(kpis, "clv_value", level="account", group=one, period=last) == pytest.approx(clv[one])


def test_kpi_table_event_kpis_match_the_plain_functions(world_kpis):
    tables, panel, periods, kpis = world_kpis
    last = periods[-1]
    as_of = last + pd.offsets.MonthEnd(0)  # last day of the last month
    start = periods[-12]
    sv = tables["surveys"]
    in_year = sv[(sv["date"] >= start) & (sv["date"] <= as_of)]
    assert _value(kpis, "nps", period=last) == pytest.approx(kpi.nps(in_year["nps"]))
    assert _value(kpis, "nps_standard_error", period=last) == pytest.approx(
        kpi.nps_standard_error(in_year["nps"]))
    assert _value(kpis, "csat_top2box_share", period=last) == pytest.approx(kpi.csat(in_year["csat"]))
    # a manager's NPS pools the answers of their accounts (not a mean of account NPS)
    m1 = tables["accounts"].loc[tables["accounts"]["account_manager"] == "M1", "account_id"]
    assert _value(kpis, "nps", level="account_manager", group="M1", period=last) == pytest.approx(
        kpi.nps(in_year.loc[in_year["account_id"].isin(m1), "nps"]))
    one = in_year["account_id"].iloc[0]
    assert _value(kpis, "nps", level="account", group=one, period=last) == pytest.approx(
        kpi.nps(in_year.loc[in_year["account_id"] == one, "nps"]))
    assert _value(kpis, "referenceable_share", period=last) == pytest.approx(
        kpi.referenceable_share(sv, as_of=as_of))
    assert _value(kpis, "outcomes_share", period=last) == pytest.approx(
        kpi.outcomes_share(tables["outcomes"], as_of=as_of, start=start - pd.Timedelta(days=1)))
    assert _value(kpis, "acquisition_rate", period=last) == pytest.approx(
        kpi.acquisition_rate(tables["prospects"], start=start, end=as_of + pd.Timedelta(days=1),
                             as_of=as_of, by=None))
    by_channel = kpi.acquisition_rate(tables["prospects"], start=start, end=as_of + pd.Timedelta(days=1),
                                      as_of=as_of)
    assert _value(kpis, "acquisition_rate", level="channel", group="Y", period=last) == pytest.approx(
        by_channel["Y"])
    sat = kpi.manager_satisfaction(tables["manager_surveys"], start=start, end=as_of + pd.Timedelta(days=1))
    assert _value(kpis, "manager_satisfaction_score", level="account_manager", group="M2",
                  period=last) == pytest.approx(sat["M2"])
    assert _value(kpis, "cross_sell_rate", period=last) == pytest.approx(
        kpi.cross_sell_rate(tables["transactions"], start=start, end=as_of + pd.Timedelta(days=1)))


def test_kpi_table_interactions_match_interaction_summary(world_kpis):
    tables, panel, periods, kpis = world_kpis
    last = periods[-1]
    tiers = tables["accounts"].set_index("account_id")["segment"]
    summary = kpi.interaction_summary(tables["interactions"], start=periods[-12],
                                      end=last + pd.offsets.MonthEnd(0),
                                      cadence={"Key": 2, "Core": 1}, tiers=tiers)
    acc = kpi.pivot_kpis(kpis, level="account", period=last)
    # interaction KPIs cover the current accounts: those with activity in the last 12 months
    recent = panel[(panel["period"] >= periods[-12]) & panel["active"]]
    current = pd.Index(sorted(recent["account_id"].unique()))
    assert 10 < len(current) < 30
    assert list(acc["contacts_per_period"].dropna().index) == list(current)
    for col in ("contacts_per_period", "cadence_attainment", "longest_gap_days", "days_since_last_touch"):
        pd.testing.assert_series_equal(acc.loc[current, col], summary.loc[current, col],
                                       check_names=False, check_index_type=False)


def test_every_kpi_in_the_table_is_defined(world_kpis):
    *_, kpis = world_kpis
    defined = set(kpi.kpi_definitions()["kpi"])
    assert set(kpis["kpi"]) <= defined
    assert {"nps", "grr", "nrr", "logo_churn_rate", "clv_value", "acquisition_rate"} <= set(kpis["kpi"])


def test_kpi_table_not_available_is_never_zero():
    tables, panel, periods = _random_world()
    only_ledger = {"transactions": tables["transactions"]}
    kpis = kpi.kpi_table(only_ledger, panel)
    nps_rows = kpis[kpis["kpi"] == "nps"]
    assert len(nps_rows) == 1
    row = nps_rows.iloc[0]
    assert np.isnan(row["value"])
    assert row["message"] == "not available: provide surveys with account_id, date, nps"
    for name, table in (("outcomes_share", "outcomes"), ("acquisition_rate", "prospects"),
                        ("manager_satisfaction_score", "manager_surveys"),
                        ("days_since_last_touch", "interactions")):
        rows = kpis[kpis["kpi"] == name]
        assert len(rows) == 1 and rows["value"].isna().all()
        assert rows["message"].iloc[0].startswith(f"not available: provide {table} with ")
    # no manager or segment roll-up without an accounts table; ledger KPIs still computed
    assert not kpis["level"].isin(["account_manager", "segment"]).any()
    assert kpis.loc[(kpis["kpi"] == "grr") & kpis["value"].notna()].shape[0] > 0
    avail = kpi.kpi_availability(only_ledger, panel=panel).set_index("kpi")
    assert not avail.loc["level:account_manager", "available"]
    assert avail.loc["cross_sell_rate", "available"]
    # a table whose column is entirely empty is not available either
    empty_nps = {**only_ledger, "surveys": tables["surveys"].assign(nps=np.nan)}
    assert not kpi.kpi_availability(empty_nps).set_index("kpi").loc["nps", "available"]


def test_kpi_table_cadence_needs_a_parameter():
    tables, panel, _ = _random_world()
    kpis = kpi.kpi_table(tables, panel, levels=("portfolio",))
    row = kpis[kpis["kpi"] == "cadence_attainment"]
    assert row["message"].iloc[0] == "not available: provide cadence (contacts per period for each segment)"
    assert set(kpis["level"]) == {"portfolio"}


def test_kpi_table_counts_a_month_without_any_purchase_hand_worked():
    # a small ledger: a buys in January (100) and March (100), b in January only (50); nobody in February,
    # so the panel has no February row at all. February is still a period:
    #   cohort of January {a: 100, b: 50}, February revenue 0 -> GRR = NRR = 0 / 150 = 0, renewal 0 of 2,
    #   revenue churn 1; logo churn: b never buys again (lost), a comes back in March -> 1 of 2 = 0.5.
    # March: nobody bought in February, so there is no cohort and no GRR row. (Reading the panel's rows as
    # consecutive periods would compare March with January: GRR = min(100, 100) / 150 = 2/3.)
    panel = pd.DataFrame({"account_id": ["a", "a", "b"], "revenue": [100.0, 100.0, 50.0],
                          "period": pd.to_datetime(["2024-01-01", "2024-03-01", "2024-01-01"])})
    tx = panel.rename(columns={"period": "date"}).assign(date=lambda d: d["date"] + pd.Timedelta(days=4))
    kpis = kpi.kpi_table({"transactions": tx}, panel, levels=("account", "portfolio"))
    port = kpis[(kpis["level"] == "portfolio") & (kpis["window"] == "period")].set_index(["period", "kpi"])["value"]
    feb, mar = pd.Timestamp("2024-02-01"), pd.Timestamp("2024-03-01")
    assert port[(feb, "grr")] == 0.0 and port[(feb, "nrr")] == 0.0
    assert port[(feb, "renewal_rate")] == 0.0 and port[(feb, "revenue_churn_rate")] == 1.0
    assert port[(feb, "logo_churn_rate")] == 0.5
    assert (mar, "grr") not in port.index


def test_kpi_table_gap_in_the_panel_equals_a_period_of_zeros():
    # two routes: leaving out every row of a period in which no account bought, or listing it with zeros
    tables, panel, periods = _random_world()
    quiet = periods[5]
    tx = tables["transactions"]
    tables = {**tables, "transactions": tx[tx["date"].dt.to_period("M").dt.start_time != quiet]}
    holes = panel[panel["period"] != quiet]
    zeros = pd.DataFrame({"account_id": holes["account_id"].unique(), "period": quiet, "revenue": 0.0,
                          "gross_margin": 0.0, "active": False})
    filled = pd.concat([holes, zeros], ignore_index=True)
    a = kpi.kpi_table(tables, holes, cadence={"Key": 2, "Core": 1})
    b = kpi.kpi_table(tables, filled, cadence={"Key": 2, "Core": 1})
    assert (a["period"] == quiet).any()  # the quiet month has its rows
    keys = ["level", "group", "window", "period", "kpi"]
    pd.testing.assert_frame_equal(a.sort_values(keys).reset_index(drop=True),
                                  b.sort_values(keys).reset_index(drop=True))


def test_kpi_table_refuses_periods_off_the_calendar_and_bad_parameters():
    tables, panel, periods = _random_world()
    mid_month = panel.assign(period=panel["period"] + pd.Timedelta(days=14))
    with pytest.raises(DataValidationError, match=r"panel: column 'period' must hold 'M' period starts; "
                                                  r"\d+ of \d+ rows do not .*Build the panel at freq='M'"):
        kpi.kpi_table(tables, mid_month)
    with pytest.raises(ParameterError, match=r"The 'freq' parameter of kpi_table must be one of"):
        kpi.kpi_table(tables, panel, freq="fortnight")
    with pytest.raises(ParameterError, match=r"The 'levels' parameter of kpi_table must be a sequence of"):
        kpi.kpi_table(tables, panel, levels=("account", "region"))


def test_kpi_table_rates_are_fractions():
    tables, panel, _ = _random_world(seed=11)
    kpis = kpi.kpi_table(tables, panel, cadence={"Key": 2, "Core": 1})
    rates = kpis[kpis["kpi"].str.endswith(("_rate", "_share")) & kpis["value"].notna()]
    assert len(rates) > 1000
    assert rates["value"].between(0, 1).all()
    nps_values = kpis.loc[kpis["kpi"] == "nps", "value"]
    assert nps_values.between(-100, 100).all()
    assert (kpis.loc[kpis["kpi"] == "nps_standard_error", "value"] >= 0).all()
    assert (kpis.loc[kpis["kpi"] == "nrr", "value"] >= 0).all()


# ---------------------------------------------------------------------------------------------
# health score
# ---------------------------------------------------------------------------------------------
def test_health_score_weights_hand_example():
    m = pd.DataFrame({"nps": [80.0, 40.0], "grr": [40.0, 100.0]}, index=["a", "b"])
    h = kpi.health_score(m, {"nps": 3, "grr": 1})
    # a: (3·80 + 1·40)/4 = 70; b: (3·40 + 1·100)/4 = 55
    assert h["score"].to_list() == [70.0, 55.0]
    assert h["coverage"].to_list() == [1.0, 1.0]
    assert h["band"].astype(str).to_list() == ["amber", "amber"]


def test_health_score_band_edges_on_the_unrounded_score():
    scores = [0.0, 50.0, 50.4, 50.6, 51.0, 75.0, 75.2, 76.0, 100.0]
    h = kpi.health_score(pd.DataFrame({"m": scores}), {"m": 1})
    assert h["band"].astype(str).to_list() == [
        "red", "red", "amber", "amber", "amber", "amber", "green", "green", "green"]
    assert list(h["band"].cat.categories) == ["red", "amber", "green"]
    narrow = kpi.health_score(pd.DataFrame({"m": [60.0, 61.0]}), {"m": 1}, bands=(60, 90))
    assert narrow["band"].astype(str).to_list() == ["red", "amber"]


def test_health_score_redistributes_missing_weight_and_reports_coverage():
    m = pd.DataFrame({"nps": [80.0, np.nan, np.nan], "grr": [np.nan, 30.0, np.nan], "csat": [50.0, 60.0, np.nan]},
                     index=["a", "b", "c"])
    h = kpi.health_score(m, {"nps": 3, "grr": 1, "csat": 1})
    # a: (3·80 + 1·50)/(3+1) = 72.5 on 4/5 of the weight; b: (30 + 60)/2 = 45 on 2/5; c: nothing
    assert h.loc["a", "score"] == pytest.approx(72.5) and h.loc["a", "coverage"] == pytest.approx(0.8)
    assert h.loc["b", "score"] == pytest.approx(45.0) and h.loc["b", "coverage"] == pytest.approx(0.4)
    assert np.isnan(h.loc["c", "score"]) and h.loc["c", "coverage"] == 0 and pd.isna(h.loc["c", "band"])
    assert h["n_measures"].to_list() == [2, 2, 0]
    with pytest.warns(UserWarning, match=r"measures \['outcomes'\] are not in the data"):
        h2 = kpi.health_score(m, {"nps": 3, "outcomes": 1})
    assert h2.loc["a", "score"] == 80.0 and h2.loc["a", "coverage"] == 0.75


def test_health_score_refuses_unnormalised_measures_and_bad_parameters():
    m = pd.DataFrame({"nps": [30.0, -20.0]}, index=["a", "b"])
    with pytest.raises(DataValidationError,
                       match=r"measures: values must be on 0–100 .*1 of 2 are not \('b'/nps=-20"):
        kpi.health_score(m, {"nps": 1})
    ok = pd.DataFrame({"nps": [30.0]})
    with pytest.raises(ParameterError, match=r"The 'weights' parameter of health_score must be non-negative"):
        kpi.health_score(ok, {"nps": -1})
    with pytest.raises(ParameterError, match=r"The 'bands' parameter of health_score must be two increasing"):
        kpi.health_score(ok, {"nps": 1}, bands=(75, 50))


def test_health_trend_against_a_previous_frame():
    prev = kpi.health_score(pd.DataFrame({"m": [60.0, 80.0, 60.0]}, index=list("xyz")), {"m": 1})
    now = kpi.health_score(pd.DataFrame({"m": [70.0, 79.5, 40.0]}, index=list("xyz")), {"m": 1}, previous=prev)
    assert now["delta"].to_list() == [10.0, -0.5, -20.0]
    assert now["trend"].to_list() == ["up", "flat", "down"]  # |−0.5| is within the 1-point tolerance
    assert now["arrow"].to_list() == ["↑", "→", "↓"]
    assert now["previous_band"].astype(str).to_list() == ["amber", "green", "amber"]


def _health_panel():
    idx = pd.MultiIndex.from_product([list("xyz"), MONTHS[:2]], names=["account_id", "period"])
    m = pd.DataFrame({"m": [60.0, 70.0, 80.0, 79.5, 60.0, 40.0]}, index=idx)
    return kpi.health_score(m, {"m": 1})


def test_health_trend_per_account_over_periods():
    h = _health_panel()
    second = h.xs(MONTHS[1], level="period")
    assert second["trend"].to_list() == ["up", "flat", "down"]
    assert second["delta"].to_list() == [10.0, -0.5, -20.0]
    assert h.xs(MONTHS[0], level="period")["trend"].isna().all()  # nothing to compare with


def test_health_over_a_single_period_has_no_trend_and_no_turns():
    # a ledger with one month of health: no previous period (pandas 3 cast the dates to float when the
    # lookup of previous periods was empty: "Cannot cast DatetimeArray to dtype float64")
    idx = pd.MultiIndex.from_product([list("xy"), MONTHS[:1]], names=["account_id", "period"])
    h = kpi.health_score(pd.DataFrame({"m": [30.0, 80.0]}, index=idx), {"m": 1})
    assert h["score"].to_list() == [30.0, 80.0] and h["band"].astype(str).to_list() == ["red", "green"]
    assert h["previous_score"].isna().all() and h["trend"].isna().all()
    assert kpi.accounts_turned_red(h).empty


def test_accounts_turned_red():
    turned = kpi.accounts_turned_red(_health_panel())
    # z went from 60 (amber) to 40 (red); x and y did not turn red
    assert turned["account_id"].to_list() == ["z"]
    assert turned["previous_band"].to_list() == ["amber"]
    assert turned["delta"].to_list() == [-20.0]
    assert kpi.accounts_turned_red(_health_panel(), as_of=MONTHS[0]).empty


def test_normalise_measures_rules():
    raw = pd.DataFrame({"nps": [-100.0, 0.0, 100.0], "grr": [0.5, 1.3, np.nan],
                        "days_since_last_touch": [45.0, 120.0, 0.0]})
    out = kpi.normalise_measures(raw, {"nps": "nps", "grr": "rate", "days_since_last_touch": (90, 0),
                                       "outcomes_share": "rate"})
    assert out["nps"].to_list() == [0.0, 50.0, 100.0]  # −100…100 -> 0…100
    assert out["grr"].to_list()[:2] == [50.0, 100.0]  # ×100, capped at 100
    assert out["days_since_last_touch"].to_list() == [50.0, 0.0, 100.0]  # 90 days or more -> 0
    assert out["outcomes_share"].isna().all()  # not in the data: missing, not 0
    with pytest.raises(ParameterError, match=r"The 'rules' parameter of normalise_measures must be presets from"):
        kpi.normalise_measures(raw, {"nps": "promoters"})


# ---------------------------------------------------------------------------------------------
# early warning
# ---------------------------------------------------------------------------------------------
def test_early_warning_rate_hand_example():
    bands = {  # four months of bands per account
        "c1": ["green", "red", "green", "green"],    # churns in month 4; red in month 2: flagged
        "c2": ["green", "green", "green", "green"],  # churns in month 4; never flagged
        "c3": ["green", "green", "red", "green"],    # churns in month 3; red only at churn: too late
        "s1": ["green", "green", "green", "amber"],  # survivor flagged in the last months
        "s2": ["green", "green", "green", "green"],  # survivor never flagged
    }
    rows = [(a, MONTHS[t], b) for a, bs in bands.items() for t, b in enumerate(bs)]
    health = pd.DataFrame(rows, columns=["account_id", "period", "band"]).set_index(["account_id", "period"])
    churned = pd.Series({"c1": MONTHS[3] + pd.Timedelta(days=5), "c2": MONTHS[3], "c3": MONTHS[2],
                         "s1": pd.NaT, "s2": pd.NaT})
    res = kpi.early_warning_rate(health, churned, lead=1, lookback=2)
    # windows: c1 months 2–3 (red in 2) yes; c2 months 2–3 no; c3 months 1–2 no -> 1/3
    assert float(res) == pytest.approx(1 / 3)
    assert (res.n_evaluated, res.n_flagged, res.n_churned) == (3, 1, 3)
    # survivors, last lookback − lead + 1 = 2 months: s1 amber, s2 not -> 1/2
    assert res.survivor_flag_rate == 0.5
    s = res.summary()
    assert list(s.columns) == ["term", "estimate", "std_err", "ci_lower", "ci_upper", "n_obs", "alpha"]
    assert (s["ci_lower"] <= s["estimate"]).all() and (s["estimate"] <= s["ci_upper"]).all()
    # Wilson interval for 1 of 3 at 95 %: (0.0615, 0.7923)
    assert s.loc[0, ["ci_lower", "ci_upper"]].to_list() == pytest.approx([0.0615, 0.7923], abs=1e-4)
    assert bool(res.detail.loc["c1", "flagged"]) and not res.detail.loc["c3", "flagged"]
    import matplotlib.pyplot as plt

    ax = res.plot()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["detection_rate", "survivor_flag_rate"]
    plt.close(ax.figure)
    assert "1 of 3 churned accounts flagged" in res._repr_html_()
    with pytest.raises(ParameterError, match=r"The 'churned' parameter of early_warning_rate must be a Series "
                                             r"of churn dates"):
        kpi.early_warning_rate(health, churned.notna())


def test_early_warning_on_the_synthetic_world():
    """Accounts the world makes churn are flagged before they churn more often than survivors."""
    sample = pytest.importorskip("kamtools.sample")
    panel_mod = pytest.importorskip("kamtools.panel")
    world = sample.generate_world(seed=0)
    panel = panel_mod.build_panel(world)
    kpis = kpi.kpi_table(world, panel, cadence={"Enterprise": 2, "Mid-market": 1, "SMB": 0.5},
                         levels=("account",))
    raw = kpi.pivot_kpis(kpis, level="account")
    rules = {"nps": "nps", "csat_top2box_share": "rate", "referenceable_share": "rate",
             "days_since_last_touch": (90, 0), "cadence_attainment": "rate"}
    weights = {"nps": 2, "csat_top2box_share": 1, "referenceable_share": 1, "days_since_last_touch": 1,
               "cadence_attainment": 1}
    health = kpi.health_score(kpi.normalise_measures(raw, rules), weights)
    # truth.churned holds the month of the last purchase: the churn period is the month after
    churn = pd.Series(world.truth.churned).map(lambda d: d + pd.DateOffset(months=1))
    red = kpi.early_warning_rate(health, churn, lead=1, lookback=3, bands=("red",))
    red_amber = kpi.early_warning_rate(health, churn, lead=1, lookback=3)
    # measured with seed 0: red 0.75 of churners vs 0.47 of survivors; red/amber 0.90 vs 0.78
    assert red.n_evaluated >= 80
    assert red.rate >= 0.6
    assert red.rate - red.survivor_flag_rate >= 0.15
    assert red_amber.rate >= red.rate
    assert red_amber.rate > red_amber.survivor_flag_rate


# ---------------------------------------------------------------------------------------------
# invariants (hypothesis)
# ---------------------------------------------------------------------------------------------
nps_scores = st.lists(st.integers(0, 10), min_size=1, max_size=200)


@given(nps_scores)
def test_nps_bounds_and_se_non_negative(scores):
    value, se = kpi.nps(scores), kpi.nps_standard_error(scores)
    assert -100.0 <= value <= 100.0
    assert se >= 0.0
    assert se <= 100.0  # the score takes values in [−1, 1]: its SE is at most 1/sqrt(n) ≤ 1


@given(st.floats(0, 1), st.floats(0, 1), st.integers(1, 52))
def test_annualised_churn_is_a_monotone_fraction(c1, c2, periods):
    a1, a2 = kpi.annualise_churn(c1, periods), kpi.annualise_churn(c2, periods)
    assert 0.0 <= a1 <= 1.0
    assert a1 >= c1 - 1e-12  # a year of churn is at least one period's
    if c1 <= c2:
        assert a1 <= a2 + 1e-12


revenue_matrix = st.lists(
    st.lists(st.sampled_from([0.0, 0.0, 5.0, 10.0, 40.0, 100.0]), min_size=6, max_size=6),
    min_size=2, max_size=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(revenue_matrix, st.sampled_from([None, 1, 2]))
def test_panel_rates_are_fractions(rows, gap):
    panel = _panel({f"a{i}": r for i, r in enumerate(rows)})
    churn = kpi.logo_churn(panel, churn_gap=gap).dropna()
    assert churn.between(0, 1).all()
    b = kpi.revenue_bridge(panel, start=MONTHS[2], end=MONTHS[5], window=3)
    if b["n_accounts"] > 0:
        assert 0.0 <= b["grr"] <= 1.0
        assert b["nrr"] >= b["grr"] - 1e-12
        # the bridge adds up: NRR = (start − churn − contraction + expansion) / start
        assert b["nrr"] == pytest.approx(
            (b["start_value"] - b["churn_value"] - b["contraction_value"] + b["expansion_value"])
            / b["start_value"])
        for f in (kpi.upsell_rate, kpi.renewal_rate):
            assert 0.0 <= f(panel, start=MONTHS[2], end=MONTHS[5], window=3) <= 1.0


measure_values = st.one_of(st.none(), st.floats(0, 100))


@given(st.lists(st.tuples(measure_values, measure_values, measure_values), min_size=1, max_size=20),
       st.tuples(st.floats(0, 5), st.floats(0, 5), st.floats(0.1, 5)))
def test_health_score_bounds(rows, w):
    m = pd.DataFrame(rows, columns=["a", "b", "c"], dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = kpi.health_score(m, dict(zip("abc", w)))
    ok = h["score"].notna()
    assert h.loc[ok, "score"].between(0, 100).all()
    assert h["coverage"].between(0, 1).all()
    # a weighted mean lies between the smallest and largest measure present (weight > 0)
    weighted = m.loc[:, [c for c, x in zip("abc", w) if x > 0]]
    lo, hi = weighted.min(axis=1), weighted.max(axis=1)
    assert (h.loc[ok, "score"] >= lo[ok] - 1e-9).all() and (h.loc[ok, "score"] <= hi[ok] + 1e-9).all()


# ---------------------------------------------------------------------------------------------
# numerical edge found by hypothesis: subnormal weights
# ---------------------------------------------------------------------------------------------
def test_health_score_with_a_subnormal_weight_stays_within_the_measures():
    # w = (5e-324, 0, 1) and only the first measure present: the score is that measure, 1.5.
    # Σwx/Σw rounds 1.5·5e-324 to 2·5e-324 and gave 2.0; normalising the weights first gives 1.5.
    m = pd.DataFrame({"a": [1.5], "b": [np.nan], "c": [np.nan]})
    h = kpi.health_score(m, {"a": 5e-324, "b": 0.0, "c": 1.0})
    assert h["score"].iloc[0] == 1.5


def test_kpi_table_clv_at_every_period_with_a_full_year(world_kpis):
    pytest.importorskip("kamtools.retention")
    _, panel, periods, kpis = world_kpis
    r = kpi.renewal_rate(panel, start=periods[-13], end=periods[-1])
    earlier = periods[-7]
    clv = kpi.account_clv(panel, retention=r, discount_rate=0.10, as_of=earlier)
    assert _value(kpis, "clv_value", period=earlier) == pytest.approx(clv.sum())
    first_full = periods[11]  # the first period with twelve months behind it
    clv_rows = kpis[(kpis["kpi"] == "clv_value") & (kpis["level"] == "portfolio")]
    assert clv_rows["period"].min() == first_full
    assert (clv_rows["window"] == "trailing_12m").all()


# ---------------------------------------------------------------------------------------------
# notebook 02 building blocks
# ---------------------------------------------------------------------------------------------
def test_analysis_period_is_the_last_full_period():
    assert kpi.analysis_period("2025-12-31") == pd.Timestamp("2025-12-01")  # December is complete
    assert kpi.analysis_period("2025-12-30") == pd.Timestamp("2025-11-01")  # December is not
    assert kpi.analysis_period("2025-12-31", as_of="2025-06-15") == pd.Timestamp("2025-05-01")
    assert kpi.analysis_period("2025-12-31", as_of="2025-06-30") == pd.Timestamp("2025-06-01")
    assert kpi.analysis_period("2025-12-31", freq="Q") == pd.Timestamp("2025-10-01")
    assert kpi.analysis_period("2025-12-30", freq="Q") == pd.Timestamp("2025-07-01")
    assert kpi.analysis_period("2025-12-31", as_of="") == pd.Timestamp("2025-12-01")  # empty = not given
    with pytest.raises(ParameterError, match=r"The 'freq' parameter of analysis_period must be one of"):
        kpi.analysis_period("2025-12-31", freq="fortnight")
    with pytest.raises(ParameterError, match=r"The 'as_of' parameter of analysis_period must be a date"):
        kpi.analysis_period("2025-12-31", as_of="soon")


def test_key_accounts_from_the_flag():
    acc = pd.DataFrame({"account_id": ["b", "a", "c"], "is_key_account": pd.array([True, True, None])})
    assert list(kpi.key_accounts(acc)) == ["a", "b"]  # missing reads as not key
    assert kpi.key_accounts(acc.assign(is_key_account=pd.array([None] * 3, dtype="boolean"))) is None
    assert kpi.key_accounts(acc.assign(is_key_account=False)) is None
    assert kpi.key_accounts(acc.drop(columns="is_key_account")) is None
    assert kpi.key_accounts(None) is None


PERIODS14 = pd.date_range("2024-01-01", periods=14, freq="MS")


def _long_kpis():
    """Portfolio rows: NRR 1.00, 1.01, … 1.13 (trailing); logo churn known up to month 12 of 14;
    monthly churn 0.02 with its annualisation in the period window; NPS not available."""
    rows = []
    for t, p in enumerate(PERIODS14):
        rows.append(("trailing_12m", p, "nrr", 1.00 + 0.01 * t))
        if t < 12:
            rows.append(("trailing_12m", p, "logo_churn_rate", 0.10 + 0.01 * t))
        rows.append(("period", p, "logo_churn_rate", 0.02))
        rows.append(("period", p, "logo_churn_annualised_rate", 1 - 0.98**12))
    frame = pd.DataFrame(rows, columns=["window", "period", "kpi", "value"])
    frame = frame.assign(level="portfolio", group="portfolio", account_id=pd.NA, message=pd.NA)
    missing = pd.DataFrame({"level": ["portfolio"], "group": ["portfolio"], "account_id": [pd.NA],
                            "period": [PERIODS14[-1]], "window": [None], "kpi": ["nps"], "value": [np.nan],
                            "message": ["not available: provide surveys with account_id, date, nps"]})
    cols = ["level", "group", "account_id", "period", "window", "kpi", "value", "message"]
    return pd.concat([frame[cols], missing[cols]], ignore_index=True)


def test_portfolio_dashboard_this_period_last_period_and_a_year_ago():
    d = kpi.portfolio_dashboard(_long_kpis()).set_index("kpi")
    # NRR in the last month (t = 13): 1.13; last month 1.12; a year ago (t = 1) 1.01
    assert d.loc["nrr", ["this_period", "last_period", "year_ago"]].to_list() == pytest.approx([1.13, 1.12, 1.01])
    assert d.loc["nrr", ["change_vs_last", "change_vs_year_ago"]].to_list() == pytest.approx([0.01, 0.12])
    assert d.loc["nrr", "period"] == PERIODS14[-1] and d.loc["nrr", "note"] == ""
    assert d.loc["nrr", "family"] == 6 and d.loc["nrr", "kind"] == "percent"
    # churn is not known for the last two months: the latest known (t = 11) is shown, and said so
    assert d.loc["logo_churn_rate", "period"] == PERIODS14[11]
    assert d.loc["logo_churn_rate", "this_period"] == pytest.approx(0.21)
    assert d.loc["logo_churn_rate", "last_period"] == pytest.approx(0.20)
    assert np.isnan(d.loc["logo_churn_rate", "year_ago"])  # t = −1 does not exist
    assert d.loc["logo_churn_rate", "note"] == "not known yet for 2025-02: value of 2024-12, the latest known"
    # not available: NaN everywhere, the message as the note — never 0
    assert d.loc["nps", ["this_period", "last_period", "year_ago"]].isna().all()
    assert d.loc["nps", "note"] == "not available: provide surveys with account_id, date, nps"
    # the trailing window's churn is already yearly: no annualised row
    assert "logo_churn_annualised_rate" not in d.index
    monthly = kpi.portfolio_dashboard(_long_kpis(), window="period").set_index("kpi")
    assert monthly.loc["logo_churn_annualised_rate", "this_period"] == pytest.approx(0.2153, abs=1e-4)
    # an earlier report period
    early = kpi.portfolio_dashboard(_long_kpis(), period=PERIODS14[5]).set_index("kpi")
    assert early.loc["nrr", "this_period"] == pytest.approx(1.05)
    assert list(d["family"]) == sorted(d["family"])  # the ten KPIs in their order


def test_portfolio_dashboard_errors():
    with pytest.raises(ParameterError, match=r"The 'window' parameter of portfolio_dashboard must be one of"):
        kpi.portfolio_dashboard(_long_kpis(), window="year")
    with pytest.raises(ParameterError, match=r"The 'period' parameter of portfolio_dashboard must be a period "
                                             r"of kpis \(2024-01-01 … 2025-02-01\)"):
        kpi.portfolio_dashboard(_long_kpis(), period="2030-01-01")
    with pytest.raises(DataValidationError, match=r"kpis: missing required column\(s\) \['message'\]"):
        kpi.portfolio_dashboard(_long_kpis().drop(columns="message"))


def test_format_dashboard_reads_as_percent_and_keeps_messages():
    f = kpi.format_dashboard(kpi.portfolio_dashboard(_long_kpis()))
    nrr = f.xs("NRR, net revenue retention", level="KPI").iloc[0]
    assert nrr["this period"] == "113.0%" and nrr["vs last"] == "+1.0 pts" and nrr["vs a year ago"] == "+12.0 pts"
    assert nrr["period"] == "2025-02"
    nps = f.xs("NPS", level="KPI").iloc[0]
    assert nps["this period"] == "not available: provide surveys with account_id, date, nps"
    assert nps["last period"] == "" and nps["a year ago"] == ""  # blank, not 0
    assert not f.apply(lambda col: col.isin(["0", "0.0", "0.0%"])).any().any()
    # a change that rounds to nothing reads 0, not −0.0 (0.5 − 0.50001 = −0.001 pts)
    tiny = kpi.portfolio_dashboard(_long_kpis()).iloc[[0]].assign(
        kind="percent", this_period=0.5, last_period=0.50001, change_vs_last=-0.00001, note="")
    assert kpi.format_dashboard(tiny)["vs last"].iloc[0] == "0.0 pts"


def _two_period_health():
    # measures m1 (weight 3) and m2 (weight 1) on 0–100
    # month 1: x (80, 80) → 80 green; y (60, 60) → 60 amber; z (70, 40) → 62.5 amber
    # month 2: x (90, 70) → 85 green; y (60, 20) → 50 red (the edge); z (40, 40) → 40 red
    idx = pd.MultiIndex.from_product([list("xyz"), MONTHS[:2]], names=["account_id", "period"])
    measures = pd.DataFrame({"m1": [80, 90, 60, 60, 70, 40], "m2": [80, 70, 60, 20, 40, 40]},
                            index=idx, dtype=float)
    weights = {"m1": 3, "m2": 1}
    accounts = pd.DataFrame({"account_id": list("xyz"), "account_name": ["X AG", "Y SA", "Z BV"],
                             "account_manager": ["M1", "M1", "M2"]})
    return measures, weights, kpi.health_score(measures, weights), accounts


def test_health_table_for_the_scope_weakest_first():
    measures, weights, health, accounts = _two_period_health()
    raw = pd.DataFrame({"m1": [0.9, 0.6, 0.4]}, index=pd.Index(list("xyz"), name="account_id"))
    t = kpi.health_table(health, period=MONTHS[1], accounts=accounts, raw=raw)
    assert list(t.index) == ["z", "y", "x"]
    assert t["score"].to_list() == [40.0, 50.0, 85.0]
    assert t["band"].astype(str).to_list() == ["red", "red", "green"]
    assert t["arrow"].to_list() == ["↓", "↓", "↑"]  # −22.5, −10, +5
    assert t.loc["z", "account_name"] == "Z BV" and t.loc["z", "m1"] == 0.4
    scoped = kpi.health_table(health, period=MONTHS[1], scope=["x", "z"])
    assert list(scoped.index) == ["z", "x"]


def test_turned_red_table_names_the_main_driver():
    measures, weights, health, accounts = _two_period_health()
    t = kpi.turned_red_table(health, measures, weights, period=MONTHS[1], lookback=1, accounts=accounts)
    # y: m2 fell 40 points at weight 1 of 4 → −10 score points; z: m1 fell 30 at weight 3 of 4 → −22.5
    assert list(t.index) == ["z", "y"]  # same period: lowest score first
    assert t["main_driver"].to_list() == ["m1", "m2"]
    assert t["driver_points"].to_list() == pytest.approx([-22.5, -10.0])
    assert t["previous_band"].to_list() == ["amber", "amber"]
    assert t["band_now"].to_list() == ["red", "red"] and t["score_now"].to_list() == [40.0, 50.0]
    assert t.loc["z", "account_name"] == "Z BV"
    assert kpi.turned_red_table(health, measures, weights, period=MONTHS[0]).empty  # nothing before month 1
    # a report period without any health score yet (a ledger shorter than a year): empty, not an error;
    # later periods without scores look back over the health periods up to them
    before = MONTHS[0] - pd.DateOffset(months=1)
    assert kpi.turned_red_table(health, measures, weights, period=before).empty
    later = kpi.turned_red_table(health, measures, weights, period=MONTHS[1] + pd.DateOffset(months=1), lookback=1)
    assert list(later.index) == ["z", "y"] and later["band_now"].isna().all()
    assert list(kpi.turned_red_table(health, measures, weights, period=MONTHS[1], scope=["y"]).index) == ["y"]


def test_manager_rollup_counts_bands_and_joins_the_book_kpis():
    measures, weights, health, accounts = _two_period_health()
    now = kpi.health_table(health, period=MONTHS[1], accounts=accounts)
    kpis = pd.DataFrame({
        "level": "account_manager", "group": ["M1", "M2", "M1"], "account_id": pd.NA,
        "period": [MONTHS[1], MONTHS[1], MONTHS[0]], "window": "trailing_12m", "kpi": "nrr",
        "value": [1.1, 0.9, 5.0], "message": pd.NA,
    })
    r = kpi.manager_rollup(now, kpis, period=MONTHS[1])
    # M1: x green (85) and y red (50) → mean 67.5; M2: z red (40). Same red and amber: lower mean first.
    assert list(r.index) == ["M2", "M1"]
    assert r.loc["M1", ["accounts", "red", "amber", "green"]].to_list() == [2, 1, 0, 1]
    assert r.loc["M1", "mean_score"] == 67.5 and r.loc["M2", "mean_score"] == 40.0
    assert r["nrr"].to_list() == [0.9, 1.1]  # this period's value, not the earlier 5.0
    assert kpi.manager_rollup(now.drop(columns="account_manager"), kpis.iloc[:0], period=MONTHS[1]).empty


def test_round_floats_leaves_dates_alone():
    frame = pd.DataFrame({"x": [1.23456], "n": [3], "d": pd.to_datetime(["2025-01-01"]), "s": ["a"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = kpi.round_floats(frame, 2)
    assert out["x"].iloc[0] == 1.23 and out["d"].iloc[0] == pd.Timestamp("2025-01-01")
    assert out["n"].iloc[0] == 3 and out["s"].iloc[0] == "a"


HEALTH_WEIGHTS = {"nrr": 3, "grr": 2, "nps": 2, "days_since_last_touch": 1}


def test_kpi_health_report_on_a_ledger_alone(tmp_path):
    """A consultant's ledger-only data go through the notebook's orchestration: config → dataset →
    panel → report and CLV. KPIs without their table say what to provide and are never 0."""
    from kamtools.config import load_config
    from kamtools.io import load_dataset
    from kamtools.panel import build_panel

    tables, _, _ = _random_world()
    tables["transactions"].drop(columns="gross_margin").to_csv(tmp_path / "ledger.csv", index=False)
    (tmp_path / "client.yaml").write_text(
        "client: Ledger only\ncurrency: EUR\nperiod: M\ndata:\n  transactions: ledger.csv\n", encoding="utf-8")
    dataset = load_dataset(load_config(tmp_path / "client.yaml"))
    panel = build_panel(dataset, freq="M")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may reach the notebook's stored output as a warning
        rep = kpi.kpi_health_report(dataset, panel, weights=HEALTH_WEIGHTS, churn_gap=3,
                                    cadence={"Key account": 4, "Key": 2, "Core": 1}, key_account_tier="Key account")
        clv = kpi.clv_overview(dataset.transactions, as_of=rep.as_of, holdout_periods=6, accounts=dataset.accounts)
    # no key-account flag: all accounts, and the headline says so
    assert rep.scope is None and rep.scope_label == "accounts"
    assert rep.headline == (f"{rep.n_red + rep.n_amber} of {rep.n_scored} accounts amber or red; "
                            f"portfolio NRR {rep.nrr:.0%}")
    assert rep.n_scored == len(rep.health_now) == rep.n_red + rep.n_amber + rep.n_green > 0
    d = rep.dashboard.set_index("kpi")
    for name, table in (("nps", "surveys"), ("outcomes_share", "outcomes"), ("acquisition_rate", "prospects"),
                        ("manager_satisfaction_score", "manager_surveys"), ("cadence_attainment", "interactions"),
                        ("clv_value", "transactions")):  # no gross margin: no retention CLV
        assert d.loc[name, "note"].startswith(f"not available: provide {table} with "), name
        assert d.loc[name, ["this_period", "last_period", "year_ago"]].isna().all()
    assert np.isfinite(d.loc["grr", "this_period"])
    shown = kpi.format_dashboard(rep.dashboard).xs("NPS", level="KPI")["this period"].iloc[0]
    assert shown == "not available: provide surveys with account_id, date, nps"
    # health stands on NRR and GRR only: 5 of the 8 weight points
    assert rep.health_now["coverage"].max() == pytest.approx(5 / 8)
    assert not rep.health_rules().loc["nps", "available"]
    assert rep.managers.to_dict("list") == {"note": ["not available: provide accounts with account_id, "
                                                     "account_manager"]}
    # CLV from the ledger alone, in revenue terms, and said so
    assert clv.margin_rate == 1.0
    assert any(n.startswith("CLV in revenue terms") for n in clv.notes)
    assert clv.accounts["clv_value"].notna().all() and clv.holdout is not None
    # the notebook stores the table as parquet, whose metadata is JSON: no Timestamps left in its attrs
    # (without an accounts table they used to stay from the RFM summary and the store failed)
    clv.accounts.to_parquet(tmp_path / "clv.parquet")
    # this small world runs the unpenalised BG/NBD to b -> infinity: refitted with a small penalty, and said so
    assert any(n.startswith("BG/NBD: fitted with penalizer 0.01 (unpenalised: BetaGeo fit ran to the edge")
               for n in clv.notes)


def test_kpi_health_report_on_a_short_ledger_says_why_no_account_is_scored():
    # 20 months of ledger, 2023-01 to 2024-08; the last sale is on 2024-08-27, so the report's period is the
    # last full month, 2024-07: 19 months. NRR and GRR over the trailing year compare 12 months with the
    # 12 before: they need 24 months. Per month (window="period") they need 2, and accounts are scored.
    tables, panel, _ = _random_world(T=20)
    ledger = {"transactions": tables["transactions"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # health_score: measures of tables not given
        rep = kpi.kpi_health_report(ledger, panel, weights={"nrr": 3, "grr": 2})
        monthly = kpi.kpi_health_report(ledger, panel, weights={"nrr": 3, "grr": 2}, window="period")
    assert rep.period == pd.Timestamp("2024-07-01") and rep.n_scored == 0
    assert rep.headline == ("No accounts could be scored: the ledger's measures (NRR, GRR) compare the last 12 "
                            "months with the 12 before, so they need 24 months of ledger; this one has 19 up to "
                            "2024-07; portfolio NRR not known yet")
    assert monthly.n_scored > 0 and monthly.headline.startswith(f"{monthly.n_red + monthly.n_amber} of ")


def test_kpi_health_report_on_every_table():
    tables, panel, periods = _random_world()
    tables["accounts"] = tables["accounts"].assign(is_key_account=tables["accounts"]["segment"] == "Key")
    rep = kpi.kpi_health_report(tables, panel, weights={**HEALTH_WEIGHTS, "cadence_attainment": 1},
                                churn_gap=3, cadence={"Key account": 4, "Key": 2, "Core": 1},
                                key_account_tier="Key account")
    keys = tables["accounts"].loc[tables["accounts"]["is_key_account"], "account_id"]
    assert rep.scope_label == "key accounts" and set(rep.health_now.index) <= set(keys)
    # the last transaction falls in the last month but before its end: the report's period is the one before
    last = tables["transactions"]["date"].max()
    assert rep.period == kpi.analysis_period(last) and rep.as_of == rep.period + pd.offsets.MonthEnd(0)
    # headline counts agree with the table and the manager roll-up
    bands = rep.health_now["band"].astype(str).value_counts()
    assert (rep.n_red, rep.n_amber, rep.n_green) == (bands.get("red", 0), bands.get("amber", 0),
                                                     bands.get("green", 0))
    assert rep.managers["accounts"].sum() == rep.n_scored
    assert rep.managers[["red", "amber", "green"]].sum().to_list() == [rep.n_red, rep.n_amber, rep.n_green]
    # NRR of the dashboard: the plain function over the trailing year
    _, nrr = kpi.revenue_retention(panel, start=rep.period - pd.DateOffset(months=12), end=rep.period)
    assert rep.nrr == pytest.approx(nrr)
    assert f"portfolio NRR {nrr:.0%}" in rep.headline
    # key accounts take the "Key account" cadence: 4 contacts a month
    inter = tables["interactions"]
    one = rep.health_now["cadence_attainment"].dropna().index[0]  # a current key account
    window = (inter["account_id"] == one) & (inter["date"] > rep.as_of - pd.DateOffset(months=12)) \
        & (inter["date"] <= rep.as_of)
    att = kpi.pivot_kpis(rep.kpis, level="account", period=rep.period).loc[one, "cadence_attainment"]
    assert att == pytest.approx(window.sum() / (4 * 12))
    s = rep.summary()
    assert s.loc[s["term"] == "amber_or_red_share", "estimate"].iloc[0] == pytest.approx(
        (rep.n_red + rep.n_amber) / rep.n_scored)
    assert (s["ci_lower"].dropna() <= s["estimate"][s["ci_lower"].notna()]).all()
    with pytest.raises(ParameterError, match=r"The 'weights' parameter of kpi_health_report must be measures "
                                             r"with a normalisation rule \(none for \['vibes'\]"):
        kpi.kpi_health_report(tables, panel, weights={"vibes": 1})
    with pytest.raises(ParameterError, match=r"The 'scope' parameter of kpi_health_report must be one of"):
        kpi.kpi_health_report(tables, panel, weights=HEALTH_WEIGHTS, scope="vip")


def test_clv_overview_quiet_accounts_and_holdout():
    tables, _, periods = _random_world()
    tx = tables["transactions"]
    as_of = pd.Timestamp("2025-01-31")
    clv = kpi.clv_overview(tx, as_of=as_of, quiet_periods=3, holdout_periods=6, accounts=tables["accounts"])
    a = clv.accounts
    assert a["p_alive"].between(0, 1).all() and (a["clv_value"] >= 0).all()
    assert clv.margin_rate == pytest.approx(0.3)  # gross margin is 30 % of revenue in this world
    # gone quiet: last purchase in Feb 2024 … Oct 2024 (bought in the year before Nov–Jan, not in it)
    last = tx[tx["date"] <= as_of].groupby("account_id")["date"].max().reindex(a.index)
    expected = (last < "2024-11-01") & (last >= "2023-11-01")
    assert a["quiet"].to_list() == expected.to_list()
    assert list(clv.quiet_accounts().index) == list(
        a.loc[a["quiet"]].sort_values("past_revenue", ascending=False).index)
    assert clv.holdout.calibration_end == pd.Timestamp("2024-07-31")
    assert clv.holdout_summary().loc["calibration_end", "value"] == "2024-07-31"
    s = clv.summary()
    assert {"BG/NBD", "Gamma-Gamma", "CLV"} == set(s["model"])
    assert s.loc[s["term"] == "clv_total_value", "estimate"].iloc[0] == pytest.approx(a["clv_value"].sum())
    # CLV grows with the horizon
    longer = kpi.clv_overview(tx, as_of=as_of, horizon_years=5, holdout_periods=6)
    assert (longer.accounts["clv_value"] >= a["clv_value"] - 1e-9).all()


def test_clv_overview_says_why_instead_of_raising():
    # one purchase per account: no repeat purchases, BG/NBD cannot be fitted
    tx = pd.DataFrame({"account_id": ["a", "b", "c"], "date": pd.to_datetime(["2024-01-05", "2024-02-01",
                                                                               "2024-03-09"]),
                       "revenue": [100.0, 200.0, 50.0]})
    clv = kpi.clv_overview(tx, as_of="2024-06-30")
    assert clv.bgnbd is None and clv.gamma_gamma is None
    assert clv.accounts["clv_value"].isna().all() and clv.accounts["p_alive"].isna().all()
    assert any(n.startswith("BG/NBD: not fitted: ") and "no customer made a repeat purchase" in n
               for n in clv.notes)
    assert clv.holdout is None and any(n.startswith("Holdout check: not run") for n in clv.notes)
    assert clv.holdout_summary().columns.to_list() == ["note"]
    with pytest.raises(ParameterError, match=r"The 'discount_rate' parameter of clv_overview must be a "
                                             r"non-negative number"):
        kpi.clv_overview(tx, as_of="2024-06-30", discount_rate=-0.1)
    with pytest.raises(ParameterError, match=r"The 'time_unit' parameter of clv_overview must be one of"):
        kpi.clv_overview(tx, as_of="2024-06-30", time_unit="fortnight")
    with pytest.raises(ParameterError, match=r"The 'margin_rate' parameter of clv_overview must be a fraction"):
        kpi.clv_overview(tx, as_of="2024-06-30", margin_rate=30)
    # dates as ISO text work as well as datetimes
    text_dates = kpi.clv_overview(tx.assign(date=tx["date"].dt.strftime("%Y-%m-%d")), as_of="2024-06-30")
    assert text_dates.accounts["last_purchase"].to_list() == tx["date"].to_list()


def test_report_plots_draw_on_the_axes_they_get():
    import matplotlib.pyplot as plt

    measures, weights, health, accounts = _two_period_health()
    now = kpi.health_table(health, period=MONTHS[1], accounts=accounts)
    fig, axes = plt.subplots(2, 3)
    try:
        ax = kpi.plot_health(now, ax=axes[0, 0])
        assert ax is axes[0, 0]
        bars = ax.patches
        assert len(bars) == 3
        assert [b.get_width() for b in bars] == [85.0, 50.0, 40.0]  # drawn bottom-up: weakest on top
        assert [t.get_text() for t in ax.get_yticklabels()] == ["X AG", "Y SA", "Z BV"]
        assert [t.get_text() for t in ax.texts] == ["85", "50", "40"]  # the score at each bar's end
        assert bars[2].get_facecolor()[:3] == pytest.approx(plt.matplotlib.colors.to_rgb(kpi.BAND_COLORS["red"]))
        assert len(kpi.plot_health(now, n=2, ax=axes[0, 1]).patches) == 2
        ax = kpi.plot_band_counts(health, ax=axes[0, 2])
        # month 1: 0 red, 2 amber, 1 green; month 2: 2 red, 0 amber, 1 green
        heights = [b.get_height() for b in ax.patches]
        assert heights == [0, 2, 2, 0, 1, 1]
        ax = kpi.plot_kpi_trend(_long_kpis(), ["nrr", "logo_churn_rate"], ax=axes[1, 0])
        assert len(ax.get_lines()) == 2 and ax.get_lines()[0].get_ydata()[-1] == pytest.approx(113.0)
        ax = kpi.plot_kpi_trend(_long_kpis(), ["nps"], ax=axes[1, 1])
        assert not ax.get_lines() and ax.texts[0].get_text() == "not available"
        tables, _, _ = _random_world()
        clv = kpi.clv_overview(tables["transactions"], as_of="2025-01-31", holdout_periods=6)
        ax = kpi.plot_clv_distribution(clv.accounts, ax=axes[1, 2])
        assert sum(b.get_height() for b in ax.patches) == (clv.accounts["clv_value"] > 0).sum()
    finally:
        plt.close(fig)
    ax = kpi.plot_p_alive(clv.accounts)
    assert sum(len(c.get_offsets()) for c in ax.collections) == len(clv.accounts)
    plt.close(ax.figure)
    ax = clv.plot_holdout()
    assert len(ax.get_lines()) >= 2
    plt.close(ax.figure)


def test_clv_overview_on_the_synthetic_world_tells_the_churned_apart():
    """Recovery of known truth: accounts the world made churn have a low P(alive), survivors a high one."""
    sample = pytest.importorskip("kamtools.sample")
    world = sample.generate_world(seed=1, n_accounts=120, n_months=30)
    clv = kpi.clv_overview(world.transactions, as_of="2025-06-30", holdout_periods=6, accounts=world.accounts)
    assert clv.notes == ()  # the unpenalised fits work here
    a = clv.accounts
    assert a["is_key_account"].sum() == world.accounts["is_key_account"].sum()
    # truth.churned: month of the last purchase of accounts the world made churn
    churned = pd.Series(world.truth.churned).map(pd.Timestamp)
    gone = churned[churned <= pd.Timestamp("2025-01-01")].index  # churned at least half a year before as_of
    alive = a.index.difference(churned.index)
    assert len(gone) >= 5 and len(alive) >= 50
    assert a.loc[a.index.intersection(gone), "p_alive"].median() < 0.2
    assert a.loc[alive, "p_alive"].median() > 0.8
    assert clv.holdout is not None and abs(clv.holdout.aggregate_bias) < 0.25


# ---------------------------------------------------------------------------------------------
# private numpy helpers against the pandas formulas they replace
# ---------------------------------------------------------------------------------------------
def _longest_gaps_pandas(days, codes, n, first, last):
    """The former pandas groupby formula of kpi._longest_gaps (the reference)."""
    out = np.full(n, float(last - first + 1))
    if len(days) == 0:
        return out
    frame = pd.DataFrame({"k": codes, "d": days}).sort_values(["k", "d"])
    g = frame.groupby("k")["d"]
    lo, hi = g.min(), g.max()
    inner = (frame["d"].diff().where(frame["k"].eq(frame["k"].shift())) - 1).groupby(frame["k"]).max()
    longest = np.maximum(np.maximum(lo - first, last - hi), inner.reindex(lo.index).fillna(-1))
    out[lo.index.to_numpy()] = longest.to_numpy(dtype=float)
    return out


def test_longest_gaps_hand_example():
    # window days 0 … 9 (10 days), touches given unsorted:
    # key 0 at 7, 2, 3: before 2 → days 0,1 (2); between 3 and 7 → 4,5,6 (3); after 7 → 8,9 (2) → 3
    # key 1 never touched → the window's length, 10
    # key 2 at 0 and 9: nothing before or after, between → days 1 … 8 → 8
    # key 3 once at 5: before → 0 … 4 (5), after → 6 … 9 (4) → 5
    # key 4 twice on day 4: before → 0 … 3 (4), after → 5 … 9 (5); the repeat adds no gap → 5
    days = np.array([7, 9, 2, 5, 4, 0, 3, 4])
    codes = np.array([0, 2, 0, 3, 4, 2, 0, 4])
    got = kpi._longest_gaps(days, codes, 5, 0, 9)
    np.testing.assert_array_equal(got, [3.0, 10.0, 8.0, 5.0, 5.0])
    assert got.dtype == np.float64
    np.testing.assert_array_equal(kpi._longest_gaps(np.array([], dtype=np.int64), np.array([], dtype=np.int64),
                                                    3, 10, 12), [3.0, 3.0, 3.0])


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 6), st.integers(0, 40), st.data())
def test_longest_gaps_matches_the_pandas_formula(n, length, data):
    first = data.draw(st.integers(-50, 50))
    last = first + length
    m = data.draw(st.integers(0, 30))
    days = np.array(data.draw(st.lists(st.integers(first, last), min_size=m, max_size=m)), dtype=np.int64)
    codes = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), dtype=np.int64)
    got = kpi._longest_gaps(days, codes, n, first, last)
    np.testing.assert_array_equal(got, _longest_gaps_pandas(days, codes, n, first, last))


# component values: counts and days (exact in any order), halves, and arbitrary floats (revenue)
component_values = st.one_of(
    st.integers(-5, 1000).map(float),
    st.sampled_from([0.5, -0.0, 2.25, np.nan]),
    st.sampled_from([0.1, 0.2, 0.3, 0.7, 1e16]),  # sums that round differently with compensation
    st.floats(-1e6, 1e6, allow_nan=False, width=64),
)


def _same_bits(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    assert np.array_equal(a, b, equal_nan=True)
    assert np.array_equal(np.signbit(a), np.signbit(b))  # -0.0 and 0.0 apart


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), component_values), min_size=1, max_size=40), st.booleans(),
       st.booleans())
def test_group_sums_match_pandas_groupby_sum(rows, one_per_group, adjacent):
    # bit-identical (sign of zero included) to pandas' groupby(sort=False).sum() on the rows in order,
    # whichever route _group_sums takes; `adjacent` sorts the rows so each group is a run (pandas then
    # sums with np.add.reduceat rather than its compensated loop)
    if one_per_group:
        rows = [(i, v) for i, (_, v) in enumerate(rows)]
    if adjacent:
        rows = sorted(rows, key=lambda r: r[0])
    labels = np.array([g for g, _ in rows])
    values = np.array([v for _, v in rows], dtype=float)
    present, inv = np.unique(labels, return_inverse=True)
    contiguous = np.count_nonzero(labels[1:] != labels[:-1]) + 1 == len(present)
    sums = pd.Series(values).groupby(labels, sort=False).sum()
    expected = sums.reindex(present).to_numpy(dtype=float)
    _same_bits(kpi._group_sums(values, inv, len(present), contiguous=contiguous), expected)


def test_group_sums_match_pandas_on_many_random_tables():
    # 300 seeded random tables of decimals (0.1 + 0.2 + 0.3 rounds differently with compensation),
    # huge and tiny values, -0.0 and NaN, groups adjacent or scattered: bit-identical to pandas
    rng = np.random.default_rng(0)
    pool = np.array([0.1, 0.2, 0.3, 0.7, 1e16, 1.0, -0.0, np.nan, 3.0, 1e-3])
    for _ in range(300):
        m = int(rng.integers(1, 30))
        labels = rng.integers(0, 4, m)
        if rng.random() < 0.3:
            labels = np.sort(labels)
        values = np.where(rng.random(m) < 0.5, rng.choice(pool, m), rng.normal(0, 1e3, m))
        if rng.random() < 0.5:
            values = values[np.isfinite(values)] if np.isfinite(values).any() else np.array([1.0])
            labels = labels[: len(values)]
        present, inv = np.unique(labels, return_inverse=True)
        contiguous = np.count_nonzero(labels[1:] != labels[:-1]) + 1 == len(present)
        expected = pd.Series(values).groupby(labels, sort=False).sum().reindex(present).to_numpy(dtype=float)
        _same_bits(kpi._group_sums(values, inv, len(present), contiguous=contiguous), expected)


def test_group_sums_hand_example():
    # group 0: 1 + 2 + NaN (skipped) = 3; group 1: -0.0 alone → +0.0 (the compensated sum starts at
    # +0.0; the column has a NaN, so pandas does not use reduceat); group 2: 0.1 + 0.2 + 0.3 with
    # compensation → 0.6, where the plain left-to-right sum gives 0.6000000000000001
    values = np.array([1.0, 2.0, np.nan, -0.0, 0.1, 0.2, 0.3])
    inv = np.array([0, 0, 0, 1, 2, 2, 2])
    got = kpi._group_sums(values, inv, 3, contiguous=True)
    _same_bits(got, [3.0, 0.0, 0.6])
    assert 0.1 + 0.2 + 0.3 != 0.6
    # without the NaN the groups are summed with reduceat: -0.0 alone stays -0.0
    _same_bits(kpi._group_sums(np.array([1.0, 2.0, -0.0]), np.array([0, 0, 1]), 2, contiguous=True), [3.0, -0.0])


def _aggregate_pandas(comp: pd.DataFrame, keys_by_level, finisher, grid):
    """The former pandas groupby formula of kpi._aggregate (the reference), as one long frame."""
    out = []
    cols = [c for c in comp.columns if c not in ("key", "t", "window")]
    for level, ids in keys_by_level.items():
        gid = ids[comp["key"].to_numpy()]
        sel = gid >= 0
        g = (comp.loc[sel, ["t", "window", *cols]].assign(gid=gid[sel])
             .groupby(["gid", "t", "window"], sort=False)[cols].sum().reset_index())
        if g.empty:
            continue
        for name, v in finisher(g, level, grid).items():
            v = np.asarray(v, dtype=float)
            keep = np.isfinite(v)
            out.append(pd.DataFrame({"gid": g["gid"].to_numpy()[keep], "t": g["t"].to_numpy()[keep],
                                     "window": g["window"].to_numpy()[keep],
                                     "kpi": kpi._KPI_NAMES.index(name), "value": v[keep]}))
    return _sorted_pieces(out)


def _sorted_pieces(pieces):
    cols = ["gid", "t", "window", "kpi", "value"]
    if not pieces:
        return pd.DataFrame({c: [] for c in cols})
    frame = pd.concat([pd.DataFrame({c: np.asarray(p[c]) for c in cols}) for p in pieces], ignore_index=True)
    return frame.sort_values(["gid", "t", "window", "kpi"], kind="stable").reset_index(drop=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 8), st.integers(1, 5), st.data())
def test_aggregate_matches_the_pandas_groupby(n, T, data):
    # a component table with one row per (key, t, window) cell, as kpi._long builds it
    cells = data.draw(st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, T - 1), st.integers(0, 1)),
                              min_size=1, max_size=n * T * 2))
    order = data.draw(st.permutations(sorted(cells)))  # any row order: groups adjacent or not
    key, t, win = (np.array(x, dtype=np.int64) for x in zip(*order))
    m = len(key)
    num = np.array(data.draw(st.lists(component_values, min_size=m, max_size=m)), dtype=float)
    den = np.array(data.draw(st.lists(st.integers(0, 3).map(float), min_size=m, max_size=m)))
    comp = {"key": key, "t": t, "window": win, "gap": num, "n": den}
    # levels: each key its own group (account), two groups with a missing label, one group (portfolio)
    groups = data.draw(st.lists(st.integers(-1, 1), min_size=n, max_size=n))
    keys_by_level = {"account": np.arange(n, dtype=np.int64),
                     "segment": np.where(np.array(groups) >= 0, n + np.array(groups), -1),
                     "portfolio": np.full(n, n + 2, dtype=np.int64)}
    grid = kpi._Grid(pd.Index([f"a{i}" for i in range(n)]), pd.date_range("2024-01-01", periods=T, freq="MS"),
                     "M", 12, pd.Timestamp("2024-12-31"), np.zeros(T))
    for fin in (kpi._fin_mean("longest_gap_days", "gap", "n"), kpi._fin_sum("clv_value", "gap")):
        got = _sorted_pieces(kpi._aggregate(comp, keys_by_level, fin, grid))
        want = _aggregate_pandas(pd.DataFrame(comp), keys_by_level, fin, grid)
        for c in ("gid", "t", "window", "kpi"):
            np.testing.assert_array_equal(got[c].to_numpy(dtype=np.int64), want[c].to_numpy(dtype=np.int64))
        _same_bits(got["value"], want["value"])
