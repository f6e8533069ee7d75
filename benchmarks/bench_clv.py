"""Benchmark: BG/NBD maximum-likelihood fit time, kamtools vs a reference.

Run from the repository root::

    python benchmarks/bench_clv.py [--sizes 10000 100000 1000000] [--repeats 3]

Data: customers simulated from the BG/NBD with the CDNOW estimates of Fader, Hardie & Lee
(2005a) (r=0.243, alpha=4.414, a=0.793, b=2.426), first purchases spread over 12 weeks and a
39-week calibration window; purchase times on whole days (as ``rfm_summary`` produces them),
so customers share (frequency, recency, T) rows, as in real ledgers. One extra row times the
kit on continuous purchase times (few ties: the worst case for row merging).

Reference: the ``lifetimes`` package (BetaGeoFitter) when a throwaway virtualenv with it
exists at /tmp/ref-venv (``python3 -m venv /tmp/ref-venv && /tmp/ref-venv/bin/pip install
lifetimes``), run in a subprocess; it is never installed into the project. Otherwise the
reference is a naive fit of our own: the per-row likelihood without merging, L-BFGS-B with a
finite-difference gradient from the same start.

BLAS threads: scipy's L-BFGS-B calls OpenBLAS, whose worker threads busy-wait; on a small
shared machine they steal the CPU from the likelihood and make every fit 2-10x slower. The
benchmark therefore runs with OPENBLAS_NUM_THREADS=1 (kit and reference alike) unless
--blas-threads says otherwise; the fits are single-threaded numpy either way.

Writes benchmarks/results/clv.json with the kit's and the reference's times measured in the
same run and their ratio (reference / kit: how many times faster the kit is).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="BG/NBD fit time, kamtools vs a reference")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--repeats", type=int, default=3, help="kit fits per size (best time kept)")
    ap.add_argument("--seed", type=int, default=2005)
    ap.add_argument("--blas-threads", default="1", help="OPENBLAS_NUM_THREADS for kit and reference ('default' to leave unset)")
    return ap.parse_args()


ARGS = _parse_args() if __name__ == "__main__" else None
if ARGS is not None and ARGS.blas_threads != "default":
    os.environ["OPENBLAS_NUM_THREADS"] = ARGS.blas_threads  # before numpy/scipy load OpenBLAS

import numpy as np  # noqa: E402
from scipy import optimize, special  # noqa: E402

from kamtools.clv import BetaGeo  # noqa: E402

REF_PYTHON = Path("/tmp/ref-venv/bin/python")
TRUTH = (0.243, 4.414, 0.793, 2.426)
RESULTS = Path(__file__).resolve().parent / "results" / "clv.json"

_LIFETIMES_SCRIPT = r"""
import json, sys, time, warnings
import numpy as np
warnings.simplefilter("ignore")
import lifetimes
from lifetimes import BetaGeoFitter
d = np.load(sys.argv[1])
t0 = time.perf_counter()
bg = BetaGeoFitter().fit(d["x"], d["tx"], d["T"])
seconds = time.perf_counter() - t0
p = bg.params_
print(json.dumps({"seconds": seconds, "version": lifetimes.__version__,
                  "params": [float(p["r"]), float(p["alpha"]), float(p["a"]), float(p["b"])]}))
"""


def simulate(n: int, seed: int, day_resolution: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frequency, recency, T) in weeks for n customers drawn from the BG/NBD."""
    r, alpha, a, b = TRUTH
    rng = np.random.default_rng(seed)
    T = (273 - rng.integers(0, 84, n)) / 7.0  # first purchase in the first 12 weeks
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = np.clip(rng.beta(a, b, n), 1e-300, 1.0)
    J = rng.geometric(p)  # drops out right after the J-th repeat purchase
    N = rng.poisson(lam * T)
    x = np.minimum(N, J)
    tx = np.zeros(n)
    pos = x > 0
    tx[pos] = T[pos] * rng.beta(x[pos], N[pos] - x[pos] + 1)
    if day_resolution:
        tx = np.minimum(np.maximum(np.round(tx * 7), 1.0), T * 7) / 7.0 * pos
    return x.astype(float), tx, T


