"""Tests of kamtools.roi: published values, two routes to one answer, invariants, recovery.

Published values live in tests/reference/did_*.csv (with their citations); the data sets behind
them are in ../shared/reference-data/did and the tests that need them skip when it is absent.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import statsmodels.formula.api as smf  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy import stats  # noqa: E402

from kamtools import roi  # noqa: E402
from kamtools.exceptions import DataValidationError, ParameterError  # noqa: E402

REF = Path(__file__).resolve().parent / "reference"
DATA = Path(__file__).resolve().parents[2] / "shared" / "reference-data" / "did"


def _ref(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / name, comment="#")


def _data(name: str) -> pd.DataFrame:
    path = DATA / name
    if not path.exists():
        pytest.skip(f"reference data {path} not available")
    return pd.read_csv(path)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --------------------------------------------------------------------------------------------
# synthetic data
# --------------------------------------------------------------------------------------------
def _two_by_two(seed: int, n_units: int = 120, periods: int = 4) -> pd.DataFrame:
    """Panel with unequal cluster sizes, heteroskedastic noise and a second cluster key."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_units), periods)
    t = np.tile(np.arange(periods), n_units)
    treated = (rng.random(n_units) < 0.4)[unit]
    post = t >= periods // 2
    a = rng.normal(0, 3, n_units)[unit]
    y = a + 1.5 * post + 0.8 * treated + 2.0 * treated * post + rng.normal(0, 1 + treated, len(t))
    df = pd.DataFrame({"y": y, "unit": [f"u{u:03d}" for u in unit], "t": t,
                       "treated": treated, "post": post.astype(int),
                       "region": (unit % 17).astype(str)})
    drop = rng.random(len(df)) < 0.1  # unbalanced: some account-periods missing
    return df[~drop].reset_index(drop=True)


def _staggered(seed: int, n: int = 400, T: int = 8, cohorts=(3, 5), p_never: float = 0.4,
               effect=lambda e: 1.0 + 0.5 * e, trend: float = 0.3, sd: float = 1.0,
               pre_trend: float = 0.0) -> tuple[pd.DataFrame, pd.Series]:
    """Balanced panel with staggered rollout and known ATT(g, t) = effect(t - g).

    Returns the panel and each account's first treated period (NaN = never).
    ``pre_trend`` adds a diverging trend for treated accounts before rollout (violation).
    """
    rng = np.random.default_rng(seed)
    probs = np.r_[np.full(len(cohorts), (1 - p_never) / len(cohorts)), p_never]
    choice = rng.choice(len(cohorts) + 1, size=n, p=probs)
    g = np.array(list(cohorts) + [np.nan], dtype=float)[choice]
    unit = np.repeat(np.arange(n), T)
    t = np.tile(np.arange(T), n)
    gu = g[unit]
    level = rng.normal(10, 2, n)[unit] + 2.0 * np.nan_to_num(gu > 0)  # selection on level
    e = t - gu
    eff = np.where(e >= 0, effect(np.nan_to_num(e)), 0.0)
    div = np.where((gu > 0) & (e < 0), pre_trend * t, 0.0)
    y = level + trend * t + eff + div + rng.normal(0, sd, n * T)
    df = pd.DataFrame({"account_id": [f"A{u:04d}" for u in unit], "period": t, "revenue": y,
                       "first_treated": gu})
    return df, pd.Series(g)


# --------------------------------------------------------------------------------------------
# did: closed form == statsmodels OLS
# --------------------------------------------------------------------------------------------
def _sm_fit(df, cov_type, groups=None):
    model = smf.ols("y ~ treated_i + post + treated_i:post",
                    df.assign(treated_i=df.treated.astype(int)))
    if cov_type == "cluster":
        return model.fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(groups)[0]},
                         use_t=True)
    if cov_type == "HC1":
        return model.fit(cov_type="HC1", use_t=True)
    return model.fit()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("cov_type,cluster", [("cluster", "unit"), ("cluster", "region"),
                                              ("HC1", None), ("nonrobust", None)])
def test_did_closed_form_equals_statsmodels(seed, cov_type, cluster):
    df = _two_by_two(seed)
    res = did_res = roi.did(df, outcome="y", unit="unit", time="t", treated="treated",
                            post="post", cluster=cluster, cov_type=cov_type)
    sm = _sm_fit(df, cov_type, df[cluster] if cluster else None)
    ours = did_res.summary()
    np.testing.assert_allclose(ours["estimate"], sm.params.to_numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours["std_err"], sm.bse.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(ours["p_value"], sm.pvalues.to_numpy(), rtol=1e-6, atol=1e-12)
    ci = sm.conf_int(0.05).to_numpy()
    np.testing.assert_allclose(ours[["ci_lower", "ci_upper"]].to_numpy(), ci, rtol=1e-8)
    assert res.n_obs == int(sm.nobs)
    if cov_type == "cluster":
        assert res.n_clusters == df[cluster].nunique()
        assert res.df_resid == res.n_clusters - 1  # t(G-1) reference
    # a different alpha in summary() recomputes the interval with the same t reference
    np.testing.assert_allclose(did_res.summary(alpha=0.1)[["ci_lower", "ci_upper"]].to_numpy(),
                               sm.conf_int(0.1).to_numpy(), rtol=1e-8)


def test_did_hand_worked_example():
    # cells (2 rows each): control/pre {1, 1.5} mean 1.25, control/post {2, 2.5} mean 2.25,
    # treated/pre {3, 3.5} mean 3.25, treated/post {6, 6.5} mean 6.25
    # DiD = (6.25 - 3.25) - (2.25 - 1.25) = 3 - 1 = 2
    # HC1: every residual is +-0.25; each observation's weight on the interaction is +-1/2, so
    # sum a_i^2 e_i^2 = 8 * (1/4) * 0.0625 = 0.125; times N/(N-K) = 8/4 -> 0.25 -> SE 0.5
    df = pd.DataFrame({"y": [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 6.0, 6.5],
                       "t": [0, 0, 0, 0, 1, 1, 1, 1], "p": [0, 0, 1, 1, 0, 0, 1, 1]})
    res = roi.did(df, outcome="y", treated="t", post="p")
    assert res.effect == pytest.approx(2.0, abs=1e-12)
    assert res.std_err == pytest.approx(0.5, abs=1e-12)
    crit = stats.t.ppf(0.975, 4)  # df = N - K = 8 - 4
    assert res.ci_lower == pytest.approx(2.0 - crit * 0.5)
    m = res.means.set_index(["group", "period"])["mean"]
    assert m["treated", "post"] == pytest.approx(6.25)
    assert m["control", "pre"] == pytest.approx(1.25)


@settings(max_examples=40, deadline=None)
@given(cells=st.lists(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=6),
                      min_size=4, max_size=4))
def test_did_from_group_means_equals_ols_interaction(cells):
    # two routes: difference of the four group means, and the OLS interaction coefficient
    rows = [(y, c // 2, c % 2) for c, ys in enumerate(cells) for y in ys]
    df = pd.DataFrame(rows, columns=["y", "treated", "post"])
    means = [np.mean(ys) for ys in cells]  # c = 2*treated + post
    by_means = (means[3] - means[2]) - (means[1] - means[0])
    res = roi.did(df, outcome="y", treated="treated", post="post")
    scale = max(1.0, max(abs(v) for ys in cells for v in ys))
    assert res.effect == pytest.approx(by_means, abs=1e-9 * scale)
    ols = smf.ols("y ~ treated * post", df).fit().params["treated:post"]
    assert res.effect == pytest.approx(ols, abs=1e-8 * scale)


def test_did_drops_missing_outcome_with_warning_and_validates():
    df = _two_by_two(0)
    gaps = df.copy()
    gaps.loc[[3, 7], "y"] = np.nan
    with pytest.warns(UserWarning, match="dropped 2 of"):
        res = roi.did(gaps, outcome="y", treated="treated", post="post", cluster="unit")
    assert res.n_obs == len(df) - 2
    bad = df.copy()
    bad["post"] = bad["post"].astype(object)
    bad.loc[5, "post"] = "yes"
    with pytest.raises(DataValidationError, match="column 'post' must be numeric; 1 of"):
        roi.did(bad, outcome="y", treated="treated", post="post")
    bad = df.assign(post=df["post"] * 2)
    with pytest.raises(DataValidationError, match="column 'post' must be 0/1 or boolean"):
        roi.did(bad, outcome="y", treated="treated", post="post")
    with pytest.raises(DataValidationError, match="empty: treated/post"):
        roi.did(df[~(df.treated & (df.post == 1))], outcome="y", treated="treated", post="post")
    flip = df.copy()
    flip.loc[0, "treated"] = not flip.loc[0, "treated"]
    with pytest.raises(DataValidationError, match="'treated' must be constant within each 'unit'"):
        roi.did(flip, outcome="y", unit="unit", treated="treated", post="post")
    with pytest.raises(ParameterError, match="The 'alpha' parameter of did must be"):
        roi.did(df, outcome="y", treated="treated", post="post", alpha=1.5)
    with pytest.raises(ParameterError, match="The 'cov_type' parameter of did must be one of"):
        roi.did(df, outcome="y", treated="treated", post="post", cov_type="HC3")
    with pytest.raises(DataValidationError, match="missing column"):
        roi.did(df, outcome="revenue", treated="treated", post="post")


# --------------------------------------------------------------------------------------------
# published: Card & Krueger (1994), Wooldridge kielmc
# --------------------------------------------------------------------------------------------
def test_card_krueger_table3_balanced():
    long = _data("card_krueger_long.csv")
    both = long.groupby("uid")["fte"].transform("size") == 2  # valid FTE in both waves
    bal = long[both]
    ref = _ref("did_card_krueger_1994.csv").set_index("quantity")
    res = roi.did(bal, outcome="fte", unit="uid", time="post", treated="state", post="post",
                  cluster="uid")
    row = ref.loc["did_nj_minus_pa"]
    assert res.effect == pytest.approx(row.value, abs=row.tolerance)
    # the paper's SE is that of a difference of two independent mean changes; the CR1 clustered
    # regression SE (1.3386) rounds to the same printed 1.34
    assert res.std_err == pytest.approx(row.std_err, abs=row.tolerance)
    assert bal["uid"].nunique() == 384 and res.n_clusters == 384
    m = res.means.set_index(["group", "period"])
    for q, grp in (("change_pa", "control"), ("change_nj", "treated")):
        change = m.loc[(grp, "post"), "mean"] - m.loc[(grp, "pre"), "mean"]
        assert change == pytest.approx(ref.loc[q, "value"], abs=ref.loc[q, "tolerance"])
    # the SEs of the per-state mean changes: sd(change)/sqrt(n)
    wide = bal.pivot(index="uid", columns="post", values="fte")
    st_ = bal.drop_duplicates("uid").set_index("uid")["state"]
    change = (wide[1] - wide[0]).groupby(st_).agg(["std", "size"])
    se = change["std"] / np.sqrt(change["size"])
    assert se[0] == pytest.approx(ref.loc["change_pa", "std_err"], abs=0.005)
    assert se[1] == pytest.approx(ref.loc["change_nj", "std_err"], abs=0.005)


def test_kielmc_example_13_3_and_cbd_clusters():
    k = _data("wooldridge_kielmc.csv")
    ref = _ref("did_kielmc_wooldridge_13_3.csv").set_index("term").loc["y81nrinc"]
    book = roi.did(k, outcome="rprice", treated="nearinc", post="y81", cov_type="nonrobust")
    assert book.effect == pytest.approx(ref.estimate, abs=ref.tolerance)
    assert book.std_err == pytest.approx(ref.std_err, abs=ref.tolerance)
    assert book.n_obs == 321
    res = roi.did(k, outcome="rprice", treated="nearinc", post="y81", cluster="cbd")
    sm = smf.ols("rprice ~ nearinc + y81 + nearinc:y81", k).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(k["cbd"])[0]}, use_t=True)
    np.testing.assert_allclose(res.summary()["std_err"], sm.bse.to_numpy(), rtol=1e-8)
    assert res.p_value == pytest.approx(sm.pvalues["nearinc:y81"], rel=1e-8)
    assert res.n_clusters == k["cbd"].nunique()


