"""Key-account selection: criteria, multi-criteria scores, a capped recommendation, portfolio views, robustness.

The first question of a KAM engagement is which accounts deserve key-account treatment. Not simply the
largest: potential, lifetime value, fit and strategic value decide, and not too many (McDonald & Woodburn
advise 15–35 key accounts; above 50 is too many). This module

* builds the **criteria table** (:func:`account_criteria`): one row per account, computed from the panel
  where the data allow (revenue, growth, potential, lifetime value, margin, cost to serve) and taken from
  the accounts table where the criterion is a judgement (1–5 rubrics, renewal likelihood);
* scores it with a **weighted sum** (:func:`weighted_sum`, fixed-scale normalisation for rubrics,
  min–max or percentile rank for continuous criteria) or **TOPSIS** (:func:`topsis`, Hwang & Yoon 1981);
* recommends a capped set (:func:`select_key_accounts`) split into large accounts to *protect* and smaller
  accounts chosen to *grow*, checks manager capacity and compares with the current key-account list;
* draws the **portfolio views** (:func:`portfolio_matrix`, McDonald & Woodburn; :func:`shapiro_matrix`,
  Shapiro et al. 1987; :func:`abc_classes`, :func:`lorenz_curve`, :func:`gini`);
* tests the ranking's **robustness** to the weights (:func:`rank_robustness`, SMAA after Lahdelma et al.
  1998; :func:`weight_sweep`; :func:`rank_reversal_check`);
* asks first whether KAM suits the client at all (:func:`kam_fit_diagnostic`);
* and gives the selection notebook its thin helpers: the candidate pool (:func:`eligible_accounts`: lapsed
  accounts are not candidates), :func:`criteria_overview`, :func:`compare_selections` /
  :func:`plot_rank_comparison` (against revenue alone), :func:`abc_summary` / :func:`plot_abc`,
  :func:`selection_robustness` and :func:`rank_reversal_summary`.

Conventions
-----------
:func:`select_key_accounts` and :func:`portfolio_matrix` put rubric criteria on their fixed scale and
continuous criteria on percentile ranks (:data:`CONTINUOUS_NORMALISATION`; min–max on request): the
REFERENCES convention is min–max, but min–max of skewed currency criteria lets a criterion's stated weight
act far smaller than stated. :func:`weighted_sum` keeps min–max as its default.

Missing criterion values (NaN) are never read as 0. The stated rule: an account's missing criteria have
their weight redistributed over its available criteria, and the share of weight that was available is
reported as ``coverage`` (:func:`score_coverage` per account, the ``coverage`` column of
:func:`select_key_accounts`; ``score.attrs`` carries ``coverage_min`` and ``n_incomplete``).

References
----------
McDonald, M., & Woodburn, D. (2007). *Key Account Management: The Definitive Guide* (2nd ed.).
Butterworth-Heinemann. Millman, T., & Wilson, K. (1995). From key account selling to key account
management. *Journal of Marketing Practice*, 1(1), 9–21. Hwang, C.-L., & Yoon, K. (1981). *Multiple
Attribute Decision Making*. Springer. Shapiro, B. P., Rangan, V. K., Moriarty, R. T., & Ross, E. B. (1987).
Manage customers for profits (not just sales). *Harvard Business Review*, 65(5), 101–108. Lahdelma, R.,
Hokkanen, J., & Salminen, P. (1998). SMAA – Stochastic multiobjective acceptability analysis. *European
Journal of Operational Research*, 106(1), 137–143.
"""

from __future__ import annotations

import html
import math
import sys
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from .exceptions import ParameterError

__all__ = [
    "Criterion",
    "CRITERIA",
    "DEFAULT_WEIGHTS",
    "CONTINUOUS_NORMALISATION",
    "DEFAULT_ATTRACTIVENESS_WEIGHTS",
    "DEFAULT_STRENGTH_WEIGHTS",
    "PORTFOLIO_LABELS",
    "PORTFOLIO_POSTURES",
    "SHAPIRO_LABELS",
    "SHAPIRO_POSTURES",
    "criteria_metadata",
    "default_normalisation",
    "weighted_sum",
    "score_coverage",
    "topsis",
    "account_criteria",
    "SelectionResult",
    "select_key_accounts",
    "PortfolioView",
    "portfolio_matrix",
    "shapiro_matrix",
    "abc_classes",
    "lorenz_curve",
    "gini",
    "rank_robustness",
    "WeightSweep",
    "weight_sweep",
    "RankReversalCheck",
    "rank_reversal_check",
    "KamFitDiagnostic",
    "kam_fit_diagnostic",
    "eligible_accounts",
    "criteria_overview",
    "compare_selections",
    "plot_rank_comparison",
    "abc_summary",
    "plot_abc",
    "SelectionRobustness",
    "selection_robustness",
    "rank_reversal_summary",
]


# ============================================================================================ metadata
class Criterion(NamedTuple):
    """What a selection criterion means and how it is scored by default.

    Attributes
    ----------
    label : str
        Display label.
    type : {"benefit", "cost"}
        Higher is better (benefit) or worse (cost).
    kind : {"rubric", "continuous"}
        ``rubric``: a judgement on a fixed scale (normalised with the fixed scale, so adding an account
        never reorders the others); ``continuous``: a measured quantity (normalised by percentile rank by
        default, :data:`CONTINUOUS_NORMALISATION`; min–max on request).
    description : str
        How the criterion is computed or where it comes from.
    scale : tuple of float or None
        The fixed scale ``(lo, hi)`` of a rubric; None for continuous criteria.
    """

    label: str
    type: str
    kind: str
    description: str
    scale: tuple[float, float] | None = None


#: Every criterion :func:`account_criteria` produces, with its default type and normalisation.
CRITERIA: dict[str, Criterion] = {
    "current_revenue": Criterion(
        "Revenue, last 12 months", "benefit", "continuous",
        "Revenue of the trailing 12 months (the panel's periods in (as_of − 12 months, as_of])."),
    "revenue_growth": Criterion(
        "Revenue growth", "benefit", "continuous",
        "Trailing 12 months over the 12 months before, minus 1 (a rate; missing when the earlier year "
        "had no revenue or the panel is shorter than 24 months)."),
    "revenue_potential": Criterion(
        "Revenue potential", "benefit", "continuous",
        "Wallet estimate minus current revenue, floored at 0 (currency per year; missing without a "
        "wallet estimate)."),
    "share_of_wallet": Criterion(
        "Share of wallet", "cost", "continuous",
        "Current revenue divided by the wallet estimate: a low share means headroom (an alternative to "
        "revenue potential when wallet estimates are rough; not weighted by default)."),
    "lifetime_value": Criterion(
        "Lifetime value", "benefit", "continuous",
        "Retention-based customer lifetime value m·r/(1+d−r) (Gupta & Lehmann 2003; first margin next "
        "year): m = gross margin of the last 12 months, r = renewal likelihood or the panel's yearly "
        "account retention, d = discount rate."),
    "gross_margin_rate": Criterion(
        "Gross margin %", "benefit", "continuous",
        "Gross margin of the last 12 months divided by its revenue (a fraction)."),
    "gross_margin_value": Criterion(
        "Gross margin", "benefit", "continuous",
        "Gross margin of the last 12 months (currency)."),
    "cost_to_serve": Criterion(
        "Cost to serve", "cost", "continuous",
        "Yearly cost to serve the account (currency), from the accounts table."),
    "cost_to_serve_rate": Criterion(
        "Cost to serve / revenue", "cost", "continuous",
        "Cost to serve divided by current revenue: the cost of each unit of revenue."),
    "product_fit": Criterion(
        "Product / offer fit", "benefit", "rubric",
        "How well our offer fits the account's needs (1–5), from the accounts table.", (1.0, 5.0)),
    "strategic_value": Criterion(
        "Strategic value", "benefit", "rubric",
        "Strategic value to us (1–5), from the accounts table.", (1.0, 5.0)),
    "relationship_strength": Criterion(
        "Relationship stage", "benefit", "rubric",
        "Relationship stage 1–5: exploratory, basic, cooperative, interdependent, integrated "
        "(Millman & Wilson 1995), from the accounts table.", (1.0, 5.0)),
    "renewal_likelihood": Criterion(
        "Renewal likelihood", "benefit", "rubric",
        "Probability the account renews / stays (0–1), the account manager's judgement.", (0.0, 1.0)),
    "logo_appeal": Criterion(
        "Logo appeal", "benefit", "rubric",
        "Reference / prestige value of the logo (1–5), from the accounts table.", (1.0, 5.0)),
}

#: Default selection weights (McDonald & Woodburn 2007, ch. 5: key accounts are chosen on the account's
#: attractiveness over about three years; potential, lifetime value, fit and strategic value decide and
#: revenue volume alone misleads). Potential 0.25 and lifetime value 0.20 carry the future value; strategic
#: value 0.15 and product fit 0.10 the fit; current revenue 0.10 keeps size in view without letting it
#: decide; growth, margin rate, cost to serve and logo appeal 0.05 each. Relationship stage and renewal
#: likelihood measure the supplier's *strength* with the account: they place it on the portfolio matrix
#: (Strategic vs Star, Status vs Streamline) instead of deciding whether it is key (a Star is a key account
#: to invest in precisely because the relationship is weak), so they weigh 0 here; renewal likelihood enters
#: through lifetime value. Weights are judgement: set them with the client and test them with
#: :func:`rank_robustness` and :func:`weight_sweep`.
DEFAULT_WEIGHTS: dict[str, float] = {
    "revenue_potential": 0.25,
    "lifetime_value": 0.20,
    "strategic_value": 0.15,
    "product_fit": 0.10,
    "current_revenue": 0.10,
    "revenue_growth": 0.05,
    "gross_margin_rate": 0.05,
    "cost_to_serve_rate": 0.05,
    "logo_appeal": 0.05,
}

#: How :func:`select_key_accounts` and :func:`portfolio_matrix` normalise continuous criteria by default:
#: the percentile rank. Currency criteria are heavily skewed (a few accounts hold most of the revenue), so
#: min–max puts most accounts near 0 and a criterion's weight acts much smaller than stated (on the sample,
#: revenue potential has a median min–max value of 0.007); percentile ranks spread every criterion over
#: [0, 1] like the 1–5 rubrics, so the stated weights are the weights that act (and they resemble the
#: banded 1–10 factor scores of McDonald & Woodburn). Pass ``normalisation="minmax"`` (or a dict) to
#: switch.
CONTINUOUS_NORMALISATION: str = "rank"

#: Account attractiveness (the customer side, a ~3-year view; McDonald & Woodburn).
DEFAULT_ATTRACTIVENESS_WEIGHTS: dict[str, float] = {
    "current_revenue": 0.20,
    "revenue_potential": 0.25,
    "revenue_growth": 0.10,
    "gross_margin_rate": 0.15,
    "strategic_value": 0.15,
    "logo_appeal": 0.15,
}

#: The supplier's relative strength as the customer sees it (offer fit, relationship stage).
DEFAULT_STRENGTH_WEIGHTS: dict[str, float] = {
    "product_fit": 0.40,
    "relationship_strength": 0.40,
    "renewal_likelihood": 0.20,
}

#: Quadrant labels of the McDonald/Woodburn matrix (keys: position; values: display label).
PORTFOLIO_LABELS: dict[str, str] = {
    "strategic": "Strategic",
    "star": "Star",
    "status": "Status",
    "streamline": "Streamline",
}

#: The recommended posture per quadrant (McDonald & Woodburn 2007, ch. 5).
PORTFOLIO_POSTURES: dict[str, str] = {
    "strategic": "Invest: full key-account treatment, joint business plans, senior sponsorship",
    "star": "Invest selectively to build strength: develop the relationship where the account is attractive",
    "status": "Maintain: protect the relationship at efficient cost; manage for cash and margin",
    "streamline": "Streamline: standardise and automate service, reduce cost to serve",
}

#: Quadrant labels of the Shapiro et al. (1987) net-price × cost-to-serve matrix.
SHAPIRO_LABELS: dict[str, str] = {
    "passive": "Passive",
    "carriage_trade": "Carriage trade",
    "bargain_basement": "Bargain basement",
    "aggressive": "Aggressive",
}

#: The usual response per Shapiro quadrant.
SHAPIRO_POSTURES: dict[str, str] = {
    "passive": "High price, low cost to serve: very profitable; protect without over-serving",
    "carriage_trade": "Pays for high service: keep service quality, watch cost creep",
    "bargain_basement": "Price-sensitive, little service: keep lean and standardised",
    "aggressive": "Demands low prices and high service: renegotiate price or service levels",
}

_METHODS = ("wsm", "topsis")
_NORMALISATIONS = ("minmax", "fixed", "rank")
_TYPES = ("benefit", "cost")


def criteria_metadata() -> pd.DataFrame:
    """The :data:`CRITERIA` metadata as a table (index: criterion).

    Returns
    -------
    DataFrame
        ``label, type, kind, description, scale, default_weight``.
    """
    frame = pd.DataFrame.from_dict({k: v._asdict() for k, v in CRITERIA.items()}, orient="index")
    frame["default_weight"] = pd.Series(DEFAULT_WEIGHTS, dtype="float64").reindex(frame.index).fillna(0.0)
    frame.index.name = "criterion"
    return frame


# ============================================================================================ helpers
def _perr(param: str, func: str, must: str, got: str) -> ParameterError:
    return ParameterError(f"The '{param}' parameter of {func} must {must}. Got {got} instead.")


def _names(items, limit: int = 5, quote: bool = True) -> str:
    items = [repr(str(x)) if (quote and isinstance(x, str)) else str(x) for x in items]
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"