def time_kit(x, tx, T, repeats: int) -> dict:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        bg = BetaGeo().fit(x, tx, T, time_unit="W")
        best = min(best, time.perf_counter() - t0)
    return {"seconds": best, "params": bg.params_.tolist(), "n_unique": bg.n_unique_}


def lifetimes_version() -> str | None:
    if not REF_PYTHON.exists():
        return None
    out = subprocess.run(
        [str(REF_PYTHON), "-c", "import lifetimes; print(lifetimes.__version__)"],
        capture_output=True, text=True, check=False,
    )
    return out.stdout.strip() if out.returncode == 0 else None


def time_lifetimes(x, tx, T) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.npz"
        np.savez(path, x=x, tx=tx, T=T)
        out = subprocess.run(
            [str(REF_PYTHON), "-c", _LIFETIMES_SCRIPT, str(path)], capture_output=True, text=True, check=True
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def time_naive(x, tx, T) -> dict:
    """Per-row likelihood (no merging), finite-difference gradient, same start as the kit."""

    def negll(theta):
        r, al, a, b = np.exp(theta)
        ln_a12 = (
            special.gammaln(r + x) - special.gammaln(r) + r * np.log(al)
            + special.betaln(a, b + x) - special.betaln(a, b)
        )
        ln_a3 = -(r + x) * np.log(al + T)
        ln_a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(al + tx), -np.inf)
        return -np.sum(ln_a12 + np.logaddexp(ln_a3, ln_a4)) / x.size

    theta0 = np.log([1.0, T.sum() / x.sum(), 1.0, 1.0])
    t0 = time.perf_counter()
    res = optimize.minimize(negll, theta0, method="L-BFGS-B", bounds=[(-30, 30)] * 4)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "params": np.exp(res.x).tolist(), "version": "naive (no merging, numerical gradient)"}


def main() -> None:
    args = ARGS

    ref_version = lifetimes_version()
    reference = f"lifetimes {ref_version} (BetaGeoFitter, subprocess)" if ref_version else "naive (no merging, numerical gradient)"
    rows = []
    for n in args.sizes:
        x, tx, T = simulate(n, args.seed)
        kit = time_kit(x, tx, T, args.repeats)
        ref = time_lifetimes(x, tx, T) if ref_version else time_naive(x, tx, T)
        rows.append(
            {
                "n_customers": n,
                "data": "day resolution",
                "n_unique_rows": kit["n_unique"],
                "kit_seconds": kit["seconds"],
                "reference_seconds": ref["seconds"],
                "ratio": ref["seconds"] / kit["seconds"],
                "max_abs_param_diff": float(np.max(np.abs(np.subtract(kit["params"], ref["params"])))),
                "kit_params": kit["params"],
            }
        )
    n = max(args.sizes)
    x, tx, T = simulate(n, args.seed + 1, day_resolution=False)
    kit = time_kit(x, tx, T, args.repeats)
    worst = {
        "n_customers": n,
        "data": "continuous purchase times (few ties), kit only",
        "n_unique_rows": kit["n_unique"],
        "kit_seconds": kit["seconds"],
    }

    print(f"BG/NBD fit, best of {args.repeats} (kit) vs {reference}; OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    print(f"{'customers':>10} {'unique rows':>12} {'kit s':>8} {'ref s':>8} {'ref/kit':>8} {'max |dparam|':>13}")
    for r in rows:
        print(
            f"{r['n_customers']:>10,} {r['n_unique_rows']:>12,} {r['kit_seconds']:>8.3f} {r['reference_seconds']:>8.3f} "
            f"{r['ratio']:>8.1f} {r['max_abs_param_diff']:>13.2e}"
        )
    print(f"{worst['n_customers']:>10,} {worst['n_unique_rows']:>12,} {worst['kit_seconds']:>8.3f}  (continuous purchase times, kit only)")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "BG/NBD maximum-likelihood fit",
                "description": (
                    f"BetaGeo.fit (best of {args.repeats}) against {reference} on customers simulated from the "
                    "BG/NBD with the CDNOW estimates; ratio = reference seconds / kit seconds; "
                    f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}."
                ),
                "reference": reference,
                "truth": dict(zip(["r", "alpha", "a", "b"], TRUTH)),
                "repeats": args.repeats,
                "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
                "python": sys.version.split()[0],
                "machine": platform.platform(),
                "results": rows + [worst],
            },
            indent=2,
        )
    )
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
