"""Retention economics: contractual CLV, its sensitivity, and what a programme must achieve.

The model is the closed-form customer lifetime value of a *contractual* relationship
(an account renews each period with probability ``retention``), in the three timing
conventions reconciled by Fader & Hardie (2012), with tenure margin growth, an
acquisition cost at t = 0 and an optional finite horizon.  Everything here is
vectorised: scalars, numpy arrays and pandas Series broadcast together.

Around the model:

* :func:`clv_elasticities` -- closed-form elasticities, and
  :data:`GLS_2004_ELASTICITIES` / :func:`elasticity_table` to show them beside the
  figures published by Gupta, Lehmann & Stuart (2004);
* :func:`retention_uplift` and :func:`reichheld_table` -- the relative value of
  ``points`` more retention, and the assumptions under which Reichheld's
  "+5 points of retention, +25 % to +95 % profit" holds;
* :func:`book_profit` -- steady-state profit of a book of accounts;
* :func:`calibrate_retention` -- base retention, margin per account-year and its
  growth with tenure (and cost to serve), each with an interval, from the panel;
* :func:`tornado` / :func:`plot_tornado` (one-way), :func:`sensitivity_grid` /
  :func:`plot_heatmap` (two-way), :func:`sobol_indices` (global, SALib);
* :func:`breakeven_retention_uplift` and :func:`breakeven_from_calibration` -- the
  retention uplift at which a programme's cost is paid back;
* :func:`contribution_clv` (CLV of margin minus cost to serve),
  :func:`programme_annual_cost`, :func:`programme_cost_value`,
  :func:`programme_net_value`, and :func:`retention_programme_summary` -> a
  :class:`RetentionProgramme` (calibration, value of an uplift, break-even per segment
  with uncertainty, headline) -- the orchestration behind notebook 04; for a ledger-only
  client (``population="auto"``, ``on_missing="not_available"``) it values the whole book and
  its segments instead of the key accounts and says what is missing ("not available:
  provide programme_costs with period, cost ..."), never a break-even of 0;
  :func:`plot_breakeven`, :func:`plot_sobol`, :func:`retention_explorer` (sliders).

Conventions
-----------
All rates are per period (the kit uses years: ``calibrate_retention`` returns annual
figures) and are fractions, never percent: ``retention=0.8``, ``discount_rate=0.12``,
``points=0.05`` is five percentage points.  ``margin`` is the margin of the first
paid period; with ``growth`` g the margin of an account's k-th paid period is
``margin * (1 + g) ** (k - 1)``.

``timing`` names when the first margin arrives (Fader & Hardie 2012):

========  ==================================  ======================================
timing    cash flows                          infinite-horizon value
========  ==================================  ======================================
"next"    m(1+g)^(t-1) r^t / (1+d)^t, t>=1    m r / (1+d - r(1+g))  (Gupta & Lehmann)
"now"     m(1+g)^t r^t / (1+d)^t, t>=0        m (1+d) / (1+d - r(1+g))
"end"     m(1+g)^(t-1) r^(t-1) / (1+d)^t,t>=1 m / (1+d - r(1+g))
========  ==================================  ======================================

"next" counts an account that must renew before it pays (Gupta & Lehmann 2003); "now"
takes the first margin today, undiscounted; "end" takes it at the end of the first
period, discounted, with no renewal needed.  The kit's default is "next".

References
----------
Fader, P. S. & Hardie, B. G. S. (2012). Reconciling and clarifying CLV formulas.
    http://brucehardie.com/notes/024/
Gupta, S. & Lehmann, D. R. (2003). Customers as assets. Journal of Interactive
    Marketing 17(1), 9-24.
Gupta, S., Lehmann, D. R. & Stuart, J. A. (2004). Valuing customers. Journal of
    Marketing Research 41(1), 7-18.
Reichheld, F. F. & Sasser, W. E. (1990). Zero defections: quality comes to services.
    Harvard Business Review 68(5), 105-111.
Reichheld, F. F. & Schefter, P. (2000). E-loyalty. Harvard Business Review 78(4).
Saltelli, A. et al. (2010). Variance based sensitivity analysis of model output.
    Computer Physics Communications 181, 259-270.
Herman, J. & Usher, W. (2017). SALib: an open-source Python library for sensitivity
    analysis. Journal of Open Source Software 2(9).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from kamtools.exceptions import DataValidationError, ParameterError

__all__ = [
    "retention_clv",
    "clv_elasticities",
    "retention_uplift",
    "book_profit",
    "calibrate_retention",
    "tornado",
    "plot_tornado",
    "sensitivity_grid",
    "plot_heatmap",
    "breakeven_retention_uplift",
    "breakeven_from_calibration",
    "sobol_indices",
    "reichheld_table",
    "plot_reichheld",
    "reichheld_figure",
    "PublishedElasticity",
    "GLS_2004_ELASTICITIES",
    "elasticity_table",
    "contribution_clv",
    "programme_cost_value",
    "programme_annual_cost",
    "programme_net_value",
    "RetentionProgramme",
    "ALL_KEY_ACCOUNTS",
    "WHOLE_BOOK",
    "retention_programme_summary",
    "plot_breakeven",
    "plot_sobol",
    "retention_explorer",
    "explorer_text",
]

_TIMINGS = ("next", "now", "end")

# Periods per year for the panel frequencies calibrate_retention understands, and the
# pandas period alias used to number them.
_FREQS = {
    "M": ("M", 12), "MS": ("M", 12), "ME": ("M", 12),
    "Q": ("Q", 4), "QS": ("Q", 4), "QE": ("Q", 4),
    "Y": ("Y", 1), "YS": ("Y", 1), "YE": ("Y", 1), "A": ("Y", 1),
    "W": ("W", 52),
}


# ---------------------------------------------------------------------------------
# Input handling
# ---------------------------------------------------------------------------------
def _fmt(x: float) -> str:
    return f"{float(x):.6g}"


def _as_arrays(func: str, **named: Any) -> tuple[dict[str, np.ndarray], pd.Index | None]:
    """Turn scalars / arrays / Series into float arrays; remember a Series index.

    Every Series given must carry the same index (numpy broadcasting would
    otherwise pair rows by position, silently).
    """
    out: dict[str, np.ndarray] = {}
    index: pd.Index | None = None
    index_from = None
    for name, value in named.items():
        if isinstance(value, pd.DataFrame):
            raise ParameterError(
                f"The '{name}' parameter of {func} must be a number, an array or a "
                f"Series. Got a DataFrame instead; pass one column."
            )
        if isinstance(value, pd.Series):
            if index is None:
                index, index_from = value.index, name
            elif not value.index.equals(index):
                raise ParameterError(
                    f"The '{name}' parameter of {func} must share the index of "
                    f"'{index_from}' (both are Series). Got a different index instead; "
                    f"align them first (e.g. `{name}.reindex({index_from}.index)`)."
                )
            value = value.to_numpy()
        try:
            out[name] = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise ParameterError(
                f"The '{name}' parameter of {func} must be numeric. "
                f"Got {value!r} instead."
            ) from None
    return out, index


def _as_arrays_horizon(func: str, horizon, **named: Any) -> tuple[dict[str, np.ndarray], pd.Index | None]:
    """:func:`_as_arrays` of ``named`` plus ``horizon`` (checked last; a scalar inf means no
    horizon). ``a["horizon"]`` is None when there is no horizon."""
    if horizon is not None and np.isscalar(horizon) and np.isinf(horizon):
        horizon = None
    a, index = _as_arrays(func, **named, **({} if horizon is None else {"horizon": horizon}))
    a.setdefault("horizon", None)
    return a, index


def _wrap(values: np.ndarray, index: pd.Index | None, name: str):
    """Series when a Series came in, a float for scalars, else the array."""
    values = np.asarray(values, dtype=float)
    if index is not None:
        return pd.Series(np.broadcast_to(values, (len(index),)).copy(), index=index, name=name)
    if values.ndim == 0:
        return float(values)
    return values


def _check_range(func: str, name: str, value: np.ndarray, rule: str, bad: np.ndarray) -> None:
    """Raise the house-style ParameterError when any element of ``bad`` is True."""
    bad = np.broadcast_to(bad, value.shape)
    if not bad.any():
        return
    offending = value[bad]
    if value.ndim == 0:
        got = _fmt(value)
    else:
        first = ", ".join(_fmt(v) for v in offending[:3])
        got = f"{bad.sum()} of {value.size} values outside it (first: {first})"
    raise ParameterError(f"The '{name}' parameter of {func} must be {rule}. Got {got} instead.")


def _check_timing(func: str, timing: str) -> None:
    if timing not in _TIMINGS:
        raise ParameterError(
            f"The 'timing' parameter of {func} must be one of 'next', 'now', 'end'. "
            f"Got {timing!r} instead."
        )


def _check_core(func: str, a: dict[str, np.ndarray]) -> None:
    """Range checks shared by the CLV functions (NaN passes and propagates)."""
    if "margin" in a:
        _check_range(func, "margin", a["margin"], "finite", np.isinf(a["margin"]))
    if "retention" in a:
        r = a["retention"]
        _check_range(func, "retention", r, "a fraction in [0, 1]", (r < 0) | (r > 1))
    if "discount_rate" in a:
        d = a["discount_rate"]
        _check_range(func, "discount_rate", d, "a finite rate > -1", (d <= -1) | np.isinf(d))
    if "growth" in a:
        g = a["growth"]
        _check_range(func, "growth", g, "a finite rate > -1", (g <= -1) | np.isinf(g))
    if "acquisition_cost" in a:
        c = a["acquisition_cost"]
        _check_range(func, "acquisition_cost", c, "finite and >= 0", (c < 0) | np.isinf(c))
    if a.get("horizon") is not None:
        h = a["horizon"]
        _check_range(
            func, "horizon", h, "None or a whole number of periods >= 0",
            (h < 0) | (np.mod(np.where(np.isfinite(h), h, 0.0), 1) != 0),
        )


def _check_region(func: str, r, d, g, horizon=None, *, what: str = "retention") -> None:
    """Refuse r(1+g) >= 1+d where the horizon is infinite (the sum diverges)."""
    h = np.inf if horizon is None else horizon
    r, d, g, h = np.broadcast_arrays(*(np.asarray(v, float) for v in (r, d, g, h)))
    bad = (r * (1 + g) >= 1 + d) & ~np.isfinite(h)
    if not bad.any():
        return
    i = np.flatnonzero(bad.ravel())[0]
    rr, dd, gg = r.ravel()[i], d.ravel()[i], g.ravel()[i]
    count = "" if bad.ndim == 0 else f"; {bad.sum()} of {bad.size} values break it"
    raise ParameterError(
        f"The '{what}' parameter of {func} must keep retention*(1+growth) < "
        f"1+discount_rate (otherwise the discounted margins never shrink and the "
        f"lifetime value is infinite). Got retention={_fmt(rr)}, growth={_fmt(gg)}, "
        f"discount_rate={_fmt(dd)} (retention*(1+growth)={_fmt(rr * (1 + gg))} >= "
        f"1+discount_rate={_fmt(1 + dd)}){count} instead. Lower retention or growth, "
        f"raise the discount rate, or pass a finite horizon."
    )


# ---------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------
def _clv(m, r, d, g, horizon, timing):
    """Gross CLV (before acquisition cost); no validation.  See module docstring."""
    denom = 1 + d - r * (1 + g)
    numer = {"next": m * r, "now": m * (1 + d), "end": m}[timing]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if horizon is None:
            return numer / denom
        # Partial geometric sum: numer * (1 - q**T) / denom with q = r(1+g)/(1+d),
        # written with expm1/log1p so that q close to 1 keeps its precision.
        qm1 = -denom / (1 + d)
        one_minus_qT = -np.expm1(horizon * np.log1p(qm1))
        value = numer * one_minus_qT / denom
        value = np.where(denom == 0, numer * horizon / (1 + d), value)
        value = np.where(horizon == 0, 0.0 * numer, value)
        return value


def retention_clv(
    margin,
    retention,
    discount_rate,
    *,
    growth=0.0,
    acquisition_cost=0.0,
    horizon=None,
    timing: str = "next",
):
    """Contractual customer lifetime value, in closed form.

    Parameters
    ----------
    margin : float, array-like or Series
        Margin of the first paid period (currency per period).  May be negative.
    retention : float, array-like or Series
        Probability that an account renews from one period to the next, in [0, 1].
    discount_rate : float, array-like or Series
        Discount rate per period, > -1.
    growth : float, array-like or Series, default 0.0
        Growth of the margin per period of tenure (``0.05`` = +5 % per period), > -1.
    acquisition_cost : float, array-like or Series, default 0.0
        Cost paid at t = 0 to win the account, subtracted undiscounted; >= 0.
    horizon : None, int, array-like or Series, default None
        Number of margin payments counted; ``None`` (or ``np.inf``) for an infinite
        horizon.  A finite horizon is defined for every rate, also where
        ``retention*(1+growth) >= 1+discount_rate``.
    timing : {"next", "now", "end"}, default "next"
        When the first margin arrives (see the module docstring).

    Returns
    -------
    float, numpy.ndarray or pandas.Series
        Expected discounted margin net of acquisition cost (currency).  A Series
        named ``clv_value`` with the inputs' index when any input is a Series; a
        float when all inputs are scalars.  NaN inputs give NaN.

    Raises
    ------
    ParameterError
        When an input is out of range, or where ``retention*(1+growth) >=
        1+discount_rate`` with an infinite horizon (the sum diverges).

    Notes
    -----
    With d the discount rate, g the growth, q = r(1+g)/(1+d) and T the horizon::

        "next":  m r     / (1+d-r(1+g)) * (1 - q**T)    (payments t = 1..T)
        "now":   m (1+d) / (1+d-r(1+g)) * (1 - q**T)    (payments t = 0..T-1)
        "end":   m       / (1+d-r(1+g)) * (1 - q**T)    (payments t = 1..T)

    minus the acquisition cost; T = infinity drops the bracket, and q = 1 gives
    T times the first discounted payment.

    References
    ----------
    Gupta & Lehmann (2003), eq. (2) ("next"); Fader & Hardie (2012), the three
    timing conventions; Gupta, Lehmann & Stuart (2004), acquisition cost at t = 0.

    Examples
    --------
    >>> from kamtools.retention import retention_clv
    >>> [round(retention_clv(100, 0.8, 0.12, timing=t), 6) for t in ("next", "now", "end")]
    [250.0, 350.0, 312.5]
    >>> round(retention_clv(100, 0.8, 0.12, horizon=1), 6)  # one payment: 100 * 0.8 / 1.12
    71.428571
    """
    func = "retention_clv"
    _check_timing(func, timing)
    a, index = _as_arrays_horizon(
        func, horizon, margin=margin, retention=retention, discount_rate=discount_rate,
        growth=growth, acquisition_cost=acquisition_cost,
    )
    _check_core(func, a)
    _check_region(func, a["retention"], a["discount_rate"], a["growth"], a["horizon"])
    # Mixed finite / infinite horizons need no special case: the partial sum with
    # T = inf is exact where q < 1, which _check_region has enforced.
    value = _clv(a["margin"], a["retention"], a["discount_rate"], a["growth"], a["horizon"], timing)
    return _wrap(value - a["acquisition_cost"], index, "clv_value")


def clv_elasticities(
    margin,
    retention,
    discount_rate,
    *,
    growth=0.0,
    acquisition_cost=0.0,
    timing: str = "next",
) -> dict:
    """Elasticities of the infinite-horizon CLV with respect to each input.

    An elasticity is the relative change in CLV per relative change in the input,
    d ln CLV / d ln x: ``retention`` 3.5 means +1 % retention (0.8 -> 0.808) gives
    about +3.5 % CLV.

    Parameters
    ----------
    margin, retention, discount_rate, growth, acquisition_cost, timing
        As in :func:`retention_clv` (infinite horizon).

    Returns
    -------
    dict
        Keys ``margin``, ``retention``, ``discount_rate``, ``growth``,
        ``acquisition_cost``; values broadcast like :func:`retention_clv` (floats,
        arrays or Series).  ``pd.DataFrame(result)`` makes a table of array input.

    Notes
    -----
    With D = 1 + d - r(1+g), for the gross value (no acquisition cost):

    ========  ===========  =============  ===================  =========
    timing    ε_margin     ε_retention    ε_discount_rate      ε_growth
    ========  ===========  =============  ===================  =========
    "next"    1            (1+d)/D        -d/D                 g r/D
    "now"     1            r(1+g)/D       d/(1+d) - d/D        g r/D
    "end"     1            r(1+g)/D       -d/D                 g r/D
    ========  ===========  =============  ===================  =========

    With g = 0, "next" gives the closed forms of Gupta, Lehmann & Stuart (2004):
    ε_m = 1, ε_r = (1+d)/(1+d-r), ε_d = -d/(1+d-r).  With an acquisition cost A
    the value is V = CLV - A: every gross elasticity is multiplied by CLV/V and
    ε_acquisition_cost = -A/V (undefined, NaN, where V = 0).

    References
    ----------
    Gupta, Lehmann & Stuart (2004), closed forms of m·r/(1+d−r); REFERENCES.md,
    "Retention economics".

    Examples
    --------
    >>> from kamtools.retention import clv_elasticities
    >>> e = clv_elasticities(100, 0.8, 0.12)
    >>> round(e["margin"], 6), round(e["retention"], 6), round(e["discount_rate"], 6)
    (1.0, 3.5, -0.375)
    """
    func = "clv_elasticities"
    _check_timing(func, timing)
    a, index = _as_arrays(
        func, margin=margin, retention=retention, discount_rate=discount_rate,
        growth=growth, acquisition_cost=acquisition_cost,
    )
    _check_core(func, a)
    m, r, d, g, ac = (a[k] for k in ("margin", "retention", "discount_rate", "growth",
                                     "acquisition_cost"))
    _check_region(func, r, d, g)
    m, r, d, g, ac = np.broadcast_arrays(m, r, d, g, ac)
    D = 1 + d - r * (1 + g)
    if timing == "next":
        e_r = (1 + d) / D
        e_d = -d / D
    else:
        e_r = r * (1 + g) / D
        e_d = (d / (1 + d) - d / D) if timing == "now" else -d / D
    e_g = g * r / D
    gross = _clv(m, r, d, g, None, timing)
    with np.errstate(divide="ignore", invalid="ignore"):
        net = gross - ac
        scale = np.where(ac == 0, 1.0, gross / net)
        e_ac = np.where(ac == 0, 0.0, -ac / net)
    scale = np.where(np.isfinite(scale), scale, np.nan)
    e_ac = np.where(np.isfinite(e_ac), e_ac, np.nan)
    result = {
        "margin": np.ones_like(D) * scale,
        "retention": e_r * scale,
        "discount_rate": e_d * scale,
        "growth": e_g * scale,
        "acquisition_cost": e_ac,
    }
    return {k: _wrap(v, index, f"{k}_elasticity") for k, v in result.items()}


def _uplift(r, p, d, m, g, ac, horizon, timing):
    """Relative change in net CLV; NaN where undefined.  No validation."""
    before = _clv(m, r, d, g, horizon, timing)
    after = _clv(m, r + p, d, g, horizon, timing)
    net = before - ac
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(net > 0, (after - before) / net, np.nan), before, after


def retention_uplift(
    retention,
    *,
    points=0.05,
    discount_rate,
    margin=1.0,
    growth=0.0,
    acquisition_cost=0.0,
    timing: str = "next",
    horizon=None,
):
    """Relative change in CLV (net of acquisition cost) when retention rises by ``points``.

    ``(CLV(r + points) - CLV(r)) / (CLV(r) - acquisition_cost)``, a fraction
    (0.259 means +25.9 %, not 25.9).

    Parameters
    ----------
    retention : float, array-like or Series
        Base retention per period, in [0, 1].
    points : float or array-like, default 0.05
        Change in retention as a fraction: 0.05 is five percentage points.
        ``retention + points`` must stay in [0, 1].
    discount_rate, margin, growth, timing, horizon
        As in :func:`retention_clv`.  With no acquisition cost the margin cancels.
    acquisition_cost : float or array-like, default 0.0
        Acquisition cost per account, in the units of ``margin``.  It is *sunk*:
        the extra retention does not change it, so the absolute gain is the same
        for every acquisition cost; only the base it is compared with shrinks.
        This is the formulation under which Reichheld's high figures arise
        (profit net of acquisition cost), see :func:`reichheld_table`.

    Returns
    -------
    float, numpy.ndarray or pandas.Series
        Relative uplift (fraction), named ``clv_uplift`` when a Series.

    Raises
    ------
    ParameterError
        Where ``retention + points`` leaves [0, 1], where the raised retention
        enters the region ``r(1+g) >= 1+d`` (infinite horizon), or where the base
        CLV net of acquisition cost is not positive (a relative change of a
        non-positive base has no meaning).

    References
    ----------
    Reichheld & Sasser (1990); Reichheld & Schefter (2000); the CLV of
    Gupta & Lehmann (2003).

    Examples
    --------
    >>> from kamtools.retention import retention_uplift
    >>> round(retention_uplift(0.8, points=0.05, discount_rate=0.12), 4)  # 314.8 / 250 - 1
    0.2593
    """
    func = "retention_uplift"
    _check_timing(func, timing)
    a, index = _as_arrays_horizon(
        func, horizon, retention=retention, points=points, discount_rate=discount_rate,
        margin=margin, growth=growth, acquisition_cost=acquisition_cost,
    )
    _check_core(func, a)
    r, p = np.broadcast_arrays(a["retention"], a["points"])
    raised = r + p
    _check_range(
        func, "points", p, "such that retention + points stays in [0, 1]",
        (raised < 0) | (raised > 1) | np.isinf(p),
    )
    _check_region(func, raised, a["discount_rate"], a["growth"], a["horizon"], what="points")
    up, before, _ = _uplift(r, p, a["discount_rate"], a["margin"], a["growth"],
                            a["acquisition_cost"], a["horizon"], timing)
    net = np.broadcast_to(before - a["acquisition_cost"], np.shape(up))
    bad = np.isfinite(net) & (net <= 0)
    if bad.any():
        first = ", ".join(_fmt(v) for v in net[bad][:3])
        raise ParameterError(
            f"The 'acquisition_cost' parameter of {func} must leave a positive base CLV "
            f"net of acquisition cost (the uplift is relative to it). Got a base net "
            f"CLV of {first} ({bad.sum()} of {bad.size} values) instead; lower the "
            f"acquisition cost or compare absolute values with retention_clv."
        )
    return _wrap(up, index, "clv_uplift")


def book_profit(
    margin,
    retention,
    *,
    acquisitions,
    growth=0.0,
    acquisition_cost=0.0,
    cost_to_serve=0.0,
    fixed_cost=0.0,
):
    """Steady-state profit per period of a book of accounts.

    Model: each period ``acquisitions`` new accounts join at the start; an account
    stays to the next period with probability ``retention``; an account in its
    k-th period of tenure (k = 0, 1, ...) earns ``margin * (1 + growth) ** k`` and
    costs ``cost_to_serve``.  In steady state A r^k accounts are of tenure k, so

    * accounts in the book: N = A / (1 - r);
    * profit per period: A m / (1 - r(1+g)) - N c - A a - F

    with A acquisitions, m margin, g growth, c cost to serve, a acquisition cost
    and F fixed cost.  Profit is undiscounted (a flow per period, not a present
    value): it equals A times :func:`retention_clv` with ``discount_rate=0``,
    ``timing="now"``, net of acquisition cost and of the cost to serve.

    Parameters
    ----------
    margin : float, array-like or Series
        Margin of an account's first period (currency per period).
    retention : float, array-like or Series
        Retention per period, in [0, 1); ``retention*(1+growth)`` must be < 1.
    acquisitions : float, array-like or Series
        New accounts per period, >= 0.
    growth : float, default 0.0
        Margin growth per period of tenure, > -1.
    acquisition_cost, cost_to_serve, fixed_cost : float, default 0.0
        Cost per new account (>= 0), cost per account per period, cost per period.

    Returns
    -------
    float, numpy.ndarray or pandas.Series
        Profit per period (currency), named ``profit_value`` when a Series.

    References
    ----------
    Reichheld & Sasser (1990) (the book-level argument); Gupta, Lehmann & Stuart
    (2004) (value of a stream of cohorts).

    Examples
    --------
    >>> from kamtools.retention import book_profit
    >>> # 10 new accounts a year, 80 % retention: 50 accounts of margin 100 -> 5000
    >>> round(book_profit(100, 0.8, acquisitions=10, acquisition_cost=150), 6)
    3500.0
    """
    func = "book_profit"
    a, index = _as_arrays(
        func, margin=margin, retention=retention, acquisitions=acquisitions,
        growth=growth, acquisition_cost=acquisition_cost, cost_to_serve=cost_to_serve,
        fixed_cost=fixed_cost,
    )
    _check_core(func, a)
    for name in ("cost_to_serve", "fixed_cost"):
        _check_range(func, name, a[name], "finite", np.isinf(a[name]))
    n = a["acquisitions"]
    _check_range(func, "acquisitions", n, "finite and >= 0", (n < 0) | np.isinf(n))
    r, g = np.broadcast_arrays(a["retention"], a["growth"])
    _check_range(
        func, "retention", r,
        "< 1 and keep retention*(1+growth) < 1 (otherwise the steady-state book is "
        "infinite)", (r >= 1) | (r * (1 + g) >= 1),
    )
    m, ac, c, fc = a["margin"], a["acquisition_cost"], a["cost_to_serve"], a["fixed_cost"]
    profit = n * m / (1 - r * (1 + g)) - n * c / (1 - r) - n * ac - fc
    return _wrap(profit, index, "profit_value")


# ---------------------------------------------------------------------------------
# Calibration from the panel
# ---------------------------------------------------------------------------------
def _wilson(x, n, alpha):
    """Wilson score interval of a binomial proportion (vectorised)."""
    x, n = np.asarray(x, float), np.asarray(n, float)
    z = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z / denom * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def calibrate_retention(
    panel: pd.DataFrame,
    *,
    by: str | None = None,
    accounts: pd.DataFrame | None = None,
    freq: str = "M",
    churn_gap: int | None = None,
    alpha: float = 0.05,
    account: str = "account_id",
    period: str = "period",
) -> pd.DataFrame:
    """Calibrate the retention model from an account-by-period panel.

    Estimates, per group, the annual retention rate, the margin per account-year,
    its growth with tenure and (when the accounts table has it) the cost to serve,
    each with a (1 - alpha) interval.

    Parameters
    ----------
    panel : DataFrame
        The canonical panel (``kamtools.panel.build_panel``): one row per account and
        period with ``account_id``, ``period`` (period start, Timestamp or Period),
        ``gross_margin`` and ``active`` (if ``active`` is absent, a row is active when
        ``revenue > 0`` or ``orders > 0``).  Rows may be balanced (every period) or
        only the active ones.
    by : str, optional
        Column (in ``panel`` or ``accounts``) defining the groups, e.g. ``"segment"``
        or ``"is_key_account"``.  None: one group, ``"all"``.
    accounts : DataFrame, optional
        Account attributes (``account_id`` + the ``by`` column, and optionally
        ``cost_to_serve``), merged on the account column.
    freq : {"M", "Q", "Y", "W"}, default "M"
        Frequency of the panel's periods.
    churn_gap : int, optional
        Periods of inactivity that mark an account as lost; default one year of
        periods (12 for monthly).
    alpha : float, default 0.05
        1 - confidence level of the intervals.
    account, period : str
        Column names.

    Returns
    -------
    DataFrame
        Tidy: ``group, parameter, estimate, ci_lower, ci_upper, n, unit``, one row
        per group and parameter:

        * ``retention_rate`` -- annual retention (fraction); n = accounts at risk;
        * ``margin_value`` -- margin per account-year (currency); n = accounts;
        * ``margin_growth_rate`` -- growth of annual margin per year of tenure
          (fraction); n = accounts with at least two full tenure years;
        * ``cost_to_serve_value`` -- mean of ``accounts.cost_to_serve`` (its units);
          only when that column is present.

        ``.attrs`` holds the settings (freq, churn_gap, alpha, window) and counts of
        excluded data.

    Notes
    -----
    *Churn.*  An account is lost after its last active period L when it is followed
    by at least ``churn_gap`` inactive periods up to the window end E
    (E - L >= churn_gap).  Losses can therefore only be seen for L <= E - churn_gap.
    Each account is at risk from its first active period F to min(L, E - churn_gap);
    the per-period churn hazard is h = losses / account-periods at risk (the maximum
    likelihood estimate of a constant hazard, i.e. geometric lifetimes; accounts
    already active at the window start are left-truncated, which a constant hazard
    tolerates).  Annual retention is (1 - h) ** periods_per_year; its interval is
    the Wilson interval of h transformed the same way.  Because an account's last
    purchase precedes its true departure, exposure is slightly understated and the
    retention slightly underestimated when accounts buy rarely.

    *Margin per account-year* is the ratio estimator sum(margin) / sum(years), years
    counted from F to L (the active lifetime: the time an account is alive after its
    last purchase is unknown, and an account idle at the window end may already be
    gone), with a linearised (account-clustered) standard error and a t interval.
    Accounts with any unknown (NaN) margin in an active period are left out.

    *Growth with tenure* is the slope b of log(annual margin) on tenure year within
    account (account fixed effects: log M_ik = a_i + b k + e); growth = exp(b) - 1,
    with an account-clustered standard error (G/(G-1) correction, t with G-1 df).
    Tenure years are blocks of one year starting after F (the first active period is
    active by definition, often a partial onboarding period, and would inflate the
    first year); a year is used only when the account is active after it ends (so it
    was alive throughout: no partial year of an account that left, whether or not
    the loss is yet visible).
    Fixed effects make the slope immune to unknown tenure before the window start;
    years with non-positive margin cannot be logged and are dropped (counted in
    ``attrs``).  Within an account, tenure and calendar time move together, so the
    slope also contains market growth and inflation: deflate ``gross_margin`` by a
    market index first to isolate the tenure effect (with account and period fixed
    effects a linear tenure effect is not identified).

    *Known bias.*  Accounts that buy less often than once per ``churn_gap`` periods
    are counted as lost although alive, and a lost account's last purchase precedes
    its departure; both lower the estimated retention of books of rare buyers.  A
    longer ``churn_gap`` trades the first bias against fewer observable losses.

    References
    ----------
    Wilson, E. B. (1927), JASA 22, 209-212 (score interval); REFERENCES.md, KPIs
    (logo churn, annualisation 1-(1-c)^12).

    Examples
    --------
    >>> import pandas as pd
    >>> from kamtools.retention import calibrate_retention
    >>> panel = pd.DataFrame({
    ...     "account_id": ["a"] * 24 + ["b"] * 24,
    ...     "period": list(pd.date_range("2022-01-01", periods=24, freq="MS")) * 2,
    ...     "gross_margin": [10.0] * 24 + [10.0] * 6 + [0.0] * 18,
    ...     "active": [True] * 24 + [True] * 6 + [False] * 18})
    >>> table = calibrate_retention(panel, churn_gap=12)
    >>> table.loc[table.parameter == "retention_rate", "n"].item()
    2
    """
    func = "calibrate_retention"
    if not isinstance(panel, pd.DataFrame):
        raise ParameterError(
            f"The 'panel' parameter of {func} must be a DataFrame. Got {type(panel).__name__} instead."
        )
    if freq not in _FREQS:
        raise ParameterError(
            f"The 'freq' parameter of {func} must be one of 'M', 'Q', 'Y', 'W'. Got {freq!r} instead."
        )
    if not (0 < alpha < 1):
        raise ParameterError(f"The 'alpha' parameter of {func} must be in (0, 1). Got {alpha!r} instead.")
    alias, ppy = _FREQS[freq]
    gap = ppy if churn_gap is None else churn_gap
    if not (isinstance(gap, (int, np.integer)) and gap >= 1):
        raise ParameterError(
            f"The 'churn_gap' parameter of {func} must be a whole number of periods >= 1. "
            f"Got {churn_gap!r} instead."
        )
    missing = [c for c in (account, period, "gross_margin") if c not in panel.columns]
    if "active" not in panel.columns and not {"revenue", "orders"} & set(panel.columns):
        missing.append("active")
    if missing:
        raise DataValidationError(
            f"panel: {func} needs columns {missing}; it has {list(panel.columns)}. "
            f"Build it with kamtools.panel.build_panel or rename the columns."
        )
    if len(panel) == 0:
        raise DataValidationError(f"panel: {func} needs at least one row; the panel is empty.")

    # ---- periods as consecutive integers --------------------------------------
    per, t = _period_ints(panel, period, alias)
    active = _active_mask(panel)
    ids = panel[account].astype(str).to_numpy()
    margin = panel["gross_margin"].to_numpy(float)
    t_end = int(t.max())
    t_start = int(t.min())

    rows = pd.DataFrame({"account": ids, "t": t, "margin": margin, "unknown": np.isnan(margin)})[active]
    if rows.empty:
        raise DataValidationError(f"panel: {func} found no active rows (active, or revenue/orders > 0).")
    acc = rows.groupby("account", sort=True).agg(
        first=("t", "min"), last=("t", "max"),
        margin=("margin", "sum"), margin_unknown=("unknown", "max"),
    )
    acc["lost"] = (t_end - acc["last"]) >= gap
    obs_end = t_end - gap
    acc["exposure"] = (np.minimum(acc["last"], obs_end) - acc["first"] + 1).clip(lower=0)
    acc["event"] = acc["lost"].astype(int)
    acc["years"] = (acc["last"] - acc["first"] + 1) / ppy

    # ---- groups -------------------------------------------------------------
    if by is None:
        acc["group"] = "all"
    else:
        if accounts is not None and by in accounts.columns:
            src = accounts[[account, by]].copy()
            src[account] = src[account].astype(str)
            labels = src.drop_duplicates(account).set_index(account)[by]
        elif by in panel.columns:
            labels = (pd.DataFrame({"account": ids, "g": panel[by].to_numpy()})[active]
                      .groupby("account")["g"].first())
        else:
            raise ParameterError(
                f"The 'by' parameter of {func} must name a column of the panel or of "
                f"accounts. Got {by!r} instead."
            )
        acc["group"] = labels.reindex(acc.index).to_numpy()
        n_unlabelled = int(acc["group"].isna().sum())
        acc = acc[acc["group"].notna()]
        if acc.empty:
            raise DataValidationError(
                f"accounts: column {by!r} labels none of the panel's accounts; check the account ids."
            )
    if accounts is not None and "cost_to_serve" in accounts.columns:
        cts = accounts.assign(**{account: accounts[account].astype(str)}).drop_duplicates(account)
        acc["cost_to_serve"] = cts.set_index(account)["cost_to_serve"].reindex(acc.index).to_numpy(float)

    grp = acc.groupby("group", sort=True)
    groups = list(grp.groups)
    out = []

    # ---- retention ------------------------------------------------------------
    ev = grp["event"].sum()
    ex = grp["exposure"].sum()
    at_risk = (acc["exposure"] > 0).groupby(acc["group"]).sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        h = (ev / ex).to_numpy(float)
    lo_h, hi_h = _wilson(ev.to_numpy(), ex.to_numpy(), alpha)
    out.append(pd.DataFrame({
        "group": groups, "parameter": "retention_rate",
        "estimate": (1 - h) ** ppy, "ci_lower": (1 - hi_h) ** ppy, "ci_upper": (1 - lo_h) ** ppy,
        "n": at_risk.to_numpy(), "unit": "fraction per year",
    }))

    # ---- margin per account-year (ratio estimator) ------------------------------
    known = acc[~acc["margin_unknown"]]
    kg = known.groupby("group")
    ratio = (kg["margin"].sum() / kg["years"].sum()).reindex(groups)
    nk = kg.size().reindex(groups, fill_value=0)
    ybar = (kg["years"].mean()).reindex(groups)
    z = known["margin"] - known["group"].map(ratio).astype(float) * known["years"]
    ssz = (z**2).groupby(known["group"]).sum().reindex(groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(ssz / (nk * (nk - 1))) / ybar
        tq = stats.t.ppf(1 - alpha / 2, np.where(nk > 1, nk - 1, np.nan))
    out.append(pd.DataFrame({
        "group": groups, "parameter": "margin_value", "estimate": ratio.to_numpy(),
        "ci_lower": (ratio - tq * se).to_numpy(), "ci_upper": (ratio + tq * se).to_numpy(),
        "n": nk.to_numpy(), "unit": "currency per account-year",
    }))

    # ---- margin growth with tenure (within-account slope of log annual margin) --
    yr = rows.join(acc[["first", "last", "group"]], on="account", how="inner")
    yr = yr[yr["t"] > yr["first"]]  # F is active by definition: it would inflate year 0
    yr["k"] = (yr["t"] - yr["first"] - 1) // ppy
    yr_end = yr["first"] + (yr["k"] + 1) * ppy
    yr = yr[yr_end < yr["last"]]  # activity after the year: alive throughout it
    ym = yr.groupby(["account", "k"]).agg(
        m=("margin", "sum"), unknown=("unknown", "max"), group=("group", "first"),
    ).reset_index()
    n_nonpos = int(((ym["m"] <= 0) & ~ym["unknown"]).sum())
    ym = ym[~ym["unknown"] & (ym["m"] > 0)]
    ym = ym[ym.groupby("account")["k"].transform("size") >= 2]
    ym["y"] = np.log(ym["m"])
    ym["xd"] = ym["k"] - ym.groupby("account")["k"].transform("mean")
    ym["yd"] = ym["y"] - ym.groupby("account")["y"].transform("mean")
    gg = ym.groupby("group")
    sxx = (ym["xd"] ** 2).groupby(ym["group"]).sum().reindex(groups)
    sxy = (ym["xd"] * ym["yd"]).groupby(ym["group"]).sum().reindex(groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        b = sxy / sxx
    ym["e"] = ym["yd"] - ym["group"].map(b).astype(float) * ym["xd"]
    score = (ym["xd"] * ym["e"]).groupby(ym["account"]).sum()
    score_group = ym.groupby("account")["group"].first()
    ss = (score**2).groupby(score_group).sum().reindex(groups)
    ng = gg["account"].nunique().reindex(groups, fill_value=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        se_b = np.sqrt(ng / (ng - 1) * ss) / sxx
        tq = stats.t.ppf(1 - alpha / 2, np.where(ng > 1, ng - 1, np.nan))
    out.append(pd.DataFrame({
        "group": groups, "parameter": "margin_growth_rate", "estimate": np.expm1(b.to_numpy()),
        "ci_lower": np.expm1((b - tq * se_b).to_numpy()), "ci_upper": np.expm1((b + tq * se_b).to_numpy()),
        "n": ng.to_numpy(), "unit": "fraction per tenure year",
    }))

    # ---- cost to serve ------------------------------------------------------------
    if "cost_to_serve" in acc.columns:
        cg = acc.dropna(subset=["cost_to_serve"]).groupby("group")["cost_to_serve"]
        mean = cg.mean().reindex(groups)
        nc = cg.size().reindex(groups, fill_value=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            se_c = (cg.std(ddof=1) / np.sqrt(cg.size())).reindex(groups)
            tq = stats.t.ppf(1 - alpha / 2, np.where(nc > 1, nc - 1, np.nan))
        out.append(pd.DataFrame({
            "group": groups, "parameter": "cost_to_serve_value", "estimate": mean.to_numpy(),
            "ci_lower": (mean - tq * se_c).to_numpy(), "ci_upper": (mean + tq * se_c).to_numpy(),
            "n": nc.to_numpy(), "unit": "as accounts.cost_to_serve",
        }))

    table = pd.concat(out, ignore_index=True)
    order = {p: i for i, p in enumerate(
        ["retention_rate", "margin_value", "margin_growth_rate", "cost_to_serve_value"])}
    table = (table.assign(_g=table["group"].map({g: i for i, g in enumerate(groups)}),
                          _p=table["parameter"].map(order))
             .sort_values(["_g", "_p"]).drop(columns=["_g", "_p"]).reset_index(drop=True))
    table["n"] = table["n"].astype(int)
    table.attrs.update({
        "freq": freq, "churn_gap": gap, "alpha": alpha, "periods_per_year": ppy,
        "window": (str(per.min()), str(per.max())),
        "accounts_unknown_margin": int(acc["margin_unknown"].sum()),
        "tenure_years_nonpositive_margin": n_nonpos,
        "accounts_without_group": 0 if by is None else n_unlabelled,
        "window_periods": t_end - t_start + 1,
    })
    return table


# ---------------------------------------------------------------------------------
# Sensitivity: evaluation helper
# ---------------------------------------------------------------------------------
def _evaluate(model: Callable, inputs: Mapping[str, Any], n: int, fixed: Mapping[str, Any]) -> np.ndarray:
    """Evaluate ``model`` on n points: one vectorised call, else a loop of scalar calls.

    ``inputs`` holds arrays of length n; ``fixed`` scalars (or strings) passed as is.
    A ParameterError (invalid region) propagates; other errors from the vectorised
    call (e.g. ``math.exp`` on an array) fall back to scalar calls.
    """
    try:
        out = np.asarray(model(**inputs, **fixed), dtype=float)
        if out.shape == (n,):
            return out
    except ParameterError:
        raise
    except (TypeError, ValueError):
        pass
    return np.array(
        [float(model(**{k: v[i].item() for k, v in inputs.items()}, **fixed)) for i in range(n)]
    )


def tornado(model: Callable, base: Mapping[str, Any], ranges: Mapping[str, tuple]) -> pd.DataFrame:
    """One-way sensitivity: move one input at a time to its low and high value.

    Parameters
    ----------
    model : callable
        Takes the inputs as keyword arguments and returns the output; vectorised
        models (numpy arrays in, array out, e.g. :func:`retention_clv`) are
        evaluated in one call on the stacked 2k + 1 cases, other models case by case.
    base : dict
        Base value of every input the model needs (numbers; other values, such as
        ``timing="now"``, are passed through unchanged).
    ranges : dict
        ``name -> (low, high)`` for the inputs to vary; every name must be in ``base``
        and low <= high.

    Returns
    -------
    DataFrame
        ``input, low, high, output_low, output_high, swing``, sorted by ``swing``
        (= |output_high - output_low|) descending.  ``output_low`` is the output at
        the *input's* low value, which may be the larger output (e.g. the discount
        rate).  ``.attrs["base_output"]`` holds the output at the base case.

    References
    ----------
    Eschenbach, T. G. (1992). Spiderplots versus tornado diagrams for sensitivity
    analysis. Interfaces 22(6), 40-46.

    Examples
    --------
    >>> from kamtools.retention import retention_clv, tornado
    >>> base = {"margin": 100.0, "retention": 0.8, "discount_rate": 0.12}
    >>> t = tornado(retention_clv, base, {"retention": (0.75, 0.85), "discount_rate": (0.08, 0.16)})
    >>> list(t["input"]), round(t.attrs["base_output"], 6)
    (['retention', 'discount_rate'], 250.0)
    """
    func = "tornado"
    if not ranges:
        raise ParameterError(f"The 'ranges' parameter of {func} must name at least one input. Got {{}} instead.")
    unknown = [k for k in ranges if k not in base]
    if unknown:
        raise ParameterError(
            f"The 'ranges' parameter of {func} must only name inputs present in base "
            f"({list(base)}). Got {unknown} instead."
        )
    names = list(ranges)
    lows, highs = [], []
    for k in names:
        try:
            lo, hi = (float(v) for v in ranges[k])
        except (TypeError, ValueError):
            raise ParameterError(
                f"The 'ranges' parameter of {func} must map each input to (low, high). "
                f"Got {k!r}: {ranges[k]!r} instead."
            ) from None
        if not lo <= hi:
            raise ParameterError(
                f"The 'ranges' parameter of {func} must have low <= high. "
                f"Got {k!r}: ({_fmt(lo)}, {_fmt(hi)}) instead."
            )
        lows.append(lo)
        highs.append(hi)
    k = len(names)
    n = 2 * k + 1  # case 0 = base, then (low, high) per input
    numeric = {key: v for key, v in base.items() if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)}
    fixed = {key: v for key, v in base.items() if key not in numeric}
    inputs = {key: np.full(n, float(v)) for key, v in numeric.items()}
    for i, name in enumerate(names):
        if name not in inputs:
            raise ParameterError(
                f"The 'base' parameter of {func} must give a number for every input in "
                f"ranges. Got {name!r}: {base[name]!r} instead."
            )
        inputs[name][1 + 2 * i] = lows[i]
        inputs[name][2 + 2 * i] = highs[i]
    y = _evaluate(model, inputs, n, fixed)
    table = pd.DataFrame({
        "input": names, "low": lows, "high": highs,
        "output_low": y[1::2], "output_high": y[2::2],
    })
    table["swing"] = (table["output_high"] - table["output_low"]).abs()
    table = table.sort_values("swing", ascending=False, kind="stable").reset_index(drop=True)
    table.attrs["base_output"] = float(y[0])
    return table


def _short(value: float) -> str:
    """A range end for a label: thousands separated above 1,000, else 3 significant digits."""
    value = float(value)
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def plot_tornado(table: pd.DataFrame, *, base_output: float, ax=None, **kwargs):
    """Draw a tornado chart: one bar per input, centred on the base output.

    Parameters
    ----------
    table : DataFrame
        The output of :func:`tornado`.
    base_output : float
        Output at the base case (``table.attrs["base_output"]``); bars start here.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is created when None.
    **kwargs
        Passed to ``ax.barh``.

    Returns
    -------
    matplotlib.axes.Axes
        Largest swing at the top; the low-value bar and the high-value bar are
        coloured and labelled separately so that the direction stays visible.
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    y = np.arange(len(table))
    ax.barh(y, table["output_low"] - base_output, left=base_output, color="C0",
            label="input at low value", **kwargs)
    ax.barh(y, table["output_high"] - base_output, left=base_output, color="C1",
            label="input at high value", **kwargs)
    ax.axvline(base_output, color="0.2", linewidth=1)
    ax.set_yticks(y, [f"{r.input} ({_short(r.low)} to {_short(r.high)})" for r in table.itertuples()])
    ax.invert_yaxis()
    ax.set_xlabel(table.attrs.get("output_name", "output"))
    ax.legend(loc="lower right")
    return ax