def _check_frame(frame, param: str, func: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise _perr(param, func, "be a pandas DataFrame with one row per account",
                    f"{type(frame).__name__}")
    if len(frame) == 0:
        raise _perr(param, func, "have at least one row", "an empty frame")
    if not frame.index.is_unique:
        dup = frame.index[frame.index.duplicated()].unique()
        raise _perr(param, func, "have one row per account (a unique index)",
                    f"{len(dup)} duplicated account ids ({_names(list(dup))})")
    return frame


def _numeric_block(matrix: pd.DataFrame, criteria: list[str], param: str, func: str) -> np.ndarray:
    """The criteria columns as a float array; NaN = missing, infinities and text are errors."""
    bad = [c for c in criteria if not (pd.api.types.is_numeric_dtype(matrix[c]) or
                                       pd.api.types.is_bool_dtype(matrix[c]))]
    if bad:
        col = bad[0]
        sample = matrix[col].dropna().head(3).tolist()
        raise _perr(param, func, "hold numeric criteria", f"non-numeric column(s) {_names(bad)} "
                    f"(e.g. {col!r}: {sample})")
    values = np.column_stack([matrix[c].to_numpy(dtype="float64", na_value=np.nan) for c in criteria]) \
        if criteria else np.empty((len(matrix), 0))
    inf = np.isinf(values)
    if inf.any():
        rows, cols = np.nonzero(inf)
        raise _perr(param, func, "hold finite criterion values (NaN marks a missing value)",
                    f"{int(inf.sum())} infinite values in {_names(sorted({criteria[j] for j in cols}))} "
                    f"(accounts {_names(list(matrix.index[rows[:3]]))})")
    return values


def _weights_series(weights, columns, func: str, *, param: str = "weights", keep_zero: bool = False) -> pd.Series:
    """Validated weights normalised to sum 1 (zero weights dropped unless ``keep_zero``)."""
    if isinstance(weights, pd.Series):
        w = weights.copy()
    elif isinstance(weights, Mapping):
        w = pd.Series(dict(weights), dtype="object")
    else:
        raise _perr(param, func, "be a dict or Series mapping criterion -> weight", f"{type(weights).__name__}")
    if len(w) == 0:
        raise _perr(param, func, "name at least one criterion", "no weights")
    w.index = w.index.map(str) if not all(isinstance(i, str) for i in w.index) else w.index
    if not w.index.is_unique:
        raise _perr(param, func, "name each criterion once",
                    f"duplicates {_names(list(w.index[w.index.duplicated()]))}")
    unknown = [c for c in w.index if c not in columns]
    if unknown:
        raise _perr(param, func, "name criteria that are columns of the matrix",
                    f"unknown criteria {_names(unknown)} (the matrix has {_names(list(columns), 12)})")
    w = pd.to_numeric(w, errors="coerce").astype("float64")
    if w.isna().any() or np.isinf(w.to_numpy()).any():
        bad = list(w.index[w.isna() | np.isinf(w.to_numpy())])
        raise _perr(param, func, "be finite numbers", f"non-numeric or infinite weights for {_names(bad)}")
    if (w < 0).any():
        neg = w[w < 0]
        raise _perr(param, func, "be non-negative",
                    f"negative weights for {_names([f'{k!r} ({v:g})' for k, v in neg.items()], quote=False)}")
    total = float(w.sum())
    if total <= 0:
        raise _perr(param, func, "have a positive sum", "all-zero weights")
    w = w / total
    if not keep_zero:
        w = w[w > 0]
    w.name = "weight"
    return w


def _resolve_types(criteria_types, criteria: list[str], columns, func: str, default=None) -> np.ndarray:
    """Boolean array: True where the criterion is a cost criterion."""
    default = default or {}
    types = {c: default.get(c, "benefit") for c in criteria}
    if criteria_types is not None:
        if not isinstance(criteria_types, (Mapping, pd.Series)):
            raise _perr("criteria_types", func, "be a dict mapping criterion -> 'benefit' or 'cost'",
                        f"{type(criteria_types).__name__}")
        ct = dict(criteria_types)
        unknown = [c for c in ct if c not in columns]
        if unknown:
            raise _perr("criteria_types", func, "name criteria that are columns of the matrix",
                        f"unknown criteria {_names(unknown)}")
        bad = {c: v for c, v in ct.items() if v not in _TYPES}
        if bad:
            raise _perr("criteria_types", func, "map criteria to 'benefit' or 'cost'",
                        _names([f"{v!r} for {c!r}" for c, v in bad.items()], quote=False))
        types.update({c: v for c, v in ct.items() if c in types})
    return np.array([types[c] == "cost" for c in criteria], dtype=bool)


def _resolve_normalisation(normalisation, criteria: list[str], columns, func: str, default=None) -> list[str]:
    default = default or {}
    if isinstance(normalisation, str):
        if normalisation not in _NORMALISATIONS:
            raise _perr("normalisation", func, "be 'minmax', 'fixed', 'rank' or a dict criterion -> "
                        "'minmax'/'fixed'/'rank'", repr(normalisation))
        return [normalisation] * len(criteria)
    if normalisation is None:
        return [default.get(c, "minmax") for c in criteria]
    if not isinstance(normalisation, (Mapping, pd.Series)):
        raise _perr("normalisation", func, "be 'minmax', 'fixed', 'rank' or a dict criterion -> "
                    "'minmax'/'fixed'/'rank'", f"{type(normalisation).__name__}")
    norm = dict(normalisation)
    unknown = [c for c in norm if c not in columns]
    if unknown:
        raise _perr("normalisation", func, "name criteria that are columns of the matrix",
                    f"unknown criteria {_names(unknown)}")
    bad = {c: v for c, v in norm.items() if v not in _NORMALISATIONS}
    if bad:
        raise _perr("normalisation", func, "map criteria to 'minmax', 'fixed' or 'rank'",
                    _names([f"{v!r} for {c!r}" for c, v in bad.items()], quote=False))
    return [norm.get(c, default.get(c, "minmax")) for c in criteria]


def _check_pair(value, param: str, func: str, what: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise _perr(param, func, f"be a pair (lo, hi) {what}", repr(value)) from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise _perr(param, func, f"be a pair (lo, hi) with lo < hi {what}", repr(value))
    return lo, hi


def _resolve_scale(scale, criteria: list[str], columns, func: str, default=None) -> tuple[np.ndarray, np.ndarray]:
    default = default or {}
    base = {c: default.get(c, (1.0, 5.0)) for c in criteria}
    if scale is None:
        pass
    elif isinstance(scale, (Mapping, pd.Series)):
        unknown = [c for c in dict(scale) if c not in columns]
        if unknown:
            raise _perr("scale", func, "name criteria that are columns of the matrix",
                        f"unknown criteria {_names(unknown)}")
        for c, v in dict(scale).items():
            if c in base:
                base[c] = _check_pair(v, "scale", func, f"for {c!r}")
    else:
        pair = _check_pair(scale, "scale", func, "")
        base = {c: pair for c in criteria}
    lo = np.array([base[c][0] for c in criteria], dtype=float)
    hi = np.array([base[c][1] for c in criteria], dtype=float)
    return lo, hi


@dataclass(frozen=True)
class _Prepared:
    index: pd.Index
    criteria: list[str]
    weights: np.ndarray  # sum 1
    values: np.ndarray  # (n, c) raw, NaN = missing
    is_cost: np.ndarray  # (c,)


def _prepare(matrix, weights, criteria_types, func: str, *, keep_zero: bool = False, type_default=None) -> _Prepared:
    matrix = _check_frame(matrix, "matrix", func)
    w = _weights_series(weights, matrix.columns, func, keep_zero=keep_zero)
    criteria = list(w.index)
    values = _numeric_block(matrix, criteria, "matrix", func)
    is_cost = _resolve_types(criteria_types, criteria, matrix.columns, func, type_default)
    return _Prepared(matrix.index, criteria, w.to_numpy(dtype=float), values, is_cost)


def _normalise(prep: _Prepared, normalisation, scale, func: str, *, norm_default=None, scale_default=None,
               columns=None) -> np.ndarray:
    """Benefit-oriented normalised values in [0, 1] (cost criteria inverted); NaN stays NaN."""
    columns = prep.criteria if columns is None else columns
    crit = prep.criteria
    kinds = np.array(_resolve_normalisation(normalisation, crit, columns, func, norm_default))
    lo, hi = _resolve_scale(scale, crit, columns, func, scale_default)
    x = prep.values
    avail = ~np.isnan(x)
    out = np.full(x.shape, np.nan)
    empty = ~avail.any(axis=0)
    if empty.any():
        warnings.warn(f"{func}: criteria {_names(list(np.array(crit)[empty]))} have no values for any account; "
                      "their weight is redistributed over the other criteria (coverage < 1).",
                      UserWarning, stacklevel=3)
    # ---- fixed scale: (x - lo) / (hi - lo); values off the scale are errors
    fixed = kinds == "fixed"
    if fixed.any():
        xf = x[:, fixed]
        off = avail[:, fixed] & ((xf < lo[fixed]) | (xf > hi[fixed]))
        if off.any():
            rows, cols = np.nonzero(off)
            names = np.array(crit)[fixed]
            j = cols[0]
            raise _perr("matrix", func, f"hold values on the fixed scale [{lo[fixed][j]:g}, {hi[fixed][j]:g}] for "
                        f"fixed-scale criterion {str(names[j])!r} (or use normalisation='minmax' for it)",
                        f"{int(off[:, j].sum())} of {len(x)} values off the scale (accounts "
                        f"{_names(list(prep.index[rows[cols == j][:3]]))}: "
                        f"{_names([f'{v:g}' for v in xf[rows[cols == j][:3], j]], quote=False)})")
        out[:, fixed] = (xf - lo[fixed]) / (hi[fixed] - lo[fixed])
    # ---- percentile rank: (r - 1) / (n - 1), r the mid-rank among the n accounts present
    rk = kinds == "rank"
    for j in np.flatnonzero(rk):  # a handful of criteria
        col = x[:, j]
        ok = avail[:, j]
        m = int(ok.sum())
        if m == 0:
            continue
        if np.unique(col[ok]).size < 2:
            raise _perr("matrix", func, "vary across accounts for every rank-normalised criterion (a criterion "
                        "with one value cannot be ranked: drop it, give it weight 0 or use a fixed scale)",
                        f"no variation in {str(crit[j])!r} (all {col[ok][0]:g})")
        r = pd.Series(col[ok]).rank(method="average").to_numpy()
        out[ok, j] = (r - 1.0) / (m - 1.0)
    # ---- min-max: (x - min) / (max - min) over the accounts present
    mm = ~fixed & ~rk
    if mm.any():
        xm = x[:, mm]
        am = avail[:, mm]
        has = am.any(axis=0)
        mn = np.where(am, xm, np.inf).min(axis=0)
        mx = np.where(am, xm, -np.inf).max(axis=0)
        names = np.array(crit)[mm]
        flat = has & (mx <= mn)
        if flat.any():
            raise _perr("matrix", func, "vary across accounts for every min-max criterion (a criterion with one "
                        "value cannot be min-max normalised: drop it, give it weight 0 or use a fixed scale)",
                        "no variation in "
                        + _names([f"{str(n)!r} (all {v:g})" for n, v in zip(names[flat], mn[flat])], quote=False))
        span = np.where(has, mx - mn, 1.0)
        out[:, mm] = (xm - np.where(has, mn, 0.0)) / span
    out[:, prep.is_cost] = 1.0 - out[:, prep.is_cost]
    return out


def _vector_normalise(prep: _Prepared, func: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TOPSIS: r = x / ||x|| per criterion, and the ideal / anti-ideal in r-space (Hwang & Yoon 1981)."""
    x = prep.values
    avail = ~np.isnan(x)
    big = np.where(avail, np.abs(x), 0.0).max(axis=0)
    zero = big == 0
    safe = np.where(zero, 1.0, big)
    norm = safe * np.sqrt(np.where(avail, (x / safe) ** 2, 0.0).sum(axis=0))  # no underflow of tiny values
    if zero.any():
        names = np.array(prep.criteria)[zero]
        raise _perr("matrix", func, "have a criterion with at least one non-zero value to be vector-normalised",
                    f"criteria {_names(list(names))} that are zero or missing for every account")
    r = x / norm
    rmax = np.where(avail, r, -np.inf).max(axis=0)
    rmin = np.where(avail, r, np.inf).min(axis=0)
    ideal = np.where(prep.is_cost, rmin, rmax)
    anti = np.where(prep.is_cost, rmax, rmin)
    return r, ideal, anti


def _wsm_kernel(n0: np.ndarray, a: np.ndarray, w: np.ndarray, full: bool) -> tuple[np.ndarray, np.ndarray]:
    """Scores and coverage for weight columns ``w`` (c × d): (N0 @ W) / (A @ W)."""
    num = n0 @ w
    if full:
        return num, np.ones_like(num)
    cov = a @ w
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(cov > 0, num / np.where(cov > 0, cov, 1.0), np.nan)
    return score, cov


def _topsis_kernel(p0, m0, a, w, full: bool) -> tuple[np.ndarray, np.ndarray]:
    """Closeness for weight columns ``w``: D± = sqrt(P± @ w²) / coverage (per-account renormalised weights)."""
    w2 = w * w
    dpos = np.sqrt(p0 @ w2)
    dneg = np.sqrt(m0 @ w2)
    cov = np.ones_like(dpos) if full else a @ w
    # the coverage factor cancels in D- / (D+ + D-), so closeness needs no division by it
    with np.errstate(invalid="ignore", divide="ignore"):
        close = np.where(dpos + dneg > 0, dneg / np.where(dpos + dneg > 0, dpos + dneg, 1.0), np.nan)
    close = np.where(cov > 0, close, np.nan)
    return close, cov


def _topsis_parts(prep: _Prepared, func: str):
    r, ideal, anti = _vector_normalise(prep, func)
    avail = ~np.isnan(r)
    p0 = np.where(avail, (r - ideal) ** 2, 0.0)
    m0 = np.where(avail, (r - anti) ** 2, 0.0)
    return r, ideal, anti, p0, m0, avail


def _warn_uncovered(cov: np.ndarray, index: pd.Index, func: str) -> None:
    none = cov <= 0
    if none.any():
        warnings.warn(f"{func}: {int(none.sum())} accounts have no value on any weighted criterion "
                      f"({_names(list(index[none]))}); their score is NaN.", UserWarning, stacklevel=3)


def _without_variation(values: np.ndarray, kinds) -> tuple[np.ndarray, np.ndarray]:
    """Criteria (columns) with values but fewer than two distinct ones, where the normalisation needs two.

    ``kinds`` per criterion: ``"fixed"`` (a constant is fine on a fixed scale), ``"rank"``/``"minmax"`` (a
    constant cannot be ranked or min–max scaled) or ``"vector"`` (TOPSIS: a constant puts every account at
    the ideal and the anti-ideal alike, so it moves no one). Returns the mask and the constant values.
    """
    avail = ~np.isnan(values)
    has = avail.any(axis=0)
    lo = np.where(avail, values, np.inf).min(axis=0) if values.size else np.full(values.shape[1], np.inf)
    hi = np.where(avail, values, -np.inf).max(axis=0) if values.size else np.full(values.shape[1], -np.inf)
    needs = np.array([k != "fixed" for k in kinds], dtype=bool)
    return has & needs & (hi <= lo), np.where(has, lo, np.nan)


def _dropped_notes(without_values: list, without_variation: dict) -> list[str]:
    """The stated rule for weighted criteria that cannot rank anyone, in words (for the report)."""
    notes = []
    if without_values:
        notes.append(f"{_names(without_values, 12, quote=False)}: no value for any candidate; "
                     "weight redistributed over the other criteria")
    for c, v in without_variation.items():
        notes.append(f"{c}: the same value ({v:,.4g}) for every candidate with a value, so it cannot rank "
                     "them; weight redistributed over the other criteria")
    return notes


# ============================================================================================ scoring
def weighted_sum(matrix: pd.DataFrame, weights, *, criteria_types=None, normalisation="minmax",
                 scale=(1, 5)) -> pd.Series:
    """Weighted-sum (WSM) score of each account in [0, 1].

    Each criterion is normalised to [0, 1], cost criteria are inverted (1 − normalised), and the score
    is the weighted mean of the normalised values with weights normalised to sum 1.

    Parameters
    ----------
    matrix : DataFrame
        One row per account (the index is the account id), one numeric column per criterion. Columns
        not named in ``weights`` are ignored. NaN marks a missing value.
    weights : dict or Series
        Criterion -> non-negative weight; rescaled to sum 1. Criteria with weight 0 are left out.
    criteria_types : dict, optional
        Criterion -> ``"benefit"`` (higher is better, the default) or ``"cost"``.
    normalisation : {"minmax", "fixed", "rank"} or dict
        ``"fixed"``: ``(x − lo) / (hi − lo)`` on the fixed ``scale`` (for 1–5 rubrics: adding an account
        never reorders the others); ``"minmax"``: ``(x − min) / (max − min)`` over the accounts (for
        continuous criteria: adding an account can reorder the others, see :func:`rank_reversal_check`);
        ``"rank"``: the percentile rank ``(r − 1) / (n − 1)``, ``r`` the mid-rank (ties averaged) among
        the ``n`` accounts with a value (for skewed currency criteria, whose min–max values crowd near 0 so
        that their weight acts much smaller than stated). Adding an account below all others maps every
        rank-normalised value ``p`` to ``((n − 1) p + 1) / n``: when every weighted criterion is ranked over
        the same ``n`` accounts the others keep their order; mixed with fixed-scale criteria (or with gaps)
        the ranked criteria lose a share ``1/n`` of their spread, so near-ties can swap (far less than under
        min–max, where one extreme account rescales a criterion by any amount). A dict maps criterion ->
        method (criteria not in it use min–max).
    scale : tuple or dict
        ``(lo, hi)`` of the fixed scale, or a dict criterion -> ``(lo, hi)``; default ``(1, 5)``.

    Returns
    -------
    Series
        Named ``score``, indexed like ``matrix``, in [0, 1], higher is better. Missing criterion values
        have their weight redistributed over the account's available criteria: the share of weight that
        was available per account is :func:`score_coverage`; ``score.attrs`` carries ``coverage_min``
        and ``n_incomplete`` (accounts with coverage < 1). An account with no value on any weighted
        criterion scores NaN (warned).

    Raises
    ------
    ParameterError
        Negative, non-finite or all-zero weights; criteria (in ``weights``, ``criteria_types``,
        ``normalisation`` or ``scale``) that are not columns of ``matrix``; a min–max criterion with no
        variation; a fixed-scale value off its scale; a type other than ``"benefit"``/``"cost"``.

    References
    ----------
    Fishburn, P. C. (1967). Additive utilities with incomplete product sets. *Operations Research*, 15(3).
    McDonald & Woodburn (2007), ch. 5: weighted attractiveness factors scored on fixed scales.

    Examples
    --------
    >>> m = pd.DataFrame({"revenue": [100.0, 50.0, 0.0], "fit": [5, 3, 1]}, index=["a", "b", "c"])
    >>> weighted_sum(m, {"revenue": 1, "fit": 1}, normalisation={"fit": "fixed"}).round(3).tolist()
    [1.0, 0.5, 0.0]
    """
    out, _ = _weighted_sum(matrix, weights, criteria_types, normalisation, scale, "weighted_sum")
    return out


def _coverage_attrs(out: pd.Series, cov: np.ndarray) -> None:
    # scalars only: a Series in attrs breaks pandas operations that compare attrs (nlargest, concat)
    out.attrs.update({"coverage_min": float(cov.min()) if cov.size else np.nan,
                      "n_incomplete": int((cov < 1 - 1e-12).sum()),
                      "coverage_rule": "missing criteria: weight redistributed over the account's available "
                                       "criteria (per-account coverage: score_coverage)"})


def _weighted_sum(matrix, weights, criteria_types, normalisation, scale, func) -> tuple[pd.Series, np.ndarray]:
    prep = _prepare(matrix, weights, criteria_types, func)
    n = _normalise(prep, normalisation, scale, func, columns=matrix.columns)
    avail = ~np.isnan(n)
    score, cov = _wsm_kernel(np.where(avail, n, 0.0), avail.astype(float), prep.weights[:, None], bool(avail.all()))
    score, cov = np.clip(score[:, 0], 0.0, 1.0), np.clip(cov[:, 0], 0.0, 1.0)
    _warn_uncovered(cov, prep.index, func)
    out = pd.Series(score, index=prep.index, name="score")
    _coverage_attrs(out, cov)
    return out, cov


def score_coverage(matrix: pd.DataFrame, weights) -> pd.Series:
    """Share of the (normalised) weight for which each account has a value.

    Parameters
    ----------
    matrix : DataFrame
        Accounts × criteria (NaN = missing).
    weights : dict or Series
        As in :func:`weighted_sum`.

    Returns
    -------
    Series
        Named ``coverage`` in [0, 1], indexed like ``matrix``: 1 when every weighted criterion is known.

    Examples
    --------
    >>> m = pd.DataFrame({"a": [1.0, np.nan], "b": [2.0, 3.0]}, index=["x", "y"])
    >>> score_coverage(m, {"a": 3, "b": 1}).tolist()
    [1.0, 0.25]
    """
    prep = _prepare(matrix, weights, None, "score_coverage")
    cov = (~np.isnan(prep.values)).astype(float) @ prep.weights
    return pd.Series(np.clip(cov, 0.0, 1.0), index=prep.index, name="coverage")


def topsis(matrix: pd.DataFrame, weights, *, criteria_types=None) -> pd.Series:
    """TOPSIS relative closeness to the ideal account (Hwang & Yoon 1981), in [0, 1].

    Vector normalisation ``r_ij = x_ij / sqrt(Σ_i x_ij²)``, weighted ``v_ij = w_j r_ij``; the ideal
    ``A⁺`` takes the best ``v`` per criterion (max for benefit, min for cost) and the anti-ideal ``A⁻``
    the worst; ``D⁺_i = ‖v_i − A⁺‖``, ``D⁻_i = ‖v_i − A⁻‖`` and closeness
    ``C_i = D⁻_i / (D⁺_i + D⁻_i)``.

    Parameters
    ----------
    matrix : DataFrame
        One row per account, numeric criteria (ratio scales: vector normalisation assumes a meaningful
        zero; negative values are accepted but make the result depend on the origin).
    weights : dict or Series
        Criterion -> non-negative weight, rescaled to sum 1.
    criteria_types : dict, optional
        Criterion -> ``"benefit"`` (default) or ``"cost"``.

    Returns
    -------
    Series
        Named ``closeness``, indexed like ``matrix``, in [0, 1], higher is better. Missing values: the norm,
        ideal and anti-ideal use the accounts present; an account's distances use its available criteria
        with weights renormalised over them (coverage: :func:`score_coverage`; ``.attrs`` as in
        :func:`weighted_sum`).

    Notes
    -----
    The textbook vector normalisation is used (pymcdm's default is min–max, which gives other numbers).

    References
    ----------
    Hwang, C.-L., & Yoon, K. (1981). *Multiple Attribute Decision Making: Methods and Applications*,
    pp. 128–134. Springer.

    Examples
    --------
    >>> m = pd.DataFrame({"x": [3.0, 4.0, 0.0], "y": [1.0, 2.0, 2.0]}, index=["a", "b", "c"])
    >>> topsis(m, {"x": 1, "y": 1}).round(4).tolist()
    [0.6068, 1.0, 0.2941]
    """
    out, _ = _topsis(matrix, weights, criteria_types, "topsis")
    return out


def _topsis(matrix, weights, criteria_types, func) -> tuple[pd.Series, np.ndarray]:
    prep = _prepare(matrix, weights, criteria_types, func)
    _, _, _, p0, m0, avail = _topsis_parts(prep, func)
    close, cov = _topsis_kernel(p0, m0, avail.astype(float), prep.weights[:, None], bool(avail.all()))
    close, cov = np.clip(close[:, 0], 0.0, 1.0), np.clip(cov[:, 0], 0.0, 1.0)
    _warn_uncovered(cov, prep.index, func)
    out = pd.Series(close, index=prep.index, name="closeness")
    _coverage_attrs(out, cov)
    return out, cov


# ============================================================================================ criteria table
def _accounts_table(dataset) -> pd.DataFrame | None:
    if dataset is None:
        return None
    if isinstance(dataset, pd.DataFrame):
        return dataset
    tables = getattr(dataset, "tables", None)
    acc = tables.get("accounts") if isinstance(tables, Mapping) else None
    if acc is None:
        try:
            acc = getattr(dataset, "accounts", None)
        except Exception:  # a Dataset-like object whose attribute lookup fails
            acc = None
    return acc if isinstance(acc, pd.DataFrame) else None


def _config_value(config, key: str, default=None):
    """A selection setting from the config: notebook parameters of 01_selection, or a mapping."""
    if config is None:
        return default
    if hasattr(config, "notebook_parameters"):
        params = config.notebook_parameters("01_selection")
        if key in params:
            return params[key]
        return getattr(config, key, default) if key == "as_of" else default
    if isinstance(config, Mapping):
        for section in ("selection", "01_selection"):
            sub = config.get(section)
            if isinstance(sub, Mapping) and key in sub:
                return sub[key]
        return config.get(key, default)
    return getattr(config, key, default)


def _check_panel(panel, func: str, required=("account_id", "period", "revenue")) -> pd.DataFrame:
    if not isinstance(panel, pd.DataFrame):
        raise _perr("panel", func, "be a pandas DataFrame (from kamtools.panel.build_panel)", type(panel).__name__)
    missing = [c for c in required if c not in panel.columns]
    if missing:
        raise _perr("panel", func, f"have the columns {_names(list(required))}",
                    f"a frame without {_names(missing)} (columns: {_names(list(panel.columns), 12)})")
    return panel


def _windows(periods: pd.Series, as_of, months: int = 12):
    as_of = pd.Timestamp(as_of) if as_of is not None else periods.max()
    cur_start = as_of - pd.DateOffset(months=months)
    prev_start = as_of - pd.DateOffset(months=2 * months)
    return as_of, cur_start, prev_start


def _period_step(periods: pd.Series) -> pd.Timedelta:
    uniq = np.sort(periods.dropna().unique())
    if len(uniq) < 2:
        return pd.Timedelta(days=31)
    return pd.Timedelta(np.diff(uniq).min())


def _retention_clv(margin: np.ndarray, retention: np.ndarray, discount_rate: float) -> tuple[np.ndarray, str]:
    """m·r/(1+d−r) from kamtools.retention, else inline when it refuses the values (same convention)."""
    from .retention import retention_clv  # noqa: PLC0415 (lazy: another module of the kit)

    try:
        value = np.asarray(retention_clv(margin, retention, discount_rate, timing="next"), dtype=float)
        if value.shape == margin.shape:
            return value, "kamtools.retention.retention_clv"
    except Exception:  # noqa: BLE001 (fall back to the closed form below, recorded in attrs)
        pass
    # Inline fallback, Gupta & Lehmann (2003): first margin one period from now, constant retention.
    return margin * retention / (1.0 + discount_rate - retention), "inline m*r/(1+d-r)"


def account_criteria(dataset, panel: pd.DataFrame, config=None, *, as_of=None, discount_rate=None) -> pd.DataFrame:
    """One row per account with every criterion a consultant weighs (see :data:`CRITERIA`).

    Parameters
    ----------
    dataset : Dataset, DataFrame or None
        The loaded dataset (its ``tables["accounts"]`` is used when present), a plain accounts table,
        or None for a ledger-only client (judgement criteria are then missing).
    panel : DataFrame
        The account × period panel (``account_id, period, revenue`` and optionally ``gross_margin``,
        ``active``) from :func:`kamtools.panel.build_panel`.
    config : Config or dict, optional
        Reads ``discount_rate`` (01_selection notebook parameters, or a ``selection`` mapping) and
        ``as_of``.
    as_of : date-like, optional
        The last period of the trailing year; default the config's ``as_of`` or the panel's last period.
    discount_rate : float, optional
        Yearly discount rate of the lifetime value (default 0.10).

    Returns
    -------
    DataFrame
        Index ``account_id``; descriptive columns from the accounts table when present (``account_name,
        segment, account_manager, is_key_account``) then the criteria ``current_revenue, revenue_growth,
        revenue_potential, share_of_wallet, lifetime_value, gross_margin_rate, gross_margin_value,
        cost_to_serve, cost_to_serve_rate, product_fit, strategic_value, relationship_strength,
        renewal_likelihood, logo_appeal``. Currency per year; rates are fractions. A criterion the data do
        not allow is NaN, never 0. ``attrs`` records ``as_of``, the discount rate, the portfolio retention
        with the number of accounts it is measured on (``portfolio_retention_base``) and the
        lifetime-value source.

    Notes
    -----
    *Lifetime value* is m·r/(1+d−r) (Gupta & Lehmann 2003; first margin next year): ``m`` the gross
    margin of the trailing 12 months, ``r`` the account's ``renewal_likelihood`` or, where that is
    missing, the portfolio's yearly account retention from the panel (accounts active in the previous
    12 months that are still active in the last 12), ``d`` the discount rate. Accounts never in the
    ledger have revenue 0. ``is_key_account`` falls back to ``kam_start <= as_of``.

    Examples
    --------
    >>> from kamtools.panel import build_panel  # doctest: +SKIP
    >>> crit = account_criteria(dataset, build_panel(dataset))  # doctest: +SKIP
    """
    func = "account_criteria"
    panel = _check_panel(panel, func)
    accounts = _accounts_table(dataset)
    if accounts is not None and "account_id" not in accounts.columns:
        raise _perr("dataset", func, "provide an accounts table with an 'account_id' column",
                    f"columns {_names(list(accounts.columns), 12)}")
    as_of = as_of if as_of is not None else _config_value(config, "as_of")
    d = discount_rate if discount_rate is not None else _config_value(config, "discount_rate", 0.10)
    d = float(d)
    if not (0 < d < 1):
        raise _perr("discount_rate", func, "be a yearly rate in (0, 1)", repr(d))
    periods = pd.to_datetime(panel["period"])
    as_of, cur_start, prev_start = _windows(periods, as_of)
    ids = panel["account_id"].astype("string")
    rev = panel["revenue"].to_numpy(dtype="float64", na_value=np.nan)
    has_margin = "gross_margin" in panel.columns and panel["gross_margin"].notna().any()
    gm = panel["gross_margin"].to_numpy(dtype="float64", na_value=np.nan) if has_margin else np.full(len(panel), np.nan)
    active = panel["active"].to_numpy(dtype=bool) if "active" in panel.columns else (rev != 0)
    in_cur = ((periods > cur_start) & (periods <= as_of)).to_numpy()
    in_prev = ((periods > prev_start) & (periods <= cur_start)).to_numpy()
    frame = pd.DataFrame({
        "account_id": ids,
        "rev_cur": np.where(in_cur, rev, 0.0),
        "rev_prev": np.where(in_prev, rev, 0.0),
        "gm_cur": np.where(in_cur, gm, np.nan if not has_margin else 0.0),
        "gm_missing": in_cur & np.isnan(gm) & (rev != 0),
        "act_cur": in_cur & active,
        "act_prev": in_prev & active,
    })
    agg = frame.groupby("account_id", sort=False).agg(
        rev_cur=("rev_cur", "sum"), rev_prev=("rev_prev", "sum"), gm_cur=("gm_cur", "sum"),
        gm_missing=("gm_missing", "any"), act_cur=("act_cur", "any"), act_prev=("act_prev", "any"))
    if has_margin:
        agg.loc[agg["gm_missing"], "gm_cur"] = np.nan  # margin unknown for some revenue: not a 0
    else:
        agg["gm_cur"] = np.nan

    # the universe: accounts table first, then ledger accounts it lacks
    if accounts is not None:
        acc = accounts.copy()
        acc["account_id"] = acc["account_id"].astype("string")
        acc = acc.drop_duplicates("account_id").set_index("account_id")
        index = acc.index.append(agg.index.difference(acc.index, sort=False))
    else:
        acc = pd.DataFrame(index=agg.index)
        index = agg.index
    index = pd.Index(index, name="account_id", dtype="string")
    never = ~index.isin(agg.index)  # in the accounts table, never in the ledger: revenue and margin 0
    agg = agg.reindex(index)
    if has_margin:
        agg.loc[never, "gm_cur"] = 0.0
    acc = acc.reindex(index)

    out = pd.DataFrame(index=index)
    for col in ("account_name", "segment", "industry", "region", "account_manager"):
        if col in acc.columns and acc[col].notna().any():
            out[col] = acc[col]
    if "is_key_account" in acc.columns and acc["is_key_account"].notna().any():
        out["is_key_account"] = acc["is_key_account"].astype("boolean").fillna(False).astype(bool)
    elif "kam_start" in acc.columns and acc["kam_start"].notna().any():
        out["is_key_account"] = (pd.to_datetime(acc["kam_start"]) <= as_of).fillna(False).astype(bool)

    cur = agg["rev_cur"].fillna(0.0).to_numpy()
    prev = agg["rev_prev"].fillna(0.0).to_numpy()
    step_months = max(1, round(_period_step(periods).days / 30.44))
    covers_prev = periods.min() <= prev_start + pd.DateOffset(months=step_months)
    out["current_revenue"] = cur
    if covers_prev:
        with np.errstate(divide="ignore", invalid="ignore"):
            out["revenue_growth"] = np.where(prev > 0, cur / np.where(prev > 0, prev, 1.0) - 1.0, np.nan)
    else:
        warnings.warn(f"{func}: the panel starts {periods.min():%Y-%m}, less than 24 months before "
                      f"{as_of:%Y-%m}; revenue_growth is missing for every account.", UserWarning, stacklevel=2)
        out["revenue_growth"] = np.nan
    wallet = pd.to_numeric(acc["wallet_estimate"], errors="coerce").to_numpy(dtype=float, na_value=np.nan) \
        if "wallet_estimate" in acc.columns else np.full(len(index), np.nan)
    out["revenue_potential"] = np.where(np.isnan(wallet), np.nan, np.maximum(wallet - cur, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        out["share_of_wallet"] = np.where(wallet > 0, cur / np.where(wallet > 0, wallet, 1.0), np.nan)

    margin = agg["gm_cur"].to_numpy(dtype=float, na_value=np.nan)
    renewal = pd.to_numeric(acc["renewal_likelihood"], errors="coerce").to_numpy(dtype=float, na_value=np.nan) \
        if "renewal_likelihood" in acc.columns else np.full(len(index), np.nan)
    act_prev = agg["act_prev"].fillna(False).to_numpy(dtype=bool)
    act_cur = agg["act_cur"].fillna(False).to_numpy(dtype=bool)
    portfolio_retention = float((act_prev & act_cur).sum() / act_prev.sum()) if (covers_prev and act_prev.any()) \
        else np.nan
    retention = np.where(np.isnan(renewal), portfolio_retention, np.clip(renewal, 0.0, 1.0))
    clv, clv_source = _retention_clv(margin, retention, d)
    out["lifetime_value"] = clv
    with np.errstate(divide="ignore", invalid="ignore"):
        out["gross_margin_rate"] = np.where(cur > 0, margin / np.where(cur > 0, cur, 1.0), np.nan)
    out["gross_margin_value"] = margin
    cts = pd.to_numeric(acc["cost_to_serve"], errors="coerce").to_numpy(dtype=float, na_value=np.nan) \
        if "cost_to_serve" in acc.columns else np.full(len(index), np.nan)
    out["cost_to_serve"] = cts
    with np.errstate(divide="ignore", invalid="ignore"):
        out["cost_to_serve_rate"] = np.where(cur > 0, cts / np.where(cur > 0, cur, 1.0), np.nan)
    for col in ("product_fit", "strategic_value", "relationship_strength", "renewal_likelihood", "logo_appeal"):
        out[col] = pd.to_numeric(acc[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan) \
            if col in acc.columns else np.nan
    out.attrs.update({
        "as_of": as_of, "discount_rate": d, "portfolio_retention": portfolio_retention,
        # the accounts the retention stands on (active in the previous 12 months): on a small ledger a
        # handful, so a retention of 0 (no one came back) makes every lifetime value 0
        "portfolio_retention_base": int(act_prev.sum()) if covers_prev else 0,
        "lifetime_value_source": clv_source,
        "window": f"({cur_start:%Y-%m-%d}, {as_of:%Y-%m-%d}]",
    })
    return out


# ============================================================================================ selection
def _criterion_defaults(criteria) -> tuple[dict, dict, dict]:
    types = {c: CRITERIA[c].type for c in criteria if c in CRITERIA}
    norm = {c: ("fixed" if CRITERIA[c].kind == "rubric" else CONTINUOUS_NORMALISATION) for c in criteria
            if c in CRITERIA}
    scale = {c: CRITERIA[c].scale for c in criteria if c in CRITERIA and CRITERIA[c].scale is not None}
    return types, norm, scale


def _default_weights(weights, columns, func: str, default: dict, param: str = "weights") -> dict:
    if weights is not None:
        return weights
    use = {c: w for c, w in default.items() if c in columns}
    if not use:
        raise _perr(param, func, "be given when the table has none of the default criteria",
                    f"None with columns {_names(list(columns), 12)}")
    return use


def _ranking_order(score: np.ndarray, tiebreak: np.ndarray | None = None) -> np.ndarray:
    """Positions sorted best first: score descending, then tie-break descending, then position; NaN last."""
    n = len(score)
    s = np.where(np.isnan(score), -np.inf, score)
    keys = [np.arange(n)]
    if tiebreak is not None:
        keys.append(-np.nan_to_num(tiebreak, nan=-np.inf))
    keys.append(-s)
    return np.lexsort(keys)


def _benefit_matrix(prep: _Prepared, method: str, normalisation, scale, func, norm_default, scale_default,
                    columns) -> np.ndarray:
    """Weighted benefit-oriented values whose differences explain the ranking (for the reasons)."""
    if method == "wsm":
        n = _normalise(prep, normalisation, scale, func, norm_default=norm_default,
                       scale_default=scale_default, columns=columns)
        return n * prep.weights
    r, _, _, _, _, _ = _topsis_parts(prep, func)
    return np.where(prep.is_cost, -r, r) * prep.weights


def _reasons(contrib: np.ndarray, rows: np.ndarray, ref: int, labels: np.ndarray, n_reasons: int,
             positive: bool) -> np.ndarray:
    """Text naming the criteria that moved each account most against the reference account."""
    if len(rows) == 0 or ref < 0:
        return np.full(len(rows), None, dtype=object)
    diff = contrib[rows] - contrib[ref]
    diff = np.where(np.isnan(diff), 0.0, diff)
    order = np.argsort(-diff if positive else diff, axis=1, kind="stable")[:, :n_reasons]
    parts = []
    for j in range(order.shape[1]):  # a handful of reasons, not a loop over accounts
        vals = diff[np.arange(len(rows)), order[:, j]]
        txt = pd.Series(labels[order[:, j]]) + " (" + pd.Series(vals).map("{:+.2f}".format) + ")"
        parts.append(txt.where(vals != 0, ""))
    joined = parts[0]
    for p in parts[1:]:
        joined = joined.str.cat(p, sep=", ").str.strip(", ")
    return joined.to_numpy(dtype=object)


@dataclass(frozen=True, eq=False)
class SelectionResult:
    """The recommended key accounts and how they were chosen.

    Attributes
    ----------
    table : DataFrame
        Every account, best first (index ``account_id``): ``rank`` (1 = best), ``score`` (NaN outside the
        candidate pool), ``coverage``, ``eligible`` (in the candidate pool), ``recommended``, ``kind``
        (``protect``: large account to protect; ``grow``: smaller account chosen for growth potential;
        missing when not recommended), ``status`` against the current list
        (``stay``/``join``/``leave``; missing otherwise or without a current list), ``reason`` for the
        recommended and leaving accounts (the criteria that moved the account most, as weighted
        normalised differences against the account at the cut), then descriptive and criterion columns.
    recommended : Index
        The recommended account ids, best first.
    revenue_share, margin_share : float
        Share of total current revenue / gross margin held by the recommended set (NaN when unknown).
    managers : DataFrame
        Per account manager: ``n_accounts``, ``n_key_accounts`` (recommended), ``capacity``,
        ``over_capacity`` (empty when the table has no manager column).
    changes : DataFrame
        The accounts whose status is stay / join / leave (joiners first, then leavers, then stayers, each
        by rank), with the account name when known, kind, current revenue and the reason.
    headline : str
        One sentence for the index page.
    method : str
    weights : Series
        The weights used, normalised to sum 1.
    settings : dict
        Every other setting (cap, capacity, rule for protect/grow, normalisation).
    n_obs : int
        Accounts scored.
    """

    table: pd.DataFrame
    recommended: pd.Index
    revenue_share: float
    margin_share: float
    managers: pd.DataFrame
    changes: pd.DataFrame
    headline: str
    method: str
    weights: pd.Series
    settings: dict = field(default_factory=dict)
    n_obs: int = 0

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        """Tidy headline figures (``term, estimate, std_err, ci_lower, ci_upper``).

        The selection is deterministic given the weights, so ``std_err`` and the interval are NaN: the
        uncertainty that matters (the weights) is measured by :func:`rank_robustness`.
        """
        t = self.table
        status = t["status"].value_counts() if "status" in t else pd.Series(dtype=int)
        kinds = t.loc[t["recommended"], "kind"].value_counts()
        over = int(self.managers["over_capacity"].sum()) if len(self.managers) else np.nan
        terms = {
            "n_accounts": float(len(t)),
            "n_recommended": float(len(self.recommended)),
            "n_protect": float(kinds.get("protect", 0)),
            "n_grow": float(kinds.get("grow", 0)),
            "n_eligible": float(t["eligible"].sum()) if "eligible" in t else float(len(t)),
            "revenue_share": self.revenue_share,
            "margin_share": self.margin_share,
            "potential_share": _share(t, "revenue_potential", self.recommended),
            "n_stay": float(status.get("stay", 0)),
            "n_join": float(status.get("join", 0)),
            "n_leave": float(status.get("leave", 0)),
            "managers_over_capacity": float(over),
            "managers_needed": float(math.ceil(len(self.recommended) / self.settings.get("capacity_per_manager", 1))),
        }
        return pd.DataFrame({"term": list(terms), "estimate": list(terms.values()), "std_err": np.nan,
                             "ci_lower": np.nan, "ci_upper": np.nan})

    def plot(self, ax=None, *, n: int | None = None):
        """Horizontal bars of the best-scored accounts, coloured by protect / grow / not recommended.

        Parameters
        ----------
        ax : Axes, optional
        n : int, optional
            Accounts shown (default: the recommended set plus 10).
        """
        if ax is None:
            import matplotlib.pyplot as plt  # noqa: PLC0415

            _, ax = plt.subplots(figsize=(7, 8))
        n = n or len(self.recommended) + 10
        top = self.table.head(n).iloc[::-1]
        names = top["account_name"].fillna(pd.Series(top.index, index=top.index)) if "account_name" in top \
            else pd.Series(top.index, index=top.index)
        colour = np.where(top["kind"].eq("protect").fillna(False), "C0",
                          np.where(top["kind"].eq("grow").fillna(False), "C1", "0.75"))
        ax.barh(np.arange(len(top)), top["score"].to_numpy(), color=colour)
        ax.set_yticks(np.arange(len(top)), [str(x).replace("$", r"\$") for x in names])
        cut = len(top) - min(len(self.recommended), len(top)) - 0.5
        ax.axhline(cut, color="0.3", lw=1, ls="--")
        ax.set_xlabel(self.table["score"].name if self.method == "wsm" else "closeness")
        from matplotlib.patches import Patch  # noqa: PLC0415

        ax.legend(handles=[Patch(color="C0", label="protect"), Patch(color="C1", label="grow"),
                           Patch(color="0.75", label="not recommended")], loc="lower right", frameon=False)
        return ax

    def recommended_table(self, columns=None) -> pd.DataFrame:
        """The recommended accounts, best first, with the columns a reader needs (those present).

        Parameters
        ----------
        columns : list of str, optional
            Default ``account_name, account_manager, rank, kind, score, coverage, current_revenue,
            gross_margin_value, revenue_potential, lifetime_value, status, reason`` (those in the table).

        Returns
        -------
        DataFrame
            Indexed by account id.
        """
        default = ["account_name", "account_manager", "rank", "kind", "score", "coverage", "current_revenue",
                   "gross_margin_value", "revenue_potential", "lifetime_value", "status", "reason"]
        cols = [c for c in (columns or default) if c in self.table.columns]
        return self.table.loc[self.recommended, cols]

    def scoring_inputs(self) -> dict:
        """Keyword arguments that re-score the candidate pool exactly as this selection did.

        For :func:`rank_robustness`, :func:`weight_sweep` and :func:`rank_reversal_check`:
        ``rank_robustness(**res.scoring_inputs(), k=len(res.recommended))``.

        Returns
        -------
        dict
            ``matrix`` (the eligible, scored accounts in rank order, weighted criteria only), ``weights``
            (normalised), ``method``, ``criteria_types`` and, for the weighted sum, ``normalisation`` and
            ``scale``. In rank order, ties are broken as the selection broke them (by revenue). Weighted
            criteria with no value in the pool, or without variation in it, are left out (the scores are
            the same: their weight was redistributed over the others).
        """
        t = self.table
        keep = t["eligible"].to_numpy(dtype=bool) & t["score"].notna().to_numpy()
        # criteria without any value in the pool, or with one value for all, carry no information (their
        # weight was redistributed): left out, so that robustness draws weights only for criteria that can
        # move the ranking
        used = self.settings.get("weights_used")
        if used is None:
            has = t.loc[keep, list(self.weights.index)].notna().any()
            w = self.weights[has.to_numpy()]
        else:
            w = self.weights[self.weights.index.isin(list(used))]
        w = w / w.sum()
        crit = list(w.index)
        out = {"matrix": t.loc[keep, crit], "weights": w.to_dict(), "method": self.method,
               "criteria_types": {c: self.settings["criteria_types"].get(c, "benefit") for c in crit}}
        if self.method == "wsm":
            out["normalisation"] = _subset(self.settings["normalisation"], w)
            out["scale"] = _subset(self.settings["scale"], w)
        return out

    def _repr_html_(self) -> str:
        cols = [c for c in ("account_name", "rank", "score", "kind", "status", "reason") if c in self.table]
        return (f"<p><b>{html.escape(self.headline)}</b></p>" + self.summary().to_html(index=False, na_rep="")
                + self.table.loc[self.recommended, cols].head(15).to_html(na_rep=""))


def select_key_accounts(criteria: pd.DataFrame, weights=None, *, max_key_accounts: int = 25, method: str = "wsm",
                        criteria_types=None, normalisation=None, scale=None, capacity_per_manager: int = 8,
                        current=None, growth_share: float | None = None, protect_quantile: float = 0.8,
                        revenue: str = "current_revenue", margin: str = "gross_margin_value",
                        manager: str = "account_manager", n_reasons: int = 2, eligible=None) -> SelectionResult:
    """Recommend a capped set of key accounts from the criteria table.

    Parameters
    ----------
    criteria : DataFrame
        From :func:`account_criteria` (or any accounts × criteria frame; non-criterion columns are kept).
    weights : dict or Series, optional
        Criterion -> weight; default :data:`DEFAULT_WEIGHTS` restricted to the columns present.
    max_key_accounts : int
        The cap (McDonald & Woodburn advise 15–35; above 50 is warned as too many to manage as key accounts).
    method : {"wsm", "topsis"}
        Weighted sum or TOPSIS.
    criteria_types, normalisation, scale
        As in :func:`weighted_sum`; by default from :data:`CRITERIA` (cost criteria inverted, rubrics on
        their fixed scale, continuous criteria by percentile rank, :data:`CONTINUOUS_NORMALISATION`;
        criteria unknown to :data:`CRITERIA` benefit and min–max).
    capacity_per_manager : int
        Key accounts one manager can carry; managers above it are flagged ``over_capacity``.
    current : iterable of ids, boolean Series, or None
        The client's current key-account list; default the table's ``is_key_account`` when present.
    growth_share : float, optional
        Minimum share of the recommended slots kept for ``grow`` accounts: when fewer grow accounts make
        the cut, the lowest-scored protect accounts give their slots to the best-scored grow accounts.
    protect_quantile : float
        An account is *large* when its current revenue is positive and at or above this quantile of the
        eligible accounts' current revenue (default 0.8: the top 20 %); recommended large accounts are
        ``protect``, the others ``grow``.
    revenue, margin, manager : str
        Column names of current revenue, gross margin (currency) and account manager.
    n_reasons : int
        Criteria named in each reason.
    eligible : iterable of ids or boolean Series, optional
        The candidate pool: accounts that may be recommended (e.g. :func:`eligible_accounts`, those that
        bought in the last 12 months, to keep lapsed customers out); default every account. Only the pool
        is scored and normalised (the others get score NaN, rank after the pool by revenue, and leave the
        current list with the reason "not eligible"), so the scores do not depend on accounts that cannot
        be chosen and :func:`rank_robustness` on :meth:`SelectionResult.scoring_inputs` reproduces them.

    Returns
    -------
    SelectionResult

    Warns
    -----
    UserWarning
        When ``max_key_accounts`` exceeds 50.

    Notes
    -----
    Missing values follow the stated rule: an account's missing criteria have their weight redistributed
    over its available criteria, and ``coverage`` is the share of the weights (as set) it has values for.
    A weighted criterion with no value for any account of the pool is scored without (the same rule for
    the whole pool; listed in ``settings["criteria_without_values"]``, the weights that act in
    ``settings["weights_used"]``). So is a weighted criterion with the same value for every candidate
    that has one, unless it is on a fixed scale (it cannot be ranked or min–max scaled and separates no
    one; e.g. a lifetime value of 0 for all when no account of a small ledger bought twice): listed with
    its value in ``settings["criteria_without_variation"]``; ``settings["notes"]`` states both rules in
    words. Called directly, :func:`weighted_sum` and :func:`topsis` refuse such a criterion. Ranks break
    score ties by current revenue, then by table order. The
    reason for a ``stay``/``join`` account lists the criteria with the largest weighted normalised
    advantage over the best account left out; for a ``leave`` account, the largest disadvantage against
    the last account in the set.

    References
    ----------
    McDonald, M., & Woodburn, D. (2007). *Key Account Management: The Definitive Guide*, ch. 5 (selection,
    number of key accounts).

    Examples
    --------
    >>> res = select_key_accounts(crit, max_key_accounts=25)  # doctest: +SKIP
    >>> res.headline  # doctest: +SKIP
    '25 key accounts recommended, covering 61 % of margin; 4 changes to the current list'
    """
    func = "select_key_accounts"
    eligible_ids = eligible
    criteria = _check_frame(criteria, "criteria", func)
    if method not in _METHODS:
        raise _perr("method", func, "be 'wsm' or 'topsis'", repr(method))
    if isinstance(max_key_accounts, bool) or not isinstance(max_key_accounts, (int, np.integer)) \
            or max_key_accounts < 1:
        raise _perr("max_key_accounts", func, "be a positive integer", repr(max_key_accounts))
    if max_key_accounts > 50:
        warnings.warn(f"{func}: max_key_accounts={max_key_accounts} is above 50; McDonald & Woodburn advise "
                      "15–35 key accounts and call more than 50 too many to give key-account treatment.",
                      UserWarning, stacklevel=2)
    if isinstance(capacity_per_manager, bool) or not isinstance(capacity_per_manager, (int, np.integer)) \
            or capacity_per_manager < 1:
        raise _perr("capacity_per_manager", func, "be a positive integer", repr(capacity_per_manager))
    if growth_share is not None and not (0 <= growth_share <= 1):
        raise _perr("growth_share", func, "be in [0, 1] or None", repr(growth_share))
    if not (0 < protect_quantile < 1):
        raise _perr("protect_quantile", func, "be in (0, 1)", repr(protect_quantile))
    weights = _default_weights(weights, criteria.columns, func, DEFAULT_WEIGHTS)
    w = _weights_series(weights, criteria.columns, func)
    types_d, norm_d, scale_d = _criterion_defaults(w.index)
    prep = _prepare(criteria, weights, criteria_types, func, type_default=types_d)
    n = len(criteria)
    pool = np.ones(n, dtype=bool) if eligible_ids is None else \
        _current_mask(eligible_ids, criteria.index, func, "eligible")
    if not pool.any():
        raise _perr("eligible", func, "leave at least one account in the candidate pool", "no eligible account")
    scored = criteria.loc[pool] if not pool.all() else criteria
    types_all = {**types_d, **dict(criteria_types or {})}
    norm_all, scale_all = _merge_norm(normalisation, norm_d), _merge_scale(scale, scale_d)
    # a criterion with no value in the pool (a ledger-only client has no judgement scores) cannot rank
    # anyone: scored without it, which is the stated rule (its weight redistributed); coverage below is
    # still measured against the weights as set
    has = ~np.isnan(prep.values[pool]).all(axis=0)
    if not has.any():
        raise _perr("criteria", func, "have values for at least one weighted criterion in the candidate pool",
                    f"no values for {_names(prep.criteria, 12)}")
    # likewise a criterion on which every candidate has the same value (on a small ledger where no account
    # bought twice, the retention-based lifetime value is 0 for all): it cannot be ranked or min-max scaled
    # and separates no one, so it is scored without (weight redistributed), named in the settings
    kinds = (_resolve_normalisation(_subset(norm_all, w), prep.criteria, criteria.columns, func) if method == "wsm"
             else ["vector"] * len(prep.criteria))
    flat, const = _without_variation(prep.values[pool], kinds)
    if not (has & ~flat).any():
        raise _perr("criteria", func, "vary across the candidate pool for at least one weighted criterion (a "
                    "criterion with one value ranks no one)", "no variation in " + _names(
                        [f"{c!r} (all {v:g})" for c, v, f_ in zip(prep.criteria, const, flat) if f_], 12,
                        quote=False))
    has = has & ~flat
    used = _Prepared(prep.index, [c for c, h in zip(prep.criteria, has) if h],
                     prep.weights[has] / prep.weights[has].sum(), prep.values[:, has], prep.is_cost[has])
    w_used = dict(zip(used.criteria, used.weights.tolist()))
    if method == "wsm":
        score, cov = _weighted_sum(scored, w_used, types_all, _subset(norm_all, w_used), _subset(scale_all, w_used),
                                   func)
    else:
        score, cov = _topsis(scored, w_used, types_all, func)
    s = np.full(n, np.nan)
    s[pool] = score.to_numpy(dtype=float)
    coverage = ((~np.isnan(prep.values)).astype(float) @ prep.weights).clip(0.0, 1.0)
    without_variation = {c: float(v) for c, v, f_ in zip(prep.criteria, const, flat) if f_}
    without_values = [c for c, h in zip(prep.criteria, has) if not h and c not in without_variation]
    rev = criteria[revenue].to_numpy(dtype=float, na_value=np.nan) if revenue in criteria else None
    order = _ranking_order(s, rev)
    rank = np.empty(n, dtype=int)
    rank[order] = np.arange(1, n + 1)
    eligible = ~np.isnan(s)
    k = int(min(max_key_accounts, eligible.sum()))
    rec = np.zeros(n, dtype=bool)
    rec[order[eligible[order]][:k]] = True

    # ---- protect vs grow
    if rev is not None:
        valid = rev[pool & ~np.isnan(rev)]
        threshold = float(np.quantile(valid, protect_quantile)) if valid.size else np.inf
        large = np.nan_to_num(rev, nan=-np.inf) >= threshold
        large &= np.nan_to_num(rev, nan=0.0) > 0
    else:
        threshold = np.nan
        large = np.zeros(n, dtype=bool)
    if growth_share and rev is not None and k > 0:
        need = int(math.ceil(growth_share * k)) - int((rec & ~large).sum())
        if need > 0:
            cand = order[(~rec[order]) & (~large[order]) & eligible[order]][:need]  # best grow accounts left out
            drop = order[(rec[order]) & (large[order])][::-1][:len(cand)]  # lowest-scored protect accounts
            rec[drop] = False
            rec[cand] = True
    kind = np.where(rec, np.where(large, "protect", "grow"), None) if rev is not None else np.full(n, None)

    # ---- current list and reasons
    if current is None and "is_key_account" in criteria.columns:
        current = criteria["is_key_account"]
    cur = _current_mask(current, criteria.index, func)
    status = np.full(n, None, dtype=object)
    reason = np.full(n, None, dtype=object)
    labels = np.array([CRITERIA[c].label if c in CRITERIA else c for c in used.criteria], dtype=object)
    contrib = np.full(used.values.shape, np.nan)
    contrib[pool] = _benefit_matrix(_Prepared(used.index[pool], used.criteria, used.weights, used.values[pool],
                                              used.is_cost), method, _subset(norm_all, w_used),
                                    _subset(scale_all, w_used), func, None, None, criteria.columns)
    ranked_rec = order[rec[order]]
    ranked_out = order[(~rec[order]) & eligible[order]]
    best_out = ranked_out[0] if len(ranked_out) else -1
    worst_in = ranked_rec[-1] if len(ranked_rec) else -1
    sel = np.nonzero(rec)[0]
    reason[sel] = _reasons(contrib, sel, best_out, labels, n_reasons, positive=True)
    if cur is not None:
        status[rec & cur] = "stay"
        status[rec & ~cur] = "join"
        status[~rec & cur] = "leave"
        lv = np.nonzero(~rec & cur & pool)[0]
        reason[lv] = _reasons(contrib, lv, worst_in, labels, n_reasons, positive=False)
        reason[~rec & cur & ~pool] = "not eligible (outside the candidate pool)"

    # ---- shares
    total_rev = np.nansum(np.clip(rev, 0, None)) if rev is not None else np.nan
    revenue_share = float(np.nansum(np.clip(rev[rec], 0, None)) / total_rev) if rev is not None and total_rev > 0 \
        else np.nan
    mg = criteria[margin].to_numpy(dtype=float, na_value=np.nan) if margin in criteria else None
    if mg is not None and np.isfinite(mg).any():
        total_mg = np.nansum(np.clip(mg, 0, None))
        margin_share = float(np.nansum(np.clip(mg[rec], 0, None)) / total_mg) if total_mg > 0 else np.nan
    else:
        margin_share = np.nan

    table = pd.DataFrame({"rank": rank, "score": s, "coverage": coverage, "eligible": pool,
                          "recommended": rec, "kind": pd.array(kind, dtype="string"),
                          "status": pd.array(status, dtype="string"),
                          "reason": pd.array(reason, dtype="string")}, index=criteria.index)
    extra = [c for c in criteria.columns if c not in table.columns]
    table = pd.concat([table, criteria[extra]], axis=1).iloc[np.argsort(rank, kind="stable")]
    recommended = pd.Index(table.index[table["recommended"].to_numpy()], name=criteria.index.name)

    # ---- manager capacity
    if manager in criteria.columns:
        mgr = criteria[manager].astype("string").fillna("(unassigned)")
        managers = pd.DataFrame({"n_accounts": mgr.value_counts(),
                                 "n_key_accounts": mgr[rec].value_counts()}).fillna(0).astype(int)
        managers["capacity"] = int(capacity_per_manager)
        managers["over_capacity"] = managers["n_key_accounts"] > capacity_per_manager
        managers.index.name = manager
        managers = managers.sort_values(["n_key_accounts", "n_accounts"], ascending=False)
    else:
        managers = pd.DataFrame(columns=["n_accounts", "n_key_accounts", "capacity", "over_capacity"])
    ch_cols = [c for c in ("account_name", "rank", "score", "status", "kind", "current_revenue", "reason")
               if c in table.columns]
    changes = table.loc[table["status"].notna(), ch_cols]
    changes = changes.iloc[np.lexsort((changes["rank"].to_numpy(),
                                       changes["status"].map({"join": 0, "leave": 1, "stay": 2}).to_numpy()))]
    n_changes = int(table["status"].isin(["join", "leave"]).sum())
    what, share = ("margin", margin_share) if np.isfinite(margin_share) else ("revenue", revenue_share)
    headline = f"{len(recommended)} key account{'s' if len(recommended) != 1 else ''} recommended"
    if np.isfinite(share):
        headline += f", covering {share * 100:.0f} % of {what}"
    if cur is not None:
        headline += f"; {n_changes} change{'s' if n_changes != 1 else ''} to the current list"
    settings = {"max_key_accounts": int(max_key_accounts), "capacity_per_manager": int(capacity_per_manager),
                "growth_share": growth_share, "protect_quantile": protect_quantile,
                "protect_threshold": threshold, "criteria_types": types_all,
                "normalisation": norm_all if method == "wsm" else "vector", "scale": scale_all,
                "n_eligible": int(pool.sum()), "weights_used": w_used,
                "criteria_without_values": without_values, "criteria_without_variation": without_variation,
                "notes": _dropped_notes(without_values, without_variation)}
    return SelectionResult(table=table, recommended=recommended, revenue_share=revenue_share,
                           margin_share=margin_share, managers=managers, changes=changes, headline=headline,
                           method=method, weights=pd.Series(prep.weights, index=prep.criteria, name="weight"),
                           settings=settings, n_obs=int((~np.isnan(s)).sum()))


def _merge_norm(normalisation, default: dict):
    if normalisation is None:
        return dict(default)
    if isinstance(normalisation, str):
        return normalisation
    return {**default, **dict(normalisation)}


def _merge_scale(scale, default: dict):
    if scale is None:
        return dict(default)
    if isinstance(scale, (Mapping, pd.Series)):
        return {**default, **dict(scale)}
    return scale


def _share(table: pd.DataFrame, column: str, ids: pd.Index) -> float:
    """Share of a non-negative column's total held by ``ids`` (NaN when the column is absent or empty)."""
    if column not in table:
        return np.nan
    v = table[column].clip(lower=0)
    total = v.sum(min_count=1)
    return float(v.reindex(ids).sum() / total) if pd.notna(total) and total > 0 else np.nan


def default_normalisation(continuous: str = CONTINUOUS_NORMALISATION) -> dict:
    """The normalisation of every criterion in :data:`CRITERIA`: rubrics fixed-scale, the others ``continuous``.

    Parameters
    ----------
    continuous : {"rank", "minmax"}
        How measured criteria are put on [0, 1].

    Returns
    -------
    dict
        Criterion -> ``"fixed"`` or ``continuous``; pass as ``normalisation`` to :func:`select_key_accounts`,
        :func:`portfolio_matrix` or :func:`criteria_overview`.

    Examples
    --------
    >>> default_normalisation("minmax")["product_fit"], default_normalisation("minmax")["current_revenue"]
    ('fixed', 'minmax')
    """
    if continuous not in ("rank", "minmax"):
        raise _perr("continuous", "default_normalisation", "be 'rank' or 'minmax'", repr(continuous))
    return {c: ("fixed" if m.kind == "rubric" else continuous) for c, m in CRITERIA.items()}


def _current_mask(current, index: pd.Index, func: str, param: str = "current") -> np.ndarray | None:
    if current is None:
        return None
    if isinstance(current, pd.Series) and (pd.api.types.is_bool_dtype(current) or
                                           set(current.dropna().unique().tolist()) <= {True, False}):
        mask = current.reindex(index).astype("boolean").fillna(False).to_numpy(dtype=bool)
        return mask
    if isinstance(current, (str, bytes)) or not isinstance(current, Iterable):
        raise _perr(param, func, "be an iterable of account ids or a boolean Series", repr(current))
    ids = pd.Index(list(current)).astype(str)
    unknown = ids.difference(index.astype(str))
    if len(unknown):
        warnings.warn(f"{func}: {len(unknown)} accounts of the '{param}' list are not in the criteria table "
                      f"({_names(list(unknown))}); they are left out of the comparison.", UserWarning, stacklevel=3)
    return index.astype(str).isin(ids)


# ============================================================================================ portfolio views
@dataclass(frozen=True, eq=False)
class PortfolioView:
    """A two-axis portfolio matrix (McDonald/Woodburn or Shapiro): compute first, draw with ``.plot``.

    Attributes
    ----------
    table : DataFrame
        Index account; the two axis columns, ``quadrant`` (display label), ``quadrant_key``, ``posture``
        and ``size`` (bubble size, e.g. current revenue).
    counts : DataFrame
        Per quadrant: ``n_accounts``, ``size`` (sum), ``size_share``.
    x, y : str
        Column names of the horizontal and vertical axis.
    cutoffs : tuple of float
        ``(x cut, y cut)``: values at or above a cut are "high".
    kind : str
        ``"mcdonald_woodburn"`` or ``"shapiro"``.
    settings : dict
    """

    table: pd.DataFrame
    counts: pd.DataFrame
    x: str
    y: str
    cutoffs: tuple[float, float]
    kind: str
    settings: dict = field(default_factory=dict)

    @property
    def available(self) -> bool:
        """True when at least one account has both coordinates."""
        return bool(self.table[[self.x, self.y]].notna().all(axis=1).any())

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        """Accounts and size share per quadrant as tidy terms (deterministic: no standard errors)."""
        rows = []
        for q, row in self.counts.iterrows():  # four quadrants
            rows.append({"term": f"n_accounts[{q}]", "estimate": float(row["n_accounts"])})
            rows.append({"term": f"size_share[{q}]", "estimate": float(row["size_share"])})
        out = pd.DataFrame(rows)
        out[["std_err", "ci_lower", "ci_upper"]] = np.nan
        return out

    def plot(self, ax=None, *, annotate: int = 0):
        """Bubble chart: ``x`` against ``y``, bubble area ∝ size, cut-off lines and quadrant labels.

        Parameters
        ----------
        ax : Axes, optional
        annotate : int
            Label the ``annotate`` largest bubbles with their account name / id.
        """
        if ax is None:
            import matplotlib.pyplot as plt  # noqa: PLC0415

            _, ax = plt.subplots(figsize=(7, 6))
        if not self.available:
            ax.text(0.5, 0.5, self.settings.get("note") or "not available", ha="center", va="center", wrap=True,
                    transform=ax.transAxes)
            ax.set_axis_off()
            return ax
        t = self.table.dropna(subset=[self.x, self.y])
        size = t["size"].clip(lower=0).fillna(0).to_numpy(dtype=float)
        area = 20 + 600 * size / size.max() if size.size and size.max() > 0 else np.full(len(t), 40.0)
        keys = list(self.settings["labels"])
        colours = {k: f"C{i}" for i, k in enumerate(keys)}
        for key in keys:  # four quadrants
            m = (t["quadrant_key"] == key).to_numpy()
            ax.scatter(t[self.x].to_numpy()[m], t[self.y].to_numpy()[m], s=area[m], alpha=0.6,
                       color=colours[key], edgecolor="white", label=self.settings["labels"][key])
        ax.axvline(self.cutoffs[0], color="0.4", lw=1, ls="--")
        ax.axhline(self.cutoffs[1], color="0.4", lw=1, ls="--")
        if annotate:
            top = t.assign(_s=size).nlargest(annotate, "_s")
            names = top["account_name"] if "account_name" in top else pd.Series(top.index, index=top.index)
            offsets = [((6, 4), "left"), ((-6, -12), "right"), ((6, -12), "left"), ((-6, 4), "right")]
            for i, ((idx, row), name) in enumerate(zip(top.iterrows(), names)):  # a few labelled bubbles
                xy, ha = offsets[i % len(offsets)]  # alternate sides so that neighbours do not overprint
                ax.annotate(str(name).replace("$", r"\$"), (row[self.x], row[self.y]), fontsize=8, xytext=xy,
                            textcoords="offset points", ha=ha,
                            arrowprops={"arrowstyle": "-", "color": "0.4", "lw": 0.6})
        ax.set_xlabel(self.settings.get("x_label", self.x))
        ax.set_ylabel(self.settings.get("y_label", self.y))
        leg = ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=4, frameon=False)
        for handle in leg.legend_handles:  # legend markers of one size (the bubbles' sizes vary)
            handle.set_sizes([60])
        return ax

    def _repr_html_(self) -> str:
        return f"<p><b>{self.kind.replace('_', ' ').title()} matrix</b></p>" + self.counts.to_html()


def _quadrant_view(table: pd.DataFrame, x: str, y: str, cut: tuple[float, float], keymap: dict, labels: dict,
                   postures: dict, kind: str, settings: dict) -> PortfolioView:
    xv, yv = table[x].to_numpy(dtype=float), table[y].to_numpy(dtype=float)
    hx, hy = xv >= cut[0], yv >= cut[1]
    key = np.select([hx & hy, ~hx & hy, hx & ~hy, ~hx & ~hy],
                    [keymap[(True, True)], keymap[(False, True)], keymap[(True, False)], keymap[(False, False)]],
                    default="")
    key = np.where(np.isnan(xv) | np.isnan(yv), None, key)
    table = table.copy()
    table["quadrant_key"] = pd.array(key, dtype="string")
    table["quadrant"] = table["quadrant_key"].map(labels).astype("string")
    table["posture"] = table["quadrant_key"].map(postures).astype("string")
    size = table["size"].clip(lower=0)
    counts = pd.DataFrame({"n_accounts": table.groupby("quadrant_key")["size"].size(),
                           "size": size.groupby(table["quadrant_key"]).sum()}).reindex(list(labels)).fillna(0)
    counts["n_accounts"] = counts["n_accounts"].astype(int)
    counts["size_share"] = counts["size"] / counts["size"].sum() if counts["size"].sum() > 0 else np.nan
    counts["label"] = [labels[k] for k in counts.index]
    counts["posture"] = [postures[k] for k in counts.index]
    counts.index.name = "quadrant_key"
    return PortfolioView(table=table, counts=counts, x=x, y=y, cutoffs=(float(cut[0]), float(cut[1])), kind=kind,
                         settings={**settings, "labels": dict(labels), "postures": dict(postures)})


def _check_labels(labels, default: dict, param: str, func: str) -> dict:
    if labels is None:
        return dict(default)
    if not isinstance(labels, Mapping):
        raise _perr(param, func, f"be a dict with keys among {_names(list(default))}", type(labels).__name__)
    unknown = [k for k in labels if k not in default]
    if unknown:
        raise _perr(param, func, f"have keys among {_names(list(default))}", f"unknown keys {_names(unknown)}")
    return {**default, **{k: str(v) for k, v in labels.items()}}


def portfolio_matrix(criteria: pd.DataFrame, *, attractiveness_weights=None, strength_weights=None,
                     cutoffs=(0.5, 0.5), labels=None, postures=None, criteria_types=None, normalisation=None,
                     scale=None, size: str = "current_revenue") -> PortfolioView:
    """McDonald/Woodburn key-account portfolio: account attractiveness against relative strength.

    Both axes are weighted sums of the criteria (:func:`weighted_sum`, scores in [0, 1]): attractiveness is
    the customer side (volume and potential, growth, margin, strategic fit, logo appeal), strength is how
    the customer sees the supplier (offer fit, relationship stage 1–5, renewal likelihood).

    Parameters
    ----------
    criteria : DataFrame
        From :func:`account_criteria`.
    attractiveness_weights, strength_weights : dict, optional
        Default :data:`DEFAULT_ATTRACTIVENESS_WEIGHTS` / :data:`DEFAULT_STRENGTH_WEIGHTS` (restricted to
        the columns present).
    cutoffs : (float, float) or "median"
        ``(strength cut, attractiveness cut)`` in [0, 1]; at or above is "high". With the default
        normalisation (rubrics on their fixed scale, continuous criteria by percentile rank) both scores
        spread over [0, 1] and 0.5 is near the middle of the book. ``"median"`` splits at the medians of
        the two scores (needed with min–max normalisation of skewed currency criteria, which crowds most
        accounts into the lower half: on the sample, 7 of 400 accounts reach 0.5 attractiveness).
    labels, postures : dict, optional
        Override display labels / postures for keys ``strategic, star, status, streamline``.
    criteria_types, normalisation, scale
        As in :func:`weighted_sum`; defaults from :data:`CRITERIA`.
    size : str
        Column for the bubble size (default current revenue).

    Returns
    -------
    PortfolioView
        ``table`` columns ``strength_score, attractiveness_score, strength_coverage,
        attractiveness_coverage, quadrant, posture, size``. Quadrants: high attractiveness & high
        strength **Strategic**; high attractiveness & low strength **Star**; low attractiveness & high
        strength **Status**; low & low **Streamline**. Criteria with no value for any account, or with
        the same value for all (unless on a fixed scale), are left out of their axis (their weight
        redistributed; listed in ``settings["dropped"]``); an axis with
        no criterion left is NaN and ``settings["note"]`` says which table and columns would provide it
        (the view is then not :attr:`PortfolioView.available`).

    References
    ----------
    McDonald, M., & Woodburn, D. (2007). *Key Account Management: The Definitive Guide*, ch. 5;
    Millman, T., & Wilson, K. (1995), relationship stages.
    """
    func = "portfolio_matrix"
    criteria = _check_frame(criteria, "criteria", func)
    median_cut = isinstance(cutoffs, str) and cutoffs == "median"
    cut = (0.5, 0.5) if median_cut else _check_cutoffs(cutoffs, func, unit=True)
    aw = _default_weights(attractiveness_weights, criteria.columns, func, DEFAULT_ATTRACTIVENESS_WEIGHTS,
                          "attractiveness_weights")
    sw = _default_weights(strength_weights, criteria.columns, func, DEFAULT_STRENGTH_WEIGHTS, "strength_weights")
    scores, dropped, notes = {}, {}, []
    for name, param, wts in (("attractiveness", "attractiveness_weights", aw),
                             ("strength", "strength_weights", sw)):  # two axes
        full = _weights_series(wts, criteria.columns, func, param=param)
        # criteria without any value carry no information: their weight is redistributed (stated rule);
        # so do criteria with one value for every account unless on a fixed scale (they cannot be ranked
        # or min-max scaled)
        has = criteria[list(full.index)].notna().any().to_numpy()
        _, norm_full, _ = _criterion_defaults(list(full.index))
        kinds = _resolve_normalisation(_merge_norm(_subset(normalisation, full), norm_full), list(full.index),
                                       criteria.columns, func)
        flat, _ = _without_variation(_numeric_block(criteria, list(full.index), "criteria", func), kinds)
        dropped[name] = list(full.index[~has | flat])
        has = has & ~flat
        if not has.any():
            if flat.any():
                notes.append(f"{name} not available: no criterion of it varies across the accounts "
                             f"({', '.join(full.index)})")
            else:
                notes.append(f"{name} not available: provide accounts with {', '.join(full.index)}")
            scores[name] = pd.Series(np.nan, index=criteria.index)
            scores[name + "_coverage"] = np.zeros(len(criteria))
            continue
        wts = full[has].to_dict()
        types_d, norm_d, scale_d = _criterion_defaults(list(wts))
        known = {k: v for k, v in dict(criteria_types or {}).items() if k in wts}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # accounts without any value: NaN, reported as coverage 0
            sc, cov = _weighted_sum(criteria, wts, {**types_d, **known},
                                    _merge_norm(_subset(normalisation, wts), norm_d),
                                    _merge_scale(_subset(scale, wts), scale_d), func)
        scores[name] = sc
        scores[name + "_coverage"] = cov * float(full[has].sum())
    table = pd.DataFrame({"strength_score": scores["strength"], "attractiveness_score": scores["attractiveness"],
                          "strength_coverage": scores["strength_coverage"],
                          "attractiveness_coverage": scores["attractiveness_coverage"]},
                         index=criteria.index)
    table["size"] = criteria[size].to_numpy(dtype=float, na_value=np.nan) if size in criteria else np.nan
    if "account_name" in criteria:
        table["account_name"] = criteria["account_name"]
    if median_cut and table[["strength_score", "attractiveness_score"]].notna().any().all():
        cut = (float(table["strength_score"].median()), float(table["attractiveness_score"].median()))
    keymap = {(True, True): "strategic", (False, True): "star", (True, False): "status", (False, False): "streamline"}
    return _quadrant_view(table, "strength_score", "attractiveness_score", cut, keymap,
                          _check_labels(labels, PORTFOLIO_LABELS, "labels", func),
                          _check_labels(postures, PORTFOLIO_POSTURES, "postures", func), "mcdonald_woodburn",
                          {"attractiveness_weights": dict(aw), "strength_weights": dict(sw), "dropped": dropped,
                           "note": "; ".join(notes),
                           "x_label": "relative strength (score)", "y_label": "account attractiveness (score)"})


def _subset(spec, wts):
    if isinstance(spec, (Mapping, pd.Series)):
        return {k: v for k, v in dict(spec).items() if k in dict(wts)}
    return spec


def _check_cutoffs(cutoffs, func: str, unit: bool) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in cutoffs)
    except (TypeError, ValueError):
        raise _perr("cutoffs", func, "be a pair of numbers", repr(cutoffs)) from None
    if not (np.isfinite(a) and np.isfinite(b)) or (unit and not (0 <= a <= 1 and 0 <= b <= 1)):
        raise _perr("cutoffs", func, "be a pair of numbers in [0, 1]" if unit else "be a pair of finite numbers",
                    repr(cutoffs))
    return a, b


def shapiro_matrix(data: pd.DataFrame, *, price: str | None = None, cost: str | None = None, cutoffs=None,
                   labels=None, postures=None, size: str = "current_revenue") -> PortfolioView:
    """Shapiro et al. (1987) customer profitability matrix: net price against cost to serve.

    Parameters
    ----------
    data : DataFrame
        One row per account, e.g. from :func:`account_criteria`.
    price : str, optional
        Net-price column; default ``net_price`` when present, else ``gross_margin_rate`` (the margin
        realised on each unit of revenue, a proxy for net price after discounts when list prices are
        not known).
    cost : str, optional
        Cost-to-serve column; default ``cost_to_serve_rate`` (cost per unit of revenue) when it has values,
        else ``cost_to_serve``.
    cutoffs : (float, float), optional
        ``(cost cut, price cut)``; default the medians.
    labels, postures : dict, optional
        Override labels / postures for keys ``passive, carriage_trade, bargain_basement, aggressive``.
    size : str
        Column for the bubble size.

    Returns
    -------
    PortfolioView
        Quadrants: high price & low cost **Passive**; high & high **Carriage trade**; low & low **Bargain
        basement**; low price & high cost **Aggressive**. Accounts missing either value have no quadrant.
        When a column has no value at all (a ledger without margin, no cost-to-serve data) the view is not
        :attr:`PortfolioView.available` and ``settings["note"]`` says what to provide.

    References
    ----------
    Shapiro, B. P., Rangan, V. K., Moriarty, R. T., & Ross, E. B. (1987). Manage customers for profits
    (not just sales). *Harvard Business Review*, 65(5), 101–108.
    """
    func = "shapiro_matrix"
    data = _check_frame(data, "data", func)
    if price is None:
        price = "net_price" if "net_price" in data else "gross_margin_rate"
    if cost is None:
        cost = "cost_to_serve_rate" if "cost_to_serve_rate" in data and data["cost_to_serve_rate"].notna().any() \
            else "cost_to_serve"
    for param, col in (("price", price), ("cost", cost)):
        if col not in data.columns:
            raise _perr(param, func, "name a column of the data",
                        f"{col!r} (columns: {_names(list(data.columns), 12)})")
    _numeric_block(data, [price, cost], "data", func)
    px = data[price].to_numpy(dtype=float, na_value=np.nan)
    cx = data[cost].to_numpy(dtype=float, na_value=np.nan)
    missing = [c for c, v in ((price, px), (cost, cx)) if np.isnan(v).all()]
    note = ""
    if missing:
        need = {"cost_to_serve_rate": "accounts with cost_to_serve (and a ledger)", "cost_to_serve": "accounts "
                "with cost_to_serve", "gross_margin_rate": "transactions with gross_margin (or cost)"}
        note = "not available: provide " + " and ".join(need.get(c, f"a {c!r} column") for c in missing)
    if cutoffs is not None:
        cut = _check_cutoffs(cutoffs, func, False)
    elif missing:
        cut = (np.nan, np.nan)
    else:
        cut = (float(np.nanmedian(cx)), float(np.nanmedian(px)))
    table = pd.DataFrame({cost: cx, price: px}, index=data.index)
    table["size"] = data[size].to_numpy(dtype=float, na_value=np.nan) if size in data else np.nan
    if "account_name" in data:
        table["account_name"] = data["account_name"]
    # x = cost (high = True), y = price (high = True)
    keymap = {(False, True): "passive", (True, True): "carriage_trade", (False, False): "bargain_basement",
              (True, False): "aggressive"}
    return _quadrant_view(table, cost, price, cut, keymap, _check_labels(labels, SHAPIRO_LABELS, "labels", func),
                          _check_labels(postures, SHAPIRO_POSTURES, "postures", func), "shapiro",
                          {"price": price, "cost": cost, "x_label": f"cost to serve ({cost})",
                           "y_label": f"net price ({price})", "note": note, "dropped": {}})


def _values_array(values, func: str) -> tuple[np.ndarray, pd.Index | None]:
    if isinstance(values, pd.Series):
        idx = values.index
        arr = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = values.notna().to_numpy() & np.isnan(arr)
    else:
        idx = None
        raw = pd.Series(np.asarray(values, dtype=object).ravel())
        arr = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = raw.notna().to_numpy() & np.isnan(arr)
    if bad.any():
        raise _perr("values", func, "be numeric", f"{int(bad.sum())} non-numeric values")
    if np.isinf(arr).any():
        raise _perr("values", func, "be finite", f"{int(np.isinf(arr).sum())} infinite values")
    return arr, idx


def abc_classes(values, *, cutoffs=(0.8, 0.95), labels=("A", "B", "C")) -> pd.Series:
    """ABC (Pareto) classes by cumulative share of the total.

    Accounts are sorted largest first; class A is the smallest set of top accounts that together reach
    ``cutoffs[0]`` of the total, B adds accounts until ``cutoffs[1]``, C is the rest. An account belongs to
    the first class whose cut-off the accounts *before* it have not yet reached, so the account that
    crosses a cut-off stays in the class it completes.

    Parameters
    ----------
    values : Series or array-like
        One value per account (margin where margin exists, else revenue). Zero or negative values are
        class C (last); NaN stays NaN.
    cutoffs : tuple of float
        Increasing cumulative shares in (0, 1] (common: 80/95 i.e. 80/15/5, 70/90, 75/90: not standard).
    labels : tuple of str
        One more label than cut-offs.

    Returns
    -------
    Series
        Named ``abc_class``, indexed like ``values`` (a RangeIndex for arrays).

    Examples
    --------
    >>> abc_classes(pd.Series([50, 30, 10, 5, 5], index=list("abcde"))).tolist()
    ['A', 'A', 'B', 'B', 'C']
    """
    func = "abc_classes"
    arr, idx = _values_array(values, func)
    try:
        cuts = np.array([float(c) for c in cutoffs])
    except (TypeError, ValueError):
        raise _perr("cutoffs", func, "be increasing shares in (0, 1]", repr(cutoffs)) from None
    if cuts.size == 0 or np.any(cuts <= 0) or np.any(cuts > 1) or np.any(np.diff(cuts) <= 0):
        raise _perr("cutoffs", func, "be increasing shares in (0, 1]", repr(tuple(cutoffs)))
    labels = list(labels)
    if len(labels) != cuts.size + 1:
        raise _perr("labels", func, f"have one more label than cutoffs ({cuts.size + 1})", repr(tuple(labels)))
    pos = np.where(np.isnan(arr), 0.0, np.clip(arr, 0.0, None))
    total = pos.sum()
    if total <= 0:
        raise _perr("values", func, "have a positive total", f"a total of {total:g}")
    order = np.argsort(-pos, kind="stable")
    before = (np.cumsum(pos[order]) - pos[order]) / total
    cls = np.searchsorted(cuts, before + 1e-12, side="right")
    cls = np.where(pos[order] > 0, cls, cuts.size)
    out_cls = np.empty(arr.size, dtype=int)
    out_cls[order] = cls
    lab = np.array(labels, dtype=object)[out_cls]
    lab = np.where(np.isnan(arr), None, lab)
    return pd.Series(pd.array(lab, dtype="string"), index=idx, name="abc_class")


def _nonneg_values(values, func: str) -> np.ndarray:
    arr, _ = _values_array(values, func)
    n_nan = int(np.isnan(arr).sum())
    arr = arr[~np.isnan(arr)]
    if n_nan:
        warnings.warn(f"{func}: {n_nan} missing values left out.", UserWarning, stacklevel=3)
    if (arr < 0).any():
        warnings.warn(f"{func}: {int((arr < 0).sum())} negative values (e.g. credit notes above invoices) "
                      "counted as 0: a share of a total cannot be negative.", UserWarning, stacklevel=3)
        arr = np.clip(arr, 0.0, None)
    if arr.size == 0 or arr.sum() <= 0:
        raise _perr("values", func, "hold at least one positive value", f"{arr.size} values summing to "
                    f"{arr.sum() if arr.size else 0:g}")
    return arr


def lorenz_curve(values) -> pd.DataFrame:
    """The Lorenz curve: cumulative share of the total held by the smallest accounts.

    Parameters
    ----------
    values : Series or array-like
        One non-negative value per account (NaN left out, negatives counted as 0, both warned).

    Returns
    -------
    DataFrame
        ``account_share, value_share`` from (0, 0) to (1, 1), ``n + 1`` rows, accounts sorted ascending
        (Lorenz 1905): convex, below the diagonal. The Pareto reading (largest first) is
        ``1 − value_share`` at ``1 − account_share`` (see also :func:`kamtools.plots.lorenz_points`).

    References
    ----------
    Lorenz, M. O. (1905). Methods of measuring the concentration of wealth. *Publications of the American
    Statistical Association*, 9(70), 209–219.
    """
    arr = np.sort(_nonneg_values(values, "lorenz_curve"))
    n = arr.size
    return pd.DataFrame({"account_share": np.arange(n + 1) / n,
                         "value_share": np.concatenate([[0.0], np.cumsum(arr) / arr.sum()])})


def gini(values) -> float:
    """Gini coefficient of concentration, in [0, (n − 1)/n].

    ``G = Σ_i (2i − n − 1) x_(i) / (n Σ_i x_i)`` with ``x_(i)`` sorted ascending, ``i = 1..n``; equal to
    one minus twice the area under the Lorenz curve (trapezoids). 0 when all accounts are equal,
    ``(n − 1)/n`` when one account holds everything.

    Parameters
    ----------
    values : Series or array-like
        Non-negative values (NaN left out, negatives counted as 0, both warned).

    Returns
    -------
    float

    References
    ----------
    Gini, C. (1912). *Variabilità e mutabilità*. Bologna. Formula as in Damgaard, C., & Weiner, J. (2000).
    Describing inequality in plant size or fecundity. *Ecology*, 81(4), 1139–1142.

    Examples
    --------
    >>> round(gini([1, 2, 3, 4, 5]), 4)
    0.2667
    """
    arr = np.sort(_nonneg_values(values, "gini"))
    n = arr.size
    i = np.arange(1, n + 1)
    return float(((2 * i - n - 1) * arr).sum() / (n * arr.sum()))


# ============================================================================================ robustness
def _scoring_parts(matrix, weights, method, criteria_types, normalisation, scale, func, keep_zero=False):
    if method not in _METHODS:
        raise _perr("method", func, "be 'wsm' or 'topsis'", repr(method))
    prep = _prepare(matrix, weights, criteria_types, func, keep_zero=keep_zero)
    if method == "wsm":
        nrm = _normalise(prep, normalisation, scale, func, columns=matrix.columns)
        avail = ~np.isnan(nrm)
        parts = (np.where(avail, nrm, 0.0), None)
    else:
        _, _, _, p0, m0, avail = _topsis_parts(prep, func)
        parts = (p0, m0)
    return prep, parts, avail


def _score_draws(parts, avail_f, w, method: str, full: bool, dtype=np.float64) -> np.ndarray:
    """Scores for weight columns ``w`` (c × d) -> (n × d)."""
    if method == "wsm":
        s, _ = _wsm_kernel(parts[0].astype(dtype, copy=False), avail_f, w.astype(dtype, copy=False), full)
    else:
        s, _ = _topsis_kernel(parts[0].astype(dtype, copy=False), parts[1].astype(dtype, copy=False), avail_f,
                              w.astype(dtype, copy=False), full)
    return s


def _score_rows(parts_t, avail_t, w_rows: np.ndarray, method: str, full: bool) -> np.ndarray:
    """Scores for weight rows ``w_rows`` (d × c) -> (d × n), C-ordered, from transposed parts (c × n).

    The same kernels as :func:`_score_draws`, written draw-major so that each draw's scores are contiguous
    for the sort that ranks them.
    """
    if method == "wsm":
        num = w_rows @ parts_t[0]
        if full:
            return num
        cov = w_rows @ avail_t
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(cov > 0, num / np.where(cov > 0, cov, 1), np.nan).astype(num.dtype, copy=False)
    w2 = w_rows * w_rows
    dpos = np.sqrt(w2 @ parts_t[0])
    dneg = np.sqrt(w2 @ parts_t[1])
    tot = dpos + dneg
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, dneg / np.where(tot > 0, tot, 1), np.nan).astype(dpos.dtype, copy=False)


