"""Key account KPIs and the account health score (RAG bands, trends, early warning).

The ten KAM KPIs of issue 5 — customer lifetime value, referenceable customers,
satisfaction (CSAT, NPS), customer outcomes, customer interaction, organic growth
(GRR, NRR, repeat purchase), acquisition, upsell / cross-sell / renewal,
account-manager satisfaction and churn — as plain functions on tidy DataFrames,
plus :func:`kpi_table`, which computes them all per account, account manager,
segment and portfolio, per period and over trailing twelve months, as one long
table ``level, group, account_id, period, window, kpi, value, message``.

Conventions (named here once, repeated in each docstring):

* ``*_rate`` and ``*_share`` are fractions in [0, 1], never percent; ``nps`` is
  on −100…100; ``*_score`` is higher-is-better; ``*_value`` is currency;
  ``*_days`` are calendar days.
* A window of ``w`` periods "ending at" period ``p`` holds ``p`` and the
  ``w − 1`` periods before it. The trailing window of :func:`kpi_table` is one
  year of periods (12 months, 4 quarters, 52 weeks) and is labelled
  ``"trailing_12m"``; the single period is labelled ``"period"``.
* A KPI whose source table (or column) is absent is *not available*: the table
  says ``"not available: provide <table> with <columns>"`` and the value is
  NaN — never 0.

References
----------
Definitions and published values: ``shared/REFERENCES.md`` ("KPIs").
Reichheld, F. (2003). The one number you need to grow. *HBR* 81(12) — NPS.
Fader, P. & Hardie, B. (2012). Reconciling and clarifying CLV formulas —
retention-based CLV used by :func:`account_clv` through
:func:`kamtools.retention.retention_clv`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Real

import numpy as np
import pandas as pd

from kamtools.exceptions import DataValidationError, ParameterError

__all__ = [
    "nps",
    "nps_standard_error",
    "csat",
    "annualise_churn",
    "logo_churn",
    "revenue_bridge",
    "revenue_retention",
    "upsell_rate",
    "renewal_rate",
    "repeat_purchase_share",
    "cross_sell_rate",
    "referenceable_share",
    "outcomes_share",
    "interaction_summary",
    "acquisition_rate",
    "manager_satisfaction",
    "account_clv",
    "kpi_definitions",
    "kpi_availability",
    "kpi_table",
    "pivot_kpis",
    "NORMALISATION_PRESETS",
    "DEFAULT_HEALTH_RULES",
    "normalise_measures",
    "health_score",
    "accounts_turned_red",
    "early_warning_rate",
    "EarlyWarningResult",
    "KPI_FAMILIES",
    "KPI_LABELS",
    "BAND_COLORS",
    "analysis_period",
    "key_accounts",
    "portfolio_dashboard",
    "format_dashboard",
    "round_floats",
    "health_measures",
    "health_table",
    "turned_red_table",
    "manager_rollup",
    "KpiHealthReport",
    "kpi_health_report",
    "ClvOverview",
    "clv_overview",
    "plot_kpi_trend",
    "plot_health",
    "plot_band_counts",
    "plot_clv_distribution",
    "plot_p_alive",
]

PERIOD_WINDOW = "period"
TRAILING_WINDOW = "trailing_12m"
_WINDOWS = (PERIOD_WINDOW, TRAILING_WINDOW)
_PERIODS_PER_YEAR = {"M": 12, "Q": 4, "W": 52, "Y": 1, "D": 365}
_LEVEL_ORDER = ("account", "account_manager", "segment", "channel", "portfolio")
_NO_COLUMN = "\0"  # a column name no table has: "active" then falls back to revenue > 0

# status codes of an account in a period (see _churn_status)
_PROSPECT, _CUSTOMER, _LOST, _UNDETERMINED = 0, 1, 2, 3


# --------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------
def _must(func: str, name: str, rule: str, got) -> ParameterError:
    """The house wording for a bad parameter (scikit-learn style)."""
    return ParameterError(f"The {name!r} parameter of {func} must be {rule}. Got {got!r} instead.")


def _first_bad(values, mask, limit: int = 3) -> str:
    """'3 of 51,200 values are not (positions 17, 42, 105: 11.0, -1.0, 'x')'."""
    mask = np.asarray(mask, dtype=bool)
    pos = np.flatnonzero(mask)
    vals = np.asarray(values, dtype=object)[pos[:limit]]
    shown = ", ".join(str(int(p)) for p in pos[:limit])
    shown_vals = ", ".join(repr(v.item() if hasattr(v, "item") else v) for v in vals)
    return f"{len(pos):,} of {len(mask):,} values are not (positions {shown}: {shown_vals})"


def _require_columns(df, table: str, columns) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ParameterError(
            f"The {table!r} table must be a pandas DataFrame. Got {type(df).__name__} instead."
        )
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataValidationError(
            f"{table}: missing required column(s) {missing}; the table has {list(df.columns)}. "
            f"Rename the columns or pass the column names as keywords."
        )


def _check_scores(values, *, lo: float, hi: float, integer: bool):
    """Return (float array with NaN for missing, mask of bad entries)."""
    s = values if isinstance(values, pd.Series) else pd.Series(np.ravel(np.asarray(values, dtype=object)))
    raw = s.to_numpy(dtype=object)
    num = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
    missing = pd.isna(s).to_numpy()
    bad = ~missing & ~np.isfinite(num)
    ok = np.isfinite(num)
    bad |= ok & ((num < lo) | (num > hi))
    if integer:
        bad |= ok & (num != np.round(num))
    num = np.where(missing, np.nan, num)
    return num, bad, raw


def _scores_arg(values, func: str, *, lo, hi, integer, name: str = "scores") -> np.ndarray:
    num, bad, raw = _check_scores(values, lo=lo, hi=hi, integer=integer)
    if bad.any():
        kind = "integers" if integer else "numbers"
        raise _must(
            func, name, f"{kind} from {lo:g} to {hi:g} (NaN is ignored)", f"{_first_bad(raw, bad)}"
        )
    return num[np.isfinite(num)]


def _scores_column(df: pd.DataFrame, table: str, column: str, *, lo, hi, integer) -> np.ndarray:
    num, bad, raw = _check_scores(df[column], lo=lo, hi=hi, integer=integer)
    if bad.any():
        kind = "integers" if integer else "numbers"
        rows = df.index[bad][:3].tolist()
        raise DataValidationError(
            f"{table}: column {column!r} must hold {kind} from {lo:g} to {hi:g} or be empty; "
            f"{int(bad.sum()):,} of {len(df):,} rows are not (rows {', '.join(map(str, rows))}: "
            f"{', '.join(repr(v) for v in raw[bad][:3])})."
        )
    return num


def _int_param(value, func: str, name: str, *, minimum: int = 1, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        rule = f"an integer >= {minimum}" + (" or None" if allow_none else "")
        raise _must(func, name, rule, value)
    return int(value)


def _dates(series: pd.Series, table: str, column: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        return series
    try:
        return pd.to_datetime(series)
    except (ValueError, TypeError) as exc:
        raise DataValidationError(
            f"{table}: column {column!r} must hold dates; {exc}. Parse the dates first "
            f"(kamtools.io does) or pass ISO dates."
        ) from None


def _bools(series: pd.Series, table: str, column: str) -> np.ndarray:
    """True/False with missing read as False."""
    try:
        return series.astype("boolean").fillna(False).to_numpy(dtype=bool)
    except (ValueError, TypeError):
        raise DataValidationError(
            f"{table}: column {column!r} must hold true/false values (or 1/0, or be empty); "
            f"got values such as {series.dropna().unique()[:3].tolist()}."
        ) from None


def _timestamp(value, func: str, name: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        ts = pd.NaT
    if ts is pd.NaT or pd.isna(ts):
        raise _must(func, name, "a date (Timestamp or ISO string)", value)
    return ts


def _freq_param(freq, func: str) -> str:
    f = str(freq).upper() if isinstance(freq, str) else None
    if f == "A":
        f = "Y"
    if f not in _PERIODS_PER_YEAR:
        raise _must(func, "freq", f"one of {sorted(_PERIODS_PER_YEAR)}", freq)
    return f


# --------------------------------------------------------------------------------------
# NPS, CSAT, churn annualisation
# --------------------------------------------------------------------------------------
def _nps_parts(promoters, detractors, n):
    with np.errstate(invalid="ignore", divide="ignore"):
        pp = np.asarray(promoters, float) / n
        pdt = np.asarray(detractors, float) / n
        score = 100.0 * (pp - pdt)
        se = 100.0 * np.sqrt(np.maximum(pp + pdt - (pp - pdt) ** 2, 0.0) / n)
    return score, se


def nps(scores) -> float:
    """Net Promoter Score: share of promoters minus share of detractors, ×100.

    Parameters
    ----------
    scores : array-like of int
        Answers on the 0–10 "how likely are you to recommend" scale. NaN / None
        are ignored (no answer). Values outside 0–10 or non-integers (8.5) are
        refused: the scale is integer and 8.5 is neither passive nor promoter.

    Returns
    -------
    float
        NPS on −100…100 (promoters 9–10, passives 7–8, detractors 0–6);
        NaN when there is no answer.

    Raises
    ------
    ParameterError
        When a value is not an integer from 0 to 10; the message lists the first
        offending positions.

    References
    ----------
    Reichheld, F. (2003). The one number you need to grow. *Harvard Business
    Review* 81(12), 46–54. ``shared/REFERENCES.md`` (KPIs).

    Examples
    --------
    >>> nps([10] * 50 + [8] * 30 + [3] * 20)
    30.0
    """
    v = _scores_arg(scores, "nps", lo=0, hi=10, integer=True)
    if v.size == 0:
        return float("nan")
    score, _ = _nps_parts(np.sum(v >= 9), np.sum(v <= 6), v.size)
    return float(score)


def nps_standard_error(scores) -> float:
    """Standard error of the NPS, on the NPS scale (points).

    ``SE = 100·sqrt((pP + pD − (pP − pD)²) / n)`` — the variance of a
    score taking +1 (promoter), 0 (passive), −1 (detractor), over n.

    Parameters
    ----------
    scores : array-like of int
        0–10 answers, as for :func:`nps` (NaN ignored, others refused).

    Returns
    -------
    float
        Standard error in NPS points (≥ 0); NaN when there is no answer.

    References
    ----------
    ``shared/REFERENCES.md`` (KPIs): 50/30/20 of 100 → NPS 30, SE 7.81.

    Examples
    --------
    >>> round(nps_standard_error([10] * 50 + [8] * 30 + [3] * 20), 2)
    7.81
    """
    v = _scores_arg(scores, "nps_standard_error", lo=0, hi=10, integer=True)
    if v.size == 0:
        return float("nan")
    _, se = _nps_parts(np.sum(v >= 9), np.sum(v <= 6), v.size)
    return float(se)


def csat(scores, *, method: str = "top2box", scale: tuple[int, int] = (1, 5)) -> float:
    """Customer satisfaction: top-2-box share or mean rating — say which.

    Parameters
    ----------
    scores : array-like of int
        Ratings on ``scale`` (default 1–5); NaN ignored, others refused.
    method : {"top2box", "mean"}
        ``"top2box"``: share of ratings in the top two boxes (4 or 5 on 1–5), a
        fraction in [0, 1] (reported by :func:`kpi_table` as
        ``csat_top2box_share``). ``"mean"``: mean rating on the scale
        (``csat_mean_score``).
    scale : (int, int)
        Lowest and highest rating.

    Returns
    -------
    float
        The share (top2box) or the mean (mean); NaN when there is no answer.

    Examples
    --------
    >>> csat([5, 4, 3, 2, 1, 5])
    0.5
    >>> csat([5, 4, 3, 2, 1, 5], method="mean")
    3.3333333333333335
    """
    if method not in ("top2box", "mean"):
        raise _must("csat", "method", "'top2box' or 'mean'", method)
    lo, hi = _scale_param(scale, "csat")
    v = _scores_arg(scores, "csat", lo=lo, hi=hi, integer=True)
    if v.size == 0:
        return float("nan")
    return float(np.mean(v >= hi - 1)) if method == "top2box" else float(np.mean(v))


def _scale_param(scale, func):
    try:
        lo, hi = (int(scale[0]), int(scale[1]))
        ok = lo + 1 < hi and lo == scale[0] and hi == scale[1]
    except (TypeError, IndexError, ValueError):
        ok = False
    if not ok:
        raise _must(func, "scale", "a pair of integers (lowest, highest) at least 2 apart", scale)
    return lo, hi


def annualise_churn(rate, periods_per_year: float = 12):
    """Annualise a per-period churn rate: ``1 − (1 − c)^periods_per_year``.

    Never ``12·c``: churn compounds on a shrinking base (2 %/month is 21.53 %
    a year, not 24 %).

    Parameters
    ----------
    rate : float, array-like or Series
        Per-period churn rates, fractions in [0, 1] (NaN passes through).
    periods_per_year : float
        12 for monthly rates, 4 for quarterly, 52 for weekly.

    Returns
    -------
    float, ndarray or Series
        Annual churn rate(s), same shape (and index) as ``rate``.

    References
    ----------
    ``shared/REFERENCES.md`` (KPIs): 2 %/month → 21.53 %/year.

    Examples
    --------
    >>> round(annualise_churn(0.02), 4)
    0.2153
    """
    if (
        isinstance(periods_per_year, bool)
        or not isinstance(periods_per_year, Real)
        or not np.isfinite(periods_per_year)
        or periods_per_year <= 0
    ):
        raise _must("annualise_churn", "periods_per_year", "a positive number", periods_per_year)
    arr = np.asarray(rate, dtype=float)
    bad = np.isfinite(arr) & ((arr < 0) | (arr > 1)) | np.isinf(arr)
    if bad.any():
        raise _must(
            "annualise_churn", "rate", "a fraction in [0, 1] (NaN allowed)",
            _first_bad(arr.ravel(), bad.ravel()),
        )
    with np.errstate(divide="ignore"):
        out = -np.expm1(periods_per_year * np.log1p(-arr))
    if isinstance(rate, pd.Series):
        return pd.Series(out, index=rate.index, name=rate.name)
    if isinstance(rate, pd.DataFrame):
        return pd.DataFrame(out, index=rate.index, columns=rate.columns)
    if np.ndim(rate) == 0:
        return float(out)
    return out


# --------------------------------------------------------------------------------------
# panel machinery
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _PanelGrid:
    accounts: pd.Index
    periods: pd.DatetimeIndex
    revenue: np.ndarray  # (n, T), 0 where no row
    active: np.ndarray  # (n, T) bool
    margin: np.ndarray | None  # (n, T), NaN unknown, 0 where no row
    acc_codes: np.ndarray  # per panel row
    per_codes: np.ndarray  # per panel row


def _panel_grid(panel, *, account, period, revenue, active, margin=None, freq=None) -> _PanelGrid:
    """Account × period arrays of the panel.

    Without ``freq`` the periods are those present in the panel. With ``freq`` they are every ``freq``
    period start from the first to the last present: a period in which no account bought (a sparse
    ledger) is a column of zeros, so windows and "previous period" count calendar periods, not rows.
    """
    _require_columns(panel, "panel", [account, period, revenue])
    if panel.empty:
        raise DataValidationError("panel: the panel has no rows.")
    per = _dates(panel[period], "panel", period)
    acc_codes, accounts = pd.factorize(panel[account], sort=True)
    if freq is None:
        per_codes, periods = pd.factorize(per, sort=True)
    else:
        starts = per.dt.to_period(freq).dt.start_time
        off = per.notna().to_numpy() & (starts != per).to_numpy()
        if off.any():
            rows = panel.index[off][:3].tolist()
            firsts = [str(v.date()) for v in per[off][:3]]
            raise DataValidationError(
                f"panel: column {period!r} must hold {freq!r} period starts; {int(off.sum()):,} of "
                f"{len(panel):,} rows do not (rows {', '.join(map(str, rows))}: {firsts}). "
                f"Build the panel at freq={freq!r}."
            )
        periods = pd.period_range(per.min(), per.max(), freq=freq).start_time if per.notna().any() \
            else pd.DatetimeIndex([])
        per_codes = periods.get_indexer(per)
    bad = (acc_codes < 0) | (per_codes < 0)
    if bad.any():
        rows = panel.index[bad][:3].tolist()
        raise DataValidationError(
            f"panel: columns {account!r} and {period!r} must not be empty; "
            f"{int(bad.sum()):,} of {len(panel):,} rows are (rows {', '.join(map(str, rows))})."
        )
    n, T = len(accounts), len(periods)
    flat = acc_codes.astype(np.int64) * T + per_codes
    dup = pd.Series(flat).duplicated().to_numpy()
    if dup.any():
        rows = panel.index[dup][:3].tolist()
        raise DataValidationError(
            f"panel: must have one row per ({account}, {period}); {int(dup.sum()):,} rows repeat one "
            f"(rows {', '.join(map(str, rows))}). Build it with kamtools.panel.build_panel."
        )
    rev = pd.to_numeric(panel[revenue], errors="coerce").fillna(0.0).to_numpy(dtype=float)
    R = np.zeros((n, T))
    R[acc_codes, per_codes] = rev
    A = np.zeros((n, T), dtype=bool)
    if active in panel.columns:
        A[acc_codes, per_codes] = _bools(panel[active], "panel", active)
    else:  # a plain consultant panel: active means revenue > 0
        A[acc_codes, per_codes] = rev > 0
    M = None
    if margin is not None and margin in panel.columns:
        M = np.zeros((n, T))
        M[acc_codes, per_codes] = pd.to_numeric(panel[margin], errors="coerce").to_numpy(dtype=float)
    return _PanelGrid(pd.Index(accounts), pd.DatetimeIndex(periods), R, A, M, acc_codes, per_codes)


def _window_sum(X: np.ndarray, w: int) -> np.ndarray:
    """Sum over the w periods ending at each t (truncated at the first period)."""
    n, T = X.shape
    cs = np.concatenate([np.zeros((n, 1)), np.cumsum(X, axis=1)], axis=1)
    lo = np.maximum(np.arange(T) + 1 - w, 0)
    return cs[:, 1:] - cs[:, lo]


def _churn_status(A: np.ndarray, churn_gap: int | None) -> np.ndarray:
    """Status of every account in every period: prospect, customer, lost, undetermined.

    An account is a *customer* in the periods it is active and in inactive runs
    that end with renewed activity (a lapse) shorter than ``churn_gap``. It is
    *lost* from the first inactive period after its last activity when

    * ``churn_gap=None``: it is never active again in the panel;
    * ``churn_gap=k``: it stays inactive for k consecutive periods or more.

    With ``churn_gap=k``, an inactive run reaching the end of the panel shorter
    than k is *undetermined* (right-censored).
    """
    n, T = A.shape
    idx = np.arange(T)
    prev = np.maximum.accumulate(np.where(A, idx, -1), axis=1)
    nxt = np.minimum.accumulate(np.where(A, idx, T)[:, ::-1], axis=1)[:, ::-1]
    run = nxt - prev - 1
    to_end = nxt == T
    gap = ~A & (prev >= 0)
    status = np.full((n, T), _PROSPECT, dtype=np.int8)
    status[A] = _CUSTOMER
    if churn_gap is None:
        status[gap & to_end] = _LOST
        status[gap & ~to_end] = _CUSTOMER
    else:
        long_run = run >= churn_gap
        status[gap & long_run] = _LOST
        status[gap & ~long_run & to_end] = _UNDETERMINED
        status[gap & ~long_run & ~to_end] = _CUSTOMER
    return status


def _churn_arrays(status: np.ndarray, w: int):
    """Cohort at the start of the w-window ending at t, lost by t, undetermined at t."""
    n, T = status.shape
    coh = np.zeros((n, T), dtype=bool)
    lost = np.zeros((n, T), dtype=bool)
    und = np.zeros((n, T), dtype=bool)
    if T > w:
        before, now = status[:, :-w], status[:, w:]
        c = (before == _CUSTOMER) | (before == _UNDETERMINED)
        coh[:, w:] = c
        lost[:, w:] = c & (now == _LOST)
        und[:, w:] = c & (now == _UNDETERMINED)
    return coh, lost, und


def logo_churn(
    panel: pd.DataFrame,
    *,
    account: str = "account_id",
    period: str = "period",
    active: str = "active",
    revenue: str = "revenue",
    by: str | None = None,
    churn_gap: int | None = None,
) -> pd.Series:
    """Logo churn per period: accounts lost in the period ÷ customers at its start.

    Rule for *lost* (``churn_gap``):

    * ``None`` (default): an account is lost in the period after its last active
      period when it is never active again in the panel. Inactive stretches
      between two active periods are lapses, not churn. The last periods of the
      panel are right-censored: an account that merely skipped the final month
      counts as lost — pass ``churn_gap`` to avoid it.
    * ``k``: an account is lost in the first period of a run of at least ``k``
      inactive periods after activity (and can be won back later, as a new
      customer). When a run reaching the end of the panel is shorter than ``k``
      the outcome is not known yet and the period's rate is NaN.

    Customers at the start of period t are the accounts that were customers
    (active, or in a lapse) in period t−1; accounts whose first activity is in
    t (new accounts) are excluded. The first period has no start: NaN.

    Parameters
    ----------
    panel : DataFrame
        One row per account and period (``kamtools.panel.build_panel``), every
        period present. Uses ``active`` (bool); when that column is absent an
        account is active when ``revenue > 0``.
    account, period, active, revenue : str
        Column names.
    by : str, optional
        A panel column to group by (e.g. ``segment`` merged in), read in the
        period before churn.
    churn_gap : int, optional
        See the rule above.

    Returns
    -------
    Series
        ``logo_churn_rate`` per period (fraction in [0, 1]), indexed by period
        (and ``by``). Annualise monthly rates with :func:`annualise_churn`.

    References
    ----------
    ``shared/REFERENCES.md`` (KPIs): logo churn, new accounts excluded.

    Examples
    --------
    >>> p = pd.DataFrame({"account_id": list("aabb"), "period": pd.to_datetime(
    ...     ["2024-01-01", "2024-02-01"] * 2), "revenue": [1.0, 1.0, 1.0, 0.0]})
    >>> float(logo_churn(p).iloc[1])
    0.5
    """
    gap = _int_param(churn_gap, "logo_churn", "churn_gap", allow_none=True)
    grid = _panel_grid(panel, account=account, period=period, revenue=revenue, active=active)
    status = _churn_status(grid.active, gap)
    coh, lost, und = _churn_arrays(status, 1)
    if by is None:
        c, lo, u = coh.sum(0), lost.sum(0), und.sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where((c > 0) & (u == 0), lo / np.maximum(c, 1), np.nan)
        return pd.Series(rate, index=pd.DatetimeIndex(grid.periods, name=period), name="logo_churn_rate")
    _require_columns(panel, "panel", [by])
    labels = np.full(coh.shape, None, dtype=object)
    labels[grid.acc_codes, grid.per_codes] = panel[by].to_numpy(dtype=object)
    ai, ti = np.nonzero(coh)
    frame = pd.DataFrame(
        {
            period: grid.periods[ti],
            by: labels[ai, ti - 1],
            "lost": lost[ai, ti],
            "und": und[ai, ti],
            "n": 1,
        }
    )
    g = frame.groupby([period, by], sort=True)[["lost", "und", "n"]].sum()
    rate = np.where(g["und"] == 0, g["lost"] / g["n"], np.nan)
    full = pd.MultiIndex.from_product([pd.DatetimeIndex(grid.periods, name=period), g.index.levels[1]])
    return pd.Series(rate, index=g.index, name="logo_churn_rate").reindex(full)


def _period_position(grid: _PanelGrid, value, func: str, name: str) -> int:
    ts = _timestamp(value, func, name)
    pos = grid.periods.get_indexer([ts])[0]
    if pos < 0:
        raise _must(
            func, name,
            f"one of the panel's periods ({grid.periods[0].date()} … {grid.periods[-1].date()}, "
            f"period starts)", str(value),
        )
    return int(pos)


def _two_windows(panel, start, end, window, func, *, account, period, revenue, active):
    w = _int_param(window, func, "window")
    grid = _panel_grid(panel, account=account, period=period, revenue=revenue, active=active)
    sp = _period_position(grid, start, func, "start")
    ep = _period_position(grid, end, func, "end")
    if ep <= sp:
        raise _must(func, "end", f"a period after start ({grid.periods[sp].date()})", str(end))
    if sp - w + 1 < 0:
        raise _must(
            func, "window",
            f"at most {sp + 1} (the panel has {sp + 1} periods up to start {grid.periods[sp].date()})", w,
        )
    return grid, sp, ep, w


def revenue_bridge(
    panel: pd.DataFrame,
    *,
    start,
    end,
    window: int = 12,
    account: str = "account_id",
    period: str = "period",
    revenue: str = "revenue",
) -> pd.Series:
    """Revenue bridge of the cohort active at ``start``: churn, contraction, expansion.

    The cohort is the accounts with revenue > 0 in the ``window`` periods ending
    at ``start`` (new logos after ``start`` are excluded). Each cohort account's
    revenue in the window ending at ``end`` (negative totals read as 0) is
    compared with its revenue in the start window: 0 → churn (its whole start
    revenue), below → contraction, above → expansion.

    Parameters
    ----------
    panel : DataFrame
        Account × period panel with ``revenue``.
    start, end : date
        Period starts present in the panel, ``end`` after ``start``.
    window : int
        Periods per window: 12 (default) compares trailing twelve months on a
        monthly panel (use 4 on a quarterly panel); 1 compares single periods.
    account, period, revenue : str
        Column names.

    Returns
    -------
    Series
        ``n_accounts``, ``start_value``, ``churn_value``, ``contraction_value``,
        ``expansion_value``, ``end_value`` (currency), ``grr`` and ``nrr``
        (fractions; see :func:`revenue_retention`).
    """
    grid, sp, ep, w = _two_windows(
        panel, start, end, window, "revenue_bridge",
        account=account, period=period, revenue=revenue, active=_NO_COLUMN,
    )
    s = grid.revenue[:, sp - w + 1 : sp + 1].sum(axis=1)
    e = np.maximum(grid.revenue[:, ep - w + 1 : ep + 1].sum(axis=1), 0.0)
    coh = s > 0
    s, e = s[coh], e[coh]
    start_value = s.sum()
    churn = s[e == 0].sum()
    contraction = (s - e)[(e > 0) & (e < s)].sum()
    expansion = (e - s)[e > s].sum()
    grr = np.minimum(e, s).sum() / start_value if start_value > 0 else np.nan
    nrr = e.sum() / start_value if start_value > 0 else np.nan
    return pd.Series(
        {
            "n_accounts": float(coh.sum()),
            "start_value": start_value,
            "churn_value": churn,
            "contraction_value": contraction,
            "expansion_value": expansion,
            "end_value": e.sum(),
            "grr": min(grr, 1.0) if start_value > 0 else np.nan,
            "nrr": nrr,
        },
        name="revenue_bridge",
    )


def revenue_retention(
    panel: pd.DataFrame,
    *,
    start,
    end,
    window: int = 12,
    account: str = "account_id",
    period: str = "period",
    revenue: str = "revenue",
) -> tuple[float, float]:
    """Gross and net revenue retention of the cohort active at ``start``.

    ``GRR = (start − churn − contraction) / start``, capped at 1;
    ``NRR = (start − churn − contraction + expansion) / start``, where *start*
    is the cohort's revenue in the ``window`` periods ending at ``start`` and
    the movements compare each cohort account's revenue in the window ending at
    ``end`` (see :func:`revenue_bridge`). Fixed starting cohort: accounts won
    after ``start`` do not count. The default compares trailing twelve months
    (``window=12`` on a monthly panel); ``window=1`` compares single periods.

    Returns
    -------
    (float, float)
        ``(grr, nrr)`` as fractions (NRR can exceed 1).

    Raises
    ------
    DataValidationError
        When no account has revenue > 0 in the start window.

    References
    ----------
    ``shared/REFERENCES.md`` (KPIs): 1,000k; −50k churn; −30k contraction;
    +150k expansion → GRR 0.92, NRR 1.07.

    Examples
    --------
    >>> p = pd.DataFrame({"account_id": list("aabb"), "period": pd.to_datetime(
    ...     ["2024-01-01", "2024-02-01"] * 2), "revenue": [100.0, 130.0, 100.0, 50.0]})
    >>> revenue_retention(p, start="2024-01-01", end="2024-02-01", window=1)
    (0.75, 0.9)
    """
    b = revenue_bridge(panel, start=start, end=end, window=window, account=account,
                       period=period, revenue=revenue)
    if b["n_accounts"] == 0:
        raise DataValidationError(
            f"panel: no account has {revenue!r} > 0 in the {window} period(s) ending at {start}; "
            f"choose another start."
        )
    return float(b["grr"]), float(b["nrr"])


def upsell_rate(
    panel: pd.DataFrame,
    *,
    start,
    end,
    window: int = 12,
    min_growth: float = 0.0,
    account: str = "account_id",
    period: str = "period",
    revenue: str = "revenue",
) -> float:
    """Upsell rate: accounts that expanded ÷ accounts active at ``start``.

    Cohort as in :func:`revenue_retention` (revenue > 0 in the ``window``
    periods ending at ``start``); an account *expanded* when its revenue in the
    window ending at ``end`` exceeds its start revenue by more than
    ``min_growth`` (a fraction: 0.05 = more than 5 % up; 0 = any increase).
    There is no single standard (``shared/REFERENCES.md``): this is the kit's.

    Returns
    -------
    float
        Fraction in [0, 1]; NaN when the cohort is empty.
    """
    if not isinstance(min_growth, Real) or not np.isfinite(min_growth) or min_growth < 0:
        raise _must("upsell_rate", "min_growth", "a non-negative number", min_growth)
    grid, sp, ep, w = _two_windows(panel, start, end, window, "upsell_rate", account=account,
                                   period=period, revenue=revenue, active=_NO_COLUMN)
    s = grid.revenue[:, sp - w + 1 : sp + 1].sum(axis=1)
    e = grid.revenue[:, ep - w + 1 : ep + 1].sum(axis=1)
    coh = s > 0
    return float(np.mean(e[coh] > s[coh] * (1 + min_growth))) if coh.any() else float("nan")


def renewal_rate(
    panel: pd.DataFrame,
    *,
    start,
    end,
    window: int = 12,
    account: str = "account_id",
    period: str = "period",
    active: str = "active",
    revenue: str = "revenue",
) -> float:
    """Renewal rate, panel proxy: accounts active again ÷ accounts up for renewal.

    Without a contract table (not in the data contract) the kit reads renewal
    from activity: accounts *up for renewal* are those active in the ``window``
    periods ending at ``start``; they *renewed* when active again in the window
    ending at ``end``. With ``window=12``, ``end = start + 12``: the share of
    last year's buyers who bought this year. (A contract table would give
    renewed ÷ contracts up for renewal; ``shared/REFERENCES.md``.)

    Returns
    -------
    float
        Fraction in [0, 1]; NaN when nobody was up for renewal.
    """
    grid, sp, ep, w = _two_windows(panel, start, end, window, "renewal_rate", account=account,
                                   period=period, revenue=revenue, active=active)
    prev = grid.active[:, sp - w + 1 : sp + 1].any(axis=1)
    cur = grid.active[:, ep - w + 1 : ep + 1].any(axis=1)
    return float(np.mean(cur[prev])) if prev.any() else float("nan")


def repeat_purchase_share(
    panel: pd.DataFrame,
    *,
    end,
    window: int = 12,
    account: str = "account_id",
    period: str = "period",
    active: str = "active",
    revenue: str = "revenue",
) -> float:
    """Repeat-purchase share: this window's buyers who also bought in the previous one.

    Of the accounts active in the ``window`` periods ending at ``end``, the
    share that were also active in the ``window`` periods before (a measure of
    organic, existing-base business; its complement is the share of new or
    won-back buyers). Needs ``2·window`` periods up to ``end``.

    Returns
    -------
    float
        Fraction in [0, 1]; NaN when nobody was active.
    """
    w = _int_param(window, "repeat_purchase_share", "window")
    grid = _panel_grid(panel, account=account, period=period, revenue=revenue, active=active)
    ep = _period_position(grid, end, "repeat_purchase_share", "end")
    if ep - 2 * w + 1 < 0:
        raise _must(
            "repeat_purchase_share", "window",
            f"at most {(ep + 1) // 2} (two windows must fit in the {ep + 1} periods up to end)", w,
        )
    cur = grid.active[:, ep - w + 1 : ep + 1].any(axis=1)
    prev = grid.active[:, ep - 2 * w + 1 : ep - w + 1].any(axis=1)
    return float(np.mean(prev[cur])) if cur.any() else float("nan")


def cross_sell_rate(
    transactions: pd.DataFrame,
    *,
    start,
    end,
    account: str = "account_id",
    date: str = "date",
    revenue: str = "revenue",
    product: str = "product",
) -> float:
    """Cross-sell rate: existing accounts buying a new product line ÷ existing accounts active.

    In the window ``[start, end)``: among accounts that bought before ``start``
    (existing) and bought in the window (active), the share that bought a
    ``product`` they had never bought before ``start``. Purchases are rows with
    ``revenue > 0`` (credit notes do not count).

    Returns
    -------
    float
        Fraction in [0, 1]; NaN when no existing account was active.
    """
    _require_columns(transactions, "transactions", [account, date, revenue, product])
    t0 = _timestamp(start, "cross_sell_rate", "start")
    t1 = _timestamp(end, "cross_sell_rate", "end")
    if t1 <= t0:
        raise _must("cross_sell_rate", "end", f"a date after start ({t0.date()})", str(end))
    tx = transactions.loc[pd.to_numeric(transactions[revenue], errors="coerce") > 0]
    d = _dates(tx[date], "transactions", date)
    tx = tx.assign(_d=d)[lambda f: f["_d"] < t1]
    first_acc = tx.groupby(account)["_d"].min()
    first_pair = tx.groupby([account, product])["_d"].min().reset_index()
    in_win = tx.loc[tx["_d"] >= t0, account].unique()
    existing = first_acc.index[first_acc < t0]
    base = pd.Index(in_win).intersection(existing)
    if len(base) == 0:
        return float("nan")
    new_pairs = first_pair.loc[(first_pair["_d"] >= t0), account].unique()
    return float(base.isin(new_pairs).mean())


# --------------------------------------------------------------------------------------
# event-table KPIs
# --------------------------------------------------------------------------------------
def referenceable_share(
    surveys: pd.DataFrame,
    *,
    as_of,
    months: int = 12,
    accounts=None,
    account: str = "account_id",
    date: str = "date",
    referenceable: str = "referenceable",
) -> float:
    """Share of accounts that agreed to be a reference in the last ``months`` months.

    An account counts as referenceable when at least one answer in
    ``(as_of − months, as_of]`` says so. The base is the accounts with an
    answer in that window, or ``accounts`` (the ids of the base, e.g. the key
    accounts) when given — then accounts never asked count as not referenceable.

    Returns
    -------
    float
        Fraction in [0, 1]; NaN when the base is empty.
    """
    _require_columns(surveys, "surveys", [account, date, referenceable])
    m = _int_param(months, "referenceable_share", "months")
    t1 = _timestamp(as_of, "referenceable_share", "as_of")
    t0 = t1 - pd.DateOffset(months=m)
    d = _dates(surveys[date], "surveys", date)
    answered = surveys[referenceable].notna().to_numpy()
    win = ((d > t0) & (d <= t1)).to_numpy() & answered
    yes = _bools(surveys[referenceable], "surveys", referenceable) & win
    agreed = pd.Index(surveys.loc[yes, account].unique())
    base = pd.Index(surveys.loc[win, account].unique()) if accounts is None else pd.Index(accounts).unique()
    if len(base) == 0:
        return float("nan")
    return float(base.isin(agreed).mean())


def outcomes_share(
    outcomes: pd.DataFrame,
    *,
    as_of,
    start=None,
    account: str = "account_id",
    target_date: str = "target_date",
    achieved: str = "achieved",
) -> float:
    """Customer outcomes: share of agreed goals met, among goals already due.

    A goal is *due* when its ``target_date`` is on or before ``as_of`` (and
    after ``start`` when given); goals without a target date are not counted.
    A due goal with ``achieved`` missing counts as not met.

    Returns
    -------
    float
        Fraction in [0, 1]; NaN when no goal is due.
    """
    _require_columns(outcomes, "outcomes", [account, target_date, achieved])
    t1 = _timestamp(as_of, "outcomes_share", "as_of")
    d = _dates(outcomes[target_date], "outcomes", target_date)
    due = (d <= t1).to_numpy()
    if start is not None:
        due = due & (d > _timestamp(start, "outcomes_share", "start")).to_numpy()
    if not due.any():
        return float("nan")
    met = _bools(outcomes[achieved], "outcomes", achieved)
    return float(met[due].mean())


def _longest_gaps(days: np.ndarray, codes: np.ndarray, n: int, first: int, last: int) -> np.ndarray:
    """Longest run of days without a touch in [first, last] per key.

    ``days`` (days since epoch, all in [first, last]) and ``codes`` (key of each
    touch, 0 … n − 1) in any order. A key's longest gap is the largest of the
    days before its first touch, after its last touch and between consecutive
    touches; a key never touched gets the window's length. Numpy on the touches
    sorted by (key, day): segment starts and ``np.maximum.reduceat``.
    """
    out = np.full(n, float(last - first + 1))
    if days.size == 0:
        return out
    days = np.asarray(days, dtype=np.int64)
    codes = np.asarray(codes, dtype=np.int64)
    o = np.lexsort((days, codes))
    k, d = codes[o], days[o]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    ends = np.r_[starts[1:], k.size] - 1
    inner = np.empty(k.size, dtype=np.int64)
    inner[0] = -1
    inner[1:] = d[1:] - d[:-1] - 1
    inner[starts] = -1  # no gap before a key's first touch (counted from `first` below)
    longest = np.maximum(np.maximum(d[starts] - first, last - d[ends]), np.maximum.reduceat(inner, starts))
    out[k[starts]] = longest.astype(float)
    return out


def interaction_summary(
    interactions: pd.DataFrame,
    *,
    start,
    end,
    freq: str = "M",
    cadence: Mapping | None = None,
    tiers: pd.Series | None = None,
    accounts=None,
    account: str = "account_id",
    date: str = "date",
) -> pd.DataFrame:
    """Customer interaction per account: contacts against cadence, recency, longest gap.

    Over the days ``start`` … ``end`` (inclusive):

    * ``contacts``: touchpoints; ``periods``: number of ``freq`` periods the
      window touches; ``contacts_per_period`` = contacts ÷ periods;
    * ``cadence_target`` (contacts per period for the account's tier, from
      ``cadence``) and ``cadence_attainment`` = contacts_per_period ÷ target
      (1 = on cadence; can exceed 1);
    * ``days_since_last_touch``: days from the last touch on or before ``end``
      to ``end`` (NaN when never touched);
    * ``longest_gap_days``: the longest run of consecutive days in the window
      without a touch (a window with no touch is its full length).

    Parameters
    ----------
    interactions : DataFrame
        Touchpoints with ``account`` and ``date``.
    cadence : mapping, optional
        Tier → contacts per period, e.g. ``{"strategic": 4, "key": 2}``.
    tiers : Series, optional
        Tier of each account (indexed by account id), e.g.
        ``accounts.set_index("account_id")["segment"]``.
    accounts : array-like, optional
        The accounts to report (default: those in ``tiers`` and in the
        interactions); accounts never touched get 0 contacts.

    Returns
    -------
    DataFrame
        Indexed by account, the columns above.
    """
    _require_columns(interactions, "interactions", [account, date])
    f = _freq_param(freq, "interaction_summary")
    t0 = _timestamp(start, "interaction_summary", "start").normalize()
    t1 = _timestamp(end, "interaction_summary", "end").normalize()
    if t1 < t0:
        raise _must("interaction_summary", "end", f"a date on or after start ({t0.date()})", str(end))
    d = _dates(interactions[date], "interactions", date).dt.normalize()
    if accounts is None:
        ids = pd.Index(interactions[account].dropna().unique())
        if tiers is not None:
            ids = ids.union(pd.Index(tiers.index))
    else:
        ids = pd.Index(accounts).unique()
    ids = ids.sort_values()
    codes = ids.get_indexer(interactions[account])
    upto = (codes >= 0) & (d <= t1).to_numpy()
    inwin = upto & (d >= t0).to_numpy()
    n_per = len(pd.period_range(t0, t1, freq=f))
    contacts = np.bincount(codes[inwin], minlength=len(ids)).astype(float)
    out = pd.DataFrame(index=pd.Index(ids, name=account))
    out["contacts"] = contacts
    out["periods"] = float(n_per)
    out["contacts_per_period"] = contacts / n_per
    target = np.full(len(ids), np.nan)
    if cadence is not None:
        if tiers is None:
            raise _must("interaction_summary", "tiers", "a Series of tiers by account when cadence is given", None)
        target = pd.Series(tiers).reindex(ids).map(dict(cadence)).to_numpy(dtype=float)
    out["cadence_target"] = target
    with np.errstate(invalid="ignore", divide="ignore"):
        out["cadence_attainment"] = np.where(target > 0, contacts / n_per / target, np.nan)
    dd = _epoch_days(d)
    last = pd.Series(dd[upto]).groupby(codes[upto]).max()
    dsl = np.full(len(ids), np.nan)
    end_day = _day(t1)
    start_day = _day(t0)
    dsl[last.index.to_numpy()] = end_day - last.to_numpy()
    out["days_since_last_touch"] = dsl
    out["longest_gap_days"] = _longest_gaps(dd[inwin], codes[inwin], len(ids), start_day, end_day)
    return out


def acquisition_rate(
    prospects: pd.DataFrame,
    *,
    start=None,
    end=None,
    as_of=None,
    by: str | None = "channel",
    first_contact: str = "first_contact",
    converted: str = "converted",
) -> pd.Series | float:
    """Acquisition rate: prospects converted ÷ prospects contacted (by channel).

    The cohort is the prospects first contacted in ``[start, end)`` (all when
    not given). ``converted`` holds the conversion date (empty = not converted)
    or a true/false flag; with dates, only conversions on or before ``as_of``
    count (recent cohorts have had less time to convert — compare like with
    like).

    Returns
    -------
    Series or float
        ``acquisition_rate`` (fraction in [0, 1]) indexed by ``by``; a float
        when ``by=None``.
    """
    cols = [first_contact, converted] + ([by] if by is not None else [])
    _require_columns(prospects, "prospects", cols)
    d = _dates(prospects[first_contact], "prospects", first_contact)
    keep = d.notna().to_numpy()
    if start is not None:
        keep = keep & (d >= _timestamp(start, "acquisition_rate", "start")).to_numpy()
    if end is not None:
        keep = keep & (d < _timestamp(end, "acquisition_rate", "end")).to_numpy()
    conv = _converted(prospects[converted], as_of, "acquisition_rate")
    frame = pd.DataFrame({"conv": conv[keep]})
    if by is None:
        return float(frame["conv"].mean()) if len(frame) else float("nan")
    frame[by] = prospects[by].to_numpy()[keep]
    return frame.groupby(by)["conv"].mean().rename("acquisition_rate")


def _converted(col: pd.Series, as_of, func: str) -> np.ndarray:
    """Conversion flag from a date column (empty = not converted) or a true/false column."""
    if not pd.api.types.is_datetime64_any_dtype(col):
        values = col.dropna()
        if pd.api.types.is_bool_dtype(col) or values.isin([True, False, 0, 1]).all():
            return _bools(col, "prospects", "converted")
    d = _dates(col, "prospects", "converted")
    conv = d.notna().to_numpy()
    if as_of is not None:
        conv = conv & (d <= _timestamp(as_of, func, "as_of")).to_numpy()
    return conv


def manager_satisfaction(
    manager_surveys: pd.DataFrame,
    *,
    start=None,
    end=None,
    manager: str = "account_manager",
    date: str = "date",
    satisfaction: str = "satisfaction",
) -> pd.Series:
    """Account-manager satisfaction: mean rating (1–5) per manager in ``[start, end)``.

    Returns
    -------
    Series
        ``manager_satisfaction_score`` (mean on 1–5, higher is better) indexed
        by manager.
    """
    _require_columns(manager_surveys, "manager_surveys", [manager, date, satisfaction])
    v = _scores_column(manager_surveys, "manager_surveys", satisfaction, lo=1, hi=5, integer=False)
    d = _dates(manager_surveys[date], "manager_surveys", date)
    keep = np.isfinite(v)
    if start is not None:
        keep = keep & (d >= _timestamp(start, "manager_satisfaction", "start")).to_numpy()
    if end is not None:
        keep = keep & (d < _timestamp(end, "manager_satisfaction", "end")).to_numpy()
    frame = pd.DataFrame({manager: manager_surveys[manager].to_numpy()[keep], "v": v[keep]})
    return frame.groupby(manager)["v"].mean().rename("manager_satisfaction_score")


def account_clv(
    panel: pd.DataFrame,
    *,
    retention,
    discount_rate: float = 0.10,
    as_of=None,
    window: int = 12,
    growth: float = 0.0,
    acquisition_cost: float = 0.0,
    horizon: int | None = None,
    timing: str = "next",
    account: str = "account_id",
    period: str = "period",
    revenue: str = "revenue",
    margin: str = "gross_margin",
) -> pd.Series:
    """Retention-based CLV per account from its trailing margin.

    The margin per year is the account's ``margin`` over the ``window`` periods
    ending at ``as_of`` (default: the last period; ``window=12`` is one year on
    a monthly panel); with an annual ``retention`` and ``discount_rate`` it goes
    through :func:`kamtools.retention.retention_clv` (timing convention
    ``"next"``: m·r/(1+d−r), first margin next year; Fader & Hardie 2012).
    Only accounts with revenue > 0 in the window (current customers) get a
    value; accounts whose margin in the window is unknown get NaN.

    Parameters
    ----------
    retention : float or Series
        Annual retention probability, one for all or per account (indexed by
        account id).

    Returns
    -------
    Series
        ``clv_value`` (currency) indexed by account.

    References
    ----------
    Gupta, S. & Lehmann, D. (2003). Customers as assets. *J. Interactive
    Marketing* 17(1). Fader, P. & Hardie, B. (2012). Reconciling and clarifying
    CLV formulas.
    """
    from kamtools.retention import retention_clv  # lazy: written alongside this module

    w = _int_param(window, "account_clv", "window")
    _require_columns(panel, "panel", [account, period, revenue, margin])
    grid = _panel_grid(panel, account=account, period=period, revenue=revenue, active=_NO_COLUMN,
                       margin=margin)
    ep = len(grid.periods) - 1 if as_of is None else _period_position(grid, as_of, "account_clv", "as_of")
    if ep - w + 1 < 0:
        raise _must("account_clv", "window", f"at most {ep + 1} (periods up to as_of)", w)
    rev = grid.revenue[:, ep - w + 1 : ep + 1].sum(axis=1)
    mar = grid.margin[:, ep - w + 1 : ep + 1].sum(axis=1)  # NaN propagates: unknown margin
    current = rev > 0
    ids = grid.accounts[current]
    if isinstance(retention, pd.Series):
        r = retention.reindex(ids).to_numpy(dtype=float)
    else:
        r = np.full(len(ids), float(retention))
    m = mar[current]
    ok = np.isfinite(m) & np.isfinite(r)
    values = np.full(len(ids), np.nan)
    if ok.any():
        values[ok] = np.asarray(
            retention_clv(m[ok], r[ok], discount_rate, growth=growth, acquisition_cost=acquisition_cost,
                          horizon=horizon, timing=timing),
            dtype=float,
        )
    return pd.Series(values, index=pd.Index(ids, name=account), name="clv_value")


# --------------------------------------------------------------------------------------
# KPI registry, availability
# --------------------------------------------------------------------------------------
# kpi -> (table, required columns, unit, formula)
_REGISTRY: dict[str, tuple[str, tuple[str, ...], str, str]] = {
    "logo_churn_rate": ("transactions", ("account_id", "date", "revenue"), "fraction, lower is better",
                        "customers at the window's start that are lost by its end ÷ customers at its start"),
    "logo_churn_annualised_rate": ("transactions", ("account_id", "date", "revenue"),
                                   "fraction per year, lower is better",
                                   "1 − (1 − monthly logo churn)^12 (period window only)"),
    "grr": ("transactions", ("account_id", "date", "revenue"), "fraction (≤ 1)",
            "(start − churn − contraction) ÷ start revenue of the cohort active in the previous window"),
    "nrr": ("transactions", ("account_id", "date", "revenue"), "fraction",
            "(start − churn − contraction + expansion) ÷ start revenue"),
    "revenue_churn_rate": ("transactions", ("account_id", "date", "revenue"), "fraction, lower is better",
                           "(churn + contraction) ÷ start revenue = 1 − GRR"),
    "upsell_rate": ("transactions", ("account_id", "date", "revenue"), "fraction",
                    "cohort accounts whose revenue grew vs the previous window ÷ cohort"),
    "renewal_rate": ("transactions", ("account_id", "date", "revenue"), "fraction",
                     "accounts active in the previous window and active again ÷ active in the previous window"),
    "repeat_purchase_share": ("transactions", ("account_id", "date", "revenue"), "fraction",
                              "accounts active in this window that were active in the previous ÷ active now"),
    "cross_sell_rate": ("transactions", ("account_id", "date", "revenue", "product"), "fraction",
                        "existing accounts buying a product line new to them ÷ existing accounts active"),
    "nps": ("surveys", ("account_id", "date", "nps"), "points −100…100",
            "% promoters (9–10) − % detractors (0–6)"),
    "nps_standard_error": ("surveys", ("account_id", "date", "nps"), "points",
                           "100·sqrt((pP + pD − (pP − pD)²) / n)"),
    "nps_responses": ("surveys", ("account_id", "date", "nps"), "count", "answers with an NPS score"),
    "csat_top2box_share": ("surveys", ("account_id", "date", "csat"), "fraction",
                           "answers rating 4 or 5 (of 1–5) ÷ answers"),
    "csat_mean_score": ("surveys", ("account_id", "date", "csat"), "rating 1–5", "mean rating"),
    "csat_responses": ("surveys", ("account_id", "date", "csat"), "count", "answers with a CSAT rating"),
    "referenceable_share": ("surveys", ("account_id", "date", "referenceable"), "fraction",
                            "accounts agreeing to be a reference ÷ accounts asked, in the window"),
    "outcomes_share": ("outcomes", ("account_id", "goal", "target_date", "achieved"), "fraction",
                       "goals due in the window that were met ÷ goals due"),
    "contacts_per_period": ("interactions", ("account_id", "date"), "contacts per account per period",
                            "touchpoints ÷ (accounts × periods)"),
    "cadence_attainment": ("interactions", ("account_id", "date"), "ratio (1 = on cadence)",
                           "touchpoints ÷ (cadence for the tier × periods)"),
    "days_since_last_touch": ("interactions", ("account_id", "date"), "days, lower is better",
                              "days from the last touch to the period end (mean over accounts)"),
    "longest_gap_days": ("interactions", ("account_id", "date"), "days, lower is better",
                         "longest run of days without a touch in the window (mean over accounts)"),
    "acquisition_rate": ("prospects", ("prospect_id", "first_contact", "converted"), "fraction",
                         "prospects first contacted in the window that converted ÷ prospects contacted"),
    "manager_satisfaction_score": ("manager_surveys", ("account_manager", "date", "satisfaction"),
                                   "rating 1–5", "mean satisfaction rating"),
    "clv_value": ("transactions", ("account_id", "date", "revenue", "gross_margin"), "currency",
                  "m·r/(1+d−r) on the trailing-year margin (sum over accounts at higher levels)"),
}


_KPI_NAMES = list(_REGISTRY)


def kpi_definitions() -> pd.DataFrame:
    """The KPIs :func:`kpi_table` reports: source table, columns, unit, formula.

    Returns
    -------
    DataFrame
        One row per KPI: ``kpi, table, columns, unit, formula``, then
        ``family`` (1–10, the KAM KPI it belongs to, :data:`KPI_FAMILIES`; NA
        for counts such as ``nps_responses``) and ``label`` (its reader-facing
        name) — for the workshop explanations in the notebook.
    """
    family = {k: n for n, _, k in KPI_FAMILIES}
    rows = [
        {"kpi": k, "table": t, "columns": ", ".join(c), "unit": u, "formula": f,
         "family": family.get(k), "label": KPI_LABELS.get(k, k)}
        for k, (t, c, u, f) in _REGISTRY.items()
    ]
    out = pd.DataFrame(rows)
    out["family"] = out["family"].astype("Int64")
    return out


def _tables(dataset, func: str) -> dict[str, pd.DataFrame]:
    tables = getattr(dataset, "tables", dataset)
    if not isinstance(tables, Mapping):
        raise _must(func, "dataset", "a Dataset (with .tables) or a mapping of table name -> DataFrame",
                    type(dataset).__name__)
    return {k: v for k, v in tables.items() if isinstance(v, pd.DataFrame)}


def _has(tables, table: str, columns, cache: dict | None = None) -> bool:
    """Table present with every column present and not entirely empty (``cache``: (table, column) -> bool)."""
    df = tables.get(table)
    if df is None:
        return False
    cache = {} if cache is None else cache
    for c in columns:
        if (table, c) not in cache:
            cache[(table, c)] = bool(c in df.columns and df[c].notna().any())
        if not cache[(table, c)]:
            return False
    return True


def _message(table: str, columns) -> str:
    return f"not available: provide {table} with {', '.join(columns)}"


def kpi_availability(
    dataset,
    *,
    panel: pd.DataFrame | None = None,
    cadence: Mapping | None = None,
    tier: str = "segment",
    csat_method: str = "top2box",
) -> pd.DataFrame:
    """Which KPIs the data support, and what to provide for the others.

    A KPI is available when its source table is present with its columns
    (each not entirely empty). The transaction KPIs are computed from the
    panel; ``cross_sell_rate`` also needs ``transactions.product``,
    ``clv_value`` a margin (``panel.gross_margin``) and
    :mod:`kamtools.retention`; ``cadence_attainment`` needs ``cadence`` and
    the accounts' tier.

    Returns
    -------
    DataFrame
        ``kpi, table, available, message`` (message empty when available), and
        rows ``level:account_manager`` / ``level:segment`` for the roll-ups.
    """
    tables = _tables(dataset, "kpi_availability")
    seen: dict = {}  # (table, column) -> present and not entirely empty, checked once per call
    rows = []
    for kpi, (table, cols, _, _) in _REGISTRY.items():
        if kpi.startswith("csat_") and kpi != "csat_responses":
            if (csat_method == "top2box") != (kpi == "csat_top2box_share"):
                continue
        if table == "transactions" and kpi not in ("cross_sell_rate", "clv_value"):
            ok = panel is not None or "transactions" in tables
            msg = None if ok else _message(table, cols)
        elif kpi == "cross_sell_rate":
            ok = _has(tables, "transactions", ("account_id", "date", "revenue", "product"), seen)
            msg = None if ok else _message(table, cols)
        elif kpi == "clv_value":
            has_margin = (
                panel is not None and "gross_margin" in panel.columns and panel["gross_margin"].notna().any()
            )
            ok, msg = has_margin, None if has_margin else _message(table, cols)
            if ok:
                try:
                    from kamtools.retention import retention_clv  # noqa: F401
                except ImportError:
                    ok, msg = False, "not available: kamtools.retention.retention_clv is missing"
        elif kpi == "cadence_attainment":
            ok = _has(tables, "interactions", cols, seen) and _has(tables, "accounts", ("account_id", tier), seen)
            msg = None if ok else _message("interactions", cols) + f" and accounts with account_id, {tier}"
            if ok and not cadence:
                ok, msg = False, f"not available: provide cadence (contacts per period for each {tier})"
        else:
            ok = _has(tables, table, cols, seen)
            msg = None if ok else _message(table, cols)
        rows.append({"kpi": kpi, "table": table, "available": bool(ok), "message": msg})
    for level in ("account_manager", "segment"):
        ok = _has(tables, "accounts", ("account_id", level), seen)
        rows.append({"kpi": f"level:{level}", "table": "accounts", "available": ok,
                     "message": None if ok else _message("accounts", ("account_id", level))})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------
# kpi_table
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Grid:
    accounts: pd.Index
    periods: pd.DatetimeIndex
    freq: str
    w: int
    as_of: pd.Timestamp
    ref_days: np.ndarray  # last day of each period (capped at as_of), days since epoch

    @property
    def n(self):
        return len(self.accounts)

    @property
    def T(self):
        return len(self.periods)

    def period_codes(self, dates: pd.Series) -> np.ndarray:
        """Position of each date's period in the grid; -1 outside (or after as_of)."""
        ps = dates.dt.to_period(self.freq).dt.start_time
        pos = self.periods.get_indexer(ps)
        pos[(dates > self.as_of).to_numpy()] = -1
        return pos

    def first_day(self, t: int) -> int:
        return _day(self.periods[t])