def sensitivity_grid(
    model: Callable,
    base: Mapping[str, Any],
    x: tuple[str, Any],
    y: tuple[str, Any],
    *,
    invalid: str = "nan",
) -> pd.DataFrame:
    """Two-way sensitivity: the model over a grid of two inputs, the others at base.

    Parameters
    ----------
    model : callable
        As in :func:`tornado`.
    base : dict
        Base values of every input the model needs.
    x, y : (name, values)
        The two inputs to vary and their grid values.
    invalid : {"nan", "raise"}, default "nan"
        What to do with grid cells the model refuses with a ParameterError (e.g.
        ``r(1+g) >= 1+d`` on a retention x growth grid): leave them NaN, with a
        warning saying how many, or raise.

    Returns
    -------
    DataFrame
        Tidy: columns ``<x name>, <y name>, output``, one row per cell (x varies
        slowest).  ``.attrs`` holds ``x``, ``y`` and ``n_invalid``.

    Examples
    --------
    >>> from kamtools.retention import retention_clv, sensitivity_grid
    >>> g = sensitivity_grid(retention_clv, {"margin": 100.0, "retention": 0.8, "discount_rate": 0.12},
    ...                      x=("retention", [0.7, 0.8]), y=("discount_rate", [0.08, 0.12]))
    >>> g.shape, round(float(g["output"].iloc[-1]), 6)
    ((4, 3), 250.0)
    """
    func = "sensitivity_grid"
    if invalid not in ("nan", "raise"):
        raise ParameterError(f"The 'invalid' parameter of {func} must be 'nan' or 'raise'. Got {invalid!r} instead.")
    (xn, xv), (yn, yv) = x, y
    if xn == yn:
        raise ParameterError(f"The 'y' parameter of {func} must name another input than x. Got {yn!r} twice instead.")
    xv = np.asarray(xv, float).ravel()
    yv = np.asarray(yv, float).ravel()
    X, Y = np.meshgrid(xv, yv, indexing="ij")
    n = X.size
    numeric = {k: v for k, v in base.items() if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)}
    fixed = {k: v for k, v in base.items() if k not in numeric and k not in (xn, yn)}
    inputs = {k: np.full(n, float(v)) for k, v in numeric.items()}
    inputs[xn], inputs[yn] = X.ravel(), Y.ravel()
    n_invalid = 0
    try:
        out = _evaluate(model, inputs, n, fixed)
    except ParameterError:
        if invalid == "raise":
            raise
        out = np.empty(n)
        for i in range(n):
            try:
                out[i] = float(model(**{k: v[i].item() for k, v in inputs.items()}, **fixed))
            except ParameterError:
                out[i] = np.nan
                n_invalid += 1
        warnings.warn(
            f"{func}: {n_invalid} of {n} grid cells are outside the model's valid region "
            f"and are left NaN.", UserWarning, stacklevel=2,
        )
    grid = pd.DataFrame({xn: X.ravel(), yn: Y.ravel(), "output": out})
    grid.attrs.update({"x": xn, "y": yn, "n_invalid": n_invalid})
    return grid