def _rank_order_rows(s: np.ndarray) -> np.ndarray:
    """Best-first order of each row of non-negative scores (float32); ties by position (stable).

    One sort of packed 64-bit keys (high word: the bit pattern of the float32 score, inverted, which orders
    like the floats for non-negative values; low word: the position) replaces a slower arg-sort. NaN
    (undefined closeness) and negative values rank as 0.
    """
    d, n = s.shape
    s = np.fmax(np.asarray(s, dtype=np.float32), np.float32(0.0))
    s += np.float32(0.0)  # -0.0 -> +0.0
    key = np.empty((d, n), dtype=np.uint64)
    if sys.byteorder == "little":
        halves = key.view(np.uint32).reshape(d, n, 2)
        np.invert(s.view(np.uint32), out=halves[:, :, 1])
        halves[:, :, 0] = np.arange(n, dtype=np.uint32)
        key.sort(axis=1)
        return halves[:, :, 0].astype(np.intp)
    key[:] = np.invert(s.view(np.uint32)).astype(np.uint64) << np.uint64(32)
    key |= np.arange(n, dtype=np.uint64)
    key.sort(axis=1)
    return (key & np.uint64(0xFFFFFFFF)).astype(np.intp)


def _tau_pairs(base: np.ndarray, max_pairs: int, rng) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """Account pairs for Kendall's τ, oriented so that base[i] >= base[j]; pairs tied in base come last.

    Returns ``i, j, m_untied, exact``: all pairs when there are at most ``max_pairs``, else a random
    sample of ``max_pairs`` pairs (with replacement, i != j).
    """
    n = base.size
    if n * (n - 1) // 2 <= max_pairs:
        i, j = np.triu_indices(n, 1)
        exact = True
    else:
        i = rng.integers(0, n, size=max_pairs)
        j = (i + rng.integers(1, n, size=max_pairs)) % n
        exact = False
    swap = base[i] < base[j]
    i, j = np.where(swap, j, i), np.where(swap, i, j)
    tied = base[i] == base[j]
    o = np.argsort(tied, kind="stable")
    return i[o], j[o], int((~tied).sum()), exact


