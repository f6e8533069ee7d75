"""Benchmark kamtools.roi at scale: the 2x2 DiD and the staggered estimator.

Run: ``python benchmarks/bench_roi.py [--quick]``. Prints a table and writes
``benchmarks/results/roi.json`` with the kit's time, the reference's time measured in the same
run, and their ratio.

* ``did`` (closed form, CR1 clustered by account) at 10^4 and 10^5 accounts x 36 months; the
  reference is statsmodels ``OLS(...).fit(cov_type="cluster", use_t=True)`` at both sizes (design
  matrix already built; the timing excludes building it) and the results are checked equal.
* ``staggered_did`` with 1,000 multiplier-bootstrap draws at 10^4 and 10^5 accounts x 36
  months (4 rollout waves + never-treated); the reference (both sizes) is the textbook route: the
  explicit per-account influence-function matrix (n x cells) and the bootstrap as a
  (B x n) @ (n x cells) product in chunks, in numpy. Its analytic standard errors are checked
  equal to the kit's.
* ``staggered_did`` with the settings of ``rollout_did`` (12-month average base, comparison
  accounts still active at the base period, baseline-weighted groups), 1,000 draws, both sizes
  (no external reference: the same estimator as above with more strata).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from kamtools import roi

T = 36
WAVES = (12, 18, 24, 30)  # months of the rollout waves


def make_panel(n_accounts: int, seed: int = 0) -> pd.DataFrame:
    """Balanced account x month panel with staggered KAM waves and a +5 effect."""
    rng = np.random.default_rng(seed)
    periods = pd.date_range("2021-01-01", periods=T, freq="MS")
    g = rng.choice(list(WAVES) + [-1], size=n_accounts, p=[0.05] * 4 + [0.8])
    unit = np.repeat(np.arange(n_accounts), T)
    t = np.tile(np.arange(T), n_accounts)
    level = rng.normal(100, 20, n_accounts)
    gu = g[unit]
    y = level[unit] + 0.5 * t + rng.normal(0, 5, len(t)) + np.where((gu >= 0) & (t >= gu), 5, 0)
    ids = np.array([f"A{i:06d}" for i in range(n_accounts)], dtype=object)
    ft = np.where(g >= 0, periods.values[np.clip(g, 0, T - 1)], np.datetime64("NaT"))
    return pd.DataFrame({
        "account_id": pd.array(ids[unit], dtype="str"),
        "period": periods.values[t],
        "revenue": y,
        "kam_start": ft[unit],
        "treated": gu >= 0,
        "post": t >= 24,
        # the rollout study's settings: 5 % of accounts lost at a random month, baseline weights
        "active": t <= np.where(rng.random(n_accounts) < 0.05,
                                rng.integers(0, T, n_accounts), T)[unit],
        "weight": level[unit],
    })


def best_of(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def statsmodels_did(df: pd.DataFrame):
    import statsmodels.api as sm

    tr = df["treated"].to_numpy(float)
    po = df["post"].to_numpy(float)
    X = np.column_stack([np.ones(len(df)), tr, po, tr * po])
    groups = pd.factorize(df["account_id"])[0]
    y = df["revenue"].to_numpy()

    def fit():
        return sm.OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)

    return fit


def explicit_if_bootstrap(df: pd.DataFrame, n_boot: int, seed: int = 0):
    """Textbook route: per-account IF matrix for ATT(g,t), then (B x n) @ (n x cells)."""

    def run():
        wide = df.pivot(index="account_id", columns="period", values="revenue").to_numpy()
        first = df.drop_duplicates("account_id").set_index("account_id")["kam_start"]
        periods = np.sort(df["period"].unique())
        g = np.searchsorted(periods, first.to_numpy(), side="left").astype(float)
        g[first.isna().to_numpy()] = np.inf
        n = len(g)
        cols, atts = [], []
        for grp in sorted(set(g[np.isfinite(g)])):
            for t in range(1, T):
                b = int(grp) - 1 if t >= grp else t - 1
                G = g == grp
                C = ~np.isfinite(g) | ((g > max(t, b)) & (g != grp))  # not yet treated
                dy = wide[:, t] - wide[:, b]
                atts.append(dy[G].mean() - dy[C].mean())
                inf = np.zeros(n)
                inf[G] = n / G.sum() * (dy[G] - dy[G].mean())
                inf[C] = -n / C.sum() * (dy[C] - dy[C].mean())
                cols.append(inf)
        IF = np.column_stack(cols)
        rng = np.random.default_rng(seed)
        a, b_ = (1 - 5**0.5) / 2, (1 + 5**0.5) / 2
        p = (5**0.5 + 1) / (2 * 5**0.5)
        draws = np.zeros((n_boot, IF.shape[1]))
        step = max(1, 4_000_000 // n_boot)
        for s in range(0, n, step):
            v = np.where(rng.random((n_boot, min(step, n - s))) < p, a, b_)
            draws += v @ IF[s:s + step]
        draws /= n
        q = np.quantile(draws, [0.25, 0.75], axis=0)
        return np.sqrt((IF**2).sum(0)) / n, (q[1] - q[0]) / 1.3489795, np.array(atts)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10^4 only (smoke run)")
    args = parser.parse_args()
    sizes = [10_000] if args.quick else [10_000, 100_000]
    rows = []

    for n in sizes:
        df = make_panel(n)
        kit_t, kit = best_of(lambda: roi.did(
            df, outcome="revenue", unit="account_id", time="period", treated="treated",
            post="post", cluster="account_id"), 3)
        row = {"task": "did (2x2, CR1 by account)", "accounts": n, "rows": len(df),
               "kit_seconds": kit_t}
        # the reference at every size (one run at 10^5: 3.6M rows)
        ref_t, ref = best_of(statsmodels_did(df), 3 if n <= 10_000 else 1)
        assert np.isclose(ref.params[3], kit.effect, rtol=1e-9)
        assert np.isclose(ref.bse[3], kit.std_err, rtol=1e-8)
        row.update(reference="statsmodels OLS cluster", reference_seconds=ref_t, ratio=ref_t / kit_t)
        rows.append(row)

        stag_t, stag = best_of(lambda: roi.staggered_did(
            df, outcome="revenue", unit="account_id", time="period", first_treated="kam_start",
            n_boot=1000, random_state=0), 2 if n <= 10_000 else 1)
        row = {"task": "staggered_did (1,000 bootstrap draws)", "accounts": n,
               "rows": len(df), "kit_seconds": stag_t,
               "simple_att": stag.aggregate("simple").effect}
        ref_t, (se_an, se_boot, atts) = best_of(explicit_if_bootstrap(df, 1000), 1)
        analytic = roi.staggered_did(
            df, outcome="revenue", unit="account_id", time="period",
            first_treated="kam_start", n_boot=0)
        assert np.allclose(analytic.att_gt["att"], atts, rtol=1e-9, atol=1e-9)
        assert np.allclose(analytic.att_gt["std_err"], se_an, rtol=1e-8)
        row.update(reference="explicit IF matrix + (B x n)@(n x cells) bootstrap, numpy",
                   reference_seconds=ref_t, ratio=ref_t / stag_t)
        rows.append(row)

        # the settings of kamtools.roi.rollout_did: 12-month average base, comparison accounts
        # still active at the base period, baseline-weighted groups
        study_t, study = best_of(lambda: roi.staggered_did(
            df, outcome="revenue", unit="account_id", time="period", first_treated="kam_start",
            n_boot=1000, random_state=0, base_period="average", base_window=12,
            active="active", treated_weights="weight"), 2 if n <= 10_000 else 1)
        rows.append({"task": "staggered_did, rollout_did settings", "accounts": n,
                     "rows": len(df), "kit_seconds": study_t,
                     "simple_att": study.aggregate("simple").effect})
        del df

    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    payload = {
        "benchmark": "roi",
        "months": T,
        "machine": {"python": platform.python_version(), "processor": platform.processor(),
                    "machine": platform.machine()},
        "results": rows,
    }
    (out / "roi.json").write_text(json.dumps(payload, indent=2, default=float))
    header = f"{'task':40s} {'accounts':>9s} {'kit s':>8s} {'ref s':>8s} {'ratio':>7s}"
    lines = [header, "-" * len(header)]
    for r in rows:
        ref_s = f"{r['reference_seconds']:8.3f}" if "reference_seconds" in r else f"{'-':>8s}"
        ratio = f"{r['ratio']:7.1f}" if "ratio" in r else f"{'-':>7s}"
        lines.append(f"{r['task']:40s} {r['accounts']:9,d} {r['kit_seconds']:8.3f} {ref_s} {ratio}")
    import sys

    sys.stdout.write("\n".join(lines) + f"\n\nwritten: {out / 'roi.json'}\n")


if __name__ == "__main__":
    main()
