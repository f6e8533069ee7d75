"""Loaders: bring a client's files into the data contract without losing a row.

``load_dataset(config)`` reads every table the config names (CSV with ``,``/``;``/tab/``|``
separators, decimal comma, UTF-8 with or without BOM, UTF-16 with BOM or Latin-1, optionally
gzip-compressed; Excel sheets by name; Parquet files or folders), applies the column map and
the declared derivations, coerces types, validates against :mod:`kamtools.schema` and returns a
:class:`Dataset` with one typed DataFrame per table and a :class:`~kamtools.quality.DataQuality`
log.

Rules (documented for consultants)
----------------------------------
Fatal (``DataValidationError`` naming the file, the column, the rule, how many rows and the first
of them, and what to do): a missing, unreadable, binary or empty file, a header without rows,
wrong encoding or separator, a line with more fields than the header, duplicate or blank column
names, missing required columns, a column map or derivation naming a column the file lacks, a
wrong sheet name, values that cannot be read as numbers, dates or yes/no (including mixed date
formats and thousands separators that the config does not declare), conflicting duplicate
accounts, negative programme costs, a ledger with no usable row left.

Values only count where the row is still in play: a bad value in a row already excluded (for
instance the truncated last line) does not stop the load.

Handled and logged (the row accounting shows them):

* a row without a value in a required column (account, date, amount) is **excluded**;
* a transaction, survey, interaction or manager survey dated in the future (after ``today``) is
  **excluded**; a transaction outside the config's window is **excluded**;
* the last line of a CSV that has fewer fields than the header and no line end is a truncated
  export: **excluded** (re-export the file);
* an exact duplicate ledger line (every column of the file equal, with an order id present) is
  **excluded**; identical lines without an order id may be genuine repeats and are **kept,
  flagged**;
* an identical repeated account row is **excluded** (first kept);
* a transaction whose account is not in the accounts table is **kept**; the account is added to
  the accounts table with ``in_accounts_table = False`` (**flagged**);
* survey, interaction and outcome rows whose account is neither in the accounts table nor in the
  ledger are **excluded**;
* a value outside its allowed range (NPS 0–10, CSAT and scores 1–5, likelihood 0–1, negative
  wallet) is **blanked** in that row (the rest of the row is kept, **corrected**);
* identifiers exported as floats (``1001.0``) and amounts with currency symbols (``€1,234.50``
  needs ``thousands:``; ``€ 12.50`` does not) are **corrected**;
* account attributes mapped from ledger columns (name, segment, region, manager, ...) fill the
  accounts table per account (most recent value; conflicts **flagged**);
* negative revenue lines are credit notes: legitimate, **kept** (counted in the log as info);
* empty lines in a CSV are skipped (they are not rows; logged as info). Row numbers in every
  message are the file's own line numbers (header = row 1), as a spreadsheet shows them.
"""

from __future__ import annotations

import csv
import datetime as _dt
import difflib
import gzip
import io as _stdio
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .config import Config, DataSource, load_config
from .exceptions import DataValidationError
from .quality import DataQuality, format_examples
from .schema import ACCOUNT_ATTRIBUTES, CONTRACT, Column

__all__ = ["Dataset", "load_dataset", "read_table", "DataValidationError"]

_ROW = "_source_row"
_CURRENCY = r"(?:€|\$|£|¥|(?<![A-Za-z])(?:CHF|EUR|USD|GBP)(?![A-Za-z]))"
_CURRENCY_RE = re.compile(_CURRENCY)
_THOUSANDS_RE = re.compile(r"^[-+]?\d{1,3}([,.' \u00a0\u202f]\d{3})+([.,]\d+)?$")
_ISO_RE = r"^\d{4}-\d{1,2}-\d{1,2}|^\d{8}(?:T|$)"
# a UTC offset after a time of day: Z, +01, +0100, +01:00 (the time is required: 2024-01-15 ends in "-15")
_OFFSET_RE = r"(\d:\d{2}(?::\d{2}(?:[.,]\d+)?)?)\s*(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)$"
_TRUE = {"true", "t", "yes", "y", "1", "ja", "j", "oui", "x", "wahr", "si", "sí"}
_FALSE = {"false", "f", "no", "n", "0", "nein", "non", "falsch", ""}
_EVENT_DATES = {("transactions", "date"), ("surveys", "date"), ("interactions", "date"),
                ("manager_surveys", "date")}


@dataclass
class Dataset:
    """The client's data in canonical form.

    Attributes
    ----------
    tables : dict of str -> DataFrame
        One typed DataFrame per table that was provided (``accounts`` is always present: it is
        derived from the ledger when the client has no accounts table).
    quality : DataQuality
        The data-quality log and row accounting.
    config : Config or None
    accounts_from_ledger : bool
        True when the accounts table was derived from ledger columns.
    sources : dict of str -> str
        File name each table was read from.
    ledger : DuckLedger or None
        On the DuckDB route (:mod:`kamtools.ledger_duckdb`): rows read and kept, the window,
        ``aggregate(freq)`` (the account × period aggregate that
        :func:`kamtools.panel.build_panel` completes). Then
        ``tables["transactions"]`` is a small stand-in (one row per account, day, product and
        sign of revenue), not the ledger's lines.
    """

    tables: dict[str, pd.DataFrame]
    quality: DataQuality = field(default_factory=DataQuality)
    config: Config | None = None
    accounts_from_ledger: bool = False
    sources: dict[str, str] = field(default_factory=dict)
    ledger: object | None = None

    def __getattr__(self, name):
        if name in CONTRACT:
            return self.__dict__.get("tables", {}).get(name)
        raise AttributeError(name)

    @property
    def window(self) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """First and last transaction date actually kept."""
        if self.ledger is not None:
            return self.ledger.window
        tx = self.tables.get("transactions")
        if tx is None or tx.empty:
            return (None, None)
        return (tx["date"].min(), tx["date"].max())

    def has(self, table: str) -> bool:
        return table in self.tables and self.tables[table] is not None

    def summary(self) -> pd.DataFrame:
        """Tables, rows and columns that came in."""
        rows = []
        for name, frame in self.tables.items():
            rows.append({"table": name, "rows": len(frame), "columns": ", ".join(map(str, frame.columns)),
                         "source": self.sources.get(name, "derived from the ledger")})
        return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------------
def _fail(file, message: str, todo: str) -> DataValidationError:
    return DataValidationError(f"{file}: {message}. What to do: {todo}")


@dataclass
class _Meta:
    """What a reader knows about the rows beyond their values."""

    rows: np.ndarray                      # source row number of each data row (header = 1)
    short: np.ndarray                     # row had fewer fields than the header
    truncated_tail: bool = False          # last row short and no line end: a cut-off export
    blank_lines: int = 0                  # empty lines skipped (not rows)
    notes: list = field(default_factory=list)   # (rule, detail) info entries for the log


