"""Loaders: bring a client's files into the data contract without losing a row.

``load_dataset(config)`` reads every table the config names (CSV with ``,``/``;``/tab separators,
decimal comma, UTF-8 with or without BOM or Latin-1; Excel sheets by name; Parquet files or
folders), applies the column map and the declared derivations, coerces types, validates against
:mod:`kamtools.schema` and returns a :class:`Dataset` with one typed DataFrame per table and a
:class:`~kamtools.quality.DataQuality` log.

Rules (documented for consultants)
----------------------------------
Fatal (``DataValidationError`` naming file, column, rows and what to do): unreadable or empty file,
wrong encoding or separator, duplicate or missing required columns, a wrong sheet name, values that
cannot be read as numbers or dates (including mixed date formats), conflicting duplicate accounts,
negative programme costs.

Handled and logged (the row accounting shows them):

* a row without a value in a required column (account, date, amount) is **excluded**;
* a transaction dated in the future or outside the config's window is **excluded**;
* an exact duplicate ledger line (every column equal, with an order id present) is **excluded**;
  without an order id, identical lines may be genuine repeats and are **kept, flagged**;
* a transaction whose account is not in the accounts table is **kept**; the account is added to
  the accounts table with ``in_accounts_table = False`` (**flagged**);
* survey, interaction and outcome rows for unknown accounts are **excluded**;
* a value outside its allowed range (NPS 0–10, scores 1–5, likelihood 0–1, negative wallet) is
  **blanked** in that row (the rest of the row is kept, **corrected**);
* identifiers exported as floats (``1001.0``) and amounts with currency symbols are **corrected**;
* negative revenue lines are credit notes: legitimate, **kept** (counted in the log as info).
"""

from __future__ import annotations

import csv
import datetime as _dt
import difflib
import io as _stdio
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .config import Config, DataSource, load_config
from .exceptions import DataValidationError
from .quality import DataQuality, format_examples
from .schema import ACCOUNT_ATTRIBUTES, CONTRACT, Column

__all__ = ["Dataset", "load_dataset", "read_table", "DataValidationError"]