def _kendall_tau_b(draws: np.ndarray, i: np.ndarray, j: np.ndarray, m_untied: int) -> np.ndarray:
    """Kendall's τ_b between the base scores and each row of ``draws`` (d × n) over the pairs (i, j).

    The pairs come from :func:`_tau_pairs` (oriented so the base prefers i; base ties last), so
    τ_b = (C − D) / sqrt(n_b · n_s) with C, D the pairs the draw orders like / against the base, n_b the
    pairs untied in the base and n_s those untied in the draw (Kendall 1945). Over all pairs this is
    ``scipy.stats.kendalltau``'s default; over a random sample of m pairs an estimate with standard error
    about sqrt((1 − τ²)/m).

    Pair-major and in blocks of draws: the scores are transposed (n × d) so that each pair gathers two
    contiguous rows of a block, and the comparisons of a block (pairs × block) stay small enough for the
    cache instead of two (d × pairs) copies of the scores. The counts are the same integers.
    """
    d = draws.shape[0]
    m = len(i)
    conc = np.zeros(d, dtype=np.int64)
    disc = np.zeros(d, dtype=np.int64)
    ns = np.zeros(d, dtype=np.int64)
    if d and m:
        count = np.int32 if m < np.iinfo(np.int32).max else np.int64
        by_account = np.ascontiguousarray(draws.T)  # (n × d)
        block = max(8, min(d, (1 << 19) // m))  # ~0.5M comparisons per block
        for start in range(0, d, block):  # blocks of draws, bounded memory
            sub = np.ascontiguousarray(by_account[:, start:start + block])
            a = np.take(sub, i, axis=0)
            b = np.take(sub, j, axis=0)
            gt = a > b
            lt = a < b
            c = gt[:m_untied].sum(axis=0, dtype=count)
            dd = lt[:m_untied].sum(axis=0, dtype=count)
            stop = start + sub.shape[1]
            conc[start:stop] = c
            disc[start:stop] = dd
            ns[start:stop] = c + dd + gt[m_untied:].sum(axis=0, dtype=count) + lt[m_untied:].sum(axis=0, dtype=count)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((ns > 0) & (m_untied > 0), (conc - disc) / np.sqrt(float(m_untied) * ns), np.nan)


def rank_robustness(matrix: pd.DataFrame, weights, *, k: int, method: str = "wsm", n_draws: int = 2000,
                    concentration: float | None = None, random_state=0, criteria_types=None,
                    normalisation="minmax", scale=(1, 5), alpha: float = 0.05,
                    tau_pairs: int = 10_000) -> pd.DataFrame:
    """How robust is the ranking to the weights? Stochastic multi-criteria acceptability analysis (SMAA).

    Weights are drawn from Dirichlet(concentration · w) around the chosen weights ``w`` (mean ``w``; the
    larger ``concentration``, the closer to ``w``), or uniformly on the simplex when ``concentration`` is
    None (no preference information; Lahdelma et al. 1998). Each draw re-scores every account (one matrix
    product for all draws) and re-ranks them.

    Parameters
    ----------
    matrix : DataFrame
        Accounts × criteria, as in :func:`weighted_sum`.
    weights : dict or Series
        The chosen weights (criteria with weight 0 are left out of the analysis).
    k : int
        Size of the recommended set (top k).
    method : {"wsm", "topsis"}
    n_draws : int
        Weight draws.
    concentration : float, optional
        Dirichlet concentration (e.g. 50: moderate spread around ``w``); None for uniform weights.
    random_state : int or numpy Generator
    criteria_types, normalisation, scale
        As in :func:`weighted_sum` (``normalisation`` and ``scale`` are ignored by TOPSIS).
    alpha : float
        The rank interval covers 1 − alpha of the draws.
    tau_pairs : int
        Kendall's τ uses all account pairs when there are at most this many, else a random sample of this
        many pairs (the same pairs in every draw; standard error about sqrt((1 − τ²)/tau_pairs), at most
        0.01 at the default).

    Returns
    -------
    DataFrame
        Indexed by account (accounts with no value on any criterion are left out, warned): ``base_rank``,
        ``base_score``, ``p_rank1`` (share of draws ranking it first), ``p_top_k`` (share ranking it in the
        top k), ``mean_rank``, ``rank_ci_lower``, ``rank_ci_upper`` (the alpha/2 and 1 − alpha/2 empirical
        quantiles of its rank). ``attrs``: ``mean_kendall_tau`` (mean over draws of τ_b between the draw's
        scores and the base scores), ``kendall_tau_ci``, ``p_topk_unchanged`` (share of draws whose top-k
        set equals the base top-k set), ``k``, ``n_draws``, ``concentration``, ``method``, ``tau_method``.

    Notes
    -----
    Vectorised: scores = normalised matrix (n × c) @ weights (c × draws); each draw is ranked with one
    sort of packed 64-bit keys (float32 score, position), so ties and near-ties within float32 precision
    (~1e-7) are ordered by table position, the same rule as the base ranking. 2,000 draws × 5,000
    accounts take a fraction of a second (``benchmarks/bench_selection.py``).

    References
    ----------
    Lahdelma, R., Hokkanen, J., & Salminen, P. (1998). SMAA – Stochastic multiobjective acceptability
    analysis. *European Journal of Operational Research*, 106(1), 137–143. Kendall, M. G. (1945). The
    treatment of ties in ranking problems. *Biometrika*, 33(3), 239–251.

    Examples
    --------
    >>> rob = rank_robustness(crit[["current_revenue", "product_fit"]],  # doctest: +SKIP
    ...                       {"current_revenue": 0.5, "product_fit": 0.5}, k=25, concentration=50)
    >>> rob.attrs["p_topk_unchanged"]  # doctest: +SKIP
    """
    func = "rank_robustness"
    if isinstance(n_draws, bool) or not isinstance(n_draws, (int, np.integer)) or n_draws < 1:
        raise _perr("n_draws", func, "be a positive integer", repr(n_draws))
    if concentration is not None and not (np.isfinite(concentration) and concentration > 0):
        raise _perr("concentration", func, "be a positive number or None (uniform weights)", repr(concentration))
    if not (0 < alpha < 1):
        raise _perr("alpha", func, "be in (0, 1)", repr(alpha))
    prep, parts, avail = _scoring_parts(matrix, weights, method, criteria_types, normalisation, scale, func)
    cov = avail.astype(float) @ prep.weights
    keep = cov > 0
    if not keep.all():
        warnings.warn(f"{func}: {int((~keep).sum())} accounts have no value on any weighted criterion "
                      f"({_names(list(prep.index[~keep]))}); left out.", UserWarning, stacklevel=2)
        parts = tuple(p[keep] if p is not None else None for p in parts)
        avail = avail[keep]
    index = prep.index[keep]
    n, c = avail.shape
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not (1 <= k <= n):
        raise _perr("k", func, f"be an integer between 1 and the number of accounts ({n})", repr(k))
    rng = np.random.default_rng(random_state)
    alpha_vec = np.ones(c) if concentration is None else concentration * prep.weights
    draws_w = rng.dirichlet(alpha_vec, size=n_draws)  # (d × c)
    full = bool(avail.all())
    avail32 = avail.astype(np.float32)
    base64 = _score_draws(parts, avail.astype(float), prep.weights[:, None], method, full)[:, 0]
    parts_t = tuple(np.ascontiguousarray(p.T, dtype=np.float32) if p is not None else None for p in parts)
    avail_t = np.ascontiguousarray(avail32.T)
    # the base is ranked exactly like every draw (float32 scores from the same kernel, ties by position)
    base32 = _score_rows(parts_t, avail_t, prep.weights[None, :].astype(np.float32), method, full)[0]
    base_order = _rank_order_rows(base32[None, :])[0]
    base_rank = np.empty(n, dtype=np.int64)
    base_rank[base_order] = np.arange(1, n + 1)
    in_base_topk = np.zeros(n, dtype=bool)
    in_base_topk[base_order[:k]] = True
    pi, pj, m_untied, exact = _tau_pairs(base32, int(tau_pairs), rng)

    count1 = np.zeros(n, dtype=np.int64)
    countk = np.zeros(n, dtype=np.int64)
    rank_sum = np.zeros(n, dtype=np.int64)
    rank_dtype = np.int16 if n < np.iinfo(np.int16).max else np.int32
    ranks_all = np.empty((n_draws, n), dtype=rank_dtype)
    taus = np.empty(n_draws)
    unchanged = 0
    chunk = max(1, min(n_draws, 2_000_000 // max(n, 1)))
    positions = np.arange(1, n + 1, dtype=rank_dtype)
    for start in range(0, n_draws, chunk):  # a handful of chunks of draws, bounded memory
        s = _score_rows(parts_t, avail_t, draws_w[start:start + chunk].astype(np.float32), method, full)
        order = _rank_order_rows(s)
        ranks = np.empty(order.shape, dtype=rank_dtype)
        np.put_along_axis(ranks, order, np.broadcast_to(positions, order.shape), axis=1)
        ranks_all[start:start + chunk] = ranks
        count1 += np.bincount(order[:, 0], minlength=n)
        countk += np.bincount(order[:, :k].ravel(), minlength=n)
        rank_sum += ranks.sum(axis=0, dtype=np.int64)
        unchanged += int(in_base_topk[order[:, :k]].all(axis=1).sum())
        taus[start:start + chunk] = _kendall_tau_b(s, pi, pj, m_untied)
    lo_i = int(math.floor(alpha / 2 * (n_draws - 1)))
    hi_i = int(math.ceil((1 - alpha / 2) * (n_draws - 1)))
    if rank_dtype == np.int16:  # radix sort: faster than partition for 16-bit ranks
        part = np.sort(ranks_all, axis=0, kind="stable")
    else:
        part = np.partition(ranks_all, [lo_i, hi_i], axis=0)
    out = pd.DataFrame({
        "base_rank": base_rank, "base_score": base64,
        "p_rank1": count1 / n_draws, "p_top_k": countk / n_draws, "mean_rank": rank_sum / n_draws,
        "rank_ci_lower": part[lo_i].astype(np.int64), "rank_ci_upper": part[hi_i].astype(np.int64),
    }, index=index)
    out.attrs.update({
        "mean_kendall_tau": float(np.nanmean(taus)) if np.isfinite(taus).any() else np.nan,
        "kendall_tau_ci": tuple(float(q) for q in np.nanquantile(taus, [alpha / 2, 1 - alpha / 2]))
        if np.isfinite(taus).any() else (np.nan, np.nan),
        "p_topk_unchanged": unchanged / n_draws, "k": int(k), "n_draws": int(n_draws),
        "concentration": concentration, "method": method, "alpha": alpha,
        "tau_method": "exact (all pairs)" if exact else f"estimate from {len(pi):,} random pairs",
        "weights": dict(zip(prep.criteria, prep.weights.tolist())),
    })
    return out


@dataclass(frozen=True, eq=False)
class WeightSweep:
    """One-at-a-time weight sweep: where does the recommended top-k set change?

    Attributes
    ----------
    grid : DataFrame
        Tidy: ``criterion, weight, n_changed`` (accounts of the base top-k set replaced) and ``changed``.
    switches : DataFrame
        Per criterion: ``base_weight``, ``weight_down`` (the grid weight below the base nearest to it at
        which the set differs; NaN if none), ``weight_up`` (likewise above), ``max_changed``.
    k : int
    method : str
    """

    grid: pd.DataFrame
    switches: pd.DataFrame
    k: int
    method: str

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        """Switch weights as tidy terms (grid resolution is the only uncertainty: no standard errors)."""
        s = self.switches
        rows = [{"term": f"{side}[{c}]", "estimate": float(s.loc[c, side])}
                for c in s.index for side in ("weight_down", "weight_up")]
        out = pd.DataFrame(rows, columns=["term", "estimate"])
        out[["std_err", "ci_lower", "ci_upper"]] = np.nan
        return out

    def plot(self, ax=None):
        """Accounts replaced in the top-k set against each criterion's weight; dots mark the base weights."""
        if ax is None:
            import matplotlib.pyplot as plt  # noqa: PLC0415

            _, ax = plt.subplots()
        import matplotlib as mpl  # noqa: PLC0415

        n_col = max(1, len(mpl.rcParams["axes.prop_cycle"].by_key().get("color", [None] * 10)))
        for i, (crit, g) in enumerate(self.grid.groupby("criterion", sort=False)):  # one line per criterion
            style = {"color": f"C{i % n_col}", "ls": ("-", "--", ":")[(i // n_col) % 3]}
            ax.plot(g["weight"], g["n_changed"], label=crit, **style)
            ax.plot([self.switches.loc[crit, "base_weight"]], [0], "o", color=style["color"])
        ax.set_xlabel("weight of the criterion (others rescaled)")
        ax.set_ylabel(f"accounts replaced in the top {self.k}")
        ax.legend(frameon=False, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return ax

    def _repr_html_(self) -> str:
        return "<p><b>Weight sweep</b></p>" + self.switches.to_html()


def weight_sweep(matrix: pd.DataFrame, weights, *, k: int, criterion: str | None = None, grid=None,
                 method: str = "wsm", criteria_types=None, normalisation="minmax", scale=(1, 5)) -> WeightSweep:
    """Vary one criterion's weight from 0 to 1 (others rescaled proportionally) and watch the top-k set.

    For criterion ``j`` at weight ``t`` the weights are ``w_j = t`` and ``w_i = (1 − t) w_i / Σ_{l≠j} w_l``
    (equal shares when all other weights are 0).

    Parameters
    ----------
    matrix : DataFrame
    weights : dict or Series
        Base weights (criteria with weight 0 are swept too).
    k : int
        Size of the recommended set.
    criterion : str, optional
        Sweep only this criterion (default: every criterion in ``weights``).
    grid : array-like, optional
        Weights to try, in [0, 1]; default 101 points 0, 0.01, …, 1 (the switch weights are reported to
        this resolution).
    method, criteria_types, normalisation, scale
        As in :func:`rank_robustness`.

    Returns
    -------
    WeightSweep
    """
    func = "weight_sweep"
    prep, parts, avail = _scoring_parts(matrix, weights, method, criteria_types, normalisation, scale, func,
                                        keep_zero=True)
    n, c = avail.shape
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not (1 <= k <= n):
        raise _perr("k", func, f"be an integer between 1 and the number of accounts ({n})", repr(k))
    if criterion is not None and criterion not in prep.criteria:
        raise _perr("criterion", func, f"be one of the weighted criteria ({_names(prep.criteria, 12)})",
                    repr(criterion))
    g = np.linspace(0.0, 1.0, 101) if grid is None else np.asarray(grid, dtype=float).ravel()
    if g.size == 0 or np.isnan(g).any() or (g < 0).any() or (g > 1).any():
        raise _perr("grid", func, "hold weights in [0, 1]", repr(grid))
    g = np.unique(g)
    full = bool(avail.all())
    parts_t = tuple(np.ascontiguousarray(p.T, dtype=np.float32) if p is not None else None for p in parts)
    avail_t = np.ascontiguousarray(avail.T, dtype=np.float32)
    # the base and every grid point are ranked the same way (float32 scores, ties by table position)
    base = _score_rows(parts_t, avail_t, prep.weights[None, :].astype(np.float32), method, full)
    base_top = np.zeros(n, dtype=bool)
    base_top[_rank_order_rows(base)[0, :k]] = True
    crits = [criterion] if criterion is not None else prep.criteria
    frames, rows = [], []
    for crit in crits:  # a handful of criteria
        j = prep.criteria.index(crit)
        others = prep.weights.copy()
        others[j] = 0.0
        so = others.sum()
        others = others / so if so > 0 else np.where(np.arange(c) == j, 0.0, 1.0 / max(c - 1, 1))
        wg = np.outer(1.0 - g, others)  # (G × c)
        wg[:, j] = g
        order = _rank_order_rows(_score_rows(parts_t, avail_t, wg.astype(np.float32), method, full))[:, :k]
        n_changed = k - base_top[order].sum(axis=1)
        changed = n_changed > 0
        w0 = prep.weights[j]
        down = g[(g < w0) & changed]
        up = g[(g > w0) & changed]
        rows.append({"criterion": crit, "base_weight": w0,
                     "weight_down": float(down.max()) if down.size else np.nan,
                     "weight_up": float(up.min()) if up.size else np.nan,
                     "max_changed": int(n_changed.max())})
        frames.append(pd.DataFrame({"criterion": crit, "weight": g, "n_changed": n_changed.astype(int),
                                    "changed": changed}))
    return WeightSweep(grid=pd.concat(frames, ignore_index=True),
                       switches=pd.DataFrame(rows).set_index("criterion"), k=int(k), method=method)


@dataclass(frozen=True, eq=False)
class RankReversalCheck:
    """Did adding a dominated account reorder the others?

    Attributes
    ----------
    order_changed : bool
        True when any two original accounts swapped places.
    n_moved : int
        Original accounts whose rank changed.
    ranks : DataFrame
        ``score_before, rank_before, score_after, rank_after, rank_shift`` for the original accounts.
    dominated : Series
        The added account's criterion values.
    dominated_rank : int
        Its rank among n + 1 accounts (n + 1 when it is last, as it must be).
    settings : dict
    """

    order_changed: bool
    n_moved: int
    ranks: pd.DataFrame
    dominated: pd.Series
    dominated_rank: int
    settings: dict = field(default_factory=dict)

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        terms = {"order_changed": float(self.order_changed), "n_moved": float(self.n_moved),
                 "dominated_rank": float(self.dominated_rank)}
        return pd.DataFrame({"term": list(terms), "estimate": list(terms.values()), "std_err": np.nan,
                             "ci_lower": np.nan, "ci_upper": np.nan})

    def plot(self, ax=None):
        """Rank before against rank after for the original accounts (off the diagonal = moved)."""
        if ax is None:
            import matplotlib.pyplot as plt  # noqa: PLC0415

            _, ax = plt.subplots()
        r = self.ranks
        moved = r["rank_shift"].to_numpy() != 0
        ax.scatter(r["rank_before"][~moved], r["rank_after"][~moved], color="C0", label="unchanged")
        ax.scatter(r["rank_before"][moved], r["rank_after"][moved], color="C3", label="moved")
        lim = [0.5, len(r) + 0.5]
        ax.plot(lim, lim, color="0.5", lw=1)
        ax.set_xlabel("rank before")
        ax.set_ylabel("rank after adding a dominated account")
        ax.legend(frameon=False)
        return ax

    def _repr_html_(self) -> str:
        verdict = "changed" if self.order_changed else "did not change"
        return f"<p>Adding a dominated account: the others' order <b>{verdict}</b> ({self.n_moved} moved).</p>"


def rank_reversal_check(matrix: pd.DataFrame, weights, *, normalisation="minmax", criteria_types=None,
                        scale=(1, 5), method: str = "wsm", dominated=None, shift: float = 1.0) -> RankReversalCheck:
    """Add an account worse than the worst on every criterion and see whether the others swap.

    Under fixed-scale normalisation each account's normalised values do not depend on the other accounts,
    so the order can never change. Under min–max (and TOPSIS's vector normalisation) the new account
    stretches each criterion's range by a different amount, which changes the criteria's effective weights
    ``w_j / range_j``: the others can swap places (rank reversal).

    Parameters
    ----------
    matrix : DataFrame
    weights : dict or Series
    normalisation, criteria_types, scale, method
        As in :func:`weighted_sum` / :func:`topsis`.
    dominated : dict or Series, optional
        The added account's values (must be at least as bad as the worst account on every criterion).
        Default: the worst value minus ``shift`` standard deviations (plus, for cost criteria), clipped to
        the fixed scale where the criterion has one (there it can only be *weakly* dominated at the bound).
    shift : float
        Standard deviations beyond the worst value for the default dominated account.

    Returns
    -------
    RankReversalCheck

    References
    ----------
    Belton, V., & Gear, T. (1983). On a short-coming of Saaty's method of analytic hierarchies. *Omega*,
    11(3), 228–230. García-Cascales, M. S., & Lamata, M. T. (2012). On rank reversal and TOPSIS method.
    *Mathematical and Computer Modelling*, 56(5–6), 123–132.
    """
    func = "rank_reversal_check"
    if method not in _METHODS:
        raise _perr("method", func, "be 'wsm' or 'topsis'", repr(method))
    prep = _prepare(matrix, weights, criteria_types, func)
    crit = prep.criteria
    x = prep.values
    worst = np.where(prep.is_cost, np.nanmax(x, axis=0), np.nanmin(x, axis=0))
    kinds = np.array(_resolve_normalisation(normalisation, crit, matrix.columns, func))
    lo, hi = _resolve_scale(scale, crit, matrix.columns, func)
    if not (np.isfinite(shift) and shift > 0):
        raise _perr("shift", func, "be a positive number of standard deviations", repr(shift))
    if dominated is None:
        sd = np.nanstd(x, axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        dom = np.where(prep.is_cost, worst + shift * sd, worst - shift * sd)
        if method == "wsm":
            dom = np.where(kinds == "fixed", np.clip(dom, lo, hi), dom)
    else:
        d = pd.Series(dominated, dtype="float64")
        missing = [c for c in crit if c not in d.index]
        if missing:
            raise _perr("dominated", func, "give a value for every weighted criterion", f"none for {_names(missing)}")
        dom = d.reindex(crit).to_numpy(dtype=float)
        not_dom = np.where(prep.is_cost, dom < worst, dom > worst)
        if not_dom.any():
            raise _perr("dominated", func, "be at least as bad as the worst account on every criterion",
                        f"better values for {_names(list(np.array(crit)[not_dom]))}")
    new_id = "__dominated__"
    while new_id in matrix.index:
        new_id += "_"
    base_frame = pd.DataFrame(x, index=prep.index, columns=crit)
    extended = pd.concat([base_frame, pd.DataFrame([dom], index=[new_id], columns=crit)])
    types = {c: ("cost" if t else "benefit") for c, t in zip(crit, prep.is_cost)}
    w = dict(zip(crit, prep.weights))

    def score(frame):
        if method == "wsm":
            return weighted_sum(frame, w, criteria_types=types, normalisation=_subset(normalisation, w),
                                scale=_subset(scale, w))
        return topsis(frame, w, criteria_types=types)

    before = score(base_frame).to_numpy()
    after_all = score(extended).to_numpy()
    rb = np.empty(len(before), dtype=int)
    rb[_ranking_order(before)] = np.arange(1, len(before) + 1)
    ra_all = np.empty(len(after_all), dtype=int)
    ra_all[_ranking_order(after_all)] = np.arange(1, len(after_all) + 1)
    # the others' order: re-rank them among themselves after the addition
    after = after_all[:-1]
    ra = np.empty(len(after), dtype=int)
    ra[_ranking_order(after)] = np.arange(1, len(after) + 1)
    ranks = pd.DataFrame({"score_before": before, "rank_before": rb, "score_after": after, "rank_after": ra,
                          "rank_shift": ra - rb}, index=prep.index)
    n_moved = int((ra != rb).sum())
    return RankReversalCheck(order_changed=n_moved > 0, n_moved=n_moved, ranks=ranks,
                             dominated=pd.Series(dom, index=crit, name=new_id), dominated_rank=int(ra_all[-1]),
                             settings={"normalisation": normalisation, "method": method, "shift": shift,
                                       "weights": w})


# ============================================================================================ KAM fit
@dataclass(frozen=True, eq=False)
class KamFitDiagnostic:
    """Is a KAM programme right for this client? Concentration, repeat business, headroom, dependency.

    Attributes
    ----------
    metrics : DataFrame
        ``metric, value, description``.
    verdict : str
        The diagnosis in words.
    against : bool
        True when the data argue against a KAM programme (many small, transactional accounts).
    signals : tuple of str
        The individual findings behind the verdict.
    settings : dict
    n_obs : int
        Accounts with positive revenue in the window.
    """

    metrics: pd.DataFrame
    verdict: str
    against: bool
    signals: tuple
    settings: dict = field(default_factory=dict)
    n_obs: int = 0

    def value(self, metric: str) -> float:
        """One metric's value by name."""
        m = self.metrics.set_index("metric")["value"]
        if metric not in m.index:
            raise _perr("metric", "KamFitDiagnostic.value", f"be one of {_names(list(m.index), 20)}", repr(metric))
        return float(m[metric])

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        out = self.metrics[["metric", "value"]].rename(columns={"metric": "term", "value": "estimate"})
        out[["std_err", "ci_lower", "ci_upper"]] = np.nan
        return out.reset_index(drop=True)

    def plot(self, ax=None):
        """Concentration at a glance: the Lorenz curve is in kamtools.plots; here the key shares as bars."""
        if ax is None:
            import matplotlib.pyplot as plt  # noqa: PLC0415

            _, ax = plt.subplots()
        names = ["top10_share", "top20pct_share", "repeat_revenue_share", "largest_account_share"]
        vals = [self.value(m) for m in names]
        ax.barh(names[::-1], vals[::-1], color="C0")
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of revenue")
        return ax

    def findings(self) -> pd.DataFrame:
        """The findings and the verdict as a one-column table (client text stays escaped when shown)."""
        rows = list(self.signals) + [self.verdict]
        return pd.DataFrame({"finding": rows}, index=pd.Index(
            [f"finding {i + 1}" for i in range(len(self.signals))] + ["verdict"], name=""))

    def _repr_html_(self) -> str:
        return f"<p><b>{html.escape(self.verdict)}</b></p>" + self.metrics.to_html(index=False)


def kam_fit_diagnostic(panel: pd.DataFrame, accounts: pd.DataFrame | None = None, *, as_of=None,
                       most_periods: float = 0.5, min_top20_share: float = 0.5, min_repeat_share: float = 0.5,
                       dependency_threshold: float = 0.2) -> KamFitDiagnostic:
    """Before selecting key accounts: do the data support a KAM programme at all?

    KAM pays where revenue is concentrated in a few large, repeat customers with headroom; where the
    business is many small, transactional accounts the literature warns it does not (McDonald & Woodburn
    2007; Homburg, Workman & Jensen 2002).

    Parameters
    ----------
    panel : DataFrame
        The account × period panel (``account_id, period, revenue``; ``gross_margin``, ``active`` used when
        present). The trailing 12 months up to ``as_of`` are analysed.
    accounts : DataFrame or Dataset, optional
        With ``account_id, wallet_estimate`` for the headroom of the large accounts.
    as_of : date-like, optional
        Default the panel's last period.
    most_periods : float
        An account is *repeat* business when active in more than this share of the window's periods.
    min_top20_share, min_repeat_share : float
        Below these, revenue counts as spread thinly / the business as transactional.
    dependency_threshold : float
        A largest account above this share of revenue is flagged as a dependency risk.

    Returns
    -------
    KamFitDiagnostic
        Metrics: ``n_accounts``, ``top10_share``, ``top20pct_share`` (revenue share of the largest 20 % of
        accounts, rounded up), ``hhi`` (Herfindahl–Hirschman index on revenue shares, 0–1), ``hhi_10000``
        (the same on the 0–10,000 convention of competition authorities), ``effective_accounts`` (1/HHI),
        ``repeat_revenue_share``, ``large_headroom_value`` and ``large_headroom_share`` (Σ max(wallet −
        revenue, 0) over the large accounts with a wallet estimate, and its share of their wallet),
        ``wallet_coverage`` (share of large accounts with an estimate), ``largest_account_share`` and
        ``largest_account_margin_share`` (dependency risk of losing the largest account by revenue).

    References
    ----------
    Herfindahl, O. C. (1950); Hirschman, A. O. (1945). McDonald, M., & Woodburn, D. (2007), ch. 2–3.
    Homburg, C., Workman, J. P., & Jensen, O. (2002). A configurational perspective on key account
    management. *Journal of Marketing*, 66(2), 38–60.
    """
    func = "kam_fit_diagnostic"
    panel = _check_panel(panel, func)
    for name, v in (("most_periods", most_periods), ("min_top20_share", min_top20_share),
                    ("min_repeat_share", min_repeat_share), ("dependency_threshold", dependency_threshold)):
        if not (0 <= v <= 1):
            raise _perr(name, func, "be a share in [0, 1]", repr(v))
    periods = pd.to_datetime(panel["period"])
    as_of, cur_start, _ = _windows(periods, as_of)
    in_win = ((periods > cur_start) & (periods <= as_of)).to_numpy()
    win = panel.loc[in_win]
    if win.empty:
        raise _perr("panel", func, f"have periods in the 12 months up to {as_of:%Y-%m-%d}", "none")
    n_periods = periods[in_win].nunique()
    rev_all = win["revenue"].to_numpy(dtype=float, na_value=np.nan)
    act = win["active"].to_numpy(dtype=bool) if "active" in win else rev_all != 0
    g = pd.DataFrame({"account_id": win["account_id"].astype("string").to_numpy(), "revenue": rev_all,
                      "active": act,
                      "margin": win["gross_margin"].to_numpy(dtype=float, na_value=np.nan)
                      if "gross_margin" in win else np.nan}).groupby("account_id", sort=False)
    per = pd.DataFrame({"revenue": g["revenue"].sum(), "periods": g["active"].sum(),
                        "margin": g["margin"].sum(min_count=1)})
    per = per[per["revenue"] > 0].sort_values("revenue", ascending=False, kind="stable")
    n = len(per)
    if n == 0:
        raise _perr("panel", func, "have accounts with positive revenue in the window", "none")
    total = per["revenue"].sum()
    shares = (per["revenue"] / total).to_numpy()
    top10 = float(shares[:10].sum())
    n20 = max(1, math.ceil(0.2 * n))
    top20 = float(shares[:n20].sum())
    hhi = float((shares ** 2).sum())
    repeat = per["periods"] > most_periods * n_periods
    repeat_share = float(per.loc[repeat, "revenue"].sum() / total)
    largest = per.index[0]
    largest_share = float(shares[0])
    mg = per["margin"]
    mg_total = mg.clip(lower=0).sum(min_count=1)
    largest_margin_share = float(max(mg.iloc[0], 0) / mg_total) if pd.notna(mg.iloc[0]) and mg_total and mg_total > 0 \
        else np.nan
    # headroom of the large accounts (top 20 %)
    large = per.iloc[:n20]
    head_value = head_share = np.nan
    wallet_cov = 0.0
    accounts = _accounts_table(accounts)
    if accounts is not None and "wallet_estimate" in accounts.columns and "account_id" in accounts.columns:
        wal = pd.to_numeric(accounts.set_index(accounts["account_id"].astype("string"))["wallet_estimate"],
                            errors="coerce")
        wal = wal[~wal.index.duplicated()].reindex(large.index)
        ok = wal.notna().to_numpy()
        wallet_cov = float(ok.mean())
        if ok.any():
            head = np.maximum(wal[ok].to_numpy() - large["revenue"].to_numpy()[ok], 0.0)
            head_value = float(head.sum())
            head_share = float(head_value / wal[ok].sum()) if wal[ok].sum() > 0 else np.nan
    rows = [
        ("n_accounts", float(n), "accounts with positive revenue in the last 12 months"),
        ("top10_share", top10, "revenue share of the 10 largest accounts"),
        ("top20pct_share", top20, f"revenue share of the largest 20 % of accounts ({n20})"),
        ("hhi", hhi, "Herfindahl–Hirschman index of revenue shares (0–1)"),
        ("hhi_10000", hhi * 10_000, "Herfindahl–Hirschman index, 0–10,000 convention"),
        ("effective_accounts", 1.0 / hhi, "1 / HHI: the number of equal-sized accounts with the same concentration"),
        ("repeat_revenue_share", repeat_share,
         f"revenue share of accounts active in more than {most_periods:.0%} of the {n_periods} periods"),
        ("large_headroom_value", head_value, "Σ max(wallet estimate − revenue, 0) over the large accounts"),
        ("large_headroom_share", head_share, "headroom as a share of the large accounts' wallet"),
        ("wallet_coverage", wallet_cov, "share of large accounts with a wallet estimate"),
        ("largest_account_share", largest_share, f"revenue share of the largest account ({largest})"),
        ("largest_account_margin_share", largest_margin_share, "gross-margin share of the largest account"),
    ]
    metrics = pd.DataFrame(rows, columns=["metric", "value", "description"])
    signals = []
    spread = top20 < min_top20_share
    transactional = repeat_share < min_repeat_share
    signals.append(f"The largest 20 % of accounts bring {top20:.0%} of revenue (top 10: {top10:.0%}; "
                   f"HHI {hhi * 10_000:,.0f} on the 0–10,000 scale, like {1 / hhi:,.0f} equal accounts)"
                   + (": revenue is spread thinly over many accounts." if spread else ": revenue is concentrated."))
    signals.append(f"{repeat_share:.0%} of revenue comes from accounts buying in most periods"
                   + (": the business is largely transactional." if transactional else ": the business is repeat."))
    if np.isfinite(head_share):
        signals.append(f"The large accounts have headroom of {head_share:.0%} of their estimated wallet "
                       f"({wallet_cov:.0%} have an estimate).")
    else:
        signals.append("Headroom not available: provide accounts with wallet_estimate.")
    if largest_share > dependency_threshold:
        signals.append(f"Dependency risk: the largest account ({largest}) is {largest_share:.0%} of revenue"
                       + (f" and {largest_margin_share:.0%} of margin" if np.isfinite(largest_margin_share) else "")
                       + "; losing it would hurt.")
    if spread and transactional:
        verdict = ("The data argue against a KAM programme: many small, transactional accounts. Key-account "
                   "treatment pays where a few large, repeat customers carry the business; consider segment "
                   "or inside-sales coverage and a small KAM pilot at most.")
    elif spread or transactional:
        verdict = ("Mixed case for KAM: " + ("revenue is spread thinly" if spread else "much of the business is "
                   "transactional") + "; keep the key-account list short and focused on the accounts with "
                   "repeat business and headroom.")
    else:
        verdict = ("The data support a KAM programme: revenue is concentrated in repeat customers.")
    against = bool(spread and transactional)
    return KamFitDiagnostic(metrics=metrics, verdict=verdict, against=against, signals=tuple(signals),
                            settings={"as_of": as_of, "most_periods": most_periods, "min_top20_share": min_top20_share,
                                      "min_repeat_share": min_repeat_share,
                                      "dependency_threshold": dependency_threshold, "n_periods": int(n_periods)},
                            n_obs=n)


# ============================================================================================ notebook helpers
#: Where each criterion of :func:`account_criteria` comes from (for :func:`criteria_overview`).
_SOURCES: dict[str, str] = {
    "current_revenue": "ledger",
    "revenue_growth": "ledger",
    "revenue_potential": "ledger + wallet estimate (accounts)",
    "share_of_wallet": "ledger + wallet estimate (accounts)",
    "lifetime_value": "ledger + renewal likelihood (accounts) or ledger retention",
    "gross_margin_rate": "ledger",
    "gross_margin_value": "ledger",
    "cost_to_serve": "accounts",
    "cost_to_serve_rate": "accounts + ledger",
    "product_fit": "judgement (accounts)",
    "strategic_value": "judgement (accounts)",
    "relationship_strength": "judgement (accounts)",
    "renewal_likelihood": "judgement (accounts)",
    "logo_appeal": "judgement (accounts)",
}


def eligible_accounts(panel: pd.DataFrame, *, months: int = 12, as_of=None, index=None,
                      account: str = "account_id", period: str = "period") -> pd.Series:
    """The candidate pool of a selection: accounts that bought in the last ``months`` periods.

    A lapsed account (no revenue for a year) can still hold a large wallet estimate and score well on
    potential; it is a win-back prospect, not a key account. Pass the result as ``eligible`` to
    :func:`select_key_accounts`.

    Parameters
    ----------
    panel : DataFrame
        The account × period panel (``account_id, period, revenue``).
    months : int
        Look-back in months: an account is eligible when it had positive revenue in a period in
        ``(as_of − months, as_of]``.
    as_of : date-like, optional
        Default the panel's last period.
    index : Index, optional
        Reindex the result to these accounts (e.g. the criteria table's index); accounts not in the
        panel are not eligible.
    account, period : str
        Column names.

    Returns
    -------
    Series
        Boolean, named ``eligible``, indexed by account id (string). ``attrs``: ``months``, ``as_of``.

    Examples
    --------
    >>> p = pd.DataFrame({"account_id": ["a", "a", "b"], "revenue": [5.0, 0.0, 3.0],
    ...                   "period": pd.to_datetime(["2025-12-01", "2024-01-01", "2024-06-01"])})
    >>> eligible_accounts(p, months=12).to_dict()
    {'a': True, 'b': False}
    """
    func = "eligible_accounts"
    panel = _check_panel(panel, func, required=(account, period, "revenue"))
    if isinstance(months, bool) or not isinstance(months, (int, np.integer)) or months < 1:
        raise _perr("months", func, "be a positive integer number of months", repr(months))
    periods = pd.to_datetime(panel[period])
    as_of = pd.Timestamp(as_of) if as_of is not None else periods.max()
    start = as_of - pd.DateOffset(months=int(months))
    rev = panel["revenue"].to_numpy(dtype=float, na_value=np.nan)
    bought = ((periods > start) & (periods <= as_of)).to_numpy() & (rev > 0)
    ids = panel[account].astype("string")
    out = pd.Series(bought, index=pd.Index(ids, name=account)).groupby(level=0, sort=False).any()
    if index is not None:
        out = out.reindex(pd.Index(index).astype("string"), fill_value=False)
        out.index.name = account
    out = out.astype(bool).rename("eligible")
    out.attrs.update({"months": int(months), "as_of": as_of})
    return out


def criteria_overview(criteria: pd.DataFrame, weights=None, *, eligible=None, normalisation=None) -> pd.DataFrame:
    """One row per criterion: what it is, where it comes from, how it is scored, its weight and coverage.

    Parameters
    ----------
    criteria : DataFrame
        From :func:`account_criteria`.
    weights : dict or Series, optional
        Default :data:`DEFAULT_WEIGHTS` restricted to the columns present; shown normalised to sum 1.
    eligible : boolean Series or iterable of ids, optional
        Count coverage over these accounts only (the candidate pool).
    normalisation : str or dict, optional
        As in :func:`select_key_accounts` (default: rubrics on their fixed scale, continuous criteria by
        :data:`CONTINUOUS_NORMALISATION`).

    Returns
    -------
    DataFrame
        Index ``criterion`` (the :data:`CRITERIA` columns present); ``label, source, type,
        normalisation, weight`` (as set, normalised), ``weight_used`` (the weights that act: those of
        criteria without any value in the pool, or with the same value for every candidate unless on a
        fixed scale, redistributed in proportion, as :func:`select_key_accounts` does),
        ``accounts_with_value, value_rate`` (share of the pool with a value, in [0, 1]), ``note`` (why a
        weighted criterion does not act; empty otherwise), ``description``. The stated missing-value
        rule: an account's missing criteria
        have their weight redistributed over its available criteria; the share of weight available is its
        ``coverage`` in :func:`select_key_accounts`.
    """
    func = "criteria_overview"
    criteria = _check_frame(criteria, "criteria", func)
    cols = [c for c in CRITERIA if c in criteria.columns]
    weights = _default_weights(weights, criteria.columns, func, DEFAULT_WEIGHTS)
    w = _weights_series(weights, criteria.columns, func, keep_zero=True)
    _, norm_d, _ = _criterion_defaults(cols)
    norm = _merge_norm(normalisation, norm_d)
    kinds = [norm if isinstance(norm, str) else norm.get(c, "minmax") for c in cols]
    pool = criteria if eligible is None else criteria.loc[_current_mask(eligible, criteria.index, func, "eligible")]
    have = pool[cols].notna().sum()
    has_w = pool[list(w.index)].notna().any()
    # the rule of select_key_accounts: a weighted criterion without values, or with one value for every
    # candidate (unless on a fixed scale), is scored without; its weight is redistributed
    w_kinds = [norm if isinstance(norm, str) else norm.get(c, "minmax") for c in w.index]
    flat, const = _without_variation(_numeric_block(pool, list(w.index), "criteria", func), w_kinds)
    flat = pd.Series(flat, index=w.index)
    used = w.where(has_w & ~flat, 0.0)
    used = used / used.sum() if used.sum() > 0 else used
    note = pd.Series("", index=w.index, dtype="object")
    note[(~has_w) & (w > 0)] = "no value for any candidate: weight redistributed"
    for c, v in zip(w.index[flat & (w > 0)], const[(flat & (w > 0)).to_numpy()]):
        note[c] = f"the same value ({v:,.4g}) for every candidate: cannot rank them, weight redistributed"
    out = pd.DataFrame({
        "label": [CRITERIA[c].label for c in cols],
        "source": [_SOURCES.get(c, "") for c in cols],
        "type": [CRITERIA[c].type for c in cols],
        "normalisation": kinds,
        "weight": w.reindex(cols).fillna(0.0).to_numpy(),
        "weight_used": used.reindex(cols).fillna(0.0).to_numpy(),
        "accounts_with_value": have.to_numpy(dtype=int),
        "value_rate": (have / max(len(pool), 1)).to_numpy(dtype=float),
        "note": note.reindex(cols).fillna("").to_numpy(dtype=object),
        "description": [CRITERIA[c].description for c in cols],
    }, index=pd.Index(cols, name="criterion"))
    other = [c for c in w.index if c not in cols]
    if other:  # weighted columns the kit does not know: shown too
        extra = pd.DataFrame({"label": other, "source": "", "type": "benefit", "normalisation": "minmax",
                              "weight": w[other].to_numpy(), "weight_used": used[other].to_numpy(),
                              "accounts_with_value": pool[other].notna().sum().to_numpy(),
                              "value_rate": (pool[other].notna().sum() / max(len(pool), 1)).to_numpy(),
                              "note": note[other].to_numpy(dtype=object),
                              "description": ""}, index=pd.Index(other, name="criterion"))
        out = pd.concat([out, extra])
    out.attrs["missing_rule"] = ("missing criteria: weight redistributed over the account's available criteria; "
                                 "coverage = share of weight available")
    return out


def compare_selections(result: SelectionResult, baseline: SelectionResult, *,
                       names: tuple[str, str] = ("weighted criteria", "revenue")) -> pd.DataFrame:
    """The accounts either selection recommends, with their rank under both.

    Parameters
    ----------
    result, baseline : SelectionResult
        E.g. the weighted selection and a revenue-only selection with the same cap and pool.
    names : (str, str)
        Names of the two selections, used in the column ``chosen_by`` and the rank columns.

    Returns
    -------
    DataFrame
        Index account; ``account_name`` (when known), ``rank_<name>`` for both, ``chosen_by`` (``both``
        or the name of the one selection that recommends it), the criteria ``current_revenue,
        revenue_potential, lifetime_value, strategic_value`` when present. Sorted by the first
        selection's rank. ``attrs["overlap"]``: accounts in both.
    """
    func = "compare_selections"
    for param, res in (("result", result), ("baseline", baseline)):
        if not isinstance(res, SelectionResult):
            raise _perr(param, func, "be a SelectionResult from select_key_accounts", type(res).__name__)
    a, b = (str(x).replace(" ", "_") for x in names)
    ta, tb = result.table, baseline.table
    ids = result.recommended.union(baseline.recommended, sort=False)
    in_a = ids.isin(result.recommended)
    in_b = ids.isin(baseline.recommended)
    out = pd.DataFrame(index=ids)
    if "account_name" in ta:
        out["account_name"] = ta["account_name"].reindex(ids)
    out[f"rank_{a}"] = ta["rank"].reindex(ids).to_numpy()
    out[f"rank_{b}"] = tb["rank"].reindex(ids).to_numpy()
    out["chosen_by"] = pd.array(np.where(in_a & in_b, "both", np.where(in_a, names[0], names[1])), dtype="string")
    for c in ("current_revenue", "revenue_potential", "lifetime_value", "strategic_value"):
        if c in ta:
            out[c] = ta[c].reindex(ids).to_numpy()
    out = out.sort_values([f"rank_{a}", f"rank_{b}"], kind="stable")
    out.index.name = ta.index.name
    out.attrs["overlap"] = int((in_a & in_b).sum())
    return out


def plot_rank_comparison(result: SelectionResult, baseline: SelectionResult, *,
                         names: tuple[str, str] = ("weighted criteria", "revenue"), ax=None):
    """Every scored account's rank under the baseline (x) against its rank under the weights (y).

    Log axes, rank 1 at the top left; dashed lines mark the two cut-offs. Accounts left of the vertical
    line and above the horizontal one are in both lists; above only: chosen for potential and fit
    although not among the largest; left only: large accounts the weights leave out. Only the scored
    (eligible) accounts are drawn.

    Parameters
    ----------
    result, baseline : SelectionResult
    names : (str, str)
        Axis names of the two selections.
    ax : Axes, optional

    Returns
    -------
    Axes
    """
    if ax is None:
        import matplotlib.pyplot as plt  # noqa: PLC0415

        _, ax = plt.subplots(figsize=(7, 6))
    ta = result.table
    keep = ta["score"].notna().to_numpy()
    ids = ta.index[keep]
    ra = ta.loc[ids, "rank"].to_numpy(dtype=float)
    rb = baseline.table["rank"].reindex(ids).to_numpy(dtype=float)
    in_a = ids.isin(result.recommended)
    in_b = ids.isin(baseline.recommended)
    groups = [(in_a & in_b, "C0", "both lists"), (in_a & ~in_b, "C1", f"{names[0]} only"),
              (~in_a & in_b, "C3", f"{names[1]} only"), (~in_a & ~in_b, "0.75", "neither list")]
    for mask, colour, label in groups:  # four groups
        ax.scatter(rb[mask], ra[mask], s=18 if label == "neither" else 36, color=colour,
                   label=f"{label} ({int(mask.sum())})", alpha=0.8, edgecolor="none")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axvline(len(baseline.recommended) + 0.5, color="0.4", lw=1, ls="--")
    ax.axhline(len(result.recommended) + 0.5, color="0.4", lw=1, ls="--")
    top = max(np.nanmax(ra), np.nanmax(rb)) * 1.3
    ax.set_xlim(0.8, top)  # rank 1 at the left ...
    ax.set_ylim(top, 0.8)  # ... and at the top
    ticks = [t for t in (1, 3, 10, 30, 100, 300, 1000, 3000, 10000) if t <= top]
    from matplotlib.ticker import FixedLocator, NullLocator, StrMethodFormatter  # noqa: PLC0415

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(FixedLocator(ticks))
        axis.set_minor_locator(NullLocator())
        axis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_xlabel(f"rank by {names[1]}")
    ax.set_ylabel(f"rank by {names[0]}")
    ax.legend(loc="lower left", frameon=False, fontsize="small")
    return ax


def abc_summary(values, *, cutoffs=(0.8, 0.95), labels=("A", "B", "C")) -> pd.DataFrame:
    """Accounts and value per ABC class (see :func:`abc_classes`), with the Gini coefficient.

    Parameters
    ----------
    values : Series or array-like
        One value per account (margin where margin exists, else revenue).
    cutoffs, labels
        As in :func:`abc_classes`.

    Returns
    -------
    DataFrame
        Index ``abc_class``; ``n_accounts, account_share, value, value_share`` (shares in [0, 1]).
        ``attrs``: ``gini`` (:func:`gini` of the values, negatives counted as 0) and ``cutoffs``.

    Examples
    --------
    >>> abc_summary(pd.Series([50.0, 30.0, 10.0, 5.0, 5.0]))["n_accounts"].tolist()
    [2, 2, 1]
    """
    func = "abc_summary"
    cls = abc_classes(values, cutoffs=cutoffs, labels=labels)
    arr, _ = _values_array(values, func)
    pos = np.clip(np.nan_to_num(arr, nan=0.0), 0.0, None)
    frame = pd.DataFrame({"abc_class": cls.to_numpy(), "value": pos}).dropna(subset=["abc_class"])
    g = frame.groupby("abc_class", sort=False)
    out = pd.DataFrame({"n_accounts": g.size(), "value": g["value"].sum()}).reindex(list(labels)).fillna(0.0)
    out["n_accounts"] = out["n_accounts"].astype(int)
    out.insert(1, "account_share", out["n_accounts"] / max(int(out["n_accounts"].sum()), 1))
    out["value_share"] = out["value"] / out["value"].sum() if out["value"].sum() > 0 else np.nan
    out.index.name = "abc_class"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # negatives / NaN are counted as 0 / left out, as the table does
        out.attrs["gini"] = gini(np.nan_to_num(arr, nan=0.0))
    out.attrs["cutoffs"] = tuple(float(c) for c in cutoffs)
    return out


def plot_abc(values, *, cutoffs=(0.8, 0.95), labels=("A", "B", "C"), value_label: str = "value", ax=None):
    """Pareto (Lorenz) curve of the accounts, largest first, with the ABC classes shaded and the Gini.

    The curve is the cumulative share of ``values`` (vertical) held by the largest share of accounts
    (horizontal): the Lorenz (1905) curve read from the top. The dotted diagonal is a book in which every
    account is worth the same; the Gini coefficient is twice the area between the two.

    Parameters
    ----------
    values : Series or array-like
    cutoffs, labels
        As in :func:`abc_classes`.
    value_label : str
        What the values are (axis label), e.g. ``"gross margin"``.
    ax : Axes, optional

    Returns
    -------
    Axes
    """
    if ax is None:
        import matplotlib.pyplot as plt  # noqa: PLC0415

        _, ax = plt.subplots(figsize=(7, 5))
    func = "plot_abc"
    arr, _ = _values_array(values, func)
    # missing values have no class: None, not pd.NA (whose truth value is ambiguous in the comparisons below)
    cls = abc_classes(arr, cutoffs=cutoffs, labels=labels).to_numpy(dtype=object, na_value=None)
    pos = np.clip(np.nan_to_num(arr, nan=0.0), 0.0, None)
    order = np.argsort(-pos, kind="stable")
    n = pos.size
    x = np.concatenate([[0.0], np.arange(1, n + 1) / n])
    y = np.concatenate([[0.0], np.cumsum(pos[order]) / pos.sum()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = gini(np.nan_to_num(arr, nan=0.0))
    ax.plot(x, y, color="C0", lw=2, label=f"accounts, largest first (Gini {g:.2f})")
    ax.plot([0, 1], [0, 1], color="0.5", lw=1, ls=":", label="all accounts equal")
    lo = 0.0
    sorted_cls = cls[order]
    for i, lab in enumerate(labels):  # a handful of classes
        m = sorted_cls == lab
        if not m.any():
            continue
        hi = (np.flatnonzero(m).max() + 1) / n
        ax.axvspan(lo, hi, color=f"C{i + 1}", alpha=0.12, lw=0)
        ax.text((lo + hi) / 2, 0.25, str(lab).replace("$", r"\$"), ha="center", va="bottom", fontsize="large",
                fontweight="bold", color=f"C{i + 1}")
        lo = hi
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("share of accounts (largest first)")
    ax.set_ylabel(f"cumulative share of {value_label}")
    ax.legend(loc="lower right", frameon=False)
    return ax


@dataclass(frozen=True, eq=False)
class SelectionRobustness:
    """How robust a recommended list is to the weights: SMAA around the chosen weights and with no preference.

    Attributes
    ----------
    accounts : DataFrame
        Per scored account, in base rank order: ``account_name`` (when known), ``base_rank``,
        ``recommended``, ``p_top_k`` and ``p_rank1`` (weights drawn around the chosen ones), ``mean_rank``,
        ``rank_ci_lower``, ``rank_ci_upper``, ``p_top_k_uniform`` (weights uniform on the simplex).
    models : DataFrame
        One row per weight model: ``concentration``, ``n_draws``, ``mean_kendall_tau``,
        ``tau_ci_lower``, ``tau_ci_upper``, ``p_set_unchanged``, ``n_stable`` (recommended accounts in the
        top k in at least ``threshold`` of the draws), ``n_contenders`` (other accounts in the top k in at
        least 1 − ``threshold`` of the draws).
    k : int
    threshold : float
    settings : dict
    """

    accounts: pd.DataFrame
    models: pd.DataFrame
    k: int
    threshold: float
    settings: dict = field(default_factory=dict)

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        """Mean Kendall τ (with its draw interval) and P(set unchanged) per weight model, tidy."""
        rows = []
        for model, r in self.models.iterrows():  # two weight models
            rows.append({"term": f"mean_kendall_tau[{model}]", "estimate": r["mean_kendall_tau"], "std_err": np.nan,
                         "ci_lower": r["tau_ci_lower"], "ci_upper": r["tau_ci_upper"]})
            rows.append({"term": f"p_set_unchanged[{model}]", "estimate": r["p_set_unchanged"], "std_err": np.nan,
                         "ci_lower": np.nan, "ci_upper": np.nan})
        return pd.DataFrame(rows, columns=["term", "estimate", "std_err", "ci_lower", "ci_upper"])

    def plot(self, ax=None, *, n_contenders: int = 10):
        """Bars of P(in the top k) for the recommended accounts and the best contenders outside the list.

        Parameters
        ----------
        ax : Axes, optional
        n_contenders : int
            Accounts outside the list shown (those with the highest P(in the top k)).
        """
        if ax is None:
            import matplotlib.pyplot as plt  # noqa: PLC0415

            _, ax = plt.subplots(figsize=(7, 8))
        a = self.accounts
        rec = a[a["recommended"]]
        out = a[~a["recommended"]].sort_values(["p_top_k", "base_rank"], ascending=[False, True],
                                               kind="stable").head(n_contenders)
        show = pd.concat([rec, out]).iloc[::-1]
        names = show["account_name"].astype("string").fillna(pd.Series(show.index, index=show.index).astype("string")) \
            if "account_name" in show else pd.Series(show.index, index=show.index)
        colour = np.where(show["recommended"].to_numpy(dtype=bool), "C0", "0.6")
        ypos = np.arange(len(show))
        ax.barh(ypos, show["p_top_k"].to_numpy(), color=colour)
        if "p_top_k_uniform" in show:
            ax.scatter(show["p_top_k_uniform"].to_numpy(), ypos, marker="|", s=120, color="C3", zorder=3,
                       label="no preference (uniform weights)")
        ax.set_yticks(ypos, [str(x).replace("$", r"\$") for x in names])
        ax.axvline(self.threshold, color="0.3", lw=1, ls="--")
        ax.axhline(len(out) - 0.5, color="0.3", lw=1)
        ax.set_xlim(0, 1)
        ax.set_xlabel(f"P(in the top {self.k})")
        from matplotlib.patches import Patch  # noqa: PLC0415

        handles = [Patch(color="C0", label="recommended"), Patch(color="0.6", label="outside the list")]
        extra, _ = ax.get_legend_handles_labels()
        ax.legend(handles=handles + extra, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3,
                  frameon=False, fontsize="small")
        return ax

    def _repr_html_(self) -> str:
        return "<p><b>Robustness of the recommended list to the weights</b></p>" + self.models.to_html()


def selection_robustness(result: SelectionResult, *, n_draws: int = 2000, concentration: float = 50.0,
                         random_state=0, uniform: bool = True, threshold: float = 0.8) -> SelectionRobustness:
    """SMAA of a recommended list: draw weights, re-score the candidate pool, count how often each account
    makes the top k.

    Runs :func:`rank_robustness` on :meth:`SelectionResult.scoring_inputs` (the pool, weights and
    normalisation of the selection), once with weights from Dirichlet(``concentration`` · w) around the
    chosen weights and, when ``uniform``, once with weights uniform on the simplex (no preference
    information; Lahdelma et al. 1998).

    Parameters
    ----------
    result : SelectionResult
    n_draws : int
        Weight draws per model.
    concentration : float
        Dirichlet concentration around the chosen weights (50: each weight varies by about
        ±sqrt(w(1 − w)/51), e.g. 0.25 ± 0.06).
    random_state : int
        Seed (the uniform model uses ``random_state + 1``).
    uniform : bool
        Also run the no-preference model.
    threshold : float
        P(in the top k) at or above which a recommended account counts as *stable*; accounts outside the
        list at or above 1 − ``threshold`` count as *contenders*.

    Returns
    -------
    SelectionRobustness

    Notes
    -----
    With ``growth_share`` the recommended set can differ from the top k by score; the analysis is about
    the top k by score, ``k`` = the number of recommended accounts.

    References
    ----------
    Lahdelma, R., Hokkanen, J., & Salminen, P. (1998). SMAA – Stochastic multiobjective acceptability
    analysis. *European Journal of Operational Research*, 106(1), 137–143.
    """
    func = "selection_robustness"
    if not isinstance(result, SelectionResult):
        raise _perr("result", func, "be a SelectionResult from select_key_accounts", type(result).__name__)
    if not (0 < threshold < 1):
        raise _perr("threshold", func, "be in (0, 1)", repr(threshold))
    inputs = result.scoring_inputs()
    k = len(result.recommended)
    models = [(f"around the chosen weights (Dirichlet, concentration {concentration:g})", concentration, random_state)]
    if uniform:
        seed_u = random_state + 1 if isinstance(random_state, (int, np.integer)) else random_state
        models.append(("no preference (uniform weights)", None, seed_u))
    rows, frames = [], []
    for name, conc, seed in models:  # two weight models
        rob = rank_robustness(**inputs, k=k, n_draws=n_draws, concentration=conc, random_state=seed)
        rec = rob.index.isin(result.recommended)
        rows.append({"model": name, "concentration": np.nan if conc is None else float(conc), "n_draws": n_draws,
                     "mean_kendall_tau": rob.attrs["mean_kendall_tau"],
                     "tau_ci_lower": rob.attrs["kendall_tau_ci"][0], "tau_ci_upper": rob.attrs["kendall_tau_ci"][1],
                     "p_set_unchanged": rob.attrs["p_topk_unchanged"],
                     "n_stable": int((rob["p_top_k"].to_numpy()[rec] >= threshold).sum()),
                     "n_contenders": int((rob["p_top_k"].to_numpy()[~rec] >= 1 - threshold).sum())})
        frames.append(rob)
    base = frames[0]
    acc = pd.DataFrame(index=base.index)
    if "account_name" in result.table:
        acc["account_name"] = result.table["account_name"].reindex(base.index)
    acc["base_rank"] = base["base_rank"]
    acc["recommended"] = base.index.isin(result.recommended)
    for c in ("p_top_k", "p_rank1", "mean_rank", "rank_ci_lower", "rank_ci_upper"):
        acc[c] = base[c]
    if uniform:
        acc["p_top_k_uniform"] = frames[1]["p_top_k"].reindex(base.index)
    acc = acc.sort_values("base_rank", kind="stable")
    acc.index.name = result.table.index.name
    return SelectionRobustness(accounts=acc, models=pd.DataFrame(rows).set_index("model"), k=k, threshold=threshold,
                               settings={"n_draws": n_draws, "concentration": concentration,
                                         "random_state": random_state, "method": result.method,
                                         "weights": dict(inputs["weights"])})


def rank_reversal_summary(result: SelectionResult, *, shift: float = 1.0) -> pd.DataFrame:
    """Rank-reversal check of a selection's scoring, and of the usual alternatives, in one table.

    Adds an account worse than the worst on every weighted criterion (:func:`rank_reversal_check`) to the
    candidate pool and reports whether the other accounts' order, and the top k, changed under: the
    selection's own scoring; the weighted sum with every continuous criterion min–max; TOPSIS; and the
    weighted sum of the rubric (fixed-scale) criteria alone, which can never reverse.

    Parameters
    ----------
    result : SelectionResult
    shift : float
        Standard deviations below the worst value for the dominated account.

    Returns
    -------
    DataFrame
        Index ``scoring``; ``order_changed, n_moved, top_k_changed, dominated_rank``.
    """
    func = "rank_reversal_summary"
    if not isinstance(result, SelectionResult):
        raise _perr("result", func, "be a SelectionResult from select_key_accounts", type(result).__name__)
    inputs = result.scoring_inputs()
    k = len(result.recommended)
    matrix, weights, types = inputs["matrix"], inputs["weights"], inputs["criteria_types"]
    rubrics = [c for c in weights if c in CRITERIA and CRITERIA[c].kind == "rubric"]
    _, norm_d, scale_d = _criterion_defaults(list(weights))
    minmax = {c: ("fixed" if c in rubrics else "minmax") for c in weights}
    variants = []
    if result.method == "wsm":
        variants.append(("this selection (weighted sum, " + _describe_norm(inputs["normalisation"], list(weights))
                         + ")",
                         dict(matrix=matrix, weights=weights, criteria_types=types,
                              normalisation=inputs["normalisation"], scale=inputs["scale"], method="wsm")))
    variants.append(("weighted sum, continuous criteria min–max",
                     dict(matrix=matrix, weights=weights, criteria_types=types, normalisation=minmax,
                          scale=_subset(scale_d, weights) or (1, 5), method="wsm")))
    variants.append(("TOPSIS (vector normalisation)",
                     dict(matrix=matrix, weights=weights, criteria_types=types, method="topsis")))
    if rubrics:
        rw = {c: weights[c] for c in rubrics}
        variants.append(("weighted sum, rubrics only (fixed scale)",
                         dict(matrix=matrix, weights=rw, criteria_types={c: types[c] for c in rubrics},
                              normalisation="fixed", scale=_subset(scale_d, rw), method="wsm")))
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # accounts without any rubric score are NaN in the rubric-only variant
        for name, kw in variants:  # a handful of scorings
            chk = rank_reversal_check(**kw, shift=shift)
            r = chk.ranks
            kk = min(k, len(r))
            before = set(r.index[r["rank_before"] <= kk])
            after = set(r.index[r["rank_after"] <= kk])
            rows.append({"scoring": name, "order_changed": bool(chk.order_changed), "n_moved": int(chk.n_moved),
                         "top_k_changed": before != after, "dominated_rank": int(chk.dominated_rank)})
    return pd.DataFrame(rows).set_index("scoring")


def _describe_norm(norm, criteria: list) -> str:
    if isinstance(norm, str):
        return f"all criteria {norm}"
    kinds = sorted({dict(norm).get(c, "minmax") for c in criteria})
    names = {"fixed": "rubrics on their fixed scale", "rank": "continuous by percentile rank",
             "minmax": "continuous min–max"}
    return ", ".join(names.get(k, k) for k in kinds)