def _day(ts) -> int:
    return int((np.datetime64(pd.Timestamp(ts).date(), "D") - np.datetime64("1970-01-01", "D")).astype(int))


def _period_last_day(p, f: str) -> pd.Timestamp:
    """Last day (midnight) of the ``f`` period containing the Timestamp ``p``."""
    return (p.to_period(f) + 1).start_time - pd.Timedelta(days=1)


def _epoch_days(dates: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 of each date (int64), as :func:`_day` for a Series."""
    return (dates.to_numpy(dtype="datetime64[D]") - np.datetime64("1970-01-01", "D")).astype(np.int64)


def _long(grid: _Grid, arrays: dict[str, dict[str, np.ndarray]], keep: dict[str, np.ndarray]) -> dict:
    """Cells (key, t) kept per window, with their component values.

    A *component table*: a dict of equal-length arrays ``key``, ``t``,
    ``window`` (position in ``_WINDOWS``) and one float array per component
    (empty dict when there is no window).
    """
    parts = []
    for window, cols in arrays.items():
        ki, ti = np.nonzero(keep[window])
        part = {"key": ki, "t": ti, "window": np.full(len(ki), _WINDOWS.index(window), dtype=np.int64)}
        for c, arr in cols.items():
            part[c] = arr[ki, ti].astype(float)
        parts.append(part)
    if not parts:
        return {}
    return {c: np.concatenate([part[c] for part in parts]) for c in parts[0]}


def _windows(grid: _Grid):
    return ((PERIOD_WINDOW, 1), (TRAILING_WINDOW, grid.w))


def _events_matrix(grid: _Grid, n: int, key_codes: np.ndarray, t_codes: np.ndarray, values: dict) -> dict:
    ok = (key_codes >= 0) & (t_codes >= 0)
    out = {}
    for name, v in values.items():
        M = np.zeros((n, grid.T))
        np.add.at(M, (key_codes[ok], t_codes[ok]), np.asarray(v, dtype=float)[ok])
        out[name] = M
    return out


def _windowed_long(grid, n, mats: dict[str, np.ndarray], keep_col: str) -> pd.DataFrame:
    arrays, keep = {}, {}
    for window, w in _windows(grid):
        arrays[window] = {c: (M if w == 1 else _window_sum(M, w)) for c, M in mats.items()}
        keep[window] = arrays[window][keep_col] > 0
    return _long(grid, arrays, keep)


def _div(num, den):
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


# --- finishers: aggregated components -> KPI columns --------------------------------------
def _fin_churn(g, level, grid):
    rate = np.where(np.asarray(g["und"]) > 0, np.nan, _div(g["lost"], g["coh"]))
    out = {"logo_churn_rate": rate}
    if level != "account":
        ann = annualise_churn(rate, grid.w)  # lost <= cohort: rate is in [0, 1] or NaN
        out["logo_churn_annualised_rate"] = np.where(np.asarray(g["window"]) == 0, ann, np.nan)
    return out


def _fin_revenue(g, level, grid):
    grr = np.minimum(_div(g["retained"], g["start"]), 1.0)
    return {
        "grr": grr,
        "nrr": _div(g["end"], g["start"]),
        "revenue_churn_rate": 1.0 - grr,
        "upsell_rate": _div(g["expanded"], g["cohort"]),
    }


def _fin_activity(g, level, grid):
    return {
        "renewal_rate": _div(g["both"], g["prev"]),
        "repeat_purchase_share": _div(g["both"], g["cur"]),
    }


def _fin_cross(g, level, grid):
    return {"cross_sell_rate": _div(g["new_line"], g["existing"])}


def _fin_nps(g, level, grid):
    resp = np.asarray(g["resp"], dtype=float)
    score, se = _nps_parts(g["prom"], g["detr"], resp)
    return {"nps": score, "nps_standard_error": se, "nps_responses": resp}


def _fin_csat(method):
    def fin(g, level, grid):
        name = "csat_top2box_share" if method == "top2box" else "csat_mean_score"
        num = g["top2"] if method == "top2box" else g["total"]
        return {name: _div(num, g["resp"]), "csat_responses": np.asarray(g["resp"], dtype=float)}

    return fin


def _fin_ref(g, level, grid):
    return {"referenceable_share": _div(g["agreed"], g["asked"])}


def _fin_outcomes(g, level, grid):
    return {"outcomes_share": _div(g["met"], g["due"])}


def _fin_contacts(g, level, grid):
    out = {"contacts_per_period": _div(g["contacts"], g["periods"])}
    if "target" in g:
        out["cadence_attainment"] = _div(g["contacts_t"], g["target"])
    return out


def _fin_mean(name, num, den):
    def fin(g, level, grid):
        return {name: _div(g[num], g[den])}

    return fin


def _fin_sum(name, col):
    def fin(g, level, grid):
        return {name: np.asarray(g[col], dtype=float)}

    return fin


def _fin_acq(g, level, grid):
    return {"acquisition_rate": _div(g["conv"], g["contacted"])}


# --- producers ---------------------------------------------------------------------------
def _panel_families(grid, R, A, churn_gap, min_growth):
    fams = []
    status = _churn_status(A, churn_gap)
    arrays, keep = {}, {}
    for window, w in _windows(grid):
        coh, lost, und = _churn_arrays(status, w)
        arrays[window] = {"coh": coh, "lost": lost, "und": und}
        keep[window] = coh
    fams.append((_long(grid, arrays, keep), _fin_churn))

    rev_arrays, rev_keep, act_arrays, act_keep = {}, {}, {}, {}
    current = None
    for window, w in _windows(grid):
        S = _window_sum(R, w)
        Aw = _window_sum(A.astype(float), w) > 0
        if window == TRAILING_WINDOW:
            current = Aw  # active in the trailing window ending at each period
        valid = np.zeros(grid.T, dtype=bool)
        valid[2 * w - 1 :] = True
        s = np.zeros_like(S)
        s[:, w:] = S[:, :-w]
        e = np.maximum(S, 0.0)
        coh = (s > 0) & valid
        rev_arrays[window] = {
            "start": np.where(coh, s, 0.0),
            "retained": np.where(coh, np.minimum(e, s), 0.0),
            "end": np.where(coh, e, 0.0),
            "expanded": coh & (S > s * (1 + min_growth)),
            "cohort": coh,
        }
        rev_keep[window] = coh
        prev = np.zeros_like(Aw)
        prev[:, w:] = Aw[:, :-w]
        prev &= valid
        cur = Aw & valid
        act_arrays[window] = {"prev": prev, "cur": cur, "both": prev & cur}
        act_keep[window] = prev | cur
    fams.append((_long(grid, rev_arrays, rev_keep), _fin_revenue))
    fams.append((_long(grid, act_arrays, act_keep), _fin_activity))
    return fams, current


def _cross_sell_family(grid, tx, account):
    rev = pd.to_numeric(tx["revenue"], errors="coerce").to_numpy()
    d = _dates(tx["date"], "transactions", "date")
    keep = (rev > 0) & (d <= grid.as_of).to_numpy()
    tx = tx.loc[keep]
    d = d[keep]
    acc = grid.accounts.get_indexer(tx[account])
    ps = d.dt.to_period(grid.freq).dt.start_time
    # position of the period; -1 = before the panel (history), kept for "existing"
    pos = grid.periods.searchsorted(ps.to_numpy(), side="right") - 1
    ok = acc >= 0
    acc, pos, prod = acc[ok], pos[ok], tx["product"].to_numpy()[ok]
    n, T = grid.n, grid.T
    first_acc = np.full(n, T)
    np.minimum.at(first_acc, acc, pos)
    has_prod = pd.notna(prod)
    pair = (
        pd.DataFrame({"a": acc[has_prod], "p": prod[has_prod], "t": pos[has_prod]})
        .groupby(["a", "p"], sort=False)["t"].min()
    )
    NP = np.zeros((n, T))
    pa = pair.index.get_level_values("a").to_numpy()
    pt = pair.to_numpy()
    inside = pt >= 0
    np.add.at(NP, (pa[inside], pt[inside]), 1.0)
    TA = np.zeros((n, T))
    np.add.at(TA, (acc[pos >= 0], pos[pos >= 0]), 1.0)
    arrays, keeps = {}, {}
    for window, w in _windows(grid):
        active = _window_sum(TA, w) > 0
        newl = _window_sum(NP, w) > 0
        start = np.arange(T) - w + 1
        valid = start >= 1
        existing = active & (first_acc[:, None] < start[None, :]) & valid[None, :]
        arrays[window] = {"existing": existing, "new_line": existing & newl}
        keeps[window] = existing
    return _long(grid, arrays, keeps)


def _survey_families(grid, surveys, account, avail, csat_method):
    fams = []
    df = surveys
    acc = grid.accounts.get_indexer(df[account])
    t = grid.period_codes(_dates(df["date"], "surveys", "date"))
    if avail["nps"]:
        v = _scores_column(df, "surveys", "nps", lo=0, hi=10, integer=True)
        has = np.isfinite(v)
        mats = _events_matrix(grid, grid.n, np.where(has, acc, -1), t,
                              {"prom": v >= 9, "detr": v <= 6, "resp": has})
        fams.append((_windowed_long(grid, grid.n, mats, "resp"), _fin_nps))
    if avail["csat"]:
        v = _scores_column(df, "surveys", "csat", lo=1, hi=5, integer=True)
        has = np.isfinite(v)
        mats = _events_matrix(grid, grid.n, np.where(has, acc, -1), t,
                              {"top2": v >= 4, "total": np.where(has, v, 0.0), "resp": has})
        fams.append((_windowed_long(grid, grid.n, mats, "resp"), _fin_csat(csat_method)))
    if avail["referenceable"]:
        has = df["referenceable"].notna().to_numpy()
        yes = _bools(df["referenceable"], "surveys", "referenceable")
        mats = _events_matrix(grid, grid.n, np.where(has, acc, -1), t, {"yes": yes, "ans": has})
        arrays, keep = {}, {}
        for window, w in _windows(grid):
            ans = _window_sum(mats["ans"], w) if w > 1 else mats["ans"]
            yes_w = _window_sum(mats["yes"], w) if w > 1 else mats["yes"]
            arrays[window] = {"asked": ans > 0, "agreed": yes_w > 0}
            keep[window] = ans > 0
        fams.append((_long(grid, arrays, keep), _fin_ref))
    return fams


def _outcome_family(grid, outcomes, account):
    acc = grid.accounts.get_indexer(outcomes[account])
    t = grid.period_codes(_dates(outcomes["target_date"], "outcomes", "target_date"))
    met = _bools(outcomes["achieved"], "outcomes", "achieved")
    mats = _events_matrix(grid, grid.n, acc, t, {"met": met, "due": np.ones(len(outcomes))})
    return _windowed_long(grid, grid.n, mats, "due")


def _interaction_families(grid, inter, account, targets, current):
    """Contacts, cadence, recency and longest gap for the *current* accounts of each period
    (active in the year of periods ending at it)."""
    fams = []
    d = _dates(inter["date"], "interactions", "date").dt.normalize()
    acc = grid.accounts.get_indexer(inter[account])
    t = grid.period_codes(d)
    mats = _events_matrix(grid, grid.n, acc, t, {"contacts": np.ones(len(inter))})
    arrays, keep = {}, {}
    has_target = np.isfinite(targets) & (targets > 0)
    for window, w in _windows(grid):
        C = _window_sum(mats["contacts"], w) if w > 1 else mats["contacts"]
        periods = np.minimum(np.arange(grid.T) + 1, w).astype(float)
        P = np.broadcast_to(periods, (grid.n, grid.T))
        cols = {"contacts": C, "periods": P}
        if has_target.any():
            cols["contacts_t"] = np.where(has_target[:, None], C, 0.0)
            cols["target"] = np.where(has_target[:, None], targets[:, None] * P, 0.0)
        arrays[window] = cols
        keep[window] = current
    fams.append((_long(grid, arrays, keep), _fin_contacts))

    # days since last touch at each period's last day (capped at as_of)
    days = _epoch_days(d)
    ok = (acc >= 0) & (d <= grid.as_of).to_numpy()
    acc_ok, days_ok = acc[ok], days[ok]
    # latest touch day within each period, carried forward (events after as_of are excluded)
    t_ok = t[ok]
    latest = np.full((grid.n, grid.T), -np.inf)
    inside = t_ok >= 0
    np.maximum.at(latest, (acc_ok[inside], t_ok[inside]), days_ok[inside].astype(float))
    before = t_ok < 0  # touches before the first period still count as the last touch
    if before.any():
        first_touch = np.full(grid.n, -np.inf)
        np.maximum.at(first_touch, acc_ok[before], days_ok[before].astype(float))
        latest[:, 0] = np.maximum(latest[:, 0], first_touch)
    last_touch = np.maximum.accumulate(latest, axis=1)
    last_touch[~np.isfinite(last_touch)] = np.nan
    dsl = grid.ref_days[None, :] - last_touch
    touched = np.isfinite(dsl)
    dsl_filled = np.nan_to_num(dsl)
    arrays, keep = {}, {}
    for window, _ in _windows(grid):
        arrays[window] = {"dsl": dsl_filled, "touched": touched}
        keep[window] = touched & current
    fams.append((_long(grid, arrays, keep), _fin_mean("days_since_last_touch", "dsl", "touched")))

    # longest gap without a touch in each window (loop over periods, vectorised over accounts)
    gaps = {window: np.zeros((grid.n, grid.T)) for window, _ in _windows(grid)}
    order = np.argsort(days_ok, kind="stable")
    acc_s, days_s = acc_ok[order], days_ok[order]
    for window, w in _windows(grid):
        for t in range(grid.T):
            first = grid.first_day(max(0, t - w + 1))
            last = int(grid.ref_days[t])
            lo, hi = np.searchsorted(days_s, [first, last + 1])
            gaps[window][:, t] = _longest_gaps(days_s[lo:hi], acc_s[lo:hi], grid.n, first, last)
    arrays = {window: {"gap": gaps[window], "n": np.ones((grid.n, grid.T))} for window, _ in _windows(grid)}
    keep = {window: current for window, _ in _windows(grid)}
    fams.append((_long(grid, arrays, keep), _fin_mean("longest_gap_days", "gap", "n")))
    return fams


def _clv_family(grid, R, M, retention, discount_rate, horizon):
    """Retention CLV of each account with revenue in the trailing year, at every period with a full year."""
    from kamtools.retention import retention_clv

    w = grid.w
    rev = _window_sum(R, w)
    known = np.isfinite(M)
    mar = _window_sum(np.where(known, M, 0.0), w)
    unknown = _window_sum((~known).astype(float), w) > 0  # a margin unknown in the window: CLV unknown
    full = np.arange(grid.T) >= w - 1
    ok = (rev > 0) & ~unknown & full[None, :] & np.isfinite(retention)[:, None]
    ki, ti = np.nonzero(ok)
    values = np.zeros(len(ki))
    if len(ki):
        values = np.asarray(retention_clv(mar[ki, ti], retention[ki], discount_rate, horizon=horizon,
                                          timing="next"), dtype=float)
    return {"key": ki, "t": ti, "window": np.ones(len(ki), dtype=np.int64), "clv": values, "n": np.ones(len(ki))}


class _Groups:
    """Integer ids for the groups of every level (grouping and sorting on integers is fast)."""

    def __init__(self):
        self.labels: list = []
        self.levels: list[int] = []
        self._portfolio: int | None = None

    def add(self, level: str, uniques) -> np.ndarray:
        start = len(self.labels)
        self.labels.extend(list(uniques))
        self.levels.extend([_LEVEL_ORDER.index(level)] * len(uniques))
        return np.arange(start, len(self.labels))

    def ids(self, level: str, labels) -> np.ndarray:
        """Group id of each key from its label (-1 where the label is missing)."""
        if level == "portfolio":
            if self._portfolio is None:
                self._portfolio = int(self.add("portfolio", ["portfolio"])[0])
            return np.full(len(labels), self._portfolio)
        codes, uniques = pd.factorize(pd.Series(np.asarray(labels, dtype=object)), sort=True)
        ids = self.add(level, uniques)
        return np.where(codes >= 0, ids[np.maximum(codes, 0)], -1) if len(ids) else np.full(len(codes), -1)

    def portfolio(self) -> int:
        return int(self.ids("portfolio", [None])[0])


#: Components that are multiples of 2**-_EXACT_BITS with small magnitude sum exactly in any order.
_EXACT_BITS = 10


def _group_sums(values: np.ndarray, inv: np.ndarray, n_groups: int, *, contiguous: bool) -> np.ndarray:
    """Sum of ``values`` within each group ``inv`` (0 … n_groups − 1), NaN skipped.

    Bit-identical (the sign of zero included) to pandas' ``groupby(..., sort=False).sum()``
    on the rows in this order, which sums a column without NaN whose groups
    are ``contiguous`` runs of rows with ``np.add.reduceat`` and otherwise with
    compensated summation starting from +0.0. Integer-like components
    (counts, days, multiples of 2⁻¹⁰, small enough that every partial sum is
    exact: any order gives the same sum) go through ``np.bincount``; one row
    per group is the value itself; anything else (revenue, CLV) is left to
    pandas.
    """
    nan = np.isnan(values)
    has_nan = bool(nan.any())
    reduceat = contiguous and not has_nan  # pandas' path: reduceat keeps -0.0, the compensated sum does not
    v = np.where(nan, 0.0, values) if has_nan else values
    if n_groups == len(inv):  # one row per group: the value itself
        out = np.zeros(n_groups)
        out[inv] = v if reduceat else v + 0.0
        return out
    scaled = v * float(2 ** _EXACT_BITS)
    if np.isfinite(scaled).all() and (scaled == np.trunc(scaled)).all() and np.abs(scaled).sum() < 2.0 ** 53:
        out = np.bincount(inv, weights=v, minlength=n_groups)  # zero sums are +0.0
        if reduceat:  # a group of -0.0 alone sums to -0.0
            not_neg_zero = ~((v == 0.0) & np.signbit(v))
            out[np.bincount(inv, weights=not_neg_zero.astype(float), minlength=n_groups) == 0] = -0.0
        return out
    sums = pd.Series(values).groupby(inv, sort=False).sum()  # groups in order of first row, as before
    out = np.zeros(n_groups)
    out[sums.index.to_numpy(dtype=np.int64)] = sums.to_numpy(dtype=float)
    return out


def _aggregate(comp: dict, keys_by_level: dict, finisher, grid) -> list[dict]:
    """Sum the components within each group of each level, then finish them into KPIs.

    ``comp`` is a component table (see :func:`_long`); the groups are the
    (group id, t, window) cells present. Returns pieces for :func:`_assemble`:
    dicts of arrays ``gid, t, window, kpi, value`` (finite values only).
    """
    out = []
    if not comp or len(comp["key"]) == 0:
        return out
    cols = [c for c in comp if c not in ("key", "t", "window")]
    key = np.asarray(comp["key"], dtype=np.int64)
    t_all = np.asarray(comp["t"], dtype=np.int64)
    win_all = np.asarray(comp["window"], dtype=np.int64)
    T = int(grid.T)
    W = int(win_all.max()) + 1
    for level, ids in keys_by_level.items():
        gid = np.asarray(ids, dtype=np.int64)[key]
        sel = gid >= 0
        if not sel.any():
            continue
        g_sel = gid[sel]
        lo = int(g_sel.min())
        cell = ((g_sel - lo) * T + t_all[sel]) * W + win_all[sel]
        size = (int(g_sel.max()) - lo + 1) * T * W
        if size <= 8 * len(cell) + (1 << 16):  # dense cell space: counting, no sort
            counts = np.bincount(cell, minlength=size)
            present = np.flatnonzero(counts)
            inv = (np.cumsum(counts > 0) - 1)[cell]
        else:
            present, inv = np.unique(cell, return_inverse=True)
        n_groups = len(present)
        # the rows of each group adjacent (pandas then sums with reduceat, see _group_sums)
        contiguous = int(np.count_nonzero(cell[1:] != cell[:-1])) + 1 == n_groups
        g = {"gid": present // (T * W) + lo, "t": (present // W) % T, "window": present % W}
        for c in cols:
            g[c] = _group_sums(np.asarray(comp[c], dtype=float)[sel], inv, n_groups, contiguous=contiguous)
        vals = finisher(g, level, grid)
        for name, v in vals.items():
            v = np.asarray(v, dtype=float)
            keep = np.isfinite(v)
            if not keep.any():
                continue
            out.append({
                "gid": g["gid"][keep],
                "t": g["t"][keep],
                "window": g["window"][keep],
                "kpi": np.full(int(keep.sum()), _KPI_NAMES.index(name), dtype=np.int64),
                "value": v[keep],
            })
    return out


def kpi_table(
    dataset,
    panel: pd.DataFrame,
    *,
    freq: str = "M",
    cadence: Mapping | None = None,
    as_of=None,
    tier: str = "segment",
    csat_method: str = "top2box",
    churn_gap: int | None = None,
    min_growth: float = 0.0,
    discount_rate: float = 0.10,
    clv_retention=None,
    clv_horizon: int | None = None,
    levels=("account", "account_manager", "segment", "channel", "portfolio"),
    account: str = "account_id",
    period: str = "period",
) -> pd.DataFrame:
    """All KPIs per account, manager, segment and portfolio, per period and trailing year.

    Every KPI is computed from additive components (counts, sums) per account
    and period, summed within each group, and only then turned into a ratio —
    so a manager's NPS is the NPS of all their accounts' answers, not a mean of
    account NPS. Each row is one KPI in one window:

    * ``window="period"``: the single period; ``"trailing_12m"``: the year of
      periods ending at it (12 months, 4 quarters, 52 weeks). Windows at the
      start of the panel are shorter for event tables (surveys, interactions,
      outcomes, prospects, manager surveys).
    * Panel KPIs compare the window with the previous window of the same
      length: ``grr``, ``nrr``, ``revenue_churn_rate``, ``upsell_rate`` (cohort
      with revenue > 0 in the previous window; see :func:`revenue_retention`,
      :func:`upsell_rate`), ``renewal_rate`` and ``repeat_purchase_share``
      (activity, :func:`renewal_rate`, :func:`repeat_purchase_share`);
      ``logo_churn_rate`` is the share of the customers at the window's start
      that are lost by its end (rule: :func:`logo_churn`), and for the period
      window ``logo_churn_annualised_rate`` = 1 − (1 − c)^(periods per year).
    * ``cross_sell_rate`` (:func:`cross_sell_rate`), ``nps``,
      ``nps_standard_error``, ``nps_responses``, ``csat_top2box_share`` or
      ``csat_mean_score`` (``csat_method``), ``csat_responses``,
      ``referenceable_share`` (base: accounts asked), ``outcomes_share``
      (goals due in the window), ``contacts_per_period``,
      ``cadence_attainment`` (with ``cadence``), ``days_since_last_touch`` and
      ``longest_gap_days`` (mean over accounts at higher levels) — these four
      for the *current* accounts of each period (active in the year of periods
      ending at it), so long-lost accounts do not dilute them,
      ``acquisition_rate`` (levels ``channel`` and ``portfolio``; conversions
      up to ``as_of``), ``manager_satisfaction_score`` (levels
      ``account_manager`` and ``portfolio``), ``clv_value`` (trailing
      window only, from each period with a full year of history; summed over
      accounts at higher levels).

    Parameters
    ----------
    dataset : Dataset or mapping
        ``.tables`` (or a mapping) of canonical tables; absent tables are
        missing keys.
    panel : DataFrame
        Account × period panel (``kamtools.panel.build_panel`` at ``freq``);
        the accounts of the panel are the universe. Periods are ``freq``
        period starts; a period missing from the panel between its first and
        last (no account bought in it, as in a small, sparse ledger) counts
        as a period with no revenue and no activity.
    freq : {"M", "Q", "W", "Y", "D"}
        Period length of the panel.
    cadence : mapping, optional
        Contacts per period expected for each tier (``accounts[tier]``).
    as_of : date, optional
        Analysis date: periods starting after it are dropped and event dates
        after it ignored. Default: the last day of the last panel period.
    tier : str
        Column of ``accounts`` that holds the tier for ``cadence``.
    csat_method : {"top2box", "mean"}
    churn_gap : int, optional
        Churn rule of :func:`logo_churn`.
    min_growth : float
        Growth above which an account counts as upsold.
    discount_rate : float
        Annual discount rate for ``clv_value``.
    clv_retention : float or Series, optional
        Annual retention for ``clv_value``. Default: ``accounts.renewal_likelihood``
        where known, else the portfolio's trailing renewal rate.
    clv_horizon : int, optional
        Years of the CLV sum (None = perpetuity).
    levels : sequence of str
        Any of ``account``, ``account_manager``, ``segment``, ``channel``,
        ``portfolio``.
    account, period : str
        Column names in the panel and tables.

    Returns
    -------
    DataFrame
        ``level, group, account_id, period, window, kpi, value, message``:
        ``group`` is the account id, manager, segment, channel or
        ``"portfolio"``; ``account_id`` repeats it at the account level (NA
        elsewhere); ``period`` is the start of the window's last period.
        Groups without data in a window have no row. A KPI that is not
        available has one portfolio row with ``value`` NaN and ``message``
        ``"not available: provide <table> with <columns>"`` (see
        :func:`kpi_availability`); ``message`` is NA on computed rows.

    Examples
    --------
    >>> kpis = kpi_table({"transactions": tx}, panel)  # doctest: +SKIP
    >>> pivot_kpis(kpis, level="portfolio")  # doctest: +SKIP
    """
    func = "kpi_table"
    f = _freq_param(freq, func)
    if csat_method not in ("top2box", "mean"):
        raise _must(func, "csat_method", "'top2box' or 'mean'", csat_method)
    bad_levels = [lv for lv in levels if lv not in _LEVEL_ORDER]
    if isinstance(levels, str) or bad_levels:
        raise _must(func, "levels", f"a sequence of {list(_LEVEL_ORDER)}", levels)
    gap = _int_param(churn_gap, func, "churn_gap", allow_none=True)
    if not isinstance(min_growth, Real) or min_growth < 0:
        raise _must(func, "min_growth", "a non-negative number", min_growth)
    tables = _tables(dataset, func)
    _require_columns(panel, "panel", [account, period, "revenue"])

    per = _dates(panel[period], "panel", period)
    if as_of is not None:
        cut = _timestamp(as_of, func, "as_of")
        panel = panel.loc[(per <= cut).to_numpy()]
        per = per[(per <= cut).to_numpy()]
        if panel.empty:
            raise _must(func, "as_of", f"on or after the first panel period ({per.min()})", str(as_of))
    # every period from the first to the last, also those in which no account bought (a sparse ledger)
    pgrid = _panel_grid(panel, account=account, period=period, revenue="revenue", active="active",
                        margin="gross_margin", freq=f)
    periods = pgrid.periods
    last_day = _period_last_day(periods[-1], f)
    as_of_ts = last_day if as_of is None else min(_timestamp(as_of, func, "as_of"), last_day)
    ends = [_period_last_day(p, f) for p in periods]
    ref_days = np.array([_day(min(e, as_of_ts)) for e in ends], dtype=float)
    grid = _Grid(pgrid.accounts, periods, f, _PERIODS_PER_YEAR[f], as_of_ts, ref_days)

    availability = kpi_availability(tables, panel=panel, cadence=cadence, tier=tier, csat_method=csat_method)
    avail = dict(zip(availability["kpi"], availability["available"]))

    # group ids of each account at each level
    accounts_tab = tables.get("accounts")
    by_id: list[pd.DataFrame] = []

    def accounts_by_id() -> pd.DataFrame:
        """``accounts_tab``, one row per account, indexed by it (built once, on first use)."""
        if not by_id:
            by_id.append(accounts_tab.drop_duplicates(account).set_index(account))
        return by_id[0]

    groups = _Groups()
    acc_keys: dict[str, np.ndarray] = {}
    for level in levels:
        if level in ("account", "portfolio"):
            acc_keys[level] = groups.ids(level, grid.accounts)
        elif level in ("account_manager", "segment") and avail.get(f"level:{level}"):
            m = accounts_by_id()[level]
            acc_keys[level] = groups.ids(level, m.reindex(grid.accounts).to_numpy(dtype=object))

    families, current = _panel_families(grid, pgrid.revenue, pgrid.active, gap, float(min_growth))
    if avail["cross_sell_rate"]:
        families.append((_cross_sell_family(grid, tables["transactions"], account), _fin_cross))
    if "surveys" in tables:
        sv = {k: avail[v] for k, v in (("nps", "nps"), ("csat", "csat_responses"),
                                        ("referenceable", "referenceable_share"))}
        if any(sv.values()):
            families += _survey_families(grid, tables["surveys"], account, sv, csat_method)
    if avail["outcomes_share"]:
        families.append((_outcome_family(grid, tables["outcomes"], account), _fin_outcomes))
    if avail["contacts_per_period"]:
        targets = np.full(grid.n, np.nan)
        if avail["cadence_attainment"]:
            tiers = accounts_by_id()[tier]
            targets = tiers.reindex(grid.accounts).map(dict(cadence)).to_numpy(dtype=float)
        families += _interaction_families(grid, tables["interactions"], account, targets, current)

    pieces = []
    for comp, fin in families:
        pieces += _aggregate(comp, acc_keys, fin, grid)

    if avail["clv_value"]:
        retention = _clv_retention(clv_retention, grid, accounts_tab, accounts_by_id, pgrid.active)
        if retention is None:
            availability.loc[availability["kpi"] == "clv_value", ["available", "message"]] = [
                False,
                f"not available: needs {2 * grid.w} periods of history for the renewal proxy; "
                f"pass clv_retention",
            ]
        elif grid.T >= grid.w:
            comp = _clv_family(grid, pgrid.revenue, pgrid.margin, retention, discount_rate, clv_horizon)
            pieces += _aggregate(comp, acc_keys, _fin_sum("clv_value", "clv"), grid)

    if avail["acquisition_rate"]:
        pieces += _acquisition_pieces(grid, tables["prospects"], levels, groups)
    if avail["manager_satisfaction_score"]:
        pieces += _manager_pieces(grid, tables["manager_surveys"], levels, groups)

    return _assemble(pieces, groups, grid, availability, account)


def _assemble(pieces, groups: _Groups, grid: _Grid, availability: pd.DataFrame, account: str) -> pd.DataFrame:
    """The long table from the integer-coded pieces, with "not available" rows, sorted."""
    missing = availability.loc[~availability["available"] & ~availability["kpi"].str.startswith("level:")]
    if len(missing):
        m = len(missing)
        pieces = pieces + [{
            "gid": np.full(m, groups.portfolio(), dtype=np.int64), "t": np.full(m, grid.T - 1, dtype=np.int64),
            "window": np.full(m, len(_WINDOWS), dtype=np.int64),
            "kpi": np.array([_KPI_NAMES.index(k) for k in missing["kpi"]], dtype=np.int64), "value": np.full(m, np.nan),
        }]

    def column(c, dtype):
        return np.concatenate([np.asarray(p[c], dtype=dtype) for p in pieces]) if pieces else np.zeros(0, dtype)

    gid, t, win, kc = (column(c, np.int64) for c in ("gid", "t", "window", "kpi"))
    values = column("value", float)
    # sort: level, group label, period, window (NA last), kpi name
    lev = np.asarray(groups.levels, dtype=np.int64)
    labels = pd.Series(groups.labels, dtype=object).astype(str)
    order = pd.DataFrame({"lev": lev, "lab": labels}).sort_values(["lev", "lab"], kind="stable").index
    rank = np.empty(len(lev), dtype=np.int64)
    rank[order.to_numpy()] = np.arange(len(lev))
    kpi_rank = np.argsort(np.argsort(np.array(_KPI_NAMES, dtype=object)))
    o = np.lexsort((kpi_rank[kc], win, t, rank[gid])) if len(gid) else np.arange(0)
    gid, t, win, kc, value = gid[o], t[o], win[o], kc[o], values[o]

    # string columns by taking from small label arrays (fast, and NA where the label is None)
    labels_na = [*labels.tolist(), None]
    is_acc = lev[gid] == _LEVEL_ORDER.index("account")
    msg = dict(zip(missing["kpi"], missing["message"]))
    msg_codes = np.where(win == len(_WINDOWS), kc, len(_KPI_NAMES))
    return pd.DataFrame({
        "level": _take_strings(list(_LEVEL_ORDER), lev[gid]),
        "group": _take_strings(labels_na, gid),
        account: _take_strings(labels_na, np.where(is_acc, gid, len(labels_na) - 1)),
        "period": grid.periods[t] if len(t) else pd.DatetimeIndex([]),
        "window": _take_strings([*_WINDOWS, None], win),
        "kpi": _take_strings(_KPI_NAMES, kc),
        "value": value,
        "message": _take_strings([*(msg.get(k) for k in _KPI_NAMES), None], msg_codes),
    })


def _take_strings(labels: list, codes: np.ndarray):
    """A string column holding labels[codes] (None -> missing)."""
    try:
        import pyarrow as pa

        return pd.array(pa.array(labels, pa.large_string()).take(pa.array(codes)), dtype="str")
    except (ImportError, TypeError, ValueError):  # pragma: no cover - pandas without pyarrow
        return pd.array(np.asarray(labels, dtype=object)[codes], dtype="str")


def _clv_retention(clv_retention, grid, accounts_tab, accounts_by_id, A):
    """Renewal rate per account for the CLV: given, else ``renewal_likelihood``, else the portfolio's.

    ``accounts_by_id()`` returns ``accounts_tab`` indexed by account (one row each).
    """
    if clv_retention is not None:
        if isinstance(clv_retention, pd.Series):
            return clv_retention.reindex(grid.accounts).to_numpy(dtype=float)
        return np.full(grid.n, float(clv_retention))
    w, T = grid.w, grid.T
    portfolio = np.nan
    if T >= 2 * w:
        prev = A[:, T - 2 * w : T - w].any(axis=1)
        cur = A[:, T - w :].any(axis=1)
        portfolio = cur[prev].mean() if prev.any() else np.nan
    r = np.full(grid.n, portfolio)
    if accounts_tab is not None and "renewal_likelihood" in accounts_tab.columns:
        known = (
            accounts_by_id()["renewal_likelihood"].reindex(grid.accounts).to_numpy(dtype=float)
        )
        r = np.where(np.isfinite(known), known, r)
    return None if not np.isfinite(r).any() else r


def _acquisition_pieces(grid, prospects, levels, groups: _Groups):
    lv = [x for x in ("channel", "portfolio") if x in levels]
    if not lv:
        return []
    d = _dates(prospects["first_contact"], "prospects", "first_contact")
    t = grid.period_codes(d)
    conv = _converted(prospects["converted"], grid.as_of, "kpi_table")
    if "channel" in prospects.columns and prospects["channel"].notna().any():
        codes, chans = pd.factorize(prospects["channel"], sort=True)
    else:
        codes, chans = np.zeros(len(prospects), dtype=int), pd.Index(["all"])
        lv = [x for x in lv if x == "portfolio"]
    mats = _events_matrix(grid, len(chans), codes, t, {"conv": conv, "contacted": np.ones(len(prospects))})
    comp = _windowed_long(grid, len(chans), mats, "contacted")
    keys = {x: groups.ids(x, chans.to_numpy(dtype=object)) for x in lv}
    return _aggregate(comp, keys, _fin_acq, grid)


def _manager_pieces(grid, ms, levels, groups: _Groups):
    lv = [x for x in ("account_manager", "portfolio") if x in levels]
    if not lv:
        return []
    v = _scores_column(ms, "manager_surveys", "satisfaction", lo=1, hi=5, integer=False)
    t = grid.period_codes(_dates(ms["date"], "manager_surveys", "date"))
    codes, mgrs = pd.factorize(ms["account_manager"], sort=True)
    has = np.isfinite(v)
    mats = _events_matrix(grid, len(mgrs), np.where(has, codes, -1), t,
                          {"sum": np.where(has, v, 0.0), "n": has})
    comp = _windowed_long(grid, len(mgrs), mats, "n")
    keys = {x: groups.ids(x, mgrs.to_numpy(dtype=object)) for x in lv}
    return _aggregate(comp, keys, _fin_mean("manager_satisfaction_score", "sum", "n"), grid)


def pivot_kpis(
    kpis: pd.DataFrame,
    *,
    level: str = "account",
    window: str = TRAILING_WINDOW,
    period=None,
) -> pd.DataFrame:
    """Wide view of :func:`kpi_table` for one level and window (for display and health).

    Returns
    -------
    DataFrame
        Indexed by (group, period) — or by group alone when ``period`` is given
        — with one column per KPI. The index level of the group is named after
        the level (``account_id`` at the account level).
    """
    _require_columns(kpis, "kpis", ["level", "group", "period", "window", "kpi", "value"])
    mask = (kpis["level"] == level) & (kpis["window"] == window) & kpis["value"].notna()
    sel = kpis[["group", "period", "kpi", "value"]].loc[mask]  # only the columns the pivot needs
    if period is not None:
        sel = sel.loc[sel["period"] == _timestamp(period, "pivot_kpis", "period")]
    name = "account_id" if level == "account" else level
    wide = sel.pivot_table(index=["group", "period"], columns="kpi", values="value", aggfunc="first")
    wide.index = wide.index.set_names([name, "period"])
    wide.columns.name = None
    if period is not None:
        wide = wide.droplevel("period")
    return wide


# --------------------------------------------------------------------------------------
# health score
# --------------------------------------------------------------------------------------
#: Named rules for :func:`normalise_measures`: raw value mapped linearly so
#: ``lo`` → 0 and ``hi`` → 100, clipped (``hi < lo`` for lower-is-better).
NORMALISATION_PRESETS: dict[str, tuple[float, float]] = {
    "nps": (-100.0, 100.0),
    "rate": (0.0, 1.0),
    "share": (0.0, 1.0),
    "inverse_rate": (1.0, 0.0),
    "score_1_5": (1.0, 5.0),
    "percent": (0.0, 100.0),
}

#: A starting point for health rules (the notebook's parameters override it).
#: NRR 0.8 → 0 and 1.2 → 100, days since last touch 90 → 0 and 0 → 100 are the
#: kit's conventions, not a standard.
DEFAULT_HEALTH_RULES: dict[str, str | tuple[float, float]] = {
    "nps": "nps",
    "csat_top2box_share": "rate",
    "referenceable_share": "rate",
    "outcomes_share": "rate",
    "grr": "rate",
    "nrr": (0.8, 1.2),
    "cadence_attainment": "rate",
    "days_since_last_touch": (90.0, 0.0),
}


def normalise_measures(raw: pd.DataFrame, rules: Mapping) -> pd.DataFrame:
    """Map raw KPIs to 0–100 health measures by stated rules.

    Parameters
    ----------
    raw : DataFrame
        KPIs as columns (e.g. :func:`pivot_kpis`), any index.
    rules : mapping
        Measure → rule: a preset name of :data:`NORMALISATION_PRESETS` (NPS
        −100…100 → 0…100; rates ×100; ``inverse_rate`` (1 − x)×100; 1–5
        ratings), a pair ``(lo, hi)`` mapped linearly to 0 and 100 and clipped
        (``(90, 0)`` for days since last touch: 90 days or more → 0), or a
        callable taking and returning a Series on 0–100.

    Returns
    -------
    DataFrame
        Same index, one column per rule, values in [0, 100] or NaN. A measure
        missing from ``raw`` is an all-NaN column (its weight is then
        redistributed by :func:`health_score`).
    """
    if not isinstance(raw, pd.DataFrame):
        raise _must("normalise_measures", "raw", "a DataFrame of KPIs", type(raw).__name__)
    if not isinstance(rules, Mapping) or not rules:
        raise _must("normalise_measures", "rules", "a non-empty mapping of measure -> rule", rules)
    out = pd.DataFrame(index=raw.index)
    for name, rule in rules.items():
        x = pd.to_numeric(raw[name], errors="coerce") if name in raw.columns else pd.Series(
            np.nan, index=raw.index)
        if callable(rule):
            y = pd.Series(rule(x), index=raw.index, dtype=float)
        else:
            if isinstance(rule, str):
                if rule not in NORMALISATION_PRESETS:
                    raise _must("normalise_measures", "rules",
                                f"presets from {sorted(NORMALISATION_PRESETS)}, (lo, hi) pairs or callables "
                                f"(measure {name!r})", rule)
                rule = NORMALISATION_PRESETS[rule]
            try:
                lo, hi = float(rule[0]), float(rule[1])
            except (TypeError, ValueError, IndexError):
                raise _must("normalise_measures", "rules",
                            f"presets, (lo, hi) pairs or callables (measure {name!r})", rule) from None
            if lo == hi:
                raise _must("normalise_measures", "rules", f"a pair with lo != hi (measure {name!r})", rule)
            y = 100.0 * (x.astype(float) - lo) / (hi - lo)
        out[name] = y.clip(0.0, 100.0)
    return out


def _validate_measures(measures, weights):
    if not isinstance(measures, pd.DataFrame):
        raise _must("health_score", "measures", "a DataFrame of measures on 0–100", type(measures).__name__)
    w = pd.Series(dict(weights) if isinstance(weights, Mapping) else weights, dtype=float)
    if w.empty or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise _must("health_score", "weights", "non-negative finite numbers with a positive sum",
                    dict(weights) if isinstance(weights, Mapping) else weights)
    absent = [m for m in w.index if m not in measures.columns]
    if absent:
        warnings.warn(
            f"health_score: measures {absent} are not in the data; their weight is redistributed "
            f"(see the coverage column).",
            UserWarning,
            stacklevel=3,
        )
    X = measures.reindex(columns=w.index).apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    bad = np.isfinite(X) & ((X < 0) | (X > 100))
    if bad.any():
        r, c = np.nonzero(bad)
        first = ", ".join(f"{measures.index[i]!r}/{w.index[j]}={X[i, j]:g}" for i, j in zip(r[:3], c[:3]))
        raise DataValidationError(
            f"measures: values must be on 0–100 (normalise them with normalise_measures); "
            f"{int(bad.sum()):,} of {X.size:,} are not ({first})."
        )
    return X, w.to_numpy(dtype=float)


def _bands(score: np.ndarray, bands) -> pd.Categorical:
    lo, hi = bands
    label = np.where(score <= lo, "red", np.where(score <= hi, "amber", "green")).astype(object)
    label[~np.isfinite(score)] = None
    return pd.Categorical(label, categories=["red", "amber", "green"], ordered=True)


_ARROWS = {"up": "↑", "down": "↓", "flat": "→"}


def _trend(delta: np.ndarray, tolerance: float):
    trend = np.where(delta > tolerance, "up", np.where(delta < -tolerance, "down", "flat")).astype(object)
    trend[~np.isfinite(delta)] = None
    arrow = pd.Series(trend, dtype=object).map(_ARROWS).to_numpy(dtype=object)
    return trend, arrow


def _previous_period(values: pd.Series) -> pd.Series:
    """The period before each value among the distinct values (missing for the first).

    A position lookup rather than ``Series.map``: mapping through an empty Series (data with a single
    period) casts the dates to float in pandas 3 ("Cannot cast DatetimeArray to dtype float64").
    """
    periods = pd.Index(values.unique()).sort_values()
    pos = periods.get_indexer(values)
    return pd.Series(periods.take(np.maximum(pos - 1, 0)), index=values.index).where(pos > 0)


def health_score(
    measures: pd.DataFrame,
    weights,
    *,
    bands: tuple[float, float] = (50, 75),
    previous=None,
    tolerance: float = 1.0,
    period: str = "period",
) -> pd.DataFrame:
    """Account health: weighted mean of 0–100 measures, RAG band, trend.

    ``score = Σ wⱼ xⱼ / Σ wⱼ`` over the measures present for the account: a
    missing measure's weight is redistributed over the others in proportion,
    and ``coverage = Σ w(present) / Σ w`` says how much of the intended weight
    the score stands on. Bands on the *unrounded* score: ``red`` when
    score ≤ 50, ``amber`` when 50 < score ≤ 75, ``green`` above (so 50.4 is
    amber though it prints as 50).

    Parameters
    ----------
    measures : DataFrame
        Indexed by account — or by (account, period) with a level named
        ``period`` — with measures on 0–100 as columns
        (:func:`normalise_measures`). Columns without a weight are ignored.
    weights : mapping or Series
        Measure → weight ≥ 0 (need not sum to 1). A weighted measure absent
        from ``measures`` counts as missing everywhere (with a warning).
    bands : (float, float)
        Upper edges of red and amber.
    previous : DataFrame or Series, optional
        Last period's health (the output of this function, or scores indexed
        by account) for the trend. With a ``period`` index level the trend is
        computed against each account's previous period instead.
    tolerance : float
        Changes within ±tolerance points are ``flat``.
    period : str
        Name of the period index level.

    Returns
    -------
    DataFrame
        Same index as ``measures``: ``score`` (0–100, NaN when no measure is
        present), ``coverage`` (0–1), ``n_measures``, ``band`` (ordered
        categorical red < amber < green), and with a previous period
        ``previous_score``, ``previous_band``, ``delta``, ``trend``
        (up/down/flat) and ``arrow`` (↑ ↓ →).

    References
    ----------
    ``shared/REFERENCES.md`` (KPIs, health score, Gainsight-style).

    Examples
    --------
    >>> m = pd.DataFrame({"nps": [80.0, 40.0], "grr": [40.0, None]}, index=["a", "b"])
    >>> health_score(m, {"nps": 3, "grr": 1})[["score", "coverage", "band"]]
       score  coverage   band
    a   70.0      1.00  amber
    b   40.0      0.75    red
    """
    try:
        lo, hi = float(bands[0]), float(bands[1])
        ok = 0 <= lo < hi <= 100 and len(bands) == 2
    except (TypeError, ValueError, IndexError):
        ok = False
    if not ok:
        raise _must("health_score", "bands", "two increasing numbers (red, amber upper edges) in 0–100", bands)
    if not isinstance(tolerance, Real) or tolerance < 0:
        raise _must("health_score", "tolerance", "a non-negative number", tolerance)
    X, w = _validate_measures(measures, weights)
    if not measures.index.is_unique:
        dup = measures.index[measures.index.duplicated()][:3].tolist()
        raise DataValidationError(f"measures: the index must be unique (one row per account and period); "
                                  f"repeated: {dup}.")
    present = np.isfinite(X)
    wp = present * w
    wsum = wp.sum(axis=1)
    # normalise the weights within each row before the sum: a convex combination stays within the
    # measures even for tiny (subnormal) weights, where Σwx / Σw would round outside them
    wn = wp / np.where(wsum > 0, wsum, 1.0)[:, None]
    score = np.where(wsum > 0, np.sum(np.where(present, X, 0.0) * wn, axis=1), np.nan)
    out = pd.DataFrame(index=measures.index)
    out["score"] = score
    out["coverage"] = wsum / w.sum()
    out["n_measures"] = present[:, w > 0].sum(axis=1)
    out["band"] = _bands(score, (lo, hi))

    prev_score = prev_band = None
    idx = measures.index
    if isinstance(idx, pd.MultiIndex) and period in idx.names:
        names = [nm if nm is not None else f"_key{i}" for i, nm in enumerate(idx.names)]
        keys = [nm for nm in names if nm != period]
        flat = out.set_axis(idx.set_names(names)).reset_index()
        flat["_prev"] = _previous_period(flat[period])
        lookup = flat[keys + [period, "score", "band"]].rename(
            columns={period: "_prev", "score": "previous_score", "band": "previous_band"})
        merged = flat[keys + ["_prev"]].merge(lookup, on=keys + ["_prev"], how="left")
        prev_score = merged["previous_score"].to_numpy(dtype=float)
        prev_band = merged["previous_band"].to_numpy(dtype=object)
    elif previous is not None:
        ps = previous["score"] if isinstance(previous, pd.DataFrame) else pd.Series(previous)
        prev_score = pd.to_numeric(ps, errors="coerce").reindex(idx).to_numpy(dtype=float)
        if isinstance(previous, pd.DataFrame) and "band" in previous.columns:
            prev_band = previous["band"].astype(object).reindex(idx).to_numpy(dtype=object)
        else:
            prev_band = np.asarray(_bands(prev_score, (lo, hi)).astype(object))
    if prev_score is not None:
        out["previous_score"] = prev_score
        out["previous_band"] = pd.Categorical(
            pd.Series(prev_band, dtype=object).where(pd.notna(prev_band), None),
            categories=["red", "amber", "green"], ordered=True)
        delta = score - prev_score
        out["delta"] = delta
        trend, arrow = _trend(delta, float(tolerance))
        out["trend"] = trend
        out["arrow"] = arrow
    return out


def _health_long(health: pd.DataFrame, account: str, period: str) -> pd.DataFrame:
    if not isinstance(health, pd.DataFrame):
        raise ParameterError(
            f"The 'health_by_period' parameter must be a DataFrame. Got {type(health).__name__} instead.")
    flat = health.reset_index() if not {account, period} <= set(health.columns) else health.copy()
    _require_columns(flat, "health_by_period", [account, period, "band"])
    flat[period] = _dates(flat[period], "health_by_period", period)
    return flat


def accounts_turned_red(
    health_by_period: pd.DataFrame,
    *,
    as_of=None,
    account: str = "account_id",
    period: str = "period",
) -> pd.DataFrame:
    """Accounts whose band became red this period (amber or green the period before).

    Parameters
    ----------
    health_by_period : DataFrame
        :func:`health_score` output indexed (or with columns) by account and
        period.
    as_of : date, optional
        Only this period; default all periods.

    Returns
    -------
    DataFrame
        ``account_id, period, score, previous_score, previous_band, delta`` —
        one row per turn to red, the lowest scores first within a period.
    """
    flat = _health_long(health_by_period, account, period)
    flat["_prev"] = _previous_period(flat[period])
    cols = [account, period, "band"] + (["score"] if "score" in flat.columns else [])
    look = flat[cols].rename(columns={period: "_prev", "band": "_pb", "score": "_ps"})
    m = flat.merge(look, on=[account, "_prev"], how="left")
    band = m["band"].astype(object)
    pb = m["_pb"].astype(object)
    hit = (band == "red") & pb.isin(["amber", "green"])
    if as_of is not None:
        hit &= m[period] == _timestamp(as_of, "accounts_turned_red", "as_of")
    res = pd.DataFrame({
        account: m.loc[hit, account].to_numpy(),
        period: m.loc[hit, period].to_numpy(),
        "score": m.loc[hit, "score"].to_numpy(dtype=float) if "score" in m else np.nan,
        "previous_score": m.loc[hit, "_ps"].to_numpy(dtype=float) if "_ps" in m else np.nan,
        "previous_band": pb[hit].to_numpy(dtype=object),
    })
    res["delta"] = res["score"] - res["previous_score"]
    return res.sort_values([period, "score"], kind="stable").reset_index(drop=True)


def _wilson_row(term: str, k: int, n: int, z: float) -> dict:
    """Summary row of the share k/n with its Wilson score interval at quantile z (Wilson, 1927).

    centre = (p + z²/2n) / (1 + z²/n), half = z √(p(1−p)/n + z²/4n²) / (1 + z²/n),
    clipped to [0, 1]; all NaN (``n_obs`` 0) when n = 0.
    """
    if n == 0:
        return {"term": term, "estimate": np.nan, "std_err": np.nan, "ci_lower": np.nan, "ci_upper": np.nan,
                "n_obs": 0}
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return {"term": term, "estimate": p, "std_err": math.sqrt(p * (1 - p) / n),
            "ci_lower": max(0.0, centre - half), "ci_upper": min(1.0, centre + half), "n_obs": n}

@dataclass(frozen=True)
class EarlyWarningResult:
    """How often the health score flagged accounts before they churned.

    Attributes
    ----------
    rate : float
        Detection rate: churned accounts flagged (in ``bands``) in the
        look-back window before churn ÷ churned accounts with a health score in
        that window.
    survivor_flag_rate : float
        Share of the accounts that did not churn flagged in a window of the same
        length ending at the last period (the false-alarm side).
    n_evaluated, n_flagged, n_churned, n_survivors, n_survivors_flagged : int
    lead, lookback : int or None
        Periods: flags count from ``lookback`` periods before the churn period
        up to ``lead`` periods before it.
    bands : tuple of str
    detail : DataFrame
        Per churned account: churn period, flagged, first flag period.
    alpha : float
    """

    rate: float
    survivor_flag_rate: float
    n_evaluated: int
    n_flagged: int
    n_churned: int
    n_survivors: int
    n_survivors_flagged: int
    lead: int
    lookback: int | None
    bands: tuple[str, ...]
    detail: pd.DataFrame = field(repr=False)
    alpha: float = 0.05

    def __float__(self) -> float:
        return float(self.rate)

    def summary(self, alpha: float | None = None) -> pd.DataFrame:
        """Rates with Wilson score intervals.

        Returns
        -------
        DataFrame
            ``term, estimate, std_err, ci_lower, ci_upper, n_obs, alpha`` for
            ``detection_rate`` and ``survivor_flag_rate``.
        """
        from scipy.stats import norm

        a = self.alpha if alpha is None else alpha
        if not isinstance(a, Real) or not 0 < a < 1:
            raise _must("EarlyWarningResult.summary", "alpha", "a number in (0, 1)", alpha)
        z = norm.ppf(1 - a / 2)
        rows = [{**_wilson_row(term, k, n, z), "alpha": a}
                for term, k, n in (("detection_rate", self.n_flagged, self.n_evaluated),
                                   ("survivor_flag_rate", self.n_survivors_flagged, self.n_survivors))]
        return pd.DataFrame(rows)

    def plot(self, ax=None):
        """Bar chart of both rates with their intervals; returns the Axes."""
        ax = _axes(ax, figsize=(4, 3))
        s = self.summary()
        err = np.vstack([s["estimate"] - s["ci_lower"], s["ci_upper"] - s["estimate"]])
        ax.bar(s["term"], s["estimate"], yerr=err, capsize=4)
        ax.set_ylim(0, 1)
        ax.set_ylabel("share of accounts")
        return ax

    def _repr_html_(self) -> str:
        head = (f"<p><b>Early warning</b>: {self.n_flagged} of {self.n_evaluated} churned accounts flagged "
                f"{'/'.join(self.bands)} before churn (lead {self.lead}, look-back "
                f"{self.lookback if self.lookback is not None else 'all'} periods).</p>")
        return head + self.summary().to_html(index=False)


def early_warning_rate(
    health_by_period: pd.DataFrame,
    churned,
    *,
    lead: int = 1,
    lookback: int | None = 12,
    bands=("red", "amber"),
    account: str = "account_id",
    period: str = "period",
) -> EarlyWarningResult:
    """Share of churned accounts the health score flagged before they churned.

    A churned account with churn period c (the period containing its churn
    date) is *flagged* when its band is in ``bands`` in some period from
    c − ``lookback`` to c − ``lead`` (periods of ``health_by_period``). It is
    *evaluated* when it has a band in that window. Survivors (no churn date)
    are flagged when in ``bands`` in the last ``lookback − lead + 1`` periods
    — the false-alarm side of the same rule.

    Parameters
    ----------
    health_by_period : DataFrame
        :func:`health_score` output indexed (or with columns) by account and
        period.
    churned : Series or mapping
        Account → churn date (NaT / missing = did not churn), e.g.
        ``truth.churned`` of :func:`kamtools.sample.generate_world` converted
        to dates. A boolean Series is refused: the rule needs the date.
    lead : int
        Minimum warning in periods (1 = flagged at least one period before).
    lookback : int or None
        How far back a flag counts (None = all history).

    Returns
    -------
    EarlyWarningResult
        ``float(result)`` is the detection rate; ``.summary()`` adds Wilson
        intervals and the survivor flag rate.
    """
    ld = _int_param(lead, "early_warning_rate", "lead", minimum=0)
    lb = _int_param(lookback, "early_warning_rate", "lookback", minimum=max(ld, 1), allow_none=True)
    bands = tuple(bands)
    if not bands or any(b not in ("red", "amber", "green") for b in bands):
        raise _must("early_warning_rate", "bands", "a non-empty subset of ('red', 'amber', 'green')", bands)
    ch = pd.Series(churned) if not isinstance(churned, pd.Series) else churned
    if pd.api.types.is_bool_dtype(ch):
        raise _must("early_warning_rate", "churned", "a Series of churn dates by account (NaT = survived)",
                    "a boolean Series")
    ch = _dates(ch, "churned", "churn date")
    flat = _health_long(health_by_period, account, period)
    periods = pd.Index(flat[period].unique()).sort_values()
    pos = pd.Series(np.arange(len(periods)), index=periods)
    flat["_t"] = flat[period].map(pos).to_numpy()
    flat["_flag"] = flat["band"].astype(object).isin(bands).to_numpy()

    churn_dates = ch.dropna()
    # churn period: the last health period starting on or before the churn date
    ct = periods.searchsorted(churn_dates.to_numpy(), side="right") - 1
    cmap = pd.Series(ct, index=churn_dates.index)
    ever = set(flat[account].unique())
    cmap = cmap[cmap.index.isin(ever)]
    f = flat.merge(cmap.rename("_c"), left_on=account, right_index=True, how="inner")
    lo = f["_c"] - (lb if lb is not None else len(periods))
    inwin = (f["_t"] <= f["_c"] - ld) & (f["_t"] >= lo) & f["band"].notna()
    fw = f.loc[inwin]
    g = fw.groupby(account)
    detail = pd.DataFrame({
        "churn_period": periods[np.clip(cmap.to_numpy(), 0, None)],
        "evaluated": cmap.index.isin(fw[account].unique()),
    }, index=pd.Index(cmap.index, name=account))
    flagged = g["_flag"].any()
    detail["flagged"] = flagged.reindex(detail.index).fillna(False).astype(bool)
    first = fw.loc[fw["_flag"]].groupby(account)[period].min()
    detail["first_flag_period"] = first.reindex(detail.index)
    detail.loc[cmap.to_numpy() < 0, "evaluated"] = False
    n_eval = int(detail["evaluated"].sum())
    n_flag = int((detail["flagged"] & detail["evaluated"]).sum())

    survivors = flat.loc[~flat[account].isin(churn_dates.index)]
    T = len(periods)
    width = (lb if lb is not None else T) - ld + 1
    s_win = survivors.loc[survivors["_t"] >= T - width]
    s_win = s_win.loc[s_win["band"].notna()]
    s_flag = s_win.groupby(account)["_flag"].any()
    return EarlyWarningResult(
        rate=n_flag / n_eval if n_eval else float("nan"),
        survivor_flag_rate=float(s_flag.mean()) if len(s_flag) else float("nan"),
        n_evaluated=n_eval,
        n_flagged=n_flag,
        n_churned=int(len(churn_dates)),
        n_survivors=int(len(s_flag)),
        n_survivors_flagged=int(s_flag.sum()),
        lead=ld,
        lookback=lb,
        bands=bands,
        detail=detail,
    )


# --------------------------------------------------------------------------------------
# notebook 02 (KPI health): dashboard, health table, roll-ups, CLV overview
# --------------------------------------------------------------------------------------
#: The ten KAM KPIs of issue 5 in dashboard order: ``(number, family, kpi)`` where ``kpi`` is a
#: :func:`kpi_table` name. A family with several rows shows each (satisfaction: NPS and CSAT).
KPI_FAMILIES: tuple[tuple[int, str, str], ...] = (
    (1, "Customer lifetime value", "clv_value"),
    (2, "Referenceable customers", "referenceable_share"),
    (3, "Customer satisfaction", "nps"),
    (3, "Customer satisfaction", "nps_standard_error"),
    (3, "Customer satisfaction", "csat_top2box_share"),
    (3, "Customer satisfaction", "csat_mean_score"),
    (4, "Customer outcomes", "outcomes_share"),
    (5, "Customer interaction", "cadence_attainment"),
    (5, "Customer interaction", "contacts_per_period"),
    (5, "Customer interaction", "days_since_last_touch"),
    (5, "Customer interaction", "longest_gap_days"),
    (6, "Organic growth", "nrr"),
    (6, "Organic growth", "grr"),
    (6, "Organic growth", "repeat_purchase_share"),
    (7, "Acquisition", "acquisition_rate"),
    (8, "Upsell, cross-sell and renewal", "upsell_rate"),
    (8, "Upsell, cross-sell and renewal", "cross_sell_rate"),
    (8, "Upsell, cross-sell and renewal", "renewal_rate"),
    (9, "Account-manager satisfaction", "manager_satisfaction_score"),
    (10, "Churn", "logo_churn_rate"),
    (10, "Churn", "logo_churn_annualised_rate"),
    (10, "Churn", "revenue_churn_rate"),
)

#: Reader-facing names of the KPIs (the dashboard and the health table show these).
KPI_LABELS: dict[str, str] = {
    "clv_value": "CLV of current accounts (retention-based, total)",
    "referenceable_share": "Referenceable accounts",
    "nps": "NPS",
    "nps_standard_error": "NPS standard error",
    "csat_top2box_share": "CSAT, top-2-box share",
    "csat_mean_score": "CSAT, mean rating (1–5)",
    "outcomes_share": "Agreed goals met",
    "cadence_attainment": "Contacts against cadence",
    "contacts_per_period": "Contacts per account per period",
    "days_since_last_touch": "Days since last touch (mean)",
    "longest_gap_days": "Longest gap without a touch (days, mean)",
    "nrr": "NRR, net revenue retention",
    "grr": "GRR, gross revenue retention",
    "repeat_purchase_share": "Repeat buyers among active accounts",
    "acquisition_rate": "Prospects converted",
    "upsell_rate": "Upsell rate (accounts that grew)",
    "cross_sell_rate": "Cross-sell rate (new product line)",
    "renewal_rate": "Renewal rate (bought again)",
    "manager_satisfaction_score": "Account-manager satisfaction (1–5)",
    "logo_churn_rate": "Logo churn",
    "logo_churn_annualised_rate": "Logo churn, annualised",
    "revenue_churn_rate": "Revenue churn (1 − GRR)",
}

#: Okabe & Ito (2008) colours for the RAG bands: distinguishable with colour-vision deficiency.
BAND_COLORS: dict[str, str] = {"red": "#D55E00", "amber": "#E69F00", "green": "#009E73"}

_SCOPES = ("key", "all")
_NOT_KNOWN = "not known yet"


def _display_kind(kpi: str) -> str:
    """How a KPI's value reads: percent, points, currency, days, rating, count or number."""
    if kpi == "nps" or kpi == "nps_standard_error":
        return "points"
    unit = _REGISTRY[kpi][2] if kpi in _REGISTRY else ""
    if unit.startswith("fraction") or kpi == "cadence_attainment":
        return "percent"
    for kind in ("currency", "days", "rating", "count"):
        if unit.startswith(kind):
            return kind
    return "number"


