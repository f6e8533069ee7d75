"""Big synthetic ledgers: the synthetic KAM world scaled to tens of millions of lines.

``write_large_world(out, n_accounts=50_000, n_months=36, format="parquet")`` writes the same world as
:func:`kamtools.sample.generate_world` (accounts, surveys, truth …), but with every order line of the
ledger split into many invoice lines, written in chunks so memory stays bounded whatever the size.

The split keeps the account × period panel exactly as it is: each line keeps its account, date,
product and order id, and its revenue and margin are divided into parts that add up to the cent.
So a 100-million-line ledger has a known panel (the small ledger's) and the world's known truth,
which is what the scale benchmarks and the DuckDB-vs-pandas equivalence test need.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .exceptions import ParameterError
from .sample import _write_tables, generate_world

__all__ = ["write_large_world", "split_lines"]

#: lines per account and month that make 50,000 accounts × 36 months ≈ 100 million lines
LINES_PER_ACCOUNT_MONTH = 55.6


def split_lines(ledger: pd.DataFrame, factor: float, rng: np.random.Generator) -> pd.DataFrame:
    """Split each line into ``1 + Poisson(factor - 1)`` lines whose amounts add up to the cent.

    Parameters
    ----------
    ledger : DataFrame
        Canonical transactions (account_id, date, revenue, gross_margin, product, order_id).
    factor : float
        Mean number of lines each input line becomes (≥ 1).
    rng : numpy Generator

    Returns
    -------
    DataFrame
        The split ledger with a ``line_no`` per part; grouped by account and period it sums to the
        input exactly (in cents).
    """
    if factor < 1:
        raise ParameterError(f"The 'factor' parameter of split_lines must be >= 1. Got {factor!r} instead.")
    n = len(ledger)
    parts = 1 + rng.poisson(factor - 1.0, size=n)
    src = np.repeat(np.arange(n), parts)
    starts = np.cumsum(parts) - parts
    weights = rng.exponential(size=len(src))
    totals = np.add.reduceat(weights, starts)
    share = weights / np.repeat(totals, parts)
    out = {}
    for col in ("revenue", "gross_margin"):
        cents = np.round(ledger[col].to_numpy(dtype="float64") * 100).astype(np.int64)
        piece = np.floor(share * np.repeat(cents, parts)).astype(np.int64)
        # the last part of each line takes the remainder, so every line adds up to the cent
        last = starts + parts - 1
        piece[last] += cents - np.add.reduceat(piece, starts)
        out[col] = piece / 100.0
    frame = ledger[["account_id", "date", "product", "order_id"]].iloc[src].reset_index(drop=True)
    frame.insert(2, "revenue", out["revenue"])
    frame.insert(3, "gross_margin", out["gross_margin"])
    # the invoice line number, as real ledgers carry it: split lines are distinct lines, not duplicates
    frame["line_no"] = np.arange(len(src), dtype=np.int64) - np.repeat(starts, parts) + 1
    return frame


def write_large_world(out, *, seed: int = 0, n_accounts: int = 50_000, n_months: int = 36,
                      format: str = "parquet", lines: int | None = None, chunk_lines: int = 250_000) -> list[Path]:
    """Write a large synthetic world: the ledger as a folder of Parquet files (or one CSV) in chunks.

    Parameters
    ----------
    out : str or Path
        Output folder. The ledger goes to ``transactions/part-00000.parquet …`` (a folder of Parquet
        files counts as one table) or ``transactions.csv``; the other tables as in
        :func:`kamtools.sample.write_world`.
    n_accounts, n_months, seed
        As for :func:`kamtools.sample.generate_world`.
    format : {"parquet", "csv"}
    lines : int, optional
        Target number of ledger lines (default ≈ 55.6 per account and month: 100M for 50,000 × 36).
    chunk_lines : int
        Input lines split per chunk (bounds memory: ~20 output lines each).

    Returns
    -------
    list of Path
    """
    if format not in ("parquet", "csv"):
        raise ParameterError(f"The 'format' parameter of write_large_world must be 'parquet' or 'csv'. "
                             f"Got {format!r} instead.")
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    world = generate_world(seed=seed, n_accounts=n_accounts, n_months=n_months)
    small = world.transactions
    target = lines if lines is not None else int(round(LINES_PER_ACCOUNT_MONTH * n_accounts * n_months))
    factor = max(1.0, target / max(len(small), 1))
    # the other tables, written as the small world writes them (CSV); the ledger is written below
    paths = _write_tables(world, out, "csv", [name for name in world.tables if name != "transactions"])
    (out / "transactions.csv").unlink(missing_ok=True)   # a ledger left by an earlier run
    rng = np.random.default_rng(seed + 1)
    ledger_dir = out / "transactions"
    if format == "parquet":
        ledger_dir.mkdir(exist_ok=True)
        for old in ledger_dir.glob("part-*.parquet"):
            old.unlink()
    csv_path = out / "transactions.csv"
    written = 0
    for part, begin in enumerate(range(0, len(small), chunk_lines)):
        chunk = split_lines(small.iloc[begin: begin + chunk_lines], factor, rng)
        written += len(chunk)
        if format == "parquet":
            table = pa.Table.from_pandas(chunk, preserve_index=False)
            path = ledger_dir / f"part-{part:05d}.parquet"
            pq.write_table(table, path, compression="zstd")
            paths.append(path)
        else:
            chunk = chunk.assign(date=chunk["date"].dt.strftime("%Y-%m-%d"))
            chunk.to_csv(csv_path, mode="w" if part == 0 else "a", header=part == 0, index=False,
                         float_format="%.2f", lineterminator="\n")
    if format == "csv":
        paths.append(csv_path)
    meta = {"lines": written, "source_lines": len(small), "factor": factor, "seed": seed,
            "n_accounts": n_accounts, "n_months": n_months, "format": format}
    (out / "ledger.json").write_text(json.dumps(meta, indent=2) + "\n")
    return paths
