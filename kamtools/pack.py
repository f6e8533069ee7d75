"""Notebook-side publishing helpers: what a report contributes to the pack.

A report notebook calls, after its ``parameters`` cell::

    from kamtools import pack
    pack.start(output_dir)                       # output_dir is injected by ``kam report``
    ...
    pack.headline("Top 20% of accounts bring 74% of revenue", value=0.74)
    pack.key_table("top_accounts", top, description="The 15 largest accounts by revenue")

``kam report`` (:mod:`kamtools.report`) injects ``output_dir`` = ``<pack>/_artifacts/<notebook>``
and collects what was stored there: the headlines go to ``index.html``, the key tables to
``tables.xlsx``. With ``output_dir = ""`` (the default: someone working in JupyterLab, or nbval)
nothing is written; the helpers still display their content and return their input.

Stored files (per notebook)::

    headlines.json          [{"text": ..., "value": ...}, ...]   in call order
    tables.json             [{"name": ..., "description": ..., "file": "tables/<name>.parquet"}, ...]
    tables/<name>.parquet   the frame, with its dtypes

Nothing volatile (dates of the run, paths, timings) is written, so two runs on the same data give
the same files, and the stored outputs of a notebook stay the same for nbval.
"""

from __future__ import annotations

import html
import json
import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .exceptions import ParameterError

__all__ = [
    "start",
    "output_dir",
    "headline",
    "key_table",
    "show_quality",
    "data_inventory",
    "Headline",
    "QualityView",
    "HEADLINES_FILE",
    "TABLES_FILE",
]

HEADLINES_FILE = "headlines.json"
TABLES_FILE = "tables.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,40}$")

_state: dict[str, Path | None] = {"dir": None}


def start(output_dir: str | Path | None) -> Path | None:
    """Point the helpers at ``output_dir`` (empty: store nothing) and clear what an earlier run left there.

    Parameters
    ----------
    output_dir : str or Path or None
        The notebook's artifact folder, as injected by ``kam report``; ``""`` or None for
        interactive use.

    Returns
    -------
    Path or None
        The folder in use, or None when nothing is stored.
    """
    if output_dir is None or str(output_dir).strip() == "":
        _state["dir"] = None
        return None
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for name in (HEADLINES_FILE, TABLES_FILE):
        (folder / name).unlink(missing_ok=True)
    shutil.rmtree(folder / "tables", ignore_errors=True)
    _state["dir"] = folder
    return folder


def output_dir() -> Path | None:
    """The folder the helpers store into (None when not storing)."""
    return _state["dir"]


def _json_value(value):
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, str):
        return value
    raise ParameterError(
        "The 'value' parameter of headline must be a number, a string or None. "
        f"Got {type(value).__name__} instead."
    )


def _read_list(path: Path) -> list:
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return []


