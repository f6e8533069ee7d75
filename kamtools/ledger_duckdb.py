"""Large ledgers through DuckDB: the loader's rules and the account × period aggregate, streamed.

:func:`kamtools.io.load_dataset` hands the transactions table to this module when
:func:`use_duckdb` says so: ``engine: duckdb`` for the source (or at the top of the config), or,
with ``engine: auto`` (the default), a Parquet folder or a file larger than :data:`SIZE_THRESHOLD`
(200 MiB). Excel workbooks always take the pandas route.

The column map, the derivations, the type parsing, every row rule and the account × period
aggregation run inside DuckDB on the CSV or Parquet files themselves (a folder of Parquet files
is one table), with DuckDB's built-in readers only. The ledger is never loaded into pandas: only
counts, the first offending rows of each rule, the aggregates and small per-account tables come
back. DuckDB runs with ``memory_limit`` :data:`MEMORY_LIMIT`, ``threads = os.cpu_count()`` and a
private spill folder, so a ledger larger than memory streams through. A Parquet ledger is read
from its files at each pass (four: counts, copies, the few lines of copies, sums); a CSV ledger
is parsed once into a DuckDB table of values and check flags (in file order, so a record's number
is its ``rowid``), which the passes read.

What the Dataset holds on this route
------------------------------------
``dataset.ledger.aggregate(freq)``
    The account × period aggregate (``account_id, period, revenue, gross_margin, orders,
    products``), what :func:`kamtools.panel.aggregate_ledger` computes from the kept ledger
    lines, at both frequencies (summed in the same load); :func:`kamtools.panel.build_panel`
    completes it (zero fill, KAM columns) with the same code as the pandas route.
``dataset.tables["transactions"]``
    A small **stand-in**, not the ledger: one row per account, day, product and sign of revenue
    (``revenue > 0`` or not), with ``revenue`` and ``gross_margin`` summed and ``lines`` counted.
    What the analyses take from transactions survives: purchase days and net revenue per day
    (RFM, CLV), revenue and margin per account and period, the first positive purchase of each
    product by each account (cross-sell: a positive line and its stand-in row are both
    ``revenue > 0``). Order ids do not (orders per period are in the aggregate), and
    ``len(dataset.transactions)`` is the stand-in's length: ``lines`` sums to the kept ledger
    lines (``dataset.quality.accounting``). When the stand-in would exceed
    :data:`MAX_STANDIN_ROWS` rows it is summed per account, day and sign without ``product``
    (the cross-sell KPI then says "not available" rather than showing a wrong number);
    ``dataset.ledger.transactions_grain`` says which.
``dataset.ledger``
    A :class:`DuckLedger`: rows read and kept, the window, credit notes, ``aggregate(freq)``.

Rules (identical to :mod:`kamtools.io`; the same message-building code is used)
-------------------------------------------------------------------------------
Fatal, with the same messages (file, column, rule, count, first rows and values, what to do):
missing/empty/binary files, header-only files, bad separators and encodings, duplicate or empty
column names, column maps and derivations naming absent columns, missing required columns,
non-numeric amounts (also derivation operands), unreadable dates (one message for mixed formats),
non yes/no values, no usable row left. Logged and counted exactly as on the pandas route:
empty lines skipped (info), truncated last line, missing account/date/amount, dates after 2262
or before 1677, dates after ``today``, dates outside the window (all excluded, first reason
wins), identical lines with an order id (excluded, first kept) and without (kept, flagged),
identifiers exported as decimals and currency symbols (corrected), derived columns and unused
columns (info), credit notes (info), ledger-derived account attributes (most recent non-empty
value by date then row; conflicts flagged), transactions of accounts missing from the accounts
table (kept, flagged). Row numbers are the file's own (header = row 1; empty lines counted).

How the values are read in SQL (and where pandas still reads them)
------------------------------------------------------------------
Numbers: ``TRY_CAST(... AS DOUBLE)`` accepts what Arrow's cast (the pandas route's fast path)
accepts, once ``1_000`` and ``+-1`` are refused (a test checks random strings); thousands and
decimal separators, currency symbols (€ $ £ ¥, and CHF/EUR/USD/GBP not inside a word) and
``na_values`` as in :mod:`kamtools.io`. Dates: ``YYYY-MM-DD`` and ``YYYY-MM-DD[ T]HH:MM:SS``
are read in SQL (a test checks them against pandas); every other distinct date text (day-first
dates, ``date_format:``, time zones, compact ISO …) is read by the pandas route's own function
and joined back, so it is the same by construction (a date column has few distinct texts).
Derived values are rounded to 10 decimals half-to-even, as numpy does. Identical lines are
found with two 64-bit hashes of the raw cells (see ``_Loader._duplicates``).

Known differences (documented, not silent)
------------------------------------------
* Sums. Up to ``_EXACT_LINES`` (100,000) kept lines, the aggregate is computed from the kept
  lines by :func:`kamtools.panel.aggregate_ledger` itself, so every panel column is identical
  to the pandas route's, bit for bit. Above, DuckDB sums the amounts exactly as 128-bit
  integers of 1e-9 currency units (each amount rounded to 1e-9), so a ledger gives the same
  bits run after run whatever order the threads finish in: integer columns are identical to the
  pandas route's, revenue and margin agree far below a cent (pandas' own float sum depends on the
  data's order: ``np.add.reduceat`` on sorted ledgers, Kahan summation on others).
* Digits are ASCII 0–9 in the decimal-id check (Python's regular expressions also take other
  scripts' digits), and pandas' slow number parser accepts a few oddities (``+6E 0``) refused here;
  both only matter for malformed exports.
* When DuckDB's CSV reader refuses a file that pandas reads (or the reverse), the error is
  worded by re-reading the file with the pandas reader (files up to 1 GiB) so the message is
  the same; if pandas reads it, the table takes the pandas route. Encodings other than UTF-8,
  UTF-16 and Latin-1, and Parquet folders of ``key=value`` partitions, take the pandas route.
* Row numbers assume that a file with empty lines has no line breaks inside quoted fields.

References
----------
DuckDB documentation: ``read_csv`` (``null_padding``, ``nullstr``, ``strict_mode``),
``read_parquet`` (``file_row_number``, ``file_index``), ``HUGEINT`` sums, ``min(x, n)``, configuration
(``memory_limit``, ``threads``, ``temp_directory``, ``preserve_insertion_order``).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import logging
import mmap
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from . import io as _io
from .config import Config, DataSource
from .panel import _check_freq, aggregate_ledger
from .exceptions import DataValidationError
from .quality import DataQuality, format_examples
from .schema import ACCOUNT_ATTRIBUTES, CONTRACT

__all__ = ["DuckLedger", "use_duckdb", "load_ledger", "SIZE_THRESHOLD", "MEMORY_LIMIT", "MAX_STANDIN_ROWS"]

log = logging.getLogger(__name__)

#: ``engine: auto`` sends a transactions file larger than this (bytes) through DuckDB.
SIZE_THRESHOLD = 200 * 2**20
#: DuckDB's memory limit; above it DuckDB spills to a private temporary folder (the process's own
#: peak stays under 4 GB with 100M-line ledgers: see benchmarks/bench_ledger.py).
MEMORY_LIMIT = "3GB"
#: Largest stand-in transactions table (rows) kept with a ``product`` column.
MAX_STANDIN_ROWS = 5_000_000
# up to this many kept lines the aggregate is summed by kamtools.panel.aggregate_ledger from the kept
# lines (bit-identical to the pandas route); above, in DuckDB from partial sums per account, day,
# product and order (the last bits of a float sum depend on the order it is added in)
_EXACT_LINES = 100_000

_TABLE = "transactions"
_DIAGNOSE_LIMIT = 2**30          # reader errors of files up to this size are worded by the pandas reader
_HEAD_BYTES = 1 << 20
_NULL = "\x01\x02kam-null\x03"   # nullstr: an empty field reads as '', a missing (padded) one as NULL
# what str.strip() removes: the characters with str.isspace() (a test checks this list)
_WS = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
       "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_WS_SQL = " || ".join(f"chr({ord(c)})" for c in _WS)
_WS_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in _WS) + "]"
_CUR_SYMBOL = r"€|\$|£|¥"
_CUR_CODE = r"(^|[^A-Za-z])(CHF|EUR|USD|GBP)([^A-Za-z]|$)"
_CUR_HAS = _CUR_SYMBOL + "|" + _CUR_CODE
_TS_MAX = "TIMESTAMP '2262-04-11 00:00:00'"   # pandas' nanosecond range, as kamtools.io._to_ns
_TS_MIN = "TIMESTAMP '1677-09-22 00:00:00'"
_DUCK_ENCODINGS = {"utf-8": "utf-8", "iso8859-1": "latin-1", "utf-16": "utf-16"}

# exclusion reasons in the order the pandas route applies them (the first reason wins)
_REASONS = {
    1: ("truncated last line", None),
    2: ("date in the future", "date"),
    3: ("date before 1677", "date"),
    4: ("missing account_id", "account_id"),
    5: ("missing date", "date"),
    6: ("date in the future", "date"),
    7: ("missing revenue", "revenue"),
    8: ("before the analysis window", "date"),
    9: ("after the analysis window", "date"),
}
_DUPLICATE = "duplicate line"


def _nanos(expr: str) -> str:
    """An amount as a whole number of 1e-9 currency units: summed exactly (a 128-bit integer), so
    the order the threads finish in cannot change the last bit; ~1.4× faster than DECIMAL(38, 9)."""
    return f"CAST(round({expr} * 1e9) AS HUGEINT)"


def _from_nanos(expr: str) -> str:
    return f"(CAST({expr} AS DOUBLE) / 1e9)"


def _lit(text) -> str:
    """A SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _isnan(expr: str) -> str:
    # DuckDB's NaN test misses some NaN bit patterns written by Arrow; a NaN is neither finite nor infinite
    return f"(NOT isfinite({expr}) AND NOT isinf({expr}))"


def _trim(expr: str) -> str:
    """``str.strip()``: every Unicode blank at either end (the full trim only runs on cells that may need it)."""
    return (f"(CASE WHEN ascii({expr}) BETWEEN 33 AND 126 AND ascii({expr}[-1]) BETWEEN 33 AND 126 THEN {expr} "
            f"ELSE trim({expr}, {_WS_SQL}) END)")


