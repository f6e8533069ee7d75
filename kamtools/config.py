"""Engagement configuration: one YAML file per client.

A consultant writes it by hand, so every key is checked: an unknown key is an error that names
the key, where it sits and the nearest valid one. File paths are relative to the config file.

Example
-------
.. code-block:: yaml

    client: Acme Distribution
    currency: EUR
    period: M
    window: {start: 2023-01-01, end: 2025-12-31}
    data:
      transactions: {path: ledger.csv, sep: ";", decimal: ",", encoding: latin-1, dayfirst: true}
      accounts: {path: crm.xlsx, sheet: Accounts}
      surveys: {path: nps.csv, na_values: [NULL, "-"], date_format: "%m/%d/%Y"}
    columns:
      transactions: {CustomerID: account_id, InvoiceDate: date, Segment: segment}
    derive:
      transactions:
        revenue: {multiply: [Quantity, UnitPrice]}
        gross_margin: {subtract: [revenue, Cost]}
    notebooks:
      01_selection: {parameters: {max_key_accounts: 25}}
      04_retention_sensitivity: {enabled: false}
"""

from __future__ import annotations

import copy
import datetime as _dt
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .exceptions import ConfigError
from .schema import ACCOUNT_ATTRIBUTES, CONTRACT, TABLE_NAMES

__all__ = ["Config", "DataSource", "load_config", "DERIVE_OPERATIONS"]

DERIVE_OPERATIONS = ("multiply", "subtract", "add", "divide", "negate", "copy")

_TOP_KEYS = ("client", "currency", "period", "window", "as_of", "data", "columns", "derive", "notebooks",
             "output", "engine")
_SOURCE_KEYS = ("path", "sep", "decimal", "thousands", "encoding", "dayfirst", "date_format", "sheet", "engine",
                "na_values")
_SEP_WORDS = {"comma": ",", "semicolon": ";", "tab": "\t", "\\t": "\t", "pipe": "|"}
_BOOL_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_THOUSANDS = (",", ".", " ", "'", "\u00a0", "\u202f", "’")
_NOTEBOOK_KEYS = ("enabled", "parameters")
_PERIODS = {"M": "M", "MONTH": "M", "MONTHLY": "M", "Q": "Q", "QUARTER": "Q", "QUARTERLY": "Q"}


@dataclass(frozen=True)
class DataSource:
    """Where one table comes from and how to read it."""

    table: str
    path: Path
    sep: str | None = None
    decimal: str = "."
    thousands: str | None = None
    encoding: str | None = None
    dayfirst: bool = False
    date_format: str | None = None
    sheet: str | int | None = None
    engine: str = "auto"
    na_values: tuple[str, ...] = ()

    @property
    def format(self) -> str:
        if self.path.is_dir():
            return "parquet"
        suffix = self.path.suffix.lower()
        if suffix in (".xlsx", ".xlsm", ".xls"):
            return "excel"
        if suffix in (".parquet", ".pq"):
            return "parquet"
        return "csv"


@dataclass(frozen=True)
class Config:
    """A validated engagement config (see the module docstring for the YAML shape)."""

    client: str
    currency: str = "EUR"
    period: str = "M"
    window_start: _dt.date | None = None
    window_end: _dt.date | None = None
    as_of: _dt.date | None = None
    data: dict[str, DataSource] = field(default_factory=dict)
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    derive: dict[str, dict[str, dict[str, list]]] = field(default_factory=dict)
    notebooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    output: Path | None = None
    engine: str = "auto"
    path: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def notebook_enabled(self, name: str) -> bool:
        return bool(self.notebooks.get(name, {}).get("enabled", True))

    def notebook_parameters(self, name: str) -> dict[str, Any]:
        return dict(self.notebooks.get(name, {}).get("parameters", {}) or {})

    @property
    def slug(self) -> str:
        """The client name as a folder name."""
        keep = "".join(ch.lower() if ch.isalnum() else "-" for ch in self.client)
        return "-".join(part for part in keep.split("-") if part) or "client"


