"""Figures for every report: one theme, currency axes, and ``plot_<thing>(data, *, ..., ax=None) -> Axes``.

The theme is applied by the caller, never behind their back (house rule 12)::

    from kamtools import plots
    plots.set_theme()                 # the whole notebook
    with plots.theme():               # or just a block
        ax = plots.plot_lorenz(revenue_by_account)

Every plot function draws only through the ``ax`` it is given (or a new one from
``plt.subplots`` when ``ax`` is None), sets axis labels from the data, leaves the title to the
notebook, and returns the Axes. matplotlib is imported lazily, so importing this module never
touches pyplot.

Palette
-------
Okabe & Ito (2008), "Color Universal Design": eight colours distinguishable with the common
forms of colour-vision deficiency, and still apart when printed in grey (blue, orange, green,
vermillion differ in lightness). Sizes follow seaborn's ``talk``-like scale so that a chart
stays legible on a projector and on an A4 page.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from .exceptions import ParameterError

__all__ = [
    "OKABE_ITO",
    "theme_rc",
    "set_theme",
    "theme",
    "currency_symbol",
    "format_currency",
    "currency_formatter",
    "percent_formatter",
    "lorenz_points",
    "plot_lorenz",
    "plot_top_accounts",
    "plot_revenue_by_period",
    "plot_breakdown",
    "plot_kam_share",
]

#: Okabe-Ito colour-blind-safe palette, ordered so the first colours also differ in lightness.
OKABE_ITO = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow (weak on white paper: last)
    "#000000",  # black
)

_SYMBOLS = {
    "EUR": "€",
    "USD": "$",
    "GBP": "£",
    "JPY": "¥",
    "CNY": "¥",
    "INR": "₹",
    "KRW": "₩",
}
_SUFFIXES = ((1e9, "bn"), (1e6, "M"), (1e3, "k"))


# --------------------------------------------------------------------------------------- theme
def theme_rc(*, font_scale: float = 1.15) -> dict[str, Any]:
    """The rc parameters of the kit's theme (seaborn ``whitegrid`` + ``notebook`` scaled, Okabe-Ito).

    Parameters
    ----------
    font_scale : float, default 1.15
        Multiplies seaborn's ``notebook`` font sizes; 1.15 reads on a projector and on paper.

    Returns
    -------
    dict
        rcParams, for ``matplotlib.rc_context`` or ``rcParams.update``.
    """
    if not (isinstance(font_scale, (int, float)) and font_scale > 0):
        raise ParameterError(
            f"The 'font_scale' parameter of theme_rc must be a positive number. Got {font_scale!r} instead."
        )
    import seaborn as sns
    from cycler import cycler

    rc: dict[str, Any] = {}
    rc.update(sns.axes_style("whitegrid"))
    rc.update(sns.plotting_context("notebook", font_scale=font_scale))
    rc.update(
        {
            "axes.prop_cycle": cycler(color=list(OKABE_ITO)),
            "patch.facecolor": OKABE_ITO[0],
            "lines.linewidth": 2.2,
            "lines.markersize": 6,
            "axes.titleweight": "bold",
            "axes.titlelocation": "left",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "grid.color": "#d9d9d9",
            "legend.frameon": False,
            "figure.figsize": (8.0, 4.5),
            "figure.dpi": 100,
            "savefig.dpi": 150,
            "savefig.bbox": "tight",
            "figure.facecolor": "white",
            "axes.facecolor": "white",
            "font.family": "sans-serif",
            # Stable PNG bytes and no surprises in print: no hashed ids, no metadata dates.
            "svg.hashsalt": "kamtools",
        }
    )
    return rc


def set_theme(*, font_scale: float = 1.15) -> None:
    """Apply the kit's theme to matplotlib globally (call it once at the top of a notebook).

    See Also
    --------
    theme : the same, limited to a ``with`` block.
    """
    import matplotlib as mpl

    mpl.rcParams.update(theme_rc(font_scale=font_scale))
    _quick_inline_png()


def _quick_inline_png() -> None:
    """In a notebook, inline PNGs are written with zlib level 1: the same pixels (PNG is lossless),
    about a fifth less time per figure, files ~10 % larger; a report draws about 30 figures."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    try:
        from matplotlib_inline.config import InlineBackend
    except ImportError:
        return
    settings = InlineBackend.instance(parent=shell)
    kwargs = dict(settings.print_figure_kwargs)
    kwargs["pil_kwargs"] = {**kwargs.get("pil_kwargs", {}), "compress_level": 1}
    settings.print_figure_kwargs = kwargs   # its observer re-registers the figure formatters