# --------------------------------------------------------------------------------------------
# published: Callaway & Sant'Anna mpdta
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mpdta():
    return _data("mpdta.csv")


@pytest.fixture(scope="module")
def mpdta_fits(mpdta):
    kw = dict(outcome="lemp", unit="countyreal", time="year", first_treated="first.treat",
              control="never_treated")
    return (roi.staggered_did(mpdta, n_boot=0, **kw),
            roi.staggered_did(mpdta, n_boot=999, random_state=0, **kw))


def test_mpdta_group_time_effects_match_did_readme(mpdta_fits):
    analytic, boot = mpdta_fits
    ref = _ref("did_mpdta_callaway_santanna.csv")
    cells = ref[ref.kind == "att_gt"]
    tab = analytic.att_gt.set_index(["group", "time"])
    for r in cells.itertuples():
        got = tab.loc[(int(r.group), int(r.time))]
        assert got["att"] == pytest.approx(r.estimate, abs=r.tolerance)
        # analytic influence-function SE vs the published bootstrap SE (random, +-9 % between
        # the README and vignette runs)
        assert got["std_err"] == pytest.approx(r.std_err, rel=0.15)
    np.testing.assert_allclose(boot.att_gt["att"], analytic.att_gt["att"])
    assert boot.att_gt["std_err"].to_numpy() == pytest.approx(
        cells["std_err"].to_numpy(), rel=0.15)
    p = ref[ref.kind == "pretest_p_value"].iloc[0]
    assert analytic.pretrend_p_value == pytest.approx(p.estimate, abs=p.tolerance)
    assert analytic.pretrend_message.startswith("no evidence of diverging trends")


@pytest.mark.parametrize("kind", ["simple", "group", "dynamic"])
def test_mpdta_aggregations_match_published(mpdta_fits, kind):
    analytic, boot = mpdta_fits
    ref = _ref("did_mpdta_callaway_santanna.csv")
    overall = ref[ref.kind.isin([kind, f"{kind}_overall"]) & ref.group.isna()
                  & ref.event_time.isna()].iloc[0]
    for res in (analytic, boot):
        agg = res.aggregate(kind)
        assert agg.effect == pytest.approx(overall.estimate, abs=overall.tolerance)
        assert agg.std_err == pytest.approx(overall.std_err, rel=0.10)
        assert agg.ci_lower < agg.effect < agg.ci_upper
    if kind == "simple":
        return
    key = "group" if kind == "group" else "event_time"
    rows = ref[(ref.kind == kind)]
    table = analytic.aggregate(kind).table.set_index(key)
    for r in rows.itertuples():
        got = table.loc[int(getattr(r, key))]
        assert got["estimate"] == pytest.approx(r.estimate, abs=r.tolerance)
        assert got["std_err"] == pytest.approx(r.std_err, rel=0.15)
    bt = boot.aggregate(kind).table
    assert (bt["band_upper"] - bt["band_lower"] > bt["ci_upper"] - bt["ci_lower"]).all()


def test_mpdta_not_yet_treated_cell_by_hand_and_missing_equals_zero(mpdta):
    kw = dict(outcome="lemp", unit="countyreal", time="year", n_boot=0)
    nyt = roi.staggered_did(mpdta, first_treated="first.treat", control="not_yet_treated", **kw)
    # ATT(2004, 2005) against never-treated plus counties first treated after 2005 (2006, 2007)
    wide = mpdta.pivot(index="countyreal", columns="year", values="lemp")
    g = mpdta.drop_duplicates("countyreal").set_index("countyreal")["first.treat"]
    dy = wide[2005] - wide[2003]
    hand = dy[g == 2004].mean() - dy[(g == 0) | (g > 2005)].mean()
    cell = nyt.att_gt.set_index(["group", "time"]).loc[(2004, 2005)]
    assert cell["att"] == pytest.approx(hand, abs=1e-12)
    assert cell["n_control"] == int(((g == 0) | (g > 2005)).sum())
    never = roi.staggered_did(mpdta, first_treated="first.treat", control="never_treated", **kw)
    assert never.att_gt.set_index(["group", "time"]).loc[(2004, 2005), "att"] != pytest.approx(
        hand, abs=1e-4)
    # missing first_treated is read like 0
    na = mpdta.assign(ft=mpdta["first.treat"].replace(0, np.nan))
    same = roi.staggered_did(na, first_treated="ft", control="never_treated", **kw)
    np.testing.assert_allclose(same.att_gt["att"], never.att_gt["att"])


# --------------------------------------------------------------------------------------------
# staggered_did: the compressed influence function == the per-account one (two routes)
# --------------------------------------------------------------------------------------------
def _explicit_if(df, first, control):
    """Per-account influence functions of ATT(g,t) written from R did's formulas."""
    wide = df.pivot(index="account_id", columns="period", values="revenue")
    g = df.drop_duplicates("account_id").set_index("account_id")["first_treated"].reindex(
        wide.index).fillna(0).to_numpy()
    n = len(g)
    T = wide.shape[1]
    Y = wide.to_numpy()
    cols, atts, meta = [], [], []
    for grp in sorted(set(g[g > 0])):
        for t in range(1, T):
            b = int(grp) - 1 if t >= grp else t - 1
            G = g == grp
            if control == "never_treated":
                Cm = g == 0
            else:
                Cm = (g == 0) | ((g > max(t, b)) & (g != grp))
            dy = Y[:, t] - Y[:, b]
            att = dy[G].mean() - dy[Cm].mean()
            inf = np.zeros(n)
            inf[G] = n / G.sum() * (dy[G] - dy[G].mean())
            inf[Cm] = -n / Cm.sum() * (dy[Cm] - dy[Cm].mean())
            cols.append(inf)
            atts.append(att)
            meta.append((grp, t))
    return np.column_stack(cols), np.array(atts), meta, g


@pytest.mark.parametrize("control", ["never_treated", "not_yet_treated"])
def test_staggered_influence_function_two_routes(control):
    df, _ = _staggered(3, n=150, T=6, cohorts=(2, 4))
    res = roi.staggered_did(df, outcome="revenue", unit="account_id", time="period",
                            first_treated="first_treated", control=control, n_boot=0)
    IF, att, meta, g = _explicit_if(df, None, control)
    n = len(g)
    np.testing.assert_allclose(res.att_gt["att"], att, atol=1e-12)
    np.testing.assert_allclose(res.att_gt["std_err"], np.sqrt((IF**2).sum(0)) / n, rtol=1e-9)
    # simple aggregation with R's estimated-weights term (did:::wif)
    groups = np.array([m[0] for m in meta])
    post = np.array([m[1] >= m[0] for m in meta])
    pg_all = {grp: np.mean(g == grp) for grp in set(groups)}
    pg = np.array([pg_all[x] for x in groups])[post]
    w = pg / pg.sum()
    ind = np.column_stack([(g == x).astype(float) for x in groups[post]])
    if1 = (ind - pg) / pg.sum()
    if2 = (ind - pg).sum(axis=1, keepdims=True) * (pg / pg.sum() ** 2)
    agg_if = IF[:, post] @ w + (if1 - if2) @ att[post]
    simple = res.aggregate("simple")
    assert simple.effect == pytest.approx(w @ att[post], abs=1e-12)
    assert simple.std_err == pytest.approx(np.sqrt((agg_if**2).sum()) / n, rel=1e-9)
    # Wald pre-test with the explicit covariance
    pre = ~post
    V = IF[:, pre].T @ IF[:, pre] / n**2
    wald = att[pre] @ np.linalg.solve(V, att[pre])
    assert res.pretrend_p_value == pytest.approx(stats.chi2.sf(wald, pre.sum()), rel=1e-8)


def test_staggered_bootstrap_agrees_with_analytic_and_is_seeded():
    df, _ = _staggered(4, n=600, T=6, cohorts=(2, 4))
    kw = dict(outcome="revenue", unit="account_id", time="period", first_treated="first_treated")
    a = roi.staggered_did(df, n_boot=0, **kw)
    b = roi.staggered_did(df, n_boot=2000, random_state=7, **kw)
    b2 = roi.staggered_did(df, n_boot=2000, random_state=7, **kw)
    r = roi.staggered_did(df, n_boot=2000, random_state=7, boot_weights="rademacher", **kw)
    for kind in ("simple", "group", "dynamic"):
        sa, sb = a.aggregate(kind).std_err, b.aggregate(kind).std_err
        assert sb == pytest.approx(sa, rel=0.10)
        assert r.aggregate(kind).std_err == pytest.approx(sa, rel=0.10)
        assert b2.aggregate(kind).std_err == sb  # same seed, same draws
    c = roi.staggered_did(df, n_boot=2000, random_state=8, **kw)
    assert c.aggregate("simple").std_err != b.aggregate("simple").std_err
    assert b.se_method.startswith("multiplier bootstrap") and "mammen" in b.se_method