def plot_heatmap(grid: pd.DataFrame, *, contour_level: float | None = None, ax=None,
                 contour_label: str = "break-even", contour_grid: pd.DataFrame | None = None,
                 colorbar_label: str = "output", colorbar_format=None, **kwargs):
    """Heat map of a :func:`sensitivity_grid`, with an optional contour line.

    Parameters
    ----------
    grid : DataFrame
        Tidy grid (x, y, ``output``); x and y are read from ``grid.attrs`` or are the
        first two columns.
    contour_level : float, optional
        Output level to draw as a contour (e.g. the CLV at which the programme
        breaks even).
    ax : matplotlib Axes, optional
    contour_label : str, default "break-even"
    contour_grid : DataFrame, optional
        Another grid over the same x and y whose ``contour_level`` contour is drawn
        instead of the heat map's own, e.g. the programme's net value
        (:func:`programme_net_value`) at level 0 over a CLV heat map.
    colorbar_label : str, default "output"
    colorbar_format : str or matplotlib Formatter, optional
        Tick format of the colour bar (e.g. ``kamtools.plots.currency_formatter("EUR")``).
    **kwargs
        Passed to ``ax.pcolormesh`` (e.g. ``cmap``).

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    xn = grid.attrs.get("x", grid.columns[0])
    yn = grid.attrs.get("y", grid.columns[1])

    def _mesh(frame):
        wide = frame.pivot(index=yn, columns=xn, values="output")
        Xm, Ym = np.meshgrid(wide.columns.to_numpy(float), wide.index.to_numpy(float))
        return Xm, Ym, np.ma.masked_invalid(wide.to_numpy(float))

    Xc, Yc, Z = _mesh(grid)
    mesh = ax.pcolormesh(Xc, Yc, Z, shading="nearest", **kwargs)
    ax.figure.colorbar(mesh, ax=ax, label=colorbar_label, format=colorbar_format)
    if contour_grid is not None:
        missing = [c for c in (xn, yn, "output") if c not in contour_grid.columns]
        if missing:
            raise ParameterError(
                f"The 'contour_grid' parameter of plot_heatmap must have the columns "
                f"{[xn, yn, 'output']} of the heat map's grid. Got one without {missing} instead."
            )
        Xc, Yc, Z = _mesh(contour_grid)
    if contour_level is not None and Z.count() and Z.min() < contour_level < Z.max():
        cs = ax.contour(Xc, Yc, Z, levels=[contour_level], colors="white", linewidths=2.0)
        ax.clabel(cs, fmt={contour_level: contour_label})
    ax.set_xlabel(xn)
    ax.set_ylabel(yn)
    return ax


# ---------------------------------------------------------------------------------
# What the programme must achieve
# ---------------------------------------------------------------------------------
def _breakeven_target_retention(cost_per_account, m, r, d, g, horizon, timing):
    """Retention r' with CLV(r') = CLV(r) + cost; inf where no r' <= 1 suffices."""
    target = _clv(m, r, d, g, horizon, timing) + cost_per_account
    with np.errstate(divide="ignore", invalid="ignore"):
        if horizon is None:
            if timing == "next":
                r_new = target * (1 + d) / (m + target * (1 + g))
            elif timing == "now":
                r_new = (1 + d) * (1 - m / target) / (1 + g)
            else:
                r_new = (1 + d - m / target) / (1 + g)
        else:
            # vectorised bisection on [r, 1]: CLV_T is increasing in r when m > 0.
            lo = np.broadcast_to(r, np.shape(target)).astype(float).copy()
            hi = np.ones_like(lo)
            top = _clv(m, hi, d, g, horizon, timing)
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                below = _clv(m, mid, d, g, horizon, timing) < target
                lo = np.where(below, mid, lo)
                hi = np.where(below, hi, mid)
            r_new = np.where(top >= target, 0.5 * (lo + hi), np.inf)
    r_new = np.where((m <= 0) & (cost_per_account > 0), np.inf, r_new)
    r_new = np.where(cost_per_account == 0, r, r_new)
    return np.where(r_new > 1 + 1e-12, np.inf, r_new)