_ROW = "_source_row"
_CURRENCY = r"(?:€|\$|£|¥|CHF|EUR|USD|GBP)"
_CURRENCY_RE = re.compile(rf"^\s*{_CURRENCY}\s*|\s*{_CURRENCY}\s*$")
_THOUSANDS_RE = re.compile(r"^[-+]?\d{1,3}([,.' ]\d{3})+([.,]\d+)?$")
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
    """

    tables: dict[str, pd.DataFrame]
    quality: DataQuality = field(default_factory=DataQuality)
    config: Config | None = None
    accounts_from_ledger: bool = False
    sources: dict[str, str] = field(default_factory=dict)

    def __getattr__(self, name):
        if name in CONTRACT:
            return self.tables.get(name)
        raise AttributeError(name)

    @property
    def window(self) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """First and last transaction date actually kept."""
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


def _decode(source: DataSource, raw: bytes) -> str:
    name = source.path.name
    if not raw.strip():
        raise _fail(name, "the file is empty", "re-export the table with a header row and data rows")
    encoding = source.encoding or "utf-8-sig"
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"  # accept a BOM either way
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        bad = raw[exc.start: exc.start + 1]
        hint = "set `encoding: latin-1` (or cp1252) for this file in the config" if source.encoding is None \
            else f"the file is not {source.encoding}: check the export's encoding and set `encoding:` to match"
        raise _fail(name, f"cannot be read as {source.encoding or 'UTF-8'} (byte {bad!r} on line {line})",
                    hint) from None
    except LookupError:
        raise _fail(name, f"unknown encoding {source.encoding!r}", "use utf-8, latin-1 or cp1252") from None


def _sniff_sep(header: str) -> str:
    counts = {sep: header.count(sep) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else ","


def _read_csv(source: DataSource) -> pd.DataFrame:
    name = source.path.name
    text = _decode(source, source.path.read_bytes())
    lines = text.splitlines()
    header_line = lines[0] if lines else ""
    sep = source.sep or _sniff_sep(header_line)
    header = next(csv.reader([header_line], delimiter=sep))
    if len(header) == 1 and source.sep is not None:
        other = _sniff_sep(header_line)
        if other != sep and header_line.count(other) > 0:
            raise _fail(name, f"only one column found with separator {sep!r} (header: {header_line[:80]!r})",
                        f"the file seems to use {other!r}: set `sep: \"{other}\"` for this file in the config")
    stripped = [h.strip() for h in header]
    dupes = sorted({h for h in stripped if stripped.count(h) > 1})
    if dupes:
        raise _fail(name, f"duplicate column names in the header: {', '.join(map(repr, dupes))}",
                    "rename or remove the repeated columns so each name appears once")
    if any(h == "" for h in stripped):
        pos = [i + 1 for i, h in enumerate(stripped) if h == ""]
        raise _fail(name, f"empty column name at position(s) {pos}", "give every column a header")
    try:
        frame = pd.read_csv(
            _stdio.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[],
            skipinitialspace=False, engine="c",
        )
    except pd.errors.ParserError as exc:
        msg = str(exc)
        match = re.search(r"line (\d+), saw (\d+)", msg)
        where = f"line {match.group(1)} has {match.group(2)} fields but the header has {len(header)}" \
            if match else msg
        raise _fail(name, where, "quote fields that contain the separator, or set the right `sep:`") from None
    frame.columns = stripped
    if frame.empty:
        raise _fail(name, "the file has a header but no data rows", "re-export the table with its rows")
    # short rows (fewer fields than the header) read as NaN, present-but-empty fields as ''
    short = frame.isna().any(axis=1).to_numpy()
    frame = frame.fillna("")
    frame.attrs["short_rows"] = short
    frame.attrs["truncated_tail"] = bool(short[-1]) and not text.endswith(("\n", "\r"))
    return frame


def _read_excel(source: DataSource) -> pd.DataFrame:
    name = source.path.name
    try:
        import openpyxl
        book = openpyxl.load_workbook(source.path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise _fail(name, f"cannot be opened as an Excel workbook ({type(exc).__name__})",
                    "save it as .xlsx from Excel, or export the sheet as CSV") from None
    sheets = book.sheetnames
    sheet = source.sheet if source.sheet is not None else sheets[0]
    if isinstance(sheet, int):
        if sheet >= len(sheets):
            raise _fail(name, f"has no sheet number {sheet}", f"sheets are: {', '.join(sheets)}")
        sheet = sheets[sheet]
    if sheet not in sheets:
        near = difflib.get_close_matches(str(sheet), sheets, n=1)
        hint = f"did you mean '{near[0]}'? " if near else ""
        raise _fail(name, f"has no sheet named '{sheet}'", f"{hint}set `sheet:` to one of: {', '.join(sheets)}")
    rows = list(book[sheet].iter_rows(values_only=True))
    book.close()
    if not rows or all(v is None for v in rows[0]):
        raise _fail(f"{name} [{sheet}]", "the sheet is empty", "put the header in the first row")
    header = ["" if v is None else str(v).strip() for v in rows[0]]
    while header and header[-1] == "":
        header.pop()
    dupes = sorted({h for h in header if h and header.count(h) > 1})
    if dupes:
        raise _fail(f"{name} [{sheet}]", f"duplicate column names in the header: {', '.join(map(repr, dupes))}",
                    "rename or remove the repeated columns so each name appears once")
    body = [r[: len(header)] for r in rows[1:] if any(v is not None and v != "" for v in r)]
    if not body:
        raise _fail(f"{name} [{sheet}]", "the sheet has a header but no data rows", "fill in the rows")
    frame = pd.DataFrame(body, columns=header, dtype=object)
    frame = frame.apply(_excel_cell_text)
    frame.attrs["short_rows"] = np.zeros(len(frame), dtype=bool)
    frame.attrs["truncated_tail"] = False
    return frame


def _excel_cell_text(col: pd.Series) -> pd.Series:
    """Excel cells as text like a CSV export: integral floats lose '.0', dates become ISO."""
    def conv(v):
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        if isinstance(v, (_dt.datetime, _dt.date)):
            return v.isoformat()
        return str(v)
    return col.map(conv)


def _read_parquet(source: DataSource) -> pd.DataFrame:
    name = source.path.name
    try:
        frame = pd.read_parquet(source.path)
    except Exception as exc:
        raise _fail(name, f"cannot be read as Parquet ({type(exc).__name__}: {exc})",
                    "check the file is complete, or export CSV") from None
    if frame.empty:
        raise _fail(name, "the file has no rows", "re-export the table with its rows")
    frame.attrs["short_rows"] = np.zeros(len(frame), dtype=bool)
    frame.attrs["truncated_tail"] = False
    return frame


def read_table(source: DataSource) -> pd.DataFrame:
    """Read one source as it is (text columns for CSV/Excel), with its source row numbers."""
    if not source.path.exists():
        raise _fail(source.path, "file not found", "check `path:` in the config (relative to the config file)")
    fmt = source.format
    frame = {"csv": _read_csv, "excel": _read_excel, "parquet": _read_parquet}[fmt](source)
    # line numbers as a spreadsheet shows them: header is row 1
    frame[_ROW] = np.arange(2, len(frame) + 2)
    return frame


# --------------------------------------------------------------------------------------------
# Parsing values
# --------------------------------------------------------------------------------------------
def _as_text(series: pd.Series) -> pd.Series:
    if series.dtype == object or pd.api.types.is_string_dtype(series):
        return series.astype("string").str.strip().fillna("")
    return series.astype("string").fillna("")


def _parse_numbers(series: pd.Series, source: DataSource) -> tuple[pd.Series, np.ndarray, int]:
    """Numbers from text; returns values, the mask of unreadable cells and how many were corrected."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.astype("float64"), np.zeros(len(series), dtype=bool), 0
    text = _as_text(series)
    empty = text.eq("").to_numpy()
    cleaned = text
    if source.thousands:
        cleaned = cleaned.str.replace(source.thousands, "", regex=False)
    if source.decimal != ".":
        cleaned = cleaned.str.replace(source.decimal, ".", regex=False)
    values = pd.to_numeric(cleaned.where(~empty, None), errors="coerce").astype("float64")
    bad = values.isna().to_numpy() & ~empty
    corrected = 0
    if bad.any():
        retry = cleaned[bad].str.replace(_CURRENCY_RE, "", regex=True).str.replace(" ", "", regex=False)
        fixed = pd.to_numeric(retry, errors="coerce")
        ok = fixed.notna().to_numpy()
        if ok.any():
            values.iloc[np.flatnonzero(bad)[ok]] = fixed[ok].to_numpy()
            corrected = int(ok.sum())
            bad = values.isna().to_numpy() & ~empty
    return values, bad, corrected