@contextlib.contextmanager
def theme(*, font_scale: float = 1.15) -> Iterator[None]:
    """Context manager: the kit's theme inside the block, the caller's settings restored after."""
    import matplotlib as mpl

    with mpl.rc_context(theme_rc(font_scale=font_scale)):
        yield


# --------------------------------------------------------------------------------- formatting
def currency_symbol(currency: str) -> str:
    """``"EUR" -> "€"``; an unknown ISO code is used as it is, followed by a space (``"CHF "``)."""
    code = str(currency).strip().upper()
    return _SYMBOLS.get(code, f"{code} " if code else "")


def format_currency(value, currency: str = "EUR", *, digits: int = 1) -> str:
    """Format an amount with the currency symbol and a k / M / bn suffix.

    Parameters
    ----------
    value : float
        Amount in currency units.
    currency : str
        ISO 4217 code (``EUR``, ``USD``, ``GBP`` …).
    digits : int, default 1
        Decimals kept after scaling; trailing zeros are dropped (``€1.0M`` -> ``€1M``).

    Returns
    -------
    str
        e.g. ``format_currency(1_234_567, "EUR") == "€1.2M"``; ``-2500 -> "−€2.5k"``;
        ``"n/a"`` for NaN.

    Examples
    --------
    >>> format_currency(950, "USD")
    '$950'
    >>> format_currency(12_500, "CHF")
    'CHF 12.5k'
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    value = float(value)
    if math.isnan(value):
        return "n/a"
    sign = "−" if value < 0 else ""
    mag = abs(value)
    suffix = ""
    for threshold, name in _SUFFIXES:
        # round first so 999_960 shows as 1M, not 1000k
        if round(mag / threshold, digits) >= 1 and (threshold == 1e9 or round(mag / threshold, digits) < 1000):
            mag, suffix = mag / threshold, name
            break
    text = f"{mag:.{digits}f}" if suffix else f"{mag:.0f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{sign}{currency_symbol(currency)}{text}{suffix}"


def currency_formatter(currency: str = "EUR", *, digits: int = 1):
    """A matplotlib tick formatter showing amounts as ``€1.2M``, ``€850k`` (see :func:`format_currency`)."""
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda x, _pos: format_currency(x, currency, digits=digits))


def percent_formatter(*, decimals: int = 0):
    """A tick formatter for fractions in [0, 1] shown as percent (``0.25 -> 25%``)."""
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(xmax=1.0, decimals=decimals)


# ------------------------------------------------------------------------------------ helpers
def _get_ax(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def _check_columns(frame, columns, func: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ParameterError(
            f"The 'data' parameter of {func} must be a pandas DataFrame. Got {type(frame).__name__} instead."
        )
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ParameterError(
            f"The 'data' parameter of {func} must have the columns {', '.join(map(repr, columns))}. "
            f"Got a frame without {', '.join(map(repr, missing))} instead (columns: {', '.join(map(str, frame.columns))})."
        )


def _date_axis(ax, values) -> None:
    """Concise date ticks (``2024``, ``Apr``, ``Jul`` …) when the x values are dates."""
    if pd.api.types.is_datetime64_any_dtype(pd.Series(values)):
        import matplotlib.dates as mdates

        locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _safe_label(text) -> str:
    """Text for matplotlib: a literal ``$`` would start mathtext, so it is escaped."""
    return str(text).replace("$", r"\$")


def lorenz_points(values) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative share of accounts (largest first) and of the total: the Pareto form of the Lorenz curve.

    Parameters
    ----------
    values : array-like
        One value per account (revenue or margin). NaN is dropped; negative values (accounts whose
        credit notes exceed their invoices) count as zero, since a share of a total cannot be negative.

    Returns
    -------
    x, y : ndarray
        Both start at 0 and end at 1; ``y[i]`` is the share of the total held by the ``x[i]``
        largest share of accounts. Concave, above the diagonal.

    Notes
    -----
    Lorenz (1905) sorts ascending; reading it from the largest account down (the Pareto form,
    Juran's "vital few") gives the 80/20 reading directly: ``y`` at ``x = 0.2``.
    """
    arr = np.asarray(pd.to_numeric(pd.Series(values, dtype="float64"), errors="coerce"), dtype=float)
    arr = arr[~np.isnan(arr)]
    arr = np.clip(arr, 0, None)
    if arr.size == 0 or arr.sum() <= 0:
        raise ParameterError(
            "The 'values' parameter of lorenz_points must hold at least one positive value. "
            f"Got {arr.size} values summing to {arr.sum() if arr.size else 0:g} instead."
        )
    arr = np.sort(arr)[::-1]
    x = np.arange(arr.size + 1) / arr.size
    y = np.concatenate([[0.0], np.cumsum(arr) / arr.sum()])
    return x, y