def _decode(source: DataSource, raw: bytes) -> tuple[str, list, str]:
    name = source.path.name
    notes = []
    if not raw.strip():
        raise _fail(name, "the file is empty", "re-export the table with a header row and data rows")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        notes.append(("file is UTF-16 (byte-order mark found): read as UTF-16", ""))
        try:
            return raw.decode("utf-16"), notes, "utf-16"
        except UnicodeDecodeError:
            raise _fail(name, "has a UTF-16 byte-order mark but is not valid UTF-16",
                        "re-export the file as UTF-8 CSV") from None
    head = raw[:8192]
    if head.startswith(b"PK\x03\x04"):
        raise _fail(name, "is not a text file: it looks like an Excel workbook (.xlsx) saved under another name",
                    "rename it to .xlsx (and set `sheet:`), or export the sheet as CSV")
    if head.startswith(b"PAR1"):
        raise _fail(name, "is not a text file: it looks like a Parquet file", "rename it to .parquet")
    if b"\x00" in head:
        raise _fail(name, "is not a text file (binary content)",
                    "export the table as CSV (UTF-8), .xlsx or Parquet and point `path:` at it")
    encoding = (source.encoding or "utf-8-sig").lower().replace("_", "-")
    if encoding in ("utf-8", "utf8"):
        encoding = "utf-8-sig"  # accept a BOM either way
    elif raw.startswith(b"\xef\xbb\xbf"):
        # a UTF-8 byte-order mark says what the file is, whatever the config believes
        notes.append((f"file starts with a UTF-8 byte-order mark: read as UTF-8, not {source.encoding}", ""))
        encoding = "utf-8-sig"
    try:
        return raw.decode(encoding), notes, encoding
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        bad = raw[exc.start: exc.start + 1]
        context = raw[max(0, exc.start - 15): exc.start + 15].decode("latin-1", errors="replace")
        hint = "set `encoding: latin-1` (or cp1252) for this file in the config" if source.encoding is None \
            else f"the file is not {source.encoding}: check the export's encoding and set `encoding:` to match"
        raise _fail(name, f"cannot be read as {source.encoding or 'UTF-8'} (byte 0x{bad.hex()} in row {line}, "
                          f"near {context.strip()!r})", hint) from None
    except LookupError:
        raise _fail(name, f"unknown encoding {source.encoding!r}", "use utf-8, latin-1 or cp1252") from None


def _sniff_sep(header: str) -> str:
    counts = {sep: header.count(sep) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else ","


def _check_header(name: str, header: list[str]) -> None:
    dupes = sorted({h for h in header if h and header.count(h) > 1})
    if dupes:
        raise _fail(name, f"duplicate column names in the header: {', '.join(map(repr, dupes))} "
                          f"(columns {', '.join(str(i + 1) for i, h in enumerate(header) if h in dupes)})",
                    "rename or remove the repeated columns so each name appears once")
    if any(h == "" for h in header):
        pos = [i + 1 for i, h in enumerate(header) if h == ""]
        raise _fail(name, f"empty column name at position(s) {', '.join(map(str, pos))} of the header",
                    "give every column a header (or delete the empty column)")


def _csv_header(name: str, text: str, sep: str | None) -> tuple[str, list[str], list[str]]:
    """Separator, header fields and stripped column names from the decoded text (or its start)."""
    header_line = text.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")
    sep = sep or _sniff_sep(header_line)
    header = next(csv.reader([header_line], delimiter=sep), [])
    if len(header) == 1:
        other = _sniff_sep(header_line)
        if other != sep and header_line.count(other) > 0:
            raise _fail(name, f"only one column found with separator {sep!r} (header: {header_line[:80]!r})",
                        f"the file seems to use {other!r}: set `sep: \"{other}\"` for this file in the config")
    stripped = [h.strip() for h in header]
    _check_header(name, stripped)
    return sep, header, stripped


def _read_csv(source: DataSource) -> tuple[pd.DataFrame, _Meta]:
    name = source.path.name
    raw = source.path.read_bytes()
    if source.path.suffix.lower() == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise _fail(name, f"cannot be decompressed ({exc})", "check the file is complete") from None
    text, notes, encoding = _decode(source, raw)
    ascii_compatible = not raw.startswith((b"\xff\xfe", b"\xfe\xff"))
    sep, header, stripped = _csv_header(name, text, source.sep)
    try:
        # the C parser reads UTF-8 bytes much faster than a str buffer
        if encoding == "utf-8-sig":
            utf8 = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
        else:
            utf8 = text.encode("utf-8")
        with warnings.catch_warnings():
            # every data row having one field more than the header would otherwise silently become
            # the index (shifting every column), or be cut off with a warning
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                _stdio.BytesIO(utf8), sep=sep, dtype=str, keep_default_na=False, na_values=[], encoding="utf-8",
                skipinitialspace=False, engine="c", skip_blank_lines=False, quotechar='"', index_col=False,
            )
    except pd.errors.ParserWarning:
        counts = _field_counts(raw if ascii_compatible else None, sep)
        if counts is not None and (counts > len(header)).any():
            over = np.flatnonzero(counts > len(header))
            where = (f"{len(over):,} {'row has' if len(over) == 1 else 'rows have'} more fields than the "
                     f"header's {len(header)} ({format_examples(over + 2)}: "
                     f"{', '.join(str(int(c)) for c in counts[over][:5])} fields)")
        else:
            where = f"rows have more fields than the header's {len(header)}"
        raise _fail(name, where, "quote fields that contain the separator, or set the right `sep:`; "
                                 "a header missing a column name also shows this") from None
    except pd.errors.ParserError as exc:
        msg = str(exc)
        match = re.search(r"line (\d+), saw (\d+)", msg)
        eof = re.search(r"EOF inside string starting at row (\d+)", msg)
        todo = "quote fields that contain the separator, or set the right `sep:`"
        if match:
            where = f"row {match.group(1)} has {match.group(2)} fields but the header has {len(header)}"
            if sep == ",":
                todo += "; amounts with a decimal comma (12,50) in a comma-separated file must be quoted"
        elif eof:
            where = f"a quoted field opened in row {int(eof.group(1)) + 1} is never closed"
            todo = "the file looks truncated or has a stray quote (\"): re-export it"
        else:
            where = f"cannot be parsed as CSV ({msg})"
        raise _fail(name, where, todo) from None
    except (ValueError, MemoryError) as exc:  # pandas' other reader failures
        raise _fail(name, f"cannot be parsed as CSV ({type(exc).__name__}: {exc})",
                    "check the separator, quoting and encoding of the export") from None
    frame.columns = stripped
    frame = frame.fillna("")
    rows = np.arange(2, len(frame) + 2)
    short = _short_rows(raw if ascii_compatible else None, text, sep, len(header), len(frame))
    # an empty line (or a line of separators only) is not a row; keep the others' line numbers
    blank = frame.eq("").all(axis=1).to_numpy()
    n_blank = int(blank.sum())
    if n_blank:
        frame = frame.loc[~blank].reset_index(drop=True)
        rows, short = rows[~blank], short[~blank]
    if frame.empty:
        raise _fail(name, "the file has a header but no data rows", "re-export the table with its rows")
    truncated = bool(short[-1]) and not text.endswith(("\n", "\r"))
    if n_blank:
        notes.append((f"{n_blank:,} empty line(s) skipped (not counted as rows)", ""))
    return frame, _Meta(rows=rows, short=short, truncated_tail=truncated, blank_lines=n_blank, notes=notes)


def _field_counts(raw: bytes | None, sep: str) -> np.ndarray | None:
    """Fields on each line after the header, counted on the raw bytes (vectorised); None when the
    file has quotes (a quoted field may hold the separator or a line break) or is not ASCII-based."""
    if raw is None or b'"' in raw or len(sep.encode()) != 1:
        return None
    data = np.frombuffer(raw.rstrip(b"\r\n"), dtype=np.uint8)
    ends = np.append(np.flatnonzero(data == 10), len(data))
    seps = np.flatnonzero(data == sep.encode()[0])
    return np.diff(np.searchsorted(seps, ends)) + 1