_DIGITS = {"percent": (100.0, 1), "currency": (1.0, 0), "days": (1.0, 0), "count": (1.0, 0), "rating": (1.0, 2),
           "points": (1.0, 1), "number": (1.0, 2)}


def _fmt(value, kind: str, currency: str = "EUR", *, signed: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return ""
    scale, digits = _DIGITS.get(kind, (1.0, 2))
    if round(value * scale, digits) == 0:  # no "-0.0": a change that rounds to nothing is 0
        value = 0.0
    sign = "+" if signed and value > 0 else ""
    if kind == "percent":
        return f"{sign}{100 * value:.1f} pts" if signed else f"{100 * value:.1f}%"
    if kind == "currency":
        return f"{sign}{value:,.0f} {currency}"
    if kind in ("days", "count"):
        return f"{sign}{value:,.0f}"
    if kind == "rating":
        return f"{sign}{value:.2f}"
    return f"{sign}{value:,.1f}" if kind == "points" else f"{sign}{value:,.2f}"


def analysis_period(last_date, *, freq: str = "M", as_of=None) -> pd.Timestamp:
    """The last full period: where the report's "this period" is.

    The start of the last ``freq`` period that ends on or before ``as_of`` (default
    ``last_date``, the last date of the ledger). A ledger that ends on 31 December has
    December as its last full month; one that ends on 15 December has November.

    Parameters
    ----------
    last_date : date
        Last date of the data (e.g. ``dataset.window[1]``).
    freq : {"M", "Q", "W", "Y"}
        Period length.
    as_of : date, optional
        Analysis date; takes precedence over ``last_date``.

    Returns
    -------
    Timestamp
        Start of the period.

    Examples
    --------
    >>> analysis_period("2025-12-31")
    Timestamp('2025-12-01 00:00:00')
    >>> analysis_period("2025-12-30", freq="Q")
    Timestamp('2025-07-01 00:00:00')
    """
    f = _freq_param(freq, "analysis_period")
    name = "as_of" if as_of is not None and str(as_of).strip() != "" else "last_date"
    cut = _timestamp(as_of if name == "as_of" else last_date, "analysis_period", name).normalize()
    per = cut.to_period(f)
    if _period_last_day(cut, f) > cut:  # the period containing the cut (per) is not over
        per = per - 1
    return per.start_time


def key_accounts(accounts: pd.DataFrame | None, *, account: str = "account_id",
                 flag: str = "is_key_account") -> pd.Index | None:
    """The key accounts flagged in the accounts table, or None when nobody is flagged.

    Returns
    -------
    Index or None
        Account ids with ``flag`` true (sorted); None when the table, the column or any
        true value is missing — the report then covers all accounts.
    """
    if accounts is None or flag not in accounts.columns or account not in accounts.columns:
        return None
    if accounts[flag].notna().sum() == 0:
        return None
    ids = pd.Index(accounts.loc[_bools(accounts[flag], "accounts", flag), account].unique()).sort_values()
    return ids if len(ids) else None


def portfolio_dashboard(
    kpis: pd.DataFrame,
    *,
    period=None,
    window: str = TRAILING_WINDOW,
    freq: str = "M",
    level: str = "portfolio",
    group: str = "portfolio",
) -> pd.DataFrame:
    """The ten KAM KPIs: this period against the last one and a year ago.

    One row per KPI of :data:`KPI_FAMILIES` that :func:`kpi_table` reports (or
    reports as not available). *This period* is ``period`` (default: the last
    period of ``kpis``) — or, when the KPI has no value there, the latest period
    before it that has one: logo churn with a ``churn_gap`` is not known yet for
    the last periods, and the ``note`` says which period is shown. *Last
    period* and *a year ago* are one period and one year of periods before the
    period shown.

    Parameters
    ----------
    kpis : DataFrame
        The long table of :func:`kpi_table`.
    period : date, optional
        The report's period (a period start in ``kpis``).
    window : {"trailing_12m", "period"}
        Trailing year of periods (steadier; the default) or the single period.
        The annualised logo churn is shown with the single-period window only
        (a trailing year's churn is already a yearly rate).
    freq : {"M", "Q", "W", "Y", "D"}
        Period length of ``kpis`` (for "a year ago").
    level, group : str
        Which rows of ``kpis`` (default the portfolio).

    Returns
    -------
    DataFrame
        ``family`` (1–10), ``family_name``, ``kpi``, ``label``, ``kind`` (how the
        value reads: percent, points, currency, days, rating, count, number),
        ``period`` (the period shown), ``this_period``, ``last_period``,
        ``year_ago``, ``change_vs_last``, ``change_vs_year_ago`` (in the KPI's
        unit; fractions as fractions) and ``note``. A KPI whose table is absent
        has NaN values and the note ``"not available: provide <table> with
        <columns>"`` — never 0.
    """
    func = "portfolio_dashboard"
    _require_columns(kpis, "kpis", ["level", "group", "period", "window", "kpi", "value", "message"])
    if window not in _WINDOWS:
        raise _must(func, "window", f"one of {list(_WINDOWS)}", window)
    ppy = _PERIODS_PER_YEAR[_freq_param(freq, func)]
    periods = pd.DatetimeIndex(sorted(pd.to_datetime(kpis["period"].dropna().unique())))
    if len(periods) == 0:
        raise DataValidationError("kpis: the table has no periods; compute it with kpi_table.")
    p = periods[-1] if period is None else _timestamp(period, func, "period")
    if p not in periods:
        raise _must(func, "period", f"a period of kpis ({periods[0].date()} … {periods[-1].date()})", str(period))
    pos = periods.get_loc(p)
    mine = kpis.loc[(kpis["level"] == level) & (kpis["group"] == group)]
    computed = mine.loc[(mine["window"] == window) & mine["value"].notna()]
    absent = kpis.loc[kpis["window"].isna() & kpis["message"].notna()].drop_duplicates("kpi")
    absent = absent.set_index("kpi")["message"]
    if computed.empty:
        wide = pd.DataFrame(index=periods)
    else:
        wide = computed.pivot_table(index="period", columns="kpi", values="value", aggfunc="first").reindex(periods)
    rows = []
    for number, family, k in KPI_FAMILIES:
        if k not in wide.columns and k not in absent.index:
            continue
        row = {"family": number, "family_name": family, "kpi": k, "label": KPI_LABELS.get(k, k),
               "kind": _display_kind(k), "period": p, "this_period": np.nan, "last_period": np.nan,
               "year_ago": np.nan, "note": ""}
        if k in absent.index:
            row["note"] = str(absent[k])
        else:
            s = wide[k].to_numpy(dtype=float)[: pos + 1]
            known = np.flatnonzero(np.isfinite(s))
            if len(known) == 0:
                row["note"] = f"{_NOT_KNOWN}: no value up to {p:%Y-%m} (too little history)"
            else:
                r = int(known[-1])
                row["period"] = periods[r]
                row["this_period"] = s[r]
                row["last_period"] = s[r - 1] if r >= 1 else np.nan
                row["year_ago"] = s[r - ppy] if r >= ppy else np.nan
                if r != pos:
                    row["note"] = f"{_NOT_KNOWN} for {p:%Y-%m}: value of {periods[r]:%Y-%m}, the latest known"
        rows.append(row)
    out = pd.DataFrame(rows, columns=["family", "family_name", "kpi", "label", "kind", "period", "this_period",
                                      "last_period", "year_ago", "note"])
    out["change_vs_last"] = out["this_period"] - out["last_period"]
    out["change_vs_year_ago"] = out["this_period"] - out["year_ago"]
    cols = ["family", "family_name", "kpi", "label", "kind", "period", "this_period", "last_period", "year_ago",
            "change_vs_last", "change_vs_year_ago", "note"]
    return out[cols].reset_index(drop=True)


def format_dashboard(dashboard: pd.DataFrame, *, currency: str = "EUR") -> pd.DataFrame:
    """The dashboard as text for reading: percentages, points, currency; messages kept.

    Fractions read as percentages (their changes in percentage points), NPS in
    points, CLV in ``currency``. A KPI that is not available shows its message
    ("not available: provide …") in the *this period* column, and nothing else.

    Returns
    -------
    DataFrame
        Indexed by (``#``, ``KPI``) with text columns ``period``, ``this period``,
        ``last period``, ``a year ago``, ``vs last``, ``vs a year ago``, ``note``.
    """
    _require_columns(dashboard, "dashboard", ["family", "label", "kind", "period", "this_period", "last_period",
                                              "year_ago", "change_vs_last", "change_vs_year_ago", "note"])
    d = dashboard
    kinds = d["kind"].to_numpy()
    fmt = lambda col, signed=False: [_fmt(v, k, currency, signed=signed)  # noqa: E731
                                     for v, k in zip(d[col].to_numpy(dtype=float), kinds)]
    na = d["note"].astype(str).str.startswith("not available").to_numpy()
    this = np.where(na, d["note"].astype(str), fmt("this_period"))
    out = pd.DataFrame({
        "#": d["family"].to_numpy(),
        "KPI": d["label"].to_numpy(),
        "period": np.where(na, "", pd.to_datetime(d["period"]).dt.strftime("%Y-%m")),
        "this period": this,
        "last period": fmt("last_period"),
        "a year ago": fmt("year_ago"),
        "vs last": fmt("change_vs_last", True),
        "vs a year ago": fmt("change_vs_year_ago", True),
        "note": np.where(na, "", d["note"].astype(str)),
    })
    return out.set_index(["#", "KPI"])


def round_floats(frame: pd.DataFrame, decimals: int = 4) -> pd.DataFrame:
    """The table with its float columns rounded (for display and export); other columns untouched.

    Unlike ``DataFrame.round``, it leaves date columns alone without a warning.

    Examples
    --------
    >>> round_floats(pd.DataFrame({"x": [1.23456], "d": pd.to_datetime(["2025-01-01"])}), 2)
          x          d
    0  1.23 2025-01-01
    """
    d = _int_param(decimals, "round_floats", "decimals", minimum=0)
    cols = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])]
    return frame.round({c: d for c in cols}) if cols else frame.copy()