def _parse_dates(series: pd.Series, source: DataSource) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_datetime64_any_dtype(series):
        values = series
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_localize(None)
        return values.astype("datetime64[ns]"), np.zeros(len(series), dtype=bool)
    text = _as_text(series)
    empty = text.eq("").to_numpy()
    present = text.where(~empty, None)
    if source.date_format:
        values = pd.to_datetime(present, format=source.date_format, errors="coerce")
    elif source.dayfirst:
        values = pd.to_datetime(present, dayfirst=True, errors="coerce")
    else:
        values = pd.to_datetime(present, format="ISO8601", errors="coerce")
    values = values.astype("datetime64[ns]")
    bad = values.isna().to_numpy() & ~empty
    return values, bad


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
        if (finite == np.floor(finite)).all():
            text = series.map(lambda v: "" if pd.isna(v) else str(int(v)), na_action=None)
            return text.astype("string"), int(series.notna().sum())
    text = _as_text(series)
    floaty = text.str.fullmatch(r"\d+\.0+")
    non_empty = text.ne("")
    n_floaty = int(floaty.sum())
    if n_floaty and bool(floaty[non_empty].all()):
        return text.str.replace(r"\.0+$", "", regex=True), n_floaty
    return text, 0


# --------------------------------------------------------------------------------------------
# Validating one table
# --------------------------------------------------------------------------------------------
class _TableLoad:
    """Carries one table through mapping, derivation, typing and row rules."""

    def __init__(self, table: str, frame: pd.DataFrame, source: DataSource, quality: DataQuality):
        self.table = table
        self.frame = frame
        self.source = source
        self.file = source.path.name
        self.quality = quality
        self.n_read = len(frame)
        self.reason = np.full(len(frame), "", dtype=object)  # exclusion reason, '' = kept

    # -- helpers ------------------------------------------------------------------------------
    def rows(self, mask) -> np.ndarray:
        return self.frame[_ROW].to_numpy()[np.asarray(mask, dtype=bool)]

    def fatal(self, column, message, mask, values, todo) -> DataValidationError:
        mask = np.asarray(mask, dtype=bool)
        n = int(mask.sum())
        examples = format_examples(self.rows(mask), list(pd.Series(values)[mask][:5]))
        return _fail(self.file, f"column '{column}' {message}; {n:,} of {self.n_read:,} rows "
                                f"{'is' if n == 1 else 'are'} not ({examples})", todo)

    def exclude(self, mask, reason: str, *, column=None, detail="") -> None:
        mask = np.asarray(mask, dtype=bool) & (self.reason == "")
        n = int(mask.sum())
        if n:
            self.reason[mask] = reason
            examples = format_examples(self.rows(mask))
            self.quality.add(self.table, self.file, reason, column=column, rows=n, action="excluded",
                             detail=detail, examples=examples)

    # -- steps --------------------------------------------------------------------------------
    def map_columns(self, mapping: dict[str, str]) -> None:
        present = set(self.frame.columns)
        missing = [c for c in mapping if c not in present]
        if missing:
            cols = [c for c in self.frame.columns if c != _ROW]
            near = {m: difflib.get_close_matches(m, cols, n=1, cutoff=0.5) for m in missing}
            hints = "; ".join(f"'{m}'" + (f" (did you mean '{near[m][0]}'?)" if near[m] else "") for m in missing)
            raise _fail(self.file, f"the column map names column(s) not in the file: {hints}",
                        f"fix `columns: {self.table}:` in the config; the file's columns are: {', '.join(cols)}")
        targets = list(mapping.values())
        dup_targets = sorted({t for t in targets if targets.count(t) > 1})
        if dup_targets:
            raise _fail(self.file, f"two client columns map to the same canonical column {dup_targets}",
                        "map each canonical column from one client column")
        clash = [t for c, t in mapping.items() if t in present and t not in mapping and c != t]
        if clash:
            raise _fail(self.file, f"column(s) {clash} exist in the file and are also mapped from another column",
                        "remove one of them from the map")
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
                    cols = [c for c in self.frame.columns if c != _ROW]
                    near = difflib.get_close_matches(str(operand), cols, n=1, cutoff=0.5)
                    raise _fail(self.file, f"derive.{self.table}.{target} uses column '{operand}', which is not in "
                                           "the file" + (f" (did you mean '{near[0]}'?)" if near else ""),
                                f"use one of: {', '.join(cols)}")
                nums, bad, _ = _parse_numbers(self.frame[operand], self.source)
                if bad.any():
                    raise self.fatal(operand, f"must be numeric to derive '{target}'", bad, self.frame[operand],
                                     "fix the values, or set `decimal:`/`thousands:` for this file")
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
                result = values[0] / values[1]
            elif op == "negate":
                result = -values[0]
            else:  # copy
                result = values[0]
            if np.isscalar(result):
                result = pd.Series(result, index=self.frame.index)
            self.frame[target] = pd.Series(result, index=self.frame.index).astype("float64").round(10)
            self.quality.add(self.table, self.file, f"derived '{target}' = {op}({', '.join(map(str, operands))})",
                             column=target, rows=len(self.frame), action="info")

    def require_columns(self) -> None:
        spec = CONTRACT[self.table]
        cols = [c for c in self.frame.columns if c != _ROW]
        missing = [c for c in spec.required if c not in self.frame.columns]
        if missing:
            hints = []
            for m in missing:
                near = difflib.get_close_matches(m, cols, n=1, cutoff=0.3)
                hints.append(f"{{{near[0]}: {m}}}" if near else f"{{<your column>: {m}}}")
            raise _fail(self.file, f"required column(s) missing: {', '.join(missing)} (the file has: "
                                   f"{', '.join(cols)})",
                        f"add a column map to the config, e.g. `columns: {self.table}: {', '.join(hints)}`")

    def coerce(self, extra: tuple[str, ...] = ()) -> None:
        spec = CONTRACT[self.table]
        keep = [c.name for c in spec.columns if c.name in self.frame.columns]
        keep += [c for c in extra if c in self.frame.columns and c not in keep]
        dropped = [c for c in self.frame.columns if c not in keep and c != _ROW]
        if dropped:
            self.quality.add(self.table, self.file, "columns not kept (unused, or only inputs of derivations)", rows=0, action="info",
                             detail=", ".join(map(str, dropped[:20])) + (" …" if len(dropped) > 20 else ""))
        out = {}
        for name in keep:
            col = spec.column(name) if name in spec.names else _extra_column(name)
            out[name] = self._coerce_column(col, self.frame[name])
        out[_ROW] = self.frame[_ROW]
        self.frame = pd.DataFrame(out, index=self.frame.index)

    def _coerce_column(self, col: Column, values: pd.Series) -> pd.Series:
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
            if bad.any():
                raise self.fatal(col.name, "must be yes/no (true/false, 1/0)", bad, values,
                                 "use true/false or yes/no in this column")
            return parsed
        if col.kind == "date":
            parsed, bad = _parse_dates(values, self.source)
            if bad.any():
                sample = _as_text(values)[bad]
                if not self.source.dayfirst and sample.str.match(r"^\d{1,2}[./]\d{1,2}[./]\d{2,4}").any():
                    todo = "the dates look day-first (31.12.2024 or 31/12/2024): set `dayfirst: true` for this file"
                elif (~bad & _as_text(values).ne("").to_numpy()).any():
                    todo = ("the column mixes date formats: export all dates in one format (ISO 2024-12-31 is "
                            "safest), or set `date_format:`")
                else:
                    todo = "export dates as ISO (2024-12-31) or set `dayfirst:`/`date_format:` for this file"
                raise self.fatal(col.name, "must be a date", bad, values, todo)
            return parsed
        # money / number
        parsed, bad, corrected = _parse_numbers(values, self.source)
        if bad.any():
            sample = _as_text(values)[bad]
            if sample.str.match(_THOUSANDS_RE).any():
                todo = ("the amounts use thousands separators (1,234.50): set `thousands: \",\"` "
                        "(or \".\" with `decimal: \",\"`) for this file")
            elif self.source.decimal == "." and sample.str.fullmatch(r"[-+]?\d+,\d+").any():
                todo = "the amounts use a decimal comma: set `decimal: \",\"` for this file"
            else:
                todo = "correct these cells (or remove the rows in the export); blanks are allowed"
            raise self.fatal(col.name, "must be numeric", bad, values, todo)
        if corrected:
            self.quality.add(self.table, self.file, "currency symbols removed from amounts", column=col.name,
                             rows=corrected, action="corrected")
        return parsed

    def row_rules(self) -> None:
        spec = CONTRACT[self.table]
        frame = self.frame
        short = frame.attrs.get("short_rows")
        for col in spec.columns:
            if col.name not in frame.columns:
                continue
            values = frame[col.name]
            if col.required:
                missing = values.isna().to_numpy()
                if missing.any():
                    detail = ""
                    if self.table == "transactions" and short is not None and short[missing].any():
                        detail = "these lines have fewer fields than the header"
                        if bool(short[-1]) and missing[-1]:
                            detail += "; the last line looks truncated: re-export the file"
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
                bad &= num.notna().to_numpy()
                if bad.any():
                    rng = col.range_text
                    if col.on_out_of_range == "error":
                        raise self.fatal(col.name, f"must be in {rng}", bad, values,
                                         "correct these values in the source")
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
                bad = (values.notna() & ~low.isin(col.allowed)).to_numpy()
                frame[col.name] = low
                if bad.any():
                    examples = format_examples(self.rows(bad), list(values[bad][:5]))
                    frame.loc[bad, col.name] = pd.NA
                    self.quality.add(self.table, self.file,
                                     f"{col.name} not one of {', '.join(col.allowed)}: value blanked, row kept",
                                     column=col.name, rows=int(bad.sum()), action="corrected", examples=examples)
            if (self.table, col.name) in _EVENT_DATES:
                today = pd.Timestamp(_dt.date.today())
                future = (values > today + pd.Timedelta(days=1)).to_numpy()
                self.exclude(future, "date in the future", column=col.name,
                             detail=f"dated after today ({today.date()}): likely a typing error in the source")

    def duplicates(self) -> None:
        spec = CONTRACT[self.table]
        value_cols = [c for c in self.frame.columns if c != _ROW]
        alive = self.reason == ""
        if spec.key:
            key = list(spec.key)
            live = self.frame[alive]
            dup_key = live.duplicated(key, keep=False)
            if dup_key.any():
                exact = live.duplicated(value_cols, keep="first")
                conflicts = dup_key & ~live.duplicated(value_cols, keep=False)
                if conflicts.any():
                    ids = live.loc[conflicts, key[0]].astype(str).unique()[:5]
                    rows = self.frame.loc[live.index[conflicts.to_numpy()], _ROW]
                    raise _fail(self.file, f"column '{key[0]}' must be unique; {int(conflicts.sum())} rows share an "
                                           f"id with different details (ids {', '.join(ids)}; "
                                           f"{format_examples(rows)})",
                                "keep one row per id in the source (merge the duplicates)")
                mask = np.zeros(len(self.frame), dtype=bool)
                mask[np.flatnonzero(alive)[exact.to_numpy()]] = True
                self.exclude(mask, "duplicate row", column=key[0], detail="identical repeated rows: first kept")
        elif self.table == "transactions":
            live = self.frame[alive]
            dup = live.duplicated(value_cols, keep="first").to_numpy()
            if dup.any():
                mask = np.zeros(len(self.frame), dtype=bool)
                mask[np.flatnonzero(alive)[dup]] = True
                if "order_id" in self.frame.columns:
                    self.exclude(mask, "duplicate line", detail="identical in every column including order id: "
                                                                "exported twice")
                else:
                    self.quality.add(self.table, self.file, "identical lines (kept: without an order id they may "
                                     "be genuine repeats)", rows=int(dup.sum()), action="flagged",
                                     examples=format_examples(self.rows(mask)))

    def finish(self) -> pd.DataFrame:
        kept = self.reason == ""
        reasons = pd.Series(self.reason[~kept]).value_counts().to_dict() if (~kept).any() else {}
        frame = self.frame[kept].reset_index(drop=True)
        self.quality.account(self.table, self.file, read=self.n_read, kept=len(frame), excluded=reasons)
        return frame


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


