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
from .schema import CONTRACT, TABLE_NAMES

__all__ = ["Config", "DataSource", "load_config", "DERIVE_OPERATIONS"]

DERIVE_OPERATIONS = ("multiply", "subtract", "add", "divide", "negate", "copy")

_TOP_KEYS = ("client", "currency", "period", "window", "as_of", "data", "columns", "derive", "notebooks",
             "output", "engine")
_SOURCE_KEYS = ("path", "sep", "decimal", "thousands", "encoding", "dayfirst", "date_format", "sheet", "engine")
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


def _nearest(key: str, valid: tuple[str, ...] | list[str]) -> str:
    match = difflib.get_close_matches(str(key), list(valid), n=1, cutoff=0.4)
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


def _deep_set(raw: dict, dotted: str, value) -> None:
    node = raw
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


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
        _deep_set(raw, key.replace("__", "."), value)

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

    data_raw = raw.get("data") or {}
    _check_keys(data_raw, TABLE_NAMES, "data", source)
    if "transactions" not in data_raw:
        raise ConfigError(f"{source}: data.transactions is required (the ledger: one row per invoice line)")
    data: dict[str, DataSource] = {}
    for table, spec in data_raw.items():
        if isinstance(spec, str):
            spec = {"path": spec}
        _check_keys(spec, _SOURCE_KEYS, f"data.{table}", source)
        if "path" not in spec:
            raise ConfigError(f"{source}: data.{table} needs a 'path'")
        file_path = Path(spec["path"])
        if not file_path.is_absolute():
            file_path = base / file_path
        engine = str(spec.get("engine", raw.get("engine", "auto")))
        if engine not in ("auto", "pandas", "duckdb"):
            raise ConfigError(f"{source}: data.{table}.engine must be auto, pandas or duckdb, got {engine!r}")
        data[table] = DataSource(
            table=table,
            path=file_path,
            sep=spec.get("sep"),
            decimal=str(spec.get("decimal", ".")),
            thousands=spec.get("thousands"),
            encoding=spec.get("encoding"),
            dayfirst=bool(spec.get("dayfirst", False)),
            date_format=spec.get("date_format"),
            sheet=spec.get("sheet"),
            engine=engine,
        )

    columns = raw.get("columns") or {}
    _check_keys(columns, TABLE_NAMES, "columns", source)
    for table, mapping in columns.items():
        mapping = mapping or {}
        if not isinstance(mapping, dict):
            raise ConfigError(f"{source}: columns.{table} must map client column -> canonical column")
        valid = CONTRACT[table].names + (
            list(_ledger_extras()) if table == "transactions" else []
        )
        for client_col, canonical in mapping.items():
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
                    f"{source}: derive.{table}.{target}: '{op}' takes {'one operand' if need == 1 else 'two or more operands'},"
                    f" got {operands!r}"
                )
            if op in ("subtract", "divide") and len(operands) != 2:
                raise ConfigError(f"{source}: derive.{table}.{target}: '{op}' takes exactly two operands")
            rules[target] = {op: operands}

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
        engine=str(raw.get("engine", "auto")),
        path=Path(path).resolve() if path is not None else None,
        raw=raw,
    )


def _ledger_extras() -> tuple[str, ...]:
    # A flat ledger may carry account attributes and the inputs of derivations.
    from .schema import ACCOUNT_ATTRIBUTES

    return ACCOUNT_ATTRIBUTES + ("cost", "quantity", "unit_price")