def health_measures(
    kpis: pd.DataFrame,
    rules: Mapping,
    *,
    window: str = TRAILING_WINDOW,
) -> pd.DataFrame:
    """Account health measures on 0–100, per account and period, from :func:`kpi_table`.

    The account-level KPIs of ``window`` (:func:`pivot_kpis`) normalised by
    ``rules`` (:func:`normalise_measures`): the input of :func:`health_score`.

    Returns
    -------
    DataFrame
        Indexed by (``account_id``, ``period``), one column per rule, values in
        [0, 100] or NaN (a KPI the data do not have is all NaN, never 0).
    """
    if window not in _WINDOWS:
        raise _must("health_measures", "window", f"one of {list(_WINDOWS)}", window)
    raw = pivot_kpis(kpis, level="account", window=window)
    return normalise_measures(raw, rules)


def _account_info(accounts, account: str, extra=()) -> pd.DataFrame:
    """Name, manager and segment of each account — the columns the table actually fills."""
    cols = [c for c in ("account_name", "account_manager", "segment", *extra)
            if accounts is not None and c in accounts.columns and accounts[c].notna().any()]
    if accounts is None or not cols:
        return pd.DataFrame(index=pd.Index([], name=account))
    return accounts.drop_duplicates(account).set_index(account)[cols]