def test_staggered_recovers_truth_and_twfe_is_biased():
    # effect grows with exposure: ATT(g, t) = 1 + 0.5 (t - g); early cohorts act as controls
    # for late ones in TWFE, whose estimate is pulled down (Goodman-Bacon 2021)
    df, g = _staggered(5, n=3000, T=10, cohorts=(2, 5, 8), p_never=0.25,
                       effect=lambda e: 1.0 + 0.5 * e)
    res = roi.staggered_did(df, outcome="revenue", unit="account_id", time="period",
                            first_treated="first_treated", n_boot=0)
    dyn = res.aggregate("dynamic").table.set_index("event_time")
    for e in range(0, 8):
        row = dyn.loc[e]
        assert row["ci_lower"] - 0.1 < 1.0 + 0.5 * e < row["ci_upper"] + 0.1
    for e in (-4, -3, -2, -1):
        assert abs(dyn.loc[e, "estimate"]) < 4 * dyn.loc[e, "std_err"] + 0.05
    # true group-weighted overall ATT: mean over each cohort's post periods, weighted by size
    sizes = g.value_counts()
    truth_g = {c: np.mean([1.0 + 0.5 * e for e in range(10 - c)]) for c in (2, 5, 8)}
    truth = sum(sizes[c] * truth_g[c] for c in truth_g) / sum(sizes[c] for c in truth_g)
    grp = res.aggregate("group")
    assert grp.ci_lower < truth < grp.ci_upper
    tw = roi.twfe_did(df, outcome="revenue", unit="account_id", time="period",
                      first_treated="first_treated")
    assert not (tw.ci_lower < truth < tw.ci_upper)
    assert tw.warning == roi.GOODMAN_BACON_WARNING and "Goodman-Bacon" in tw.warning


def test_staggered_validation_and_warnings():
    df, _ = _staggered(6, n=80, T=5, cohorts=(2,))
    kw = dict(outcome="revenue", unit="account_id", time="period", first_treated="first_treated")
    with pytest.raises(ParameterError, match="The 'control' parameter of staggered_did"):
        roi.staggered_did(df, control="never", **kw)
    with pytest.raises(ParameterError, match="The 'n_boot' parameter of staggered_did"):
        roi.staggered_did(df, n_boot=10, **kw)
    all_treated = df[df.first_treated.notna()]
    with pytest.raises(ParameterError, match="must be 'not_yet_treated' when no account"):
        roi.staggered_did(all_treated, control="never_treated", n_boot=0, **kw)
    dup = pd.concat([df, df.iloc[[0]]])
    with pytest.raises(DataValidationError, match="one row per 'account_id' and 'period'"):
        roi.staggered_did(dup, n_boot=0, **kw)
    ragged = df.drop(index=[1, 2])
    with pytest.warns(UserWarning, match="dropped 1 of 80 accounts not observed"):
        r = roi.staggered_did(ragged, n_boot=0, **kw)
    assert r.n_units == 79
    early = df.copy()
    early.loc[early.account_id == "A0000", "first_treated"] = 0.5  # inside the first period
    with pytest.warns(UserWarning, match="treated in or before the first period"):
        roi.staggered_did(early, n_boot=0, **kw)
    mixed = df.copy()
    mixed.loc[0, "first_treated"] = 4
    with pytest.raises(DataValidationError, match="'first_treated' must be constant within"):
        roi.staggered_did(mixed, n_boot=0, **kw)
    with pytest.raises(ParameterError, match="The 'kind' parameter of StaggeredDidResult"):
        roi.staggered_did(df, n_boot=0, **kw).aggregate("calendar")


def test_staggered_universal_base_and_dates():
    df, _ = _staggered(8, n=300, T=6, cohorts=(2, 4))
    kw = dict(outcome="revenue", unit="account_id", first_treated="first_treated", n_boot=0)
    vary = roi.staggered_did(df, time="period", **kw)
    univ = roi.staggered_did(df, time="period", base_period="universal", **kw)
    # post-treatment cells are identical; the universal reference cell (g-1) is 0
    pv = vary.att_gt[vary.att_gt.post].set_index(["group", "time"])["att"]
    pu = univ.att_gt[univ.att_gt.post].set_index(["group", "time"])["att"]
    pd.testing.assert_series_equal(pv, pu)
    ref = univ.att_gt[univ.att_gt.event_time == -1]
    assert (ref["att"] == 0).all()
    # universal pre-cell (g=4, t=1) is the long difference Y1 - Y3 (base g - 1 = 3)
    wide = df.pivot(index="account_id", columns="period", values="revenue")
    g = df.drop_duplicates("account_id").set_index("account_id")["first_treated"]
    d = wide[1] - wide[3]
    ctrl = g.isna() | (g > 3)
    hand = d[g == 4].mean() - d[ctrl & (g != 4)].mean()
    assert univ.att_gt.set_index(["group", "time"]).loc[(4, 1), "att"] == pytest.approx(hand)
    # monthly dates: a kam_start inside a month maps to that month
    months = pd.date_range("2023-01-01", periods=6, freq="MS")
    dated = df.assign(period=months[df["period"]],
                      first_treated=[months[int(x)] + pd.Timedelta(days=9) if x == x else pd.NaT
                                     for x in df["first_treated"]])
    res = roi.staggered_did(dated, time="period", **kw)
    np.testing.assert_allclose(res.att_gt["att"], vary.att_gt["att"])
    assert res.att_gt["group"].iloc[0] == months[2]


# --------------------------------------------------------------------------------------------
# event study and TWFE == statsmodels OLS with dummies
# --------------------------------------------------------------------------------------------
def _es_statsmodels(df, window, ref):
    lo, hi = window
    rel = (df["period"] - df["first_treated"]).clip(lo, hi)
    bins = [r for r in range(lo, hi + 1) if r != ref]
    X = df.copy()
    names = []
    for r in bins:
        name = f"d{'m' if r < 0 else 'p'}{abs(r)}"
        X[name] = (rel == r).astype(float)
        names.append(name)
    fit = smf.ols("revenue ~ C(account_id) + C(period) + " + " + ".join(names), X).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(X["account_id"])[0]}, use_t=True)
    return fit, names, bins


@pytest.mark.parametrize("balanced", [True, False])
def test_event_study_equals_statsmodels_dummies(balanced):
    df, _ = _staggered(9, n=60, T=8, cohorts=(3, 5))
    if not balanced:
        df = df.drop(index=np.random.default_rng(1).choice(len(df), 40, replace=False))
    window, ref = (-3, 2), -1
    res = roi.event_study(df, outcome="revenue", unit="account_id", time="period",
                          first_treated="first_treated", window=window, ref=ref)
    fit, names, bins = _es_statsmodels(df, window, ref)
    coef = res.coefficients[~res.coefficients.is_reference].set_index("rel_time")
    np.testing.assert_allclose(coef.loc[bins, "estimate"], fit.params[names], rtol=1e-8,
                               atol=1e-10)
    # statsmodels counts the account dummies in K; the kit does not (nested in clusters)
    N, J = len(df), len(bins)
    k_sm = J + df.account_id.nunique() + df.period.nunique() - 1
    k_kit = J + df.period.nunique()
    factor = math.sqrt((N - k_sm) / (N - k_kit))
    np.testing.assert_allclose(coef.loc[bins, "std_err"], fit.bse[names] * factor, rtol=1e-7)
    pre = [n for n, b in zip(names, bins) if b < 0]
    ft = fit.f_test(" = 0, ".join(pre) + " = 0")
    assert res.pretrend_stat == pytest.approx(float(ft.fvalue) / factor**2, rel=1e-7)
    assert res.pretrend_df == (len(pre), res.n_clusters - 1) == (ft.df_num, ft.df_denom)
    assert res.coefficients.loc[res.coefficients.rel_time == ref, "estimate"].item() == 0.0


def test_event_study_pretrend_in_words():
    kw = dict(outcome="revenue", unit="account_id", time="period",
              first_treated="first_treated", window=(-4, 3))
    ok, _ = _staggered(10, n=800, T=10, cohorts=(5, 6))
    good = roi.event_study(ok, **kw)
    assert good.pretrend_message == (
        f"no evidence of diverging trends before rollout (p = {good.pretrend_p_value:.2f})")
    bad, _ = _staggered(10, n=800, T=10, cohorts=(5, 6), pre_trend=0.4)
    warn = roi.event_study(bad, **kw)
    assert warn.pretrend_p_value < 0.05
    assert warn.pretrend_message.startswith("warning: KAM and comparison accounts were already")
    # rel_time input (the canonical panel's periods_since_kam) gives the same fit
    rel = ok.assign(since=ok["period"] - ok["first_treated"])
    same = roi.event_study(rel, outcome="revenue", unit="account_id", time="period",
                           rel_time="since", window=(-4, 3))
    np.testing.assert_allclose(same.coefficients["estimate"], good.coefficients["estimate"])
    with pytest.raises(ParameterError, match="The 'ref' parameter of event_study"):
        roi.event_study(ok, ref=-9, **kw)
    with pytest.raises(ParameterError, match="exactly one of 'first_treated' or 'rel_time'"):
        roi.event_study(ok, outcome="revenue", unit="account_id", time="period")


def test_twfe_non_staggered_equals_2x2_and_statsmodels():
    df, _ = _staggered(11, n=200, T=6, cohorts=(3,))
    tw = roi.twfe_did(df, outcome="revenue", unit="account_id", time="period",
                      first_treated="first_treated")
    two = roi.did(df.assign(treated=df.first_treated.notna(), post=df.period >= 3),
                  outcome="revenue", unit="account_id", time="period", treated="treated",
                  post="post", cluster="account_id")
    assert tw.effect == pytest.approx(two.effect, rel=1e-10)
    d = df.assign(D=((df.period >= df.first_treated) & df.first_treated.notna()).astype(float))
    fit = smf.ols("revenue ~ C(account_id) + C(period) + D", d).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(d["account_id"])[0]}, use_t=True)
    assert tw.effect == pytest.approx(fit.params["D"], rel=1e-9)
    N = len(d)
    factor = math.sqrt((N - (1 + 200 + 6 - 1)) / (N - (1 + 6)))
    assert tw.std_err == pytest.approx(fit.bse["D"] * factor, rel=1e-8)
    via_flag = roi.twfe_did(d, outcome="revenue", unit="account_id", time="period",
                            treated="D")
    assert via_flag.effect == pytest.approx(tw.effect, rel=1e-12)


# --------------------------------------------------------------------------------------------
# naive before/after, ITS
# --------------------------------------------------------------------------------------------
def test_naive_before_after_hand_and_bias():
    # account a: before {10, 12} -> 11, after {15} -> 15: +4; account b: before {20}, after
    # {22, 24} -> 23: +3; mean 3.5, SE = sd(4, 3)/sqrt(2) = 0.7071/1.4142 = 0.5
    df = pd.DataFrame({"account_id": ["a", "a", "a", "b", "b", "b", "c", "c"],
                       "period": [0, 1, 2, 0, 1, 2, 0, 1],
                       "revenue": [10, 12, 15, 20, 22, 24, 5, 5],
                       "kam": [2, 2, 2, 1, 1, 1, np.nan, np.nan]})
    res = roi.naive_before_after(df, outcome="revenue", unit="account_id", time="period",
                                 first_treated="kam")
    assert res.effect == pytest.approx(3.5)
    assert res.std_err == pytest.approx(0.5)
    assert res.n_units == 2
    assert res.ci_upper == pytest.approx(3.5 + stats.t.ppf(0.975, 1) * 0.5)
    assert "regression to the mean" in res.message
    # on a market growing 0.3 per period, the naive change adds the trend to the true effect 1
    panel, _ = _staggered(12, n=1500, T=8, cohorts=(4,), effect=lambda e: 1.0 + 0 * e)
    naive = roi.naive_before_after(panel, outcome="revenue", unit="account_id", time="period",
                                   first_treated="first_treated")
    honest = roi.staggered_did(panel, outcome="revenue", unit="account_id", time="period",
                               first_treated="first_treated", n_boot=0).aggregate("group")
    assert not (naive.ci_lower < 1.0 < naive.ci_upper)
    assert naive.effect == pytest.approx(1.0 + 0.3 * 4, abs=0.15)  # trend x mean gap of 4
    assert honest.ci_lower < 1.0 < honest.ci_upper