def _short_rows(raw: bytes | None, text: str, sep: str, n_fields: int, n_rows: int) -> np.ndarray:
    """Rows with fewer fields than the header (the reader fills the missing fields with '').

    Exact for files without quotes (one line per row: separators are counted per line on the raw
    bytes, vectorised); with quotes only the last row is checked, the one a cut-off export damages.
    """
    short = np.zeros(n_rows, dtype=bool)
    if n_rows == 0:
        return short
    counts = _field_counts(raw, sep)
    if counts is not None and len(counts) == n_rows:
        return counts < n_fields
    cut = text.rstrip("\r\n")
    last_line = cut[cut.rfind("\n") + 1:].rstrip("\r")
    last = next(csv.reader([last_line], delimiter=sep), [])
    short[-1] = 0 < len(last) < n_fields
    return short


def _excel_cell_text(col: pd.Series, decimal: str = ".") -> pd.Series:
    """Excel cells as text like a CSV export: integral floats lose '.0', dates become ISO."""
    def conv(v):
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            if v.is_integer():
                return str(int(v))
            return repr(v).replace(".", decimal) if decimal != "." else repr(v)
        if isinstance(v, (_dt.datetime, _dt.date)):
            return v.isoformat()
        return str(v)
    return col.map(conv)


def _read_excel(source: DataSource) -> tuple[pd.DataFrame, _Meta]:
    name = source.path.name
    try:
        import openpyxl
        book = openpyxl.load_workbook(source.path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise _fail(name, f"cannot be opened as an Excel workbook ({type(exc).__name__})",
                    "save it as .xlsx from Excel (old .xls files must be re-saved), or export the sheet as CSV") \
            from None
    try:
        sheets = book.sheetnames
        sheet = source.sheet if source.sheet is not None else sheets[0]
        if isinstance(sheet, int):
            if not 0 <= sheet < len(sheets):
                raise _fail(name, f"has no sheet number {sheet} (sheets are numbered from 0)",
                            f"set `sheet:` to one of: {', '.join(sheets)}")
            sheet = sheets[sheet]
        if sheet not in sheets:
            near = difflib.get_close_matches(str(sheet), sheets, n=1)
            hint = f"did you mean '{near[0]}'? " if near else ""
            raise _fail(name, f"has no sheet named '{sheet}'",
                        f"{hint}set `sheet:` to one of: {', '.join(sheets)}")
        rows = list(book[sheet].iter_rows(values_only=True))
    except DataValidationError:
        raise
    except Exception as exc:
        raise _fail(name, f"cannot be read as an Excel workbook ({type(exc).__name__})",
                    "save it again as .xlsx from Excel, or export the sheet as CSV") from None
    finally:
        book.close()
    where = f"{name} [{sheet}]"
    if not rows or all(v is None for v in rows[0]):
        raise _fail(where, "the sheet is empty or its first row is blank", "put the header in the first row")
    header = ["" if v is None else str(v).strip() for v in rows[0]]
    while header and header[-1] == "":
        header.pop()
    _check_header(where, header)
    keep = [i for i, r in enumerate(rows[1:], start=2) if any(v is not None and v != "" for v in r)]
    if not keep:
        raise _fail(where, "the sheet has a header but no data rows", "fill in the rows")
    width = len(header)
    body = [tuple(rows[i - 1][:width]) + (None,) * max(0, width - len(rows[i - 1])) for i in keep]
    frame = pd.DataFrame(body, columns=header, dtype=object)
    frame = frame.apply(_excel_cell_text, decimal=source.decimal)
    meta = _Meta(rows=np.asarray(keep, dtype=np.int64), short=np.zeros(len(frame), dtype=bool))
    return frame, meta


def _read_parquet(source: DataSource) -> tuple[pd.DataFrame, _Meta]:
    name = source.path.name
    try:
        if source.path.is_dir():  # only the Parquet files: a folder often also holds a README
            files = sorted(f for f in source.path.rglob("*.parquet") if f.is_file())
            if not files:
                raise _fail(name, "the folder holds no .parquet files",
                            "point `path:` at a Parquet file or a folder of .parquet files")
            frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
        else:
            frame = pd.read_parquet(source.path)
    except DataValidationError:
        raise
    except Exception as exc:
        raise _fail(name, f"cannot be read as Parquet ({type(exc).__name__}: {exc})",
                    "check the file is complete, or export CSV") from None
    if frame.empty:
        raise _fail(name, "the file has no rows", "re-export the table with its rows")
    frame.columns = [str(c).strip() for c in frame.columns]
    _check_header(name, list(frame.columns))
    frame = frame.reset_index(drop=True)
    # Parquet has no header line: row numbers count the first record as row 2, like a CSV export
    meta = _Meta(rows=np.arange(2, len(frame) + 2), short=np.zeros(len(frame), dtype=bool))
    return frame, meta


def _blank_na_values(frame: pd.DataFrame, na_values) -> pd.DataFrame:
    """Cells equal to one of the config's ``na_values`` (e.g. ``NULL``) read as empty."""
    if not na_values:
        return frame
    na = {str(v).strip() for v in na_values}
    for col in frame.columns:
        values = frame[col]
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            text = values.astype("string").str.strip()
            hit = text.isin(na).fillna(False).to_numpy()
            if hit.any():
                frame[col] = values.where(~hit, "")
    return frame


def _check_path(source: DataSource) -> None:
    if not source.path.exists():
        raise _fail(source.path, "file not found", "check `path:` in the config (relative to the config file)")
    if source.format != "parquet" and source.path.is_dir():
        raise _fail(source.path, "is a folder, not a file", "point `path:` at the file itself")


def _read_source(source: DataSource) -> tuple[pd.DataFrame, _Meta]:
    _check_path(source)
    fmt = source.format
    try:
        frame, meta = {"csv": _read_csv, "excel": _read_excel, "parquet": _read_parquet}[fmt](source)
    except OSError as exc:
        raise _fail(source.path.name, f"cannot be opened ({exc.strerror or type(exc).__name__})",
                    "check the file is readable and not open in another program") from None
    frame = _blank_na_values(frame, source.na_values)
    return frame, meta


def read_table(source: DataSource) -> pd.DataFrame:
    """Read one source as it is (text columns for CSV/Excel), with its source row numbers.

    Parameters
    ----------
    source : DataSource
        One entry of ``Config.data``.

    Returns
    -------
    DataFrame
        The file's columns (text for CSV and Excel, typed for Parquet) and ``_source_row``, the
        row number a spreadsheet shows (header = 1).
    """
    frame, meta = _read_source(source)
    frame[_ROW] = meta.rows
    return frame


# --------------------------------------------------------------------------------------------
# Parsing values
# --------------------------------------------------------------------------------------------
def _as_text(series: pd.Series) -> pd.Series:
    if series.dtype == object or pd.api.types.is_string_dtype(series):
        return series.astype("string").str.strip().fillna("")
    return series.astype("string").fillna("")


def _clean_number_text(text: pd.Series, source: DataSource) -> pd.Series:
    cleaned = text
    if source.thousands:
        cleaned = cleaned.str.replace(source.thousands, "", regex=False)
    if source.decimal != ".":
        cleaned = cleaned.str.replace(source.decimal, ".", regex=False)
    return cleaned


def _fast_float(text: pd.Series, empty: np.ndarray) -> pd.Series | None:
    """All cells as float64 through Arrow's cast (fast), or None when some cell is not a number."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc

        array = pa.array(text.where(~empty, None).astype("string"), type=pa.string())
        values = pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False)
    except Exception:  # ArrowInvalid on any unreadable cell: take the slow, cell-by-cell route
        return None
    return pd.Series(values, index=text.index, dtype="float64")


def _parse_numbers(series: pd.Series, source: DataSource) -> tuple[pd.Series, np.ndarray, int]:
    """Numbers from text; returns values, the mask of unreadable cells and how many were corrected."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = series.astype("float64")
        bad = ~np.isfinite(values.to_numpy()) & values.notna().to_numpy()
        return values, bad, 0
    text = _as_text(series)
    empty = text.eq("").to_numpy()
    cleaned = _clean_number_text(text, source)
    values = _fast_float(cleaned, empty)
    if values is None:
        values = pd.to_numeric(cleaned.where(~empty, None), errors="coerce").astype("float64")
    finite = np.isfinite(values.to_numpy())
    bad = ~finite & ~empty
    values[~finite] = np.nan
    corrected = 0
    if bad.any():
        has_currency = text[bad].str.contains(_CURRENCY_RE, regex=True)
        retry = cleaned[bad].str.replace(_CURRENCY_RE, "", regex=True).str.replace(r"\s+", "", regex=True)
        fixed = pd.to_numeric(retry.where(has_currency, None), errors="coerce").astype("float64")
        ok = np.isfinite(fixed.to_numpy())
        if ok.any():
            values.iloc[np.flatnonzero(bad)[ok]] = fixed.to_numpy()[ok]
            corrected = int(ok.sum())
            bad = values.isna().to_numpy() & ~empty
    return values, bad, corrected


_NS_MIN, _NS_MAX = pd.Timestamp.min.ceil("D"), pd.Timestamp.max.floor("D")


def _to_ns(values: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """datetime64[ns] values; dates a nanosecond timestamp cannot hold (after 2262-04-11, such as
    the 9999-12-31 "open end" of ERP systems, or before 1677) become NaT and are reported."""
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_localize(None)
    late = (values > _NS_MAX).to_numpy()
    early = (values < _NS_MIN).to_numpy()
    if late.any() or early.any():
        values = values.where(~(late | early))
    return values.astype("datetime64[ns]"), late, early


def _parse_dates(series: pd.Series, source: DataSource) -> tuple[pd.Series, np.ndarray, np.ndarray, np.ndarray]:
    """Dates from text. ISO values (2024-12-31) are accepted in every mode: they are unambiguous.

    Returns the dates, the mask of unreadable cells and the masks of dates after 2262 / before 1677.
    """
    if pd.api.types.is_datetime64_any_dtype(series):
        values, late, early = _to_ns(series)
        return values, np.zeros(len(series), dtype=bool), late, early
    text = _as_text(series)
    empty = text.eq("").to_numpy()
    out = pd.Series(pd.NaT, index=series.index, dtype="datetime64[us]")
    iso = text.str.match(_ISO_RE).to_numpy() & ~empty

    def local(values):   # the wall-clock time as written: the UTC offset after a time of day dropped
        return values.str.replace(_OFFSET_RE, r"\1", regex=True)

    def to_datetime(values, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            try:
                parsed = pd.to_datetime(values, errors="coerce", **kwargs)
            except ValueError:  # mixed UTC offsets
                parsed = pd.to_datetime(local(values), errors="coerce", **kwargs)
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_localize(None)  # wall-clock time as written, offset dropped
        return parsed.astype("datetime64[us]")

    def parse(mask, **kwargs):
        parsed = to_datetime(text[mask], **kwargs)
        # a format inferred from the first value reads other offsets as NaT: retry those without offset
        failed = text[mask][parsed.isna().to_numpy()]
        stripped = local(failed)
        retry = stripped[(stripped != failed).to_numpy()]
        if len(retry):
            parsed[retry.index] = to_datetime(retry, **kwargs)
        out[mask] = parsed

    if source.date_format:
        parse(~empty, format=source.date_format)
        retry = iso & out.isna().to_numpy()
        if retry.any():
            parse(retry, format="ISO8601")
    else:
        if iso.any():
            parse(iso, format="ISO8601")
        rest = ~iso & ~empty
        if source.dayfirst and rest.any():
            parse(rest, dayfirst=True)
    bad = out.isna().to_numpy() & ~empty
    values, late, early = _to_ns(out)
    return values, bad, late, early


def _looks_like_a_date(text: pd.Series) -> np.ndarray:
    """Values some date format can read (to tell mixed formats from plain garbage)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        parsed = pd.to_datetime(text, format="mixed", errors="coerce", dayfirst=True)
    return parsed.notna().to_numpy() & text.str.contains(r"\d", regex=True).to_numpy()


def _parse_bools(series: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_bool_dtype(series):
        return series.astype("boolean"), np.zeros(len(series), dtype=bool)
    text = _as_text(series).str.lower()
    text = text.str.replace(r"\.0+$", "", regex=True)
    out = pd.Series(pd.NA, index=series.index, dtype="boolean")
    out[text.isin(_TRUE)] = True
    out[text.isin(_FALSE - {""})] = False
    bad = (~text.isin(_TRUE | _FALSE)).to_numpy()
    return out, bad


def _parse_ids(series: pd.Series) -> tuple[pd.Series, int]:
    """Identifiers as text; '1001.0' exported from a float column becomes '1001'."""
    if pd.api.types.is_float_dtype(series):
        finite = series.dropna()
        if len(finite) and bool((finite == np.floor(finite)).all()) and bool((finite.abs() < 2**63).all()):
            text = series.astype("Int64").astype("string").fillna("")
            return text, int(series.notna().sum())
    if pd.api.types.is_integer_dtype(series):
        return series.astype("string").fillna(""), 0
    text = _as_text(series)
    non_empty = text.ne("")
    floaty = text.str.fullmatch(r"\d+\.0+")
    n_floaty = int(floaty.sum())
    if n_floaty and bool(text[non_empty].str.fullmatch(r"\d+(\.0+)?").all()):
        return text.str.replace(r"\.0+$", "", regex=True), n_floaty
    return text, 0


# --------------------------------------------------------------------------------------------
# Validating one table
# --------------------------------------------------------------------------------------------
def _column_label(client_name: dict[str, str], column: str) -> str:
    """How a message names a column: the client's name and the canonical one it maps to."""
    client = client_name.get(column)
    return f"'{client}' (mapped to '{column}')" if client and client != column else f"'{column}'"


def _value_error(file, label: str, message: str, n: int, n_read: int, rows, shown, todo: str) -> DataValidationError:
    """The fatal error for unreadable values: file, column, rule, how many rows, the first of them."""
    shown = [v if isinstance(v, str) else ("" if pd.isna(v) else v) for v in list(shown)[:5]]
    examples = format_examples(rows, shown)
    return _fail(file, f"column {label} {message}; {n:,} of {n_read:,} rows "
                       f"{'is' if n == 1 else 'are'} not ({examples})", todo)


def _check_column_map(file: str, table: str, columns: list[str], mapping: dict[str, str]) -> None:
    """Stop on a column map that names columns the file lacks or maps two columns to one."""
    present = set(columns)
    missing = [c for c in mapping if c not in present]
    if missing:
        cols = [c for c in columns if c != _ROW]
        lower = {c.lower(): c for c in cols}
        hints = []
        for m in missing:
            near = [lower[m.lower()]] if m.lower() in lower else \
                difflib.get_close_matches(m, cols, n=1, cutoff=0.5)
            hints.append(f"'{m}'" + (f" (did you mean '{near[0]}'?)" if near else ""))
        raise _fail(file, f"the column map names column(s) not in the file: {'; '.join(hints)}",
                    f"fix `columns: {table}:` in the config; the file's columns are: {', '.join(cols)}")
    targets = list(mapping.values())
    dup_targets = sorted({t for t in targets if targets.count(t) > 1})
    if dup_targets:
        sources = [c for c, t in mapping.items() if t in dup_targets]
        raise _fail(file, f"columns {', '.join(map(repr, sources))} all map to the same canonical column "
                          f"{', '.join(map(repr, dup_targets))}",
                    "map each canonical column from one client column")
    clash = [t for c, t in mapping.items() if t in present and t not in mapping and c != t]
    if clash:
        raise _fail(file, f"column(s) {', '.join(map(repr, clash))} exist in the file and are also mapped "
                          "from another column",
                    "remove one of them from the column map (or rename the file's column)")


def _unknown_operand(file: str, table: str, target: str, operand, columns: list[str]) -> DataValidationError:
    cols = [c for c in columns if c != _ROW]
    near = difflib.get_close_matches(str(operand), cols, n=1, cutoff=0.5)
    return _fail(file, f"derive.{table}.{target} uses column '{operand}', which is not in "
                       "the file" + (f" (did you mean '{near[0]}'?)" if near else ""),
                 f"use one of: {', '.join(map(str, cols))}")


def _check_required(file: str, table: str, columns: list[str]) -> None:
    """Stop when a required canonical column is missing, with a column-map hint."""
    spec = CONTRACT[table]
    cols = [c for c in columns if c != _ROW]
    missing = [c for c in spec.required if c not in columns]
    if missing:
        hints, taken = [], set(spec.names)
        for m in missing:
            near = _likely_column(m, [c for c in cols if c not in taken])
            taken |= set(near)
            hints.append(f"{_yaml_key(near[0])}: {m}" if near else f"<your column>: {m}")
        todo = f"add a column map to the config, e.g. `columns: {{{table}: {{{', '.join(hints)}}}}}`"
        alternatives = dict(spec.alternatives)
        derivable = [f"{m} ({alternatives[m]})" for m in missing if m in alternatives]
        if derivable:
            todo += f"; or derive {', '.join(derivable)}"
        raise _fail(file, f"required column(s) missing: {', '.join(missing)} (the file has: "
                          f"{', '.join(map(str, cols))})", todo)


def _not_kept_detail(dropped: list[str]) -> str:
    return ", ".join(map(str, dropped[:20])) + (" …" if len(dropped) > 20 else "")


def _derive_rule(target: str, op: str, operands) -> str:
    return f"derived '{target}' = {op}({', '.join(map(str, operands))})"


class _TableLoad:
    """Carries one table through mapping, derivation, typing and row rules."""

    def __init__(self, table: str, frame: pd.DataFrame, meta: _Meta, source: DataSource, quality: DataQuality,
                 today: pd.Timestamp):
        self.table = table
        self.raw = frame  # the file as read (for exact-duplicate checks over every column)
        self.frame = frame.copy(deep=False)
        self.frame[_ROW] = meta.rows
        self.meta = meta
        self.source = source
        self.file = source.path.name
        self.quality = quality
        self.today = today
        self.n_read = len(frame)
        self.client_name: dict[str, str] = {}  # canonical -> client column, for messages
        self.reason = np.full(len(frame), "", dtype=object)  # exclusion reason, '' = kept
        self._alive = np.ones(len(frame), dtype=bool)
        for rule, detail in meta.notes:
            quality.add(table, self.file, rule, rows=0, action="info", detail=detail)

    # -- helpers ------------------------------------------------------------------------------
    @property
    def alive(self) -> np.ndarray:
        return self._alive

    def rows(self, mask) -> np.ndarray:
        return self.frame[_ROW].to_numpy()[np.asarray(mask, dtype=bool)]

    def label(self, column: str) -> str:
        return _column_label(self.client_name, column)

    def fatal(self, column, message, mask, values, todo) -> DataValidationError:
        mask = np.asarray(mask, dtype=bool)
        shown = list(pd.Series(values).to_numpy(dtype=object)[mask][:5])
        return _value_error(self.file, self.label(column), message, int(mask.sum()), self.n_read,
                            self.rows(mask)[:5], shown, todo)

    def exclude(self, mask, reason: str, *, column=None, detail="") -> None:
        mask = np.asarray(mask, dtype=bool) & self.alive
        n = int(mask.sum())
        if n:
            self.reason[mask] = reason
            self._alive = self._alive & ~mask
            examples = format_examples(self.rows(mask))
            self.quality.add(self.table, self.file, reason, column=column, rows=n, action="excluded",
                             detail=detail, examples=examples)

    # -- steps --------------------------------------------------------------------------------
    def truncated_tail(self) -> None:
        if self.meta.truncated_tail:
            mask = np.zeros(self.n_read, dtype=bool)
            mask[-1] = True
            self.exclude(mask, "truncated last line",
                         detail="the last line has fewer fields than the header and no line end: "
                                "the export was cut off; re-export the file")

    def map_columns(self, mapping: dict[str, str]) -> None:
        _check_column_map(self.file, self.table, list(self.frame.columns), mapping)
        self.client_name.update({t: c for c, t in mapping.items()})
        self.frame = self.frame.rename(columns=mapping)

    def derive(self, rules: dict[str, dict[str, list]]) -> None:
        for target, rule in rules.items():
            (op, operands), = rule.items()
            values = []
            for operand in operands:
                if isinstance(operand, (int, float)) and not isinstance(operand, bool):
                    values.append(float(operand))
                    continue
                if operand not in self.frame.columns:
                    raise _unknown_operand(self.file, self.table, target, operand, list(self.frame.columns))
                nums, bad, corrected = _parse_numbers(self.frame[operand], self.source)
                bad = bad & self.alive
                if bad.any():
                    raise self.fatal(operand, f"must be numeric to derive '{target}'", bad, self.frame[operand],
                                     _number_todo(_as_text(self.frame[operand])[bad], self.source))
                if corrected:
                    self.quality.add(self.table, self.file, "currency symbols removed from amounts",
                                     column=str(operand), rows=corrected, action="corrected")
                values.append(nums)
            if op == "multiply":
                result = values[0]
                for v in values[1:]:
                    result = result * v
            elif op == "add":
                result = values[0]
                for v in values[1:]:
                    result = result + v
            elif op == "subtract":
                result = values[0] - values[1]
            elif op == "divide":
                with np.errstate(divide="ignore", invalid="ignore"):
                    result = values[0] / values[1]
            elif op == "negate":
                result = -values[0]
            else:  # copy
                result = values[0]
            result = pd.Series(result, index=self.frame.index).astype("float64")   # a scalar fills the column
            result[~np.isfinite(result.to_numpy())] = np.nan  # x / 0 is not a number
            replaced = target in self.frame.columns
            self.frame[target] = result.round(10)
            self.client_name.pop(target, None)
            self.quality.add(self.table, self.file, _derive_rule(target, op, operands),
                             column=target, rows=len(self.frame), action="info",
                             detail="replaces the file's column of that name" if replaced else "")

    def require_columns(self) -> None:
        _check_required(self.file, self.table, list(self.frame.columns))

    def coerce(self, extra: tuple[str, ...] = ()) -> None:
        spec = CONTRACT[self.table]
        keep = [c.name for c in spec.columns if c.name in self.frame.columns]
        keep += [c for c in extra if c in self.frame.columns and c not in keep]
        dropped = [c for c in self.frame.columns if c not in keep and c != _ROW]
        if dropped:
            self.quality.add(self.table, self.file, "columns not kept (unused, or only inputs of derivations)",
                             rows=0, action="info",
                             detail=_not_kept_detail(dropped))
        out = {}
        for name in keep:
            col = spec.column(name) if name in spec.names else _extra_column(name)
            out[name] = self._coerce_column(col, self.frame[name])
        out[_ROW] = self.frame[_ROW]
        self.frame = pd.DataFrame(out, index=self.frame.index)

    def _coerce_column(self, col: Column, values: pd.Series) -> pd.Series:
        alive = self.alive
        if col.kind == "id":
            parsed, n_floaty = _parse_ids(values)
            if n_floaty:
                self.quality.add(self.table, self.file, "identifiers exported as decimals ('1001.0' → '1001')",
                                 column=col.name, rows=n_floaty, action="corrected",
                                 detail="export identifiers as text to keep leading zeros")
            return parsed.astype("string").replace("", pd.NA)
        if col.kind == "text":
            return _as_text(values).replace("", pd.NA)
        if col.kind == "bool":
            parsed, bad = _parse_bools(values)
            bad = bad & alive
            if bad.any():
                raise self.fatal(col.name, "must be yes/no (true/false, 1/0)", bad, values,
                                 "use true/false or yes/no in this column")
            return parsed
        if col.kind == "date":
            parsed, bad, late, early = _parse_dates(values, self.source)
            bad = bad & alive
            if bad.any():
                text = _as_text(values)
                ok = ~bad & alive & text.ne("").to_numpy()
                if ok.any() and _looks_like_a_date(text[bad]).any():
                    first_ok = int(np.flatnonzero(ok)[0])
                    message = "must be dates in one format"
                    todo = (f"the column mixes date formats (row {self.rows(ok)[0]} has {text.iloc[first_ok]!r}): "
                            "export all dates in one format (ISO 2024-12-31 is safest)")
                    hint = _date_todo(text[bad], self.source)
                    if "dayfirst" in hint or "month-first" in hint:
                        todo += f"; if every non-ISO date has the same layout, {hint.split(': ', 1)[1]} " \
                                "(ISO dates are read in every mode)"
                else:
                    message = "must be a date"
                    todo = _date_todo(text[bad], self.source)
                raise self.fatal(col.name, message, bad, values, todo)
            far = (late | early) & alive
            if far.any():
                if (self.table, col.name) in _EVENT_DATES:
                    self.exclude(late & alive, "date in the future", column=col.name,
                                 detail="dated after 2262: likely a typing error or a placeholder date")
                    self.exclude(early & alive, "date before 1677", column=col.name,
                                 detail="likely a placeholder date such as 0001-01-01")
                else:
                    self.quality.add(self.table, self.file, "placeholder dates (after 2262 or before 1677) read "
                                     "as empty", column=col.name, rows=int(far.sum()), action="corrected",
                                     examples=format_examples(self.rows(far), list(_as_text(values)[far][:5])))
            return parsed
        # money / number
        parsed, bad, corrected = _parse_numbers(values, self.source)
        bad = bad & alive
        if bad.any():
            raise self.fatal(col.name, "must be numeric", bad, values, _number_todo(_as_text(values)[bad], self.source))
        if corrected:
            self.quality.add(self.table, self.file, "currency symbols removed from amounts", column=col.name,
                             rows=corrected, action="corrected")
        return parsed

    def row_rules(self) -> None:
        spec = CONTRACT[self.table]
        frame = self.frame
        short = self.meta.short
        for col in spec.columns:
            if col.name not in frame.columns:
                continue
            values = frame[col.name]
            if col.required:
                missing = values.isna().to_numpy()
                if missing.any():
                    detail = ""
                    if short is not None and (short & missing & self.alive).any():
                        detail = "some of these lines have fewer fields than the header"
                    self.exclude(missing, f"missing {col.name}", column=col.name, detail=detail)
            if col.kind in ("number", "money") and values.notna().any():
                num = values.astype("float64")
                bad = np.zeros(len(num), dtype=bool)
                if col.min is not None:
                    bad |= (num < col.min).to_numpy()
                if col.max is not None:
                    bad |= (num > col.max).to_numpy()
                if col.integer:
                    bad |= (num.notna() & (num != np.round(num))).to_numpy()
                bad &= num.notna().to_numpy() & self.alive
                if bad.any():
                    rng = col.range_text
                    if col.on_out_of_range == "error":
                        rule = f"must be {rng}" if rng.startswith("≥") else f"must be in {rng}"
                        raise self.fatal(col.name, rule, bad, values, "correct these values in the source")
                    if col.on_out_of_range == "exclude":
                        self.exclude(bad, f"{col.name} outside {rng}", column=col.name)
                    else:
                        examples = format_examples(self.rows(bad), list(values[bad][:5]))
                        frame.loc[bad, col.name] = np.nan
                        self.quality.add(self.table, self.file, f"{col.name} outside {rng}: value blanked, row kept",
                                         column=col.name, rows=int(bad.sum()), action="corrected",
                                         examples=examples)
            if col.allowed and values.notna().any():
                low = values.astype("string").str.lower()
                bad = (values.notna() & ~low.isin(col.allowed)).to_numpy() & self.alive
                frame[col.name] = low
                if bad.any():
                    examples = format_examples(self.rows(bad), list(values[bad][:5]))
                    frame.loc[bad, col.name] = pd.NA
                    self.quality.add(self.table, self.file,
                                     f"{col.name} not one of {', '.join(col.allowed)}: value blanked, row kept",
                                     column=col.name, rows=int(bad.sum()), action="corrected", examples=examples)
            if (self.table, col.name) in _EVENT_DATES:
                future = (values > self.today + pd.Timedelta(days=1)).to_numpy()
                self.exclude(future, "date in the future", column=col.name,
                             detail=f"dated after today ({self.today.date()}): likely a typing error in the source")

    def duplicates(self) -> None:
        spec = CONTRACT[self.table]
        value_cols = [c for c in self.frame.columns if c != _ROW]
        alive = self.alive
        if spec.key:
            key = list(spec.key)
            live = self.frame[alive]
            if not live.duplicated(key, keep=False).any():
                return
            distinct = live.drop_duplicates(value_cols)
            conflicting_ids = distinct.loc[distinct.duplicated(key, keep=False), key[0]]
            if len(conflicting_ids):
                conflicts = _isin(live[key[0]], conflicting_ids)
                ids = conflicting_ids.astype(str).unique()
                rows = live.loc[conflicts, _ROW].to_numpy()
                raise _fail(self.file, f"column {self.label(key[0])} must be unique; {len(ids):,} "
                                       f"{'id appears' if len(ids) == 1 else 'ids appear'} in {len(rows):,} rows "
                                       f"with different details (ids {', '.join(ids[:5])}; {format_examples(rows)})",
                            "keep one row per id in the source (merge the duplicates)")
            exact = live.duplicated(value_cols, keep="first").to_numpy()
            mask = np.zeros(len(self.frame), dtype=bool)
            mask[np.flatnonzero(alive)[exact]] = True
            self.exclude(mask, "duplicate row", column=key[0], detail="identical repeated rows: first kept")
        elif self.table == "transactions":
            # candidates: identical in every canonical column; confirmed on every column of the file
            # (cheap first pass on account, date and amount; then every canonical column)
            live = self.frame[alive]
            first = [c for c in ("account_id", "date", "revenue") if c in live.columns]
            candidates = live.duplicated(first, keep=False).to_numpy()
            if not candidates.any():
                return
            positions = np.flatnonzero(alive)[candidates]
            same = self.frame.iloc[positions].duplicated(value_cols, keep=False).to_numpy()
            if not same.any():
                return
            positions = positions[same]
            raw = self.raw.iloc[positions]
            dup = np.zeros(len(self.frame), dtype=bool)
            dup[positions[raw.duplicated(keep="first").to_numpy()]] = True
            if not dup.any():
                return
            has_order = self.frame["order_id"].notna().to_numpy() if "order_id" in self.frame.columns \
                else np.zeros(len(self.frame), dtype=bool)
            self.exclude(dup & has_order, "duplicate line",
                         detail="identical in every column including the order id: exported twice; first kept")
            repeats = dup & ~has_order
            if repeats.any():
                self.quality.add(self.table, self.file, "identical lines without an order id (kept: they may be "
                                 "genuine repeats)", rows=int(repeats.sum()), action="flagged",
                                 examples=format_examples(self.rows(repeats)))

    def finish(self) -> pd.DataFrame:
        kept = self.alive
        reasons = pd.Series(self.reason[~kept]).value_counts().to_dict() if (~kept).any() else {}
        frame = self.frame[kept].reset_index(drop=True)
        frame.attrs = {}
        self.quality.account(self.table, self.file, read=self.n_read, kept=len(frame), excluded=reasons)
        return frame


# words clients use for the required columns (lower case, letters and digits only)
_SYNONYMS = {
    "account_id": ("customerid", "customer", "custid", "cust", "kundennummer", "kundennr", "kunde", "clientid",
                   "client", "accountid", "account", "debitor", "reseller", "buyer", "soldto", "partner"),
    "date": ("invoicedate", "orderdate", "date", "datum", "day", "time"),
    "revenue": ("revenue", "sales", "netamount", "amount", "umsatz", "turnover", "betrag", "value", "net"),
    "prospect_id": ("prospect", "lead", "opportunity"),
    "account_manager": ("accountmanager", "manager", "owner", "rep", "betreuer"),
    "goal": ("goal", "objective", "ziel"),
    "period": ("period", "month", "monat", "date"),
    "cost": ("cost", "kosten", "amount", "betrag"),
}


def _likely_column(canonical: str, columns: list[str]) -> list[str]:
    """The client column that most likely holds ``canonical`` (for a column-map hint)."""
    norm = {c: re.sub(r"[^a-z0-9]", "", str(c).lower()) for c in columns}
    for word in _SYNONYMS.get(canonical, ()):
        hits = [c for c in columns if word in norm[c]]
        if hits:
            return hits[:1]
    return difflib.get_close_matches(canonical, columns, n=1, cutoff=0.6)


def _yaml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][\w .-]*", name) and not name.endswith(" ") else f"'{name}'"


def _number_todo(sample: pd.Series, source: DataSource) -> str:
    stripped = sample.str.replace(_CURRENCY_RE, "", regex=True).str.strip()
    if stripped.str.match(_THOUSANDS_RE).any() and not source.thousands:
        return ("the amounts use thousands separators (1,234.50): set `thousands: \",\"` "
                "(or `thousands: \".\"` with `decimal: \",\"`) for this file")
    if source.decimal == "." and stripped.str.fullmatch(r"[-+]?\d+,\d+").any():
        return "the amounts use a decimal comma: set `decimal: \",\"` for this file"
    return ("correct these cells in the source (or blank them: an empty amount excludes the row); if the "
            "export writes missing values as a word such as NULL, list it under `na_values:` for this file")


def _date_todo(sample: pd.Series, source: DataSource) -> str:
    parts = sample.str.extract(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{2,4})")
    if parts[0].notna().any():
        first = pd.to_numeric(parts[0], errors="coerce")
        second = pd.to_numeric(parts[1], errors="coerce")
        if (second > 12).any() and not (first > 12).any():
            return "the dates look month-first (US 12/31/2024): set `date_format: \"%m/%d/%Y\"` for this file"
        if not source.dayfirst:
            return ("the dates look day-first (31.12.2024 or 31/12/2024): set `dayfirst: true` for this file "
                    "(or `date_format:`, e.g. \"%m/%d/%Y\" for US dates)")
    if source.date_format:
        return f"the values do not match `date_format: \"{source.date_format}\"`: correct them or the format"
    return "export dates as ISO (2024-12-31) or set `dayfirst:`/`date_format:` for this file"


def _isin(values: pd.Series, candidates) -> np.ndarray:
    """``values.isin(candidates)`` as a bool array, fast for long candidate columns (ids)."""
    uniques = pd.Series(candidates).dropna().unique()
    return values.isin(list(uniques)).fillna(False).to_numpy(dtype=bool)


def _extra_column(name: str) -> Column:
    kinds = {"kam_start": "date", "is_key_account": "bool", "cost": "money", "quantity": "number",
             "unit_price": "money"}
    return Column(name, kinds.get(name, "text"))


# --------------------------------------------------------------------------------------------
# The dataset
# --------------------------------------------------------------------------------------------
def _window_rule(load: _TableLoad, config: Config) -> None:
    dates = load.frame["date"]
    if config.window_start is not None:
        load.exclude((dates < pd.Timestamp(config.window_start)).to_numpy(), "before the analysis window",
                     column="date", detail=f"window starts {config.window_start}")
    if config.window_end is not None:
        end = pd.Timestamp(config.window_end) + pd.Timedelta(days=1)
        load.exclude((dates >= end).to_numpy(), "after the analysis window", column="date",
                     detail=f"window ends {config.window_end}")


def _ledger_attributes(tx: pd.DataFrame, quality: DataQuality, file: str) -> pd.DataFrame:
    """Account attributes carried by the ledger, one row per account (the most recent value)."""
    attrs = [c for c in ACCOUNT_ATTRIBUTES if c in tx.columns]
    if not attrs:
        ids = pd.Series(tx["account_id"].dropna().unique(), dtype="string").sort_values(ignore_index=True)
        return pd.DataFrame({"account_id": ids})
    ordered = tx.sort_values(["account_id", "date", _ROW], kind="stable")
    grouped = ordered.groupby("account_id", sort=True, observed=True)
    accounts = grouped.agg({a: "last" for a in attrs})
    for a in attrs:
        n_values = grouped[a].nunique()
        conflicts = int((n_values > 1).sum())
        if conflicts:
            ids = ", ".join(n_values[n_values > 1].index[:5].astype(str))
            quality.add("accounts", file, f"accounts with more than one {a} in the ledger: the most recent is used",
                        column=a, rows=conflicts, action="flagged", examples=f"accounts {ids}")
    return accounts.reset_index()


def _typed_accounts(accounts: pd.DataFrame) -> pd.DataFrame:
    """Give the accounts table every canonical column (missing ones empty) with stable dtypes."""
    spec = CONTRACT["accounts"]
    out = accounts.copy()
    for col in spec.columns:
        if col.name not in out.columns:
            out[col.name] = {
                "date": pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]"),
                "bool": pd.Series(pd.NA, index=out.index, dtype="boolean"),
                "money": np.nan, "number": np.nan,
            }.get(col.kind, pd.Series(pd.NA, index=out.index, dtype="string"))
    out["account_id"] = out["account_id"].astype("string")
    extra = [c for c in out.columns if c not in spec.names]
    return out[spec.names + extra]


def load_dataset(config, *, today=None) -> Dataset:
    """Load every table the config names into the data contract.

    Parameters
    ----------
    config : Config, str or Path
        A loaded config or the path of a YAML config.
    today : date-like, optional
        The reference date of the "date in the future" rule (default: the machine's date). Pass
        it to make a load reproducible.

    Returns
    -------
    Dataset
        Typed tables and the data-quality log. Row accounting holds for every table.

    Raises
    ------
    DataValidationError
        For fatal problems; the message names the file, column, rule, rows and what to do.

    Examples
    --------
    >>> from kamtools.io import load_dataset  # doctest: +SKIP
    >>> ds = load_dataset("configs/sample.yaml")  # doctest: +SKIP
    >>> ds.quality.accounting  # doctest: +SKIP
    """
    if not isinstance(config, Config):
        config = load_config(config)
    today = pd.Timestamp(today if today is not None else _dt.date.today()).normalize()
    quality = DataQuality()
    tables: dict[str, pd.DataFrame] = {}
    sources: dict[str, str] = {}
    files: dict[str, str] = {}
    order = ["accounts", "transactions"] + [t for t in CONTRACT if t not in ("accounts", "transactions")]
    ledger = None
    for table in order:
        source = config.data.get(table)
        if source is None:
            continue
        if table == "transactions":
            from .ledger_duckdb import load_ledger, use_duckdb

            if use_duckdb(source):
                # large ledgers: the same rules and the aggregate in DuckDB; a stand-in comes back
                ledger = load_ledger(source, config, quality, today)
            if ledger is not None:
                tables[table] = ledger.transactions
                sources[table] = str(source.path.name)
                files[table] = ledger.file
                continue
        frame, meta = _read_source(source)
        load = _TableLoad(table, frame, meta, source, quality, today)
        load.truncated_tail()
        load.map_columns(config.columns.get(table, {}))
        load.derive(config.derive.get(table, {}))
        load.require_columns()
        extra = ("cost",) + ACCOUNT_ATTRIBUTES if table == "transactions" else ()
        load.coerce(extra=extra)
        if table == "transactions" and "cost" in load.frame.columns:
            if "gross_margin" not in load.frame.columns:
                load.frame["gross_margin"] = load.frame["revenue"] - load.frame["cost"]
                quality.add(table, load.file, "derived 'gross_margin' = revenue − cost", column="gross_margin",
                            rows=len(load.frame), action="info")
            load.frame = load.frame.drop(columns="cost")
        load.row_rules()
        if table == "transactions":
            _window_rule(load, config)
        if table in ("surveys", "interactions", "outcomes"):
            ids = load.frame["account_id"]
            known = tables["transactions"]["account_id"]
            unknown = ~_isin(ids, known)
            if "accounts" in tables:
                unknown = unknown & ~_isin(ids, tables["accounts"]["account_id"])
            unknown = unknown & ids.notna().to_numpy()
            load.exclude(unknown, "account not in accounts or ledger", column="account_id",
                         detail="responses or contacts of accounts the kit does not know")
        load.duplicates()
        tables[table] = load.finish()
        sources[table] = str(source.path.name)
        files[table] = load.file

    tx = tables["transactions"]
    if (tx.empty if ledger is None else ledger.rows_kept == 0):
        raise _fail(files["transactions"], "no usable ledger rows remain after validation",
                    "see the data-quality log (kam validate) for why rows were excluded")
    credit = int((tx["revenue"] < 0).sum()) if ledger is None else ledger.n_credit
    if credit:
        quality.add("transactions", files["transactions"], "credit notes (negative revenue) kept",
                    column="revenue", rows=credit, action="info")
    ledger_attrs = _ledger_attributes(tx, quality, files["transactions"]) if ledger is None \
        else ledger.account_attributes(quality, files["transactions"])
    attr_cols = [c for c in ledger_attrs.columns if c != "account_id"]
    if "accounts" in tables:
        accounts = tables["accounts"].drop(columns=[_ROW])
        known = accounts["account_id"]
        if ledger is None:
            unknown_mask = ~_isin(tx["account_id"], known)
            n_unknown = int(unknown_mask.sum())
            missing = tx.loc[unknown_mask, "account_id"].drop_duplicates()
        else:
            n_unknown, missing = ledger.unknown_accounts(known)
        if n_unknown:
            quality.add("transactions", files["transactions"],
                        "transactions of accounts not in the accounts table: kept, accounts added as unlisted",
                        column="account_id", rows=n_unknown, action="flagged",
                        examples="accounts " + ", ".join(missing[:5].astype(str)))
            stub = pd.DataFrame({"account_id": pd.array(missing.to_numpy(), dtype="string")})
            accounts = pd.concat([accounts, stub], ignore_index=True)
        in_table = _isin(accounts["account_id"], known)
        if attr_cols:
            lookup = ledger_attrs.set_index("account_id")
            filled = []
            for a in attr_cols:
                from_ledger = accounts["account_id"].map(lookup[a])
                if a not in accounts.columns:
                    accounts[a] = from_ledger
                    filled.append(a)
                else:
                    gap = accounts[a].isna() & from_ledger.notna()
                    if gap.any():
                        accounts.loc[gap, a] = from_ledger[gap]
                        filled.append(a)
            if filled:
                quality.add("accounts", files["transactions"], "account attributes filled from ledger columns "
                            "where the accounts table has none", rows=len(accounts), action="info",
                            detail=", ".join(filled))
        accounts["in_accounts_table"] = in_table
        from_ledger_only = False
    else:
        accounts = ledger_attrs
        quality.add("accounts", files["transactions"], "no accounts table: accounts taken from the ledger",
                    rows=len(accounts), action="info",
                    detail=f"attributes from ledger columns: {', '.join(attr_cols) or 'none'}")
        accounts["in_accounts_table"] = False
        from_ledger_only = True
    tables["accounts"] = _typed_accounts(accounts)
    tables["transactions"] = tx.drop(columns=[c for c in ACCOUNT_ATTRIBUTES if c in tx.columns])
    for name in list(tables):
        tables[name] = tables[name].drop(columns=[_ROW], errors="ignore")
        tables[name].attrs = {}
    ordered = {name: tables[name] for name in CONTRACT if name in tables}
    dataset = Dataset(tables=ordered, quality=quality, config=config, accounts_from_ledger=from_ledger_only,
                      sources=sources)
    if ledger is not None:
        dataset.ledger = ledger
    return dataset
