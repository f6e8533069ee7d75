"""The account × period panel every analysis starts from.

``build_panel(dataset, freq="M")`` aggregates the ledger to one row per account and period with
revenue, gross margin, orders and distinct products; it zero-fills the periods between an account's
first and last activity (not beyond: an account that stopped buying has no rows after its last
purchase, so churn stays visible as the end of its rows), and marks the KAM programme from each
account's ``kam_start``. The revenue total of the panel equals the ledger's kept rows, always.

Large ledgers take the DuckDB route behind the same signature (:func:`build_panel` dispatches on
the dataset's engine); the result is identical.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .exceptions import ParameterError

__all__ = ["build_panel", "PANEL_COLUMNS", "period_start", "aggregate_ledger", "complete_panel"]

PANEL_COLUMNS = ("account_id", "period", "revenue", "gross_margin", "orders", "products", "active", "in_kam",
                 "periods_since_kam")
_FREQS = {"M": "M", "Q": "Q"}


def _check_freq(freq: str) -> str:
    key = str(freq).upper()
    if key not in _FREQS:
        raise ParameterError(f"The 'freq' parameter of build_panel must be 'M' or 'Q'. Got {freq!r} instead.")
    return key


def _months(dates) -> np.ndarray:
    """Months since 1970-01 of each date (NaT -> the minimum int64)."""
    values = pd.Series(dates).to_numpy(dtype="datetime64[ns]")
    return values.astype("datetime64[M]").astype(np.int64)


def period_start(dates: pd.Series, freq: str = "M") -> pd.Series:
    """The start date of the period (month or quarter) each date falls in.

    Parameters
    ----------
    dates : Series of datetime64
    freq : {"M", "Q"}

    Returns
    -------
    Series of datetime64[ns]
        Same index as ``dates``; missing dates stay missing.
    """
    freq = _check_freq(freq)
    dates = pd.Series(dates)
    missing = dates.isna().to_numpy()
    months = _months(dates)
    if freq == "Q":
        months = months - months % 3
    out = months.astype("datetime64[M]").astype("datetime64[ns]")
    out[missing] = np.datetime64("NaT")
    return pd.Series(out, index=dates.index, name=dates.name)


def _period_index(periods: pd.Series, freq: str) -> np.ndarray:
    """Periods as consecutive integers (months or quarters since 1970-01)."""
    months = _months(periods)
    return months if freq == "M" else months // 3


def _index_to_period(index: np.ndarray, freq: str) -> np.ndarray:
    months = np.asarray(index, dtype=np.int64) if freq == "M" else np.asarray(index, dtype=np.int64) * 3
    return months.astype("datetime64[M]").astype("datetime64[ns]")


def _days(dates) -> np.ndarray:
    return pd.Series(dates).to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").astype(np.int64)


def aggregate_ledger(transactions: pd.DataFrame, freq: str = "M") -> pd.DataFrame:
    """Sum the ledger to account × period (only periods with ledger lines)."""
    freq = _check_freq(freq)
    tx = transactions
    has_margin = "gross_margin" in tx.columns
    frame = pd.DataFrame({
        "account_id": tx["account_id"].astype("string"),
        "period": period_start(tx["date"], freq),
        "revenue": tx["revenue"].astype("float64"),
    })
    if has_margin:
        frame["gross_margin"] = tx["gross_margin"].astype("float64")
    # an order is an order id where the ledger has one, else a purchase day (per account)
    day = _days(tx["date"]) + (1 << 40)  # day numbers kept apart from order-id codes
    if "order_id" in tx.columns:
        codes, _ = pd.factorize(tx["order_id"].astype("string"))
        frame["order_key"] = np.where(codes >= 0, codes, day)
    else:
        frame["order_key"] = day
    if "product" in tx.columns:
        frame["product"] = tx["product"].astype("string")
    grouped = frame.groupby(["account_id", "period"], sort=True, observed=True)
    agg = grouped.agg(revenue=("revenue", "sum"))
    if has_margin:
        agg["gross_margin"] = grouped["gross_margin"].sum(min_count=1)
    else:
        agg["gross_margin"] = np.nan
    agg["orders"] = grouped["order_key"].nunique()
    agg["products"] = grouped["product"].nunique() if "product" in frame.columns else 0
    return agg.reset_index()


def complete_panel(agg: pd.DataFrame, accounts: pd.DataFrame | None, freq: str = "M") -> pd.DataFrame:
    """Zero-fill between first and last activity and add the KAM columns (shared by every engine)."""
    freq = _check_freq(freq)
    if agg.empty:
        empty = pd.DataFrame({
            "account_id": pd.array([], dtype="string"), "period": np.array([], dtype="datetime64[ns]"),
            "revenue": np.array([], dtype="float64"), "gross_margin": np.array([], dtype="float64"),
            "orders": np.array([], dtype="int64"), "products": np.array([], dtype="int64"),
            "active": np.array([], dtype=bool), "in_kam": np.array([], dtype=bool),
            "periods_since_kam": np.array([], dtype="float64"),
        })
        return empty[list(PANEL_COLUMNS)]
    agg = agg.sort_values(["account_id", "period"], kind="stable").reset_index(drop=True)
    idx = _period_index(agg["period"], freq)
    ids = agg["account_id"].to_numpy()
    codes, uniques = pd.factorize(ids, sort=True)
    first = np.full(len(uniques), np.iinfo(np.int64).max)
    last = np.full(len(uniques), np.iinfo(np.int64).min)
    np.minimum.at(first, codes, idx)
    np.maximum.at(last, codes, idx)
    lengths = last - first + 1
    full_code = np.repeat(np.arange(len(uniques)), lengths)
    start_of = np.cumsum(lengths) - lengths
    offsets = np.arange(lengths.sum()) - np.repeat(start_of, lengths)
    full_idx = np.repeat(first, lengths) + offsets
    # place observed rows into the full grid
    pos = start_of[codes] + (idx - first[codes])
    n = len(full_code)
    panel = pd.DataFrame({
        "account_id": pd.array(np.asarray(uniques, dtype=object)[full_code], dtype="string"),
        "period": _index_to_period(full_idx, freq),
    })
    for col, fill, dtype in (("revenue", 0.0, "float64"), ("gross_margin", np.nan, "float64"),
                             ("orders", 0, "int64"), ("products", 0, "int64")):
        values = np.full(n, fill, dtype=dtype)
        values[pos] = agg[col].to_numpy(dtype=dtype, na_value=np.nan) if dtype == "float64" \
            else agg[col].to_numpy(dtype=dtype)
        panel[col] = values
    if agg["gross_margin"].notna().any():
        # zero-filled months have zero margin when the ledger carries margin
        observed = np.zeros(n, dtype=bool)
        observed[pos] = True
        panel.loc[~observed, "gross_margin"] = 0.0
    panel["active"] = (panel["revenue"].to_numpy() != 0) | (panel["orders"].to_numpy() > 0)

    kam_idx = np.full(len(uniques), np.nan)
    if accounts is not None and "kam_start" in accounts.columns:
        starts = accounts[["account_id", "kam_start"]].dropna()
        if not starts.empty:
            start_periods = period_start(starts["kam_start"].astype("datetime64[ns]"), freq)
            pos_acc = pd.Index(uniques).get_indexer(starts["account_id"].astype("string"))
            ok = pos_acc >= 0
            kam_idx[pos_acc[ok]] = _period_index(start_periods, freq)[ok]
    since = full_idx - kam_idx[full_code]
    panel["in_kam"] = np.nan_to_num(since, nan=-1) >= 0
    panel["periods_since_kam"] = since
    return panel[list(PANEL_COLUMNS)]


def build_panel(dataset, freq: str = "M") -> pd.DataFrame:
    """One row per account and period.

    Parameters
    ----------
    dataset : Dataset
        From :func:`kamtools.io.load_dataset` (or any object with ``tables`` holding
        ``transactions`` and optionally ``accounts``).
    freq : {"M", "Q"}
        Month or quarter.

    Returns
    -------
    DataFrame
        ``account_id, period, revenue, gross_margin, orders, products, active, in_kam,
        periods_since_kam``; ``period`` is the period's start date; ``gross_margin`` is missing
        when the ledger has neither margin nor cost; ``periods_since_kam`` is 0 in the first KAM
        period, negative before, missing for accounts never in KAM.

    Examples
    --------
    >>> from kamtools import load_config, load_dataset, build_panel  # doctest: +SKIP
    >>> panel = build_panel(load_dataset(load_config("configs/sample.yaml")))  # doctest: +SKIP
    """
    freq = _check_freq(freq)
    tables = dataset.tables if hasattr(dataset, "tables") else dataset
    ledger = getattr(dataset, "ledger", None)
    # a ledger validated in DuckDB (kamtools.ledger_duckdb) brings both frequencies: its
    # transactions table is a stand-in without order ids, not the ledger's lines
    agg = ledger.aggregate(freq) if ledger is not None else aggregate_ledger(tables["transactions"], freq)
    return complete_panel(agg, tables.get("accounts"), freq)