def test_interrupted_time_series_recovers_level_and_slope():
    rng = np.random.default_rng(13)
    n, t0 = 48, 30
    tau = np.arange(n)
    post = tau >= t0
    y = 100 + 0.5 * tau + 6 * post + 0.8 * (tau - t0) * post + rng.normal(0, 0.5, n)
    s = pd.DataFrame({"month": pd.date_range("2022-01-01", periods=n, freq="MS"), "gm": y})
    res = roi.interrupted_time_series(s, time="month", outcome="gm",
                                      intervention=s.month[t0])
    X = np.column_stack([np.ones(n), tau, post, (tau - t0) * post])
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    assert res.level_change == pytest.approx(beta[2], rel=1e-9)
    assert res.slope_change == pytest.approx(beta[3], rel=1e-9)
    assert abs(res.level_change - 6) < 4 * res.level_change_se
    assert abs(res.slope_change - 0.8) < 4 * res.slope_change_se
    assert res.maxlags == math.floor(4 * (48 / 100) ** (2 / 9)) == 3
    assert "weaker evidence" in res.message and "weaker evidence" in res._repr_html_()
    assert list(res.summary().term) == ["baseline_level", "baseline_slope", "level_change",
                                        "slope_change", "average post-period effect"]
    f = roi.impact_frame(res)
    np.testing.assert_allclose(f["cumulative"].iloc[-1], (f["effect"] * post).sum())
    with pytest.raises(DataValidationError, match="at least 3 periods before and 2 after"):
        roi.interrupted_time_series(s, time="month", outcome="gm", intervention=s.month[47])


# --------------------------------------------------------------------------------------------
# impact frame, programme ROI, CLV ROI
# --------------------------------------------------------------------------------------------
def test_impact_frame_from_staggered_equals_att_gt_totals():
    df, g = _staggered(14, n=500, T=8, cohorts=(3, 5))
    res = roi.staggered_did(df, outcome="revenue", unit="account_id", time="period",
                            first_treated="first_treated", n_boot=300, random_state=1)
    f = roi.impact_frame(res)
    assert list(f.columns[:9]) == roi._IMPACT_COLUMNS
    tab = res.att_gt[res.att_gt.post]
    by_t = (tab["att"] * tab["n_treated"]).groupby(tab["time"]).sum()
    np.testing.assert_allclose(f.set_index("period")["effect"].loc[by_t.index], by_t)
    np.testing.assert_allclose(f["cumulative"], f["effect"].cumsum())
    assert (f.loc[f.period < 3, "effect"] == 0).all()
    actual = df[df.first_treated.notna()].groupby("period")["revenue"].sum()
    np.testing.assert_allclose(f["actual"], actual.to_numpy())
    last = f.iloc[-1]
    assert last.cumulative_lower < last.cumulative < last.cumulative_upper
    fig = roi.plot_impact(f)
    assert len(fig.axes) == 3
    assert roi.impact_figure(res) is not None


def test_programme_roi_hand_worked_and_negative():
    # did effect 2.0 per account-period, SE 0.5, t(4): CI 2 +- 2.776*0.5 = [0.612, 3.388]
    df = pd.DataFrame({"y": [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 6.0, 6.5],
                       "t": [0, 0, 0, 0, 1, 1, 1, 1], "p": [0, 0, 1, 1, 0, 0, 1, 1]})
    eff = roi.did(df, outcome="y", treated="t", post="p")
    exposure = pd.Series(10.0, index=pd.Index([1, 2, 3, 4], name="period"))  # 10 accounts/period
    costs = pd.DataFrame({"period": [1, 1, 2], "cost": [15.0, 5.0, 10.0],
                          "item": ["managers", "tools", "travel"]})
    r = roi.programme_roi(eff, exposure=exposure, costs=costs, margin_rate=0.5)
    # margin = 2.0 * 40 account-periods * 0.5 = 40; cost 30 -> ROI (40 - 30)/30 = 1/3
    crit = stats.t.ppf(0.975, 4)
    lo, hi = (2 - crit * 0.5) * 40 * 0.5, (2 + crit * 0.5) * 40 * 0.5
    assert r.incremental_margin == pytest.approx(40.0)
    assert (r.incremental_margin_lower, r.incremental_margin_upper) == pytest.approx((lo, hi))
    assert r.cost == 30.0
    assert r.roi == pytest.approx(1 / 3)
    assert (r.roi_lower, r.roi_upper) == pytest.approx(((lo - 30) / 30, (hi - 30) / 30))
    # cumulative margin 10, 20, 30, 40 vs cumulative cost 20, 30, 30, 30 -> payback in period 3
    assert r.payback_period == 3 and r.payback_months == 3
    assert r.payback_period_pessimistic is None or r.payback_period_pessimistic >= 3
    np.testing.assert_allclose(r.curve["cumulative_cost"], [20, 30, 30, 30])
    assert r.roi_lower < 0 < r.roi  # the interval is reported, not the point alone
    assert "ROI 33 %" in r.headline and "payback in period 3" in r.headline
    neg = roi.programme_roi(eff, exposure=exposure, costs=100.0, margin_rate=0.5)
    assert neg.roi == pytest.approx(-0.6)
    assert neg.payback_period is None
    assert "ROI −60 %" in neg.headline and "no payback within the window" in neg.headline
    with pytest.raises(ParameterError, match="The 'margin_rate' parameter of programme_roi"):
        roi.programme_roi(eff, exposure=exposure, costs=costs, margin_rate=32)
    with pytest.raises(ParameterError, match="must add up to a positive total"):
        roi.programme_roi(eff, exposure=exposure, costs=0.0)
    with pytest.raises(ParameterError, match="The 'exposure' parameter of programme_roi"):
        roi.programme_roi(eff, costs=10.0)


def test_programme_roi_without_costs_keeps_the_margin_and_says_what_is_missing():
    # the example above without a programme_costs table: the same 40 (CI lo..hi) of margin,
    # and no ROI or payback (never an ROI against a cost of 0)
    df = pd.DataFrame({"y": [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 6.0, 6.5],
                       "t": [0, 0, 0, 0, 1, 1, 1, 1], "p": [0, 0, 1, 1, 0, 0, 1, 1]})
    eff = roi.did(df, outcome="y", treated="t", post="p")
    exposure = pd.Series(10.0, index=pd.Index([1, 2, 3, 4], name="period"))
    r = roi.programme_roi(eff, exposure=exposure, costs=None, margin_rate=0.5)
    crit = stats.t.ppf(0.975, 4)
    lo, hi = (2 - crit * 0.5) * 40 * 0.5, (2 + crit * 0.5) * 40 * 0.5
    assert r.incremental_margin == pytest.approx(40.0)
    assert (r.incremental_margin_lower, r.incremental_margin_upper) == pytest.approx((lo, hi))
    assert all(math.isnan(v) for v in (r.cost, r.roi, r.roi_lower, r.roi_upper, r.net_value))
    assert r.payback_period is None and r.payback_months is None
    assert r.headline == (f"KAM added €40 gross margin (95 % CI {roi._money(lo, '€')} to {roi._money(hi, '€')}); "
                          "ROI not available: provide programme_costs with period, cost (or the programme's "
                          "monthly cost)")
    assert r.curve["cumulative_cost"].isna().all()
    assert len(r.plot().lines) == 1  # the margin only, no cost line


def test_programme_roi_from_staggered_result():
    df, _ = _staggered(15, n=600, T=8, cohorts=(3, 5), effect=lambda e: 2.0 + 0 * e)
    res = roi.staggered_did(df, outcome="revenue", unit="account_id", time="period",
                            first_treated="first_treated", n_boot=300, random_state=2)
    costs = pd.DataFrame({"period": [2, 3, 4, 5, 6, 7], "cost": [200.0] * 6})
    r = roi.programme_roi(res, costs=costs, margin_rate=0.4)
    tab = res.att_gt[res.att_gt.post]
    total = float((tab["att"] * tab["n_treated"]).sum()) * 0.4  # route 2: from the att_gt table
    assert r.incremental_margin == pytest.approx(total)
    assert r.incremental_margin_lower < total < r.incremental_margin_upper
    assert r.roi == pytest.approx((total - 1200.0) / 1200.0)
    assert list(r.curve.columns) == [
        "period", "incremental_margin", "incremental_margin_lower", "incremental_margin_upper",
        "cumulative_margin", "cumulative_margin_lower", "cumulative_margin_upper", "cost",
        "cumulative_cost", "cumulative_net"]
    assert r.summary().term.tolist() == ["incremental_margin", "programme_cost", "net_value",
                                         "roi"]
    with pytest.warns(UserWarning, match="after the last period with an effect estimate"):
        roi.programme_roi(res, costs=pd.Series([100.0, 50.0], index=[7, 9]))


def test_clv_roi_hand_worked():
    # CLV = m r / (1 + d - r): r0 = 0.80 -> 100*0.8/0.3 = 266.67; r1 = 0.85 -> 100*0.85/0.25 = 340
    # delta CE = 100 accounts * 73.33 = 7333.3; ROI = (7333.3 - 5000)/5000 = 0.4667
    r = roi.clv_roi(0.05, retention_rate=0.8, margin=100.0, discount_rate=0.1, n_accounts=100,
                    cost=5000.0, clv=lambda m, r_, d: m * r_ / (1 + d - r_))
    assert r.delta_customer_equity == pytest.approx(100 * (340 - 800 / 3))
    assert r.roi == pytest.approx((100 * (340 - 800 / 3) - 5000) / 5000)
    # with an estimated retention change the interval is carried through the (increasing) CLV
    df = pd.DataFrame({"y": [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 6.0, 6.5],
                       "t": [0, 0, 0, 0, 1, 1, 1, 1], "p": [0, 0, 1, 1, 0, 0, 1, 1]})
    eff = roi.did(df.assign(y=df.y / 100), outcome="y", treated="t", post="p")  # 0.02 +- ...
    r2 = roi.clv_roi(eff, retention_rate=0.8, margin=100.0, discount_rate=0.1, n_accounts=100,
                     cost=5000.0)
    assert r2.roi_lower < r2.roi < r2.roi_upper
    assert r2.retention_after == pytest.approx(0.82)
    with pytest.raises(ParameterError, match="must keep retention within"):
        roi.clv_roi(0.25, retention_rate=0.8, margin=100.0, discount_rate=0.1,
                    n_accounts=10, cost=1.0)


