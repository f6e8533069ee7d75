"""Customer lifetime value in non-contractual settings: RFM, BG/NBD and Gamma-Gamma.

A repeat-buy rate is not a retention rate when customers can leave silently
(REFERENCES.md, "CLV"). This module counts purchases with the BG/NBD model of
Fader, Hardie & Lee (2005a), values them with the Gamma-Gamma spend model of
Fader, Hardie & Lee (2005b) and Fader & Hardie (2013), and discounts the result.
The contractual closed forms (``m*r/(1+d-r)`` and its variants) live in
:func:`kamtools.retention.retention_clv` and are not repeated here.

Conventions
-----------
Time units
    ``"D"`` days, ``"W"`` weeks of 7 days, ``"M"`` months of 30.4375 days
    (365.25 / 12). Every time in this module (recency, ``T``, ``t``, horizons) is
    in one of these units, and the unit is stored with the data and the fitted
    models (``rfm.attrs["time_unit"]``, ``BetaGeo.time_unit_``) so that a mismatch
    is refused instead of silently scaling the forecasts by 7 or 30.
Purchase occasions
    Transactions are netted per account and calendar day: several invoices on one
    day are one purchase occasion (as in the CDNOW summaries analysed by Fader,
    Hardie & Lee 2005a, where purchases are counted per day). A day whose net revenue is
    <= 0 (credit notes cancelling or exceeding the day's invoices) is not a
    purchase occasion; ``keep_zero_revenue_days=True`` counts days with net
    revenue exactly 0 (free goods) as purchases, as the CDNOW summary does.
Frequency, recency, T
    ``frequency`` = purchase days - 1 (repeat purchases), ``recency`` = time from
    the first to the last purchase day, ``T`` = time from the first purchase day
    to the end of the observation (calibration) window; ``monetary_value`` = mean
    net revenue of the repeat purchase days (the first day excluded, 0 when
    ``frequency == 0``), as in Fader, Hardie & Lee (2005b).

References
----------
.. [FHL05a] Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your
   customers" the easy way: an alternative to the Pareto/NBD model. *Marketing
   Science* 24(2), 275-284. doi:10.1287/mksc.1040.0098
.. [FHL05b] Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV:
   using iso-value curves for customer base analysis. *Journal of Marketing
   Research* 42(4), 415-430.
.. [FHL08] Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2008). Computing
   P(alive) using the BG/NBD model. Note 021, brucehardie.com/notes/021/.
.. [FH13a] Fader, P. S. & Hardie, B. G. S. (2013). The Gamma-Gamma model of
   monetary value. Note 025, brucehardie.com/notes/025/.
.. [FH13b] Fader, P. S. & Hardie, B. G. S. (2013). Overcoming the BG/NBD
   model's #NUM! error problem. Note 027, brucehardie.com/notes/027/.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from kamtools.exceptions import (
    ConvergenceError,
    DataValidationError,
    NotFittedError,
    ParameterError,
)

__all__ = [
    "rfm_summary",
    "BetaGeo",
    "GammaGamma",
    "customer_lifetime_value",
    "holdout_validation",
    "HoldoutValidation",
]

_log = logging.getLogger(__name__)

try:  # optional: see _blas_single_thread
    from threadpoolctl import ThreadpoolController as _ThreadpoolController
except ImportError:  # pragma: no cover - depends on the environment
    _ThreadpoolController = None
_THREADPOOLS: Any = None
_OPENBLAS: Any = None

#: Length of one time unit in days. "M" is the average Gregorian month.
_UNIT_DAYS = {"D": 1.0, "W": 7.0, "M": 30.4375}
_UNIT_NAMES = {"D": "days", "W": "weeks", "M": "months"}

#: Bounds on the log-parameters: exp(+-30) is far beyond any sensible value, and
#: an optimum on a bound means the model is not identified by the data.
_LOG_BOUND = 30.0
#: A parameter beyond exp(+-15) (3.3e6 or 3e-7) has drifted to a degenerate limit
#: (e.g. r, alpha -> infinity: no heterogeneity); the fit is refused.
_LOG_EDGE = 15.0


# ----------------------------------------------------------------------------- helpers


def _param_error(name: str, func: str, rule: str, got: Any) -> ParameterError:
    return ParameterError(f"The '{name}' parameter of {func} must be {rule}. Got {got!r} instead.")


def _check_unit(value: Any, name: str, func: str) -> str:
    if not isinstance(value, str) or value not in _UNIT_DAYS:
        raise _param_error(name, func, 'one of "D", "W", "M" (days, weeks, 30.4375-day months)', value)
    return value


def _check_nonneg_float(value: Any, name: str, func: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise _param_error(name, func, "a float >= 0", value) from None
    if not np.isfinite(out) or out < 0:
        raise _param_error(name, func, "a float >= 0", value)
    return out


def _check_timestamp(value: Any, name: str, func: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise _param_error(name, func, "a date (str, datetime or Timestamp)", value) from None
    if ts is pd.NaT:
        raise _param_error(name, func, "a date (str, datetime or Timestamp)", value)
    return ts


def _first_rows(labels: Any, values: Any = None, k: int = 3) -> str:
    labels = list(labels)[:k]
    if values is None:
        return ", ".join(repr(x) if isinstance(x, str) else str(x) for x in labels)
    values = list(values)[:k]
    return ", ".join(f"{lab!r}: {val!r}" for lab, val in zip(labels, values))


def _bad_rows_message(table: str, column: str, rule: str, bad: np.ndarray, labels: Any, values: Any = None) -> str:
    n_bad = int(bad.sum())
    n = bad.size
    idx = np.flatnonzero(bad)
    lab = np.asarray(labels, dtype=object)[idx]
    vals = None if values is None else np.asarray(values, dtype=object)[idx]
    return (
        f"{table}: column '{column}' must {rule}; {n_bad:,} of {n:,} rows "
        f"{'does' if n_bad == 1 else 'do'} not (first: {_first_rows(lab, vals)})"
    )


def _to_float_vector(values: Any, name: str, owner: str, *, allow_none: bool = False) -> tuple[np.ndarray, Any]:
    """Return ``(array, index_or_None)``; the index is kept when ``values`` is a Series."""
    if values is None:
        if allow_none:
            return None, None  # type: ignore[return-value]
        raise _param_error(name, owner, "an array-like of numbers", None)
    index = values.index if isinstance(values, pd.Series) else None
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise DataValidationError(f"{owner}: '{name}' must be numeric; it could not be converted to float.") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise _param_error(name, owner, "one-dimensional", f"an array of shape {arr.shape}")
    return arr, index


def _labels(index: Any, n: int) -> Any:
    return index if index is not None else np.arange(n)


def _wald_log_ci(est: np.ndarray, se: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Wald interval on the log scale (the scale the fit works in), mapped back."""
    z = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = z * se / est
        return est * np.exp(-half), est * np.exp(half)


def _check_alpha(alpha: Any, func: str) -> float:
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise _param_error("alpha", func, "a float in (0, 1)", alpha) from None
    if not 0 < a < 1:
        raise _param_error("alpha", func, "a float in (0, 1)", alpha)
    return a