def breakeven_retention_uplift(
    programme_cost,
    *,
    n_accounts,
    margin,
    retention,
    discount_rate,
    growth=0.0,
    timing: str = "next",
    horizon=None,
):
    """Retention uplift at which a programme's cost is paid back.

    Solves ``n_accounts * (CLV(r + p) - CLV(r)) = programme_cost`` for p.

    Parameters
    ----------
    programme_cost : float, array-like or Series
        Present value of the programme's cost for these accounts (currency, >= 0).
        For a recurring cost, pass its present value over the horizon considered
        (e.g. ``annual_cost / discount_rate`` for a perpetuity paid at period ends).
    n_accounts : float, array-like or Series
        Number of accounts whose retention the programme lifts (> 0).
    margin, retention, discount_rate, growth, timing, horizon
        As in :func:`retention_clv`; the base case.

    Returns
    -------
    float, numpy.ndarray or pandas.Series
        Break-even uplift in percentage points as a fraction (0.018 = 1.8 points),
        named ``breakeven_uplift`` when a Series.  ``inf`` where no retention up to
        1 pays back the cost (or the margin is not positive).

    Notes
    -----
    With C* = CLV(r) + cost / n_accounts and an infinite horizon the break-even
    retention r' has a closed form: "next" r' = C*(1+d) / (m + C*(1+g)); "now"
    r' = (1+d)(1 - m/C*) / (1+g); "end" r' = (1+d - m/C*) / (1+g).  With a finite
    horizon r' is found by vectorised bisection on [r, 1] (60 halvings).

    Examples
    --------
    >>> from kamtools.retention import breakeven_retention_uplift
    >>> # 20 accounts, base CLV 250 each; a cost of 20 * 64.81 lifts CLV to 314.81 (r = 0.85)
    >>> round(breakeven_retention_uplift(20 * (0.85 * 100 / 0.27 - 250), n_accounts=20,
    ...       margin=100, retention=0.8, discount_rate=0.12), 6)
    0.05
    """
    func = "breakeven_retention_uplift"
    _check_timing(func, timing)
    a, index = _as_arrays_horizon(
        func, horizon, programme_cost=programme_cost, n_accounts=n_accounts, margin=margin,
        retention=retention, discount_rate=discount_rate, growth=growth,
    )
    _check_core(func, a)
    c, n = a["programme_cost"], a["n_accounts"]
    _check_range(func, "programme_cost", c, "finite and >= 0", (c < 0) | np.isinf(c))
    _check_range(func, "n_accounts", n, "finite and > 0", (n <= 0) | np.isinf(n))
    _check_region(func, a["retention"], a["discount_rate"], a["growth"], a["horizon"])
    m, r, d, g, cc = np.broadcast_arrays(a["margin"], a["retention"], a["discount_rate"], a["growth"], c / n)
    r_new = _breakeven_target_retention(cc, m, r, d, g, a["horizon"], timing)
    return _wrap(r_new - r, index, "breakeven_uplift")


def breakeven_from_calibration(
    calibration: pd.DataFrame,
    *,
    programme_cost,
    n_accounts,
    discount_rate: float,
    growth: float | None = None,
    timing: str = "next",
    horizon=None,
    n_draws: int = 4000,
    alpha: float = 0.05,
    seed: int = 0,
) -> pd.DataFrame:
    """Break-even retention uplift per group, with the calibration's uncertainty.

    Draws retention, margin and (unless ``growth`` is given) margin growth from
    normal approximations to the intervals of :func:`calibrate_retention`
    (standard deviation = interval width / (2 z)), solves
    :func:`breakeven_retention_uplift` for every draw, and reports the quantiles.

    Parameters
    ----------
    calibration : DataFrame
        Output of :func:`calibrate_retention` (``group, parameter, estimate,
        ci_lower, ci_upper``); needs ``retention_rate`` and ``margin_value`` rows.
    programme_cost, n_accounts : float or mapping / Series keyed by group
        Present value of the programme cost, and accounts covered, per group.
    discount_rate : float
        Annual discount rate.
    growth : float, optional
        Fixed margin growth; None uses the calibrated ``margin_growth_rate`` (0
        where it is missing).
    timing, horizon
        As in :func:`retention_clv`.
    n_draws : int, default 4000
    alpha : float, default 0.05
        The calibration intervals' alpha, and that of the returned interval.
    seed : int, default 0
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    DataFrame
        ``group, estimate, ci_lower, ci_upper, p_unattainable, n_draws``: the
        break-even uplift (fraction of a point: 0.018 = 1.8 points) at the point
        estimates, the alpha/2 and 1 - alpha/2 quantiles over draws (``inf`` when
        more than that share of draws cannot pay back), the share of draws where no
        uplift pays back, and the number of valid draws (draws in the invalid region
        r(1+g) >= 1+d are dropped).
    """
    func = "breakeven_from_calibration"
    needed = {"group", "parameter", "estimate", "ci_lower", "ci_upper"}
    if not isinstance(calibration, pd.DataFrame) or not needed <= set(calibration.columns):
        raise ParameterError(
            f"The 'calibration' parameter of {func} must be the table of calibrate_retention "
            f"(columns {sorted(needed)}). Got {type(calibration).__name__} instead."
        )
    wide = calibration.pivot(index="group", columns="parameter", values=["estimate", "ci_lower", "ci_upper"])
    for p in ("retention_rate", "margin_value"):
        if p not in wide["estimate"].columns:
            raise ParameterError(
                f"The 'calibration' parameter of {func} must contain {p!r} rows. Got "
                f"{sorted(wide['estimate'].columns)} instead."
            )
    groups = list(wide.index)
    G = len(groups)

    def per_group(value, name):
        if isinstance(value, (Mapping, pd.Series)):
            s = pd.Series(value)
            miss = [g for g in groups if g not in s.index]
            if miss:
                raise ParameterError(
                    f"The '{name}' parameter of {func} must give a value for every group. "
                    f"Got none for {miss} instead."
                )
            return s.reindex(groups).to_numpy(float)
        return np.full(G, float(value))

    cost = per_group(programme_cost, "programme_cost")
    n = per_group(n_accounts, "n_accounts")
    _check_range(func, "programme_cost", cost, "finite and >= 0", (cost < 0) | ~np.isfinite(cost))
    _check_range(func, "n_accounts", n, "finite and > 0", (n <= 0) | ~np.isfinite(n))
    _check_core(func, {"discount_rate": np.asarray(float(discount_rate))})
    if not (isinstance(n_draws, (int, np.integer)) and n_draws >= 1):
        raise ParameterError(f"The 'n_draws' parameter of {func} must be an integer >= 1. Got {n_draws!r} instead.")
    if not (0 < alpha < 1):
        raise ParameterError(f"The 'alpha' parameter of {func} must be in (0, 1). Got {alpha!r} instead.")
    _check_timing(func, timing)
    z = stats.norm.ppf(1 - alpha / 2)
    rng = np.random.default_rng(seed)

    def draws(p, default=None):
        if p not in wide["estimate"].columns:
            return np.full((G, 1), default), np.full(G, default)
        est = wide["estimate"][p].to_numpy(float)
        sd = (wide["ci_upper"][p] - wide["ci_lower"][p]).to_numpy(float) / (2 * z)
        est_f = np.where(np.isfinite(est), est, default if default is not None else np.nan)
        sd = np.where(np.isfinite(sd), sd, 0.0)
        return est_f[:, None] + sd[:, None] * rng.standard_normal((G, n_draws)), est_f

    r_draw, r_est = draws("retention_rate")
    m_draw, m_est = draws("margin_value")
    if growth is None:
        g_draw, g_est = draws("margin_growth_rate", 0.0)
    else:
        g_draw, g_est = np.full((G, 1), float(growth)), np.full(G, float(growth))
    r_draw = np.clip(r_draw, 0.0, 1.0)
    d = float(discount_rate)
    _check_region(func, r_est, d, g_est, horizon, what="growth")
    h = None if horizon is None or np.isinf(horizon) else float(horizon)
    r_b, m_b, g_b = np.broadcast_arrays(r_draw, m_draw, g_draw)
    r_b, m_b, g_b = (np.broadcast_to(v, (G, n_draws)) for v in (r_b, m_b, g_b))
    valid = np.isfinite(r_b) & np.isfinite(m_b)
    if h is None:
        valid &= r_b * (1 + g_b) < 1 + d
    rb, gb = np.where(valid, r_b, 0.0), np.where(valid, g_b, 0.0)
    cc = np.broadcast_to((cost / n)[:, None], rb.shape)
    with np.errstate(invalid="ignore"):
        up = _breakeven_target_retention(cc, m_b, rb, d, gb, h, timing) - rb
    up = np.where(valid, up, np.nan)
    point = _breakeven_target_retention(cost / n, m_est, r_est, d, g_est, h, timing) - r_est
    n_valid = valid.sum(axis=1)
    # "inverted_cdf" returns sample values, so inf (cannot pay back) stays inf
    q = np.nanquantile(up, [alpha / 2, 1 - alpha / 2], axis=1, method="inverted_cdf")
    p_inf = np.isinf(up).sum(axis=1) / np.maximum(n_valid, 1)
    return pd.DataFrame({
        "group": groups, "estimate": point, "ci_lower": q[0], "ci_upper": q[1],
        "p_unattainable": p_inf, "n_draws": n_valid,
    })


# ---------------------------------------------------------------------------------
# Global sensitivity
# ---------------------------------------------------------------------------------
def _check_bounds_corner(func: str, bounds: Mapping[str, tuple], fixed: Mapping[str, Any]) -> None:
    """Refuse a box whose worst corner has r(1+g) >= 1+d (infinite horizon only)."""
    if fixed.get("horizon") is not None and np.isfinite(fixed["horizon"]):
        return
    if "retention" not in bounds and "retention" not in fixed:
        return
    if "discount_rate" not in bounds and "discount_rate" not in fixed:
        return

    def pick(name, side, default):
        if name in bounds:
            return float(bounds[name][side])
        return float(fixed.get(name, default))

    r_hi, g_hi, d_lo = pick("retention", 1, 0), pick("growth", 1, 0.0), pick("discount_rate", 0, 0)
    if r_hi * (1 + g_hi) >= 1 + d_lo:
        raise ParameterError(
            f"The 'bounds' parameter of {func} must keep retention*(1+growth) < "
            f"1+discount_rate over the whole box. Got the corner retention={_fmt(r_hi)}, "
            f"growth={_fmt(g_hi)}, discount_rate={_fmt(d_lo)} "
            f"(retention*(1+growth)={_fmt(r_hi * (1 + g_hi))} >= {_fmt(1 + d_lo)}) instead; "
            f"narrow the retention or growth range, or raise the lowest discount rate."
        )


def sobol_indices(
    model: Callable,
    bounds: Mapping[str, tuple],
    *,
    n: int = 4096,
    seed: int = 0,
    fixed: Mapping[str, Any] | None = None,
    alpha: float = 0.05,
    num_resamples: int = 100,
) -> pd.DataFrame:
    """First-order and total Sobol indices of a vectorised model (SALib).

    Inputs are independent and uniform on their bounds.  The model is evaluated once
    on the n (k + 2) points of a scrambled Sobol' sequence (Saltelli 2010 design,
    ``SALib.sample.sobol.sample`` with ``calc_second_order=False``); the indices
    and their bootstrap confidence half-widths come from ``SALib.analyze.sobol``.

    Parameters
    ----------
    model : callable
        As in :func:`tornado`: inputs as keyword arguments, vectorised.
    bounds : dict
        ``name -> (low, high)`` with low < high for every varying input.  When the
        names include ``retention`` and ``discount_rate`` (the CLV model), the corner
        with the highest retention and growth and the lowest discount rate must
        satisfy ``retention*(1+growth) < 1+discount_rate``.
    n : int, default 4096
        Base sample size, a power of two (total evaluations n (k + 2)).
    seed : int, default 0
        Seed for the scrambling and the bootstrap.
    fixed : dict, optional
        Inputs held constant (e.g. ``{"timing": "now", "margin": 100.0}``).
    alpha : float, default 0.05
        The ``*_conf`` columns are (1 - alpha) confidence half-widths.
    num_resamples : int, default 100
        Bootstrap resamples for the confidence half-widths.

    Returns
    -------
    DataFrame
        ``input, S1, S1_conf, ST, ST_conf``, sorted by ST descending.  S1 is the
        share of output variance explained by the input alone; ST also counts all
        its interactions; ST - S1 measures interaction.

    Raises
    ------
    ParameterError
        For a bad ``n``, empty or inverted bounds, or a box that enters the region
        ``r(1+g) >= 1+d``.

    Notes
    -----
    SALib is a dependency of the kit (pyproject) rather than an optional extra: it is
    small, pure Python on numpy/scipy, and the notebook's global analysis needs it.

    References
    ----------
    Saltelli et al. (2010), Table 2 (estimators); Sobol' (2001), Math. Comput.
    Simul. 55, 271-280; Herman & Usher (2017) (SALib).

    Examples
    --------
    >>> from kamtools.retention import sobol_indices
    >>> s = sobol_indices(lambda a, b: a + 2 * b, {"a": (0, 1), "b": (0, 1)}, n=1024)
    >>> list(s["input"])
    ['b', 'a']
    """
    func = "sobol_indices"
    fixed = dict(fixed or {})
    if not isinstance(n, (int, np.integer)) or n < 2 or (n & (n - 1)) != 0:
        raise ParameterError(
            f"The 'n' parameter of {func} must be a power of two >= 2 (Sobol' sequences "
            f"lose their balance otherwise). Got {n!r} instead."
        )
    if not bounds:
        raise ParameterError(f"The 'bounds' parameter of {func} must name at least one input. Got {{}} instead.")
    names = list(bounds)
    lims = []
    for k in names:
        try:
            lo, hi = (float(v) for v in bounds[k])
        except (TypeError, ValueError):
            raise ParameterError(
                f"The 'bounds' parameter of {func} must map each input to (low, high). "
                f"Got {k!r}: {bounds[k]!r} instead."
            ) from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ParameterError(
                f"The 'bounds' parameter of {func} must have finite low < high. "
                f"Got {k!r}: ({_fmt(lo)}, {_fmt(hi)}) instead."
            )
        lims.append([lo, hi])
    _check_bounds_corner(func, bounds, fixed)
    try:
        from SALib.analyze import sobol as sobol_analyze
        from SALib.sample import sobol as sobol_sample
    except ImportError:  # pragma: no cover - SALib is a declared dependency
        raise ImportError(
            "sobol_indices needs SALib: `pip install SALib` (it is a dependency of kamtools)."
        ) from None
    problem = {"num_vars": len(names), "names": names, "bounds": lims}
    X = sobol_sample.sample(problem, n, calc_second_order=False, scramble=True, seed=seed)
    Y = _evaluate(model, {k: X[:, i] for i, k in enumerate(names)}, len(X), fixed)
    if not np.isfinite(Y).all():
        bad = ~np.isfinite(Y)
        first = X[np.flatnonzero(bad)[0]]
        raise ParameterError(
            f"The 'model' parameter of {func} must return finite outputs over the bounds. "
            f"Got {bad.sum()} non-finite outputs (first at "
            f"{dict(zip(names, (float(v) for v in first)))}) instead."
        )
    # SALib's analyze treats a falsy seed (0) as "no seed" and bootstraps from numpy's global
    # state: derive a non-zero seed so that every seed, 0 included, gives the same intervals.
    analyze_seed = int(np.random.SeedSequence(seed).generate_state(1, dtype=np.uint32)[0]) or 1
    Si = sobol_analyze.analyze(problem, Y, calc_second_order=False, num_resamples=num_resamples,
                               conf_level=1 - alpha, seed=analyze_seed)
    table = pd.DataFrame({
        "input": names, "S1": Si["S1"], "S1_conf": Si["S1_conf"], "ST": Si["ST"], "ST_conf": Si["ST_conf"],
    })
    table = table.sort_values("ST", ascending=False, kind="stable").reset_index(drop=True)
    table.attrs.update({"n": n, "seed": seed, "alpha": alpha, "n_evaluations": len(X), "fixed": fixed})
    return table


# ---------------------------------------------------------------------------------
# The Reichheld claim and the published elasticities
# ---------------------------------------------------------------------------------
def reichheld_table(
    *,
    base_retention=(0.6, 0.7, 0.8, 0.9),
    growth=(0.0, 0.05, 0.10),
    acquisition_cost=(0.0, 1.0, 2.0),
    points: float = 0.05,
    discount_rate: float = 0.12,
    margin: float = 1.0,
    timing: str = "next",
) -> pd.DataFrame:
    """Uplift from ``points`` more retention across base retention, growth and acquisition cost.

    Reichheld & Sasser (1990) report that cutting defections by 5 points raised
    profits 25-85 % in their industries ("25-95 %" in Reichheld & Schefter 2000,
    about customer NPV).  This table shows the assumptions under which the closed
    form reproduces that range:

    * flat margins, no acquisition cost, r = 0.8, d = 0.12: +25.9 %;
    * rising margins (g = 10 %/year), high base retention (0.9) and an acquisition
      cost of twice the first margin: above +95 %.

    The acquisition cost is *sunk*: +5 points of retention do not change it, so the
    absolute gain is the same in every acquisition-cost column.  The uplift is the
    gain relative to CLV net of acquisition cost (the profit after paying to win the
    account), and that base shrinks as the acquisition cost grows, so the percentage
    rises.  That is arithmetic, not extra value: read the ``gain`` column too.

    Parameters
    ----------
    base_retention, growth, acquisition_cost : sequence of float
        Grid values; acquisition cost in units of ``margin``.
    points, discount_rate, margin, timing
        As in :func:`retention_uplift`.

    Returns
    -------
    DataFrame
        ``base_retention, growth, acquisition_cost, clv_before, clv_after, gain,
        clv_net_before, uplift, band`` with ``points``, ``discount_rate`` and ``timing``
        in ``.attrs``.  ``uplift`` is a fraction (NaN where the base net CLV is not
        positive or the raised retention leaves the valid region); ``band`` is
        "< 25 %", "25-95 %" or ">= 95 %".

    Examples
    --------
    >>> from kamtools.retention import reichheld_table
    >>> t = reichheld_table(base_retention=[0.8], growth=[0.0], acquisition_cost=[0.0])
    >>> round(t["uplift"].item(), 4), t["band"].item()
    (0.2593, '25-95 %')
    """
    func = "reichheld_table"
    _check_timing(func, timing)
    R, G, A = np.meshgrid(np.asarray(base_retention, float), np.asarray(growth, float),
                          np.asarray(acquisition_cost, float), indexing="ij")
    R, G, A = R.ravel(), G.ravel(), A.ravel()
    a = {"retention": R, "growth": G, "acquisition_cost": A,
         "discount_rate": np.asarray(float(discount_rate)), "margin": np.asarray(float(margin))}
    _check_core(func, a)
    raised = R + points
    _check_range(func, "points", np.asarray(raised), "such that base_retention + points stays in [0, 1]",
                 (raised < 0) | (raised > 1))
    d = float(discount_rate)
    ok = raised * (1 + G) < 1 + d
    up, before, after = _uplift(R, points, d, float(margin), G, A, None, timing)
    before = np.where(R * (1 + G) < 1 + d, before, np.nan)
    after = np.where(ok, after, np.nan)
    up = np.where(ok, up, np.nan)
    table = pd.DataFrame({
        "base_retention": R, "growth": G, "acquisition_cost": A,
        "clv_before": before, "clv_after": after, "gain": after - before,
        "clv_net_before": before - A, "uplift": up,
    })
    table["band"] = pd.cut(table["uplift"], [-np.inf, 0.25, 0.95, np.inf], right=False,
                           labels=["< 25 %", "25-95 %", ">= 95 %"]).astype(object)
    table.attrs.update({"points": points, "discount_rate": d, "margin": margin, "timing": timing})
    return table