# --------------------------------------------------------------------------------------------
# results: summary / plot / html
# --------------------------------------------------------------------------------------------
def test_results_render_and_plot():
    df, _ = _staggered(16, n=200, T=6, cohorts=(2, 4))
    kw = dict(outcome="revenue", unit="account_id", time="period")
    stag = roi.staggered_did(df, first_treated="first_treated", n_boot=100, **kw)
    es = roi.event_study(df, first_treated="first_treated", window=(-2, 2), **kw)
    two = roi.did(df.assign(tr=df.first_treated.notna(), po=df.period >= 2), treated="tr",
                  post="po", cluster="account_id", outcome="revenue")
    naive = roi.naive_before_after(df, first_treated="first_treated", **kw)
    objs = [stag, stag.aggregate("dynamic"), stag.aggregate("group"), stag.aggregate("simple"),
            es, two, naive,
            roi.twfe_did(df, first_treated="first_treated", **kw)]
    for obj in objs:
        s = obj.summary()
        assert list(s.columns[:5]) == ["term", "estimate", "std_err", "ci_lower", "ci_upper"]
        assert "<table" in obj._repr_html_()
        ax = obj.plot()
        assert ax.has_data()
    ax = two.plot()
    assert [line.get_linestyle() for line in ax.get_lines()][-1] == "--"  # counterfactual
    assert "Goodman-Bacon" in objs[-1]._repr_html_()
    with pytest.raises(ParameterError, match="The 'result' parameter of impact_frame"):
        roi.impact_frame(two)


def test_clv_roi_default_uses_the_kits_retention_clv():
    retention = pytest.importorskip("kamtools.retention")
    r = roi.clv_roi(0.05, retention_rate=0.8, margin=100.0, discount_rate=0.1, n_accounts=100,
                    cost=5000.0)
    per_account = (retention.retention_clv(100.0, 0.85, 0.1)
                   - retention.retention_clv(100.0, 0.8, 0.1))
    assert r.delta_customer_equity == pytest.approx(100 * per_account)
    assert r.delta_customer_equity == pytest.approx(100 * (340 - 800 / 3))  # m r/(1+d-r)
    assert "retention_clv" in r.convention


# --------------------------------------------------------------------------------------------
# recovery of the synthetic world's truth (kamtools.sample)
# --------------------------------------------------------------------------------------------
def _world_index_panel(seed: int):
    """Revenue index panel of the eligible accounts, as the sample's docstring prescribes.

    Index = revenue / the account's mean revenue in the 12 months before the first wave;
    comparison accounts = eligible (Enterprise / Mid-market) non-key accounts; a churned
    account's missing months are 0 revenue (churn is part of the true effect).
    """
    sample = pytest.importorskip("kamtools.sample")
    panel_mod = pytest.importorskip("kamtools.panel")
    world = sample.generate_world(seed=seed)
    truth = world.truth
    panel = panel_mod.build_panel(world)
    ids = sorted(set(truth.eligible) | set(truth.kam_accounts))
    periods = pd.Index(sorted(panel["period"].unique()))
    grid = pd.MultiIndex.from_product([ids, periods], names=["account_id", "period"])
    q = (panel.set_index(["account_id", "period"])[["revenue"]].reindex(grid)
         .fillna({"revenue": 0.0}).reset_index())
    first = min(truth.wave_starts)
    pre = q[(q.period < first) & (q.period >= first - pd.DateOffset(months=12))]
    base = q["account_id"].map(pre.groupby("account_id")["revenue"].mean())
    q = q[base > 0].assign(index=lambda d: d["revenue"] / base[base > 0])
    kam = world.accounts.set_index("account_id")["kam_start"]
    q["kam_start"] = q["account_id"].map(kam)
    return q, truth


@pytest.mark.parametrize("seed", [0, 3])
def test_world_staggered_did_covers_true_lift_and_naive_is_biased(seed):
    q, truth = _world_index_panel(seed)
    res = roi.staggered_did(q, outcome="index", unit="account_id", time="period",
                            first_treated="kam_start", control="not_yet_treated",
                            n_boot=999, random_state=0)
    lift = res.aggregate("simple")  # mean over treated post-rollout account-months
    assert lift.ci_lower < truth.relative_lift < lift.ci_upper
    assert lift.ci_lower < truth.att_index < lift.ci_upper
    naive = roi.naive_before_after(q, outcome="index", unit="account_id", time="period",
                                   first_treated="kam_start")
    # market growth and seasonality are added to the lift: about twice the truth
    assert naive.effect - truth.relative_lift > 0.05
    assert naive.ci_lower > truth.relative_lift


# --------------------------------------------------------------------------------------------
# staggered_did: average base, comparison accounts still active, treated weights
# --------------------------------------------------------------------------------------------
def _tiny_rollout_panel():
    """Two treated accounts (rollout in period 2), three never-treated, one of them lost."""
    y = {"A": [1, 3, 6, 7], "B": [2, 2, 5, 5], "C": [1, 2, 2, 3], "D": [3, 3, 4, 4],
         "E": [4, 0, 0, 0]}
    rows = [(a, t, v, 2.0 if a in "AB" else np.nan, not (a == "E" and t > 0),
             {"A": 3.0, "B": 1.0}.get(a, 1.0))
            for a, vals in y.items() for t, v in enumerate(vals)]
    return pd.DataFrame(rows, columns=["account_id", "period", "revenue", "first_treated",
                                       "active", "w"])


def test_staggered_average_base_active_and_weights_by_hand():
    df = _tiny_rollout_panel()
    kw = dict(outcome="revenue", unit="account_id", time="period", first_treated="first_treated",
              n_boot=0, base_period="average", base_window=2)
    # bases = mean of periods 0-1: A 2, B 2, C 1.5, D 3, E 2
    # ATT(2, 2): treated (6-2, 5-2) -> 3.5; controls C 0.5, D 1, E -2 -> -1/6; ATT = 3.6667
    everyone = roi.staggered_did(df, **kw).att_gt.set_index("time")
    assert everyone.loc[2, "att"] == pytest.approx(3.5 + 1 / 6)
    assert everyone.loc[2, "n_control"] == 3
    # E was last active in period 0, before the base period 1: with `active` it is no
    # comparison: controls C 0.5, D 1 -> 0.75; ATT(2, 2) = 2.75; ATT(2, 3) = (5+3)/2 - (1.5+1)/2
    res = roi.staggered_did(df, active="active", **kw)
    tab = res.att_gt.set_index("time")
    assert tab.loc[2, "att"] == pytest.approx(2.75)
    assert tab.loc[3, "att"] == pytest.approx(4.0 - 1.25)
    assert tab.loc[2, "n_control"] == 2 and tab.loc[2, "n_treated"] == 2
    # pre cells are deviations from the same base: t=0 (-1+0)/2 - (-0.5+0)/2 = -0.25, t=1 +0.25
    assert tab.loc[0, "att"] == pytest.approx(-0.25) and tab.loc[1, "att"] == pytest.approx(0.25)
    # ... which add up to 0, so the Wald test has rank 1, not 2
    assert res.pretrend_df == 1
    assert res.aggregate("simple").effect == pytest.approx(2.75)
    assert list(tab["base_time"].unique()) == [1]
    # weights 3 : 1 -> normalised 1.5, 0.5: treated mean at t=2 (1.5*4 + 0.5*3)/2 = 3.75
    wtd = roi.staggered_did(df, active="active", treated_weights="w", **kw)
    assert wtd.att_gt.set_index("time").loc[2, "att"] == pytest.approx(3.75 - 0.75)
    assert wtd.treated_weights == "w"
    # equal weights are the unweighted estimator
    same = roi.staggered_did(df.assign(w=5.0), active="active", treated_weights="w", **kw)
    np.testing.assert_allclose(same.att_gt["att"], res.att_gt["att"])
    with pytest.raises(ParameterError, match="The 'base_period' parameter of staggered_did"):
        roi.staggered_did(df, **{**kw, "base_period": "mean"})
    with pytest.raises(DataValidationError, match="'w' must be a positive number for every"):
        roi.staggered_did(df.assign(w=0.0), treated_weights="w", **kw)


def _explicit_if_general(df, *, window, active, weights):
    """Per-account influence functions of the average-base, active-control, weighted ATT(g,t)."""
    wide = df.pivot(index="account_id", columns="period", values="revenue")
    first = df.drop_duplicates("account_id").set_index("account_id").reindex(wide.index)
    g = first["first_treated"].fillna(0).to_numpy()
    Y = wide.to_numpy().copy()
    n, T = Y.shape
    if weights:
        w = first["w"].to_numpy()
        for grp in set(g[g > 0]):
            m = g == grp
            Y[m] = Y[m] * (w[m] / w[m].mean())[:, None]
    act = df.pivot(index="account_id", columns="period", values="active").to_numpy()
    last = np.array([np.flatnonzero(r).max() if r.any() else -1 for r in act])
    cols, atts = [], []
    for grp in sorted(set(g[g > 0])):
        b = int(grp) - 1
        base = Y[:, max(0, b - window + 1):b + 1].mean(axis=1)
        for t in range(T):
            G = g == grp
            Cm = (g == 0) | ((g > max(t, b)) & (g != grp))
            if active:
                Cm &= last >= b
            dy = Y[:, t] - base
            inf = np.zeros(n)
            inf[G] = n / G.sum() * (dy[G] - dy[G].mean())
            inf[Cm] = -n / Cm.sum() * (dy[Cm] - dy[Cm].mean())
            cols.append(inf)
            atts.append(dy[G].mean() - dy[Cm].mean())
    return np.column_stack(cols), np.array(atts)


@pytest.mark.parametrize("active,weights", [(False, False), (True, False), (True, True)])
def test_staggered_new_options_influence_function_two_routes(active, weights):
    df, _ = _staggered(21, n=160, T=7, cohorts=(3, 5))
    rng = np.random.default_rng(21)
    ids = df["account_id"].unique()
    last = pd.Series(rng.integers(1, 7, len(ids)), index=ids)  # some accounts lost early
    df = df.assign(active=df["period"] <= df["account_id"].map(last),
                   w=df["account_id"].map(pd.Series(rng.uniform(0.5, 3, len(ids)), index=ids)))
    res = roi.staggered_did(df, outcome="revenue", unit="account_id", time="period",
                            first_treated="first_treated", n_boot=0, base_period="average",
                            base_window=2, active="active" if active else None,
                            treated_weights="w" if weights else None)
    IF, att = _explicit_if_general(df, window=2, active=active, weights=weights)
    n = IF.shape[0]
    np.testing.assert_allclose(res.att_gt["att"], att, atol=1e-12)
    np.testing.assert_allclose(res.att_gt["std_err"], np.sqrt((IF**2).sum(0)) / n, rtol=1e-9)