def _merge_rows(columns: list[np.ndarray], weights: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Merge identical rows of ``columns`` and add up their weights (hash-based, O(n)).

    The row key is built column by column with :func:`pandas.factorize`, so it never
    overflows int64 whatever the number of distinct values. Rows keep the order of
    their first appearance.
    """
    key = None
    for col in columns:
        codes, uniques = pd.factorize(col)
        key = codes.astype(np.int64) if key is None else pd.factorize(key * np.int64(len(uniques)) + codes)[0]
    if key.size == 0:
        return [col[:0] for col in columns], np.asarray(weights, dtype=float)[:0]
    # factorize numbers the keys in order of first appearance: a new key is a new running maximum
    running = np.maximum.accumulate(key)
    first = np.flatnonzero(np.r_[True, running[1:] > running[:-1]])
    w = np.bincount(key, weights=weights, minlength=first.size)
    return [col[first] for col in columns], w


def _check_fitted(obj: Any, method: str) -> None:
    if getattr(obj, "params_", None) is None:
        raise NotFittedError(
            f"This {type(obj).__name__} instance is not fitted yet. Call 'fit' with the "
            f"customers' data before using '{method}'."
        )


def _numerical_hessian(grad: Any, x: np.ndarray) -> np.ndarray:
    """Central differences of an analytic gradient, symmetrised (relative steps)."""
    k = x.size
    h = 1e-5 * np.maximum(np.abs(x), 1e-8)
    H = np.empty((k, k))
    for j in range(k):  # loop over the handful of parameters
        e = np.zeros(k)
        e[j] = h[j]
        H[:, j] = (grad(x + e) - grad(x - e)) / (2 * h[j])
    return (H + H.T) / 2


def _standard_errors(H: np.ndarray, owner: str, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    try:
        cov = np.linalg.inv(H)
        ok = np.all(np.isfinite(cov)) and np.all(np.diag(cov) > 0) and np.all(np.linalg.eigvalsh(H) > 0)
    except np.linalg.LinAlgError:
        ok = False
    if not ok:
        warnings.warn(
            f"{owner}: the Hessian of the negative log-likelihood is not positive definite at the "
            f"optimum; standard errors of {names} are reported as NaN (the parameters are weakly "
            "identified: try a small penalizer such as 0.01, or more data).",
            UserWarning,
            stacklevel=3,
        )
        cov = np.full_like(H, np.nan)
    return cov, np.sqrt(np.diag(cov))


def _openblas_thread_controls() -> list[tuple[Any, Any]]:
    """(get, set) thread-count functions of the OpenBLAS copies bundled with numpy and scipy.

    Best effort, found once: the wheels ship ``libscipy_openblas*`` in ``numpy.libs`` /
    ``scipy.libs`` (Linux) or ``.dylibs`` (macOS); loading an already loaded library
    returns the same handle. Anything not found is skipped.
    """
    global _OPENBLAS
    if _OPENBLAS is not None:
        return _OPENBLAS
    import ctypes
    from pathlib import Path

    import scipy

    found: list[tuple[Any, Any]] = []
    for mod in (np, scipy):
        root = Path(mod.__file__).resolve().parent
        candidates = [
            *root.parent.glob(f"{mod.__name__}.libs/libscipy_openblas*"),  # Linux wheels
            *root.glob(".dylibs/libscipy_openblas*"),  # macOS wheels
        ]
        for path in candidates:
            try:
                lib = ctypes.CDLL(str(path))
            except OSError:
                continue
            for suffix in ("64_", ""):
                get = getattr(lib, f"scipy_openblas_get_num_threads{suffix}", None)
                set_ = getattr(lib, f"scipy_openblas_set_num_threads{suffix}", None)
                if get is not None and set_ is not None:
                    get.restype = ctypes.c_int
                    set_.argtypes = [ctypes.c_int]
                    found.append((get, set_))
                    break
    _OPENBLAS = found
    return found


@contextlib.contextmanager
def _blas_single_thread() -> Any:
    """Keep OpenBLAS single-threaded while fitting (restored on exit).

    scipy's L-BFGS-B calls OpenBLAS at every iteration; its worker threads
    busy-wait between calls, and on a small or busy machine they take the CPU from
    the (single-threaded) likelihood: a fit becomes 3-40x slower. Uses
    ``threadpoolctl`` when it is installed, else the OpenBLAS copies bundled with
    numpy and scipy directly; does nothing when neither is found (setting
    ``OPENBLAS_NUM_THREADS=1`` before starting Python has the same effect).
    """
    global _THREADPOOLS
    if _ThreadpoolController is not None:
        if _THREADPOOLS is None:
            _THREADPOOLS = _ThreadpoolController()
        with _THREADPOOLS.limit(limits=1, user_api="blas"):
            yield
        return
    restore = []
    try:
        for get, set_ in _openblas_thread_controls():
            try:
                n = int(get())
                set_(1)
                restore.append((set_, n))
            except Exception:  # noqa: BLE001 - best effort, never fail a fit over threads
                continue
        yield
    finally:
        for set_, n in restore:
            set_(n)


def _run_lbfgsb(fun: Any, x0: np.ndarray, owner: str, names: list[str], advice: str) -> np.ndarray:
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * x0.size
    res = optimize.minimize(
        fun,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9, "maxcor": 10},  # maxcor > 10 wakes OpenBLAS threads
    )
    at_edge = np.isfinite(res.x) & (np.abs(res.x) > _LOG_EDGE)
    if at_edge.any():
        moves = ", ".join(
            f"{names[i]} -> {'0' if res.x[i] < 0 else 'infinity'}" for i in np.flatnonzero(at_edge)
        )
        raise ConvergenceError(
            f"{owner} fit ran to the edge of the parameter space ({moves}): the data do not identify "
            f"the model (for instance no heterogeneity between customers, or no drop-out/spend variation). "
            f"{advice}"
        )
    grad_ok = res.jac is not None and np.all(np.isfinite(res.jac)) and np.max(np.abs(res.jac)) < 1e-4
    if not np.isfinite(res.fun) or not (res.success or grad_ok):
        raise ConvergenceError(
            f"{owner} fit did not converge after {res.nit} iterations (scipy L-BFGS-B: "
            f"{res.message}). {advice}"
        )
    _log.debug("%s: L-BFGS-B converged in %d iterations, %d evaluations", owner, res.nit, res.nfev)
    return res.x


def _store_fit(model, names, est, ll, cov, se, *, n_customers, n_unique, unit, t0) -> None:
    """Set the fitted attributes every estimator here carries (the fit protocol's ``*_``)."""
    model.params_ = pd.Series(est, index=names, name="estimate")
    model.standard_errors_ = pd.Series(se, index=names, name="std_err")
    model.covariance_ = pd.DataFrame(cov, index=names, columns=names)
    model.log_likelihood_ = float(ll)
    model.n_customers_ = float(n_customers)
    model.n_unique_ = int(n_unique)
    model.time_unit_ = unit
    model.fit_seconds_ = time.perf_counter() - t0


def _penalised_mle(
    ll_grad: Any, d: Any, N: float, theta0: np.ndarray, penalizer: float, owner: str, names: list[str], advice: str
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Maximise LL/N - penalizer * ||log(theta) - log(theta0)||^2 in log-parameters.

    Returns the estimates, the unpenalised log-likelihood at them, and the
    covariance and standard errors from the inverse Hessian (natural parameters)
    of the negative penalised log-likelihood.
    """

    def objective(lt: np.ndarray) -> tuple[float, np.ndarray]:
        prm = np.exp(lt)
        ll, g = ll_grad(prm, d)
        dev = lt - theta0
        f = -ll / N + penalizer * float(dev @ dev)
        if not np.isfinite(f):
            return np.inf, np.zeros_like(lt)
        return f, -g * prm / N + 2.0 * penalizer * dev

    def grad_sum(prm: np.ndarray) -> np.ndarray:
        return -ll_grad(prm, d)[1] + 2.0 * N * penalizer * (np.log(prm) - theta0) / prm

    with _blas_single_thread():
        lt = _run_lbfgsb(objective, theta0, owner, names, advice)
        est = np.exp(lt)
        ll, _ = ll_grad(est, d)
        H = _numerical_hessian(grad_sum, est)
        cov, se = _standard_errors(H, owner, names)
    return est, float(ll), cov, se


# ----------------------------------------------------------------------------- RFM


def _check_transactions(transactions: Any, account: str, date: str, revenue: str, func: str) -> pd.DataFrame:
    if not isinstance(transactions, pd.DataFrame):
        raise _param_error("transactions", func, "a pandas DataFrame", type(transactions).__name__)
    missing = [c for c in (account, date, revenue) if c not in transactions.columns]
    if missing:
        raise DataValidationError(
            f"transactions: missing column(s) {missing}; found {list(transactions.columns)}. "
            f"Map the client's columns with account=, date=, revenue= or the config's column map."
        )
    df = pd.DataFrame(
        {
            "account": transactions[account].to_numpy(),
            "date": transactions[date].to_numpy(),
            "revenue": transactions[revenue].to_numpy(),
        }
    )
    labels = transactions.index
    acc_missing = pd.isna(df["account"]).to_numpy()
    if acc_missing.any():
        raise DataValidationError(_bad_rows_message("transactions", account, "not be empty", acc_missing, labels))
    rev = pd.to_numeric(df["revenue"], errors="coerce")
    bad = rev.isna().to_numpy() | ~np.isfinite(rev.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        raise DataValidationError(
            _bad_rows_message("transactions", revenue, "be numeric", bad, labels, transactions[revenue].to_numpy())
        )
    df["revenue"] = rev.astype(float)
    if not pd.api.types.is_datetime64_any_dtype(df["date"]):
        parsed = pd.to_datetime(df["date"], errors="coerce")
    else:
        parsed = df["date"]
    bad = parsed.isna().to_numpy()
    if bad.any():
        raise DataValidationError(
            _bad_rows_message("transactions", date, "be a date", bad, labels, transactions[date].to_numpy())
        )
    df["date"] = parsed
    return df


def _naive_dates(dates: pd.Series) -> tuple[pd.Series, Any]:
    """Dates as naive wall-clock times (tz-aware ledgers keep their local calendar days)."""
    tz = getattr(dates.dt, "tz", None)
    return (dates.dt.tz_localize(None) if tz is not None else dates), tz


def _naive_boundary(ts: pd.Timestamp, tz: Any) -> pd.Timestamp:
    """A window boundary on the ledger's calendar: aware -> ledger tz -> naive; naive as given."""
    if ts.tzinfo is not None:
        ts = ts.tz_convert(tz).tz_localize(None) if tz is not None else ts.tz_convert("UTC").tz_localize(None)
    return ts.normalize()


@dataclass(frozen=True)
class _Days:
    """Net revenue per account and calendar day, sorted by account then day.

    ``acc`` indexes ``labels``; ``day`` counts days from ``origin``; ``purchase``
    marks the purchase occasions (net revenue > 0, or >= 0 with zero days kept).
    """

    labels: pd.Index
    acc: np.ndarray
    day: np.ndarray
    rev: np.ndarray
    purchase: np.ndarray
    origin: pd.Timestamp


def _account_days(df: pd.DataFrame, end: pd.Timestamp, keep_zero: bool) -> _Days:
    """Aggregate a validated ledger to account-days up to ``end`` (inclusive), in numpy."""
    day_ts = df["date"].dt.normalize()
    keep = (day_ts <= end).to_numpy()
    accounts = df["account"][keep]
    try:
        codes, labels = pd.factorize(accounts, sort=True)
    except TypeError:  # ids of mixed types cannot be sorted
        codes, labels = pd.factorize(accounts)
    labels = pd.Index(labels)
    if not keep.any():
        empty = np.zeros(0, dtype=np.int64)
        return _Days(labels, empty, empty, np.zeros(0), np.zeros(0, dtype=bool), end)
    days = day_ts[keep]
    origin = days.min()
    off = ((days.to_numpy() - origin.to_datetime64()) // np.timedelta64(1, "D")).astype(np.int64)
    span = int(off.max()) + 1
    key, inv = np.unique(codes.astype(np.int64) * span + off, return_inverse=True)
    rev = np.bincount(inv, weights=df["revenue"].to_numpy()[keep], minlength=key.size)
    purchase = rev >= 0 if keep_zero else rev > 0
    return _Days(labels, key // span, key % span, rev, purchase, origin)


def _runs(acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of each run of equal values in a sorted array."""
    starts = np.flatnonzero(np.r_[True, acc[1:] != acc[:-1]]) if acc.size else np.zeros(0, dtype=np.int64)
    return starts, np.r_[starts[1:], acc.size].astype(np.int64)


def _rfm_core(
    transactions: Any,
    *,
    observation_end: Any,
    time_unit: str,
    account: str,
    date: str,
    revenue: str,
    calibration_end: Any,
    keep_zero_revenue_days: bool,
    func: str,
) -> tuple[pd.DataFrame, _Days, np.ndarray, pd.Timestamp]:
    """The RFM table plus the account-days it came from and the cohort's account codes."""
    _check_unit(time_unit, "time_unit", func)
    obs_end = _check_timestamp(observation_end, "observation_end", func)
    cal_end = None if calibration_end is None else _check_timestamp(calibration_end, "calibration_end", func)
    if cal_end is not None and cal_end >= obs_end:
        raise _param_error(
            "calibration_end", func, f"earlier than observation_end ({obs_end.date()})", str(cal_end.date())
        )
    df = _check_transactions(transactions, account, date, revenue, func)
    df["date"], tz = _naive_dates(df["date"])
    obs_end = _naive_boundary(obs_end, tz)
    window_end = obs_end if cal_end is None else _naive_boundary(cal_end, tz)
    unit_days = _UNIT_DAYS[time_unit]

    d = _account_days(df, obs_end, keep_zero_revenue_days)
    end_off = (window_end - d.origin) // pd.Timedelta(days=1)
    in_win = d.day <= end_off
    cal = d.purchase & in_win
    acc, day, rev = d.acc[cal], d.day[cal], d.rev[cal]
    starts, ends = _runs(acc)
    cohort = acc[starts]
    freq = (ends - starts - 1).astype(np.int64)
    total = np.add.reduceat(rev, starts) if rev.size else np.zeros(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(freq > 0, (total - rev[starts]) / np.maximum(freq, 1), 0.0)
    first = day[starts]
    out = pd.DataFrame(
        {
            "frequency": freq,
            "recency": (day[ends - 1] - first) / unit_days,
            "T": (end_off - first) / unit_days,
            "monetary_value": monetary.astype(float),
        },
        index=d.labels[cohort].rename(account),
    )
    if cal_end is not None:
        hold = d.purchase & ~in_win
        counts = np.bincount(d.acc[hold], minlength=len(d.labels))
        out["frequency_holdout"] = counts[cohort].astype(np.int64)
        out["duration_holdout"] = float((obs_end - window_end) / pd.Timedelta(days=unit_days))

    # accounts with transactions in the window but no purchase day
    dropped = np.setdiff1d(np.unique(d.acc[in_win]), cohort)
    if dropped.size:
        warnings.warn(
            f"{func}: {dropped.size:,} account(s) have transactions up to {window_end.date()} but no day "
            f"with positive net revenue, so no purchase occasion; they are left out "
            f"(first: {_first_rows(d.labels[dropped])}). Pass keep_zero_revenue_days=True to count days netting to 0.",
            UserWarning,
            stacklevel=3,
        )
    out.attrs["time_unit"] = time_unit
    out.attrs["observation_end"] = obs_end
    out.attrs["calibration_end"] = None if cal_end is None else window_end
    return out, d, cohort, window_end


def rfm_summary(
    transactions: pd.DataFrame,
    *,
    observation_end: Any,
    time_unit: str = "W",
    account: str = "account_id",
    date: str = "date",
    revenue: str = "revenue",
    calibration_end: Any = None,
    keep_zero_revenue_days: bool = False,
) -> pd.DataFrame:
    """Frequency, recency, T and monetary value per account from a transaction ledger.

    Parameters
    ----------
    transactions : DataFrame
        One row per invoice line or order (credit notes as negative revenue).
    observation_end : date-like
        Last day observed (inclusive). Transactions after it are ignored.
    time_unit : {"D", "W", "M"}, default "W"
        Unit of ``recency``, ``T`` and ``duration_holdout``: days, 7-day weeks or
        30.4375-day months. Stored in ``result.attrs["time_unit"]``.
    account, date, revenue : str
        Column names in ``transactions``.
    calibration_end : date-like, optional
        If given, ``frequency``, ``recency``, ``T`` and ``monetary_value`` describe
        the calibration window up to ``calibration_end`` (inclusive, ``T`` measured
        to it), only accounts with a purchase in it are kept, and two columns
        describe the holdout window ``(calibration_end, observation_end]``:
        ``frequency_holdout`` (purchase days in it) and ``duration_holdout``.
    keep_zero_revenue_days : bool, default False
        Count days with net revenue exactly 0 as purchase occasions (the CDNOW data
        hold eight $0 purchases that the published cohort counts). Days with net
        revenue < 0 are never purchases.

    Returns
    -------
    DataFrame
        Indexed by account (index named after ``account``), sorted, with columns
        ``frequency`` (int, repeat purchase days), ``recency`` and ``T`` (float,
        ``time_unit``), ``monetary_value`` (float, currency, mean net revenue of the
        repeat purchase days; 0 when ``frequency == 0``) and, with
        ``calibration_end``, ``frequency_holdout`` (int) and ``duration_holdout``
        (float, ``time_unit``). ``attrs`` holds ``time_unit``, ``observation_end``
        and ``calibration_end``.

    Warns
    -----
    UserWarning
        When accounts with transactions have no purchase day (all their days net
        to <= 0): they are left out, and the warning names how many and the first.

    Notes
    -----
    Same-day transactions are netted into one purchase occasion and days with net
    revenue <= 0 are not purchases (see the module notes). The first purchase day
    is the account's "trial" and is not a repeat purchase (Fader, Hardie & Lee
    2005a); its revenue is excluded from ``monetary_value`` as in
    Fader, Hardie & Lee (2005b).

    References
    ----------
    Fader, Hardie & Lee (2005a) (the CDNOW calibration summary: 39 weeks, times in
    days/7); Fader, Hardie & Lee (2005b), "RFM and CLV", JMR 42(4).

    Examples
    --------
    >>> import pandas as pd
    >>> tx = pd.DataFrame({"account_id": ["a", "a", "a", "b"],
    ...                    "date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-15", "2024-01-08"]),
    ...                    "revenue": [10.0, 5.0, 30.0, 20.0]})
    >>> rfm_summary(tx, observation_end="2024-01-29", time_unit="W").reset_index()
      account_id  frequency  recency    T  monetary_value
    0          a          1      2.0  4.0            30.0
    1          b          0      0.0  3.0             0.0
    """
    out, _, _, _ = _rfm_core(
        transactions,
        observation_end=observation_end,
        time_unit=time_unit,
        account=account,
        date=date,
        revenue=revenue,
        calibration_end=calibration_end,
        keep_zero_revenue_days=keep_zero_revenue_days,
        func="rfm_summary",
    )
    return out


# ----------------------------------------------------------------------------- BG/NBD


def _wsum(w: np.ndarray, v: np.ndarray) -> float:
    """Weighted sum without BLAS: ``w @ v`` goes through OpenBLAS, whose threads
    busy-wait and make the fit 10-30x slower on a loaded machine."""
    return float(np.einsum("i,i->", w, v))


def _bgnbd_data(x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    """Sufficient statistics for the BG/NBD likelihood after merging identical rows."""
    tx = np.where(x > 0, tx, 0.0)  # t_x does not enter the likelihood when x = 0
    (x, tx, T), w = _merge_rows([x, tx, T], w)
    keep = w > 0
    x, tx, T, w = x[keep], tx[keep], T[keep], w[keep]
    xu, inv = np.unique(x, return_inverse=True)
    pos = x > 0
    return {
        "xu": xu,
        "Wx": np.bincount(inv, weights=w, minlength=xu.size),
        "T0": T[~pos],
        "w0": w[~pos],
        "x1": x[pos],
        "tx1": tx[pos],
        "T1": T[pos],
        "w1": w[pos],
        "N": float(w.sum()),
        "n_rows": float(x.size),
    }


def _bgnbd_ll_grad(params: np.ndarray, d: dict[str, np.ndarray]) -> tuple[float, np.ndarray]:
    """Weighted BG/NBD log-likelihood and its gradient in (r, alpha, a, b).

    ln L_i = ln A1 + ln A2 + ln(A3 + delta_{x>0} A4), Fader, Hardie & Lee (2005a)
    eq. (6), written with the A1..A4 terms of the paper; ln(A3 + A4) by log-sum-exp (Fader & Hardie 2013b).
    Terms that depend on x only are summed once per distinct x.
    """
    r, al, a, b = params
    xu, Wx = d["xu"], d["Wx"]
    # ln A1 + ln A2 summed per distinct x
    lnA12 = (
        special.gammaln(r + xu) - special.gammaln(r) + r * np.log(al)  # ln A1
        + special.betaln(a, b + xu) - special.betaln(a, b)  # ln A2 = ln B(a, b+x)/B(a, b)
    )
    ll = _wsum(Wx, lnA12)
    psi_rx = special.digamma(r + xu)
    psi_abx = special.digamma(a + b + xu)
    psi_bx = special.digamma(b + xu)
    psi_ab = special.digamma(a + b)
    g_r = _wsum(Wx, psi_rx - special.digamma(r) + np.log(al))
    g_al = float(Wx.sum() * r / al)
    g_a = _wsum(Wx, psi_ab - psi_abx)
    g_b = _wsum(Wx, psi_bx - psi_abx - special.digamma(b) + psi_ab)

    # x = 0: ln A3 = -r ln(alpha + T)
    T0, w0 = d["T0"], d["w0"]
    if T0.size:
        lT0 = np.log(al + T0)
        ll -= r * _wsum(w0, lT0)
        g_r -= _wsum(w0, lT0)
        g_al -= r * _wsum(w0, 1.0 / (al + T0))

    # x > 0: ln(A3 + A4)
    x1, tx1, T1, w1 = d["x1"], d["tx1"], d["T1"], d["w1"]
    if x1.size:
        rx = r + x1
        lT = np.log(al + T1)
        lt = np.log(al + tx1)
        lA3 = -rx * lT
        lA4 = np.log(a) - np.log(b + x1 - 1.0) - rx * lt
        lse = np.logaddexp(lA3, lA4)
        ll += _wsum(w1, lse)
        p4 = np.exp(lA4 - lse)  # weight of A4 in A3 + A4
        p3 = 1.0 - p4
        g_r -= _wsum(w1, p3 * lT + p4 * lt)
        g_al -= _wsum(w1, rx * (p3 / (al + T1) + p4 / (al + tx1)))
        g_a += _wsum(w1, p4) / a
        g_b -= _wsum(w1, p4 / (b + x1 - 1.0))
    return ll, np.array([g_r, g_al, g_a, g_b])


def _hyp2f1(A: float, B: float, C: Any, z: np.ndarray) -> np.ndarray:
    """Gauss hypergeometric 2F1 with a guard for scipy's degenerate case.

    When C - A - B is an integer, scipy can return NaN for z close to 1; there the
    function is smooth in C, so the mean of C*(1 -+ 1e-9) is used (error O(1e-18)).
    """
    out = special.hyp2f1(A, B, C, z)
    bad = ~np.isfinite(out)
    if np.any(bad):
        Cb = np.broadcast_to(C, out.shape)[bad]
        h = 1e-9 * np.maximum(np.abs(Cb), 1.0)
        out = np.array(out, dtype=float)
        out[bad] = 0.5 * (special.hyp2f1(A, B, Cb - h, z[bad]) + special.hyp2f1(A, B, Cb + h, z[bad]))
    return out


def _bgnbd_conditional_expectation(params: np.ndarray, t: Any, x: Any, tx: Any, T: Any) -> np.ndarray:
    """Eq. (10) of Fader, Hardie & Lee (2005a), via Euler's transformation.

    ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)
    = (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z),  z = t/(alpha+T+t),
    which keeps the hypergeometric parameters bounded as x grows. The result is
    :func:`_bgnbd_conditional_numerator` times :func:`_bgnbd_p_alive`.
    """
    r, al, a, b = params
    t, x, tx, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (t, x, tx, T)))
    if abs(a - 1.0) < 1e-7:  # removable singularity at a = 1: symmetric average
        h = 1e-5
        return 0.5 * (
            _bgnbd_conditional_expectation(np.array([r, al, 1 - h, b]), t, x, tx, T)
            + _bgnbd_conditional_expectation(np.array([r, al, 1 + h, b]), t, x, tx, T)
        )
    numer = _bgnbd_conditional_numerator(params, t, x, tx, T)
    # a count cannot be negative: clip rounding noise (~1e-16) for t close to 0
    return np.maximum(numer * _bgnbd_p_alive(params, x, tx, T), 0.0)


def _bgnbd_conditional_numerator(params: np.ndarray, t: Any, x: Any, tx: Any, T: Any) -> np.ndarray:
    """Eq. (10) of Fader, Hardie & Lee (2005a) before the P(alive) factor (needs a != 1).

    (a+b+x-1)/(a-1) [1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)],  z = t/(alpha+T+t);
    times P(alive | x, t_x, T) it is E[X(t) | x, t_x, T].
    """
    r, al, a, b = params
    t, x, tx, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (t, x, tx, T)))
    one_minus_z = (al + T) / (al + T + t)
    z = t / (al + T + t)
    hyp = _hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
    # 1 - (1-z)^(a-1) * hyp, computed without cancellation where possible
    bracket = -special.expm1((a - 1.0) * np.log(one_minus_z) + np.log(hyp)) if np.all(hyp > 0) else (
        1.0 - one_minus_z ** (a - 1.0) * hyp
    )
    return (a + b + x - 1.0) / (a - 1.0) * bracket


def _bgnbd_expected_new(params: np.ndarray, t: Any) -> np.ndarray:
    """Eq. (9) of Fader, Hardie & Lee (2005a): E[X(t)] for a new customer."""
    t = np.asarray(t, dtype=float)
    z = np.zeros_like(t)
    return _bgnbd_conditional_expectation(params, t, z, z, z)


def _bgnbd_p_alive(params: np.ndarray, x: Any, tx: Any, T: Any) -> np.ndarray:
    """P(alive | x, t_x, T) = 1 / (1 + delta_{x>0} a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)), [FHL08]."""
    r, al, a, b = params
    x, tx, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, tx, T)))
    pos = x > 0
    with np.errstate(over="ignore", divide="ignore"):
        log_odds = np.where(
            pos,
            np.log(a) - np.log(np.where(pos, b + x - 1.0, 1.0)) + (r + x) * (np.log(al + T) - np.log(al + tx)),
            -np.inf,
        )
    return special.expit(-log_odds)


def _resolve_time_unit(time_unit: Any, columns: list[Any], owner: str) -> str | None:
    """The unit given to fit, else the one carried by the data (``attrs['time_unit']``)."""
    carried = {c.attrs.get("time_unit") for c in columns if isinstance(c, (pd.Series, pd.DataFrame))}
    carried.discard(None)
    if len(carried) > 1:
        raise DataValidationError(f"{owner}.fit: the inputs carry different time units {sorted(carried)}.")
    if time_unit is None:
        return carried.pop() if carried else None
    _check_unit(time_unit, "time_unit", f"{owner}.fit")
    if carried and time_unit not in carried:
        raise ParameterError(
            f"The 'time_unit' parameter of {owner}.fit must match the unit the data were summarised in "
            f"({carried.pop()!r}, from rfm_summary). Got {time_unit!r} instead."
        )
    return time_unit


class _Fitted:
    """Shared summary/repr of the two estimators."""

    _param_names: tuple[str, ...] = ()

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        """Tidy table of the estimates.

        Parameters
        ----------
        alpha : float, default 0.05
            1 - confidence level of the Wald intervals (computed on the log scale,
            where the fit is done, and mapped back, so they stay positive).

        Returns
        -------
        DataFrame
            Columns ``term, estimate, std_err, ci_lower, ci_upper``; one row per
            parameter.
        """
        _check_fitted(self, "summary")
        a = _check_alpha(alpha, f"{type(self).__name__}.summary")
        est = self.params_.to_numpy(dtype=float)
        se = self.standard_errors_.to_numpy(dtype=float)
        lo, hi = _wald_log_ci(est, se, a)
        return pd.DataFrame(
            {"term": list(self._param_names), "estimate": est, "std_err": se, "ci_lower": lo, "ci_upper": hi}
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(penalizer={self.penalizer!r})"

    def _repr_html_(self) -> str:
        if getattr(self, "params_", None) is None:
            return f"<p>{type(self).__name__} (not fitted)</p>"
        unit = getattr(self, "time_unit_", None)
        head = (
            f"<p><b>{type(self).__name__}</b>: {self.n_customers_:,.0f} customers, "
            f"log-likelihood {self.log_likelihood_:,.2f}"
            f"{'' if unit is None else f', time unit {_UNIT_NAMES[unit]}'}, penalizer {self.penalizer}</p>"
        )
        return head + self.summary().to_html(index=False, float_format=lambda v: f"{v:.4g}")


class BetaGeo(_Fitted):
    """BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005a).

    While alive, a customer buys as a Poisson process with rate lambda ~
    Gamma(r, alpha) across customers; after each repeat purchase they drop out with
    probability p ~ Beta(a, b). Fitted by maximum likelihood on (frequency,
    recency, T) per customer.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the log-parameters around the fixed start values: the fit
        minimises ``-LL/N + penalizer * sum((log theta - log theta0)**2)`` with
        ``N`` the number of customers and ``theta0 = (1, sum(T)/sum(frequency), 1,
        1)``. Unlike a penalty on ``theta**2`` (the ``lifetimes`` convention, whose
        values do not carry over), it pulls parameters away from both 0 and
        infinity and does not depend on the time unit. Standard errors come from
        the Hessian of the objective actually minimised.

    Attributes
    ----------
    params_ : Series
        ``r, alpha, a, b`` (``alpha`` in ``time_unit_``).
    standard_errors_ : Series
        From the inverse Hessian of the negative log-likelihood at the optimum.
    covariance_ : DataFrame
        That inverse Hessian.
    log_likelihood_ : float
        Weighted log-likelihood at the optimum (without the penalty).
    n_customers_ : float
        Sum of the weights (number of customers).
    n_unique_ : int
        Distinct (frequency, recency, T) rows the likelihood was evaluated on.
    time_unit_ : str or None
        Unit of recency and T ("D", "W", "M") when known (from ``fit(time_unit=)``
        or from ``rfm_summary``'s ``attrs``).

    Notes
    -----
    The fit maximises eq. (6) of Fader, Hardie & Lee (2005a) in log-parameters with
    L-BFGS-B from a fixed start (r = a = b = 1, alpha = sum(T)/sum(frequency), i.e.
    the mean purchase rate), with an analytic gradient. Identical rows are merged
    into weights first and terms depending on frequency only are computed once per
    distinct frequency, so a million customers fit in a fraction of a second.

    For contractual settings use :func:`kamtools.retention.retention_clv`.

    References
    ----------
    Fader, Hardie & Lee (2005a), eqs. (6) likelihood, (9) E[X(t)], (10)
    conditional expectation; Fader, Hardie & Lee (2008), note 021, P(alive).

    Examples
    --------
    >>> bg = BetaGeo(penalizer=0.1).fit([0, 2, 1, 5, 0, 3], [0.0, 20.0, 5.0, 30.0, 0.0, 10.0],
    ...                                 [38.0, 38.0, 30.0, 36.0, 20.0, 31.0], time_unit="W")
    >>> bg.conditional_probability_alive(0, 0.0, 38.0)  # no repeat purchase: cannot have dropped out
    1.0
    >>> bool(bg.conditional_probability_alive(2, 5.0, 38.0) < bg.conditional_probability_alive(2, 35.0, 38.0))
    True
    """

    _param_names = ("r", "alpha", "a", "b")

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer
        self.params_: pd.Series | None = None

    def fit(
        self,
        frequency: Any,
        recency: Any = None,
        T: Any = None,
        weights: Any = None,
        *,
        time_unit: str | None = None,
    ) -> BetaGeo:
        """Fit by maximum likelihood.

        Parameters
        ----------
        frequency : array-like of int, or DataFrame
            Repeat purchases per customer. A DataFrame from :func:`rfm_summary`
            may be passed alone (its ``frequency``, ``recency``, ``T`` are used).
        recency, T : array-like of float
            Time of the last purchase and of the end of observation, both from the
            first purchase, in one time unit; ``0 <= recency <= T``.
        weights : array-like of float, optional
            Number of customers each row stands for (default 1). Identical rows are
            merged into weights automatically.
        time_unit : {"D", "W", "M"}, optional
            Unit of recency and T, stored as ``time_unit_``; taken from
            ``attrs['time_unit']`` of the inputs when not given.

        Returns
        -------
        self

        Raises
        ------
        DataValidationError
            Bad rows (named), or no repeat purchase at all.
        ConvergenceError
            The optimiser failed; the message suggests a fix.
        """
        owner = "BetaGeo"
        if isinstance(frequency, pd.DataFrame) and recency is None and T is None:
            rfm = frequency
            missing = [c for c in ("frequency", "recency", "T") if c not in rfm.columns]
            if missing:
                raise DataValidationError(f"BetaGeo.fit: the rfm table lacks column(s) {missing}.")
            if time_unit is None:
                time_unit = rfm.attrs.get("time_unit")
            frequency, recency, T = rfm["frequency"], rfm["recency"], rfm["T"]
        penalizer = _check_nonneg_float(self.penalizer, "penalizer", owner)
        unit = _resolve_time_unit(time_unit, [frequency, recency, T], owner)
        x, idx = _to_float_vector(frequency, "frequency", f"{owner}.fit")
        tx, _ = _to_float_vector(recency, "recency", f"{owner}.fit")
        TT, _ = _to_float_vector(T, "T", f"{owner}.fit")
        w, _ = _to_float_vector(weights, "weights", f"{owner}.fit", allow_none=True)
        n = x.size
        for name, arr in (("recency", tx), ("T", TT), ("weights", w)):
            if arr is not None and arr.size != n:
                raise ParameterError(
                    f"The '{name}' parameter of {owner}.fit must have one value per customer "
                    f"({n:,}, as frequency). Got {arr.size:,} values instead."
                )
        if w is None:
            w = np.ones(n)
        labels = _labels(idx, n)
        checks = [
            ("frequency", "be a whole number >= 0", ~(np.isfinite(x) & (x >= 0) & (x == np.floor(x))), x),
            ("recency", "be finite and >= 0", ~(np.isfinite(tx) & (tx >= 0)), tx),
            ("T", "be finite and > 0", ~(np.isfinite(TT) & (TT > 0)), TT),
            ("recency", "be <= T", np.isfinite(tx) & np.isfinite(TT) & (tx > TT * (1 + 1e-12)), tx),
            ("weights", "be finite and >= 0", ~(np.isfinite(w) & (w >= 0)), w),
        ]
        for name, rule, bad, vals in checks:
            if bad.any():
                raise DataValidationError(_bad_rows_message(f"{owner}.fit", name, rule, bad, labels, vals))
        if not w.sum() > 0:
            raise DataValidationError(f"{owner}.fit: the weights sum to 0; there is nothing to fit.")
        if not (w * x).sum() > 0:
            raise DataValidationError(
                f"{owner}.fit: no customer made a repeat purchase (all frequency == 0), so the purchase rate "
                "and drop-out cannot be estimated. Use a longer calibration window."
            )

        t0 = time.perf_counter()
        d = _bgnbd_data(x, tx, TT, w)
        N = d["N"]

        alpha0 = float((w * TT).sum() / (w * x).sum())  # r/alpha = mean purchase rate
        theta0 = np.log(np.array([1.0, alpha0, 1.0, 1.0]))
        advice = (
            "Check that recency and T are in a sensible unit (weeks rather than days for a year of data), "
            "that the window holds repeat purchases, or pass a small penalizer, e.g. BetaGeo(penalizer=0.01)."
        )
        names = list(self._param_names)
        est, ll, cov, se = _penalised_mle(_bgnbd_ll_grad, d, N, theta0, penalizer, owner, names, advice)
        _store_fit(self, names, est, ll, cov, se, n_customers=N, n_unique=d["n_rows"], unit=unit, t0=t0)
        _log.debug("BetaGeo fit on %d customers (%d distinct rows) in %.3f s", N, d["n_rows"], self.fit_seconds_)
        return self

    # -- predictions -----------------------------------------------------------------

    def _p(self) -> np.ndarray:
        return self.params_.to_numpy(dtype=float)

    def conditional_expected_number_of_purchases_up_to_time(self, t: Any, frequency: Any, recency: Any, T: Any) -> Any:
        """Expected purchases in ``(T, T + t]`` given a customer's history.

        Eq. (10) of Fader, Hardie & Lee (2005a):
        E[Y(t) | x, t_x, T] = (a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x)
        2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))] / (1 + delta_{x>0} a/(b+x-1)
        ((alpha+T)/(alpha+t_x))^(r+x)).

        Parameters
        ----------
        t : float or array-like
            Length of the forecast window, in ``time_unit_``.
        frequency, recency, T : array-like
            The customers' history (as in :meth:`fit`).

        Returns
        -------
        Series, ndarray or float
            Expected number of purchases (>= 0), a Series indexed like the first
            Series input, named ``expected_purchases``.
        """
        _check_fitted(self, "conditional_expected_number_of_purchases_up_to_time")
        arrs, idx, scalar = _prediction_inputs(
            "BetaGeo.conditional_expected_number_of_purchases_up_to_time",
            t=t, frequency=frequency, recency=recency, T=T,
        )
        out = _bgnbd_conditional_expectation(self._p(), *arrs)
        return _finish(out, idx, scalar, "expected_purchases")

    def conditional_probability_alive(self, frequency: Any, recency: Any, T: Any) -> Any:
        """P(alive at T | x, t_x, T).

        1 / (1 + delta_{x>0} a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)) (Fader, Hardie &
        Lee 2008, note 021). Equal to 1 when ``frequency == 0``: in the BG/NBD a
        customer can drop out only right after a repeat purchase.

        Returns
        -------
        Series, ndarray or float
            Probabilities in [0, 1], named ``p_alive``.
        """
        _check_fitted(self, "conditional_probability_alive")
        arrs, idx, scalar = _prediction_inputs(
            "BetaGeo.conditional_probability_alive", frequency=frequency, recency=recency, T=T
        )
        out = _bgnbd_p_alive(self._p(), *arrs)
        return _finish(out, idx, scalar, "p_alive")

    def expected_number_of_purchases_up_to_time(self, t: Any) -> Any:
        """Expected repeat purchases in ``(0, t]`` of a new customer.

        Eq. (9) of Fader, Hardie & Lee (2005a): E[X(t)] = (a+b-1)/(a-1)
        [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))].

        Returns
        -------
        ndarray, Series or float
            Expected purchases, in the shape of ``t``.
        """
        _check_fitted(self, "expected_number_of_purchases_up_to_time")
        arrs, idx, scalar = _prediction_inputs("BetaGeo.expected_number_of_purchases_up_to_time", t=t)
        out = _bgnbd_expected_new(self._p(), arrs[0])
        return _finish(out, idx, scalar, "expected_purchases")


def _prediction_inputs(owner: str, **inputs: Any) -> tuple[list[np.ndarray], Any, bool]:
    idx = None
    arrs = []
    scalar = True
    for name, v in inputs.items():
        if isinstance(v, pd.Series) and idx is None:
            idx = v.index
        try:
            a = np.asarray(v, dtype=float)
        except (TypeError, ValueError):
            raise DataValidationError(f"{owner}: '{name}' must be numeric.") from None
        scalar = scalar and a.ndim == 0
        bad = ~np.isfinite(a) | (a < 0)
        if bad.any():
            raise DataValidationError(
                f"{owner}: '{name}' must be finite and >= 0; {int(bad.sum()):,} of {a.size:,} values are not."
            )
        arrs.append(a)
    try:
        arrs = list(np.broadcast_arrays(*arrs))
    except ValueError:
        shapes = {k: np.shape(v) for k, v in inputs.items()}
        raise ParameterError(
            f"{owner}: the inputs must have the same length (or be scalars). Got shapes {shapes}."
        ) from None
    return arrs, idx, scalar


def _finish(out: np.ndarray, idx: Any, scalar: bool, name: str) -> Any:
    out = np.asarray(out, dtype=float)
    if scalar:
        return float(out)
    if idx is not None and out.ndim == 1 and out.size == len(idx):
        return pd.Series(out, index=idx, name=name)
    return out


# ----------------------------------------------------------------------------- Gamma-Gamma


def _gg_ll_grad(params: np.ndarray, d: dict[str, np.ndarray]) -> tuple[float, np.ndarray]:
    """Weighted Gamma-Gamma log-likelihood of mean repeat spend and its gradient.

    f(m | p, q, v, x) = Gamma(px+q)/(Gamma(px)Gamma(q)) v^q x^(px) m^(px-1) / (v + x m)^(px+q)
    (Fader & Hardie 2013a; Fader, Hardie & Lee 2005b).
    """
    p, q, v = params
    x, m, w, lx, lm = d["x"], d["m"], d["w"], d["lx"], d["lm"]
    px = p * x
    lvxm = np.log(v + x * m)
    gl_pxq = special.gammaln(px + q)
    ll = _wsum(
        w,
        gl_pxq - special.gammaln(px) - special.gammaln(q) + q * np.log(v)
        + px * lx + (px - 1.0) * lm - (px + q) * lvxm,
    )
    psi_pxq = special.digamma(px + q)
    g_p = _wsum(w, x * (psi_pxq - special.digamma(px) + lx + lm - lvxm))
    g_q = _wsum(w, psi_pxq - special.digamma(q) + np.log(v) - lvxm)
    g_v = _wsum(w, q / v - (px + q) / (v + x * m))
    return float(ll), np.array([g_p, g_q, g_v], dtype=float)


class GammaGamma(_Fitted):
    """Gamma-Gamma model of average spend per repeat purchase (Fader & Hardie 2013a).

    Each purchase of a customer is Gamma(p, nu); nu ~ Gamma(q, v) across customers,
    independent of the purchase process. Fitted on customers with ``frequency > 0``
    only, using their mean repeat spend.

    Parameters
    ----------
    penalizer : float, default 0.0
        ``penalizer * sum((log theta - log theta0)**2)`` added to ``-LL/N``, with
        the start ``theta0 = (1, 2, mean spend)`` (see :class:`BetaGeo`; does not
        depend on the currency unit).

    Attributes
    ----------
    params_ : Series
        ``p, q, v`` (``v`` in currency units).
    standard_errors_, covariance_, log_likelihood_, n_customers_, n_unique_
        As in :class:`BetaGeo` (``n_customers_`` counts the repeat buyers used).
    time_unit_ : str or None
        Carried from the data for the CLV unit check; the spend model itself has no
        time unit.

    Notes
    -----
    The population mean spend is ``p v / (q - 1)``, finite only when ``q > 1``: a
    fit with ``q <= 1`` warns. The model assumes spend is independent of purchase
    frequency: check the correlation of frequency and monetary value first (Fader,
    Hardie & Lee 2005b).

    References
    ----------
    Fader & Hardie (2013a), note 025 (CDNOW: p = 6.25, q = 3.74, v = 15.44);
    Fader, Hardie & Lee (2005b), JMR 42(4); Colombo & Jiang (1999), JIM 13(3).

    Examples
    --------
    >>> gg = GammaGamma().fit([1, 2, 4, 1, 3, 2], [20.0, 35.5, 18.2, 50.0, 27.1, 22.4])
    >>> p, q, v = gg.params_
    >>> bool(abs(gg.conditional_expected_average_profit(0, 0.0) - p * v / (q - 1)) < 1e-9)
    True
    """

    _param_names = ("p", "q", "v")

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer
        self.params_: pd.Series | None = None

    def fit(
        self, frequency: Any, monetary_value: Any = None, weights: Any = None, *, time_unit: str | None = None
    ) -> GammaGamma:
        """Fit by maximum likelihood on the repeat buyers (``frequency > 0``).

        Parameters
        ----------
        frequency : array-like of int, or DataFrame
            Repeat purchases; rows with 0 are ignored. A DataFrame from
            :func:`rfm_summary` may be passed alone.
        monetary_value : array-like of float
            Mean spend of the repeat purchases (currency).
        weights : array-like, optional
            Customers per row.
        time_unit : {"D", "W", "M"}, optional
            Stored as ``time_unit_`` for the CLV unit check.

        Returns
        -------
        self

        Raises
        ------
        DataValidationError
            No repeat buyer, or a repeat buyer with zero/negative/missing spend
            (the model's spend is strictly positive).
        """
        owner = "GammaGamma"
        if isinstance(frequency, pd.DataFrame) and monetary_value is None:
            rfm = frequency
            missing = [c for c in ("frequency", "monetary_value") if c not in rfm.columns]
            if missing:
                raise DataValidationError(f"GammaGamma.fit: the rfm table lacks column(s) {missing}.")
            if time_unit is None:
                time_unit = rfm.attrs.get("time_unit")
            frequency, monetary_value = rfm["frequency"], rfm["monetary_value"]
        penalizer = _check_nonneg_float(self.penalizer, "penalizer", owner)
        unit = _resolve_time_unit(time_unit, [frequency, monetary_value], owner)
        x, idx = _to_float_vector(frequency, "frequency", f"{owner}.fit")
        m, _ = _to_float_vector(monetary_value, "monetary_value", f"{owner}.fit")
        w, _ = _to_float_vector(weights, "weights", f"{owner}.fit", allow_none=True)
        n = x.size
        for name, arr in (("monetary_value", m), ("weights", w)):
            if arr is not None and arr.size != n:
                raise ParameterError(
                    f"The '{name}' parameter of {owner}.fit must have one value per customer "
                    f"({n:,}, as frequency). Got {arr.size:,} values instead."
                )
        if w is None:
            w = np.ones(n)
        labels = _labels(idx, n)
        bad = ~(np.isfinite(x) & (x >= 0) & (x == np.floor(x)))
        if bad.any():
            raise DataValidationError(
                _bad_rows_message(f"{owner}.fit", "frequency", "be a whole number >= 0", bad, labels, x)
            )
        bad = ~(np.isfinite(w) & (w >= 0))
        if bad.any():
            raise DataValidationError(
                _bad_rows_message(f"{owner}.fit", "weights", "be finite and >= 0", bad, labels, w)
            )
        rep = (x > 0) & (w > 0)
        if not rep.any():
            raise DataValidationError(
                f"{owner}.fit: no repeat buyer (frequency > 0), so there is no repeat spend to fit. The "
                "Gamma-Gamma model needs customers with at least one repeat purchase."
            )
        bad = rep & ~(np.isfinite(m) & (m > 0))
        if bad.any():
            raise DataValidationError(
                _bad_rows_message(
                    f"{owner}.fit", "monetary_value", "be > 0 for repeat buyers (frequency > 0): the Gamma-Gamma "
                    "spend is strictly positive; drop these customers or net their credit notes", bad, labels, m
                )
            )
        t0 = time.perf_counter()
        (xr, mr), wr = _merge_rows([x[rep], m[rep]], w[rep])
        d = {"x": xr, "m": mr, "w": wr, "lx": np.log(xr), "lm": np.log(mr)}
        N = float(wr.sum())

        mean_m = float((wr * xr * mr).sum() / (wr * xr).sum())
        theta0 = np.log(np.array([1.0, 2.0, mean_m]))  # start: E[spend] = p v/(q-1) = observed mean
        advice = (
            "Check that monetary_value is the mean spend of repeat purchases in one currency, remove extreme "
            "outliers, or pass a small penalizer, e.g. GammaGamma(penalizer=0.01)."
        )
        names = list(self._param_names)
        est, ll, cov, se = _penalised_mle(_gg_ll_grad, d, N, theta0, penalizer, owner, names, advice)
        _store_fit(self, names, est, ll, cov, se, n_customers=N, n_unique=xr.size, unit=unit, t0=t0)
        if est[1] <= 1:
            warnings.warn(
                f"GammaGamma: q = {est[1]:.3f} <= 1, so the population mean spend p*v/(q-1) is infinite; "
                "expected spend of customers with few purchases is not meaningful. Check for extreme spends.",
                UserWarning,
                stacklevel=2,
            )
        return self

    def conditional_expected_average_profit(self, frequency: Any, monetary_value: Any) -> Any:
        """Expected mean spend per future purchase given x purchases of mean m.

        E[M | p, q, v, m, x] = p (v + x m) / (p x + q - 1), a weighted mean of the
        population mean p v/(q-1) and the customer's own mean m (Fader & Hardie
        2013a; Fader, Hardie & Lee 2005b). "Profit" is the ``lifetimes``
        name: this is revenue unless ``monetary_value`` is a margin.

        Returns
        -------
        Series, ndarray or float
            Currency per purchase, named ``expected_average_value``; ``inf`` where
            ``p x + q <= 1`` (possible only when q <= 1).
        """
        _check_fitted(self, "conditional_expected_average_profit")
        arrs, idx, scalar = _prediction_inputs(
            "GammaGamma.conditional_expected_average_profit", frequency=frequency, monetary_value=monetary_value
        )
        p, q, v = self.params_.to_numpy(dtype=float)
        x, m = arrs
        m = np.where(x > 0, m, 0.0)
        den = p * x + q - 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(den > 0, p * (v + x * m) / den, np.inf)
        return _finish(out, idx, scalar, "expected_average_value")


# ----------------------------------------------------------------------------- CLV


def customer_lifetime_value(
    bgnbd: BetaGeo,
    gamma_gamma: GammaGamma,
    rfm: pd.DataFrame,
    *,
    horizon: int,
    discount_rate: float,
    time_unit: str,
    freq: str = "M",
    margin_rate: float = 1.0,
) -> pd.Series:
    """Discounted expected value of each account's future purchases (non-contractual).

    CLV_i = margin_rate * E[M_i] * sum_{k=1..horizon} (E[Y_i(k Delta)] - E[Y_i((k-1) Delta)]) / (1+d)^k

    where E[Y_i(t)] is eq. (10) of Fader, Hardie & Lee (2005a) (BG/NBD), E[M_i] the
    Gamma-Gamma conditional mean spend, Delta one ``freq`` period expressed in
    ``time_unit`` and d the ``discount_rate`` per ``freq`` period; purchases in
    period k are discounted at its end. This is the discrete analogue of the
    discounted expected transactions of Fader, Hardie & Lee (2005b). For the
    contractual closed forms (m r/(1+d-r) and variants) use
    :func:`kamtools.retention.retention_clv`.

    Parameters
    ----------
    bgnbd : BetaGeo
        Fitted on ``rfm`` (or on the same population) in ``time_unit``.
    gamma_gamma : GammaGamma
        Fitted spend model.
    rfm : DataFrame
        ``frequency, recency, T, monetary_value`` per account (from
        :func:`rfm_summary`), indexed by account.
    horizon : int
        Number of ``freq`` periods ahead (e.g. 36 months).
    discount_rate : float
        Discount rate per ``freq`` period (e.g. 0.01 per month), >= 0.
    time_unit : {"D", "W", "M"}
        Unit of recency and T in ``rfm`` and of the fitted ``bgnbd``: checked
        against ``rfm.attrs['time_unit']`` and ``bgnbd.time_unit_`` when known.
    freq : {"D", "W", "M"}, default "M"
        Length of one horizon/discounting period.
    margin_rate : float, default 1.0
        Share of spend that is margin (1.0: CLV in revenue terms).

    Returns
    -------
    Series
        Named ``clv`` (currency, present value at the end of the observation),
        indexed like ``rfm``.

    Raises
    ------
    ParameterError
        Bad horizon/rate/unit, or a time unit that disagrees with the data or model.

    References
    ----------
    Fader, Hardie & Lee (2005a) eq. (10); Fader, Hardie & Lee (2005b) (RFM and CLV);
    Fader & Hardie (2013a) (spend).
    """
    func = "customer_lifetime_value"
    if not isinstance(bgnbd, BetaGeo):
        raise _param_error("bgnbd", func, "a fitted BetaGeo", type(bgnbd).__name__)
    if not isinstance(gamma_gamma, GammaGamma):
        raise _param_error("gamma_gamma", func, "a fitted GammaGamma", type(gamma_gamma).__name__)
    _check_fitted(bgnbd, func)
    _check_fitted(gamma_gamma, func)
    _check_unit(time_unit, "time_unit", func)
    _check_unit(freq, "freq", func)
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise _param_error("horizon", func, "an int >= 1 (number of freq periods)", horizon)
    d = _check_nonneg_float(discount_rate, "discount_rate", func)
    mr = _check_nonneg_float(margin_rate, "margin_rate", func)
    if not isinstance(rfm, pd.DataFrame):
        raise _param_error("rfm", func, "a DataFrame from rfm_summary", type(rfm).__name__)
    missing = [c for c in ("frequency", "recency", "T", "monetary_value") if c not in rfm.columns]
    if missing:
        raise DataValidationError(f"{func}: rfm lacks column(s) {missing}; build it with rfm_summary.")
    carried = (("rfm (attrs['time_unit'])", rfm.attrs.get("time_unit")), ("bgnbd (time_unit_)", bgnbd.time_unit_))
    for what, unit in carried:
        if unit is not None and unit != time_unit:
            raise ParameterError(
                f"The 'time_unit' parameter of {func} must be the unit of {what}, {unit!r}. "
                f"Got {time_unit!r} instead: a forecast in the wrong unit is off by a factor of "
                f"{_UNIT_DAYS[unit] / _UNIT_DAYS[time_unit]:.4g}."
            )
    x = rfm["frequency"].to_numpy(dtype=float)
    tx = rfm["recency"].to_numpy(dtype=float)
    T = rfm["T"].to_numpy(dtype=float)
    spend = gamma_gamma.conditional_expected_average_profit(x, rfm["monetary_value"].to_numpy(dtype=float))
    step = _UNIT_DAYS[freq] / _UNIT_DAYS[time_unit]
    params = bgnbd._p()
    nudged = abs(params[2] - 1.0) < 1e-7  # a = 1: _bgnbd_conditional_expectation averages a = 1 -+ h
    p_alive = None if nudged else _bgnbd_p_alive(params, x, tx, T)  # constant over the horizon
    total = np.zeros(x.size)
    prev = np.zeros(x.size)
    for k in range(1, horizon + 1):  # loop over periods, vectorised over accounts
        if nudged:
            cum = _bgnbd_conditional_expectation(params, k * step, x, tx, T)
        else:  # as _bgnbd_conditional_expectation, with P(alive) computed once
            cum = np.maximum(_bgnbd_conditional_numerator(params, k * step, x, tx, T) * p_alive, 0.0)
        total += (cum - prev) / (1.0 + d) ** k
        prev = cum
    return pd.Series(mr * np.asarray(spend) * total, index=rfm.index, name="clv")


# ----------------------------------------------------------------------------- holdout


@dataclass(frozen=True)
class HoldoutValidation:
    """Calibration/holdout check of a BG/NBD model (see :func:`holdout_validation`).

    Attributes
    ----------
    model : BetaGeo
        Fitted on the calibration window.
    per_account : DataFrame
        Indexed by account: calibration ``frequency, recency, T``, holdout
        ``actual`` and ``predicted`` purchases and ``error = predicted - actual``.
    tracking : DataFrame
        One row per time unit since the cohort's first purchase: ``period_end``,
        ``time`` (time_unit since the first cohort purchase), ``actual``,
        ``expected`` (repeat purchases in the step), their cumulative sums
        ``actual_cumulative``, ``expected_cumulative``, and ``holdout`` (bool).
    mae, rmse : float
        Mean absolute and root mean squared error of the per-account holdout
        forecasts (purchases; lower is better).
    mean_error : float
        Mean of ``predicted - actual`` per account.
    aggregate_bias : float
        (sum predicted - sum actual) / sum actual over the holdout (fraction).
    total_actual, total_predicted : float
        Holdout repeat purchases, observed and forecast.
    calibration_end, observation_end, cohort_start : Timestamp
        Window ends and the cohort's first purchase day (time 0 of ``tracking``).
    time_unit : str
        Unit of the model and of the tracking step.
    holdout_duration : float
        Length of the holdout window in ``time_unit``.
    n_obs : int
        Accounts in the cohort.
    settings : dict
        ``penalizer`` and ``keep_zero_revenue_days`` used.
    """

    model: BetaGeo
    per_account: pd.DataFrame
    tracking: pd.DataFrame
    mae: float
    rmse: float
    mean_error: float
    aggregate_bias: float
    total_actual: float
    total_predicted: float
    calibration_end: pd.Timestamp
    observation_end: pd.Timestamp
    cohort_start: pd.Timestamp
    time_unit: str
    holdout_duration: float
    n_obs: int
    settings: dict = field(default_factory=dict)

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        """Tidy table: the BG/NBD parameters with intervals, then the holdout metrics.

        Returns
        -------
        DataFrame
            ``term, estimate, std_err, ci_lower, ci_upper``; metrics have NaN
            ``std_err`` and interval.
        """
        params = self.model.summary(alpha=alpha)
        metrics = pd.DataFrame(
            {
                "term": [
                    "mae", "rmse", "mean_error", "aggregate_bias",
                    "holdout_purchases_actual", "holdout_purchases_predicted",
                ],
                "estimate": [
                    self.mae, self.rmse, self.mean_error, self.aggregate_bias,
                    self.total_actual, self.total_predicted,
                ],
            }
        )
        for c in ("std_err", "ci_lower", "ci_upper"):
            metrics[c] = np.nan
        return pd.concat([params, metrics], ignore_index=True)

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Cumulative repeat purchases, actual against BG/NBD expectation.

        The cumulative tracking plot of Fader, Hardie & Lee (2005a); a dashed
        vertical line marks the end of calibration.

        Returns
        -------
        matplotlib.axes.Axes
        """
        if ax is None:
            import matplotlib.pyplot as plt  # lazy: analytic module, no pyplot at import

            _, ax = plt.subplots()
        tr = self.tracking
        ax.plot(tr["time"], tr["actual_cumulative"], label="Actual", **kwargs)
        ax.plot(tr["time"], tr["expected_cumulative"], linestyle="--", label="BG/NBD expected", **kwargs)
        cal_time = (self.calibration_end - self.cohort_start) / pd.Timedelta(days=_UNIT_DAYS[self.time_unit])
        ax.axvline(float(cal_time), color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel(f"Time since the cohort's first purchase ({_UNIT_NAMES[self.time_unit]})")
        ax.set_ylabel("Cumulative repeat purchases")
        ax.legend()
        return ax

    def _repr_html_(self) -> str:
        head = (
            f"<p><b>BG/NBD holdout validation</b>: {self.n_obs:,} accounts, calibration to "
            f"{self.calibration_end.date()}, holdout to {self.observation_end.date()} "
            f"({self.holdout_duration:.2f} {_UNIT_NAMES[self.time_unit]})</p>"
        )
        return head + self.summary().to_html(index=False, float_format=lambda v: f"{v:.4g}")


def holdout_validation(
    transactions: pd.DataFrame,
    *,
    calibration_end: Any,
    observation_end: Any,
    time_unit: str = "W",
    account: str = "account_id",
    date: str = "date",
    revenue: str = "revenue",
    penalizer: float = 0.0,
    keep_zero_revenue_days: bool = False,
) -> HoldoutValidation:
    """Fit BG/NBD on a calibration window and check its forecast of the next one.

    Accounts with a purchase up to ``calibration_end`` form the cohort; the model
    is fitted on their calibration (frequency, recency, T), and for each the
    expected purchases in ``(calibration_end, observation_end]`` (eq. 10 of Fader,
    Hardie & Lee 2005a) are compared with the observed ones. The aggregate
    tracking curve sums eq. (9), E[X(t - s_i)], over the cohort (s_i = first
    purchase), per time unit, as in the tracking plots of that paper.

    Parameters
    ----------
    transactions : DataFrame
        The ledger (see :func:`rfm_summary`).
    calibration_end, observation_end : date-like
        Ends (inclusive) of the calibration and holdout windows.
    time_unit : {"D", "W", "M"}, default "W"
        Unit for the model and the step of the tracking curve.
    account, date, revenue : str
        Column names.
    penalizer : float, default 0.0
        Passed to :class:`BetaGeo`.
    keep_zero_revenue_days : bool, default False
        See :func:`rfm_summary`.

    Returns
    -------
    HoldoutValidation
        Frozen result with ``.summary()``, ``.plot(ax=None)`` and the tables.
    """
    func = "holdout_validation"
    rfm, days, cohort, cal_end = _rfm_core(
        transactions,
        observation_end=observation_end,
        time_unit=time_unit,
        account=account,
        date=date,
        revenue=revenue,
        calibration_end=calibration_end,
        keep_zero_revenue_days=keep_zero_revenue_days,
        func=func,
    )
    if rfm.empty:
        raise DataValidationError(f"{func}: no account has a purchase up to calibration_end.")
    model = BetaGeo(penalizer=penalizer).fit(rfm)
    duration = float(rfm["duration_holdout"].iloc[0])
    pred = model.conditional_expected_number_of_purchases_up_to_time(
        duration, rfm["frequency"], rfm["recency"], rfm["T"]
    )
    actual = rfm["frequency_holdout"].astype(float)
    per = pd.DataFrame(
        {
            "frequency": rfm["frequency"],
            "recency": rfm["recency"],
            "T": rfm["T"],
            "actual": actual,
            "predicted": pred.to_numpy(),
        },
        index=rfm.index,
    )
    per["error"] = per["predicted"] - per["actual"]
    err = per["error"].to_numpy()
    total_actual = float(actual.sum())
    total_pred = float(per["predicted"].sum())

    # tracking curve over calendar time, step = one time unit, for the cohort's purchase days
    obs_end = rfm.attrs["observation_end"]
    rows = days.purchase & np.isin(days.acc, cohort)
    acc, day = days.acc[rows], days.day[rows]
    starts, _ = _runs(acc)
    first_off = day[starts].astype(float)  # each account's first purchase (its trial)
    repeat = np.ones(acc.size, dtype=bool)
    repeat[starts] = False
    shift = float(first_off.min())  # the cohort's first purchase day is time 0
    start = days.origin + pd.Timedelta(days=shift)
    first_off -= shift
    repeat_off = np.sort(day[repeat] - shift)
    unit_days = _UNIT_DAYS[time_unit]
    span = float((obs_end - start) / pd.Timedelta(days=1))
    n_steps = max(int(np.ceil(span / unit_days - 1e-9)), 1)
    grid = np.minimum(np.arange(1, n_steps + 1) * unit_days, span)  # days since cohort start
    actual_cum = np.searchsorted(repeat_off, grid, side="right").astype(float)
    s_u, s_n = np.unique(first_off, return_counts=True)
    age = np.clip((grid[None, :] - s_u[:, None]) / unit_days, 0.0, None)  # time units since each trial
    expected_cum = s_n @ _bgnbd_expected_new(model._p(), age)
    period_end = start + pd.to_timedelta(grid, unit="D")
    tracking = pd.DataFrame(
        {
            "period_end": period_end,
            "time": grid / unit_days,
            "actual": np.diff(actual_cum, prepend=0.0),
            "expected": np.diff(expected_cum, prepend=0.0),
            "actual_cumulative": actual_cum,
            "expected_cumulative": expected_cum,
            "holdout": (period_end > cal_end),
        }
    )
    return HoldoutValidation(
        model=model,
        per_account=per,
        tracking=tracking,
        mae=float(np.mean(np.abs(err))),
        rmse=float(np.sqrt(np.mean(err**2))),
        mean_error=float(np.mean(err)),
        aggregate_bias=(total_pred - total_actual) / total_actual if total_actual > 0 else float("nan"),
        total_actual=total_actual,
        total_predicted=total_pred,
        calibration_end=cal_end,
        observation_end=obs_end,
        cohort_start=start,
        time_unit=time_unit,
        holdout_duration=duration,
        n_obs=int(len(rfm)),
        settings={"penalizer": penalizer, "keep_zero_revenue_days": keep_zero_revenue_days},
    )