def _in_scope(index: pd.Index, scope) -> np.ndarray:
    return np.ones(len(index), dtype=bool) if scope is None else index.isin(pd.Index(scope))


def health_table(
    health: pd.DataFrame,
    *,
    period,
    accounts: pd.DataFrame | None = None,
    raw: pd.DataFrame | None = None,
    scope=None,
    account: str = "account_id",
) -> pd.DataFrame:
    """This period's health of the accounts in scope, the weakest first.

    Parameters
    ----------
    health : DataFrame
        :func:`health_score` output indexed by (account, period).
    period : date
        The period to show.
    accounts : DataFrame, optional
        Adds ``account_name``, ``account_manager`` and ``segment`` where present.
    raw : DataFrame, optional
        KPI values of the period indexed by account (e.g. ``pivot_kpis(...,
        period=period)[measures]``), shown beside the score so that a reader sees
        what drives it.
    scope : array-like, optional
        Account ids to show (e.g. :func:`key_accounts`); default all with a score.

    Returns
    -------
    DataFrame
        Indexed by account: the account columns, ``score``, ``band``, ``arrow``,
        ``delta`` (points against the previous period), ``previous_band``,
        ``coverage`` and the raw KPIs; sorted by score, lowest first. Accounts
        without any measure in the period (no score) are left out.
    """
    p = _timestamp(period, "health_table", "period")
    flat = _health_long(health, account, "period")
    now = flat.loc[(flat["period"] == p) & flat["score"].notna()].set_index(account)
    now = now.loc[_in_scope(now.index, scope)]
    cols = [c for c in ("score", "band", "arrow", "delta", "previous_band", "coverage") if c in now.columns]
    out = _account_info(accounts, account).reindex(now.index).join(now[cols])
    if raw is not None:
        out = out.join(raw.reindex(now.index))
    out.index.name = account
    return out.sort_values(["score"], kind="stable")