def use_duckdb(source: DataSource) -> bool:
    """Whether this transactions source takes the DuckDB route.

    ``engine: duckdb`` → yes (CSV and Parquet); ``engine: pandas`` or an Excel workbook → no;
    ``engine: auto`` → a Parquet folder, or a file larger than :data:`SIZE_THRESHOLD`.
    """
    if source.engine == "pandas" or source.format == "excel":
        return False
    if source.engine == "duckdb":
        return True
    if source.path.is_dir():
        return True
    try:
        return source.path.stat().st_size > SIZE_THRESHOLD
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# What comes back
# --------------------------------------------------------------------------------------------
@dataclass
class DuckLedger:
    """A ledger validated and aggregated in DuckDB (see the module docstring).

    Attributes
    ----------
    file : str
        The ledger's file (or folder) name.
    rows_read, rows_kept : int
        As in the row accounting.
    window : tuple of Timestamp
        First and last kept transaction date (with time of day when the ledger has one).
    n_credit : int
        Kept lines with negative revenue (credit notes).
    accounts : DataFrame
        ``account_id, lines, first_row`` of every account with kept lines, in order of first
        appearance in the ledger.
    transactions_grain : str
        ``"account-day-product"`` or ``"account-day"``: the grain of the stand-in table.
    timings : dict
        Seconds spent in each step of the load (``open``, ``parse``, ``rules``, ``duplicates``,
        ``sums``), for benchmarks and ``kam validate --debug``.
    """

    file: str
    rows_read: int
    rows_kept: int
    window: tuple
    n_credit: int
    accounts: pd.DataFrame
    transactions: pd.DataFrame
    transactions_grain: str
    _attributes: pd.DataFrame = field(repr=False, default=None)
    _conflicts: list = field(repr=False, default_factory=list)
    _aggregates: dict = field(repr=False, default_factory=dict)
    timings: dict = field(repr=False, compare=False, default_factory=dict)

    def aggregate(self, freq: str = "M") -> pd.DataFrame:
        """The account × period aggregate at ``freq`` ("M" or "Q"); both are summed in the load."""
        return self._aggregates[_check_freq(freq)].copy()

    def account_attributes(self, quality: DataQuality, file: str) -> pd.DataFrame:
        """Account attributes from ledger columns (most recent value); logs the conflicts."""
        for attr, n, ids in self._conflicts:
            quality.add("accounts", file, f"accounts with more than one {attr} in the ledger: the most recent is used",
                        column=attr, rows=n, action="flagged", examples=f"accounts {ids}")
        return self._attributes.copy()

    def unknown_accounts(self, known) -> tuple[int, pd.Series]:
        """Lines of accounts not in ``known`` and those accounts in ledger order."""
        unknown = ~_io._isin(self.accounts["account_id"], known)
        return int(self.accounts.loc[unknown, "lines"].sum()), self.accounts.loc[unknown, "account_id"]


# --------------------------------------------------------------------------------------------
# DuckDB session
# --------------------------------------------------------------------------------------------
class _Session:
    """An in-memory DuckDB connection with the memory limit, all cores and a private spill folder."""

    def __enter__(self):
        import duckdb

        self.tmp = tempfile.mkdtemp(prefix="kam-duckdb-")
        self.con = duckdb.connect(config={
            "memory_limit": MEMORY_LIMIT,
            "threads": os.cpu_count() or 1,
            "temp_directory": self.tmp,
            "preserve_insertion_order": True,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        })
        # DuckDB draws a progress bar on stderr for long queries: noise in logs and notebooks
        self.con.execute("SET enable_progress_bar = false")
        return self.con

    def __exit__(self, *exc):
        try:
            self.con.close()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return False


# --------------------------------------------------------------------------------------------
# Reading the source
# --------------------------------------------------------------------------------------------
class _Fallback(Exception):
    """The DuckDB route cannot read this file the way pandas does: take the pandas route."""


@dataclass
class _TextScan:
    """What the pandas reader learns from the raw text beyond the fields."""

    has_quote: bool = False
    ends_with_newline: bool = True
    trailing_empty: bool = False                 # the text ends with an empty line
    empty_lines: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # line numbers
    last_line: str = ""


def _byte_chunks(path: Path, chunk: int = 64 << 20):
    if path.suffix.lower() == ".gz":
        with gzip.open(path, "rb") as fh:
            while True:
                block = fh.read(chunk)
                if not block:
                    return
                yield block
    else:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size == 0:
                return
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                for start in range(0, len(mm), chunk):
                    yield mm[start: start + chunk]


def _scan_text(path: Path, encoding: str) -> _TextScan:
    """Quotes, empty lines and the last line of a CSV: :func:`_scan_quick` when it can, else
    :func:`_scan_lines`."""
    quick = _scan_quick(path, encoding)
    return quick if quick is not None else _scan_lines(path, encoding)


def _scan_lines(path: Path, encoding: str) -> _TextScan:
    """The scan in one streaming pass over the bytes, with the numbers of the empty lines
    (vectorised per 64 MiB block; the line structure of UTF-16 is scanned on its UTF-8 form)."""
    scan = _TextScan()
    chunks = _byte_chunks(path)
    if encoding == "utf-16":   # Excel's "Unicode text": small exports, decoded whole
        chunks = iter([b"".join(chunks).decode("utf-16").encode("utf-8")])
        encoding = "utf-8"
    empties: list[np.ndarray] = []
    lines_before = 0          # newlines seen before the current chunk
    prev = b""                # the last two bytes of the previous chunk
    tail = b""
    for block in chunks:
        if not scan.has_quote and b'"' in block:
            scan.has_quote = True
        joined = prev + block
        if b"\n\n" in joined or b"\n\r\n" in joined:
            data = np.frombuffer(joined, dtype=np.uint8)
            nl = np.flatnonzero(data == 10)
            prev_nl = np.r_[-10, nl[:-1]]
            empty = (nl - prev_nl == 1) | ((nl - prev_nl == 2) & (data[np.maximum(nl - 1, 0)] == 13))
            # line number (header = 1) of the empty line that each such newline ends
            before_prev = lines_before - prev.count(b"\n")
            numbers = before_prev + np.arange(1, len(nl) + 1)
            keep = empty & (nl >= len(prev))
            empties.append(numbers[keep])
        lines_before += block.count(b"\n")
        prev = joined[-2:]
        tail = block[-_HEAD_BYTES:] if len(block) >= _HEAD_BYTES else (tail + block)[-_HEAD_BYTES:]
    scan.empty_lines = np.unique(np.concatenate(empties)) if empties else np.zeros(0, dtype=np.int64)
    return _read_tail(scan, tail, encoding)


def _scan_quick(path: Path, encoding: str) -> _TextScan | None:
    """The scan of a plain (not compressed, not UTF-16) file without empty lines, from searches
    over the mapped file (no copies, no per-line work); None when the file needs the full scan."""
    if encoding == "utf-16" or path.suffix.lower() == ".gz":
        return None
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return None
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            # (a CR is found by memchr; the slower two-byte search runs only on CRLF files)
            if mm.find(b"\n\n") >= 0 or (mm.find(b"\r") >= 0 and mm.find(b"\n\r\n") >= 0):
                return None           # empty lines: their numbers come from the full scan
            scan = _TextScan(has_quote=mm.find(b'"') >= 0)
            tail = mm[max(0, len(mm) - _HEAD_BYTES):]
    return _read_tail(scan, tail, encoding)


def _read_tail(scan: _TextScan, tail: bytes, encoding: str) -> _TextScan:
    """The line end, trailing empty line and last line of a file, from its last bytes."""
    text_tail = tail.decode("utf-8" if encoding == "utf-8" else "latin-1", errors="replace")
    scan.ends_with_newline = text_tail.endswith(("\n", "\r"))
    stripped = text_tail.rstrip("\r\n")
    scan.trailing_empty = scan.ends_with_newline and (text_tail.endswith("\n\n") or text_tail.endswith("\n\r\n"))
    scan.last_line = stripped[stripped.rfind("\n") + 1:].rstrip("\r")
    return scan


@dataclass
class _Source:
    """A transactions file as DuckDB reads it: a relation of rn, blank, short and raw columns."""

    name: str                       # file name for messages
    columns: list[str]              # stripped column names
    types: list[str]                # 'text', 'double', 'bigint', 'bool', 'timestamp', 'date', 'other'
    relation: str                   # SQL: rn, blank, short, c0..ck (raw, NULL = padded)
    n_fields: int
    notes: list = field(default_factory=list)
    empty_lines: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    mode_all: bool = True           # short rows known for every row (else only for the last one)
    last_line_short: bool = False
    ends_with_newline: bool = True
    trailing_empty: bool = False
    csv: bool = True

    def rows(self, rn) -> np.ndarray:
        """File row numbers (header = 1, empty lines counted) of DuckDB record numbers (1-based)."""
        rn = np.asarray(rn, dtype=np.int64)
        if not self.csv or len(self.empty_lines) == 0:
            return rn + 1
        k = np.arange(1, len(self.empty_lines) + 1)
        before = self.empty_lines - 1 - k          # records before each empty line
        return rn + 1 + np.searchsorted(before, rn, side="left")


def _head(path: Path) -> tuple[bytes, bool]:
    """The first bytes of the (decompressed) file and whether that is the whole file."""
    name = path.name
    try:
        if path.suffix.lower() == ".gz":
            with gzip.open(path, "rb") as fh:
                head = fh.read(_HEAD_BYTES + 1)
        else:
            with open(path, "rb") as fh:
                head = fh.read(_HEAD_BYTES + 1)
    except (OSError, EOFError) as exc:
        if path.suffix.lower() == ".gz":
            raise _io._fail(name, f"cannot be decompressed ({exc})", "check the file is complete") from None
        raise _io._fail(name, f"cannot be opened ({getattr(exc, 'strerror', None) or type(exc).__name__})",
                        "check the file is readable and not open in another program") from None
    return head[:_HEAD_BYTES], len(head) <= _HEAD_BYTES


