"""Tests for kamtools.clv: RFM summaries, BG/NBD, Gamma-Gamma, CLV and holdout validation.

Evidence used (STYLE.md rule 17):
- published values: the CDNOW cohort fits of Fader, Hardie & Lee (2005a) and Fader & Hardie
  (2013), kept with their citations in tests/reference/cdnow_published.csv; the data come from
  ../shared/reference-data/cdnow (skipped when absent);
- hand-worked numbers (parameter values where the hypergeometric function equals 1);
- two routes: eq. (10) against a one-dimensional integral over the posterior of the drop-out
  probability (no hypergeometric function), eq. (9) against its textbook form and against a
  simulation, the fit against a naive unmerged numerical-gradient fit;
- recovery of known truth from data simulated by the model;
- invariants with hypothesis.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, special, stats

from kamtools.clv import (
    BetaGeo,
    GammaGamma,
    HoldoutValidation,
    _bgnbd_data,
    _bgnbd_ll_grad,
    _gg_ll_grad,
    customer_lifetime_value,
    holdout_validation,
    rfm_summary,
)
from kamtools.exceptions import (
    ConvergenceError,
    DataValidationError,
    NotFittedError,
    ParameterError,
)

PUBLISHED = pd.read_csv(Path(__file__).resolve().parent / "reference" / "cdnow_published.csv")
CDNOW_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference-data" / "cdnow"
CDNOW_BGNBD = (0.243, 4.414, 0.793, 2.426)  # r, alpha, a, b (weeks), used to simulate


def _published(model: str) -> dict[str, tuple[float, float]]:
    """{parameter: (value, half a unit of the last published decimal)}."""
    rows = PUBLISHED[PUBLISHED["model"] == model]
    return {r.parameter: (r.value, 0.5 * 10.0 ** (-r.decimals)) for r in rows.itertuples()}


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def cdnow_dir() -> Path:
    if not CDNOW_DIR.is_dir():
        pytest.skip("reference data ../shared/reference-data/cdnow not available")
    return CDNOW_DIR


@pytest.fixture(scope="module")
def cdnow_transactions(cdnow_dir: Path) -> pd.DataFrame:
    # CDNOW_sample.txt: no header; master_id sample_id date(YYYYMMDD) number_of_cds dollar_value
    tx = pd.read_csv(
        cdnow_dir / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master_id", "account_id", "date", "cds", "revenue"],
        dtype={"master_id": str, "account_id": str, "date": str},
    )
    tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d")
    return tx


@pytest.fixture(scope="module")
def cdnow_summary(cdnow_dir: Path) -> pd.DataFrame:
    return pd.read_csv(cdnow_dir / "cdnow_customers_summary.csv", index_col="ID")


@pytest.fixture(scope="module")
def cdnow_rfm(cdnow_transactions: pd.DataFrame) -> pd.DataFrame:
    # the published cohort counts the eight $0 first purchases, hence keep_zero_revenue_days
    return rfm_summary(
        cdnow_transactions, observation_end="1997-09-30", time_unit="W", keep_zero_revenue_days=True
    )


def _model(r: float, alpha: float, a: float, b: float, time_unit: str | None = None) -> BetaGeo:
    m = BetaGeo()
    m.params_ = pd.Series([r, alpha, a, b], index=["r", "alpha", "a", "b"])
    m.time_unit_ = time_unit
    return m


def _gg(p: float, q: float, v: float) -> GammaGamma:
    m = GammaGamma()
    m.params_ = pd.Series([p, q, v], index=["p", "q", "v"])
    m.time_unit_ = None
    return m


def _simulate_bgnbd(n, r, alpha, a, b, T, rng):
    """Draw (x, t_x) from the BG/NBD for customers observed for T (continuous time).

    lambda ~ Gamma(r, rate alpha), p ~ Beta(a, b); the customer drops out right after the J-th
    repeat purchase, J ~ Geometric(p) on {1, 2, ...}; N(T) ~ Poisson(lambda T) purchases while
    alive; x = min(N, J); given N = n >= x the x-th arrival time is T * Beta(x, n - x + 1).
    """
    T = np.broadcast_to(np.asarray(T, dtype=float), (n,))
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = np.clip(rng.beta(a, b, n), 1e-300, 1.0)
    J = rng.geometric(p)
    N = rng.poisson(lam * T)
    x = np.minimum(N, J)
    tx = np.zeros(n)
    pos = x > 0
    tx[pos] = T[pos] * rng.beta(x[pos], N[pos] - x[pos] + 1)
    return x, tx, np.array(T)


# ----------------------------------------------------------------------------- rfm_summary


def _ledger() -> pd.DataFrame:
    rows = [
        ("A", "2024-01-01 10:00", 10.0),  # same day as the next row: one occasion worth 15
        ("A", "2024-01-01 15:00", 5.0),
        ("A", "2024-01-08", 30.0),
        ("A", "2024-01-15", -5.0),  # 01-15 nets to 0: not a purchase (unless keep_zero_revenue_days)
        ("A", "2024-01-15", 5.0),
        ("A", "2024-01-22", -20.0),  # credit note alone: not a purchase
        ("A", "2024-01-29", 50.0),
        ("B", "2024-01-15", 100.0),
        ("C", "2024-01-10", -50.0),  # never a purchase day: left out with a warning
        ("D", "2024-02-10", 70.0),  # after observation_end: ignored
    ]
    df = pd.DataFrame(rows, columns=["account_id", "date", "revenue"])
    df["date"] = pd.to_datetime(df["date"], format="mixed")
    return df


def test_rfm_summary_hand_worked_weeks_days_months():
    # A: purchase days 01-01 (15), 01-08 (30), 01-29 (50) -> frequency 2, recency 28 days,
    #    T = 2024-02-05 - 01-01 = 35 days, monetary = mean of repeat days = (30 + 50) / 2 = 40.
    # B: one day 01-15 -> frequency 0, recency 0, T = 21 days, monetary 0.
    with pytest.warns(UserWarning, match=r"1 account\(s\) have transactions .* no day with positive net revenue.*'C'"):
        w = rfm_summary(_ledger(), observation_end="2024-02-05", time_unit="W")
    assert list(w.index) == ["A", "B"] and w.index.name == "account_id"
    assert list(w.columns) == ["frequency", "recency", "T", "monetary_value"]
    assert w.loc["A"].tolist() == [2, 4.0, 5.0, 40.0]  # 28/7, 35/7
    assert w.loc["B"].tolist() == [0, 0.0, 3.0, 0.0]  # 21/7
    assert w.attrs["time_unit"] == "W"
    with pytest.warns(UserWarning):
        d = rfm_summary(_ledger(), observation_end="2024-02-05", time_unit="D")
        m = rfm_summary(_ledger(), observation_end="2024-02-05", time_unit="M")
    assert d.loc["A", "recency"] == 28.0 and d.loc["A", "T"] == 35.0
    assert m.loc["A", "recency"] == pytest.approx(28 / 30.4375)  # months of 365.25/12 days
    assert m.loc["B", "T"] == pytest.approx(21 / 30.4375)


def test_rfm_summary_zero_revenue_days_can_count():
    # with keep_zero_revenue_days, A's 01-15 (net 0) is a purchase: frequency 3, repeat spend
    # (30 + 0 + 50) / 3 = 26.67; the credit-only day 01-22 and account C still are not.
    with pytest.warns(UserWarning, match="'C'"):
        out = rfm_summary(_ledger(), observation_end="2024-02-05", keep_zero_revenue_days=True)
    assert out.loc["A", "frequency"] == 3
    assert out.loc["A", "monetary_value"] == pytest.approx(80 / 3)


def test_rfm_summary_calibration_and_holdout_columns():
    # calibration to 2024-01-10: A has 01-01 and 01-08 -> frequency 1, recency 1 week, T 9/7;
    # B first buys on 01-15, after calibration, so is not in the cohort (C never buys).
    # holdout (01-10, 02-05]: A buys on 01-29 only (01-15 nets 0, 01-22 is a credit) -> 1.
    with pytest.warns(UserWarning, match="'C'"):
        out = rfm_summary(_ledger(), observation_end="2024-02-05", calibration_end="2024-01-10")
    assert list(out.index) == ["A"]
    assert out.loc["A", ["frequency", "frequency_holdout"]].tolist() == [1, 1]
    assert out.loc["A", "recency"] == 1.0
    assert out.loc["A", "T"] == pytest.approx(9 / 7)
    assert out.loc["A", "duration_holdout"] == pytest.approx(26 / 7)
    assert out.attrs["calibration_end"] == pd.Timestamp("2024-01-10")


def test_rfm_summary_time_zone_aware_ledger_uses_its_local_days():
    # a tz-aware ledger is summarised on its own local calendar days; an aware observation_end
    # is converted to the ledger's zone first (12:00 Berlin on 5 February is still 5 February)
    naive = _ledger()
    aware = naive.assign(date=naive["date"].dt.tz_localize("Europe/Berlin"))
    with pytest.warns(UserWarning):
        ref = rfm_summary(naive, observation_end="2024-02-05")
        got = rfm_summary(aware, observation_end="2024-02-05")
        got_aware_end = rfm_summary(aware, observation_end=pd.Timestamp("2024-02-05 12:00", tz="Europe/Berlin"))
    pd.testing.assert_frame_equal(got, ref)
    pd.testing.assert_frame_equal(got_aware_end, ref)


def test_rfm_summary_reproduces_cdnow_summary(cdnow_rfm, cdnow_summary, cdnow_dir):
    # SOURCE.txt: the summary files are CDNOW_sample.txt to 1997-09-30 with same-day purchases
    # merged and times in days/7 rounded to 2 dp; zbar (mean repeat spend) to 2 dp.
    rfm = cdnow_rfm.copy()
    rfm.index = rfm.index.astype(int)
    assert len(rfm) == 2357
    ref = cdnow_summary.join(
        pd.read_csv(cdnow_dir / "cdnow_customers_summary_with_transactions.csv", index_col="ID")[["zbar"]]
    )
    ours = rfm.loc[ref.index]
    np.testing.assert_array_equal(ours["frequency"], ref["frequency"])
    np.testing.assert_allclose(ours["recency"], ref["recency"], atol=0.005 + 1e-9)
    np.testing.assert_allclose(ours["T"], ref["T"], atol=0.005 + 1e-9)
    np.testing.assert_array_equal(ours["recency"].round(2), ref["recency"])
    np.testing.assert_array_equal(ours["T"].round(2), ref["T"])
    np.testing.assert_allclose(ours["monetary_value"], ref["zbar"], atol=0.005 + 1e-9)
    assert (ours["frequency"] > 0).sum() == 946


def test_rfm_summary_cdnow_zero_dollar_customers_are_named(cdnow_transactions):
    # eight CDNOW customers bought once for $0.00 (e.g. sample ids 0087, 0155, 0227)
    with pytest.warns(UserWarning, match=r"8 account\(s\) .* \(first: '0087', '0155', '0227'\)"):
        out = rfm_summary(cdnow_transactions, observation_end="1997-09-30")
    assert len(out) == 2357 - 8


def test_rfm_summary_refuses_bad_input():
    tx = _ledger()
    with pytest.raises(DataValidationError, match=r"missing column\(s\) \['amount'\]"):
        rfm_summary(tx, observation_end="2024-02-05", revenue="amount")
    bad = tx.copy()
    bad["revenue"] = bad["revenue"].astype(object)
    bad.loc[[2, 5], "revenue"] = ["n/a", "12,5O"]
    with pytest.raises(DataValidationError, match=r"column 'revenue' must be numeric; 2 of 10 rows do not \(first: 2: 'n/a', 5: '12,5O'\)"):
        rfm_summary(bad, observation_end="2024-02-05")
    bad = tx.copy()
    bad["date"] = bad["date"].astype(str)
    bad.loc[3, "date"] = "not a date"
    with pytest.raises(DataValidationError, match=r"column 'date' must be a date; 1 of 10 rows does not"):
        rfm_summary(bad, observation_end="2024-02-05")
    with pytest.raises(ParameterError, match=r"The 'time_unit' parameter of rfm_summary must be one of"):
        rfm_summary(tx, observation_end="2024-02-05", time_unit="Y")
    with pytest.raises(ParameterError, match=r"The 'calibration_end' parameter of rfm_summary must be earlier than observation_end"):
        rfm_summary(tx, observation_end="2024-02-05", calibration_end="2024-03-01")


# ----------------------------------------------------------------------------- BG/NBD: published


def test_bgnbd_reproduces_published_cdnow_fit(cdnow_summary):
    pub = _published("bgnbd")
    bg = BetaGeo().fit(cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"])
    for name in ("r", "alpha", "a", "b"):
        value, tol = pub[name]
        assert bg.params_[name] == pytest.approx(value, abs=tol), name
    value, tol = pub["log_likelihood"]
    assert bg.log_likelihood_ == pytest.approx(value, abs=tol)
    assert bg.n_customers_ == 2357
    assert np.all(np.isfinite(bg.standard_errors_)) and np.all(bg.standard_errors_ > 0)


def test_bgnbd_from_raw_transactions_matches_published(cdnow_rfm):
    pub = _published("bgnbd")
    bg = BetaGeo().fit(cdnow_rfm)  # the rfm table alone; unit carried in attrs
    assert bg.time_unit_ == "W"
    for name in ("r", "alpha", "a", "b"):
        value, tol = pub[name]
        assert bg.params_[name] == pytest.approx(value, abs=tol), name


# ----------------------------------------------------------------------------- BG/NBD: hand-worked


def test_bgnbd_predictions_hand_worked():
    # r = 2, alpha = 1, a = 2, b = 1: then a + b - 1 - r = 0 and the hypergeometric factor of the
    # Euler form is 1, so with z = t/(alpha + T + t):
    #   E[X(t)] = (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^(a-1)] = 2 [1 - 1/(1+t)] = 2t/(1+t)
    #   (textbook form: 1 - (1/2)^2 2F1(2, 1; 2; 1/2) = 1 - (1/4) * 2 = 1/2, times 2 = 1 at t=1)
    m = _model(2.0, 1.0, 2.0, 1.0)
    assert m.expected_number_of_purchases_up_to_time(1.0) == pytest.approx(1.0)
    assert m.expected_number_of_purchases_up_to_time(3.0) == pytest.approx(1.5)
    # x = 1, t_x = 1, T = 3, t = 4:
    #   numerator   = (a+b+x-1)/(a-1) [1 - (4/8)^1] = 3 * 0.5 = 1.5
    #   denominator = 1 + a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x) = 1 + 2 * (4/2)^3 = 17
    assert m.conditional_expected_number_of_purchases_up_to_time(4.0, 1, 1.0, 3.0) == pytest.approx(1.5 / 17)
    assert m.conditional_probability_alive(1, 1.0, 3.0) == pytest.approx(1 / 17)
    # x = 0, T = 3, t = 4: numerator = 2/1 * [1 - 4/8] = 1, denominator 1
    assert m.conditional_expected_number_of_purchases_up_to_time(4.0, 0, 0.0, 3.0) == pytest.approx(1.0)
    # r = alpha = a = 1, b = 2, x = 1, t_x = 1, T = 3: P(alive) = 1/(1 + 1/2 * (4/2)^2) = 1/3
    assert _model(1.0, 1.0, 1.0, 2.0).conditional_probability_alive(1, 1.0, 3.0) == pytest.approx(1 / 3)


def test_bgnbd_prediction_is_continuous_at_a_equal_one():
    # (a+b+x-1)/(a-1) [...] is 0/0 at a = 1: the value there is the limit from both sides
    args = (10.0, np.array([0, 2, 7]), np.array([0.0, 12.0, 30.0]), np.array([35.0, 35.0, 35.0]))
    at_one = _model(0.5, 5.0, 1.0, 2.0).conditional_expected_number_of_purchases_up_to_time(*args)
    below = _model(0.5, 5.0, 1.0 - 1e-4, 2.0).conditional_expected_number_of_purchases_up_to_time(*args)
    above = _model(0.5, 5.0, 1.0 + 1e-4, 2.0).conditional_expected_number_of_purchases_up_to_time(*args)
    np.testing.assert_allclose(at_one, (below + above) / 2, rtol=1e-6)
    assert np.all(np.isfinite(at_one)) and np.all(at_one > 0)


def test_bgnbd_new_customer_expectation_equals_textbook_form():
    # eq. (9) as printed: (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))];
    # the kit evaluates it through Euler's transformation instead.
    r, al, a, b = CDNOW_BGNBD
    t = np.array([0.5, 1.0, 10.0, 39.0, 78.0, 200.0])
    textbook = (a + b - 1) / (a - 1) * (1 - (al / (al + t)) ** r * special.hyp2f1(r, b, a + b - 1, t / (al + t)))
    np.testing.assert_allclose(_model(*CDNOW_BGNBD).expected_number_of_purchases_up_to_time(t), textbook, rtol=1e-9)


def test_bgnbd_conditional_expectation_equals_textbook_form_for_moderate_x():
    # eq. (10) as printed, with 2F1(r+x, b+x; a+b+x-1; z): fine for moderate x
    r, al, a, b = CDNOW_BGNBD
    x = np.array([0, 1, 3, 8])
    tx = np.array([0.0, 5.0, 20.0, 35.0])
    T = np.full(4, 38.0)
    t = 39.0
    z = t / (al + T + t)
    num = (a + b + x - 1) / (a - 1) * (1 - ((al + T) / (al + T + t)) ** (r + x) * special.hyp2f1(r + x, b + x, a + b + x - 1, z))
    den = 1 + (x > 0) * a / (b + np.maximum(x, 1) - 1) * ((al + T) / (al + tx)) ** (r + x)
    got = _model(*CDNOW_BGNBD).conditional_expected_number_of_purchases_up_to_time(t, x, tx, T)
    np.testing.assert_allclose(got, num / den, rtol=1e-9)


def _posterior_integral(params, t, x, tx, T):
    """E[Y(t) | x, t_x, T] and P(alive) without any hypergeometric function.

    Integrate lambda out analytically (gamma-Poisson) and p numerically:
      E = int (1-p)^x / p [1 - ((alpha+T)/(alpha+T+p t))^(r+x)] f(p) dp / D
      D = int [(1-p)^x + 1{x>0} p (1-p)^(x-1) ((alpha+T)/(alpha+t_x))^(r+x)] f(p) dp
    (individual-level likelihood and E[X(t) | lambda, p] = (1 - exp(-lambda p t))/p from
    Fader, Hardie & Lee 2005a; common factor Gamma(r+x) alpha^r / (Gamma(r) (alpha+T)^(r+x)) cancels).
    """
    r, al, a, b = params
    f = stats.beta(a, b).pdf
    ratio = ((al + T) / (al + tx)) ** (r + x)

    def num(p):
        return (1 - p) ** x / p * -np.expm1(-(r + x) * np.log1p(p * t / (al + T))) * f(p)

    def den(p):
        return ((1 - p) ** x + (x > 0) * p * (1 - p) ** max(x - 1, 0) * ratio) * f(p)

    def alive(p):
        return (1 - p) ** x * f(p)

    opts = dict(limit=500, epsabs=0, epsrel=1e-10)
    with warnings.catch_warnings():
        # quad may report that it cannot certify 1e-10 near the Beta density's endpoint
        # singularities; the assertions compare at 1e-6 to 1e-7, far above that
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        D = integrate.quad(den, 0, 1, **opts)[0]
        return integrate.quad(num, 0, 1, **opts)[0] / D, integrate.quad(alive, 0, 1, **opts)[0] / D


@pytest.mark.parametrize(
    "x, tx, T, t",
    [(0, 0.0, 38.86, 39.0), (1, 1.71, 38.86, 39.0), (2, 30.43, 38.86, 10.0), (7, 29.43, 38.86, 52.0), (25, 37.0, 38.0, 78.0)],
)
def test_bgnbd_conditional_expectation_and_p_alive_equal_posterior_integral(x, tx, T, t):
    m = _model(*CDNOW_BGNBD)
    expected, p_alive = _posterior_integral(CDNOW_BGNBD, t, x, tx, T)
    assert m.conditional_expected_number_of_purchases_up_to_time(t, x, tx, T) == pytest.approx(expected, rel=1e-7)
    assert m.conditional_probability_alive(x, tx, T) == pytest.approx(p_alive, rel=1e-7)


@settings(max_examples=15, deadline=None)
@given(
    params=st.tuples(st.floats(0.05, 5.0), st.floats(0.1, 50.0), st.floats(0.05, 5.0), st.floats(0.05, 10.0)),
    x=st.integers(0, 60),
    T=st.floats(0.5, 200.0),
    frac=st.floats(0.0, 1.0),
    t=st.floats(0.1, 100.0),
)
def test_bgnbd_closed_forms_equal_posterior_integral_anywhere(params, x, T, frac, t):
    # the hypergeometric route stays accurate across the parameter space (incl. a = 1 and
    # integer c - a - b, where scipy's 2F1 needs the guard)
    tx = 0.0 if x == 0 else frac * T
    expected, p_alive = _posterior_integral(params, t, x, tx, T)
    m = _model(*params)
    assert m.conditional_expected_number_of_purchases_up_to_time(t, x, tx, T) == pytest.approx(expected, rel=1e-6, abs=1e-250)
    assert m.conditional_probability_alive(x, tx, T) == pytest.approx(p_alive, rel=1e-6, abs=1e-250)


def test_bgnbd_new_customer_expectation_matches_simulation():
    # mean of X(t) over 200,000 simulated new customers, within 4 standard errors of eq. (9)
    rng = np.random.default_rng(20050401)
    for t in (5.0, 39.0, 78.0):
        x, _, _ = _simulate_bgnbd(200_000, *CDNOW_BGNBD, T=t, rng=rng)
        se = x.std(ddof=1) / np.sqrt(x.size)
        assert _model(*CDNOW_BGNBD).expected_number_of_purchases_up_to_time(t) == pytest.approx(x.mean(), abs=4 * se)


# ----------------------------------------------------------------------------- BG/NBD: invariants

_params = st.tuples(
    st.floats(0.05, 5.0), st.floats(0.1, 50.0), st.floats(0.05, 5.0), st.floats(0.05, 10.0)
)


@settings(max_examples=150, deadline=None)
@given(
    params=_params,
    x=st.integers(0, 60),
    T=st.floats(0.1, 200.0),
    frac=st.floats(0.0, 1.0),
    t1=st.floats(0.0, 100.0),
    dt=st.floats(0.0, 100.0),
)
def test_bgnbd_prediction_invariants(params, x, T, frac, t1, dt):
    m = _model(*params)
    tx = 0.0 if x == 0 else frac * T
    p = m.conditional_probability_alive(x, tx, T)
    assert 0.0 <= p <= 1.0
    if x == 0:
        assert p == 1.0  # drop-out happens only right after a repeat purchase
    e1 = m.conditional_expected_number_of_purchases_up_to_time(t1, x, tx, T)
    e2 = m.conditional_expected_number_of_purchases_up_to_time(t1 + dt, x, tx, T)
    assert np.isfinite(e1) and e1 >= 0.0
    assert e2 >= e1 - 1e-9 * max(1.0, abs(e1))
    n1 = m.expected_number_of_purchases_up_to_time(t1)
    n2 = m.expected_number_of_purchases_up_to_time(t1 + dt)
    assert 0.0 <= n1 <= n2 + 1e-9 * max(1.0, n1)


@settings(max_examples=100, deadline=None)
@given(params=_params, x=st.integers(1, 60), frac=st.floats(0.0, 1.0), T=st.floats(0.1, 100.0), extra=st.floats(0.0, 100.0))
def test_bgnbd_p_alive_falls_with_silence(params, x, frac, T, extra):
    # same history, observed longer without a purchase: P(alive) cannot rise
    m = _model(*params)
    tx = frac * T
    assert m.conditional_probability_alive(x, tx, T + extra) <= m.conditional_probability_alive(x, tx, T) + 1e-12


# ----------------------------------------------------------------------------- BG/NBD: fitting


def test_bgnbd_recovers_simulated_parameters():
    # 20,000 customers drawn from the model with the CDNOW estimates, T between 27 and 39 weeks.
    # Tolerance: 4 standard errors from the fit's own inverse Hessian.
    rng = np.random.default_rng(7)
    T = rng.uniform(27.0, 39.0, 20_000)
    x, tx, T = _simulate_bgnbd(20_000, *CDNOW_BGNBD, T=T, rng=rng)
    bg = BetaGeo().fit(x, tx, T)
    truth = pd.Series(CDNOW_BGNBD, index=["r", "alpha", "a", "b"])
    z = (bg.params_ - truth) / bg.standard_errors_
    assert np.all(np.abs(z) < 4), z.to_dict()
    s = bg.summary()
    assert list(s.columns) == ["term", "estimate", "std_err", "ci_lower", "ci_upper"]
    assert np.all((s["ci_lower"] < s["estimate"]) & (s["estimate"] < s["ci_upper"]))


def test_bgnbd_standard_errors_match_spread_over_replications():
    # 30 independent samples of 3,000 customers: the mean Hessian standard error of r and alpha
    # should match the standard deviation of the estimates. The SD of 30 draws has a relative
    # sampling error of 1/sqrt(2*29) = 13%, so the band 0.6-1.4 is about 3 of those; it still
    # catches the usual mistakes (a missing factor N or sqrt(N), a Hessian in the wrong scale).
    rng = np.random.default_rng(11)
    est, se = [], []
    for _ in range(30):
        x, tx, T = _simulate_bgnbd(3_000, *CDNOW_BGNBD, T=rng.uniform(27.0, 39.0, 3_000), rng=rng)
        bg = BetaGeo().fit(x, tx, T)
        est.append(bg.params_[["r", "alpha"]].to_numpy())
        se.append(bg.standard_errors_[["r", "alpha"]].to_numpy())
    ratio = np.std(est, axis=0, ddof=1) / np.mean(se, axis=0)
    assert np.all((ratio > 0.6) & (ratio < 1.4)), ratio


def _naive_bgnbd_fit(x, tx, T):
    """Independent route: per-row likelihood written out directly, numerical gradient."""

    def negll(theta):
        r, al, a, b = np.exp(theta)
        A1 = special.gammaln(r + x) + r * np.log(al) - special.gammaln(r)
        A2 = special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b) - special.gammaln(a + b + x)
        A3 = (al + T) ** -(r + x)
        A4 = np.where(x > 0, a / (b + np.maximum(x, 1) - 1) * (al + tx) ** -(r + x), 0.0)
        return -np.sum(A1 + A2 + np.log(A3 + A4))

    res = optimize.minimize(negll, np.zeros(4), method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-10, "maxiter": 20000, "maxfev": 20000})
    return np.exp(res.x), -res.fun


def test_bgnbd_merging_weights_gives_the_unmerged_fit():
    # times on a 0.5-week grid so that many customers share (x, t_x, T)
    rng = np.random.default_rng(3)
    x, tx, T = _simulate_bgnbd(3_000, *CDNOW_BGNBD, T=rng.choice([30.0, 35.0, 39.0], 3_000), rng=rng)
    tx = np.round(tx * 2) / 2
    bg = BetaGeo().fit(x, tx, T)
    assert bg.n_unique_ < 1_000
    # route 1: explicit weights on the distinct rows equal the automatic merge
    rows = pd.DataFrame({"x": x, "tx": tx, "T": T}).value_counts().reset_index(name="w")
    bw = BetaGeo().fit(rows["x"], rows["tx"], rows["T"], weights=rows["w"])
    np.testing.assert_allclose(bw.params_, bg.params_, rtol=1e-9)
    assert bw.log_likelihood_ == pytest.approx(bg.log_likelihood_, rel=1e-12)
    assert bw.n_customers_ == 3_000
    # route 2: a naive fit over all 3,000 rows, no merging, numerical search
    naive, naive_ll = _naive_bgnbd_fit(x.astype(float), tx, T)
    np.testing.assert_allclose(bg.params_, naive, rtol=2e-4)
    assert bg.log_likelihood_ == pytest.approx(naive_ll, abs=1e-6)


def test_bgnbd_time_unit_changes_only_alpha():
    # days instead of weeks: lambda per day = lambda per week / 7, so alpha_days = 7 alpha_weeks,
    # r, a, b unchanged; the likelihood (a density in time) shifts by -sum(x) ln 7.
    rng = np.random.default_rng(5)
    x, tx, T = _simulate_bgnbd(5_000, *CDNOW_BGNBD, T=rng.uniform(27.0, 39.0, 5_000), rng=rng)
    weeks = BetaGeo().fit(x, tx, T, time_unit="W")
    days = BetaGeo().fit(x, tx * 7, T * 7, time_unit="D")
    np.testing.assert_allclose(days.params_[["r", "a", "b"]], weeks.params_[["r", "a", "b"]], rtol=1e-5)
    assert days.params_["alpha"] == pytest.approx(7 * weeks.params_["alpha"], rel=1e-5)
    assert days.log_likelihood_ == pytest.approx(weeks.log_likelihood_ - x.sum() * np.log(7), abs=1e-5)
    assert (weeks.time_unit_, days.time_unit_) == ("W", "D")


@pytest.mark.parametrize("fn, ref", [(_bgnbd_ll_grad, "bgnbd"), (_gg_ll_grad, "gg")])
def test_analytic_gradients_equal_finite_differences(fn, ref):
    rng = np.random.default_rng(1)
    if ref == "bgnbd":
        x, tx, T = _simulate_bgnbd(500, *CDNOW_BGNBD, T=rng.uniform(27, 39, 500), rng=rng)
        d = _bgnbd_data(x.astype(float), tx, T, np.ones(500))
        p0 = np.array(CDNOW_BGNBD) * 1.1
    else:
        x = rng.integers(1, 8, 500).astype(float)
        m = rng.gamma(6.0 * x, 1 / (x * rng.gamma(3.7, 1 / 15.4, 500)))
        d = {"x": x, "m": m, "w": np.ones(500), "lx": np.log(x), "lm": np.log(m)}
        p0 = np.array([6.0, 3.5, 14.0])
    g = fn(p0, d)[1]
    num = optimize.approx_fprime(p0, lambda p: fn(p, d)[0], 1e-7 * p0)
    np.testing.assert_allclose(g, num, rtol=2e-4, atol=1e-4)


# ----------------------------------------------------------------------------- BG/NBD: refusals


@pytest.mark.parametrize(
    "method, args",
    [
        ("conditional_probability_alive", (1, 2.0, 3.0)),
        ("conditional_expected_number_of_purchases_up_to_time", (4.0, 1, 2.0, 3.0)),
        ("expected_number_of_purchases_up_to_time", (4.0,)),
        ("summary", ()),
    ],
)
def test_bgnbd_unfitted_use_names_the_class(method, args):
    with pytest.raises(NotFittedError, match=f"This BetaGeo instance is not fitted yet.*'{method}'"):
        getattr(BetaGeo(), method)(*args)


def test_bgnbd_refuses_bad_data():
    x, tx, T = pd.Series([1, 2, 0]), pd.Series([5.0, 12.0, 0.0]), pd.Series([10.0, 10.0, 10.0])
    with pytest.raises(DataValidationError, match=r"column 'recency' must be <= T; 1 of 3 rows does not \(first: 1: 12.0\)"):
        BetaGeo().fit(x, tx, T)
    with pytest.raises(DataValidationError, match=r"column 'frequency' must be a whole number >= 0; 2 of 3 rows do not"):
        BetaGeo().fit([1.5, -1, 0], [1.0, 1.0, 0.0], [10.0, 10.0, 10.0])
    with pytest.raises(ParameterError, match=r"The 'T' parameter of BetaGeo.fit must have one value per customer \(3, as frequency\). Got 2"):
        BetaGeo().fit([1, 2, 0], [1.0, 1.0, 0.0], [10.0, 10.0])
    with pytest.raises(DataValidationError, match=r"column 'weights' must be finite and >= 0"):
        BetaGeo().fit([1, 2, 0], [1.0, 1.0, 0.0], [10.0, 10.0, 10.0], weights=[1, -1, 1])
    with pytest.raises(DataValidationError, match=r"no customer made a repeat purchase"):
        BetaGeo().fit([0, 0], [0.0, 0.0], [10.0, 10.0])
    with pytest.raises(ParameterError, match=r"The 'penalizer' parameter of BetaGeo must be a float >= 0. Got -1 instead."):
        BetaGeo(penalizer=-1).fit([1, 2, 0], [1.0, 1.0, 0.0], [10.0, 10.0, 10.0])
    with pytest.raises(DataValidationError, match=r"'t' must be finite and >= 0"):
        _model(*CDNOW_BGNBD).conditional_expected_number_of_purchases_up_to_time(-1.0, 1, 1.0, 3.0)


def test_bgnbd_unidentified_data_raise_convergence_error_with_advice():
    # every customer bought at the very end of the window: no drop-out and no heterogeneity
    with pytest.raises(ConvergenceError, match=r"BetaGeo fit ran to the edge of the parameter space .*penalizer"):
        BetaGeo().fit([1, 2, 3, 1], [10.0] * 4, [10.0] * 4)
    # the suggested penalizer makes it fit
    assert np.all(np.isfinite(BetaGeo(penalizer=0.01).fit([1, 2, 3, 1], [10.0] * 4, [10.0] * 4).params_))


def test_bgnbd_fit_time_unit_must_match_the_data(cdnow_rfm):
    with pytest.raises(ParameterError, match=r"The 'time_unit' parameter of BetaGeo.fit must match the unit .*'W'.*Got 'D'"):
        BetaGeo().fit(cdnow_rfm["frequency"], cdnow_rfm["recency"], cdnow_rfm["T"], time_unit="D")


# ----------------------------------------------------------------------------- Gamma-Gamma


def test_gamma_gamma_reproduces_published_cdnow_fit(cdnow_rfm):
    # on the exact mean repeat spends computed from the raw transactions
    pub = _published("gamma_gamma")
    gg = GammaGamma().fit(cdnow_rfm["frequency"], cdnow_rfm["monetary_value"])
    assert gg.n_customers_ == 946
    for name in ("p", "q", "v"):
        value, tol = pub[name]
        assert gg.params_[name] == pytest.approx(value, abs=tol), name


def test_gamma_gamma_on_rounded_summary_file_is_close_to_published(cdnow_dir):
    # zbar in the summary file is rounded to cents; that moves v by ~0.004 (15.4477 instead of
    # 15.4435), one unit of the published last digit at most. p and q stay at their published digits.
    st_ = pd.read_csv(cdnow_dir / "cdnow_customers_summary_with_transactions.csv")
    gg = GammaGamma().fit(st_["x"], st_["zbar"])
    pub = _published("gamma_gamma")
    assert gg.params_["p"] == pytest.approx(pub["p"][0], abs=pub["p"][1])
    assert gg.params_["q"] == pytest.approx(pub["q"][0], abs=pub["q"][1])
    assert gg.params_["v"] == pytest.approx(pub["v"][0], abs=0.01)


def _simulate_gg(n, p, q, v, rng):
    # nu ~ Gamma(q, rate v); each spend ~ Gamma(p, rate nu); the mean of x spends ~ Gamma(p x, rate x nu)
    x = rng.integers(1, 10, n)
    nu = rng.gamma(q, 1.0 / v, n)
    return x, rng.gamma(p * x, 1.0 / (x * nu))


def test_gamma_gamma_recovers_simulated_parameters_and_ignores_non_repeaters():
    rng = np.random.default_rng(9)
    x, m = _simulate_gg(5_000, 6.0, 4.0, 15.0, rng)
    gg = GammaGamma().fit(x, m)
    z = (gg.params_ - pd.Series([6.0, 4.0, 15.0], index=["p", "q", "v"])) / gg.standard_errors_
    assert np.all(np.abs(z) < 4), z.to_dict()
    # customers with frequency 0 (monetary 0 by convention) do not change the fit
    gg0 = GammaGamma().fit(np.r_[x, [0, 0, 0]], np.r_[m, [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(gg0.params_, gg.params_, rtol=1e-12)


def test_gamma_gamma_expected_spend_hand_worked():
    # p = 6, q = 4, v = 15: E[M | x, m] = p (v + x m) / (p x + q - 1)
    #   x = 2, m = 20: 6 * (15 + 40) / (12 + 3) = 330 / 15 = 22
    #   x = 0:         population mean p v / (q - 1) = 90 / 3 = 30
    gg = _gg(6.0, 4.0, 15.0)
    out = gg.conditional_expected_average_profit(pd.Series([2, 0], index=["a", "b"]), pd.Series([20.0, 0.0], index=["a", "b"]))
    assert out.name == "expected_average_value" and list(out.index) == ["a", "b"]
    np.testing.assert_allclose(out, [22.0, 30.0])


def test_gamma_gamma_refusals_and_warning():
    with pytest.raises(DataValidationError, match=r"GammaGamma.fit: no repeat buyer \(frequency > 0\)"):
        GammaGamma().fit([0, 0, 0], [0.0, 0.0, 0.0])
    with pytest.raises(DataValidationError, match=r"'monetary_value' must be > 0 for repeat buyers .*2 of 4 rows do not \(first: 'b': 0.0, 'd': -3.0\)"):
        GammaGamma().fit(
            pd.Series([1, 2, 0, 3], index=list("abcd")), pd.Series([10.0, 0.0, 0.0, -3.0], index=list("abcd"))
        )
    with pytest.raises(NotFittedError, match="This GammaGamma instance is not fitted yet"):
        GammaGamma().conditional_expected_average_profit(1, 10.0)
    # heavy-tailed spend (q = 0.8 < 1: infinite population mean) is fitted but flagged
    x, m = _simulate_gg(4_000, 3.0, 0.8, 10.0, np.random.default_rng(2))
    with pytest.warns(UserWarning, match=r"q = 0\.\d+ <= 1, so the population mean spend p\*v/\(q-1\) is infinite"):
        gg = GammaGamma().fit(x, m)
    assert gg.params_["q"] < 1
    assert np.isinf(gg.conditional_expected_average_profit(0, 0.0))


# ----------------------------------------------------------------------------- CLV


def test_customer_lifetime_value_hand_worked():
    # BG/NBD r=2, alpha=1, a=2, b=1 (weeks); account x=1, t_x=1, T=3: E[Y(t)] = 3 t/(4+t) / 17
    #   E[Y(1)] = 0.6/17 = 0.0352941, E[Y(2)] = 1/17 = 0.0588235
    # Gamma-Gamma p=6, q=4, v=15, m=20: spend = 6 (15+20)/(6+4-1) = 23.3333
    # weekly periods, d = 10%: 23.3333 * (0.0352941/1.1 + 0.0235294/1.21) = 1.2023983
    rfm = pd.DataFrame({"frequency": [1], "recency": [1.0], "T": [3.0], "monetary_value": [20.0]}, index=pd.Index(["acc"], name="account_id"))
    rfm.attrs["time_unit"] = "W"
    clv = customer_lifetime_value(_model(2.0, 1.0, 2.0, 1.0, "W"), _gg(6.0, 4.0, 15.0), rfm, horizon=2, discount_rate=0.1, time_unit="W", freq="W")
    assert clv.name == "clv" and list(clv.index) == ["acc"]
    assert clv["acc"] == pytest.approx(1.2023983146977797, rel=1e-10)
    half = customer_lifetime_value(_model(2.0, 1.0, 2.0, 1.0, "W"), _gg(6.0, 4.0, 15.0), rfm, horizon=2, discount_rate=0.1, time_unit="W", freq="W", margin_rate=0.5)
    assert half["acc"] == pytest.approx(0.5 * clv["acc"])


def test_customer_lifetime_value_undiscounted_is_spend_times_expected_purchases(cdnow_rfm):
    # d = 0: the monthly increments telescope to E[Y(12 months)], 12 months = 12 * 30.4375 / 7 weeks
    bg = BetaGeo().fit(cdnow_rfm)
    gg = GammaGamma().fit(cdnow_rfm)
    clv0 = customer_lifetime_value(bg, gg, cdnow_rfm, horizon=12, discount_rate=0.0, time_unit="W")
    direct = gg.conditional_expected_average_profit(cdnow_rfm["frequency"], cdnow_rfm["monetary_value"]) * (
        bg.conditional_expected_number_of_purchases_up_to_time(12 * 30.4375 / 7, cdnow_rfm["frequency"], cdnow_rfm["recency"], cdnow_rfm["T"])
    )
    np.testing.assert_allclose(clv0, direct, rtol=1e-10)
    clv1 = customer_lifetime_value(bg, gg, cdnow_rfm, horizon=12, discount_rate=0.01, time_unit="W")
    assert np.all(clv1 <= clv0) and np.all(clv1 >= clv0 / 1.01**12)


def test_customer_lifetime_value_refuses_unit_mismatch():
    rfm = pd.DataFrame({"frequency": [1], "recency": [1.0], "T": [3.0], "monetary_value": [20.0]})
    rfm.attrs["time_unit"] = "W"
    bg_w, gg = _model(2.0, 1.0, 2.0, 1.0, "W"), _gg(6.0, 4.0, 15.0)
    with pytest.raises(ParameterError, match=r"The 'time_unit' parameter of customer_lifetime_value must be the unit of rfm .*'W'. Got 'D' instead"):
        customer_lifetime_value(bg_w, gg, rfm, horizon=12, discount_rate=0.01, time_unit="D")
    rfm.attrs.clear()
    with pytest.raises(ParameterError, match=r"must be the unit of bgnbd \(time_unit_\), 'W'. Got 'M' instead: .* factor of 0.23"):
        customer_lifetime_value(bg_w, gg, rfm, horizon=12, discount_rate=0.01, time_unit="M")
    with pytest.raises(ParameterError, match=r"The 'horizon' parameter of customer_lifetime_value must be an int >= 1"):
        customer_lifetime_value(bg_w, gg, rfm, horizon=0, discount_rate=0.01, time_unit="W")
    with pytest.raises(ParameterError, match=r"The 'discount_rate' parameter of customer_lifetime_value must be a float >= 0"):
        customer_lifetime_value(bg_w, gg, rfm, horizon=12, discount_rate=-0.1, time_unit="W")
    with pytest.raises(NotFittedError, match="This BetaGeo instance is not fitted yet"):
        customer_lifetime_value(BetaGeo(), gg, rfm, horizon=12, discount_rate=0.01, time_unit="W")


# ----------------------------------------------------------------------------- holdout


def test_holdout_validation_on_cdnow(cdnow_transactions):
    hv = holdout_validation(
        cdnow_transactions, calibration_end="1997-09-30", observation_end="1998-06-30", keep_zero_revenue_days=True
    )
    assert isinstance(hv, HoldoutValidation) and hv.n_obs == 2357
    pub = _published("bgnbd")
    for name in ("r", "alpha", "a", "b"):
        assert hv.model.params_[name] == pytest.approx(pub[name][0], abs=pub[name][1])
    # actual holdout purchases, counted independently from the raw file: distinct positive
    # purchase days after 1997-09-30 per customer (customer 0001 buys once more, on 1997-12-12)
    tx = cdnow_transactions
    hold = tx[tx["date"] > "1997-09-30"].groupby("account_id")["date"].nunique()
    np.testing.assert_array_equal(hv.per_account["actual"], hold.reindex(hv.per_account.index, fill_value=0))
    assert hv.per_account.loc["0001", "actual"] == 1
    # the cumulative tracking curve ends at all repeat purchase days of the cohort
    repeat_days = tx.groupby("account_id")["date"].nunique().sum() - 2357
    assert hv.tracking["actual_cumulative"].iloc[-1] == repeat_days
    assert hv.total_actual == hold.sum()
    err = hv.per_account["predicted"] - hv.per_account["actual"]
    assert hv.mae == pytest.approx(err.abs().mean())
    assert hv.rmse == pytest.approx(np.sqrt((err**2).mean()))
    assert hv.aggregate_bias == pytest.approx(err.sum() / hold.sum())
    # expected cumulative curve at the end of calibration = sum over customers of E[X(T_i)]
    t_cal = hv.tracking.loc[hv.tracking["period_end"] <= "1997-09-30", "expected_cumulative"].iloc[-1]
    ages = (pd.Timestamp("1997-09-24") - tx.groupby("account_id")["date"].min()).dt.days / 7
    assert t_cal == pytest.approx(hv.model.expected_number_of_purchases_up_to_time(ages.clip(lower=0).to_numpy()).sum(), rel=1e-10)


def test_holdout_validation_result_object():
    import matplotlib.pyplot as plt

    # two accounts, weekly purchases; calibration to 2024-02-29, holdout to 2024-04-30
    dates = pd.date_range("2024-01-01", "2024-04-30", freq="7D")
    tx = pd.DataFrame(
        {
            "account_id": ["A"] * len(dates) + ["B"] * 3 + ["C"] * 2 + ["D"],
            "date": list(dates) + list(pd.to_datetime(["2024-01-10", "2024-02-01", "2024-03-15", "2024-01-20", "2024-02-10", "2024-01-05"])),
            "revenue": 10.0,
        }
    )
    hv = holdout_validation(tx, calibration_end="2024-02-29", observation_end="2024-04-30", penalizer=0.1)
    assert hv.per_account.loc["A", "actual"] == (dates > "2024-02-29").sum()
    assert hv.per_account.loc["B", "actual"] == 1 and hv.per_account.loc["D", "actual"] == 0
    tr = hv.tracking
    assert tr["actual_cumulative"].iloc[-1] == len(tx) - 4  # every purchase but the four first ones
    assert np.all(np.diff(tr["expected_cumulative"]) >= 0)
    s = hv.summary(alpha=0.1)
    assert list(s.columns) == ["term", "estimate", "std_err", "ci_lower", "ci_upper"]
    assert {"r", "alpha", "a", "b", "mae", "rmse", "aggregate_bias"} <= set(s["term"])
    assert "holdout validation" in hv._repr_html_()
    with pytest.raises(Exception):
        hv.mae = 0.0  # frozen
    fig, ax = plt.subplots()
    try:
        assert hv.plot(ax=ax) is ax
        assert len(ax.get_lines()) == 3  # actual, expected, end of calibration
        assert ax.get_ylabel() == "Cumulative repeat purchases"
        assert "weeks" in ax.get_xlabel()
    finally:
        plt.close(fig)
    ax2 = hv.plot()
    plt.close(ax2.figure)