def turned_red_table(
    health: pd.DataFrame,
    measures: pd.DataFrame,
    weights,
    *,
    period,
    lookback: int = 3,
    accounts: pd.DataFrame | None = None,
    scope=None,
    account: str = "account_id",
) -> pd.DataFrame:
    """Accounts that turned red in the last ``lookback`` periods, with what pulled them down.

    A turn to red is a period whose band is red after an amber or green one
    (:func:`accounts_turned_red`). ``main_driver`` is the measure whose weighted
    change, ``wⱼ (xⱼ(t) − xⱼ(t−1)) / Σw``, fell most in that period — among
    measures present in both periods. The lookback counts the periods of
    ``health`` up to ``period``; with none (no account has a score yet, as on
    a ledger shorter than a year) the table is empty.

    Returns
    -------
    DataFrame
        Indexed by account: the account columns, ``turned_red`` (period),
        ``score``, ``previous_score``, ``previous_band``, ``delta``,
        ``main_driver``, ``driver_points`` (its weighted change, score points) and
        ``band_now``, ``score_now`` (at ``period``); latest turns first.
    """
    lb = _int_param(lookback, "turned_red_table", "lookback")
    p = _timestamp(period, "turned_red_table", "period")
    flat = _health_long(health, account, "period")
    periods = pd.DatetimeIndex(sorted(flat["period"].unique()))
    # the lookback: the last ``lb`` periods of health up to ``period`` (a period without any health score,
    # as on a short ledger with no measure yet, has no turn: the table is then empty, not an error)
    upto = periods[periods <= p]
    first = upto[max(0, len(upto) - lb)] if len(upto) else p
    turns = accounts_turned_red(flat, account=account)
    turns = turns.loc[(turns["period"] >= first) & (turns["period"] <= p)]
    turns = turns.loc[_in_scope(pd.Index(turns[account]), scope)]
    # keep each account's latest turn
    turns = turns.sort_values("period", kind="stable").drop_duplicates(account, keep="last")
    w = pd.Series(dict(weights) if isinstance(weights, Mapping) else weights, dtype=float)
    cols = [c for c in w.index if c in measures.columns]
    pos = periods.get_indexer(turns["period"])  # a turn always has a previous period (pos >= 1)
    now_idx = pd.MultiIndex.from_arrays([turns[account], turns["period"]])
    prev_idx = pd.MultiIndex.from_arrays([turns[account], periods.take(np.maximum(pos - 1, 0))])
    x_now = measures[cols].reindex(now_idx).to_numpy(dtype=float)
    x_prev = measures[cols].reindex(prev_idx).to_numpy(dtype=float)
    change = (x_now - x_prev) * w[cols].to_numpy() / w.sum()
    has = np.isfinite(change).any(axis=1)
    pick = np.argmin(np.where(np.isfinite(change), change, np.inf), axis=1) if len(cols) else np.zeros(0, int)
    driver = np.where(has, np.asarray(cols, dtype=object)[pick] if len(cols) else None, None)
    points = np.where(has, change[np.arange(len(turns)), pick] if len(cols) else np.nan, np.nan)
    current = flat.loc[flat["period"] == p].set_index(account)
    out = pd.DataFrame({
        "turned_red": turns["period"].to_numpy(),
        "score": turns["score"].to_numpy(dtype=float),
        "previous_score": turns["previous_score"].to_numpy(dtype=float),
        "previous_band": turns["previous_band"].to_numpy(dtype=object),
        "delta": turns["delta"].to_numpy(dtype=float),
        "main_driver": pd.array(driver, dtype="str"),
        "driver_points": points.astype(float),
        "band_now": current["band"].reindex(turns[account]).astype(object).to_numpy(),
        "score_now": current["score"].reindex(turns[account]).to_numpy(dtype=float),
    }, index=pd.Index(turns[account].to_numpy(), name=account))
    out = _account_info(accounts, account).reindex(out.index).join(out)
    return out.sort_values(["turned_red", "score"], ascending=[False, True], kind="stable")