def _open_csv(source: DataSource) -> _Source:
    name = source.path.name
    head, whole = _head(source.path)
    utf16 = head.startswith((b"\xff\xfe", b"\xfe\xff"))
    if not whole:
        # decode whole lines only (a character may straddle the cut)
        cut = head.rfind(b"\n\x00" if utf16 and head.startswith(b"\xff\xfe") else b"\n")
        head = head[: cut + 1] if cut > 0 else head
    text, notes, encoding = _io._decode(source, head)
    sep, header, stripped = _io._csv_header(name, text, source.sep)
    duck_encoding = _DUCK_ENCODINGS.get(codecs.lookup(encoding).name if encoding != "utf-8-sig" else "utf-8")
    if duck_encoding is None:
        raise _Fallback(f"encoding {encoding} is not one of DuckDB's built-in encodings")
    scan = _scan_text(source.path, duck_encoding)
    n = len(header)
    cols = ", ".join(f"{_lit(f'c{i}')}: 'VARCHAR'" for i in range(n))
    read = (f"read_csv({_lit(source.path)}, header = true, auto_detect = false, columns = {{{cols}}}, "
            f"delim = {_lit(sep)}, quote = '\"', escape = '\"', nullstr = {_lit(_NULL)}, null_padding = true, "
            f"encoding = {_lit(duck_encoding)}, strict_mode = true, max_line_size = 33554432"
            "{parallel})")
    fields = ", ".join(f"c{i}" for i in range(n))
    blank = " AND ".join(f"coalesce(c{i}, '') = ''" for i in range(n))
    mode_all = (not utf16) and not scan.has_quote and not scan.trailing_empty
    short = f"c{n - 1} IS NULL" if mode_all else "false"
    relation = f"SELECT ({blank}) AS blank, ({short}) AS short, {fields} FROM {read}"
    last = next(csv.reader([scan.last_line], delimiter=sep), [])
    src = _Source(name=name, columns=stripped, types=["text"] * n, relation=relation, n_fields=n, notes=notes,
                  empty_lines=scan.empty_lines, mode_all=mode_all, last_line_short=0 < len(last) < n,
                  ends_with_newline=scan.ends_with_newline, trailing_empty=scan.trailing_empty)
    return src


def _duck_type(t: str) -> str:
    t = t.upper()
    if t in ("VARCHAR", "STRING", "TEXT") or t.startswith("VARCHAR"):
        return "text"
    if t in ("DOUBLE", "FLOAT", "REAL") or t.startswith("DECIMAL"):
        return "double"
    if t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
             "UBIGINT", "UHUGEINT"):
        return "bigint"
    if t == "BOOLEAN":
        return "bool"
    if t.startswith("TIMESTAMP"):
        return "timestamp"
    if t == "DATE":
        return "date"
    return "other"


def _open_parquet(source: DataSource, con) -> _Source:
    import pyarrow.parquet as pq

    name = source.path.name
    try:
        if source.path.is_dir():
            # only the Parquet files: a folder often also holds a README or SOURCE.txt
            files = sorted(str(f) for f in source.path.rglob("*.parquet") if f.is_file())
            if not files:
                raise _io._fail(name, "the folder holds no .parquet files",
                                "point `path:` at a Parquet file or a folder of .parquet files")
            if any("=" in part for f in files for part in Path(f).relative_to(source.path).parts[:-1]):
                raise _Fallback("partitioned Parquet folder")
        else:
            files = [str(source.path)]
        counts = [pq.ParquetFile(f).metadata.num_rows for f in files]
    except (_Fallback, DataValidationError):
        raise
    except Exception as exc:
        raise _io._fail(name, f"cannot be read as Parquet ({type(exc).__name__}: {exc})",
                        "check the file is complete, or export CSV") from None
    if sum(counts) == 0:
        raise _io._fail(name, "the file has no rows", "re-export the table with its rows")
    listing = "[" + ", ".join(_lit(f) for f in files) + "]"
    read = f"read_parquet({listing}, file_row_number = true)"
    described = con.execute(f"DESCRIBE SELECT * FROM read_parquet({listing})").fetchall()
    raw_names = [r[0] for r in described if r[0] not in ("file_row_number",)]
    stripped = [str(c).strip() for c in raw_names]
    _io._check_header(name, stripped)
    types = [_duck_type(r[1]) for r in described if r[0] in raw_names]
    # pandas reads an integer column with missing values as float64 (1001 → 1001.0): so do we
    ints = [i for i, t in enumerate(types) if t == "bigint"]
    if ints:
        nulls = con.execute("SELECT " + ", ".join(f"count(*) - count({_ident(raw_names[i])})" for i in ints)
                            + f" FROM read_parquet({listing})").fetchone()
        for i, n in zip(ints, nulls):
            if n:
                types[i] = "double"
    offsets = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
    offsets_sql = "[" + ", ".join(str(int(o)) for o in offsets) + "]"
    fields = ", ".join((f"CAST({_ident(c)} AS DOUBLE)" if types[i] == "double" else _ident(c)) + f" AS c{i}"
                       for i, c in enumerate(raw_names))
    relation = (f"SELECT {offsets_sql}[CAST(file_index AS BIGINT) + 1] + file_row_number + 1 AS rn, false AS blank, "
                f"false AS short, {fields} FROM {read}")
    return _Source(name=name, columns=stripped, types=types, relation=relation, n_fields=len(raw_names), csv=False)


# --------------------------------------------------------------------------------------------
# Parsing values in SQL (the rules of kamtools.io._parse_*)
# --------------------------------------------------------------------------------------------
def _double_text(text: str) -> str:
    """TRY_CAST as Arrow's string → float64 cast accepts it (DuckDB also takes '1_000' and '+-1')."""
    return (f"(CASE WHEN contains({text}, '_') OR contains({text}, '+-') THEN NULL "
            f"ELSE TRY_CAST({text} AS DOUBLE) END)")


def _clean_number(text: str, source: DataSource) -> str:
    out = text
    if source.thousands:
        out = f"replace({out}, {_lit(source.thousands)}, '')"
    if source.decimal != ".":
        out = f"replace({out}, {_lit(source.decimal)}, '.')"
    return out


def _strip_currency(text: str) -> str:
    # the look-arounds of kamtools.io._CURRENCY emulated: a code is removed with its non-letter
    # neighbours put back (twice, for adjacent codes); then every blank goes
    out = f"regexp_replace({text}, {_lit(_CUR_SYMBOL)}, '', 'g')"
    for _ in range(2):
        out = f"regexp_replace({out}, {_lit(_CUR_CODE)}, '\\1\\3', 'g')"
    return f"regexp_replace({out}, {_lit(_WS_CLASS + '+')}, '', 'g')"


def _text_number(raw: str, first: str, source: DataSource) -> str:
    """The value of a text cell as kamtools.io._parse_numbers reads it (NULL = none).

    ``first`` holds the plain cast of the cleaned cell as it is: DuckDB's cast skips blanks at the
    ends itself, so only cells it refuses are stripped (the cost of a strip is paid by few rows)
    and tried again, then with currency symbols removed."""
    t = _trim(raw)
    plain = _double_text(_clean_number(t, source))
    retry = _double_text(_strip_currency(_clean_number(t, source)))
    return (f"CASE WHEN isfinite({first}) THEN {first} WHEN {t} = '' THEN NULL WHEN isfinite({plain}) THEN {plain} "
            f"WHEN regexp_matches({t}, {_lit(_CUR_HAS)}) AND isfinite({retry}) THEN {retry} END")


def _fast_date(t: str) -> str:
    """ISO dates (YYYY-MM-DD, YYYY-MM-DD[ T]HH:MM:SS) read in SQL, exactly as pandas' ISO8601 parser
    reads them (checked on 500,000 random near-dates); other texts give NULL and go to pandas."""
    d = "[0-9]"
    day = f"{d * 4}-{d * 2}-{d * 2}"
    return (f"CAST(CASE WHEN length({t}) = 10 AND {t} GLOB '{day}' THEN TRY_CAST({t} AS DATE) "
            f"WHEN length({t}) = 19 AND {t} GLOB '{day}[ T]{d * 2}:{d * 2}:{d * 2}' THEN TRY_CAST({t} AS TIMESTAMP) "
            "END AS TIMESTAMP)")


# --------------------------------------------------------------------------------------------
# The plan: SQL for the ledger's lines, layer by layer
# --------------------------------------------------------------------------------------------
@dataclass
class _Frame:
    """One column of the table as the pandas route holds it after mapping and derivation."""

    name: str
    ty: str             # 'text', 'double', 'bigint', 'bool', 'timestamp', 'date', 'other'
    raw: int | None     # index of the file column; None when derived (then the column is "v_<name>")

    @property
    def ref(self) -> str:
        return f"b{self.raw}" if self.raw is not None else _ident(f"v_{self.name}")

    @property
    def raw_text(self) -> str:
        """The cell as text, not stripped (NULL when missing)."""
        if self.raw is not None and self.ty == "text":
            return f"b{self.raw}"
        return f"CAST({self.ref} AS VARCHAR)"

    @property
    def text(self) -> str:
        """The trimmed text of the cell ('' when empty), as kamtools.io._as_text."""
        if self.raw is not None:
            return f"t{self.raw}"
        return f"coalesce(CAST({self.ref} AS VARCHAR), '')"