def plot_reichheld(table: pd.DataFrame, *, ax=None, **kwargs):
    """Uplift against base retention: one line per growth and acquisition cost.

    Colour encodes margin growth, line style the acquisition cost; dotted guides mark
    the +25 % and +95 % of Reichheld's claim.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`reichheld_table`.
    ax : matplotlib Axes, optional
    **kwargs
        Passed to ``ax.plot``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    styles = ["-", "--", ":", "-."]
    growths = sorted(table["growth"].unique())
    costs = sorted(table["acquisition_cost"].unique())
    for i, g in enumerate(growths):
        for j, c in enumerate(costs):
            part = table[(table["growth"] == g) & (table["acquisition_cost"] == c)].sort_values("base_retention")
            ax.plot(part["base_retention"], part["uplift"], color=f"C{i}", linestyle=styles[j % 4],
                    marker="o", label=f"growth {g:g}, acquisition cost {c:g}", **kwargs)
    for level in (0.25, 0.95):
        ax.axhline(level, color="0.5", linewidth=0.8, linestyle=":")
    ax.set_xlabel("base_retention")
    ax.set_ylabel("uplift")
    ax.legend(fontsize="small")
    return ax


def reichheld_figure(table: pd.DataFrame, *, ymax: float = 2.0, figsize=None):
    """:func:`plot_reichheld` in one panel per acquisition cost, sharing the uplift axis.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`reichheld_table`.
    ymax : float, default 2.0
        Top of the uplift axis (2.0 = +200 %): uplifts on a tiny net base (high
        acquisition cost, low retention) run off the chart; the table has them.
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    costs = sorted(table["acquisition_cost"].unique())
    fig, axes = plt.subplots(1, len(costs), sharex=True, sharey=True, squeeze=False,
                             figsize=figsize or (4.4 * len(costs), 4.4))
    for i, (ax, cost) in enumerate(zip(axes[0], costs)):
        part = table[table["acquisition_cost"] == cost]
        plot_reichheld(part, ax=ax)
        ax.set_title(f"acquisition cost {cost:g} x first margin", fontsize="medium")
        ax.set_ylim(0, ymax)
        handles, labels = ax.get_legend_handles_labels()
        ax.get_legend().remove()
        if i == 0:
            ax.legend(handles, [lab.split(",")[0] for lab in labels], fontsize="small", loc="upper left")
        else:
            ax.set_ylabel("")
    return fig


@dataclass(frozen=True)
class PublishedElasticity:
    """A published elasticity of firm (customer) value, with its proper label.

    Attributes
    ----------
    input : str
        The model input (``retention``, ``margin``, ``acquisition_cost``,
        ``discount_rate``).
    elasticity : float
        Signed change in value (%) per +1 % change in the input.
    low, high : float
        Range across the firms studied (NaN when not reported).
    label : str
        What was published, in words.
    derived : bool
        True when the figure is derived from a published statement, not quoted.
    """

    input: str
    elasticity: float
    low: float
    high: float
    label: str
    derived: bool = False


_GLS = "Gupta, Lehmann & Stuart (2004), JMR 41(1), full model with future cohorts, five firms"
GLS_2004_ELASTICITIES: Mapping[str, PublishedElasticity] = MappingProxyType({
    "retention": PublishedElasticity(
        "retention", 5.0, 3.0, 7.0,
        f"a 1 % improvement in retention raises firm value by about 5 % (3-7 % across firms); {_GLS}",
    ),
    "margin": PublishedElasticity(
        "margin", 1.0, np.nan, np.nan,
        f"a 1 % improvement in margin raises firm value by about 1 %; {_GLS}",
    ),
    "acquisition_cost": PublishedElasticity(
        "acquisition_cost", -0.1, -0.3, -0.02,
        f"a 1 % improvement (fall) in acquisition cost raises firm value by about 0.1 % "
        f"(0.02-0.3 % in the working paper); {_GLS}",
    ),
    "discount_rate": PublishedElasticity(
        "discount_rate", -1.0, np.nan, np.nan,
        f"derived, not quoted: GLS state that a 1 % improvement in retention has almost "
        f"five times the impact of a 1 % change in the discount rate (cost of capital), "
        f"so about 5 / 5 = 1 %; {_GLS}",
        derived=True,
    ),
})
"""Elasticities of firm value published by Gupta, Lehmann & Stuart (2004).

Read-only mapping ``input -> PublishedElasticity``.  Signs follow the kit's
convention (change in value per +1 % in the input): an *improvement* in acquisition
cost or discount rate is a fall, hence the negative signs.  These come from GLS's
full model (current and future cohorts, their estimated retention and margins), not
from the closed form m·r/(1+d−r); :func:`elasticity_table` sets them side by side.
"""


def elasticity_table(
    margin,
    retention,
    discount_rate,
    *,
    growth: float = 0.0,
    acquisition_cost: float = 0.0,
    timing: str = "next",
) -> pd.DataFrame:
    """Closed-form elasticities beside the published GLS (2004) figures.

    Parameters
    ----------
    margin, retention, discount_rate, growth, acquisition_cost, timing : float
        A single base case (scalars), as in :func:`clv_elasticities`.

    Returns
    -------
    DataFrame
        ``input, closed_form, published, published_low, published_high,
        published_label, derived``; one row per input of
        :data:`GLS_2004_ELASTICITIES`.  ``closed_form`` for acquisition cost is 0
        when ``acquisition_cost`` is 0.

    Examples
    --------
    >>> from kamtools.retention import elasticity_table
    >>> t = elasticity_table(100, 0.8, 0.12)
    >>> t.set_index("input").loc["retention", ["closed_form", "published"]].tolist()
    [3.5, 5.0]
    """
    e = clv_elasticities(margin, retention, discount_rate, growth=growth,
                         acquisition_cost=acquisition_cost, timing=timing)
    if any(not isinstance(v, float) for v in e.values()):
        raise ParameterError(
            "The 'margin', 'retention' and 'discount_rate' parameters of elasticity_table "
            "must be scalars (one base case). Got arrays instead; use clv_elasticities."
        )
    rows = [
        {"input": k, "closed_form": round(e[k], 12), "published": p.elasticity,
         "published_low": p.low, "published_high": p.high, "published_label": p.label,
         "derived": p.derived}
        for k, p in GLS_2004_ELASTICITIES.items()
    ]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------
# The programme: contribution CLV, programme cost, net value
# ---------------------------------------------------------------------------------
def contribution_clv(
    margin,
    retention,
    discount_rate,
    *,
    cost_to_serve=0.0,
    growth=0.0,
    acquisition_cost=0.0,
    horizon=None,
    timing: str = "next",
):
    """CLV of an account's contribution: margin minus cost to serve.

    :func:`retention_clv` of ``margin - cost_to_serve``: the cost to serve is taken
    to grow with the margin (a constant share of it).  Vectorised like
    :func:`retention_clv`, with every input as a keyword, so it is a ``model`` for
    :func:`tornado`, :func:`sensitivity_grid` and :func:`sobol_indices` with the cost
    to serve as an input of its own.

    Parameters
    ----------
    margin : float, array-like or Series
        Gross margin per account and period (currency).
    retention, discount_rate, growth, acquisition_cost, horizon, timing
        As in :func:`retention_clv`.
    cost_to_serve : float, array-like or Series, default 0.0
        Cost of serving the account per period (currency), finite.

    Returns
    -------
    float, numpy.ndarray or pandas.Series
        CLV of the contribution (currency), named ``clv_value`` when a Series.

    References
    ----------
    Gupta & Lehmann (2003); Shapiro, Rangan, Moriarty & Ross (1987) (cost to serve).

    Examples
    --------
    >>> from kamtools.retention import contribution_clv
    >>> round(contribution_clv(120, 0.8, 0.12, cost_to_serve=20), 6)  # 100 * 0.8 / 0.32
    250.0
    """
    func = "contribution_clv"
    a, index = _as_arrays(func, margin=margin, cost_to_serve=cost_to_serve)
    _check_range(func, "cost_to_serve", a["cost_to_serve"], "finite", np.isinf(a["cost_to_serve"]))
    contribution = a["margin"] - a["cost_to_serve"]
    if index is not None:
        contribution = pd.Series(np.broadcast_to(contribution, (len(index),)).copy(), index=index)
    return retention_clv(contribution, retention, discount_rate, growth=growth,
                         acquisition_cost=acquisition_cost, horizon=horizon, timing=timing)


def programme_cost_value(annual_cost, discount_rate, *, horizon=None):
    """Present value of a programme's yearly cost, paid at the end of each year.

    ``annual_cost * (1 - (1 + d) ** -H) / d`` for a horizon of H years (``annual_cost * H``
    when d = 0), ``annual_cost / d`` for an infinite horizon (a perpetuity, d > 0).
    The costs fall at t = 1..H like the margins that retention adds under every
    timing convention (the first renewal is at t = 1).

    Parameters
    ----------
    annual_cost : float or array-like
        Cost per year (currency), >= 0.
    discount_rate : float or array-like
        Annual discount rate, > -1 (> 0 for an infinite horizon).
    horizon : None or int or array-like, default None
        Years of cost; None for a perpetuity.

    Returns
    -------
    float or numpy.ndarray
        Present value (currency).

    Examples
    --------
    >>> from kamtools.retention import programme_cost_value
    >>> round(programme_cost_value(100, 0.10, horizon=2), 6)  # 100/1.1 + 100/1.21
    173.553719
    >>> round(programme_cost_value(100, 0.10), 6)
    1000.0
    """
    func = "programme_cost_value"
    a, _ = _as_arrays_horizon(func, horizon, annual_cost=annual_cost, discount_rate=discount_rate)
    c, d = a["annual_cost"], a["discount_rate"]
    _check_range(func, "annual_cost", c, "finite and >= 0", (c < 0) | np.isinf(c))
    _check_core(func, {"discount_rate": d, "horizon": a["horizon"]})
    if a["horizon"] is None:
        _check_range(func, "discount_rate", d, "> 0 for an infinite horizon (a perpetuity)", d <= 0)
        return _wrap(c / d, None, "cost_value")
    h = a["horizon"]
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(d == 0, h, -np.expm1(-h * np.log1p(d)) / np.where(d == 0, 1.0, d))
    return _wrap(c * factor, None, "cost_value")


def programme_annual_cost(
    programme_costs: pd.DataFrame,
    *,
    months: int = 12,
    period: str = "period",
    cost: str = "cost",
) -> float:
    """The programme's yearly cost: its run rate over the last ``months`` months.

    Sums ``cost`` over the last ``months`` calendar months of the table (up to its
    latest period) and scales the sum to 12 months; a table that covers fewer months
    is annualised from what it has.  One-off set-up costs before that window are left
    out: the break-even compares the cost still to come with the retention still to
    be won.

    Parameters
    ----------
    programme_costs : DataFrame
        The canonical ``programme_costs`` table (``period``, ``cost``, optional ``item``).
    months : int, default 12
        Length of the run-rate window, in months (>= 1).
    period, cost : str
        Column names.

    Returns
    -------
    float
        Cost per year (currency).

    Examples
    --------
    >>> import pandas as pd
    >>> from kamtools.retention import programme_annual_cost
    >>> costs = pd.DataFrame({"period": pd.date_range("2024-01-01", periods=18, freq="MS"),
    ...                       "cost": [50.0] * 6 + [10.0] * 12})
    >>> programme_annual_cost(costs)  # the last 12 months: 12 * 10
    120.0
    >>> programme_annual_cost(costs.head(3))  # 3 months of 50, annualised
    600.0
    """
    func = "programme_annual_cost"
    if not isinstance(programme_costs, pd.DataFrame):
        raise ParameterError(
            f"The 'programme_costs' parameter of {func} must be a DataFrame. "
            f"Got {type(programme_costs).__name__} instead."
        )
    if not (isinstance(months, (int, np.integer)) and months >= 1):
        raise ParameterError(f"The 'months' parameter of {func} must be an integer >= 1. Got {months!r} instead.")
    missing = [c for c in (period, cost) if c not in programme_costs.columns]
    if missing:
        raise DataValidationError(
            f"programme_costs: {func} needs columns {missing}; it has {list(programme_costs.columns)}."
        )
    frame = programme_costs[[period, cost]].dropna()
    if frame.empty:
        raise DataValidationError(f"programme_costs: {func} found no rows with both a period and a cost.")
    per = pd.to_datetime(frame[period]).dt.to_period("M").array.asi8.astype(np.int64)
    values = pd.to_numeric(frame[cost], errors="coerce").to_numpy(float)
    if not np.isfinite(values).all():
        raise DataValidationError(
            f"programme_costs: column {cost!r} must be numeric; "
            f"{int((~np.isfinite(values)).sum())} of {len(values)} rows are not."
        )
    last, first = int(per.max()), int(per.min())
    window = per > last - months
    covered = min(months, last - first + 1)
    return float(values[window].sum() * 12.0 / covered)


def programme_net_value(
    retention,
    *,
    base_retention,
    margin,
    discount_rate,
    n_accounts,
    annual_cost,
    cost_to_serve=0.0,
    growth=0.0,
    horizon=None,
    timing: str = "next",
):
    """Net present value of a programme that holds ``n_accounts`` at ``retention``.

    ``n_accounts * (CLV(retention) - CLV(base_retention)) - PV(programme cost)`` with
    the CLV of :func:`contribution_clv` and the cost of :func:`programme_cost_value`.
    Zero at the break-even retention of :func:`breakeven_retention_uplift`; vectorised
    over every input (a ``model`` for :func:`sensitivity_grid`, whose zero contour is
    the break-even line of a heat map).

    Parameters
    ----------
    retention : float or array-like
        Retention the accounts keep with the programme.
    base_retention : float or array-like
        Retention they would keep without it.
    margin, cost_to_serve, growth, discount_rate, horizon, timing
        As in :func:`contribution_clv` (per account and year).
    n_accounts : float or array-like
        Accounts in the programme (> 0).
    annual_cost : float or array-like
        The programme's cost per year (:func:`programme_annual_cost`).

    Returns
    -------
    float or numpy.ndarray
        Net value (currency); positive when the retention won pays for the programme.

    Examples
    --------
    >>> from kamtools.retention import programme_net_value
    >>> # 10 accounts, CLV 250 -> 314.81 (r 0.8 -> 0.85); cost 40 a year forever at 12 %: 333.33
    >>> round(programme_net_value(0.85, base_retention=0.8, margin=100, discount_rate=0.12,
    ...                           n_accounts=10, annual_cost=40), 2)
    314.81
    """
    func = "programme_net_value"
    n = np.asarray(n_accounts, dtype=float)
    _check_range(func, "n_accounts", n, "finite and > 0", (n <= 0) | ~np.isfinite(n))
    kw = dict(cost_to_serve=cost_to_serve, growth=growth, horizon=horizon, timing=timing)
    gain = (np.asarray(contribution_clv(margin, retention, discount_rate, **kw), float)
            - np.asarray(contribution_clv(margin, base_retention, discount_rate, **kw), float))
    value = n * gain - np.asarray(programme_cost_value(annual_cost, discount_rate, horizon=horizon), float)
    return _wrap(value, None, "net_value")


# ---------------------------------------------------------------------------------
# The programme, end to end: calibration -> inputs -> value of retention -> break-even
# ---------------------------------------------------------------------------------
ALL_KEY_ACCOUNTS = "all key accounts"
WHOLE_BOOK = "whole book"
_INPUTS = ("retention_rate", "margin_value", "cost_to_serve_value", "margin_growth_rate")
_POPULATIONS = ("key_accounts", "whole_book", "auto")
_ON_MISSING = ("raise", "not_available")
_BASES = ("gross_margin", "revenue", "auto")
_PERIOD_WORDS = {"M": "months", "Q": "quarters", "Y": "years", "W": "weeks"}
# What the break-even needs when it cannot be computed: (what is missing, what to provide).
_NEED_COSTS = ("KAM programme costs", "programme_costs with period, cost (or the programme's annual cost)")
_NEED_MARGIN = ("gross margin", "transactions with gross_margin (or cost)")
_MODEL_NAMES = {"retention_rate": "retention", "margin_value": "margin",
                "cost_to_serve_value": "cost_to_serve", "margin_growth_rate": "growth"}