_ROLLUP_KPIS = ("nrr", "grr", "nps", "csat_top2box_share", "csat_mean_score", "cadence_attainment",
                "days_since_last_touch", "manager_satisfaction_score", "clv_value")


def manager_rollup(
    health_now: pd.DataFrame,
    kpis: pd.DataFrame,
    *,
    period,
    window: str = TRAILING_WINDOW,
    manager: str = "account_manager",
) -> pd.DataFrame:
    """Per account manager: how many of their accounts are red, amber, green, and their book's KPIs.

    The band counts and mean score cover the accounts of ``health_now`` (the
    scope of the health table, e.g. the key accounts); the KPIs come from the
    ``account_manager`` level of :func:`kpi_table` and cover *all* the manager's
    accounts, pooled (a manager's NPS is the NPS of all their accounts' answers).

    Returns
    -------
    DataFrame
        Indexed by manager: ``accounts``, ``red``, ``amber``, ``green``,
        ``mean_score``, then the KPIs available (NRR, GRR, NPS, CSAT, cadence,
        days since last touch, manager satisfaction, CLV); managers with the most
        red, then amber, first. Empty (with these columns) when no manager is known.
    """
    p = _timestamp(period, "manager_rollup", "period")
    counts_cols = ["accounts", "red", "amber", "green", "mean_score"]
    if manager in health_now.columns and health_now[manager].notna().any():
        h = health_now.loc[health_now[manager].notna()]
        band = h["band"].astype(object)
        counts = pd.DataFrame({
            manager: h[manager].astype(str).to_numpy(),
            "accounts": 1,
            "red": (band == "red").to_numpy(dtype=int),
            "amber": (band == "amber").to_numpy(dtype=int),
            "green": (band == "green").to_numpy(dtype=int),
            "score": h["score"].to_numpy(dtype=float),
        }).groupby(manager).agg(accounts=("accounts", "sum"), red=("red", "sum"), amber=("amber", "sum"),
                                 green=("green", "sum"), mean_score=("score", "mean"))
    else:
        counts = pd.DataFrame(columns=counts_cols, index=pd.Index([], name=manager, dtype="str"))
    sel = kpis.loc[(kpis["level"] == "account_manager")]
    wide = pivot_kpis(sel, level="account_manager", window=window, period=p) if len(sel) else pd.DataFrame()
    kcols = [k for k in _ROLLUP_KPIS if k in wide.columns]
    wide = wide[kcols]
    wide.index = wide.index.astype(str)
    wide.index.name = manager
    out = counts.join(wide, how="outer") if len(counts) or len(wide) else counts.reindex(columns=counts_cols + kcols)
    for c in ("accounts", "red", "amber", "green"):
        out[c] = out[c].fillna(0).astype(int)
    out = out[counts_cols + kcols]
    out.index.name = manager
    return out.sort_values(["red", "amber", "mean_score"], ascending=[False, False, True], kind="stable")


def _note_frame(message: str) -> pd.DataFrame:
    return pd.DataFrame({"note": [message]})


@dataclass(frozen=True)
class KpiHealthReport:
    """Everything notebook 02 shows about KPIs and health (see :func:`kpi_health_report`).

    Attributes
    ----------
    period : Timestamp
        The report's period (start): the last full period.
    as_of : Timestamp
        Its last day: events after it are ignored.
    kpis : DataFrame
        :func:`kpi_table` (every level, both windows).
    availability : DataFrame
        :func:`kpi_availability`.
    dashboard : DataFrame
        :func:`portfolio_dashboard`.
    measures, health : DataFrame
        Health measures (0–100) and :func:`health_score` of every account and period.
    health_now : DataFrame
        :func:`health_table` of the scope in ``period``.
    turned_red : DataFrame
        :func:`turned_red_table`.
    managers : DataFrame
        :func:`manager_rollup`, or one ``note`` saying what to provide.
    scope : Index or None
        The key accounts (None: all accounts).
    scope_label : str
        ``"key accounts"`` or ``"accounts"``.
    n_scored, n_red, n_amber, n_green : int
        Accounts in scope with a score this period, by band.
    nrr : float
        Portfolio NRR of the dashboard (trailing year), NaN when not known.
    headline : str
    settings : dict
        The parameters used.
    """

    period: pd.Timestamp
    as_of: pd.Timestamp
    kpis: pd.DataFrame = field(repr=False)
    availability: pd.DataFrame = field(repr=False)
    dashboard: pd.DataFrame = field(repr=False)
    measures: pd.DataFrame = field(repr=False)
    health: pd.DataFrame = field(repr=False)
    health_now: pd.DataFrame = field(repr=False)
    turned_red: pd.DataFrame = field(repr=False)
    managers: pd.DataFrame = field(repr=False)
    scope: pd.Index | None
    scope_label: str
    n_scored: int
    n_red: int
    n_amber: int
    n_green: int
    nrr: float
    headline: str
    settings: dict = field(default_factory=dict)

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        """Headline figures as a tidy table.

        The shares of the scope in each band carry Wilson intervals at
        ``1 − alpha``; NRR is a census figure (no interval).

        Returns
        -------
        DataFrame
            ``term, estimate, std_err, ci_lower, ci_upper, n_obs``.
        """
        from scipy.stats import norm

        if not isinstance(alpha, Real) or not 0 < alpha < 1:
            raise _must("KpiHealthReport.summary", "alpha", "a number in (0, 1)", alpha)
        z = norm.ppf(1 - alpha / 2)
        n = self.n_scored
        rows = [_wilson_row(term, k, n, z)
                for term, k in (("red_share", self.n_red), ("amber_share", self.n_amber),
                                ("green_share", self.n_green), ("amber_or_red_share", self.n_red + self.n_amber))]
        rows.append({"term": "nrr", "estimate": self.nrr, "std_err": np.nan, "ci_lower": np.nan,
                     "ci_upper": np.nan, "n_obs": np.nan})
        return pd.DataFrame(rows)

    def health_rules(self) -> pd.DataFrame:
        """The health measures: weight, share of the weight, and the raw values that map to 0 and 100.

        Returns
        -------
        DataFrame
            Indexed by measure: ``label``, ``weight``, ``weight_share``,
            ``value_at_0``, ``value_at_100`` (NaN for callables), ``available``
            (whether any account has the measure this period).
        """
        weights = pd.Series(self.settings["weights"], dtype=float)
        rows = []
        for m, w in weights.items():
            rule = self.settings["rules"][m]
            rule = NORMALISATION_PRESETS.get(rule, rule) if isinstance(rule, str) else rule
            lo, hi = (float(rule[0]), float(rule[1])) if not callable(rule) else (np.nan, np.nan)
            present = m in self.measures.columns and self.measures[m].notna().any()
            rows.append({"measure": m, "label": KPI_LABELS.get(m, m), "weight": float(w),
                         "weight_share": float(w) / float(weights.sum()), "value_at_0": lo, "value_at_100": hi,
                         "available": bool(present)})
        return pd.DataFrame(rows).set_index("measure")

    def plot(self, ax=None, *, n: int | None = 40):
        """The health scores of the scope this period, the ``n`` weakest (:func:`plot_health`)."""
        return plot_health(self.health_now, bands=self.settings.get("bands", (50, 75)), n=n, ax=ax)

    def _repr_html_(self) -> str:
        import html as _html

        return (f"<p><b>{_html.escape(self.headline)}</b> ({self.period:%Y-%m}; "
                f"{self.n_red} red, {self.n_amber} amber, {self.n_green} green)</p>")


_UNITS = {"M": "months", "Q": "quarters", "W": "weeks", "Y": "years", "D": "days"}


def _headline(n_flag: int, n: int, label: str, nrr: float, short: str = "") -> str:
    nrr_text = f"portfolio NRR {nrr:.0%}" if np.isfinite(nrr) else "portfolio NRR not known yet"
    if n == 0:
        return f"No {label} could be scored{': ' + short if short else ''}; {nrr_text}"
    return f"{n_flag} of {n} {label} amber or red; {nrr_text}"


def _short_ledger(first, period: pd.Timestamp, f: str, window: str) -> str:
    """Why a ledger is too short for the ledger's health measures (NRR, GRR), or "" when it is not."""
    have = len(pd.period_range(first, period, freq=f))
    w = _PERIODS_PER_YEAR[f] if window == TRAILING_WINDOW else 1
    if have >= 2 * w:
        return ""
    unit = _UNITS[f]
    what = f"the last {w} {unit} with the {w} before" if w > 1 else f"the last {unit[:-1]} with the one before"
    return (f"the ledger's measures (NRR, GRR) compare {what}, so they need {2 * w} {unit} of ledger; this one "
            f"has {have} up to {period:%Y-%m}")


def kpi_health_report(
    dataset,
    panel: pd.DataFrame,
    *,
    weights: Mapping,
    freq: str = "M",
    as_of=None,
    window: str = TRAILING_WINDOW,
    churn_gap: int | None = 3,
    cadence: Mapping | None = None,
    tier: str = "segment",
    key_account_tier: str | None = None,
    rules: Mapping | None = None,
    bands: tuple[float, float] = (50, 75),
    tolerance: float = 1.0,
    scope: str = "key",
    red_lookback: int = 3,
    discount_rate: float = 0.10,
    clv_horizon: int | None = None,
    csat_method: str = "top2box",
    account: str = "account_id",
) -> KpiHealthReport:
    """KPIs, dashboard, health, turned-red accounts and manager roll-up in one call (notebook 02).

    Steps: the report's period is the last full period (:func:`analysis_period`);
    :func:`kpi_table` up to its last day (``churn_gap`` periods without purchase
    make an account lost, so the last ``churn_gap − 1`` periods of churn are not
    known yet); :func:`portfolio_dashboard`; health measures
    (:func:`health_measures` with ``rules`` over :data:`DEFAULT_HEALTH_RULES`),
    :func:`health_score` with ``weights`` and ``bands`` and trends against the
    previous period; the health table, turned-red table and manager roll-up of
    the scope. Works on a ledger alone: KPIs whose table is absent say what to
    provide, the scope falls back to all accounts, and the manager roll-up says
    what is missing.

    Parameters
    ----------
    dataset : Dataset or mapping
        Canonical tables (only ``transactions`` is required).
    panel : DataFrame
        :func:`kamtools.panel.build_panel` at ``freq``.
    weights : mapping
        Health measure → weight (≥ 0); each needs a normalisation rule.
    freq : {"M", "Q"}
    as_of : date, optional
        Analysis date (default: the ledger's last date); the report's period is
        the last full period up to it.
    window : {"trailing_12m", "period"}
        Window of the dashboard and of the health measures.
    churn_gap : int or None
        Churn rule of :func:`logo_churn`.
    cadence : mapping, optional
        Contacts per period expected for each tier.
    tier : str
        Accounts column holding the tier.
    key_account_tier : str, optional
        When given (e.g. ``"Key account"``), key accounts (``is_key_account``)
        take this tier for the cadence, whatever their ``tier`` column says.
    rules : mapping, optional
        Normalisation rules replacing those of :data:`DEFAULT_HEALTH_RULES`.
    bands : (float, float)
        Upper edges of red and amber.
    tolerance : float
        Score points within which the trend is flat.
    scope : {"key", "all"}
        Health table of the key accounts (all accounts when none is flagged) or
        of all accounts.
    red_lookback : int
        Turned-red table: turns in the last ``red_lookback`` periods.
    discount_rate : float
        Annual discount rate of the retention CLV in the dashboard
        (:func:`kpi_table`).
    clv_horizon : int or None
        Its horizon in years (None: perpetuity).
    csat_method : {"top2box", "mean"}

    Returns
    -------
    KpiHealthReport
    """
    func = "kpi_health_report"
    if scope not in _SCOPES:
        raise _must(func, "scope", f"one of {list(_SCOPES)}", scope)
    if not isinstance(weights, Mapping) or not weights:
        raise _must(func, "weights", "a non-empty mapping of measure -> weight", weights)
    all_rules = {**DEFAULT_HEALTH_RULES, **dict(rules or {})}
    no_rule = [m for m in weights if m not in all_rules]
    if no_rule:
        raise _must(func, "weights", f"measures with a normalisation rule (none for {no_rule}; pass rules=)",
                    dict(weights))
    f = _freq_param(freq, func)
    tables = _tables(dataset, func)
    _require_columns(tables.get("transactions"), "transactions", ["account_id", "date", "revenue"])
    last = _dates(tables["transactions"]["date"], "transactions", "date").max()
    period = analysis_period(last, freq=f, as_of=as_of)
    period_end = _period_last_day(period, f)

    accounts = tables.get("accounts")
    keys = key_accounts(accounts, account=account)
    kpi_tables, kpi_tier = tables, tier
    if key_account_tier and keys is not None and tier in accounts.columns:
        derived = accounts.assign(cadence_tier=np.where(accounts[account].isin(keys), key_account_tier,
                                                        accounts[tier].astype(object)))
        kpi_tables, kpi_tier = {**tables, "accounts": derived}, "cadence_tier"
    kpis = kpi_table(kpi_tables, panel, freq=f, cadence=cadence, as_of=period_end, tier=kpi_tier,
                     csat_method=csat_method, churn_gap=churn_gap, discount_rate=discount_rate,
                     clv_horizon=clv_horizon, account=account)
    availability = kpi_availability(kpi_tables, panel=panel, cadence=cadence, tier=kpi_tier,
                                    csat_method=csat_method)
    dashboard = portfolio_dashboard(kpis, period=period, window=window, freq=f)

    measures = health_measures(kpis, {m: all_rules[m] for m in weights}, window=window)
    health = health_score(measures, weights, bands=bands, tolerance=tolerance)
    scope_ids = keys if scope == "key" else None
    label = "key accounts" if scope_ids is not None else "accounts"
    raw_now = pivot_kpis(kpis, level="account", window=window, period=period)
    raw_now = raw_now.reindex(columns=[m for m in weights if m in raw_now.columns])
    if len(raw_now):
        raw_now.index.name = account
    health_now = health_table(health, period=period, accounts=accounts, raw=raw_now, scope=scope_ids,
                              account=account)
    turned = turned_red_table(health, measures, weights, period=period, lookback=red_lookback,
                              accounts=accounts, scope=scope_ids, account=account)
    managers = manager_rollup(health_now, kpis, period=period, window=window)
    if managers.empty:
        managers = _note_frame(_message("accounts", ("account_id", "account_manager")))

    band = health_now["band"].astype(object)
    n_red, n_amber, n_green = (int((band == b).sum()) for b in ("red", "amber", "green"))
    nrr_row = dashboard.loc[dashboard["kpi"] == "nrr", "this_period"]
    nrr = float(nrr_row.iloc[0]) if len(nrr_row) else float("nan")
    n_scored = int(len(health_now))
    first = _dates(panel["period"], "panel", "period").min()
    short = _short_ledger(first, period, f, window) if n_scored == 0 and pd.notna(first) else ""
    settings = {"freq": f, "window": window, "churn_gap": churn_gap, "cadence": dict(cadence or {}),
                "tier": tier, "key_account_tier": key_account_tier, "weights": dict(weights),
                "rules": {m: all_rules[m] for m in weights}, "bands": tuple(bands), "tolerance": tolerance,
                "scope": scope, "red_lookback": red_lookback, "discount_rate": discount_rate,
                "clv_horizon": clv_horizon, "csat_method": csat_method}
    return KpiHealthReport(
        period=period, as_of=period_end, kpis=kpis, availability=availability, dashboard=dashboard,
        measures=measures, health=health, health_now=health_now, turned_red=turned, managers=managers,
        scope=scope_ids, scope_label=label, n_scored=n_scored, n_red=n_red, n_amber=n_amber, n_green=n_green,
        nrr=nrr, headline=_headline(n_red + n_amber, n_scored, label, nrr, short), settings=settings,
    )