# words consultants use for keys that the config spells differently
_ALIASES = {
    "separator": "sep", "seperator": "sep", "delimiter": "sep", "delim": "sep", "sep_char": "sep",
    "decimal_separator": "decimal", "decimal_sep": "decimal", "decimal_point": "decimal",
    "thousands_separator": "thousands", "thousand": "thousands", "thousand_separator": "thousands",
    "file": "path", "filename": "path", "file_name": "path", "filepath": "path",
    "sheet_name": "sheet", "sheetname": "sheet", "tab": "sheet", "worksheet": "sheet",
    "day_first": "dayfirst", "dateformat": "date_format", "format": "date_format",
    "charset": "encoding", "codec": "encoding", "na": "na_values", "null_values": "na_values",
    "customer": "client", "client_name": "client", "frequency": "period", "freq": "period",
    "column_map": "columns", "mapping": "columns", "columns_map": "columns", "derivations": "derive",
    "derived": "derive", "files": "data", "inputs": "data", "params": "parameters",
}


def _nearest(key: str, valid: tuple[str, ...] | list[str]) -> str:
    valid = [str(v) for v in valid]
    text = str(key)
    lower = {v.lower(): v for v in valid}
    norm = text.lower().strip().replace(" ", "_").replace("-", "_")
    if norm in lower:
        match = [lower[norm]]
    elif _ALIASES.get(norm) in valid:
        match = [_ALIASES[norm]]
    else:
        match = difflib.get_close_matches(norm, list(lower), n=1, cutoff=0.4)
        match = [lower[match[0]]] if match else []
        prefix = [v for v in valid if len(v) >= 3 and (norm.startswith(v.lower()) or v.lower().startswith(norm))]
        if prefix and not (match and match[0] in prefix):
            match = [max(prefix, key=len)]
    return f"; did you mean '{match[0]}'?" if match else f"; valid keys are: {', '.join(valid)}"


def _check_keys(mapping: dict, valid, where: str, source: str) -> None:
    if not isinstance(mapping, dict):
        raise ConfigError(f"{source}: '{where}' must be a mapping (key: value), got {type(mapping).__name__}")
    for key in mapping:
        if key not in valid:
            raise ConfigError(f"{source}: unknown key '{key}' in {where}{_nearest(key, tuple(valid))}")


def _as_date(value, where: str, source: str) -> _dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    try:
        return _dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{source}: {where} must be an ISO date like 2024-01-31, got {value!r}") from None


def _deep_set(raw: dict, dotted: str, value, source: str) -> None:
    node = raw
    parts = dotted.split(".")
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif isinstance(child, str) and depth == 1 and parts[0] == "data":
            child = node[part] = {"path": child}  # `data: {transactions: ledger.csv}` short form
        elif not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            raise ConfigError(f"{source}: override {dotted!r}: '{where}' is {child!r}, not a mapping")
        node = child
    node[parts[-1]] = value


def _na_words(values) -> tuple[str, ...]:
    words: list[str] = []
    for v in values:
        # YAML reads an unquoted NULL / null / ~ as "nothing": the consultant meant the word
        words += ["NULL", "null", "Null"] if v is None else [str(v)]
    return tuple(dict.fromkeys(words))


