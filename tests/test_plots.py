"""Tests of kamtools.plots: assertions on the returned Axes (seaborn's way), figures closed after each test."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib as mpl  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from kamtools import plots  # noqa: E402
from kamtools.exceptions import ParameterError  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def rng():
    return np.random.default_rng(20240501)


@pytest.fixture
def panel(rng):
    """3 accounts x 4 months; account c joins KAM in the third month."""
    periods = pd.date_range("2024-01-01", periods=4, freq="MS")
    rows = []
    for acc, base in [("a", 100.0), ("b", 50.0), ("c", 10.0)]:
        for i, p in enumerate(periods):
            rows.append(
                dict(
                    account_id=acc,
                    period=p,
                    revenue=base * (i + 1),
                    gross_margin=base * (i + 1) * 0.3,
                    orders=1,
                    products=1,
                    active=True,
                    in_kam=(acc == "a") or (acc == "c" and i >= 2),
                )
            )
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------- theme
def test_theme_context_restores_caller_settings():
    before = mpl.rcParams["axes.prop_cycle"]
    with plots.theme():
        colours = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
        assert colours[:4] == ["#0072B2", "#E69F00", "#009E73", "#D55E00"]
        assert mpl.rcParams["axes.spines.top"] is False
    assert mpl.rcParams["axes.prop_cycle"] == before


def test_set_theme_changes_global_rc():
    with mpl.rc_context():
        plots.set_theme(font_scale=1.5)
        # seaborn's notebook context: 12 pt axis labels at scale 1 -> 18 pt at 1.5
        assert mpl.rcParams["axes.labelsize"] == pytest.approx(18.0)
        assert mpl.rcParams["axes.prop_cycle"].by_key()["color"][0] == "#0072B2"


@pytest.mark.filterwarnings("ignore:InlineBackend._print_figure_kwargs_changed is deprecated:DeprecationWarning")
def test_set_theme_in_a_notebook_writes_quick_lossless_pngs(monkeypatch):
    import IPython
    from IPython.core.interactiveshell import InteractiveShell
    from matplotlib_inline.config import InlineBackend

    shell = InteractiveShell.instance()
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    settings = InlineBackend.instance(parent=shell)
    monkeypatch.setattr(settings, "print_figure_kwargs", {"bbox_inches": "tight"})
    with mpl.rc_context():
        plots.set_theme()
    # tight bounding box kept, zlib level 1 added; IPython's inline printer writes such a PNG
    assert settings.print_figure_kwargs == {"bbox_inches": "tight", "pil_kwargs": {"compress_level": 1}}
    from IPython.core.pylabtools import print_figure

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    data = print_figure(fig, "png", **settings.print_figure_kwargs)
    plt.close(fig)
    idat = data.find(b"IDAT")
    assert data[idat + 4: idat + 6] == b"\x78\x01"   # zlib header of the fastest level


def test_set_theme_outside_a_notebook_leaves_ipython_alone(monkeypatch):
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    with mpl.rc_context():
        plots.set_theme()   # no shell: nothing to configure, no error


def test_theme_rejects_bad_font_scale():
    with pytest.raises(ParameterError, match="The 'font_scale' parameter of theme_rc must be a positive number"):
        plots.theme_rc(font_scale=0)


# ------------------------------------------------------------------------------ formatting
@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (1_234_567, "EUR", "€1.2M"),
        (950, "USD", "$950"),
        (12_500, "CHF", "CHF 12.5k"),
        (-2_500, "GBP", "−£2.5k"),
        (1_000_000, "EUR", "€1M"),  # trailing .0 dropped
        (999_960, "EUR", "€1M"),  # rounds up into the next suffix, never "1000k"
        (999.96, "EUR", "€1k"),
        (3.2e9, "EUR", "€3.2bn"),
        (0, "EUR", "€0"),
        (float("nan"), "EUR", "n/a"),
    ],
)
def test_format_currency(value, currency, expected):
    assert plots.format_currency(value, currency) == expected


def test_currency_formatter_on_axis():
    fig, ax = plt.subplots()
    ax.plot([0, 2_000_000], [0, 1])
    ax.xaxis.set_major_formatter(plots.currency_formatter("EUR"))
    assert ax.xaxis.get_major_formatter()(1_500_000, 0) == "€1.5M"
    assert ax.xaxis.get_major_formatter()(250_000, 0) == "€250k"


# --------------------------------------------------------------------------------- lorenz
def test_lorenz_points_hand_worked():
    # sorted largest first: 50, 30, 10, 10 of 100 -> cumulative 0.5, 0.8, 0.9, 1.0
    x, y = plots.lorenz_points([10, 50, 10, 30])
    np.testing.assert_allclose(x, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(y, [0, 0.5, 0.8, 0.9, 1])


def test_lorenz_points_negative_and_nan_values():
    # a net-credit account counts as zero; NaN is dropped -> values 30, 10, 0
    x, y = plots.lorenz_points([10, np.nan, -5, 30])
    np.testing.assert_allclose(x, [0, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(y, [0, 0.75, 1, 1])


def test_lorenz_points_rejects_no_positive_value():
    with pytest.raises(ParameterError, match="The 'values' parameter of lorenz_points must hold at least one positive"):
        plots.lorenz_points([0, -3, np.nan])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e9, allow_nan=False), min_size=1, max_size=60).filter(
    lambda v: sum(v) > 0))
def test_lorenz_points_invariants(values):
    x, y = plots.lorenz_points(values)
    assert x[0] == 0 and y[0] == 0
    assert x[-1] == pytest.approx(1) and y[-1] == pytest.approx(1)
    assert np.all(np.diff(y) >= -1e-12)  # non-decreasing
    assert np.all(y >= x - 1e-9)  # largest first: never below the diagonal
    # concave: increments shrink
    assert np.all(np.diff(np.diff(y)) <= 1e-9)


def test_plot_lorenz_curve_and_80_20_marks():
    ax = plots.plot_lorenz([10, 50, 10, 30])
    lines = ax.get_lines()
    assert len(lines) == 6  # curve, diagonal, 2 + 2 marks
    np.testing.assert_allclose(lines[0].get_ydata(), [0, 0.5, 0.8, 0.9, 1])
    # 20 % of accounts: interpolate between (0, 0) and (0.25, 0.5) -> 0.4
    np.testing.assert_allclose(lines[3].get_ydata(), [0.4, 0.4])
    # 80 % of revenue is reached at exactly half of the accounts
    np.testing.assert_allclose(lines[5].get_xdata(), [0.5, 0.5])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "top 20% of accounts: 40% of revenue" in labels
    assert "80% of revenue: top 50% of accounts" in labels
    assert ax.get_xlabel() == "share of accounts (largest first)"


def test_plot_lorenz_draws_on_given_ax():
    fig, (ax1, ax2) = plt.subplots(1, 2)
    out = plots.plot_lorenz([1, 2, 3], ax=ax2)
    assert out is ax2
    assert len(ax1.get_lines()) == 0


# ---------------------------------------------------------------------------- top accounts
def test_plot_top_accounts_bars_and_labels(rng):
    frame = pd.DataFrame({"name": [f"acct {i}" for i in range(20)], "revenue": rng.permutation(np.arange(20) * 1000.0)})
    ax = plots.plot_top_accounts(frame, value="revenue", label="name", n=5, currency="EUR")
    assert len(ax.patches) == 5
    widths = sorted((p.get_width() for p in ax.patches), reverse=True)
    assert widths == [19000.0, 18000.0, 17000.0, 16000.0, 15000.0]
    # largest on top: the highest y position carries the largest bar
    top_bar = max(ax.patches, key=lambda p: p.get_y())
    assert top_bar.get_width() == 19000.0
    expected_top_label = frame.loc[frame["revenue"].idxmax(), "name"]
    ticks = {t.get_position()[1]: t.get_text() for t in ax.get_yticklabels()}
    assert ticks[max(ticks)] == expected_top_label
    assert ax.get_xlabel() == "revenue (EUR)"


def test_plot_top_accounts_dollar_in_name_is_literal():
    frame = pd.DataFrame({"name": ["Cash $ Carry"], "revenue": [5.0]})
    ax = plots.plot_top_accounts(frame, value="revenue", label="name")
    assert ax.get_yticklabels()[0].get_text() == r"Cash \$ Carry"
    ax.figure.canvas.draw()  # would raise on unbalanced mathtext if the $ were not escaped


def test_plot_top_accounts_missing_column():
    with pytest.raises(ParameterError, match="must have the columns 'revenue', 'name'.*without 'name'"):
        plots.plot_top_accounts(pd.DataFrame({"revenue": [1.0]}), value="revenue", label="name")


# --------------------------------------------------------------------------- by period
def test_plot_revenue_by_period_sums(panel):
    ax = plots.plot_revenue_by_period(panel, currency="USD")
    rev, margin = ax.get_lines()
    # month i (1-based) revenue = (100 + 50 + 10) * i = 160 i ; margin 30 % of it
    np.testing.assert_allclose(rev.get_ydata(), [160, 320, 480, 640])
    np.testing.assert_allclose(margin.get_ydata(), [48, 96, 144, 192])
    assert ax.yaxis.get_major_formatter()(2500, 0) == "$2.5k"
    assert ax.get_ylabel() == "amount (USD)"
    assert type(ax.xaxis.get_major_formatter()).__name__ == "ConciseDateFormatter"


def test_plot_revenue_by_period_without_margin(panel):
    ax = plots.plot_revenue_by_period(panel.assign(gross_margin=np.nan))
    assert len(ax.get_lines()) == 1


# ---------------------------------------------------------------------------- breakdown
def test_plot_breakdown_sums_and_shares():
    frame = pd.DataFrame({"segment": ["A", "B", "A", None], "revenue": [30.0, 50.0, 10.0, 10.0]})
    ax = plots.plot_breakdown(frame, by="segment", value="revenue")
    bars = sorted(ax.patches, key=lambda p: -p.get_y())  # top first
    labels = [t.get_text() for t in sorted(ax.get_yticklabels(), key=lambda t: -t.get_position()[1])]
    assert labels == ["B", "A", "(not given)"]
    assert [b.get_width() for b in bars] == [50.0, 40.0, 10.0]
    shares = [t.get_text().strip() for t in ax.texts]
    assert shares == ["50%", "40%", "10%"]


def test_plot_breakdown_pools_small_groups():
    frame = pd.DataFrame({"region": list("abcdef"), "revenue": [60.0, 20.0, 10.0, 5.0, 3.0, 2.0]})
    ax = plots.plot_breakdown(frame, by="region", value="revenue", max_groups=3)
    labels = [t.get_text() for t in sorted(ax.get_yticklabels(), key=lambda t: -t.get_position()[1])]
    assert labels == ["a", "b", "other"]
    assert sorted(p.get_width() for p in ax.patches) == [20.0, 20.0, 60.0]  # other = 10+5+3+2


# ---------------------------------------------------------------------------- KAM share
def test_plot_kam_share(panel):
    ax = plots.plot_kam_share(panel)
    rev, acc = ax.get_lines()
    # months 1-2: only a (100 of 160) in KAM; months 3-4: a and c (110 of 160)
    np.testing.assert_allclose(rev.get_ydata(), [100 / 160, 100 / 160, 110 / 160, 110 / 160])
    np.testing.assert_allclose(acc.get_ydata(), [1 / 3, 1 / 3, 2 / 3, 2 / 3])
    assert ax.get_ylim() == (0, 1.02)


def test_plot_kam_share_empty_period_is_nan(panel):
    panel = panel.copy()
    first = panel["period"] == panel["period"].min()
    panel.loc[first, "revenue"] = 0.0
    panel.loc[first, "active"] = False
    ax = plots.plot_kam_share(panel)
    assert np.isnan(ax.get_lines()[0].get_ydata()[0])
    assert np.isnan(ax.get_lines()[1].get_ydata()[0])


def test_module_does_not_import_pyplot_at_import_time():
    import subprocess
    import sys

    code = "import sys, kamtools.plots; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