# --------------------------------------------------------------------------------------- plots
def plot_lorenz(values, *, ax=None, label: str = "revenue", color=None):
    """Revenue concentration: the Pareto/Lorenz curve with the 80/20 marks.

    Parameters
    ----------
    values : array-like
        One value per account (see :func:`lorenz_points`).
    ax : matplotlib Axes, optional
    label : str, default "revenue"
        What the values are, for the y-axis label.
    color : matplotlib colour, optional

    Returns
    -------
    Axes
        Lines, in order: the curve, the line of equal shares, then the two marks of the 20 %
        reading (vertical at x = 0.2, horizontal at its share) and the two marks of the 80 %
        reading (horizontal at y = 0.8, vertical at the share of accounts that reach it).

    References
    ----------
    Lorenz, M. O. (1905). Methods of measuring the concentration of wealth. JASA 9(70).
    """
    x, y = lorenz_points(values)
    ax = _get_ax(ax)
    colors = list(OKABE_ITO)
    ax.plot(x, y, color=color or colors[0], label=f"cumulative share of {label}", drawstyle="default")
    ax.plot([0, 1], [0, 1], color="#888888", linestyle=":", linewidth=1.2, label="equal shares")

    top20 = float(np.interp(0.2, x, y))
    # share of accounts that brings 80 % (y is non-decreasing; interp on y is well-defined once
    # repeated y values at zero-valued accounts are collapsed to their first x)
    y_unique, first = np.unique(y, return_index=True)
    x80 = float(np.interp(0.8, y_unique, x[first]))
    mark = dict(color=colors[1], linestyle="--", linewidth=1.2)
    ax.plot([0.2, 0.2], [0, top20], **mark)
    ax.plot([0, 0.2], [top20, top20], **mark, label=f"top 20% of accounts: {top20:.0%} of {label}")
    mark = dict(color=colors[2], linestyle="--", linewidth=1.2)
    ax.plot([0, x80], [0.8, 0.8], **mark)
    ax.plot([x80, x80], [0, 0.8], **mark, label=f"80% of {label}: top {x80:.0%} of accounts")

    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.xaxis.set_major_formatter(percent_formatter())
    ax.yaxis.set_major_formatter(percent_formatter())
    ax.set_xlabel("share of accounts (largest first)")
    ax.set_ylabel(f"cumulative share of {label}")
    ax.legend(loc="lower right")
    return ax


def plot_top_accounts(
    frame: pd.DataFrame,
    *,
    value: str,
    label: str,
    n: int = 15,
    currency: str = "EUR",
    ax=None,
    color=None,
):
    """The ``n`` largest accounts as horizontal bars, largest on top.

    Parameters
    ----------
    frame : DataFrame
        One row per account.
    value : str
        Column with the amount (currency).
    label : str
        Column with the bar labels (account names). A ``$`` is shown literally.
    n : int, default 15
    currency : str, default "EUR"
    ax : matplotlib Axes, optional

    Returns
    -------
    Axes
        One bar patch per account shown (``min(n, rows)``), y tick labels = the labels.
    """
    _check_columns(frame, [value, label], "plot_top_accounts")
    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise ParameterError(f"The 'n' parameter of plot_top_accounts must be an int >= 1. Got {n!r} instead.")
    top = frame.nlargest(int(n), value)
    ax = _get_ax(ax)
    ypos = np.arange(len(top))[::-1]
    ax.barh(ypos, top[value].to_numpy(dtype=float), color=color or OKABE_ITO[0])
    ax.set_yticks(ypos, [_safe_label(v) for v in top[label]])
    ax.xaxis.set_major_formatter(currency_formatter(currency))
    ax.set_xlabel(f"{value} ({currency})")
    ax.set_ylabel(label)
    ax.grid(axis="y", visible=False)
    return ax


def plot_revenue_by_period(
    panel: pd.DataFrame,
    *,
    currency: str = "EUR",
    period: str = "period",
    revenue: str = "revenue",
    margin: str = "gross_margin",
    ax=None,
):
    """Total revenue and gross margin per period (two lines; margin omitted when unknown).

    Parameters
    ----------
    panel : DataFrame
        The canonical panel (``account_id, period, revenue, gross_margin, ...``) or any frame with
        the ``period`` and ``revenue`` columns.
    currency : str
    period, revenue, margin : str
        Column names.
    ax : matplotlib Axes, optional

    Returns
    -------
    Axes
        Line 0: revenue per period (sum over accounts); line 1: gross margin per period, present
        when the margin column exists and is not all NaN (a period's margin is the sum of the
        known margins: unknown is not zero, but a partly known period is drawn as known).
    """
    _check_columns(panel, [period, revenue], "plot_revenue_by_period")
    ax = _get_ax(ax)
    totals = panel.groupby(period, sort=True)[revenue].sum()
    ax.plot(totals.index, totals.to_numpy(dtype=float), marker="o", label=revenue, color=OKABE_ITO[0])
    if margin in panel.columns and panel[margin].notna().any():
        margins = panel.groupby(period, sort=True)[margin].sum(min_count=1)
        ax.plot(margins.index, margins.to_numpy(dtype=float), marker="s", label=margin, color=OKABE_ITO[1])
    ax.yaxis.set_major_formatter(currency_formatter(currency))
    _date_axis(ax, totals.index)
    ax.set_xlabel(period)
    ax.set_ylabel(f"amount ({currency})")
    ax.set_ylim(bottom=min(0.0, ax.get_ylim()[0]))
    ax.legend(loc="best")
    return ax