def _accounts_from_ledger(tx: pd.DataFrame, quality: DataQuality, file: str) -> pd.DataFrame:
    attrs = [c for c in ACCOUNT_ATTRIBUTES if c in tx.columns]
    ordered = tx.sort_values(["account_id", "date", _ROW], kind="stable")
    accounts = ordered.groupby("account_id", sort=True, observed=True).agg(
        {a: "last" for a in attrs} if attrs else {"date": "size"}
    )
    if not attrs:
        accounts = accounts.drop(columns="date")
    for a in attrs:
        n_values = ordered.groupby("account_id", observed=True)[a].nunique()
        conflicts = int((n_values > 1).sum())
        if conflicts:
            ids = ", ".join(n_values[n_values > 1].index[:5].astype(str))
            quality.add("accounts", file, f"accounts with more than one {a} in the ledger: the most recent is used",
                        column=a, rows=conflicts, action="flagged", examples=f"accounts {ids}")
    accounts = accounts.reset_index()
    quality.add("accounts", file, "no accounts table: accounts taken from the ledger", rows=len(accounts),
                action="info", detail=f"attributes from ledger columns: {', '.join(attrs) or 'none'}")
    return accounts


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
    extra = [c for c in out.columns if c not in spec.names]
    return out[spec.names + extra]