def _source_spec(table: str, spec, default_engine, base: Path, source: str) -> DataSource:
    where = f"data.{table}"
    if isinstance(spec, str):
        spec = {"path": spec}
    _check_keys(spec, _SOURCE_KEYS, where, source)
    if not spec.get("path"):
        raise ConfigError(f"{source}: {where} needs a 'path' (the file, relative to the config file)")
    file_path = Path(str(spec["path"])).expanduser()
    if not file_path.is_absolute():
        file_path = base / file_path
    engine = str(spec.get("engine", default_engine))
    if engine not in ("auto", "pandas", "duckdb"):
        raise ConfigError(f"{source}: {where}.engine must be auto, pandas or duckdb, got {engine!r}")
    sep = spec.get("sep")
    if sep is not None:
        sep = _SEP_WORDS.get(str(sep).lower(), str(sep))
        if len(sep) != 1:
            raise ConfigError(f"{source}: {where}.sep must be one character such as \",\" \";\" \"|\" or tab, "
                              f"got {spec.get('sep')!r}")
    decimal = str(spec.get("decimal", "."))
    if decimal not in (".", ","):
        raise ConfigError(f"{source}: {where}.decimal must be \".\" or \",\", got {spec.get('decimal')!r}")
    thousands = spec.get("thousands")
    if thousands is not None:
        thousands = str(thousands)
        if thousands not in _THOUSANDS:
            raise ConfigError(f"{source}: {where}.thousands must be one of {', '.join(map(repr, _THOUSANDS))}, "
                              f"got {spec.get('thousands')!r}")
        if thousands == decimal:
            raise ConfigError(f"{source}: {where}: thousands and decimal are both {decimal!r}; "
                              "with `decimal: \",\"` the thousands separator is usually \".\"")
    dayfirst = spec.get("dayfirst", False)
    if isinstance(dayfirst, str) and dayfirst.strip().lower() in _BOOL_WORDS:
        dayfirst = _BOOL_WORDS[dayfirst.strip().lower()]  # from a command-line override
    if not isinstance(dayfirst, bool):
        raise ConfigError(f"{source}: {where}.dayfirst must be true or false, got {dayfirst!r}")
    date_format = spec.get("date_format")
    if date_format is not None and "%" not in str(date_format):
        raise ConfigError(f"{source}: {where}.date_format must be a strftime pattern such as \"%d.%m.%Y\" "
                          f"or \"%m/%d/%Y\", got {date_format!r}")
    sheet = spec.get("sheet")
    if sheet is not None and not isinstance(sheet, (str, int)):
        raise ConfigError(f"{source}: {where}.sheet must be a sheet name or number, got {sheet!r}")
    na_values = spec.get("na_values", ())
    if na_values is None or isinstance(na_values, (str, int, float)):
        na_values = (na_values,)  # one word; a bare NULL in YAML arrives as None
    if not isinstance(na_values, (list, tuple)):
        raise ConfigError(f"{source}: {where}.na_values must be a list of words read as empty, e.g. [NULL, '-'], "
                          f"got {na_values!r}")
    return DataSource(
        table=table,
        path=file_path,
        sep=sep,
        decimal=decimal,
        thousands=thousands,
        encoding=str(spec["encoding"]) if spec.get("encoding") else None,
        dayfirst=dayfirst,
        date_format=str(date_format) if date_format is not None else None,
        sheet=sheet,
        engine=engine,
        na_values=_na_words(na_values),
    )