def plot_breakdown(
    frame: pd.DataFrame,
    *,
    by: str,
    value: str,
    currency: str = "EUR",
    ax=None,
    max_groups: int = 12,
    missing_label: str = "(not given)",
):
    """Value by group (segment, region …) as horizontal bars, largest on top, each labelled with its share.

    Parameters
    ----------
    frame : DataFrame
        Rows to sum (accounts with their revenue, or transactions).
    by : str
        Grouping column; missing values form their own group ``missing_label``.
    value : str
        Column to sum (currency).
    currency : str
    ax : matplotlib Axes, optional
    max_groups : int, default 12
        Groups beyond the largest ``max_groups - 1`` are pooled as "other".

    Returns
    -------
    Axes
        One bar patch per group (widths = group sums), one text label per bar with its share.
    """
    _check_columns(frame, [by, value], "plot_breakdown")
    groups = frame[by].astype("string").fillna(missing_label)
    sums = frame[value].astype(float).groupby(groups.to_numpy()).sum().sort_values(ascending=False)
    if len(sums) > max_groups:
        head = sums.iloc[: max_groups - 1]
        sums = pd.concat([head, pd.Series({"other": sums.iloc[max_groups - 1 :].sum()})])
    total = sums.sum()
    ax = _get_ax(ax)
    ypos = np.arange(len(sums))[::-1]
    bars = ax.barh(ypos, sums.to_numpy(), color=OKABE_ITO[0])
    ax.set_yticks(ypos, [_safe_label(v) for v in sums.index])
    if total:
        for bar, share in zip(bars, sums.to_numpy() / total):
            ax.annotate(
                f" {share:.0%}",
                (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                va="center",
                ha="left",
                fontsize="small",
            )
    ax.xaxis.set_major_formatter(currency_formatter(currency))
    ax.set_xlabel(f"{value} ({currency})")
    ax.set_ylabel(by)
    ax.grid(axis="y", visible=False)
    ax.margins(x=0.12)
    return ax


def plot_kam_share(
    panel: pd.DataFrame,
    *,
    period: str = "period",
    revenue: str = "revenue",
    in_kam: str = "in_kam",
    active: str = "active",
    ax=None,
):
    """Share of the book in the KAM programme per period: of revenue, and of active accounts.

    Parameters
    ----------
    panel : DataFrame
        The canonical panel (``period, revenue, active, in_kam``).
    ax : matplotlib Axes, optional

    Returns
    -------
    Axes
        Line 0: revenue share = revenue of accounts in KAM ÷ all revenue in the period;
        line 1: account share = active accounts in KAM ÷ active accounts. Both in [0, 1]
        (a period with no revenue, or no active account, is NaN, not zero).
    """
    _check_columns(panel, [period, revenue, in_kam, active], "plot_kam_share")
    kam = panel[in_kam].astype(bool)
    act = panel[active].astype(bool)
    rev = panel[revenue].astype(float)
    grouped = pd.DataFrame(
        {
            period: panel[period],
            "rev_kam": rev.where(kam, 0.0),
            "rev": rev,
            "n_kam": (kam & act).astype(int),
            "n": act.astype(int),
        }
    ).groupby(period, sort=True).sum()
    rev_share = grouped["rev_kam"] / grouped["rev"].where(grouped["rev"] != 0)
    acc_share = grouped["n_kam"] / grouped["n"].where(grouped["n"] != 0)
    ax = _get_ax(ax)
    ax.plot(grouped.index, rev_share.to_numpy(dtype=float), label="share of revenue", color=OKABE_ITO[0])
    ax.plot(grouped.index, acc_share.to_numpy(dtype=float), label="share of active accounts",
            color=OKABE_ITO[1], linestyle="--")
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(percent_formatter())
    _date_axis(ax, grouped.index)
    ax.set_xlabel(period)
    ax.set_ylabel("share in the KAM programme")
    ax.legend(loc="best")
    return ax