def _write_list(path: Path, items: list) -> None:
    path.write_text(json.dumps(items, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class Headline:
    """A report's headline: shown bold in the notebook, listed in the pack's index."""

    text: str
    value: float | int | str | None = None

    def _repr_html_(self) -> str:
        return f'<p class="kam-headline"><strong>{html.escape(self.text)}</strong></p>'

    def __repr__(self) -> str:
        return self.text


def headline(text: str, *, value=None) -> Headline:
    """Record (and show) a headline of the report.

    Parameters
    ----------
    text : str
        One sentence a reader takes away, e.g. ``"Top 20% of accounts bring 74% of revenue"``.
        Shown escaped: client text in it is never interpreted as HTML.
    value : number or str, optional
        The number behind it, for machines (stored in the index data, not shown there).

    Returns
    -------
    Headline
        Displays as bold text; calling again with the same text replaces the earlier one.
    """
    if not isinstance(text, str) or not text.strip():
        raise ParameterError(f"The 'text' parameter of headline must be a non-empty str. Got {text!r} instead.")
    item = Headline(text.strip(), _json_value(value))
    folder = _state["dir"]
    if folder is not None:
        path = folder / HEADLINES_FILE
        items = [h for h in _read_list(path) if h["text"] != item.text]
        items.append({"text": item.text, "value": item.value})
        _write_list(path, items)
    return item


def key_table(name: str, frame: pd.DataFrame, *, description: str = "") -> pd.DataFrame:
    """Record a key table of the report (a sheet of ``tables.xlsx``) and return it for display.

    Parameters
    ----------
    name : str
        Short identifier (letters, digits, ``_`` or ``-``; at most 41 characters), e.g.
        ``"top_accounts"``; the sheet is called ``<notebook number>_<name>``.
    frame : DataFrame
        Stored as it is (index dropped unless named); column names become text.
    description : str, optional
        One line on what the table is, shown in the index.

    Returns
    -------
    DataFrame
        ``frame`` unchanged, so the call can end a cell and show the table.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ParameterError(
            "The 'name' parameter of key_table must be letters, digits, '_' or '-' (at most 41, starting "
            f"with a letter or digit). Got {name!r} instead."
        )
    if not isinstance(frame, pd.DataFrame):
        raise ParameterError(
            f"The 'frame' parameter of key_table must be a pandas DataFrame. Got {type(frame).__name__} instead."
        )
    folder = _state["dir"]
    if folder is not None:
        stored = frame
        if any(n is not None for n in stored.index.names):
            stored = stored.reset_index()
        else:
            stored = stored.reset_index(drop=True)   # a new frame: renaming its columns leaves the caller's
        stored.columns = [str(c) for c in stored.columns]
        (folder / "tables").mkdir(exist_ok=True)
        rel = f"tables/{name}.parquet"
        stored.to_parquet(folder / rel, index=False)
        path = folder / TABLES_FILE
        items = [t for t in _read_list(path) if t["name"] != name]
        items.append({"name": name, "description": str(description), "file": rel})
        _write_list(path, items)
    return frame


# ---------------------------------------------------------------------------- display helpers
def _file_name(value) -> str:
    """Only the file name: absolute paths of the machine stay out of stored outputs."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return Path(str(value)).name


@dataclass(frozen=True)
class QualityView:
    """The row accounting and the data-quality log, ready to show (file names only, escaped)."""

    accounting: pd.DataFrame
    entries: pd.DataFrame

    def _repr_html_(self) -> str:
        acc = self.accounting.to_html(index=False, escape=True, na_rep="")
        if self.entries.empty:
            log = "<p>No data-quality rule fired: every row read was kept as it was.</p>"
        else:
            log = self.entries.to_html(index=False, escape=True, na_rep="")
        return (
            "<h4>Row accounting (rows read = kept + excluded)</h4>" + acc + "<h4>Data-quality log</h4>" + log
        )

    def __repr__(self) -> str:
        parts = ["Row accounting (rows read = kept + excluded):", self.accounting.to_string(index=False), ""]
        if self.entries.empty:
            parts.append("Data-quality log: no rule fired.")
        else:
            parts += ["Data-quality log:", self.entries.to_string(index=False)]
        return "\n".join(parts)


def show_quality(dataset_or_quality) -> QualityView:
    """What came in and what was excluded, for a report: a :class:`QualityView`.

    Parameters
    ----------
    dataset_or_quality : Dataset or DataQuality
        From :func:`kamtools.io.load_dataset` (its ``.quality``) or the log itself.

    Returns
    -------
    QualityView
        ``accounting`` (table, file, rows_read, rows_kept, rows_excluded) and ``entries``
        (table, rule, column, rows, action, detail, examples); file names without folders.
    """
    quality = getattr(dataset_or_quality, "quality", dataset_or_quality)
    accounting = quality.accounting.copy()
    if "file" in accounting.columns:
        accounting["file"] = accounting["file"].map(_file_name)
    entries = quality.entries.copy()
    if "file" in entries.columns:
        entries = entries.drop(columns=["file"])
    return QualityView(accounting.reset_index(drop=True), entries.reset_index(drop=True))


def data_inventory(dataset) -> pd.DataFrame:
    """One row per table that came in: file name, rows, columns, accounts, first and last date.

    Parameters
    ----------
    dataset : Dataset
        From :func:`kamtools.io.load_dataset`.

    Returns
    -------
    DataFrame
        ``table, file, rows, columns, accounts, first_date, last_date``: ``file`` is the file name
        (no folder), or "derived from the ledger"; ``accounts`` the distinct ``account_id`` (NA for
        tables without one); dates from the table's ``date`` column (``period`` for programme
        costs, ``first_contact`` for prospects), ISO text, empty when the table has none.
    """
    rows = []
    sources = getattr(dataset, "sources", {}) or {}
    for name, frame in dataset.tables.items():
        if frame is None:
            continue
        date_col = next((c for c in ("date", "period", "first_contact") if c in frame.columns), None)
        dates = pd.to_datetime(frame[date_col], errors="coerce") if date_col else pd.Series([], dtype="datetime64[ns]")
        has_dates = bool(dates.notna().any())
        rows.append(
            {
                "table": name,
                "file": _file_name(sources[name]) if name in sources else "derived from the ledger",
                "rows": int(len(frame)),
                "columns": int(frame.shape[1]),
                "accounts": int(frame["account_id"].nunique()) if "account_id" in frame.columns else pd.NA,
                "first_date": dates.min().date().isoformat() if has_dates else "",
                "last_date": dates.max().date().isoformat() if has_dates else "",
            }
        )
    out = pd.DataFrame(rows, columns=["table", "file", "rows", "columns", "accounts", "first_date", "last_date"])
    out["accounts"] = out["accounts"].astype("Int64")
    return out