class _Plan:
    """The SQL of the ledger's lines, in two parts.

    *Stored* columns (texts → numbers → derived values → canonical values and check flags, plus
    two hashes of the raw cells) do the parsing; for a CSV they are written once to a DuckDB
    table (``ledger_lines``) so the text is parsed once, for Parquet they are computed on the fly.
    The *view* on top adds what depends on the whole column (decimal ids, date texts read by
    pandas, joined from small tables) and the first exclusion reason of each row (``status``).
    """

    def __init__(self, src: _Source, source: DataSource):
        self.src = src
        self.source = source
        self.na = sorted({str(v).strip() for v in source.na_values})
        self.parallel = ""
        self.trunc_rn: int | None = None
        self.casts: list[tuple[str, str]] = []           # f<i>: plain casts of raw text columns
        self.numbers: list[tuple[str, str]] = []         # n<i>: numbers of raw text columns
        self.derived: list[tuple[str, str]] = []         # v_<name>: one layer each
        self.stored: list[tuple[str, str]] = []          # values and flags computed from the cells
        self.stored2: list[tuple[str, str]] = []         # flags over those
        self.view: list[list[tuple[str, str]]] = [[], []]   # flags, then values, over the stored columns
        self.datemaps: dict[str, pd.DataFrame] = {}      # date column -> texts read by pandas
        self.dropped_rn = np.zeros(0, dtype=np.int64)
        self.status_sql = "CASE WHEN blank THEN -1 ELSE 0 END"
        self.canon: set[str] = set()
        self.materialized = False

    # -- the raw cells ---------------------------------------------------------------------------
    def _raw(self, i: int) -> str:
        c = f"c{i}"
        if self.src.csv:
            c = f"coalesce({c}, '')"
        if self.na and self.src.types[i] == "text":
            listing = ", ".join(_lit(v) for v in self.na)
            c = f"CASE WHEN {_trim(c)} IN ({listing}) THEN '' ELSE {c} END"
        return c

    def relation(self, rn: bool = True) -> str:
        """(rn,) blank, short and the fields c<i> of every record, streamed from the file."""
        if not rn or not self.src.csv:
            return self.src.relation.replace("{parallel}", self.parallel)
        fields = ", ".join(f"c{i}" for i in range(self.src.n_fields))
        # the CSV reader keeps the file's order; counting the records needs one ordered stream
        return f"SELECT row_number() OVER () AS rn, blank, short, {fields} FROM ({self.relation(rn=False)})"

    def base_sql(self, rn: bool = True) -> str:
        """(rn,) blank, short and the raw cells b<i> (na_values blanked) of every record."""
        raws = ", ".join(f"{self._raw(i)} AS b{i}" for i in range(self.src.n_fields))
        return f"SELECT {'rn, ' if rn else ''}blank, short, {raws} FROM ({self.relation(rn)})"

    def texts_sql(self, rn: bool = True, only: str | None = None) -> str:
        """The raw cells and their trimmed texts t<i> ('' when empty), as kamtools.io._as_text.

        ``only``: keep just the records whose raw-cell hash is in this SQL set (before parsing)."""
        texts = ", ".join(
            (_trim(f"b{i}") if self.src.types[i] == "text" else f"coalesce(CAST(b{i} AS VARCHAR), '')") + f" AS t{i}"
            for i in range(self.src.n_fields))
        base = self.base_sql(rn)
        if only is not None:
            cells = ", ".join(f"b{i}" for i in range(self.src.n_fields))
            base = f"SELECT * FROM ({base}) WHERE hash({cells}) IN {only}"
        return f"SELECT *, {texts} FROM ({base})"

    def stored_sql(self, rn: bool = True, only: str | None = None) -> str:
        """The parsed values and flags of every record (read from ``ledger_lines`` once written)."""
        if self.materialized:
            return "SELECT rowid + 1 AS rn, * FROM ledger_lines" + (f" WHERE h IN {only}" if only else "")
        n = self.src.n_fields
        sql = self.texts_sql(rn, only)
        for layer in (self.casts, self.numbers):
            if layer:
                sql = f"SELECT *, {', '.join(f'{e} AS {a}' for a, e in layer)} FROM ({sql})"
        for alias, expr in self.derived:   # one layer each: a derivation may use an earlier one
            sql = f"SELECT *, {expr} AS {_ident(alias)} FROM ({sql})"
        cells = ", ".join(f"b{i}" for i in range(n))
        backwards = ", ".join(f"b{i}" for i in reversed(range(n)))
        cols = "".join(f", {e} AS {_ident(a)}" for a, e in self.stored if not a.startswith("_t_"))
        texts = "".join(f", {e} AS {_ident(a)}" for a, e in self.stored if a.startswith("_t_"))
        # two hashes of the raw cells, combined in opposite orders from different seeds
        sql = (f"SELECT {'rn, ' if rn else ''}blank, short, hash({cells}) AS h, hash(7919, {backwards}) AS h2"
               f"{cols}{texts} FROM ({sql})")
        if self.stored2:
            keep = "* EXCLUDE (" + ", ".join(_ident(a) for a, _ in self.stored if a.startswith("_t_")) + ")" \
                if texts else "*"
            sql = f"SELECT {keep}{''.join(f', {e} AS {_ident(a)}' for a, e in self.stored2)} FROM ({sql})"
        return sql

    def materialize(self, q) -> None:
        """Parse a CSV once into a DuckDB table of values and flags (spilled to disk beyond the
        memory limit). The table keeps the file's order, so a record's number is its rowid + 1."""
        q(f"CREATE OR REPLACE TEMP TABLE ledger_lines AS {self.stored_sql(rn=False)}")
        self.materialized = True

    def lines_sql(self, only: str | None = None) -> str:
        """Every line with its canonical values, check flags and ``status`` (0 = kept so far)."""
        sql = self.stored_sql(only=only)
        if self.datemaps:
            cols = "".join(f", dm_{k}.value AS {_ident('dmv_' + c)}, dm_{k}.bad AS {_ident('dmb_' + c)}, "
                           f"dm_{k}.late AS {_ident('dml_' + c)}, dm_{k}.early AS {_ident('dme_' + c)}"
                           for k, c in enumerate(self.datemaps))
            joins = "".join(f" LEFT JOIN dm_{k} ON s.{_ident('_slow_' + c)} = dm_{k}.txt"
                            for k, c in enumerate(self.datemaps))
            sql = f"SELECT s.*{cols} FROM ({sql}) s{joins}"
        for layer in self.view:
            if layer:
                sql = f"SELECT *, {', '.join(f'{e} AS {_ident(a)}' for a, e in layer)} FROM ({sql})"
        return f"SELECT *, {self.status_sql} AS status FROM ({sql})"

    def register(self, con) -> None:
        """(Re)create the small helper tables in a connection."""
        for k, (c, frame) in enumerate(self.datemaps.items()):
            con.register(f"dm_{k}_df", frame)
            con.execute(f"CREATE OR REPLACE TEMP TABLE dm_{k} AS SELECT txt, CAST(value AS TIMESTAMP) AS value, "
                        f"bad, late, early FROM dm_{k}_df")
            con.unregister(f"dm_{k}_df")
        if len(self.dropped_rn):
            con.register("dropped_df", pd.DataFrame({"rn": self.dropped_rn}))
            con.execute("CREATE OR REPLACE TEMP TABLE dropped AS SELECT rn FROM dropped_df")
            con.unregister("dropped_df")

    def kept_sql(self) -> str:
        if len(self.dropped_rn):
            return (f"SELECT l.* FROM ({self.lines_sql()}) l LEFT JOIN dropped d ON l.rn = d.rn "
                    "WHERE l.status = 0 AND d.rn IS NULL")
        return f"SELECT * FROM ({self.lines_sql()}) WHERE status = 0"


def _typed_aggregate(agg) -> pd.DataFrame:
    """The dtypes :func:`kamtools.panel.aggregate_ledger` returns, from an Arrow table."""
    return pd.DataFrame({
        "account_id": _text_values(agg["account_id"]),
        "period": _time_values(agg["period"]),
        "revenue": _float_values(agg["revenue"]),
        "gross_margin": _float_values(agg["gross_margin"]),
        "orders": np.asarray(agg["orders"], dtype="int64"),
        "products": np.asarray(agg["products"], dtype="int64"),
    })


_EMPTY_AGGREGATE = {"account_id": "string", "period": "timestamp[us]", "revenue": "float64",
                    "gross_margin": "float64", "orders": "int64", "products": "int64"}


# Arrow columns (DuckDB results) to the pandas route's dtypes, without Python objects
def _text_values(values) -> pd.api.extensions.ExtensionArray:
    return pd.array(values, dtype="string")   # NULL -> <NA>


def _time_values(values) -> np.ndarray:
    return values.to_numpy().astype("datetime64[ns]")


def _float_values(values) -> np.ndarray:
    return values.to_numpy().astype("float64")   # NULL -> NaN


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------
class _Retry(Exception):
    """Start again with the serial CSV reader (quoted line breaks with short rows)."""


def load_ledger(source: DataSource, config: Config, quality: DataQuality, today: pd.Timestamp) -> DuckLedger | None:
    """Validate and aggregate the transactions source in DuckDB.

    Parameters
    ----------
    source : DataSource
        The config's transactions source (CSV file, Parquet file or folder of Parquet files).
    config : Config
    quality : DataQuality
        The log the entries go to, in the order the pandas route writes them.
    today : Timestamp
        Reference date of the "date in the future" rule.

    Returns
    -------
    DuckLedger or None
        None when the file must take the pandas route (see the module docstring); nothing has
        been logged then.

    Raises
    ------
    DataValidationError
        Fatal problems, with the pandas route's messages.
    """
    _io._check_path(source)
    parallel = ""
    for _ in range(2):
        local = DataQuality()
        try:
            with _Session() as con:
                ledger = _Loader(source, config, local, today, con, parallel).run()
            break
        except _Retry:
            parallel = ", parallel = false"
        except _Fallback as why:
            log.info("%s: pandas route (%s)", source.path.name, why)
            return None
    quality._entries.extend(local._entries)
    quality._accounting.update(local._accounting)
    return ledger


