"""Benchmark: weight robustness (SMAA) of the key-account ranking at 5,000 accounts × 2,000 draws.

Run as ``python benchmarks/bench_selection.py`` (``--quick`` runs the slow reference on 200 draws and
scales its time up). Prints a small table and writes ``benchmarks/results/selection.json``.

The kit's figure is :func:`kamtools.selection.rank_robustness` (one matrix product for all draws,
one sort of packed 64-bit keys per draw, Kendall's τ from 10,000 sampled account pairs). The reference,
measured in the same run on the same weight draws, is the straightforward loop a consultant would write:
per draw, score with numpy, ``argsort`` to rank, and ``scipy.stats.kendalltau`` (exact τ_b) against the
base ranking. The two must agree: the script reports the largest difference in P(top k) and the error of
the kit's sampled mean τ against the exact one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kamtools.selection import (  # noqa: E402
    rank_robustness,
    select_key_accounts,
    topsis,
    weight_sweep,
    weighted_sum,
)

N_ACCOUNTS = 5_000
N_DRAWS = 2_000
K = 25
WEIGHTS = {"current_revenue": 0.15, "revenue_potential": 0.20, "revenue_growth": 0.05, "lifetime_value": 0.15,
           "gross_margin_rate": 0.10, "cost_to_serve_rate": 0.05, "product_fit": 0.10, "strategic_value": 0.10,
           "relationship_strength": 0.10}
RUBRICS = ["product_fit", "strategic_value", "relationship_strength"]
KW = dict(criteria_types={"cost_to_serve_rate": "cost"}, normalisation={c: "fixed" for c in RUBRICS}, scale=(1, 5))


def make_matrix(n: int, seed: int = 0, missing: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    size = rng.lognormal(10, 1.5, n)
    m = pd.DataFrame({
        "current_revenue": size,
        "revenue_potential": size * rng.lognormal(0.3, 0.8, n),
        "revenue_growth": rng.normal(0.05, 0.25, n),
        "lifetime_value": size * 0.3 * rng.uniform(1, 6, n),
        "gross_margin_rate": rng.beta(6, 12, n),
        "cost_to_serve_rate": rng.lognormal(-2.5, 0.6, n),
        "product_fit": rng.integers(1, 6, n).astype(float),
        "strategic_value": rng.integers(1, 6, n).astype(float),
        "relationship_strength": rng.integers(1, 6, n).astype(float),
    }, index=pd.Index([f"A{i:05d}" for i in range(n)], name="account_id"))
    if missing:
        for c in RUBRICS:
            m.loc[rng.random(n) < missing, c] = np.nan
    return m


def timed(fn, repeat: int = 5):
    """Median and best wall time, and median CPU time of the process (less sensitive to a busy machine)."""
    times, cpu = [], []
    out = None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return out, float(np.median(times)), float(np.min(times)), float(np.median(cpu))


def reference(matrix: pd.DataFrame, draws: np.ndarray, k: int):
    """The plain loop: score, argsort and scipy's exact Kendall τ_b, one draw at a time."""
    crit = list(WEIGHTS)
    x = matrix[crit].to_numpy(dtype=float)
    lo = np.nanmin(x, axis=0)
    hi = np.nanmax(x, axis=0)
    fixed = np.array([c in RUBRICS for c in crit])
    lo = np.where(fixed, 1.0, lo)
    hi = np.where(fixed, 5.0, hi)
    nrm = (x - lo) / (hi - lo)
    cost = np.array([c == "cost_to_serve_rate" for c in crit])
    nrm[:, cost] = 1 - nrm[:, cost]
    w0 = np.array([WEIGHTS[c] for c in crit])
    w0 = w0 / w0.sum()
    base = nrm @ w0
    n = len(base)
    count_k = np.zeros(n)
    taus = []
    for w in draws:  # the reference is deliberately a loop over draws
        s = nrm @ w
        order = np.argsort(-s, kind="stable")
        count_k[order[:k]] += 1
        taus.append(stats.kendalltau(base, s).statistic)
    return count_k / len(draws), float(np.mean(taus))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reference on 200 draws, time scaled up")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    m = make_matrix(N_ACCOUNTS)
    m_missing = make_matrix(N_ACCOUNTS, missing=0.1)
    rank_robustness(m.head(500), WEIGHTS, k=K, n_draws=50, **KW)  # warm-up
    results = {}

    def run(matrix, concentration, method="wsm", ranked=False):
        kw = KW if method == "wsm" else {"criteria_types": KW["criteria_types"]}
        if ranked:  # the selection's default: continuous criteria by percentile rank, rubrics fixed
            kw = {**KW, "normalisation": {c: ("fixed" if c in RUBRICS else "rank") for c in WEIGHTS}}
        return rank_robustness(matrix, WEIGHTS, k=K, n_draws=N_DRAWS, concentration=concentration,
                               random_state=0, method=method, **kw)

    rows = []
    for label, matrix, conc, method, ranked in [
        ("wsm, uniform weights (SMAA)", m, None, "wsm", False),
        ("wsm, Dirichlet(50·w)", m, 50.0, "wsm", False),
        ("wsm, Dirichlet(50·w), 10 % rubric scores missing", m_missing, 50.0, "wsm", False),
        ("wsm, Dirichlet(50·w), continuous by percentile rank", m, 50.0, "wsm", True),
        ("topsis, Dirichlet(50·w)", m, 50.0, "topsis", False),
    ]:
        out, med, best, cpu = timed(lambda: run(matrix, conc, method, ranked), args.repeat)
        rows.append({"case": label, "median_s": med, "min_s": best, "cpu_s": cpu,
                     "mean_kendall_tau": out.attrs["mean_kendall_tau"],
                     "p_topk_unchanged": out.attrs["p_topk_unchanged"]})
    kit = rows[1]

    # reference on the same draws as the kit's Dirichlet(50·w) run
    rng = np.random.default_rng(0)
    w0 = np.array(list(WEIGHTS.values()))
    w0 = w0 / w0.sum()
    draws = rng.dirichlet(50.0 * w0, size=N_DRAWS)
    n_ref = 200 if args.quick else N_DRAWS
    t0 = time.perf_counter()
    p_ref, tau_ref = reference(m, draws[:n_ref], K)
    ref_time = (time.perf_counter() - t0) * (N_DRAWS / n_ref)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    kit_out = run(m, 50.0)
    kit_sub = rank_robustness(m, WEIGHTS, k=K, n_draws=n_ref, concentration=50.0, random_state=0, **KW) \
        if n_ref != N_DRAWS else kit_out
    p_diff = float(np.abs(kit_sub["p_top_k"].to_numpy() - p_ref).max())
    tau_err = float(kit_sub.attrs["mean_kendall_tau"] - tau_ref)

    # the other entry points at 5,000 accounts
    others = []
    for label, fn in [
        ("weighted_sum", lambda: weighted_sum(m, WEIGHTS, **KW)),
        ("topsis", lambda: topsis(m, WEIGHTS, criteria_types=KW["criteria_types"])),
        ("select_key_accounts", lambda: select_key_accounts(m, WEIGHTS, max_key_accounts=K, **KW,
                                                           revenue="current_revenue")),
        ("weight_sweep (9 criteria × 101 weights)", lambda: weight_sweep(m, WEIGHTS, k=K, **KW)),
    ]:
        _, med, best, cpu = timed(fn, args.repeat)
        others.append({"case": label, "median_s": med, "min_s": best, "cpu_s": cpu})

    results = {
        "topic": "selection",
        "what": f"rank_robustness, {N_ACCOUNTS:,} accounts × {N_DRAWS:,} draws, k = {K}, {len(WEIGHTS)} criteria",
        "kit_seconds": kit["median_s"],
        "reference": "per-draw loop: numpy score + argsort + scipy.stats.kendalltau (exact tau-b)",
        "reference_seconds": ref_time,
        "reference_extrapolated_from_draws": n_ref,
        "ratio_reference_over_kit": ref_time / kit["median_s"],
        "agreement": {"max_abs_diff_p_top_k": p_diff, "mean_tau_error_sampled_vs_exact": tau_err,
                      "exact_mean_tau": tau_ref},
        "robustness_cases": rows,
        "other_entry_points": others,
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
                    "load_average_1_5_15min": load},
    }
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "selection.json").write_text(json.dumps(results, indent=2) + "\n")

    table = pd.DataFrame(rows + others).set_index("case")
    with pd.option_context("display.width", 140, "display.max_columns", 10):
        print(table.round(4).to_string())
    print(f"\nreference loop ({n_ref} draws{' scaled to 2,000' if n_ref != N_DRAWS else ''}): {ref_time:.2f} s; "
          f"kit {kit['median_s']:.3f} s; ratio {ref_time / kit['median_s']:.1f}×")
    print(f"agreement: max |ΔP(top k)| = {p_diff:.4f}; sampled mean τ − exact = {tau_err:+.4f} "
          f"(exact {tau_ref:.4f})")
    if load:
        print(f"load average during the run: {load[0]:.1f} on {os.cpu_count()} cores (timings scale with it)")
    print(f"written: {out_dir / 'selection.json'}")


if __name__ == "__main__":
    main()