def _quantiles(draws: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-row alpha/2 and 1 - alpha/2 sample quantiles ignoring NaN; inf stays inf."""
    lo = np.full(draws.shape[0], np.nan)
    hi = np.full(draws.shape[0], np.nan)
    for i, row in enumerate(draws):  # one row per programme group (a handful)
        row = row[~np.isnan(row)]
        if row.size:
            lo[i], hi[i] = np.quantile(row, [alpha / 2, 1 - alpha / 2], method="inverted_cdf")
    return lo, hi


def _finite_std(draws: np.ndarray) -> np.ndarray:
    out = np.full(draws.shape[0], np.nan)
    for i, row in enumerate(draws):
        row = row[np.isfinite(row)]
        if row.size > 1:
            out[i] = row.std(ddof=1)
    return out


def _check_alpha(func: str, alpha) -> float:
    if not (isinstance(alpha, (int, float, np.floating)) and 0 < alpha < 1):
        raise ParameterError(f"The 'alpha' parameter of {func} must be in (0, 1). Got {alpha!r} instead.")
    return float(alpha)


@dataclass(frozen=True, eq=False)
class RetentionProgramme:
    """What retention is worth for the key accounts, and what the programme must achieve.

    Built by :func:`retention_programme_summary`.  One *programme group* per row:
    ``"all key accounts"`` and each segment that has key accounts; or, for a book
    without key accounts (``population="whole_book"``, or ``"auto"`` on a ledger-only
    client), ``"whole book"`` and each segment.  The first row is the *overall group*,
    the default ``group`` of every method.

    A result can lack parts the data do not allow (with ``on_missing="not_available"``):
    without programme costs (or without gross margin) the break-even is NaN and
    :attr:`breakeven_note` says what to provide; without a base retention or margin
    :attr:`available` is False, ``groups`` is empty and :meth:`headline` says why.

    Attributes
    ----------
    calibration : DataFrame
        :func:`calibrate_retention` for the account groups used (tidy: ``group,
        parameter, estimate, ci_lower, ci_upper, n, unit``).
    inputs : DataFrame
        The model inputs per programme group (``group, parameter, estimate, ci_lower,
        ci_upper, source``): ``retention_rate`` (base retention without the
        programme), ``margin_value``, ``cost_to_serve_value`` (per account-year),
        ``margin_growth_rate``; ``source`` says where each came from (calibrated group,
        cap, override).
    groups : DataFrame
        Per programme group: ``n_accounts`` (live key accounts), ``cost_share``,
        ``annual_cost``, ``cost_value`` (present value of the programme's cost),
        ``points`` (the uplift valued, capped at the headroom to 100 %), ``clv_base``,
        ``clv_raised`` (contribution CLV per account), ``value`` (``n_accounts`` times
        the CLV gain), ``clv_uplift`` (relative), ``breakeven`` (uplift as a fraction).
    draws : mapping
        ``"value"``, ``"clv_uplift"``, ``"breakeven"``: arrays (groups x draws) from the
        calibration's uncertainty; NaN marks an invalid draw, inf a break-even that no
        retention up to 100 % reaches.
    settings : mapping
        ``discount_rate, horizon, timing, points, growth_cap, alpha, n_draws, seed,
        annual_cost, cost_value, freq, churn_gap`` and what the data allowed:
        ``population`` (``"key accounts"`` or ``"whole book"``), ``basis``
        (``"gross margin"`` or ``"revenue"``), ``breakeven_missing`` (what the break-even
        lacks: pairs of what is missing and what to provide), ``missing`` (why nothing
        could be valued; ``""`` when :attr:`available`), ``notes``.
    """

    calibration: pd.DataFrame
    inputs: pd.DataFrame
    groups: pd.DataFrame
    draws: Mapping[str, np.ndarray]
    settings: Mapping[str, Any]

    # ---- what the data allowed ---------------------------------------------------------
    @property
    def available(self) -> bool:
        """False when the data allow no valuation at all (see :attr:`missing`)."""
        return not self.settings.get("missing", "")

    @property
    def missing(self) -> str:
        """Why nothing could be valued, and what to provide (``""`` when available)."""
        return self.settings.get("missing", "")

    @property
    def population(self) -> str:
        """Whose retention is valued: ``"key accounts"`` or ``"whole book"``."""
        return self.settings.get("population", "key accounts")

    @property
    def account_label(self) -> str:
        """``"key account"`` or ``"account"``: the unit of "CLV per ..." labels."""
        return "key account" if self.population == "key accounts" else "account"

    @property
    def overall_group(self) -> str:
        """The first programme group: ``"all key accounts"`` or ``"whole book"``."""
        return ALL_KEY_ACCOUNTS if self.population == "key accounts" else WHOLE_BOOK

    @property
    def breakeven_available(self) -> bool:
        """True when the break-even uplift could be computed (costs and margin known)."""
        return self.available and not self.settings.get("breakeven_missing", ())

    @property
    def breakeven_note(self) -> str:
        """``"not available: provide ..."`` when the break-even cannot be computed, else ``""``."""
        if not self.available:
            return f"not available: {self.missing}"
        need = self.settings.get("breakeven_missing", ())
        if not need:
            return ""
        return "not available: provide " + " and ".join(provide for _, provide in need)

    @property
    def notes(self) -> tuple[str, ...]:
        """Sentences for the report on what the data did not allow, and what was done instead."""
        return tuple(self.settings.get("notes", ()))

    # ---- inputs ------------------------------------------------------------------
    def _check_group(self, func: str, group: str | None) -> str:
        if group is None:
            group = self.overall_group
        if group not in set(self.groups["group"]):
            if not self.available:
                raise DataValidationError(f"RetentionProgramme.{func}: nothing was valued ({self.missing}).")
            raise ParameterError(
                f"The 'group' parameter of RetentionProgramme.{func} must be one of "
                f"{list(self.groups['group'])}. Got {group!r} instead."
            )
        return group

    def base(self, group: str | None = None) -> dict:
        """Inputs of :func:`contribution_clv` for one programme group (the base case).

        ``group`` defaults to the overall group (:attr:`overall_group`).

        Returns
        -------
        dict
            ``margin, cost_to_serve, retention, discount_rate, growth, horizon, timing``
            (``horizon`` None for an infinite horizon).
        """
        group = self._check_group("base", group)
        est = self.inputs[self.inputs["group"] == group].set_index("parameter")["estimate"]
        return {
            "margin": float(est["margin_value"]),
            "cost_to_serve": float(est["cost_to_serve_value"]),
            "retention": float(est["retention_rate"]),
            "discount_rate": float(self.settings["discount_rate"]),
            "growth": float(est["margin_growth_rate"]),
            "horizon": self.settings["horizon"],
            "timing": self.settings["timing"],
        }

    def ranges(self, group: str | None = None, *, discount_rate=None, growth=None,
               **overrides) -> dict:
        """Ranges for :func:`tornado` and :func:`sobol_indices`: the calibration's intervals.

        Parameters
        ----------
        group : str, optional
            Programme group; default the overall group.
        discount_rate, growth : (low, high), optional
            Ranges of the inputs that are assumptions rather than estimates (the
            discount rate always; growth when capped or overridden).
        **overrides : (low, high)
            Any input's range, e.g. ``retention=(0.85, 0.95)``.

        Returns
        -------
        dict
            ``input -> (low, high)`` for ``retention``, ``margin``, ``cost_to_serve``,
            ``growth``, ``discount_rate``; inputs with an interval of zero width
            (overridden or capped, with no range given) are left out.
        """
        group = self._check_group("ranges", group)
        rows = self.inputs[self.inputs["group"] == group].set_index("parameter")
        out: dict[str, tuple[float, float]] = {}
        for parameter in _INPUTS:
            lo, hi = float(rows.loc[parameter, "ci_lower"]), float(rows.loc[parameter, "ci_upper"])
            if np.isfinite(lo) and np.isfinite(hi) and hi > lo:
                out[_MODEL_NAMES[parameter]] = (lo, hi)
        given = {"discount_rate": discount_rate, "growth": growth} | overrides
        for name, value in given.items():
            if value is None:
                continue
            if name not in _MODEL_NAMES.values() and name != "discount_rate":
                raise ParameterError(
                    f"The '{name}' parameter of RetentionProgramme.ranges must be one of "
                    f"retention, margin, cost_to_serve, growth, discount_rate. Got {name!r} instead."
                )
            lo, hi = (float(v) for v in value)
            out[name] = (lo, hi)
        order = ["retention", "margin", "cost_to_serve", "growth", "discount_rate"]
        return {k: out[k] for k in order if k in out}

    # ---- results -----------------------------------------------------------------
    def value_table(self, alpha: float | None = None) -> pd.DataFrame:
        """The value of ``points`` more retention per programme group, with its interval.

        Returns
        -------
        DataFrame
            ``group, n_accounts, base_retention, points, clv_base, clv_raised,
            clv_uplift, value, value_ci_lower, value_ci_upper``: CLVs per account,
            ``value`` for the group's accounts (currency, present value), ``points`` and
            ``clv_uplift`` as fractions.
        """
        alpha = _check_alpha("value_table", self.settings["alpha"] if alpha is None else alpha)
        g = self.groups
        lo, hi = _quantiles(self.draws["value"], alpha)
        base_r = self.inputs[self.inputs["parameter"] == "retention_rate"].set_index("group")["estimate"]
        return pd.DataFrame({
            "group": g["group"], "n_accounts": g["n_accounts"],
            "base_retention": base_r.reindex(g["group"]).to_numpy(), "points": g["points"],
            "clv_base": g["clv_base"], "clv_raised": g["clv_raised"], "clv_uplift": g["clv_uplift"],
            "value": g["value"], "value_ci_lower": lo, "value_ci_upper": hi,
        }).reset_index(drop=True)

    def breakeven_table(self, alpha: float | None = None) -> pd.DataFrame:
        """Retention uplift at which the programme pays back, per programme group.

        Returns
        -------
        DataFrame
            ``group, n_accounts, base_retention, headroom, annual_cost, cost_value,
            estimate, ci_lower, ci_upper, p_unattainable, n_draws``: ``estimate`` and
            the interval are fractions (0.018 = 1.8 points; ``inf`` where no retention
            up to 100 % pays back), ``headroom`` = 1 - base retention, the largest
            uplift there is; ``p_unattainable`` the share of draws with no break-even.
        """
        alpha = _check_alpha("breakeven_table", self.settings["alpha"] if alpha is None else alpha)
        g = self.groups
        draws = self.draws["breakeven"]
        lo, hi = _quantiles(draws, alpha)
        valid = ~np.isnan(draws)
        n_valid = valid.sum(axis=1)
        p_inf = np.where(n_valid > 0, np.isinf(draws).sum(axis=1) / np.maximum(n_valid, 1), np.nan)
        base_r = self.inputs[self.inputs["parameter"] == "retention_rate"].set_index("group")["estimate"]
        base_r = base_r.reindex(g["group"]).to_numpy()
        return pd.DataFrame({
            "group": g["group"], "n_accounts": g["n_accounts"], "base_retention": base_r,
            "headroom": 1 - base_r, "annual_cost": g["annual_cost"], "cost_value": g["cost_value"],
            "estimate": g["breakeven"], "ci_lower": lo, "ci_upper": hi,
            "p_unattainable": p_inf, "n_draws": n_valid,
        }).reset_index(drop=True)

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        """Tidy: ``group, term, estimate, std_err, ci_lower, ci_upper``.

        Terms: ``value_of_points`` (currency), ``clv_uplift`` and ``breakeven_uplift``
        (fractions); intervals are quantiles over the calibration draws, ``std_err``
        their standard deviation (over finite draws).
        """
        alpha = _check_alpha("summary", alpha)
        frames = []
        for term, key, col in (("value_of_points", "value", "value"), ("clv_uplift", "clv_uplift", "clv_uplift"),
                               ("breakeven_uplift", "breakeven", "breakeven")):
            lo, hi = _quantiles(self.draws[key], alpha)
            frames.append(pd.DataFrame({
                "group": self.groups["group"].to_numpy(), "term": term,
                "estimate": self.groups[col].to_numpy(float), "std_err": _finite_std(self.draws[key]),
                "ci_lower": lo, "ci_upper": hi,
            }))
        return pd.concat(frames, ignore_index=True)

    def headline(self, currency: str = "EUR", *, group: str | None = None, alpha: float | None = None) -> str:
        """One sentence for the report's index, computed from the results.

        e.g. "+5 points of key-account retention is worth €7M over 10 years (+28% CLV);
        the programme breaks even at +2.5 points (95% interval +1.9 to +3.6)"; for a book
        without key accounts "+5 points of retention is worth $1.2M over 10 years for the
        whole book (+31% CLV); no KAM programme costs in the data: the break-even uplift
        needs programme_costs ..."; and "Retention value not available: ..." when nothing
        could be valued.
        """
        from kamtools.plots import format_currency

        if not self.available:
            return f"Retention value not available: {self.missing}"
        group = self._check_group("headline", group)
        alpha = _check_alpha("headline", self.settings["alpha"] if alpha is None else alpha)
        v = self.value_table(alpha).set_index("group").loc[group]
        b = self.breakeven_table(alpha).set_index("group").loc[group]
        key_mode = self.population == "key accounts"
        h = self.settings["horizon"]
        over = "" if h is None else f" over {h:g} years"
        of = " of revenue" if self.settings.get("basis", "gross margin") == "revenue" else ""
        pts = 100 * v["points"]
        capped = v["points"] < self.settings["points"] - 1e-12
        if key_mode:
            who = "key-account" if group == ALL_KEY_ACCOUNTS else f"{group} key-account"
            first = (f"+{pts:.2g} points of {who} retention"
                     + (" (to 100%)" if capped else "")
                     + f" is worth {format_currency(v['value'], currency)}{of}{over}")
        else:
            whose = "the whole book" if group == WHOLE_BOOK else f"the {group} segment"
            first = (f"+{pts:.2g} points of retention" + (" (to 100%)" if capped else "")
                     + f" is worth {format_currency(v['value'], currency)}{of}{over} for {whose}")
        if np.isfinite(v["clv_uplift"]):
            first += f" ({v['clv_uplift']:+.0%} CLV)"
        need = self.settings.get("breakeven_missing", ())
        if need:
            second = (f"no {' and no '.join(what for what, _ in need)} in the data: the break-even uplift "
                      f"needs {' and '.join(provide for _, provide in need)}")
            return f"{first}; {second}"
        if key_mode:
            subject, unit = "the programme", "points"
        else:
            annual = format_currency(float(b["annual_cost"]), currency)
            whose = "whole-book" if group == WHOLE_BOOK else group
            subject, unit = f"a programme costing {annual} a year", f"points of {whose} retention"
        if not np.isfinite(b["estimate"]):
            second = f"even 100% retention would not pay back {subject}"
        else:
            second = f"{subject} breaks even at +{100 * b['estimate']:.1f} {unit}"
            if np.isfinite(b["ci_lower"]):
                upper = f"+{100 * b['ci_upper']:.1f}" if np.isfinite(b["ci_upper"]) else "out of reach"
                second += f" ({1 - alpha:.0%} interval +{100 * b['ci_lower']:.1f} to {upper})"
        return f"{first}; {second}"

    def elasticities(self, group: str | None = None) -> pd.DataFrame:
        """:func:`elasticity_table` at the group's base case (contribution margin).

        Closed forms are infinite-horizon; where the base case lies in the region
        r(1+g) >= 1+d the closed-form column is NaN.
        """
        b = self.base(group)
        try:
            return elasticity_table(b["margin"] - b["cost_to_serve"], b["retention"], b["discount_rate"],
                                    growth=b["growth"], timing=b["timing"])
        except ParameterError:
            table = elasticity_table(1.0, 0.5, 0.1)
            table["closed_form"] = np.nan
            return table

    def grids(self, y: str, y_values, *, x_values=None, group: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Two-way grids over retention x ``y`` for a heat map with a break-even line.

        Parameters
        ----------
        y : {"discount_rate", "growth", "margin", "cost_to_serve"}
            The second input.
        y_values : array-like
            Its grid values.
        x_values : array-like, optional
            Retention values; default 41 values from 10 points below the base retention
            to 10 points above it, within [0, 1].
        group : str, optional
            Programme group; default the overall group.

        Returns
        -------
        (clv_grid, net_grid) : tuple of DataFrame
            :func:`sensitivity_grid` of the contribution CLV per account, and of the
            programme's net value (:func:`programme_net_value`) with retention as the
            retention *achieved*: its zero contour is the break-even.  Cells outside the
            valid region (infinite horizon) are NaN, counted in ``attrs["n_invalid"]``;
            the net value is NaN everywhere when the break-even is not available
            (:attr:`breakeven_note`), so a heat map draws no break-even line.
        """
        group = self._check_group("grids", group)
        b = self.base(group)
        if y not in ("discount_rate", "growth", "margin", "cost_to_serve"):
            raise ParameterError(
                f"The 'y' parameter of RetentionProgramme.grids must be one of 'discount_rate', 'growth', "
                f"'margin', 'cost_to_serve'. Got {y!r} instead."
            )
        if x_values is None:
            r0 = b["retention"]
            x_values = np.linspace(max(0.0, r0 - 0.10), min(1.0, r0 + 0.10), 41)
        row = self.groups.set_index("group").loc[group]
        net_base = {k: v for k, v in b.items() if k != "retention"} | {
            "retention": b["retention"], "base_retention": b["retention"],
            "n_accounts": float(row["n_accounts"]), "annual_cost": float(row["annual_cost"]),
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            clv = sensitivity_grid(contribution_clv, b, x=("retention", x_values), y=(y, y_values))
            net = sensitivity_grid(programme_net_value, net_base, x=("retention", x_values), y=(y, y_values))
        if not self.breakeven_available:
            net["output"] = np.nan
        return clv, net

    # ---- display -----------------------------------------------------------------
    def plot(self, ax=None, *, alpha: float | None = None, **kwargs):
        """Break-even uplift per group (dot, interval) against the headroom to 100 %.

        Returns
        -------
        matplotlib.axes.Axes
            With the note of :attr:`breakeven_note` instead of points when the break-even
            is not available.
        """
        if not self.breakeven_available:
            if ax is None:
                import matplotlib.pyplot as plt

                _, ax = plt.subplots()
            ax.text(0.5, 0.5, "break-even uplift " + self.breakeven_note, ha="center", va="center",
                    wrap=True, transform=ax.transAxes)
            ax.set_axis_off()
            return ax
        return plot_breakeven(self.breakeven_table(alpha), ax=ax, **kwargs)

    def _repr_html_(self) -> str:
        import html as _html

        s = self.settings
        h = "infinite" if s["horizon"] is None else f"{s['horizon']:g} years"
        head = (f"<p><strong>Retention programme</strong>: discount rate {s['discount_rate']:g}, horizon {h}, "
                f"timing '{s['timing']}', +{100 * s['points']:g} points valued, {s['n_draws']} draws.</p>")
        notes = "".join(f"<p>{_html.escape(n)}</p>" for n in self.notes)
        if not self.available:
            return head + notes
        return head + notes + self.breakeven_table().round(4).to_html(index=False)


def _active_mask(panel) -> np.ndarray:
    """Active rows of a panel: its ``active`` column, or revenue / orders > 0."""
    if "active" in panel.columns:
        return panel["active"].fillna(False).to_numpy(bool)
    active = np.zeros(len(panel), bool)
    for col in ("revenue", "orders"):
        if col in panel.columns:
            active |= panel[col].fillna(0).to_numpy(float) > 0
    return active


def _period_ints(panel, period, alias) -> tuple[pd.Series, np.ndarray]:
    """The panel's ``period`` column as pandas periods at frequency ``alias`` and as consecutive
    integers (the periods' ordinals: one apart for consecutive periods)."""
    per = panel[period]
    per = per.dt.asfreq(alias) if isinstance(per.dtype, pd.PeriodDtype) else pd.to_datetime(per).dt.to_period(alias)
    return per, per.array.asi8.astype(np.int64)


def _live_accounts(panel, *, account, period, freq, gap) -> pd.Index:
    """Accounts active within the last ``gap`` periods of the panel (not counted as lost)."""
    alias, _ = _FREQS[freq]
    _, t = _period_ints(panel, period, alias)
    active = _active_mask(panel)
    last = pd.Series(t[active], index=panel[account].astype(str).to_numpy()[active]).groupby(level=0).max()
    return last.index[(int(t.max()) - last.to_numpy()) < gap]


def _key_flags(func: str, accounts: pd.DataFrame, key: str) -> np.ndarray:
    try:
        return accounts[key].astype("boolean").fillna(False).to_numpy(bool)
    except (TypeError, ValueError):
        raise DataValidationError(f"accounts: column {key!r} must be True/False.") from None


def _not_valued_reason(parameter: str, calibration: pd.DataFrame, gap: int, freq: str) -> str:
    """Why ``parameter`` could not be calibrated for the overall group, and what to provide."""
    unit = _PERIOD_WORDS[_FREQS[freq][0]]
    if parameter == "retention_rate":
        window = int(calibration.attrs.get("window_periods", 0))
        if window <= gap:
            why = (f"the ledger covers {window} {unit}, and retention needs more than {gap} (an account counts "
                   f"as lost after {gap} {unit} without a purchase)")
        else:
            why = "no account was at risk of being lost within the data's window"
        return f"{why}: provide a longer ledger, or the base retention as an override (retention_rate)"
    return ("no gross margin in the data: provide transactions with gross_margin (or cost), or the margin "
            "per account-year as an override (margin_value)")


def retention_programme_summary(
    panel: pd.DataFrame,
    accounts: pd.DataFrame | None = None,
    programme_costs: pd.DataFrame | None = None,
    *,
    discount_rate: float,
    horizon: int | None = None,
    timing: str = "next",
    points: float = 0.05,
    growth_cap: float | None = None,
    overrides: Mapping | None = None,
    annual_cost: float | None = None,
    n_draws: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    freq: str = "M",
    churn_gap: int | None = None,
    population: str = "key_accounts",
    on_missing: str = "raise",
    value_basis: str = "gross_margin",
    key: str = "is_key_account",
    segment: str = "segment",
    account: str = "account_id",
    period: str = "period",
) -> RetentionProgramme:
    """What retention is worth for the key accounts and what the KAM programme must achieve.

    1. **Calibrate** (:func:`calibrate_retention`) the account groups: key accounts,
       non-key accounts of the segments that have key accounts ("non-key, same
       segments"), the other non-key accounts, and each segment's key and non-key
       accounts.
    2. **Inputs** per programme group (all key accounts, and each segment with key
       accounts): margin, cost to serve and margin growth of the group's key accounts;
       as *base retention*, what they would keep without the programme, proxied by the
       non-key accounts of the same segment(s) (the key accounts' own retention
       already contains whatever the programme achieved; falls back to the pooled
       non-key accounts, then to the key accounts themselves, as ``source`` says).
       ``growth_cap`` caps the growth with tenure (the panel's growth also holds market
       growth and the programme's lift); ``overrides`` replace any input.
    3. **Value** of ``points`` more retention: live key accounts times the gain in
       contribution CLV (:func:`contribution_clv`), relative to the base CLV.
    4. **Break-even**: the uplift at which that gain pays the present value of the
       programme's cost (its run rate, :func:`programme_annual_cost`, over the
       horizon, :func:`programme_cost_value`; shared between segments by live key
       accounts).
    5. **Uncertainty**: ``n_draws`` joint draws of the inputs from normal
       approximations to their intervals (sd = width / (2 z); retention clipped to
       [0, 1]); intervals are quantiles over the draws.

    **Without key accounts** (``population="whole_book"``, or ``"auto"`` when no account
    marked in ``key`` bought in the last ``churn_gap`` periods: the common ledger-only
    client), the same steps run for the *whole book* (every live account) and each
    segment (when the accounts have two or more segments): each group's own
    retention, margin and growth (a segment with too little data takes the whole
    book's, as ``source`` says); the base retention is the book's own, since there is
    no programme to strip out.  A given programme cost is then the cost of a programme
    covering the group, and the break-even the uplift of the group's retention that
    pays it.

    Parameters
    ----------
    panel : DataFrame
        The canonical panel (:func:`kamtools.panel.build_panel`).
    accounts : DataFrame, optional
        The accounts table: ``account_id``, ``key`` (bool), optionally ``segment`` and
        ``cost_to_serve`` (currency per year).  Required for key accounts; optional for
        the whole book (segments and cost to serve come from it when present).
    programme_costs : DataFrame, optional
        The canonical programme_costs table; or give ``annual_cost``.
    discount_rate : float
        Annual discount rate.
    horizon : int, optional
        Years of margin and of programme cost counted; None for the infinite closed
        forms (then every input must keep r(1+g) < 1+d).
    timing : {"next", "now", "end"}, default "next"
        As in :func:`retention_clv`.
    points : float, default 0.05
        The uplift to value (0.05 = five percentage points); capped per group at the
        headroom to 100 %.
    growth_cap : float, optional
        Largest margin growth per tenure year used; a capped value carries no interval.
    overrides : mapping, optional
        ``{parameter: value}`` for every group or ``{group: {parameter: value}}``, with
        parameters ``retention_rate``, ``margin_value``, ``cost_to_serve_value``,
        ``margin_growth_rate``.  An override carries no interval.
    annual_cost : float, optional
        The programme's cost per year; overrides ``programme_costs``.
    n_draws, seed, alpha
        Draws for the intervals, the seed of ``numpy.random.default_rng``, and
        1 - confidence level (of the calibration and of the results).
    freq, churn_gap
        As in :func:`calibrate_retention`.
    population : {"key_accounts", "whole_book", "auto"}, default "key_accounts"
        Whose retention is valued: the key accounts (an error without live key
        accounts), the whole book, or the key accounts when there are live ones and
        the whole book otherwise.
    on_missing : {"raise", "not_available"}, default "raise"
        What the data cannot give: ``"raise"`` refuses (no programme costs, no base
        retention or margin); ``"not_available"`` returns what can be computed: no
        costs leave the break-even NaN with ``result.breakeven_note`` ("not available:
        provide programme_costs with period, cost ..."), never 0; no base retention or
        margin gives a result with ``available`` False and the reason in ``missing``.
    value_basis : {"gross_margin", "revenue", "auto"}, default "gross_margin"
        What a retained account earns: its gross margin, its revenue, or the margin
        when the panel knows any (else revenue).  On revenue the values are lifetime
        revenue (cost to serve is not used) and the break-even, which weighs a cost
        against margin, is not available.
    key, segment, account, period : str
        Column names.

    Returns
    -------
    RetentionProgramme

    Raises
    ------
    DataValidationError
        For key accounts, when the accounts table has no key-account column or no live
        key account; with ``on_missing="raise"``, when an input cannot be calibrated.
    ParameterError
        For bad settings, unknown override names, (``on_missing="raise"``) neither
        ``programme_costs`` nor ``annual_cost``, or (infinite horizon) a base case in
        the region r(1+g) >= 1+d.

    References
    ----------
    Gupta & Lehmann (2003) and Fader & Hardie (2012) (CLV); Reichheld & Sasser
    (1990) (the value of retention); REFERENCES.md, "Retention economics".

    Examples
    --------
    >>> from kamtools.sample import generate_world
    >>> from kamtools.panel import build_panel
    >>> world = generate_world(seed=0, n_accounts=150)
    >>> result = retention_programme_summary(
    ...     build_panel(world.tables), world.accounts, world.tables["programme_costs"],
    ...     discount_rate=0.1, horizon=10, growth_cap=0.05, n_draws=200)
    >>> list(result.groups["group"])
    ['all key accounts', 'Enterprise', 'Mid-market']
    >>> result.headline("EUR").startswith("+5 points of key-account retention is worth €")
    True
    >>> book = retention_programme_summary(   # a ledger-only client: no key accounts, no costs
    ...     build_panel(world.tables), discount_rate=0.1, horizon=10, n_draws=200,
    ...     population="auto", on_missing="not_available")
    >>> book.population, book.breakeven_note
    ('whole book', "not available: provide programme_costs with period, cost (or the programme's annual cost)")
    """
    func = "retention_programme_summary"
    _check_timing(func, timing)
    alpha = _check_alpha(func, alpha)
    _check_core(func, {"discount_rate": np.asarray(float(discount_rate))})
    d = float(discount_rate)
    if horizon is not None and not (isinstance(horizon, (int, np.integer)) and horizon >= 1):
        raise ParameterError(
            f"The 'horizon' parameter of {func} must be None or a whole number of years >= 1. "
            f"Got {horizon!r} instead."
        )
    h = None if horizon is None else int(horizon)
    if not (isinstance(points, (int, float, np.floating)) and 0 < points <= 1):
        raise ParameterError(f"The 'points' parameter of {func} must be a fraction in (0, 1]. Got {points!r} instead.")
    if growth_cap is not None and not (np.isfinite(growth_cap) and growth_cap > -1):
        raise ParameterError(
            f"The 'growth_cap' parameter of {func} must be None or a finite rate > -1. Got {growth_cap!r} instead."
        )
    if not (isinstance(n_draws, (int, np.integer)) and n_draws >= 1):
        raise ParameterError(f"The 'n_draws' parameter of {func} must be an integer >= 1. Got {n_draws!r} instead.")
    if freq not in _FREQS:
        raise ParameterError(f"The 'freq' parameter of {func} must be one of 'M', 'Q', 'Y', 'W'. Got {freq!r} instead.")
    for name, value, options in (("population", population, _POPULATIONS), ("on_missing", on_missing, _ON_MISSING),
                                 ("value_basis", value_basis, _BASES)):
        if value not in options:
            raise ParameterError(
                f"The '{name}' parameter of {func} must be one of {', '.join(map(repr, options))}. "
                f"Got {value!r} instead."
            )
    gap = _FREQS[freq][1] if churn_gap is None else churn_gap
    lenient = on_missing == "not_available"
    has_table = isinstance(accounts, pd.DataFrame) and account in accounts.columns

    # ---- whose retention: key accounts, or the whole book ------------------------------
    key_mode = population == "key_accounts"
    live = None
    if population == "auto" and has_table and key in accounts.columns:
        acc = accounts.drop_duplicates(account)
        live = set(_live_accounts(panel, account=account, period=period, freq=freq, gap=gap))
        flags = _key_flags(func, acc, key)
        key_mode = bool((flags & np.isin(acc[account].astype(str).to_numpy(), list(live))).any())

    if key_mode:
        # ---- accounts: key flag and segment ---------------------------------------------
        if not has_table:
            raise DataValidationError(
                f"accounts: {func} needs an accounts table with column {account!r}."
            )
        if key not in accounts.columns:
            raise DataValidationError(
                f"accounts: {func} needs column {key!r} (True for key accounts); it has {list(accounts.columns)}."
            )
        acc = accounts.drop_duplicates(account)
        ids = acc[account].astype(str).to_numpy()
        is_key = _key_flags(func, acc, key)
        has_segment = segment in acc.columns
        seg = (acc[segment].astype("string").fillna("(not given)").to_numpy(object) if has_segment
               else np.full(len(acc), "all", dtype=object))
        if live is None:
            live = set(_live_accounts(panel, account=account, period=period, freq=freq, gap=gap))
        member = is_key & np.isin(ids, list(live))
        if not member.any():
            raise DataValidationError(
                f"accounts: {func} found no key account ({key!r} True) that is still active in the panel's "
                f"last {gap} periods; mark the programme's accounts in column {key!r}."
            )
        member_segments = set(seg[member])
        overall = ALL_KEY_ACCOUNTS
    else:
        if accounts is not None and not has_table:
            raise DataValidationError(
                f"accounts: {func} needs an accounts table with column {account!r}."
            )
        if account not in panel.columns:
            raise DataValidationError(f"panel: {func} needs column {account!r}; it has {list(panel.columns)}.")
        ids = np.sort(panel[account].astype(str).unique())
        acc = None
        if has_table:
            acc = accounts.drop_duplicates(account)
            acc = acc.set_index(acc[account].astype(str).to_numpy())
        given = (acc[segment].astype("string").reindex(ids) if has_table and segment in acc.columns
                 else pd.Series(pd.NA, index=ids, dtype="string"))
        has_segment = given.dropna().nunique() >= 2
        seg = (given.fillna("(not given)").to_numpy(object) if has_segment else np.full(len(ids), "all", dtype=object))
        is_key = np.zeros(len(ids), bool)
        if live is None:
            live = set(_live_accounts(panel, account=account, period=period, freq=freq, gap=gap))
        member = np.isin(ids, list(live))
        member_segments = set(seg[member])
        overall = WHOLE_BOOK

    # ---- what a retained account earns: gross margin, or revenue -------------------------
    basis = "gross margin"
    if value_basis == "revenue" or (
            value_basis == "auto" and "revenue" in panel.columns
            and not ("gross_margin" in panel.columns and panel["gross_margin"][_active_mask(panel)].notna().any())):
        if "revenue" not in panel.columns:
            raise DataValidationError(f"panel: {func} needs column 'revenue' for value_basis='revenue'.")
        basis = "revenue"
        panel = panel.assign(gross_margin=pd.to_numeric(panel["revenue"], errors="coerce"))

    # ---- programme cost and overrides: checked before the (slower) calibration ------------
    need: list[tuple[str, str]] = []
    if annual_cost is None:
        if programme_costs is None:
            if not lenient:
                raise ParameterError(
                    f"The 'programme_costs' parameter of {func} must be the programme_costs table when "
                    f"'annual_cost' is not given. Got None instead; provide programme_costs with columns "
                    f"period, cost, or pass annual_cost."
                )
            annual = np.nan
            need.append(_NEED_COSTS)
        else:
            annual = programme_annual_cost(programme_costs)
    else:
        annual = float(annual_cost)
        _check_range(func, "annual_cost", np.asarray(annual), "finite and >= 0", (annual < 0) | np.isinf(annual))
    if basis == "revenue":
        need.append(_NEED_MARGIN)
    prog_groups = [overall] + (sorted(member_segments) if has_segment else [])
    per_group: dict[str, Mapping] = {}
    if overrides:
        overrides = dict(overrides)
        if all(k in _INPUTS for k in overrides):
            per_group = {g: overrides for g in prog_groups}
        else:
            for g, values in overrides.items():
                if g not in prog_groups or not isinstance(values, Mapping):
                    raise ParameterError(
                        f"The 'overrides' parameter of {func} must map parameters {list(_INPUTS)} to values, "
                        f"or groups {prog_groups} to such mappings. Got {g!r} instead."
                    )
                per_group[g] = values
        for values in per_group.values():
            for parameter, value in values.items():
                if parameter not in _INPUTS:
                    raise ParameterError(
                        f"The 'overrides' parameter of {func} must name parameters among {list(_INPUTS)}. "
                        f"Got {parameter!r} instead."
                    )
                if not (isinstance(value, (int, float, np.number)) and np.isfinite(value)):
                    raise ParameterError(
                        f"The 'overrides' parameter of {func} must give finite numbers. "
                        f"Got {parameter!r}: {value!r} instead."
                    )

    # ---- calibration ------------------------------------------------------------------
    if key_mode:
        if has_segment:
            pooled = np.where(is_key, "key accounts",
                              np.where(np.isin(seg, list(member_segments)), "non-key, same segments",
                                       "non-key, other segments"))
            by_segment = np.char.add(seg.astype(str), np.where(is_key, " / key", " / non-key"))
        else:
            pooled = np.where(is_key, "key accounts", "non-key accounts")
    else:
        pooled = np.full(len(ids), WHOLE_BOOK, dtype=object)
        by_segment = seg.astype(str)
    labels = pd.DataFrame({account: ids, "_pooled": pooled})
    if basis == "gross margin" and acc is not None and "cost_to_serve" in acc.columns:
        cts = pd.to_numeric(acc["cost_to_serve"], errors="coerce")
        labels["cost_to_serve"] = cts.to_numpy(float) if key_mode else cts.reindex(ids).to_numpy(float)
    cal_kw = dict(accounts=labels, freq=freq, churn_gap=gap, alpha=alpha, account=account, period=period)
    parts = [calibrate_retention(panel, by="_pooled", **cal_kw)]
    if has_segment:
        labels["_segment"] = by_segment
        parts.append(calibrate_retention(panel, by="_segment", **cal_kw))
    calibration = pd.concat(parts, ignore_index=True)
    calibration.attrs.update(parts[0].attrs)
    lookup = calibration.set_index(["group", "parameter"])

    # ---- model inputs per programme group ------------------------------------------
    pooled_nonkey = "non-key, same segments" if has_segment else "non-key accounts"
    rows = []
    not_valued: dict[str, str] = {}
    for group in prog_groups:  # a handful of groups
        if key_mode:
            key_src = "key accounts" if group == ALL_KEY_ACCOUNTS or not has_segment else f"{group} / key"
            r_candidates = ([pooled_nonkey] if group == ALL_KEY_ACCOUNTS else [f"{group} / non-key", pooled_nonkey])
            r_candidates.append(key_src)
            own = [key_src]
        else:
            key_src = group
            own = r_candidates = [group] + ([WHOLE_BOOK] if group != WHOLE_BOOK else [])
        for parameter in _INPUTS:
            candidates = r_candidates if parameter == "retention_rate" else own
            found = None
            for cand in candidates:
                if (cand, parameter) in lookup.index and np.isfinite(lookup.loc[(cand, parameter), "estimate"]):
                    found = cand
                    break
            if found is None:
                default = {"cost_to_serve_value": (0.0, "not used (revenue basis): 0" if basis == "revenue"
                                                   else "not provided: 0"),
                           "margin_growth_rate": (0.0, "not estimable: 0")}.get(parameter)
                if default is None:
                    if not lenient:
                        raise DataValidationError(
                            f"panel: {func} could not calibrate {parameter!r} for {group!r} (no active account)."
                        )
                    not_valued.setdefault(parameter, _not_valued_reason(parameter, calibration, gap, freq))
                    rows.append((group, parameter, np.nan, np.nan, np.nan, "not available"))
                    continue
                rows.append((group, parameter, default[0], default[0], default[0], default[1]))
                continue
            est, lo, hi = (float(lookup.loc[(found, parameter), c]) for c in ("estimate", "ci_lower", "ci_upper"))
            source = f"calibrated: {found}"
            if key_mode and parameter == "retention_rate" and found == key_src and group != found:
                source += " (no non-key accounts to compare)"
            elif not key_mode and found != group:
                source += " (too little data in the segment)"
            lo = est if not np.isfinite(lo) else lo
            hi = est if not np.isfinite(hi) else hi
            if parameter == "margin_growth_rate" and growth_cap is not None:
                if est > growth_cap:
                    est = lo = hi = float(growth_cap)
                    source += f"; capped at {growth_cap:g}"
                else:
                    lo, hi = min(lo, growth_cap), min(hi, growth_cap)
            rows.append((group, parameter, est, lo, hi, source))
    inputs = pd.DataFrame(rows, columns=["group", "parameter", "estimate", "ci_lower", "ci_upper", "source"])

    for g, values in per_group.items():
        for parameter, value in values.items():
            mask = (inputs["group"] == g) & (inputs["parameter"] == parameter)
            inputs.loc[mask, ["estimate", "ci_lower", "ci_upper"]] = float(value)
            inputs.loc[mask, "source"] = "override"
    # (on_missing="not_available") a segment without its own value takes the overall group's
    overall_rows = inputs[inputs["group"] == overall].set_index("parameter")
    for i in np.flatnonzero(inputs["estimate"].isna().to_numpy() & (inputs["group"] != overall).to_numpy()):
        parameter = inputs.at[i, "parameter"]
        for c in ("estimate", "ci_lower", "ci_upper"):
            inputs.at[i, c] = overall_rows.at[parameter, c]
        inputs.at[i, "source"] = f"as {overall} (too little data in the segment)"
    wide = {c: inputs.pivot(index="group", columns="parameter", values=c).reindex(index=prog_groups)
            for c in ("estimate", "ci_lower", "ci_upper")}

    # ---- what the report says about the data -------------------------------------------
    unit = _PERIOD_WORDS[_FREQS[freq][0]]
    notes = []
    if not key_mode:
        if has_table and key in accounts.columns and _key_flags(func, accounts, key).any():
            why = f"no key account bought in the last {gap} {unit}"
        else:
            why = f"no account is marked as a key account ({key!r})"
        notes.append(
            f"No key accounts in the data ({why}): this report values retention for the whole book "
            f"({int(member.sum()):,} accounts active in the last {gap} {unit})"
            + (" and per segment" if has_segment else "")
            + ", not for the key accounts, and the base retention is the book's own. To value the KAM "
            f"programme, provide accounts with account_id, {key} (True for the programme's accounts).")
    if basis == "revenue":
        notes.append("No gross margin in the data: the values below are lifetime revenue, not margin; provide "
                     "transactions with gross_margin (or cost) to value margin and to weigh the programme's cost.")
    if need:
        notes.append("Break-even uplift " + "not available: provide " + " and ".join(p for _, p in need) + ".")
    missing_now = [p for p in ("retention_rate", "margin_value")
                   if not np.isfinite(wide["estimate"].loc[overall, p])]
    settings_common = {
        "discount_rate": d, "horizon": h, "timing": timing, "points": float(points), "growth_cap": growth_cap,
        "alpha": alpha, "n_draws": int(n_draws), "seed": seed, "freq": freq, "churn_gap": gap,
        "population": "key accounts" if key_mode else "whole book", "basis": basis,
        "breakeven_missing": tuple(need),
    }
    if missing_now:
        reason = "; ".join(not_valued.get(p, _not_valued_reason(p, calibration, gap, freq)) for p in missing_now)
        notes.append(f"Retention value not available: {reason}.")
        empty = np.empty((0, int(n_draws)))
        empty.setflags(write=False)
        groups = pd.DataFrame({c: pd.Series(dtype=object if c == "group" else float) for c in (
            "group", "n_accounts", "cost_share", "annual_cost", "cost_value", "points", "clv_base", "clv_raised",
            "value", "clv_uplift", "breakeven")})
        settings = MappingProxyType(settings_common | {
            "annual_cost": annual, "cost_value": np.nan, "missing": reason, "notes": tuple(notes)})
        return RetentionProgramme(calibration=calibration, inputs=inputs, groups=groups,
                                  draws=MappingProxyType({k: empty for k in ("value", "clv_uplift", "breakeven")}),
                                  settings=settings)
    _check_core(func, {"retention": wide["estimate"]["retention_rate"].to_numpy(float),
                       "growth": wide["estimate"]["margin_growth_rate"].to_numpy(float)})

    # ---- accounts and programme cost ----------------------------------------------------
    n_total = int(member.sum())
    n_acc = np.array([n_total if g == overall else int((member & (seg == g)).sum())
                      for g in prog_groups], float)
    share = n_acc / n_total
    annual_g = annual * share
    cost_known = not need
    cost_pv = (np.asarray(programme_cost_value(annual_g, d, horizon=h), float) if np.isfinite(annual)
               else np.full(len(prog_groups), np.nan))

    # ---- point estimates ------------------------------------------------------------------
    est = wide["estimate"]
    r0 = est["retention_rate"].to_numpy(float)
    contrib = (est["margin_value"] - est["cost_to_serve_value"]).to_numpy(float)
    g0 = est["margin_growth_rate"].to_numpy(float)
    p_used = np.minimum(float(points), 1.0 - r0)
    _check_region(func, r0 + p_used, d, g0, h, what="horizon")
    clv0 = _clv(contrib, r0, d, g0, h, timing)
    clv1 = _clv(contrib, r0 + p_used, d, g0, h, timing)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(clv0 > 0, (clv1 - clv0) / clv0, np.nan)
    if cost_known:
        breakeven = _breakeven_target_retention(cost_pv / n_acc, contrib, r0, d, g0, h, timing) - r0
    else:
        breakeven = np.full(len(prog_groups), np.nan)

    # ---- draws ------------------------------------------------------------------------------
    z = stats.norm.ppf(1 - alpha / 2)
    rng = np.random.default_rng(seed)
    G = len(prog_groups)

    def draw(parameter):
        sd = ((wide["ci_upper"][parameter] - wide["ci_lower"][parameter]).to_numpy(float) / (2 * z))
        sd = np.where(np.isfinite(sd), sd, 0.0)
        return est[parameter].to_numpy(float)[:, None] + sd[:, None] * rng.standard_normal((G, n_draws))

    r_d = np.clip(draw("retention_rate"), 0.0, 1.0)
    c_d = draw("margin_value") - draw("cost_to_serve_value")
    g_d = np.maximum(draw("margin_growth_rate"), -0.99)
    raised = np.minimum(r_d + p_used[:, None], 1.0)
    valid = np.ones_like(r_d, dtype=bool)
    if h is None:
        valid &= raised * (1 + g_d) < 1 + d
    r_s, g_s = np.where(valid, r_d, 0.0), np.where(valid, g_d, 0.0)
    raised = np.where(valid, raised, 0.0)
    b_d = _clv(c_d, r_s, d, g_s, h, timing)
    a_d = _clv(c_d, raised, d, g_s, h, timing)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        value_d = np.where(valid, n_acc[:, None] * (a_d - b_d), np.nan)
        rel_d = np.where(valid & (b_d > 0), (a_d - b_d) / b_d, np.nan)
        if cost_known:
            cc = np.broadcast_to((cost_pv / n_acc)[:, None], r_s.shape)
            be_d = np.where(valid, _breakeven_target_retention(cc, c_d, r_s, d, g_s, h, timing) - r_s, np.nan)
        else:
            be_d = np.full(r_s.shape, np.nan)

    groups = pd.DataFrame({
        "group": prog_groups, "n_accounts": n_acc.astype(int), "cost_share": share, "annual_cost": annual_g,
        "cost_value": cost_pv, "points": p_used, "clv_base": clv0, "clv_raised": clv1,
        "value": n_acc * (clv1 - clv0), "clv_uplift": rel, "breakeven": breakeven,
    })
    frozen = {}
    for name, arr in (("value", value_d), ("clv_uplift", rel_d), ("breakeven", be_d)):
        arr = np.array(arr, dtype=float)
        arr.setflags(write=False)
        frozen[name] = arr
    settings = MappingProxyType(settings_common | {
        "annual_cost": annual,
        "cost_value": float(programme_cost_value(annual, d, horizon=h)) if np.isfinite(annual) else np.nan,
        "missing": "", "notes": tuple(notes),
    })
    return RetentionProgramme(calibration=calibration, inputs=inputs, groups=groups,
                              draws=MappingProxyType(frozen), settings=settings)


# ---------------------------------------------------------------------------------
# More figures, and the interactive explorer
# ---------------------------------------------------------------------------------
def plot_breakeven(table: pd.DataFrame, *, ax=None, **kwargs):
    """Break-even retention uplift per group, against the headroom to 100 % retention.

    Parameters
    ----------
    table : DataFrame
        :meth:`RetentionProgramme.breakeven_table` (``group, estimate, ci_lower,
        ci_upper, headroom``).
    ax : matplotlib Axes, optional
    **kwargs
        Passed to ``ax.errorbar``.

    Returns
    -------
    matplotlib.axes.Axes
        Points on the x axis in percentage points: a dot at the break-even estimate, a
        line for its interval (an arrow when it reaches past 100 % retention) and a grey
        bar for the headroom, the most any programme can add.
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    y = np.arange(len(table))
    head = 100 * table["headroom"].to_numpy(float)
    est = 100 * table["estimate"].to_numpy(float)
    lo = 100 * table["ci_lower"].to_numpy(float)
    hi = 100 * table["ci_upper"].to_numpy(float)
    right = np.nanmax(np.concatenate([head, np.where(np.isfinite(est), est, np.nan),
                                      np.where(np.isfinite(hi), hi, np.nan)]))
    right = 1.1 * right if np.isfinite(right) and right > 0 else 1.0
    ax.barh(y, head, color="0.88", height=0.6, label="headroom to 100% retention")
    hi_draw = np.where(np.isfinite(hi), hi, right)
    est_draw = np.where(np.isfinite(est), est, np.nan)
    lo_draw = np.where(np.isfinite(lo), lo, right)
    ax.hlines(y, lo_draw, hi_draw, color="C0", linewidth=2.5, label="interval")
    ax.errorbar(est_draw, y, fmt="o", color="C0", markersize=8, label="break-even uplift", **kwargs)
    for i in np.flatnonzero(~np.isfinite(hi)):
        ax.annotate("", xy=(right, y[i]), xytext=(lo_draw[i], y[i]),
                    arrowprops={"arrowstyle": "->", "color": "C0"})
    ax.set_yticks(y, list(table["group"].astype(str)))
    ax.invert_yaxis()
    ax.set_xlim(0, right)
    ax.set_xlabel("retention uplift (percentage points)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=3, fontsize="small")
    return ax


def plot_sobol(table: pd.DataFrame, *, ax=None, **kwargs):
    """Bar chart of first-order (S1) and total (ST) Sobol indices with their intervals.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`sobol_indices`.
    ax : matplotlib Axes, optional
    **kwargs
        Passed to ``ax.barh``.

    Returns
    -------
    matplotlib.axes.Axes
        One pair of bars per input, largest total index at the top.
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    y = np.arange(len(table))
    hgt = 0.38
    ax.barh(y - hgt / 2, table["S1"], height=hgt, xerr=table["S1_conf"], color="C0",
            label="S1 (alone)", **kwargs)
    ax.barh(y + hgt / 2, table["ST"], height=hgt, xerr=table["ST_conf"], color="C1",
            label="ST (with interactions)", **kwargs)
    ax.set_yticks(y, list(table["input"].astype(str)))
    ax.invert_yaxis()
    ax.set_xlim(0, max(1.0, float(np.nanmax(table["ST"] + table["ST_conf"]))))
    ax.set_xlabel("share of output variance")
    ax.legend(loc="lower right")
    return ax


def retention_explorer(result: RetentionProgramme, *, group: str | None = None, currency: str = "EUR"):
    """Sliders (ipywidgets) over one programme group's base case, for a workshop.

    Moves base retention, the uplift, margin, cost to serve, growth, discount rate and
    horizon, and shows the CLV per account, the value of the uplift for the group's
    accounts, and the break-even uplift.  For JupyterLab; static reports do not show it.

    Returns
    -------
    ipywidgets.Widget
    """
    import ipywidgets as widgets

    from kamtools.plots import format_currency

    group = result._check_group("retention_explorer", group)
    b = result.base(group)
    row = result.groups.set_index("group").loc[group]
    n, annual = float(row["n_accounts"]), float(row["annual_cost"])
    m_max = max(b["margin"], 1.0) * 2

    def show(retention, uplift_points, margin, cost_to_serve, growth, discount_rate, horizon_years):
        return widgets.HTML(explorer_text(retention, uplift_points / 100, margin, cost_to_serve, growth,
                                          discount_rate, horizon_years, n, annual, b["timing"], currency,
                                          format_currency))

    slider = dict(continuous_update=False, style={"description_width": "initial"})
    controls = {
        "retention": widgets.FloatSlider(value=b["retention"], min=0.5, max=1.0, step=0.005,
                                         description="base retention", readout_format=".3f", **slider),
        "uplift_points": widgets.FloatSlider(value=100 * result.settings["points"], min=0.0, max=20.0, step=0.5,
                                             description="uplift (points)", **slider),
        "margin": widgets.FloatSlider(value=b["margin"], min=0.0, max=m_max, step=m_max / 200,
                                      description="margin / year", **slider),
        "cost_to_serve": widgets.FloatSlider(value=b["cost_to_serve"], min=0.0, max=m_max / 2, step=m_max / 400,
                                             description="cost to serve / year", **slider),
        "growth": widgets.FloatSlider(value=b["growth"], min=-0.1, max=0.2, step=0.005,
                                      description="margin growth", **slider),
        "discount_rate": widgets.FloatSlider(value=b["discount_rate"], min=0.0, max=0.3, step=0.005,
                                             description="discount rate", **slider),
        "horizon_years": widgets.IntSlider(value=b["horizon"] or 30, min=1, max=30,
                                           description="horizon (years)", **slider),
    }
    out = widgets.interactive_output(lambda **kw: _display(show(**kw)), controls)
    return widgets.VBox([widgets.VBox(list(controls.values())), out])


def _display(obj):  # pragma: no cover - only inside a live kernel
    from IPython.display import display

    display(obj)


def explorer_text(retention, points, margin, cost_to_serve, growth, discount_rate, horizon, n_accounts,
                  annual_cost, timing="next", currency="EUR", formatter=None) -> str:
    """The explorer's text for one setting (HTML): CLV, value of the uplift, break-even.

    Used by :func:`retention_explorer`; returns a message instead of raising for
    settings outside the valid region.  An unknown cost (``annual_cost`` NaN) leaves the
    cost and the break-even "not available".
    """
    if formatter is None:
        from kamtools.plots import format_currency as formatter
    raised = min(1.0, retention + points)
    known = np.isfinite(annual_cost)
    try:
        base = contribution_clv(margin, retention, discount_rate, cost_to_serve=cost_to_serve, growth=growth,
                                horizon=horizon, timing=timing)
        up = contribution_clv(margin, raised, discount_rate, cost_to_serve=cost_to_serve, growth=growth,
                              horizon=horizon, timing=timing)
        if known:
            cost = programme_cost_value(annual_cost, discount_rate, horizon=horizon)
            be = breakeven_retention_uplift(cost, n_accounts=n_accounts, margin=margin - cost_to_serve,
                                            retention=retention, discount_rate=discount_rate, growth=growth,
                                            timing=timing, horizon=horizon)
    except ParameterError as exc:
        return f"<p>Outside the model's valid region: {exc}</p>"
    rel = f" ({(up - base) / base:+.0%} CLV)" if base > 0 else ""
    over = "" if horizon is None else f" over {horizon:g} years"
    if known:
        cost_text = formatter(cost, currency)
        be_text = "not reachable below 100% retention" if not np.isfinite(be) else f"+{100 * be:.1f} points"
    else:
        cost_text = be_text = "not available (no programme cost)"
    return (f"<p>CLV per account: <b>{formatter(base, currency)}</b> &rarr; {formatter(up, currency)} "
            f"at {raised:.1%} retention{rel}.<br>"
            f"+{100 * (raised - retention):.1f} points for {n_accounts:g} accounts: "
            f"<b>{formatter(n_accounts * (up - base), currency)}</b>{over}; programme cost "
            f"{cost_text}; break-even uplift <b>{be_text}</b>.</p>")