def load_dataset(config, *, today=None) -> Dataset:
    """Load every table the config names into the data contract.

    Parameters
    ----------
    config : Config, str or Path
        A loaded config or the path of a YAML config.

    Returns
    -------
    Dataset
        Typed tables and the data-quality log. Row accounting holds for every table.

    Raises
    ------
    DataValidationError
        For fatal problems; the message names the file, column, rule, rows and what to do.
    """
    if not isinstance(config, Config):
        config = load_config(config)
    quality = DataQuality()
    tables: dict[str, pd.DataFrame] = {}
    sources: dict[str, str] = {}
    order = ["accounts"] + [t for t in CONTRACT if t != "accounts"]
    for table in order:
        source = config.data.get(table)
        if source is None:
            continue
        frame = read_table(source)
        load = _TableLoad(table, frame, source, quality)
        load.map_columns(config.columns.get(table, {}))
        load.derive(config.derive.get(table, {}))
        load.require_columns()
        extra = ()
        if table == "transactions":
            extra = ("cost",) + (ACCOUNT_ATTRIBUTES if "accounts" not in config.data else ())
        load.coerce(extra=extra)
        if table == "transactions" and "cost" in load.frame.columns:
            if "gross_margin" not in load.frame.columns:
                load.frame["gross_margin"] = load.frame["revenue"] - load.frame["cost"]
                quality.add(table, load.file, "derived 'gross_margin' = revenue − cost", column="gross_margin",
                            rows=len(load.frame), action="info")
            load.frame = load.frame.drop(columns="cost")
        if frame.attrs.get("truncated_tail"):
            quality.add(table, load.file, "the last line has fewer fields than the header and no line end",
                        rows=1, action="flagged", detail="the file looks truncated: re-export it",
                        examples=f"row {int(load.frame[_ROW].iloc[-1])}")
        load.frame.attrs["short_rows"] = frame.attrs.get("short_rows")
        load.row_rules()
        if table == "transactions":
            _window_rule(load, config)
        if table in ("surveys", "interactions", "outcomes") and "accounts" in tables:
            known = tables["accounts"]["account_id"]
            unknown = ~load.frame["account_id"].isin(known).to_numpy() & load.frame["account_id"].notna().to_numpy()
            if "transactions" in tables:
                unknown &= ~load.frame["account_id"].isin(tables["transactions"]["account_id"]).to_numpy()
            load.exclude(unknown, "account not in accounts or ledger", column="account_id")
        load.duplicates()
        tables[table] = load.finish()
        sources[table] = str(source.path.name)

    tx = tables["transactions"]
    if tx.empty:
        raise _fail(config.data["transactions"].path.name, "no usable ledger rows remain after validation",
                    "see the data-quality log (kam validate) for why rows were excluded")
    credit = int((tx["revenue"] < 0).sum())
    if credit:
        quality.add("transactions", sources["transactions"], "credit notes (negative revenue) kept",
                    column="revenue", rows=credit, action="info")
    if "accounts" in tables:
        accounts = tables["accounts"]
        known = set(accounts["account_id"])
        unknown_mask = ~tx["account_id"].isin(known)
        if unknown_mask.any():
            missing = tx.loc[unknown_mask, "account_id"].drop_duplicates()
            quality.add("transactions", sources["transactions"],
                        "transactions of accounts not in the accounts table: kept, accounts added as unlisted",
                        column="account_id", rows=int(unknown_mask.sum()), action="flagged",
                        examples="accounts " + ", ".join(missing[:5].astype(str)))
            stub = pd.DataFrame({"account_id": missing.to_numpy()})
            accounts = pd.concat([accounts, stub], ignore_index=True)
        accounts["in_accounts_table"] = accounts["account_id"].isin(known)
        from_ledger = False
    else:
        accounts = _accounts_from_ledger(tx, quality, sources["transactions"])
        accounts["in_accounts_table"] = False
        from_ledger = True
    tables["accounts"] = _typed_accounts(accounts.drop(columns=[_ROW], errors="ignore"))
    tables["transactions"] = tx.drop(columns=[c for c in ACCOUNT_ATTRIBUTES if c in tx.columns])
    for name in list(tables):
        tables[name] = tables[name].drop(columns=[_ROW], errors="ignore")
    ordered = {name: tables[name] for name in CONTRACT if name in tables}
    return Dataset(tables=ordered, quality=quality, config=config, accounts_from_ledger=from_ledger,
                   sources=sources)