def test_pretrend_test_equals_explicit_wald_and_detects_a_trend():
    # one group: the dynamic rows are the cells and the weight term vanishes, so the test is
    # theta' V^-1 theta / q with V from the explicit influence functions, against F(q, m - 1)
    df, g = _staggered(22, n=300, T=8, cohorts=(5,), pre_trend=0.0)
    kw = dict(outcome="revenue", unit="account_id", time="period", first_treated="first_treated",
              n_boot=0)
    res = roi.staggered_did(df, **kw)
    test = res.pretrend_test(3)
    IF, att, meta, _ = _explicit_if(df, None, "not_yet_treated")
    pick = [j for j, (grp, t) in enumerate(meta) if -3 <= t - grp < 0]
    V = IF[:, pick].T @ IF[:, pick] / IF.shape[0] ** 2
    stat = att[pick] @ np.linalg.solve(V, att[pick]) / 3
    m = int(g.notna().sum())
    assert test.statistic == pytest.approx(stat, rel=1e-8)
    assert test.df == (3, m - 1)
    assert test.p_value == pytest.approx(stats.f.sf(stat, 3, m - 1), rel=1e-8)
    assert test.event_times == (-3, -2, -1)
    assert test.message.startswith("no evidence of diverging trends") == (test.p_value >= 0.05)
    bad, _ = _staggered(22, n=300, T=8, cohorts=(5,), pre_trend=0.5)
    warn = roi.staggered_did(bad, **kw).pretrend_test(3)
    assert warn.p_value < 0.01
    assert warn.message.startswith("warning: KAM and comparison accounts were already diverging")
    assert "F(3, " in warn.message and "<p>" in warn._repr_html_()
    with pytest.raises(ParameterError, match="The 'n_periods' parameter of"):
        res.pretrend_test(0)


# --------------------------------------------------------------------------------------------
# the rollout study: roles, balanced index panel, value, non-financial outcomes
# --------------------------------------------------------------------------------------------
def _study_dataset():
    """20 months (2023-01 .. 2024-08), first rollout 2024-03, one account of every kind."""
    months = pd.date_range("2023-01-01", periods=20, freq="MS")
    spans = {  # account: (segment, kam_start, first month, last month, monthly revenue)
        "K1": ("Enterprise", "2024-03-15", 0, 19, 100.0),
        "K2": ("Mid-market", "2024-05-01", 0, 19, 50.0),
        "C1": ("Enterprise", None, 1, 17, 80.0),       # lost after 2024-06: zeros after
        "C2": ("SMB", None, 0, 19, 10.0),             # other segment
        "C3": ("Mid-market", None, 5, 19, 30.0),      # new customer in 2023-06
        "C4": ("Enterprise", None, 0, 9, 60.0),       # lost in 2023-10, before rollout
        "K3": ("Enterprise", "2023-01-01", 0, 19, 70.0),  # KAM from the first month
        "K4": ("Enterprise", "2022-06-01", 0, 19, 70.0),  # KAM before the window
    }
    tx = []
    for acc, (_, _, lo, hi, rev) in spans.items():
        for t in range(lo, hi + 1):
            tx.append((acc, months[t] + pd.Timedelta(days=3), rev * (1 + 0.1 * (t % 2)),
                       rev * 0.3))
    transactions = pd.DataFrame(tx, columns=["account_id", "date", "revenue", "gross_margin"])
    accounts = pd.DataFrame({"account_id": list(spans),
                             "segment": [v[0] for v in spans.values()],
                             "kam_start": pd.to_datetime([v[1] for v in spans.values()])})
    return {"transactions": transactions, "accounts": accounts}, months


def test_rollout_accounts_roles_and_reasons():
    from kamtools.panel import build_panel

    tables, months = _study_dataset()
    panel = build_panel(tables)
    ra = roi.rollout_accounts(panel, tables["accounts"]).set_index("account_id")
    assert ra.loc["K1", "role"] == "key account" and ra.loc["K2", "role"] == "key account"
    assert ra.loc["K1", "rollout"] == pd.Timestamp("2024-03-01")  # the month containing it
    assert ra.loc["C1", "role"] == "comparison"
    reasons = ra["reason"]
    assert reasons["C2"].startswith("segment not among the key accounts' (Enterprise, Mid-market")
    assert reasons["C3"].startswith("new customer: first purchase after 2023-05")
    assert reasons["C4"] == "lost before the first rollout (no purchase from 2024-02 on)"
    assert reasons["K3"].startswith("in KAM from the first period")
    assert reasons["K4"].startswith("in KAM before the data window")
    assert set(ra["role"]) <= set(roi.ROLLOUT_ROLES)
    # baseline: the 12 months before 2024-03 = 2023-03 .. 2024-02; K1 alternates 100 / 110
    # starting at t=2 (even, 100): six of each -> 105
    assert ra.loc["K1", "baseline"] == pytest.approx(105.0)
    # every non-key account is a candidate with comparison="all"
    all_ = roi.rollout_accounts(panel, tables["accounts"], comparison="all").set_index("account_id")
    assert all_.loc["C2", "role"] == "comparison"
    # official wave dates: K2 (kam_start 2024-05-01) joins the 2024-03 wave
    snap = roi.rollout_accounts(panel, tables["accounts"],
                                rollout_dates=["2024-03-01", "2024-06-01"])
    assert (snap.set_index("account_id").loc[["K1", "K2"], "rollout"]
            == pd.Timestamp("2024-03-01")).all()
    with pytest.raises(ParameterError, match="The 'comparison' parameter of rollout_accounts"):
        roi.rollout_accounts(panel, tables["accounts"], comparison="segment")
    no_kam = tables["accounts"].assign(kam_start=pd.NaT)
    with pytest.raises(DataValidationError, match="no key account enters the programme"):
        roi.rollout_accounts(panel, no_kam)


def test_rollout_panel_is_balanced_with_zeros_after_churn():
    from kamtools.panel import build_panel

    tables, months = _study_dataset()
    panel = build_panel(tables)
    q = roi.rollout_panel(panel, tables["accounts"])
    assert sorted(q["account_id"].unique()) == ["C1", "K1", "K2"]
    assert (q.groupby("account_id").size() == 20).all()
    c1 = q[q.account_id == "C1"].set_index("period")
    # C1 first bought in 2023-02 and last in 2024-06: zeros before and after, inactive
    assert c1.loc["2024-07-01", "revenue"] == 0 and not c1.loc["2024-07-01", "active"]
    assert c1.loc["2024-07-01", "gross_margin"] == 0
    assert c1.loc["2023-01-01", "revenue"] == 0
    k1 = q[q.account_id == "K1"].set_index("period")
    np.testing.assert_allclose(k1["index"], k1["revenue"] / 105.0)
    assert (k1["post"] == (k1.index >= "2024-03-01")).all()
    assert k1["in_baseline"].sum() == 12 and k1.loc["2024-02-01", "in_baseline"]
    assert set(q["wave"]) == {"2024-03", "2024-05", "comparison"}
    assert q.loc[q.account_id == "C1", "kam_start"].isna().all()
    # the same study on the gross-margin index
    g = roi.rollout_panel(panel, tables["accounts"], outcome="gross_margin")
    k1g = g[g.account_id == "K1"].set_index("period")
    np.testing.assert_allclose(k1g["index"], k1g["gross_margin"] / k1g["baseline"])
    # key accounts after rollout: K1 2024-03..08 revenue 100, 110, 100, 110, 100, 110 = 630,
    # margin 6 x 30 = 180; K2 2024-05..08 revenue 50, 55, 50, 55 = 210, margin 4 x 15 = 60
    assert roi.kam_margin_rate(q) == pytest.approx((180 + 60) / (630 + 210))


def test_value_impact_frame_two_routes():
    # route 1: value_impact_frame; route 2: sum over post cells of ATT(g, t) * B_g, B_g the sum
    # of the group's baselines, from the att_gt table
    df, g = _staggered(23, n=400, T=8, cohorts=(3, 5))
    rng = np.random.default_rng(23)
    ids = df["account_id"].unique()
    base = pd.Series(rng.lognormal(3, 1, len(ids)), index=ids)
    df = df.assign(kam_start=df["first_treated"], baseline=df["account_id"].map(base),
                   money=df["revenue"] * df["account_id"].map(base))
    res = roi.staggered_did(df, outcome="revenue", unit="account_id", time="period",
                            first_treated="kam_start", n_boot=200, random_state=3)
    frame = roi.value_impact_frame(res, df, margin_rate=0.4, actual="money")
    b_g = df.drop_duplicates("account_id").groupby("kam_start")["baseline"].sum()
    tab = res.att_gt[res.att_gt.post]
    by_hand = float((tab["att"] * tab["group"].map(b_g)).sum()) * 0.4
    assert frame["cumulative"].iloc[-1] == pytest.approx(by_hand, rel=1e-10)
    assert frame["cumulative_lower"].iloc[-1] < by_hand < frame["cumulative_upper"].iloc[-1]
    actual = df[df.kam_start.notna()].groupby("period")["money"].sum()
    np.testing.assert_allclose(frame["actual"], actual.to_numpy())
    np.testing.assert_allclose(frame["counterfactual"], frame["actual"] - frame["effect"])
    # without a gross_margin column the actual is revenue x margin rate
    est = roi.value_impact_frame(res, df, margin_rate=0.4)
    revenue = df[df.kam_start.notna()].groupby("period")["revenue"].sum()
    np.testing.assert_allclose(est["actual"], 0.4 * revenue.to_numpy())
    np.testing.assert_allclose(est["cumulative"], frame["cumulative"])
    # with the baselines as treated weights, B_g ATT^w(g, t) = sum_i b_i dY_i - B_g dY_C:
    # group 3 at t=4 (base 2) is the b-weighted mean change of group 3 minus the mean change of
    # the never-treated and of group 5 (not yet treated at 4), whose accounts also enter with
    # weight b_i / mean(b over group 5)
    wtd = roi.staggered_did(df, outcome="revenue", unit="account_id", time="period",
                            first_treated="kam_start", n_boot=0, treated_weights="baseline")
    wide = df.pivot(index="account_id", columns="period", values="revenue")
    first = df.drop_duplicates("account_id").set_index("account_id").reindex(wide.index)
    grp3 = (first["kam_start"] == 3).to_numpy()
    grp5 = (first["kam_start"] == 5).to_numpy()
    never = first["kam_start"].isna().to_numpy()
    dy = (wide[4] - wide[2]).to_numpy()
    b = first["baseline"].to_numpy()
    ctrl_dy = np.concatenate([dy[never], dy[grp5] * b[grp5] / b[grp5].mean()])
    hand = (b[grp3] @ dy[grp3]) / b[grp3].sum() - ctrl_dy.mean()
    cell = wtd.att_gt.set_index(["group", "time"]).loc[(3, 4), "att"]
    assert cell == pytest.approx(hand, rel=1e-10)
    one_treated = df.loc[df.kam_start.notna(), "account_id"].iloc[0]
    other = df.assign(kam_start=df["kam_start"].where(df["account_id"] != one_treated))
    with pytest.raises(DataValidationError, match="do not match the groups of the result"):
        roi.value_impact_frame(res, other, actual="money")
    with pytest.raises(ParameterError, match="The 'margin_rate' parameter of value_impact_frame"):
        roi.value_impact_frame(res, df, margin_rate=30)


