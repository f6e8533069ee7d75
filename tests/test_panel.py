"""Tests of kamtools.panel.build_panel: hand-worked panels and hypothesis invariants.

Invariants: one row per account and period; periods zero-filled between an account's first and
last activity and never beyond; revenue (and margin) totals equal the ledger's; monthly and
quarterly panels carry the same totals; in_kam / periods_since_kam agree with kam_start.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kamtools.exceptions import ParameterError
from kamtools.panel import PANEL_COLUMNS, aggregate_ledger, build_panel, period_start


def _tx(rows, columns=("account_id", "date", "revenue", "gross_margin", "product", "order_id")):
    frame = pd.DataFrame(rows, columns=list(columns)[: len(rows[0])] if rows else list(columns))
    frame["account_id"] = frame["account_id"].astype("string")
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    for col in ("product", "order_id"):
        if col in frame.columns:
            frame[col] = frame[col].astype("string")
    return frame


def _accounts(starts: dict):
    return pd.DataFrame({"account_id": pd.array(list(starts), dtype="string"),
                         "kam_start": pd.to_datetime(list(starts.values())).astype("datetime64[ns]")})


# ------------------------------------------------------------------------------ hand-worked
def test_hand_worked_monthly_panel():
    tx = _tx([
        ("A", "2024-01-05", 100.0, 30.0, "p1", "o1"),
        ("A", "2024-01-20", 50.0, 10.0, "p2", "o2"),
        ("A", "2024-01-20", 25.0, 5.0, "p1", "o2"),   # second line of order o2
        ("A", "2024-04-02", -20.0, -4.0, "p1", "o3"),  # a credit note in April
        ("B", "2024-02-10", 10.0, np.nan, "p3", "o4"),
    ])
    panel = build_panel({"transactions": tx, "accounts": _accounts({"A": "2024-03-15", "B": None})})
    assert list(panel.columns) == list(PANEL_COLUMNS)
    # A: Jan 100+50+25 = 175 over 2 orders and 2 products; Feb and Mar zero-filled; Apr −20
    # B: Feb only (no zero-fill beyond its single month)
    expected = pd.DataFrame({
        "account_id": ["A", "A", "A", "A", "B"],
        "period": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01", "2024-02-01"]),
        "revenue": [175.0, 0.0, 0.0, -20.0, 10.0],
        "gross_margin": [45.0, 0.0, 0.0, -4.0, np.nan],
        "orders": [2, 0, 0, 1, 1],
        "products": [2, 0, 0, 1, 1],
        # a month with only a credit note is still activity (revenue ≠ 0)
        "active": [True, False, False, True, True],
        # A enters KAM on 2024-03-15: March is its first KAM month (0), January is −2
        "in_kam": [False, False, True, True, False],
        "periods_since_kam": [-2.0, -1.0, 0.0, 1.0, np.nan],
    })
    expected["account_id"] = expected["account_id"].astype("string")
    expected["period"] = expected["period"].astype("datetime64[ns]")
    pd.testing.assert_frame_equal(panel, expected)


def test_hand_worked_quarterly_panel():
    tx = _tx([("A", "2024-01-05", 100.0), ("A", "2024-03-31", 50.0), ("A", "2024-10-01", 7.0)],
             columns=("account_id", "date", "revenue"))
    panel = build_panel({"transactions": tx, "accounts": _accounts({"A": "2024-05-20"})}, freq="Q")
    assert panel["period"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-01", "2024-04-01", "2024-07-01",
                                                               "2024-10-01"]
    assert panel["revenue"].tolist() == [150.0, 0.0, 0.0, 7.0]
    # no order id: an order is a purchase day (two days in Q1)
    assert panel["orders"].tolist() == [2, 0, 0, 1]
    assert panel["products"].tolist() == [0, 0, 0, 0]  # the ledger has no product column
    assert panel["gross_margin"].isna().all()  # no margin or cost in the ledger: unknown, not zero
    # kam_start in Q2: Q1 is −1, Q2 is 0
    assert panel["periods_since_kam"].tolist() == [-1.0, 0.0, 1.0, 2.0]


def test_orders_fall_back_to_days_where_the_order_id_is_missing():
    tx = _tx([("A", "2024-01-05", 1.0, 0.0, "p", "o1"), ("A", "2024-01-05", 1.0, 0.0, "p", None),
              ("A", "2024-01-09", 1.0, 0.0, "p", None), ("A", "2024-01-09", 1.0, 0.0, "p", None)])
    # o1 + day 5 (no id) + day 9 (no id, two lines) = 3 orders
    assert build_panel({"transactions": tx})["orders"].tolist() == [3]


def test_panel_of_a_loaded_dataset(tmp_path):
    from kamtools.io import load_dataset

    (tmp_path / "ledger.csv").write_text(
        "account_id,date,revenue,kam_start\n001,2024-01-05,10,2024-02-01\n001,2024-03-05,5,2024-02-01\n"
        "002,2024-02-07,3,\n", encoding="utf-8")
    (tmp_path / "c.yaml").write_text("client: X\ndata: {transactions: ledger.csv}\n", encoding="utf-8")
    dataset = load_dataset(tmp_path / "c.yaml")
    panel = build_panel(dataset)
    assert panel["account_id"].tolist() == ["001", "001", "001", "002"]
    assert panel["revenue"].tolist() == [10.0, 0.0, 5.0, 3.0]
    assert panel["in_kam"].tolist() == [False, True, True, False]
    assert panel["periods_since_kam"].tolist()[:3] == [-1.0, 0.0, 1.0]
    assert np.isnan(panel["periods_since_kam"].iloc[3])


def test_dtypes():
    panel = build_panel({"transactions": _tx([("A", "2024-01-05", 1.0, 0.5, "p", "o")])})
    assert str(panel["account_id"].dtype) == "string"
    assert panel["period"].dtype == "datetime64[ns]"
    assert panel["revenue"].dtype == panel["gross_margin"].dtype == panel["periods_since_kam"].dtype == "float64"
    assert panel["orders"].dtype == panel["products"].dtype == "int64"
    assert panel["active"].dtype == panel["in_kam"].dtype == "bool"


def test_empty_ledger_gives_an_empty_panel():
    tx = _tx([], columns=("account_id", "date", "revenue"))
    panel = build_panel({"transactions": tx})
    assert panel.empty and list(panel.columns) == list(PANEL_COLUMNS)


def test_freq_is_checked():
    tx = _tx([("A", "2024-01-05", 1.0)], columns=("account_id", "date", "revenue"))
    with pytest.raises(ParameterError, match=r"The 'freq' parameter of build_panel must be 'M' or 'Q'. "
                                             r"Got 'W' instead."):
        build_panel({"transactions": tx}, freq="W")
    assert build_panel({"transactions": tx}, freq="q")["period"].tolist() == [pd.Timestamp("2024-01-01")]


def test_period_start():
    dates = pd.Series(pd.to_datetime(["2024-02-29 13:00", "1969-11-30", None, "2024-12-31"], format="ISO8601"))
    months = period_start(dates, "M")
    assert months.tolist()[:2] == [pd.Timestamp("2024-02-01"), pd.Timestamp("1969-11-01")]
    assert pd.isna(months.iloc[2])
    quarters = period_start(dates, "Q")
    assert quarters.dropna().tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("1969-10-01"),
                                          pd.Timestamp("2024-10-01")]


# ------------------------------------------------------------------------------ invariants
_ledger = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 40 * 31), st.integers(-5_000, 100_000),
              st.one_of(st.none(), st.integers(-10_000, 10_000)), st.integers(0, 4), st.integers(0, 30)),
    min_size=1, max_size=60,
)
_kam = st.dictionaries(st.integers(0, 8), st.integers(-200, 50 * 31), max_size=6)


def _frame(rows):
    base = pd.Timestamp("2021-01-01")
    return pd.DataFrame({
        "account_id": pd.array([f"{a:03d}" for a, *_ in rows], dtype="string"),
        "date": (base + pd.to_timedelta([d for _, d, *_ in rows], unit="D")).astype("datetime64[ns]"),
        "revenue": [c / 100 for _, _, c, *_ in rows],
        "gross_margin": [np.nan if m is None else m / 100 for _, _, _, m, *_ in rows],
        "product": pd.array([f"p{p}" for *_, p, _ in rows], dtype="string"),
        "order_id": pd.array([f"o{o}" for *_, o in rows], dtype="string"),
    })


def _months_between(a: pd.Timestamp, b: pd.Timestamp) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


@settings(max_examples=40, deadline=None)
@given(rows=_ledger, kam=_kam)
def test_panel_invariants(rows, kam):
    tx = _frame(rows)
    starts = {f"{a:03d}": pd.Timestamp("2021-01-01") + pd.Timedelta(days=d) for a, d in kam.items()}
    accounts = _accounts(starts) if starts else None
    tables = {"transactions": tx, "accounts": accounts}
    panel = build_panel(tables)

    # one row per account-period
    assert not panel.duplicated(["account_id", "period"]).any()
    # totals equal the ledger's (to the cent), per account too
    assert abs(panel["revenue"].sum() - tx["revenue"].sum()) < 0.005
    per_account = tx.groupby("account_id")["revenue"].sum()
    assert np.allclose(panel.groupby("account_id")["revenue"].sum().reindex(per_account.index), per_account)
    if tx["gross_margin"].notna().any():
        assert abs(panel["gross_margin"].sum() - tx["gross_margin"].sum()) < 0.005
    # periods run from the first to the last active month, every month once, never beyond
    first = period_start(tx["date"]).groupby(tx["account_id"]).min()
    last = period_start(tx["date"]).groupby(tx["account_id"]).max()
    for account, rows_ in panel.groupby("account_id"):
        periods = rows_["period"]
        assert periods.is_monotonic_increasing
        assert periods.iloc[0] == first[account] and periods.iloc[-1] == last[account]
        assert len(periods) == _months_between(first[account], last[account]) + 1
    # zero-filled rows are exactly the months without ledger lines
    seen = set(zip(tx["account_id"], period_start(tx["date"])))
    filled = ~pd.Series([(a, p) in seen for a, p in zip(panel["account_id"], panel["period"])]).to_numpy()
    assert (panel.loc[filled, ["revenue", "orders", "products"]] == 0).all().all()
    assert not panel.loc[filled, "active"].any()
    assert (panel.loc[~filled, "orders"] > 0).all() and panel.loc[~filled, "active"].all()
    # KAM columns agree with kam_start
    start_period = {a: period_start(pd.Series([s])).iloc[0] for a, s in starts.items()}
    expected_since = np.array([
        _months_between(start_period[a], p) if a in start_period else np.nan
        for a, p in zip(panel["account_id"], panel["period"])
    ], dtype=float)
    np.testing.assert_array_equal(panel["periods_since_kam"].to_numpy(), expected_since)
    np.testing.assert_array_equal(panel["in_kam"].to_numpy(), np.nan_to_num(expected_since, nan=-1) >= 0)

    # the quarterly panel carries the same totals, per account
    quarterly = build_panel(tables, freq="Q")
    assert not quarterly.duplicated(["account_id", "period"]).any()
    assert np.allclose(quarterly.groupby("account_id")["revenue"].sum(),
                       panel.groupby("account_id")["revenue"].sum())
    assert (quarterly["period"].dt.month % 3 == 1).all()
    assert len(quarterly) <= len(panel)


@settings(max_examples=30, deadline=None)
@given(rows=_ledger)
def test_aggregate_ledger_matches_a_plain_groupby(rows):
    # two routes to the same answer: the panel's aggregate vs pandas resampling by month
    tx = _frame(rows)
    agg = aggregate_ledger(tx, "M").set_index(["account_id", "period"])
    plain = tx.groupby(["account_id", tx["date"].dt.to_period("M").dt.start_time])["revenue"].sum()
    plain.index = plain.index.set_names(["account_id", "period"])
    assert np.allclose(agg["revenue"].sort_index(), plain.sort_index())
    orders = tx.groupby(["account_id", tx["date"].dt.to_period("M").dt.start_time])["order_id"].nunique()
    assert (agg["orders"].sort_index().to_numpy() == orders.sort_index().to_numpy()).all()