def load_config(path=None, **overrides) -> Config:
    """Read and validate an engagement config.

    Parameters
    ----------
    path : str or Path, optional
        The YAML file. Without it, ``overrides`` alone make the config (paths are then relative to
        the working directory).
    **overrides
        Top-level keys (``client="X"``) or dotted paths with ``__`` for nesting
        (``notebooks__01_selection__parameters__max_key_accounts=30``) that replace values of the file.

    Returns
    -------
    Config

    Raises
    ------
    ConfigError
        Unknown keys (naming the nearest valid one), bad values, missing files.
    """
    source = str(path) if path is not None else "config"
    raw: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"{source}: config file not found")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML: {exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{source}: the config must be saved as UTF-8 text") from None
        raw = loaded or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: the config must be a mapping of keys to values")
        base = path.resolve().parent
    raw = copy.deepcopy(raw)
    for key, value in overrides.items():
        _deep_set(raw, key.replace("__", "."), value, source)

    _check_keys(raw, _TOP_KEYS, "the top level", source)
    if not raw.get("client"):
        raise ConfigError(f"{source}: 'client' is required (the client's name, used in report titles)")

    period = _PERIODS.get(str(raw.get("period", "M")).upper())
    if period is None:
        raise ConfigError(f"{source}: period must be M (month) or Q (quarter), got {raw.get('period')!r}")

    window = raw.get("window") or {}
    _check_keys(window, ("start", "end"), "window", source)
    start = _as_date(window.get("start"), "window.start", source)
    end = _as_date(window.get("end"), "window.end", source)
    if start and end and start > end:
        raise ConfigError(f"{source}: window.start {start} is after window.end {end}")

    engine = str(raw.get("engine", "auto"))
    if engine not in ("auto", "pandas", "duckdb"):
        raise ConfigError(f"{source}: engine must be auto, pandas or duckdb, got {raw.get('engine')!r}")

    data_raw = raw.get("data") or {}
    _check_keys(data_raw, TABLE_NAMES, "data", source)
    if "transactions" not in data_raw:
        raise ConfigError(f"{source}: data.transactions is required (the ledger: one row per invoice line)")
    data: dict[str, DataSource] = {}
    for table, spec in data_raw.items():
        data[table] = _source_spec(table, spec, engine, base, source)

    columns = raw.get("columns") or {}
    _check_keys(columns, TABLE_NAMES, "columns", source)
    for table, mapping in columns.items():
        mapping = mapping or {}
        if not isinstance(mapping, dict):
            raise ConfigError(f"{source}: columns.{table} must map client column -> canonical column")
        valid = _valid_columns(table)
        for client_col, canonical in mapping.items():
            if canonical is None or isinstance(canonical, (dict, list)):
                raise ConfigError(f"{source}: columns.{table}: '{client_col}' must map to one canonical column "
                                  f"name (one of: {', '.join(valid)}), got {canonical!r}")
            if canonical not in valid:
                raise ConfigError(
                    f"{source}: columns.{table}: '{client_col}' maps to unknown column '{canonical}'"
                    f"{_nearest(canonical, valid)}"
                )
        columns[table] = {str(k): str(v) for k, v in mapping.items()}

    derive = raw.get("derive") or {}
    _check_keys(derive, TABLE_NAMES, "derive", source)
    for table, rules in derive.items():
        if not isinstance(rules, dict):
            raise ConfigError(f"{source}: derive.{table} must map a new column to an operation")
        for target, rule in rules.items():
            if not isinstance(rule, dict) or len(rule) != 1:
                raise ConfigError(
                    f"{source}: derive.{table}.{target} must be one operation like "
                    f"{{multiply: [Quantity, UnitPrice]}}; operations: {', '.join(DERIVE_OPERATIONS)}"
                )
            (op, operands), = rule.items()
            if op not in DERIVE_OPERATIONS:
                raise ConfigError(
                    f"{source}: derive.{table}.{target}: unknown operation '{op}'{_nearest(op, DERIVE_OPERATIONS)}"
                )
            operands = operands if isinstance(operands, list) else [operands]
            need = 1 if op in ("negate", "copy") else 2
            if (op in ("negate", "copy") and len(operands) != 1) or (need == 2 and len(operands) < 2):
                raise ConfigError(
                    f"{source}: derive.{table}.{target}: '{op}' takes "
                    f"{'one operand' if need == 1 else 'two or more operands'}, got {operands!r}"
                )
            if op in ("subtract", "divide") and len(operands) != 2:
                raise ConfigError(f"{source}: derive.{table}.{target}: '{op}' takes exactly two operands")
            for operand in operands:
                if not isinstance(operand, (str, int, float)) or isinstance(operand, bool):
                    raise ConfigError(f"{source}: derive.{table}.{target}: operands are column names or numbers, "
                                      f"got {operand!r}")
            rules[target] = {op: operands}
        # a derived column must be a canonical one, or an intermediate used by a later derivation
        valid = _valid_columns(table)
        targets = list(rules)
        for i, target in enumerate(targets):
            used_later = any(target in next(iter(rules[t].values())) for t in targets[i + 1:])
            if target not in valid and not used_later:
                raise ConfigError(
                    f"{source}: derive.{table}: '{target}' is neither a canonical column of {table} nor used by a "
                    f"later derivation{_nearest(target, valid)}"
                )

    notebooks = raw.get("notebooks") or {}
    if not isinstance(notebooks, dict):
        raise ConfigError(f"{source}: notebooks must map a notebook name to its settings")
    for name, settings in list(notebooks.items()):
        settings = settings or {}
        _check_keys(settings, _NOTEBOOK_KEYS, f"notebooks.{name}", source)
        notebooks[name] = settings

    output = raw.get("output")
    if output is not None:
        output = Path(output)
        if not output.is_absolute():
            output = base / output

    return Config(
        client=str(raw["client"]),
        currency=str(raw.get("currency", "EUR")),
        period=period,
        window_start=start,
        window_end=end,
        as_of=_as_date(raw.get("as_of"), "as_of", source),
        data=data,
        columns=columns,
        derive=derive,
        notebooks=notebooks,
        output=output,
        engine=engine,
        path=Path(path).resolve() if path is not None else None,
        raw=raw,
    )


# A flat ledger may carry account attributes and the inputs of derivations.
_LEDGER_EXTRAS = ACCOUNT_ATTRIBUTES + ("cost", "quantity", "unit_price")


def _valid_columns(table: str) -> list[str]:
    """The canonical names a column map or derivation may target in ``table``."""
    names = CONTRACT[table].names
    return names + ([c for c in _LEDGER_EXTRAS if c not in names] if table == "transactions" else [])