def _study_rollout(n_kam=40, n_comp=60, seed=0):
    """A rollout panel as rollout_panel returns it: first wave in period 6 of 12."""
    rng = np.random.default_rng(seed)
    months = pd.date_range("2024-01-01", periods=12, freq="MS")
    ids = [f"K{i:02d}" for i in range(n_kam)] + [f"C{i:02d}" for i in range(n_comp)]
    rows = []
    for a in ids:
        for t, m in enumerate(months):
            rows.append((a, m, 100 + rng.normal(0, 5), m if False else None))
    q = pd.DataFrame(rows, columns=["account_id", "period", "revenue", "_"]).drop(columns="_")
    is_k = q["account_id"].str.startswith("K")
    q["kam_start"] = pd.Series(pd.NaT, index=q.index).mask(is_k, months[6])
    q["active"] = True
    q["in_baseline"] = q["period"] < months[6]
    q["post"] = is_k & (q["period"] >= months[6])
    q["gross_margin"] = q["revenue"] * 0.3
    q["baseline"] = q.groupby("account_id")["revenue"].transform(lambda s: s.iloc[:6].mean())
    q["index"] = q["revenue"] / q["baseline"]
    q["wave"] = np.where(is_k, "2024-07", "comparison")
    return q, months


def test_churn_did_hand_worked():
    q, months = _study_rollout(n_kam=4, n_comp=4)
    # comparison C00 stops buying after month 7 (lost in month 8), key account K00 after
    # month 10 (its last gap is 1 period: with lost_after=3 not counted as churn yet)
    q.loc[(q.account_id == "C00") & (q.period > months[7]), "active"] = False
    q.loc[(q.account_id == "K00") & (q.period > months[10]), "active"] = False
    res = roi.churn_did(q, lost_after=3)
    m = res.means.set_index(["group", "period"])["mean"]
    # comparison after: 4 accounts x 6 months at risk, C00 only through month 8 (3 months):
    # 21 account-months, 1 loss -> 1/21; key accounts after: 24 at risk, 0 losses
    assert m["control", "post"] == pytest.approx(1 / 21)
    assert m["treated", "post"] == 0.0 and m["treated", "pre"] == 0.0
    assert res.effect == pytest.approx(-1 / 21)
    assert res.n_obs == 24 + 24 + 24 + 21


def test_survey_did_nps_equals_kpi_nps_differences():
    kpi = pytest.importorskip("kamtools.kpi")
    q, months = _study_rollout()
    rng = np.random.default_rng(5)
    accounts = q["account_id"].unique()
    n = 3000
    acc = rng.choice(accounts, n)
    date = months[rng.integers(0, 12, n)] + pd.to_timedelta(rng.integers(0, 28, n), unit="D")
    kam = pd.Series(acc).str.startswith("K").to_numpy()
    after = date >= months[6]
    score = np.clip(np.rint(7 + 1.5 * (kam & after) + rng.normal(0, 2, n)), 0, 10)
    surveys = pd.DataFrame({"account_id": acc, "date": date, "nps": score,
                            "csat": np.clip(np.rint(score / 2), 1, 5), "referenceable": score > 8})
    res = roi.survey_did(q, surveys, measure="nps")
    cell = {(k, a): kpi.nps(score[(kam == k) & (after == a)]) for k in (0, 1) for a in (0, 1)}
    by_kpi = (cell[1, 1] - cell[1, 0]) - (cell[0, 1] - cell[0, 0])
    assert res.effect == pytest.approx(by_kpi, abs=1e-9)
    assert res.n_clusters == len(accounts)
    csat = roi.survey_did(q, surveys, measure="csat")
    top2 = {(k, a): np.mean(np.clip(np.rint(score / 2), 1, 5)[(kam == k) & (after == a)] >= 4)
            for k in (0, 1) for a in (0, 1)}
    assert csat.effect == pytest.approx((top2[1, 1] - top2[1, 0]) - (top2[0, 1] - top2[0, 0]))
    table = roi.outcome_effects(q, surveys)
    assert list(table["outcome"]) == ["revenue index", "gross margin index", "NPS",
                                      "CSAT top-2-box", "referenceable", "monthly churn"]
    assert table.set_index("outcome").loc["NPS", "estimate"] == pytest.approx(by_kpi)
    missing = roi.outcome_effects(q, None).set_index("outcome")
    assert missing.loc["NPS", "note"] == ("not available: provide surveys with account_id, date "
                                          "and nps.")
    assert np.isnan(missing.loc["NPS", "estimate"])
    assert missing.loc["revenue index", "note"] == ""


def test_rollout_clv_roi_hand_worked_and_capped():
    # churn cells (treated, post): before 0 and 0; after: comparison {0.004, 0.008} -> 0.006,
    # key accounts {0, 0.008} -> 0.004; DiD -0.002; counterfactual churn 0 + 0.006 - 0 ->
    # r0 = 0.994, r1 = 0.996
    q, months = _study_rollout(n_kam=10, n_comp=10)
    cells = pd.DataFrame({"t": [0, 0, 1, 1, 0, 0, 1, 1], "p": [0, 0, 0, 0, 1, 1, 1, 1],
                          "y": [0, 0, 0, 0, 0.004, 0.008, 0.0, 0.008]})
    churn = roi.did(pd.concat([cells] * 3, ignore_index=True), outcome="y", treated="t", post="p")
    assert churn.effect == pytest.approx(-0.002)
    res = roi.rollout_clv_roi(q, churn, cost=1000.0, annual_discount_rate=0.10)
    d = 1.1 ** (1 / 12) - 1
    m = q[q.kam_start.notna() & q.in_baseline].groupby("account_id")["gross_margin"].mean().mean()
    clv = lambda r: m * r / (1 + d - r)  # noqa: E731
    assert res.retention_before == pytest.approx(0.994)
    assert res.delta_customer_equity == pytest.approx(10 * (clv(0.996) - clv(0.994)))
    assert res.roi == pytest.approx((10 * (clv(0.996) - clv(0.994)) - 1000) / 1000)
    # the interval of the retention change reaches past 1: capped at no churn
    assert 0.994 + 0.002 + (churn.ci_upper - churn.effect) > 1
    assert res.retention_after_upper == pytest.approx(1.0)
    assert "capped at 1" in res.convention
    assert res.delta_customer_equity_upper == pytest.approx(10 * (clv(1 - 1e-9) - clv(0.994)))
    assert res.delta_customer_equity_lower < res.delta_customer_equity
    with pytest.raises(ParameterError, match="The 'churn' parameter of rollout_clv_roi"):
        roi.rollout_clv_roi(q, 0.002, cost=1000.0)


def test_programme_roi_payback_ignores_an_early_crossing_and_cost_schedule():
    frame = pd.DataFrame({"period": [1, 2, 3, 4, 5], "effect": [12.0, -8.0, 10.0, 10.0, 10.0]})
    frame["effect_lower"] = frame["effect"] - 1
    frame["effect_upper"] = frame["effect"] + 1
    for col, src in (("cumulative", "effect"), ("cumulative_lower", "effect_lower"),
                     ("cumulative_upper", "effect_upper")):
        frame[col] = frame[src].cumsum()
    # cumulative margin 12, 4, 14, 24, 34 against cost 10, 15, 20, 25, 30: crosses in period
    # 1, falls below in 2-4, above again from period 5 on -> payback in period 5
    r = roi.programme_roi(frame, costs=pd.Series(5.0, index=[1, 2, 3, 4, 5]).add(
        pd.Series([5.0], index=[1]), fill_value=0))
    np.testing.assert_allclose(r.curve["cumulative_cost"], [10, 15, 20, 25, 30])
    assert r.payback_period == 5 and r.payback_months == 5
    q, months = _study_rollout(n_kam=2, n_comp=2)
    s = roi.programme_cost_schedule(q, monthly=100.0, one_off=50.0)
    assert list(s.index) == list(months[6:]) and s.iloc[0] == 150.0 and s.iloc[1:].eq(100).all()
    with pytest.raises(ParameterError, match="The 'monthly' parameter of programme_cost_schedule"):
        roi.programme_cost_schedule(q, monthly=-1.0)


def test_compare_estimates_and_rollout_plots():
    q, months = _study_rollout()
    a = roi.first_wave_did(q)
    naive = roi.naive_before_after(q[q.kam_start.notna()], outcome="index", unit="account_id",
                                   time="period", first_treated="kam_start")
    tab = roi.compare_estimates({"2x2": a, "naive": naive}, value_per_unit=1000.0)
    assert list(tab["method"]) == ["2x2", "naive"]
    assert tab.loc[0, "value"] == pytest.approx(a.effect * 1000)
    assert tab.loc[1, "value_lower"] == pytest.approx(naive.ci_lower * 1000)
    with pytest.raises(ParameterError, match="The 'estimates' parameter of compare_estimates"):
        roi.compare_estimates({"x": 1.0})
    ax = roi.plot_rollout_paths(q)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "comparison accounts", "key accounts, rollout 2024-07"]
    assert len(ax.get_lines()) == 3  # two paths and the rollout line


# --------------------------------------------------------------------------------------------
# the notebook's orchestration (notebooks/03_roi_rollout.ipynb) recovers the world's truth
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world0():
    sample = pytest.importorskip("kamtools.sample")
    panel_mod = pytest.importorskip("kamtools.panel")
    world = sample.generate_world(seed=0)
    return world, panel_mod.build_panel(world)