class _Loader:
    """The steps of kamtools.io._TableLoad for the ledger, in SQL, writing the same log entries.

    The plan (SQL) is built from the column names; one pass then counts every rule (grouped by
    each row's first exclusion reason) and the log is written from those counts in the pandas
    route's order. One more pass finds duplicate lines, one sums the aggregate, one the stand-in.
    """

    def __init__(self, source: DataSource, config: Config, quality: DataQuality, today: pd.Timestamp, con,
                 parallel: str = ""):
        self.source = source
        self.config = config
        self.quality = quality
        self.today = today
        self.con = con
        self.parallel = parallel
        self.file = source.path.name
        self.client_name: dict[str, str] = {}
        self.id_floaty: dict[str, int] = {}
        self.steps: list = []

    # -- SQL, with reader errors worded as the pandas route words them ----------------------------
    def q(self, sql: str, *, arrow: bool = False):
        """Run ``sql``; with ``arrow`` return its result as an Arrow table (text columns come to
        pandas without Python objects: ~3x faster than ``.df()`` for the stand-in)."""
        import duckdb

        try:
            if arrow:
                return self.con.sql(sql).to_arrow_table()
            return self.con.execute(sql)
        except duckdb.Error as exc:
            message = str(exc)
            if "null_padding in conjunction with quoted new lines" in message and not self.parallel:
                raise _Retry() from None
            if isinstance(exc, (duckdb.InvalidInputException, duckdb.ConversionException, duckdb.IOException)) \
                    or "CSV" in message:
                self._diagnose(message)
            raise

    def _diagnose(self, message: str) -> None:
        first = message.strip().splitlines()[0] if message.strip() else "unknown error"
        if _size(self.source.path) <= _DIAGNOSE_LIMIT:
            _io._read_source(self.source)   # raises the pandas route's DataValidationError
            raise _Fallback(f"DuckDB reads the file differently ({first})")
        raise _io._fail(self.file, f"cannot be read ({first})",
                        "check the separator, quoting and encoding of the export (or set `engine: pandas`)") \
            from None

    def examples(self, rn, values=None) -> str:
        return format_examples(self.src.rows(rn), values)

    def first(self, cond: str, value: str | None = None, limit: int = 5) -> tuple[list, list]:
        """Record numbers of the first rows meeting ``cond`` and, if asked, a raw SQL value of each."""
        rns = [r[0] for r in self.q(f"SELECT rn FROM ({self.plan.lines_sql()}) WHERE status >= 0 AND ({cond}) "
                                    f"ORDER BY rn LIMIT {limit}").fetchall()]
        if value is None or not rns:
            return rns, [None] * len(rns)
        found = dict(self.q(f"SELECT rn, {value} FROM ({self.plan.texts_sql()}) "
                            f"WHERE rn IN ({', '.join(map(str, rns))})").fetchall())
        return rns, [found.get(r) for r in rns]

    def not_trunc(self) -> str:
        return "true" if self.plan.trunc_rn is None else f"(rn <> {self.plan.trunc_rn})"

    # -- the steps ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _step(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start

    def run(self) -> DuckLedger:
        self.timings: dict[str, float] = {}
        start = time.perf_counter()
        ledger = self._run()
        # "open" is what the named steps leave: reading the header, scanning the text, the plan
        opened = time.perf_counter() - start - sum(self.timings.values())
        ledger.timings = {"open": opened, **self.timings}
        log.debug("%s: DuckDB route, %s", self.file, ", ".join(f"{k} {v:.2f} s" for k, v in ledger.timings.items()))
        return ledger

    def _run(self) -> DuckLedger:
        source = self.source
        self.src = _open_parquet(source, self.con) if source.format == "parquet" else _open_csv(source)
        self.plan = _Plan(self.src, source)
        self.plan.parallel = self.parallel
        self._truncated()
        try:
            frames = self._map_columns()
            frames = self._derive_plan(frames)
            _io._check_required(self.file, _TABLE, [f.name for f in frames])
        except DataValidationError:
            # a file without rows says so before its column names are checked
            if self.src.csv:
                n, blank = self.q(f"SELECT count(*), coalesce(count_if(blank), 0) FROM ({self.plan.base_sql()})"
                                  ).fetchone()
                if n == blank:
                    raise self._no_rows() from None
            if self.steps:
                self._derive_checks(self._count({}, derive_only=True))
            raise
        self._coerce_plan(frames)
        self._status_plan()
        if self.src.csv:
            with self._step("parse"):
                self.plan.materialize(self.q)   # the text is parsed once; every pass reads the table
        with self._step("rules"):
            counts = self._count_all()
            self._log_reading()
            self._derive_checks(counts)
            self._coerce_checks(counts)
            self._row_rules()
        with self._step("duplicates"):
            self._duplicates()
        with self._step("sums"):
            return self._finish()

    def _no_rows(self) -> DataValidationError:
        return _io._fail(self.file, "the file has a header but no data rows", "re-export the table with its rows")

    def _truncated(self) -> None:
        """A last line without line end and with fewer fields than the header is a cut-off export."""
        src, plan = self.src, self.plan
        if not src.csv or src.ends_with_newline:
            return
        if src.mode_all:
            row = self.q(f"SELECT rn, short FROM ({plan.base_sql()}) WHERE NOT blank ORDER BY rn DESC LIMIT 1"
                         ).fetchone()
            truncated = row is not None and bool(row[1])
        else:
            row = self.q(f"SELECT rn, blank FROM ({plan.base_sql()}) ORDER BY rn DESC LIMIT 1").fetchone()
            truncated = row is not None and not row[1] and src.last_line_short
        if truncated:
            plan.trunc_rn = int(row[0])

    def _map_columns(self) -> list[_Frame]:
        mapping = self.config.columns.get(_TABLE, {})
        _io._check_column_map(self.file, _TABLE, list(self.src.columns), mapping)
        self.client_name = {t: c for c, t in mapping.items()}
        return [_Frame(mapping.get(c, c), self.src.types[i], i) for i, c in enumerate(self.src.columns)]

    def _number(self, frame: _Frame) -> tuple[str, str, str]:
        """(value, bad, corrected) SQL over the stored layers (kamtools.io._parse_numbers)."""
        if frame.raw is None:                          # derived: float already, non-finite made NULL
            return frame.ref, "false", "false"
        ref = frame.ref
        if frame.ty in ("double", "bigint"):
            v = f"CAST({ref} AS DOUBLE)"
            return f"(CASE WHEN {_isnan(v)} THEN NULL ELSE {v} END)", f"coalesce(isinf({v}), false)", "false"
        if frame.ty == "bool":
            return "CAST(NULL AS DOUBLE)", f"({ref} IS NOT NULL)", "false"
        i = frame.raw
        raw = f"coalesce({frame.raw_text}, '')"
        alias, first = f"n{i}", f"f{i}"
        if alias not in dict(self.plan.numbers):
            self.plan.casts.append((first, _double_text(_clean_number(raw, self.source))))
            self.plan.numbers.append((alias, _text_number(raw, first, self.source)))
        t = _trim(raw)
        bad = f"(CASE WHEN {alias} IS NOT NULL THEN false ELSE {t} <> '' END)"
        corrected = (f"(CASE WHEN isfinite({first}) OR {alias} IS NULL THEN false "
                     f"ELSE NOT coalesce(isfinite({_double_text(_clean_number(t, self.source))}), false) END)")
        return alias, bad, corrected

    def _derive_plan(self, frames: list[_Frame]) -> list[_Frame]:
        for target, rule in self.config.derive.get(_TABLE, {}).items():
            (op, operands), = rule.items()
            names = [f.name for f in frames]
            values = []
            for operand in operands:
                if isinstance(operand, (int, float)) and not isinstance(operand, bool):
                    values.append(f"CAST({float(operand)!r} AS DOUBLE)")
                    continue
                if operand not in names:
                    raise _io._unknown_operand(self.file, _TABLE, target, operand, names)
                frame = frames[names.index(operand)]
                value, bad, corrected = self._number(frame)
                k = len(self.steps)
                self.plan.stored += [(f"_dbad{k}", bad), (f"_dcor{k}", corrected)]
                self.steps.append(("operand", target, operand, frame, f'"_dbad{k}"', f'"_dcor{k}"'))
                values.append(value)
            if op == "multiply":
                result = " * ".join(values)
            elif op == "add":
                result = " + ".join(values)
            elif op == "subtract":
                result = f"{values[0]} - {values[1]}"
            elif op == "divide":
                result = f"{values[0]} / nullif({values[1]}, 0)"
            elif op == "negate":
                result = f"-({values[0]})"
            else:  # copy
                result = values[0]
            result = f"CAST(({result}) AS DOUBLE)"
            # x / 0 is not a number; then rounded to 10 decimals half-to-even, as numpy does
            result = f"CASE WHEN isfinite({result}) THEN round_even({result} * 1e10, 0) / 1e10 END"
            self.plan.derived.append((f"v_{target}", result))
            replaced = target in names
            new = _Frame(target, "double", None)
            frames = [new if f.name == target else f for f in frames] if replaced else frames + [new]
            self.client_name.pop(target, None)
            self.steps.append(("derived", target, op, operands, replaced))
        return frames

    def _derive_aggregates(self) -> dict[str, str]:
        checks = {}
        for k, step in enumerate(self.steps):
            if step[0] == "operand":
                checks[f"dbad{k}"] = f"count_if({step[4]} AND {self.not_trunc()})"
                checks[f"dcor{k}"] = f"count_if({step[5]})"
        return checks

    def _derive_checks(self, counts: dict[str, int]) -> None:
        for k, step in enumerate(self.steps):
            if step[0] == "operand":
                _, target, operand, frame, bad, corrected = step
                if counts[f"dbad{k}"]:
                    raise self._number_error(operand, frame, f"{bad} AND {self.not_trunc()}", counts[f"dbad{k}"],
                                             f"must be numeric to derive '{target}'")
                if counts[f"dcor{k}"]:
                    self.quality.add(_TABLE, self.file, "currency symbols removed from amounts", column=str(operand),
                                     rows=counts[f"dcor{k}"], action="corrected")
            else:
                _, target, op, operands, replaced = step
                self.quality.add(_TABLE, self.file, _io._derive_rule(target, op, operands), column=target,
                                 rows=self.n_read, action="info",
                                 detail="replaces the file's column of that name" if replaced else "")

    # -- coerce -----------------------------------------------------------------------------------
    def _coerce_plan(self, frames: list[_Frame]) -> None:
        spec = CONTRACT[_TABLE]
        names = [f.name for f in frames]
        keep = [c.name for c in spec.columns if c.name in names]
        keep += [c for c in ("cost",) + ACCOUNT_ATTRIBUTES if c in names and c not in keep]
        self.dropped = [c for c in names if c not in keep]
        self.frames = {f.name: f for f in frames}
        self.keep = keep
        self.kinds = {c: (spec.column(c) if c in spec.names else _io._extra_column(c)).kind for c in keep}
        self.date_cols = [c for c in keep if self.kinds[c] == "date"]
        for c in keep:
            self._column(c, self.kinds[c])
        if "cost" in keep and "gross_margin" not in keep:
            self.plan.view[1].append(("gross_margin", '("revenue" - "cost")'))
        self.plan.canon = set(keep) | ({"gross_margin"} if "cost" in keep else set())
        self.attrs = [a for a in ACCOUNT_ATTRIBUTES if a in keep]
        # a row is in play unless truncated or, once the date column is read, dated outside 1677–2262
        far = 'coalesce("_late_date" OR "_early_date", false)'
        self.alive = {c: self.not_trunc() if keep.index(c) <= keep.index("date") else f"{self.not_trunc()} AND NOT {far}"
                      for c in keep}

    def _column(self, c: str, kind: str) -> None:
        """The SQL of canonical column ``c``: stored value and flags, or view flags and value."""
        frame, plan = self.frames[c], self.plan
        ref, t, ty = frame.ref, frame.text, frame.ty
        stored, view = plan.stored, plan.view
        if kind == "id":
            if ty == "double":
                stored += [(f"_id_{c}", ref), (f"_floaty_{c}", f"({ref} IS NOT NULL AND NOT {_isnan(ref)})"),
                           (f"_odd_{c}", f"({ref} IS NOT NULL AND NOT {_isnan(ref)} AND (isinf({ref}) OR "
                                         f"{ref} <> floor({ref}) OR abs({ref}) >= 9223372036854775808.0))")]
            elif ty == "bool":
                stored.append((f"_id_{c}", f"CASE WHEN {ref} THEN 'True' WHEN NOT {ref} THEN 'False' ELSE '' END"))
            else:
                stored.append((f"_id_{c}", t))
                if ty == "text":
                    stored.append((f"_floaty_{c}", f"CASE WHEN contains({t}, '.') THEN "
                                                   f"regexp_full_match({t}, '[0-9]+\\.0+') ELSE false END"))
            view[1].append((c, self._id_value(c)))
        elif kind == "text":
            if ty == "double":
                value = f"CASE WHEN {_isnan(ref)} THEN NULL ELSE CAST({ref} AS VARCHAR) END"
            elif ty == "bool":
                value = f"CASE WHEN {ref} THEN 'True' WHEN NOT {ref} THEN 'False' END"
            else:
                value = f"nullif({t}, '')"
            stored.append((c, value))
        elif kind == "bool":
            if ty == "bool":
                stored += [(f"_bad_{c}", "false"), (c, ref)]
            else:
                low = f"regexp_replace(lower({t}), '\\.0+$', '')"
                true = ", ".join(_lit(v) for v in sorted(_io._TRUE))
                false = ", ".join(_lit(v) for v in sorted(_io._FALSE - {""}))
                every = ", ".join(_lit(v) for v in sorted(_io._TRUE | _io._FALSE))
                stored += [(f"_bad_{c}", f"NOT ({low} IN ({every}))"),
                           (c, f"CASE WHEN {low} IN ({true}) THEN true WHEN {low} IN ({false}) THEN false END")]
        elif kind == "date":
            if frame.raw is not None and ty in ("text", "date", "other"):
                # ISO dates as written are read in SQL; every other text (also a padded ISO date)
                # goes to pandas, stripped, through the datemap
                raw = frame.raw_text
                fast = "CAST(NULL AS TIMESTAMP)" if self.source.date_format else _fast_date(raw)
                stored += [(f"_ts_{c}", fast), (f"_nd_{c}", "false"), (f"_t_{c}", raw)]
                self.plan.stored2.append(
                    (f"_slow_{c}", f'CASE WHEN "_ts_{c}" IS NULL THEN nullif({_trim(_ident("_t_" + c))}, \'\') END'))
            elif ty == "timestamp":
                stored += [(f"_ts_{c}", f"CAST({ref} AS TIMESTAMP)"), (f"_nd_{c}", "false")]
                self.plan.stored2.append((f"_slow_{c}", "CAST(NULL AS VARCHAR)"))
            else:  # a number or yes/no is not a date
                nd = f"({ref} IS NOT NULL)" if ty == "bool" else \
                    f"({ref} IS NOT NULL AND NOT {_isnan(f'CAST({ref} AS DOUBLE)')})"
                stored += [(f"_ts_{c}", "CAST(NULL AS TIMESTAMP)"), (f"_nd_{c}", nd)]
                self.plan.stored2.append((f"_slow_{c}", "CAST(NULL AS VARCHAR)"))
            self._date_view(c)
        else:  # money / number
            value, bad, corrected = self._number(frame)
            stored += [(f"_bad_{c}", bad), (f"_cor_{c}", corrected), (c, value)]

    def _date_view(self, c: str) -> None:
        """A date's value and flags: SQL-read ISO dates, or the pandas-read text from its datemap."""
        view = self.plan.view
        view[0] = [f for f in view[0] if f[0] not in (f"_raw_{c}", f"_bad_{c}", f"_late_{c}", f"_early_{c}")]
        view[1] = [f for f in view[1] if f[0] != c]
        ts, slow, nd = _ident(f"_ts_{c}"), _ident(f"_slow_{c}"), _ident(f"_nd_{c}")
        if c in self.plan.datemaps:
            dmv, dmb, dml, dme = (_ident(f"{p}_{c}") for p in ("dmv", "dmb", "dml", "dme"))
            raw = f"coalesce({ts}, {dmv})"
            bad = f"({nd} OR ({slow} IS NOT NULL AND coalesce({dmb}, true)))"
            late = f"(coalesce({ts} > {_TS_MAX}, false) OR coalesce({dml}, false))"
            early = f"(coalesce({ts} < {_TS_MIN}, false) OR coalesce({dme}, false))"
        else:
            raw, bad = ts, f"({nd} OR {slow} IS NOT NULL)"
            late, early = f"coalesce({ts} > {_TS_MAX}, false)", f"coalesce({ts} < {_TS_MIN}, false)"
        view[0] += [(f"_raw_{c}", raw), (f"_bad_{c}", bad), (f"_late_{c}", late), (f"_early_{c}", early)]
        view[1].append((c, f'CASE WHEN "_late_{c}" OR "_early_{c}" THEN NULL ELSE "_raw_{c}" END'))

    def _id_value(self, c: str) -> str:
        frame = self.frames[c]
        idc = _ident(f"_id_{c}")
        floaty = bool(self.id_floaty.get(c))
        if frame.ty == "double":
            inner = f"CAST(CAST({idc} AS BIGINT) AS VARCHAR)" if floaty else f"CAST({idc} AS VARCHAR)"
            return f"CASE WHEN {_isnan(idc)} THEN NULL ELSE {inner} END"
        return f"nullif(regexp_replace({idc}, '\\.0+$', ''), '')" if floaty else f"nullif({idc}, '')"

    def _status_plan(self) -> None:
        """The first exclusion reason of each row, in the pandas route's order (-1: an empty record)."""
        plan, config = self.plan, self.config
        after = (self.today + pd.Timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
        cases = {-1: "blank", 1: None if plan.trunc_rn is None else f"rn = {plan.trunc_rn}",
                 2: '"_late_date"', 3: '"_early_date"', 4: '"account_id" IS NULL', 5: '"date" IS NULL',
                 6: f'"date" > TIMESTAMP {_lit(after)}', 7: '"revenue" IS NULL', 8: None, 9: None}
        if config.window_start is not None:
            cases[8] = f'"date" < TIMESTAMP {_lit(pd.Timestamp(config.window_start).strftime("%Y-%m-%d"))}'
        if config.window_end is not None:
            end = pd.Timestamp(config.window_end) + pd.Timedelta(days=1)
            cases[9] = f'"date" >= TIMESTAMP {_lit(end.strftime("%Y-%m-%d"))}'
        plan.status_sql = "CASE " + " ".join(f"WHEN {cond} THEN {k}" for k, cond in cases.items() if cond) \
            + " ELSE 0 END"

    # -- the counting pass ---------------------------------------------------------------------
    def _count(self, extra: dict[str, str], derive_only: bool = False) -> dict[str, int]:
        """One pass: per-status counts and every check, summed over the non-blank records."""
        aggregates = dict(self._derive_aggregates())
        if not derive_only:
            aggregates.update(extra)
        names = list(aggregates)
        select = "".join(f", {sql} AS {_ident(name)}" for name, sql in aggregates.items())
        if derive_only:
            sql = (f"SELECT -2 AS status, count(*), [], 0, 0, 0, NULL, NULL, 0{select} "
                   f"FROM ({self.plan.stored_sql()}) WHERE NOT blank")
        else:
            sql = (f'SELECT status, count(*), min(rn, 5), count_if(short), min(rn), count_if("revenue" < 0), '
                   f'min("date"), max("date"), max(rn){select} FROM ({self.plan.lines_sql()}) GROUP BY status')
        rows = self.q(sql).fetchall()
        if derive_only:
            self.n_read = int(rows[0][1])
        totals = {name: 0 for name in names}
        self.status = {}
        for r in rows:
            k = int(r[0])
            self.status[k] = r[:9]
            if k != -1:
                for name, v in zip(names, r[9:]):
                    totals[name] += int(v or 0)
        return totals

    def _count_all(self) -> dict[str, int]:
        checks = {}
        stored = dict(self.plan.stored)
        for c in self.keep:
            kind, alive = self.kinds[c], self.alive[c]
            if kind in ("money", "number", "bool", "date"):
                checks[f"bad:{c}"] = f'count_if("_bad_{c}" AND {alive})'
            if kind in ("money", "number"):
                checks[f"cor:{c}"] = f'count_if("_cor_{c}")'
            if kind == "date":
                checks[f"late:{c}"] = f'count_if("_late_{c}" AND {alive})'
                checks[f"early:{c}"] = f'count_if("_early_{c}" AND {alive})'
                checks[f"slow:{c}"] = f'count("_slow_{c}")'
            if kind == "id" and f"_floaty_{c}" in stored:
                checks[f"floaty:{c}"] = f'count_if("_floaty_{c}")'
                if f"_odd_{c}" in stored:
                    checks[f"odd:{c}"] = f'count_if("_odd_{c}")'
        counts = self._count(checks)
        if any(counts.get(f"slow:{c}") for c in self.date_cols):
            self._datemaps(counts)
            counts = self._count(checks)
        for c in self.keep:
            if self.kinds[c] != "id" or not counts.get(f"floaty:{c}"):
                continue
            if self.frames[c].ty == "text":
                idc = _ident(f"_id_{c}")
                other = self.q(f"SELECT count_if({idc} <> '' AND NOT regexp_full_match({idc}, '[0-9]+(\\.0+)?')) "
                               f"FROM ({self.plan.lines_sql()}) WHERE NOT blank").fetchone()[0]
                floaty = not other
            else:
                floaty = not counts.get(f"odd:{c}")
            if floaty:
                self.id_floaty[c] = counts[f"floaty:{c}"]
                self.plan.view[1] = [(a, self._id_value(c) if a == c else e) for a, e in self.plan.view[1]]
        self.n_read = sum(int(r[1]) for k, r in self.status.items() if k != -1)
        if self.n_read == 0:
            raise self._no_rows()
        return counts

    def _datemaps(self, counts: dict[str, int]) -> None:
        """Distinct date texts SQL does not read, read by kamtools.io._parse_dates and joined back."""
        plan = self.plan
        maps = {}
        for c in self.date_cols:
            if counts.get(f"slow:{c}"):
                slow = _ident(f"_slow_{c}")
                texts = self.q(f"SELECT DISTINCT {slow} AS txt FROM ({plan.lines_sql()}) "
                               f"WHERE NOT blank AND {slow} IS NOT NULL").df()["txt"]
                texts = pd.Series(texts.astype(object).to_numpy(), dtype=object)
                values, bad, late, early = _io._parse_dates(texts, self.source)
                maps[c] = pd.DataFrame({
                    "txt": texts.astype(str).to_numpy(), "value": values.to_numpy(dtype="datetime64[us]"),
                    "bad": np.asarray(bad, dtype=bool), "late": np.asarray(late, dtype=bool),
                    "early": np.asarray(early, dtype=bool)})
        plan.datemaps.update(maps)
        plan.register(self.con)
        for c in maps:
            self._date_view(c)

    # -- writing the log in the pandas route's order -----------------------------------------------
    def _log_reading(self) -> None:
        for rule, detail in self.src.notes:
            self.quality.add(_TABLE, self.file, rule, rows=0, action="info", detail=detail)
        if self.src.csv:
            blank = self.status.get(-1)
            blank_lines = (int(blank[1]) if blank is not None else 0) + len(self.src.empty_lines)
            if blank_lines:
                self.quality.add(_TABLE, self.file, f"{blank_lines:,} empty line(s) skipped (not counted as rows)",
                                 rows=0, action="info", detail="")
        if self.plan.trunc_rn is not None:
            self.quality.add(_TABLE, self.file, "truncated last line", column=None, rows=1, action="excluded",
                             detail="the last line has fewer fields than the header and no line end: "
                                    "the export was cut off; re-export the file",
                             examples=self.examples([self.plan.trunc_rn]))

    def _coerce_checks(self, counts: dict[str, int]) -> None:
        if self.dropped:
            self.quality.add(_TABLE, self.file, "columns not kept (unused, or only inputs of derivations)", rows=0,
                             action="info", detail=_io._not_kept_detail(self.dropped))
        for c in self.keep:
            kind, ok = self.kinds[c], self.alive[c]
            if kind == "id" and self.id_floaty.get(c):
                self.quality.add(_TABLE, self.file, "identifiers exported as decimals ('1001.0' → '1001')",
                                 column=c, rows=self.id_floaty[c], action="corrected",
                                 detail="export identifiers as text to keep leading zeros")
            elif kind == "bool" and counts[f"bad:{c}"]:
                rn, shown = self.first(f'"_bad_{c}" AND {ok}', self.frames[c].ref)
                raise _io._value_error(self.file, _io._column_label(self.client_name, c),
                                       "must be yes/no (true/false, 1/0)", counts[f"bad:{c}"], self.n_read,
                                       self.src.rows(rn), shown, "use true/false or yes/no in this column")
            elif kind == "date":
                if counts[f"bad:{c}"]:
                    raise self._date_error(c, f'"_bad_{c}" AND {ok}', counts[f"bad:{c}"], ok)
                late, early = counts[f"late:{c}"], counts[f"early:{c}"]
                if c == "date":
                    if late:
                        rn, _ = self.first(f'"_late_{c}" AND {ok}')
                        self.quality.add(_TABLE, self.file, "date in the future", column=c, rows=late,
                                         action="excluded", examples=self.examples(rn),
                                         detail="dated after 2262: likely a typing error or a placeholder date")
                    if early:
                        rn, _ = self.first(f'"_early_{c}" AND {ok}')
                        self.quality.add(_TABLE, self.file, "date before 1677", column=c, rows=early,
                                         action="excluded", examples=self.examples(rn),
                                         detail="likely a placeholder date such as 0001-01-01")
                elif late or early:
                    rn, vals = self.first(f'("_late_{c}" OR "_early_{c}") AND {ok}', self.frames[c].text)
                    self.quality.add(_TABLE, self.file, "placeholder dates (after 2262 or before 1677) read "
                                     "as empty", column=c, rows=late + early, action="corrected",
                                     examples=self.examples(rn, vals))
            elif kind in ("money", "number"):
                if counts[f"bad:{c}"]:
                    raise self._number_error(c, self.frames[c], f'"_bad_{c}" AND {ok}', counts[f"bad:{c}"],
                                             "must be numeric")
                if counts[f"cor:{c}"]:
                    self.quality.add(_TABLE, self.file, "currency symbols removed from amounts", column=c,
                                     rows=counts[f"cor:{c}"], action="corrected")
        if "cost" in self.keep and "gross_margin" not in self.keep:
            self.quality.add(_TABLE, self.file, "derived 'gross_margin' = revenue − cost", column="gross_margin",
                             rows=self.n_read, action="info")

    # -- fatal errors ---------------------------------------------------------------------------
    def _bad_texts(self, frame: _Frame, cond: str) -> pd.Series:
        texts = self.q(f"SELECT DISTINCT {frame.text} AS t FROM ({self.plan.texts_sql()}) WHERE rn IN "
                       f"(SELECT rn FROM ({self.plan.lines_sql()}) WHERE status >= 0 AND ({cond})) "
                       "LIMIT 10000").df()["t"]
        return pd.Series(texts.astype(object).to_numpy(), dtype="string")

    def _number_error(self, c: str, frame: _Frame, cond: str, n: int, message: str) -> DataValidationError:
        rn, shown = self.first(cond, frame.ref)
        todo = _io._number_todo(self._bad_texts(frame, cond), self.source)
        return _io._value_error(self.file, _io._column_label(self.client_name, c), message, n, self.n_read,
                                self.src.rows(rn), shown, todo)

    def _date_error(self, c: str, cond: str, n: int, alive: str) -> DataValidationError:
        frame = self.frames[c]
        rn, shown = self.first(cond, frame.ref)
        bad_texts = self._bad_texts(frame, cond)
        nonempty = f'("_ts_{c}" IS NOT NULL OR "_slow_{c}" IS NOT NULL OR "_nd_{c}")'
        ok_rn, ok_text = self.first(f"NOT ({cond}) AND {alive} AND {nonempty}", frame.text, limit=1)
        if ok_rn and _io._looks_like_a_date(bad_texts).any():
            message = "must be dates in one format"
            todo = (f"the column mixes date formats (row {self.src.rows(ok_rn)[0]} has {ok_text[0]!r}): "
                    "export all dates in one format (ISO 2024-12-31 is safest)")
            hint = _io._date_todo(bad_texts, self.source)
            if "dayfirst" in hint or "month-first" in hint:
                todo += f"; if every non-ISO date has the same layout, {hint.split(': ', 1)[1]} " \
                        "(ISO dates are read in every mode)"
        else:
            message = "must be a date"
            todo = _io._date_todo(bad_texts, self.source)
        return _io._value_error(self.file, _io._column_label(self.client_name, c), message, n, self.n_read,
                                self.src.rows(rn), shown, todo)

    # -- row rules and duplicates -----------------------------------------------------------------
    def _row_rules(self) -> None:
        config = self.config
        # without per-row field counts (quoted files) only the last record is known to be short
        last_short_status = None
        if not self.src.mode_all and self.src.last_line_short and not self.src.trailing_empty:
            last_rn = max(int(r[8]) for r in self.status.values())
            last_short_status = next((k for k, r in self.status.items() if int(r[8]) == last_rn), None)
        for k in (4, 5, 6, 7, 8, 9):
            if k not in self.status:
                continue
            _, n, ex, n_short = self.status[k][:4]
            reason, column = _REASONS[k]
            if k in (4, 5, 7):
                short = n_short or last_short_status == k
                detail = "some of these lines have fewer fields than the header" if short else ""
            elif k == 6:
                detail = f"dated after today ({self.today.date()}): likely a typing error in the source"
            elif k == 8:
                detail = f"window starts {config.window_start}"
            else:
                detail = f"window ends {config.window_end}"
            self.quality.add(_TABLE, self.file, reason, column=column, rows=int(n), action="excluded", detail=detail,
                             examples=self.examples(sorted(ex)))

    def _duplicates(self) -> None:
        """Identical lines (every column of the file): excluded with an order id, flagged without.

        One pass counts the lines per hash of their raw cells (no parsing); a second reads just
        the lines whose hash occurs more than once. Lines count as copies of one another when a
        second hash (the cells combined in the opposite order from another seed) agrees too; two
        different lines pass both only if they differ in cells whose 64-bit hashes collide (odds
        about 1 in 2^64 per such pair). The copies are a group's kept lines after its first row.
        """
        plan = self.plan
        kept = self.status.get(0)
        self.dupes = np.zeros(0, dtype=np.int64)
        self.dupe_credit = 0
        if kept is None or kept[1] < 2:
            return
        # identical lines share every value, so they share their first exclusion reason too: the
        # candidates are found on the raw cells alone (no parsing), then only their lines are read
        cand = self.q(f"SELECT h FROM ({plan.stored_sql()}) WHERE NOT blank AND {self.not_trunc()} "
                      "GROUP BY h HAVING count(*) > 1").df()
        if cand.empty:
            return
        self.con.register("cand_df", cand)
        self.con.execute("CREATE OR REPLACE TEMP TABLE cand AS SELECT h FROM cand_df")
        self.con.unregister("cand_df")
        order = '"order_id" IS NOT NULL' if "order_id" in plan.canon else "false"
        lines = self.q(f'SELECT rn, h, h2, {order} AS has_order, coalesce("revenue" < 0, false) AS credit '
                       f"FROM ({plan.lines_sql(only='(SELECT h FROM cand)')}) WHERE status = 0").df()
        lines = lines.sort_values("rn", kind="stable")
        # sorted by rn: a copy is a line after the first with its two hashes
        copies = lines.loc[lines.duplicated(["h", "h2"], keep="first"), ["rn", "has_order", "credit"]]
        if copies.empty:
            return
        has_order = copies["has_order"].to_numpy(dtype=bool)
        rn = copies["rn"].to_numpy(dtype=np.int64)
        excluded = rn[has_order]
        if len(excluded):
            self.quality.add(_TABLE, self.file, _DUPLICATE, column=None, rows=len(excluded), action="excluded",
                             detail="identical in every column including the order id: exported twice; first kept",
                             examples=self.examples(excluded[:5]))
        repeats = rn[~has_order]
        if len(repeats):
            self.quality.add(_TABLE, self.file, "identical lines without an order id (kept: they may be "
                             "genuine repeats)", rows=len(repeats), action="flagged",
                             examples=self.examples(repeats[:5]))
        self.dupes = excluded
        self.dupe_credit = int(copies["credit"].to_numpy(dtype=bool)[has_order].sum())
        plan.dropped_rn = excluded
        plan.register(self.con)

    # -- what comes back --------------------------------------------------------------------------
    def _finish(self) -> DuckLedger:
        reasons: dict[str, list] = {}
        for k, r in self.status.items():
            if k > 0:
                entry = reasons.setdefault(_REASONS[k][0], [0, np.inf])
                entry[0] += int(r[1])
                entry[1] = min(entry[1], int(r[4]))
        if len(self.dupes):
            reasons[_DUPLICATE] = [len(self.dupes), int(self.dupes.min())]
        # as pandas' value_counts: by count, ties in order of first row
        excluded = {reason: n for reason, (n, _) in sorted(reasons.items(), key=lambda kv: (-kv[1][0], kv[1][1]))}
        kept = self.status.get(0)
        n_kept = (int(kept[1]) if kept is not None else 0) - len(self.dupes)
        self.quality.account(_TABLE, self.file, read=self.n_read, kept=n_kept, excluded=excluded)
        if n_kept == 0:
            ids = pd.array([], dtype="string")
            empty = _typed_aggregate(pa.table({c: pa.array([], type=t) for c, t in _EMPTY_AGGREGATE.items()}))
            return DuckLedger(self.file, self.n_read, 0, (None, None), 0,
                              pd.DataFrame({"account_id": ids, "lines": np.zeros(0, np.int64),
                                            "first_row": np.zeros(0, np.int64)}),
                              pd.DataFrame({"account_id": ids}), "account-day-product",
                              pd.DataFrame({"account_id": ids}), [], {"M": empty, "Q": empty})
        n_credit = int(kept[5]) - self.dupe_credit
        window = (pd.Timestamp(kept[6]), pd.Timestamp(kept[7]))
        aggregates, standin, grain, accounts, attributes, conflicts = self._outputs(n_kept)
        return DuckLedger(self.file, self.n_read, n_kept, window, n_credit, accounts, standin, grain, attributes,
                          conflicts, aggregates)

    def _kept_lines(self) -> pd.DataFrame:
        """The kept lines of a small ledger, typed as the pandas route types them, in file order."""
        canon = self.plan.canon
        cols = [c for c in ("account_id", "date", "revenue", "gross_margin", "product", "order_id") if c in canon]
        frame = self.q(f"SELECT {', '.join(_ident(c) for c in cols)} FROM ({self.plan.kept_sql()}) ORDER BY rn").df()
        out = pd.DataFrame(index=range(len(frame)))
        for c in cols:
            values = frame[c]
            if c == "date":
                out[c] = pd.to_datetime(values).to_numpy(dtype="datetime64[ns]")
            elif c in ("revenue", "gross_margin"):
                out[c] = values.to_numpy(dtype="float64", na_value=np.nan)
            else:
                out[c] = pd.array(values.astype(object).where(values.notna(), None).to_numpy(), dtype="string")
        return out

    def _outputs(self, n_kept: int):
        """One pass over the kept lines into a table of partial sums per account, day, product,
        sign of revenue, order and attribute values; the aggregates (month and quarter), the
        stand-in and the per-account table are summed from it."""
        plan = self.plan
        attrs = self.attrs
        has_product, has_margin = "product" in plan.canon, "gross_margin" in plan.canon
        has_order = "order_id" in plan.canon
        keys = ['"account_id" AS account_id', 'CAST("date" AS DATE) AS day',
                '"product" AS product' if has_product else "CAST(NULL AS VARCHAR) AS product",
                'coalesce("revenue" > 0, false) AS pos',
                '"order_id" AS order_id' if has_order else "CAST(NULL AS VARCHAR) AS order_id"]
        keys += [f'{_ident(a)} AS {_ident("a_" + a)}' for a in attrs]
        # exact integer sums: a parallel float sum depends on the threads' order, and the same data
        # must give the same bits run after run (amounts are kept to 1e-9 of a currency unit)
        rev_nanos, gm_nanos = _nanos('"revenue"'), _nanos('"gross_margin"')
        margin = f"sum({gm_nanos})" if has_margin else "CAST(NULL AS HUGEINT)"
        n_margin = 'count("gross_margin")' if has_margin else "0"
        last = ", max({'d': \"date\", 'r': rn}) AS last_key" if attrs else ""
        self.q(f"CREATE OR REPLACE TEMP TABLE stage AS SELECT {', '.join(keys)}, sum({rev_nanos}) AS rev, "
               f"{margin} AS gm, {n_margin} AS n_gm, count(*) AS lines, min(rn) AS first_rn{last} "
               f"FROM ({plan.kept_sql()}) GROUP BY ALL")
        aggregates = {}
        if n_kept <= _EXACT_LINES:
            # a small ledger's kept lines are summed by the pandas route's own function (pandas
            # picks its summation by the data's order: the same function gives the same bits)
            lines = self._kept_lines()
            aggregates = {freq: aggregate_ledger(lines, freq) for freq in ("M", "Q")}
        if not aggregates:
            orders = ("count(DISTINCT order_id) + count(DISTINCT CASE WHEN order_id IS NULL THEN day END)"
                      if has_order else "count(DISTINCT day)")
            products = "count(DISTINCT product)" if has_product else "0"
            gm = f"CASE WHEN sum(n_gm) > 0 THEN {_from_nanos('sum(gm)')} END" if has_margin else "CAST(NULL AS DOUBLE)"
            both = self.q(
                "SELECT account_id, CAST(coalesce(m, q) AS TIMESTAMP) AS period, grouping(m) AS quarterly, "
                f"{_from_nanos('sum(rev)')} AS revenue, {gm} AS gross_margin, CAST({orders} AS BIGINT) AS orders, "
                f"CAST({products} AS BIGINT) AS products FROM (SELECT *, date_trunc('month', day) AS m, "
                "date_trunc('quarter', day) AS q FROM stage) GROUP BY GROUPING SETS ((account_id, m), (account_id, q)) "
                "ORDER BY quarterly, account_id, period", arrow=True)
            quarterly = np.asarray(both["quarterly"]) == 1
            typed = _typed_aggregate(both)
            aggregates = {"M": typed.loc[~quarterly].reset_index(drop=True),
                          "Q": typed.loc[quarterly].reset_index(drop=True)}
        # per account: lines, first row, the most recent non-empty value of each attribute
        parts = ["account_id", "sum(lines) AS lines", "min(first_rn) AS first_rn"]
        for a in attrs:
            col = _ident("a_" + a)
            parts.append(f"arg_max({col}, last_key) FILTER (WHERE {col} IS NOT NULL) AS {col}")
            parts.append(f"count(DISTINCT {col}) AS {_ident('n_' + a)}")
        acc = self.q(f"SELECT {', '.join(parts)} FROM stage GROUP BY account_id ORDER BY first_rn").df()
        id_texts = acc["account_id"].astype(object).to_numpy()
        ids = pd.array(id_texts, dtype="string")
        accounts = pd.DataFrame({"account_id": ids, "lines": acc["lines"].to_numpy(dtype=np.int64),
                                 "first_row": self.src.rows(acc["first_rn"].to_numpy())})
        order = np.argsort(np.asarray(id_texts, dtype=object), kind="stable")
        attributes = pd.DataFrame({"account_id": pd.array(ids[order], dtype="string")})
        conflicts = []
        spec = CONTRACT["accounts"]
        for a in attrs:
            kind = spec.column(a).kind if a in spec.names else _io._extra_column(a).kind
            values = acc["a_" + a].iloc[order].reset_index(drop=True)
            if kind == "date":
                attributes[a] = pd.to_datetime(values).to_numpy(dtype="datetime64[ns]")
            elif kind == "bool":
                attributes[a] = pd.array(values.astype(object).where(values.notna(), None).to_numpy(), dtype="boolean")
            else:
                attributes[a] = pd.array(values.astype(object).where(values.notna(), None).to_numpy(), dtype="string")
            many = attributes["account_id"][(acc["n_" + a].iloc[order] > 1).to_numpy()]
            if len(many):
                conflicts.append((a, int(len(many)), ", ".join(many[:5].astype(str))))
        # the stand-in: per account, day, product and sign of revenue (without product if too long)
        grain = "account-day-product" if has_product else "account-day"
        for _ in range(2):
            group = "account_id, day, product, pos" if grain == "account-day-product" else "account_id, day, pos"
            limit = f" LIMIT {MAX_STANDIN_ROWS + 1}" if grain == "account-day-product" else ""
            frame = self.q(f"SELECT {group}, {_from_nanos('sum(rev)')} AS revenue, "
                           f"CASE WHEN sum(n_gm) > 0 THEN {_from_nanos('sum(gm)')} END AS gm, "
                           f"sum(lines) AS lines FROM stage GROUP BY {group} ORDER BY {group}{limit}", arrow=True)
            if not limit or frame.num_rows <= MAX_STANDIN_ROWS:
                break
            grain = "account-day"
        standin = pd.DataFrame({
            "account_id": _text_values(frame["account_id"]),
            "date": _time_values(frame["day"]),
            "revenue": _float_values(frame["revenue"]),
        })
        if has_margin:
            standin["gross_margin"] = _float_values(frame["gm"])
        if grain == "account-day-product":
            standin["product"] = _text_values(frame["product"])
        standin["lines"] = np.asarray(frame["lines"], dtype="int64")
        return aggregates, standin, grain, accounts, attributes, conflicts


def _size(path: Path) -> int:
    try:
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return path.stat().st_size
    except OSError:
        return 0