# --------------------------------------------------------------------------------------
# CLV overview (BG/NBD + Gamma-Gamma through kamtools.clv)
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClvOverview:
    """Non-contractual CLV of every account, P(alive), and the holdout check (see :func:`clv_overview`).

    Attributes
    ----------
    accounts : DataFrame
        Indexed by account: ``frequency, recency, T, monetary_value`` (from
        :func:`kamtools.clv.rfm_summary`, ``time_unit``), ``last_purchase``,
        ``past_revenue`` (net, up to ``as_of``), ``p_alive``,
        ``expected_purchases_next_year``, ``clv_value`` (currency, present value)
        ``quiet`` (bought in the year before the last ``quiet_periods`` periods,
        not in them) and ``status`` (``"buying"``, ``"gone quiet"``, or
        ``"lapsed"``: no purchase for longer); NaN where a model could not be
        fitted.
    bgnbd, gamma_gamma : fitted models or None
    holdout : HoldoutValidation or None
    margin_rate : float
        Share of revenue counted as margin in the CLV (1.0: revenue terms).
    horizon_years, discount_rate : float
        CLV horizon and annual discount rate.
    time_unit : str
    as_of : Timestamp
    quiet_periods : int
    notes : tuple of str
        What could not be done, and warnings of the fits (as text, no paths).
    """

    accounts: pd.DataFrame = field(repr=False)
    bgnbd: object
    gamma_gamma: object
    holdout: object = field(repr=False)
    margin_rate: float
    horizon_years: float
    discount_rate: float
    time_unit: str
    as_of: pd.Timestamp
    quiet_periods: int
    notes: tuple = ()

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        """Model parameters with intervals, then the CLV totals.

        Returns
        -------
        DataFrame
            ``model, term, estimate, std_err, ci_lower, ci_upper``.
        """
        parts = []
        for name, model in (("BG/NBD", self.bgnbd), ("Gamma-Gamma", self.gamma_gamma)):
            if model is not None:
                parts.append(model.summary(alpha=alpha).assign(model=name))
        clv = self.accounts["clv_value"]
        totals = pd.DataFrame({
            "term": ["clv_total_value", "clv_median_value", "accounts", "accounts_quiet", "margin_rate"],
            "estimate": [clv.sum(min_count=1), clv.median(), float(len(self.accounts)),
                         float(self.accounts["quiet"].sum()), self.margin_rate],
        }).assign(model="CLV")
        parts.append(totals)
        out = pd.concat(parts, ignore_index=True)
        for c in ("std_err", "ci_lower", "ci_upper"):
            if c not in out:
                out[c] = np.nan
        return out[["model", "term", "estimate", "std_err", "ci_lower", "ci_upper"]]

    def quiet_accounts(self) -> pd.DataFrame:
        """The accounts gone quiet, largest past revenue first."""
        q = self.accounts.loc[self.accounts["quiet"]]
        return q.sort_values(["past_revenue"], ascending=False, kind="stable")

    def plot(self, ax=None):
        """The CLV distribution (:func:`plot_clv_distribution`)."""
        return plot_clv_distribution(self.accounts, ax=ax)

    def holdout_summary(self) -> pd.DataFrame:
        """The holdout check in a few numbers (or a ``note`` when it was not run).

        Returns
        -------
        DataFrame
            Indexed by measure: ``value`` of ``calibration_end``, ``holdout_end``,
            ``accounts``, ``purchases_actual``, ``purchases_predicted``,
            ``aggregate_bias`` (fraction), ``mae`` and ``rmse`` (purchases per
            account).
        """
        h = self.holdout
        if h is None:
            why = [n for n in self.notes if n.startswith("Holdout")]
            return _note_frame(why[0] if why else "Holdout check: not run")
        return pd.DataFrame({"value": [
            f"{h.calibration_end.date()}", f"{h.observation_end.date()}", f"{h.n_obs:,}",
            f"{h.total_actual:,.0f}", f"{h.total_predicted:,.0f}", f"{h.aggregate_bias:+.1%}",
            f"{h.mae:.2f}", f"{h.rmse:.2f}",
        ]}, index=pd.Index(["calibration_end", "holdout_end", "accounts", "purchases_actual",
                            "purchases_predicted", "aggregate_bias", "mae", "rmse"], name="measure"))

    def plot_holdout(self, ax=None):
        """The tracking plot of the holdout check (cumulative repeat purchases, actual vs BG/NBD).

        Returns
        -------
        matplotlib.axes.Axes
            With a "not available" note when the check was not run.
        """
        if self.holdout is not None:
            return self.holdout.plot(ax=_axes(ax))
        ax = _axes(ax)
        ax.text(0.5, 0.5, "holdout check not available", ha="center", va="center", transform=ax.transAxes)
        return ax

    def _repr_html_(self) -> str:
        import html as _html

        notes = "".join(f"<li>{_html.escape(n)}</li>" for n in self.notes)
        return (f"<p><b>CLV</b> of {len(self.accounts):,} accounts as of {self.as_of.date()}, "
                f"{self.horizon_years:g} years at {self.discount_rate:.0%} a year</p>"
                + (f"<ul>{notes}</ul>" if notes else ""))


_MONTHS_PER_PERIOD = {"M": 1, "Q": 3, "Y": 12}
_UNIT_WEEKS = {"D": 1 / 7, "W": 1.0, "M": 30.4375 / 7}  # the time units of kamtools.clv, in weeks
_RETRY_PENALIZER = 0.01


def _fit_bgnbd(_clv, rfm, penalizer, notes, attempt):
    """BG/NBD fit; when an unpenalised fit runs to the edge of the parameter space, retry once with
    the small penalty the error advises (and say so), so a report on a short ledger still has a model."""
    from kamtools.exceptions import ConvergenceError, KamError

    if penalizer > 0:
        return attempt("BG/NBD", lambda: _clv.BetaGeo(penalizer=penalizer).fit(rfm)), penalizer
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            bg = _clv.BetaGeo(penalizer=penalizer).fit(rfm)
        except ConvergenceError as exc:
            bg, first = None, str(exc).split(":")[0]
        except KamError as exc:  # nothing a penalty can fix (no repeat purchase, bad data)
            notes.append(f"BG/NBD: not fitted: {exc}")
            return None, penalizer
    if bg is not None:
        notes.extend(f"BG/NBD: {w.message}" for w in caught)
        return bg, penalizer
    bg = attempt("BG/NBD", lambda: _clv.BetaGeo(penalizer=_RETRY_PENALIZER).fit(rfm))
    if bg is not None:
        notes.append(f"BG/NBD: fitted with penalizer {_RETRY_PENALIZER} (unpenalised: {first}); "
                     f"the same penalty is used for Gamma-Gamma and the holdout check")
        return bg, _RETRY_PENALIZER
    return None, penalizer


def clv_overview(
    transactions: pd.DataFrame,
    *,
    as_of,
    horizon_years: float = 3,
    discount_rate: float = 0.10,
    time_unit: str = "W",
    freq: str = "M",
    quiet_periods: int = 3,
    holdout_periods: int = 12,
    margin_rate: float | None = None,
    penalizer: float = 0.0,
    accounts: pd.DataFrame | None = None,
    account: str = "account_id",
) -> ClvOverview:
    """BG/NBD + Gamma-Gamma CLV of every account, P(alive), and a holdout check, never raising on data.

    * :func:`kamtools.clv.rfm_summary` of the ledger up to ``as_of`` in
      ``time_unit``; :class:`~kamtools.clv.BetaGeo` (Fader, Hardie & Lee 2005a)
      for purchases and P(alive); :class:`~kamtools.clv.GammaGamma` (Fader,
      Hardie & Lee 2005b) for spend; :func:`kamtools.clv.customer_lifetime_value`
      over ``horizon_years`` in months discounted at the monthly equivalent of
      ``discount_rate`` (``(1 + d)^(1/12) − 1``), times ``margin_rate``.
    * ``margin_rate`` default: gross margin ÷ revenue of the ledger's last year
      when the ledger has a margin; else 1 (CLV in revenue terms, said in
      ``notes``).
    * :func:`kamtools.clv.holdout_validation`: calibrate up to ``as_of`` minus
      ``holdout_periods`` periods, predict the rest.
    * An account has *gone quiet* when it bought in the year before the last
      ``quiet_periods`` periods but not in them (accounts lost long ago are not
      "quiet": they are gone).
    * ``accounts`` (optional) adds ``account_name``, ``account_manager``,
      ``segment`` and ``is_key_account`` where the table fills them.

    A model that cannot be fitted (too little data, no repeat buyers) leaves its
    columns NaN and says why in ``notes``; warnings of the fits are kept in
    ``notes`` too (so no file path reaches a report).

    Returns
    -------
    ClvOverview
    """
    from kamtools import clv as _clv
    from kamtools.exceptions import KamError

    func = "clv_overview"
    end = _timestamp(as_of, func, "as_of")
    months = _MONTHS_PER_PERIOD.get(_freq_param(freq, func))
    if months is None:
        raise _must(func, "freq", "'M', 'Q' or 'Y'", freq)
    q = _int_param(quiet_periods, func, "quiet_periods")
    hp = _int_param(holdout_periods, func, "holdout_periods")
    if not isinstance(horizon_years, Real) or not horizon_years > 0:
        raise _must(func, "horizon_years", "a positive number", horizon_years)
    if not isinstance(discount_rate, Real) or not discount_rate >= 0:
        raise _must(func, "discount_rate", "a non-negative number (per year)", discount_rate)
    if time_unit not in _UNIT_WEEKS:
        raise _must(func, "time_unit", f"one of {list(_UNIT_WEEKS)}", time_unit)
    if margin_rate is not None and (isinstance(margin_rate, bool) or not isinstance(margin_rate, Real)
                                    or not 0 < margin_rate <= 1):
        raise _must(func, "margin_rate", "a fraction in (0, 1] or None", margin_rate)
    _require_columns(transactions, "transactions", [account, "date", "revenue"])
    all_days = _dates(transactions["date"], "transactions", "date")
    tx = transactions.loc[(all_days <= end).to_numpy()]
    days = all_days[(all_days <= end).to_numpy()]
    notes: list[str] = []

    def attempt(what, fn):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = fn()
            except KamError as exc:
                notes.append(f"{what}: not fitted: {exc}")
                result = None
        for wmsg in caught:
            notes.append(f"{what}: {wmsg.message}")
        return result

    if margin_rate is None:
        year = tx.loc[(days > end - pd.DateOffset(years=1)).to_numpy()]
        has_margin = "gross_margin" in tx.columns and year["gross_margin"].notna().any()
        rev = pd.to_numeric(year["revenue"], errors="coerce").sum()
        if has_margin and rev > 0:
            margin_rate = float(pd.to_numeric(year["gross_margin"], errors="coerce").sum() / rev)
        else:
            margin_rate = 1.0
            notes.append("CLV in revenue terms: provide transactions with gross_margin for CLV in margin terms")

    rfm = attempt("RFM summary", lambda: _clv.rfm_summary(tx, observation_end=end, time_unit=time_unit,
                                                          account=account))
    if rfm is None or rfm.empty:
        rfm = pd.DataFrame({c: pd.Series(dtype=float) for c in ("frequency", "recency", "T", "monetary_value")})
        rfm.index.name = account
    bg = None
    if len(rfm):
        bg, penalizer = _fit_bgnbd(_clv, rfm, penalizer, notes, attempt)
    gg = attempt("Gamma-Gamma", lambda: _clv.GammaGamma(penalizer=penalizer).fit(rfm)) if bg is not None else None
    out = rfm[["frequency", "recency", "T", "monetary_value"]].copy()
    # the settings live on the overview (time_unit, as_of), not in attrs: the RFM's attrs hold Timestamps,
    # which a stored table (parquet metadata is JSON) cannot carry; with an accounts table the join below
    # dropped them already, on a ledger alone they stayed
    out.attrs = {}
    paid = pd.to_numeric(tx["revenue"], errors="coerce")
    out["last_purchase"] = days.loc[(paid > 0).to_numpy()].groupby(tx.loc[(paid > 0).to_numpy(), account]).max() \
        .reindex(out.index)
    out["past_revenue"] = paid.groupby(tx[account]).sum().reindex(out.index)
    year_units = 365.25 / 7 / _UNIT_WEEKS[time_unit]  # one year in the model's time unit
    out["p_alive"] = np.nan
    out["expected_purchases_next_year"] = np.nan
    out["clv_value"] = np.nan
    if bg is not None:
        out["p_alive"] = np.asarray(bg.conditional_probability_alive(rfm["frequency"], rfm["recency"], rfm["T"]),
                                    dtype=float)
        out["expected_purchases_next_year"] = np.asarray(
            bg.conditional_expected_number_of_purchases_up_to_time(year_units, rfm["frequency"], rfm["recency"],
                                                                   rfm["T"]), dtype=float)
    if bg is not None and gg is not None:
        monthly = (1.0 + discount_rate) ** (1 / 12) - 1.0
        value = attempt("CLV", lambda: _clv.customer_lifetime_value(
            bg, gg, rfm, horizon=int(round(12 * horizon_years)), discount_rate=monthly, time_unit=time_unit,
            freq="M", margin_rate=margin_rate))
        if value is not None:
            out["clv_value"] = np.asarray(value, dtype=float)
    quiet_from = (end.to_period("M") - q * months + 1).start_time  # start of the quiet window
    lp = out["last_purchase"]
    lapsed = (lp < quiet_from - pd.DateOffset(years=1)).to_numpy(dtype=bool)
    out["quiet"] = ((lp < quiet_from).to_numpy(dtype=bool) & ~lapsed)
    out["status"] = pd.array(np.where(out["quiet"], "gone quiet", np.where(lapsed, "lapsed", "buying")),
                             dtype="str")
    info = _account_info(accounts, account, extra=("is_key_account",))
    if len(info.columns):
        out = info.reindex(out.index).join(out)

    holdout = None
    cal_end = (end.to_period("M") - hp * months + 1).start_time - pd.Timedelta(days=1)
    if len(tx) and days.min() < cal_end:
        holdout = attempt("Holdout check", lambda: _clv.holdout_validation(
            tx, calibration_end=cal_end, observation_end=end, time_unit=time_unit, account=account,
            penalizer=penalizer))
    else:
        notes.append(f"Holdout check: not run: the ledger does not reach {hp} periods before {end.date()}")
    return ClvOverview(accounts=out, bgnbd=bg, gamma_gamma=gg, holdout=holdout, margin_rate=float(margin_rate),
                       horizon_years=float(horizon_years), discount_rate=float(discount_rate),
                       time_unit=time_unit, as_of=end, quiet_periods=q, notes=tuple(notes))


# --------------------------------------------------------------------------------------
# plots (matplotlib imported lazily; draw only through the Axes)
# --------------------------------------------------------------------------------------
def _axes(ax, figsize=(8, 4.5)):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_kpi_trend(
    kpis: pd.DataFrame,
    names,
    *,
    window: str = TRAILING_WINDOW,
    level: str = "portfolio",
    group: str = "portfolio",
    ax=None,
):
    """KPIs of one level and window over the periods, one line each (same unit please).

    ``nps`` is drawn with a ±1.96 standard-error band when its standard error is
    in ``kpis``. Fractions are drawn on a percent axis.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.dates as mdates
    from matplotlib.ticker import PercentFormatter

    names = [names] if isinstance(names, str) else list(names)
    sel = kpis.loc[(kpis["level"] == level) & (kpis["group"] == group) & (kpis["window"] == window)
                   & kpis["value"].notna()]
    wide = sel.pivot_table(index="period", columns="kpi", values="value", aggfunc="first").sort_index()
    ax = _axes(ax)
    percent = all(_display_kind(n) == "percent" for n in names)
    scale = 100.0 if percent else 1.0
    drawn = 0
    for n in names:
        if n not in wide.columns:
            continue
        y = wide[n] * scale
        ax.plot(wide.index, y, label=KPI_LABELS.get(n, n))
        drawn += 1
        if n == "nps" and "nps_standard_error" in wide.columns:
            se = wide["nps_standard_error"]
            ax.fill_between(wide.index, y - 1.96 * se, y + 1.96 * se, alpha=0.2, linewidth=0,
                            label="NPS ± 1.96 SE")
    if percent:
        ax.yaxis.set_major_formatter(PercentFormatter(100.0, decimals=0))
    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("period" + (" (end of the trailing year)" if window == TRAILING_WINDOW else ""))
    ax.set_ylabel(KPI_LABELS.get(names[0], names[0]) if len(names) == 1 else ("rate" if percent else "value"))
    if drawn:
        ax.legend(loc="best")
    else:
        ax.text(0.5, 0.5, "not available", ha="center", va="center", transform=ax.transAxes)
    return ax


def plot_health(health_now: pd.DataFrame, *, bands=(50, 75), label: str = "account_name", n: int | None = None,
                ax=None):
    """Health scores as horizontal bars coloured by band, the band edges dashed.

    Parameters
    ----------
    health_now : DataFrame
        :func:`health_table` (``score``, ``band``; ``label`` column optional).
    n : int, optional
        Show only the ``n`` lowest scores.

    Returns
    -------
    matplotlib.axes.Axes
    """
    h = health_now.sort_values("score", ascending=True, kind="stable")
    if n is not None:
        h = h.iloc[: _int_param(n, "plot_health", "n")]
    h = h.iloc[::-1]  # bars are drawn bottom-up: the weakest account ends on top
    ids = pd.Series(h.index.astype(str), index=h.index)
    names = h[label].astype(object).where(h[label].notna(), ids) if label in h.columns else ids
    names = names.astype(str)
    ax = _axes(ax, figsize=(8, max(3.0, 0.28 * len(h) + 1)))
    colors = [BAND_COLORS.get(str(b), "#999999") for b in h["band"].astype(object)]
    bars = ax.barh(np.arange(len(h)), h["score"].to_numpy(dtype=float), color=colors)
    ax.set_yticks(np.arange(len(h)), labels=names.to_list())
    ax.bar_label(bars, fmt="{:.0f}", padding=3, fontsize="small")  # a score of 0 has no bar to see
    for edge in bands:
        ax.axvline(edge, color="grey", linestyle="--", linewidth=1)
    ax.set_xlim(0, 105)
    ax.set_xlabel("health score (0–100)")
    return ax


def plot_band_counts(health: pd.DataFrame, *, scope=None, periods: int | None = None,
                     account: str = "account_id", ax=None):
    """Accounts red, amber and green in each period (stacked bars), for the scope.

    Returns
    -------
    matplotlib.axes.Axes
    """
    flat = _health_long(health, account, "period")
    flat = flat.loc[_in_scope(pd.Index(flat[account]), scope) & flat["band"].notna()]
    counts = (flat.assign(band=flat["band"].astype(object)).groupby(["period", "band"]).size()
              .unstack(fill_value=0).reindex(columns=["red", "amber", "green"], fill_value=0).sort_index())
    if periods is not None:
        counts = counts.iloc[-int(periods):]
    ax = _axes(ax)
    x = np.arange(len(counts))
    bottom = np.zeros(len(counts))
    for b in ("red", "amber", "green"):
        ax.bar(x, counts[b].to_numpy(), bottom=bottom, color=BAND_COLORS[b], label=b, width=0.8)
        bottom += counts[b].to_numpy()
    step = max(1, len(counts) // 12)
    ax.set_xticks(x[::step], labels=[f"{p:%Y-%m}" for p in counts.index[::step]], rotation=45, ha="right")
    ax.set_ylabel("accounts")
    ax.set_xlabel("period")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return ax


def plot_clv_distribution(accounts: pd.DataFrame, *, column: str = "clv_value", bins: int = 30, ax=None):
    """Histogram of account CLV on a log scale (CLV is heavily skewed).

    Returns
    -------
    matplotlib.axes.Axes
    """
    v = pd.to_numeric(accounts[column], errors="coerce").to_numpy(dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    ax = _axes(ax)
    if len(v):
        lo, hi = np.log10(v.min()), np.log10(v.max())
        edges = np.logspace(max(lo, hi - 6), hi, bins + 1) if hi > lo else bins
        ax.hist(v, bins=edges)
        ax.set_xscale("log")
        ax.axvline(np.median(v), color="grey", linestyle="--", linewidth=1, label="median")
        ax.legend(loc="upper left")
    ax.set_xlabel(f"{column} (log scale)")
    ax.set_ylabel("accounts")
    return ax


_STATUS_STYLE = {"buying": ("#0072B2", 14, 0.6), "gone quiet": (BAND_COLORS["red"], 24, 0.9),
                 "lapsed": ("#999999", 14, 0.6)}


def plot_p_alive(accounts: pd.DataFrame, *, time_unit: str = "W", ax=None):
    """P(alive) against time since the last purchase, by status (buying, gone quiet, lapsed).

    Returns
    -------
    matplotlib.axes.Axes
    """
    a = accounts.loc[accounts["p_alive"].notna()]
    since = (a["T"] - a["recency"]).to_numpy(dtype=float)
    status = (a["status"] if "status" in a.columns
              else pd.Series(np.where(a["quiet"], "gone quiet", "buying"), index=a.index)).astype(str).to_numpy()
    ax = _axes(ax)
    for name, (color, size, alpha) in _STATUS_STYLE.items():
        sel = status == name
        ax.scatter(since[sel], a["p_alive"].to_numpy()[sel], s=size, alpha=alpha, label=name, color=color)
    unit = {"D": "days", "W": "weeks", "M": "months"}.get(time_unit, time_unit)
    ax.set_xlabel(f"time since last purchase ({unit})")
    ax.set_ylabel("P(alive)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="center right")
    return ax