def test_notebook_orchestration_recovers_truth_on_the_sample_world(world0):
    world, panel = world0
    truth = world.truth
    # the comparison group the kit builds from the data is the client's eligible pool
    roles = roi.rollout_accounts(panel, world.accounts, outcome="gross_margin")
    comparison = set(roles.loc[roles.role == "comparison", "account_id"])
    assert comparison == set(truth.eligible) - set(truth.kam_accounts)
    assert set(roles.loc[roles.role == "key account", "account_id"]) == set(truth.kam_accounts)
    # headline chain, as in the notebook (outcome = "gross_margin")
    rollout = roi.rollout_panel(panel, world.accounts, outcome="gross_margin")
    value_fit = roi.rollout_did(rollout, weights="baseline", n_boot=999, random_state=0)
    impact = roi.value_impact_frame(value_fit, rollout, margin_rate=1.0)
    programme = roi.programme_roi(impact, costs=world.programme_costs)
    assert (programme.incremental_margin_lower < truth.incremental_margin
            < programme.incremental_margin_upper)
    assert programme.cost == pytest.approx(truth.programme_cost_total)
    true_roi = (truth.incremental_margin - truth.programme_cost_total) / truth.programme_cost_total
    assert programme.roi_lower < true_roi < programme.roi_upper
    assert programme.headline.startswith(
        f"KAM added {roi._money(programme.incremental_margin, '€')} gross margin (95 % CI ")
    # the relative lift on the revenue index (the world's lift is defined on revenue)
    rev = roi.rollout_panel(panel, world.accounts, outcome="revenue")
    lift_fit = roi.rollout_did(rev, n_boot=999, random_state=0)
    lift = lift_fit.aggregate("simple")
    assert lift.ci_lower < truth.relative_lift < lift.ci_upper
    assert lift.ci_lower < truth.att_index < lift.ci_upper
    assert lift_fit.pretrend_test(6).p_value > 0.05
    # the naive before/after is visibly biased: market growth and season on top of the lift
    naive = roi.naive_before_after(rev[rev.kam_start.notna()], outcome="index",
                                   unit="account_id", time="period", first_treated="kam_start")
    assert naive.effect - truth.att_index > 0.05
    assert naive.ci_lower > truth.relative_lift
    assert naive.effect > lift.effect


# --------------------------------------------------------------------------------------------
# a ledger without rollout dates: rollout_study says what is missing and what the data allow
# --------------------------------------------------------------------------------------------
def _ledger_panel(drop_month=None):
    """Six accounts over four months (revenue by month); no programme anywhere."""
    months = pd.date_range("2024-01-01", periods=4, freq="MS")
    revenue = {"a": [10, 10, 11, 11], "b": [20, 20, 20, 20], "c": [10, 10, 12, 12],
               "d": [40, 40, 36, 36], "e": [0, 10, 10, 10], "f": [10, 10, 0, 0]}
    rows = [(acc, months[t], float(v)) for acc, values in revenue.items() for t, v in enumerate(values)
            if v > 0 and t != drop_month]
    panel = pd.DataFrame(rows, columns=["account_id", "period", "revenue"]).assign(active=True)
    accounts = pd.DataFrame({"account_id": list(revenue), "is_key_account": False,
                             "kam_start": pd.NaT})
    return panel, accounts


def test_rollout_study_without_rollout_dates_by_hand():
    panel, accounts = _ledger_panel()
    study = roi.rollout_study(panel, accounts, baseline_periods=2, post_periods=2, entry_grace=1, freq="M",
                              lifts=(0.05, 0.8))
    assert not study.available and study.roles is None and study.rollout is None
    assert study.first_rollout is None
    assert study.missing == ("not available: provide accounts with account_id, kam_start (the date each "
                             "account entered the KAM programme)")
    assert study.reason == ("the programme's return cannot be measured without rollout dates (no account has "
                            "a kam_start)")
    s = study.settings
    # pseudo rollout 2024-03 (2 months before the end), baseline 2024-01..02; "e" first bought in
    # 2024-02 (a new customer), the other five were customers and still bought in 2024-02.
    assert s["placebo_rollout"] == pd.Timestamp("2024-03-01") and s["eligible_accounts"] == 5
    # baselines x = 10, 20, 10, 40, 10 (sum 90, mean 18); after = 11, 20, 12, 36, 0 (sum 79)
    # R = 79/90: the placebo drift is R - 1 = -11/90
    assert s["placebo_drift"] == pytest.approx(-11 / 90)
    # residuals after - R x = (200, 220, 290, 80, -790) / 90; squares sum to 803000 / 8100
    sd = math.sqrt(803000 / 8100 / 4) / 18
    assert s["change_sd"] == pytest.approx(sd)
    row = study.summary().set_index("term").loc["placebo_drift"]
    t4 = stats.t.ppf(0.975, 4)
    assert row["std_err"] == pytest.approx(sd / math.sqrt(5))
    assert row["ci_lower"] == pytest.approx(-11 / 90 - t4 * sd / math.sqrt(5))
    # minimum detectable effect (Bloom 1995): k * sd * sqrt(1/n_k + 1/n_c), k = z_0.975 + z_0.8
    k = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert s["mde_half"] == pytest.approx(k * sd * math.sqrt(4 / 5))  # about 0.69: +5 % is out of reach
    design = study.design.set_index("lift")
    assert pd.isna(design.loc[0.05, "key_accounts_needed"])
    assert k * sd * math.sqrt(1 / 2 + 1 / 3) <= 0.8  # two key accounts and three comparison suffice for +80 %
    assert (design.loc[0.8, "key_accounts_needed"], design.loc[0.8, "comparison_accounts"]) == (2, 3)
    window = study.window.set_index("item")["value"]
    assert window["months"] == "4" and window["accounts in the ledger"] == "6"
    assert window["accounts with a KAM start date (kam_start)"] == "0"
    assert study.headline == (
        "ROI not available: the programme's return cannot be measured without rollout dates (no account has a "
        "kam_start); provide accounts with account_id, kam_start (the date each account entered the KAM "
        "programme). With this book's variability, a +80% lift would be measurable with about 2 key accounts "
        "of 5 eligible")
    assert "Without any programme, the 5 accounts" in study.drift_sentence
    assert "-12.2%" in study.drift_sentence
    html_text = study._repr_html_()
    assert "no split can" in html_text and study.missing in html_text
    ax = study.plot()
    assert len(ax.lines) == 1 + len(design)  # the curve and one dotted line per lift


def test_rollout_study_reasons_and_what_counts_as_a_period():
    panel, accounts = _ledger_panel()
    flagged = roi.rollout_study(panel, accounts.assign(is_key_account=[True] + [False] * 5),
                                baseline_periods=2, post_periods=2, entry_grace=1)
    assert flagged.reason.endswith("(1 account is marked as key accounts, none with a kam_start)")
    early = accounts.assign(kam_start=pd.to_datetime(["2024-01-15"] + [None] * 5))
    pre = roi.rollout_study(panel, early, baseline_periods=2, post_periods=2, entry_grace=1, freq="M")
    assert pre.reason == ("every key account entered the programme in or before the first month of the data "
                          "(2024-01), so there is no before to compare with")
    assert pre.missing.startswith("not available: provide transactions from at least 2 months before the first "
                                  "kam_start")
    # a month in which nobody bought is still a month when the frequency is known
    gap, _ = _ledger_panel(drop_month=1)
    with_freq = roi.rollout_study(gap, accounts, baseline_periods=2, post_periods=2, entry_grace=1, freq="M")
    without = roi.rollout_study(gap, accounts, baseline_periods=2, post_periods=2, entry_grace=1)
    assert with_freq.window.set_index("item").loc["months", "value"] == "4"
    assert without.window.set_index("item").loc["periods", "value"] == "3"
    short = roi.rollout_study(panel, accounts, baseline_periods=12, freq="M")
    assert short.design is None and short.summary().empty
    assert short.settings["design_note"] == ("the data cover 4 months; a rollout study needs at least 13 (12 "
                                             "before the rollout as baseline, one after it)")
    assert short.headline.endswith("the date each account entered the KAM programme)")
    assert short.plot().texts[0].get_text().startswith("Design not available: the data cover 4 months")


def test_rollout_study_with_dates_equals_its_parts_and_validates():
    from kamtools.panel import build_panel

    tables, months = _study_dataset()
    panel = build_panel(tables)
    study = roi.rollout_study(panel, tables["accounts"], freq="M")
    assert study.available and study.missing == "" and study.design is None
    pd.testing.assert_frame_equal(study.roles, roi.rollout_accounts(panel, tables["accounts"]))
    pd.testing.assert_frame_equal(study.rollout, roi.rollout_panel(panel, tables["accounts"]))
    assert study.first_rollout == pd.Timestamp("2024-03-01")
    assert study.headline == "Rollout study: 2 key accounts from 2024-03 against 1 comparison account"
    # other data errors are not hidden behind "not available"
    doubled = pd.concat([panel, panel.head(1)], ignore_index=True)
    with pytest.raises(DataValidationError, match="one row per 'account_id' and 'period'"):
        roi.rollout_study(doubled, tables["accounts"])
    ledger, accounts = _ledger_panel()
    with pytest.raises(ParameterError, match=r"The 'power' parameter of rollout_study must be in \(0, 1\)"):
        roi.rollout_study(ledger, accounts, power=1.5)
    with pytest.raises(ParameterError, match=r"The 'freq' parameter of rollout_study must be None, 'M' or 'Q'"):
        roi.rollout_study(ledger, accounts, freq="W")
    with pytest.raises(ParameterError, match=r"The 'lifts' parameter of rollout_study must be positive"):
        roi.rollout_study(ledger, accounts, lifts=[0.0])


def test_rollout_study_design_recovers_a_known_drift_and_is_minimal():
    # 300 accounts, 24 months, no programme; every account's revenue is 10 % higher in the last
    # 12 months than in the 12 before (plus noise): the placebo drift must cover +10 %.
    rng = np.random.default_rng(5)
    n, months = 300, pd.date_range("2022-01-01", periods=24, freq="MS")
    size = rng.lognormal(4, 1, n)
    level = np.where(np.arange(24) >= 12, 1.10, 1.0)
    revenue = size[:, None] * level[None, :] * rng.lognormal(-0.08, 0.4, (n, 24))
    panel = pd.DataFrame({"account_id": np.repeat([f"a{i}" for i in range(n)], 24),
                          "period": np.tile(months, n), "revenue": revenue.ravel()}).assign(active=True)
    study = roi.rollout_study(panel, None, freq="M", lifts=(0.02, 0.05, 0.1, 0.2))
    s = study.settings
    assert s["eligible_accounts"] == n
    assert s["placebo_drift_lower"] < 0.10 < s["placebo_drift_upper"]
    k, sd = s["design_k"], s["change_sd"]
    mde = lambda n_k: k * sd * math.sqrt(1 / n_k + 1 / (n - n_k))  # noqa: E731
    reachable = study.design.dropna()
    assert len(reachable) >= 2
    for lift, n_k in zip(reachable["lift"], reachable["key_accounts_needed"].astype(int)):
        assert mde(n_k) <= lift + 1e-12  # enough ...
        assert n_k == 2 or mde(n_k - 1) > lift  # ... and the fewest
