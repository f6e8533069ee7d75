"""The DuckDB route for large ledgers gives what the pandas route gives (kamtools.ledger_duckdb).

Two routes to the same answer: every test loads the same files with ``engine: pandas`` and
``engine: duckdb`` and compares, exactly, the error message (when the load fails) or

- every entry of the data-quality log (table, file, rule, column, rows, action, detail, examples),
- the row accounting (rows read/kept/excluded and the reasons, in order),
- every column of the panel at both frequencies (``build_panel(ds, "M")`` and ``"Q"``),
- the other tables (accounts, with the attributes taken from the ledger) and the window.

The files: the bad-input corpus of ``tests/data/bad`` where the ledger is involved, the foreign
ledgers of ``tests/data/foreign``, hand-made messy ledgers (CSV with every rule firing at once,
typed Parquet, a Parquet folder, quoted fields) and hypothesis-generated mixtures. Plus the SQL
readers' own checks (numbers, ISO dates, blanks) against the pandas route's parsers, the stand-in
transactions table against the analyses that read transactions, and the dispatch rule.
"""

from __future__ import annotations

import copy
import logging
import dataclasses
import datetime as dt
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kamtools.ledger_duckdb as ledger_duckdb
from kamtools.config import DataSource, load_config
from kamtools.exceptions import ConfigError, DataValidationError
from kamtools.io import _parse_dates, load_dataset
from kamtools.ledger_duckdb import DuckLedger, use_duckdb
from kamtools.panel import build_panel

HERE = Path(__file__).resolve().parent
BAD = HERE / "data" / "bad"
FOREIGN = HERE / "data" / "foreign"
TODAY = "2025-06-30"
CASES = yaml.safe_load((BAD / "cases.yaml").read_text(encoding="utf-8"))
# corpus cases about other tables only (their ledger is good_ledger.csv, covered by the others)
_OTHER_TABLES = {"unreadable_workbook", "negative_programme_cost", "duplicate_accounts_conflicting",
                 "latin1_read_as_utf8", "wrong_sheet_name", "duplicate_column_names_excel", "bool_not_yes_no",
                 "duplicate_identical_accounts", "nps_out_of_range", "csat_zero", "renewal_likelihood_above_one"}


def _with_engine(config, engine: str):
    data = {t: dataclasses.replace(s, engine=engine) if t == "transactions" else s for t, s in config.data.items()}
    return dataclasses.replace(config, data=data)


def _load(config, engine: str):
    try:
        return load_dataset(_with_engine(config, engine), today=TODAY)
    except DataValidationError as exc:
        return exc


def _assert_same(config, *, exact: bool = True, duckdb_route: bool = True):
    """Load with both engines and compare everything (see the module docstring)."""
    expected, got = _load(config, "pandas"), _load(config, "duckdb")
    if isinstance(expected, Exception) or isinstance(got, Exception):
        assert type(got) is type(expected), (expected, got)
        assert str(got) == str(expected)
        return expected, got
    if duckdb_route:
        assert isinstance(got.ledger, DuckLedger), "the ledger should have taken the DuckDB route"
    pd.testing.assert_frame_equal(got.quality.entries, expected.quality.entries)
    pd.testing.assert_frame_equal(got.quality.accounting, expected.quality.accounting)
    assert list(got.quality._accounting["transactions"]["excluded_by_reason"].items()) == \
        list(expected.quality._accounting["transactions"]["excluded_by_reason"].items())
    for freq in ("M", "Q"):
        want, have = build_panel(expected, freq), build_panel(got, freq)
        if exact:
            pd.testing.assert_frame_equal(have, want, check_exact=True)
        else:  # partial sums: the same numbers added in another order
            pd.testing.assert_frame_equal(have, want, check_exact=False, rtol=1e-12, atol=1e-9)
            for col in ("account_id", "period", "orders", "products", "active", "in_kam", "periods_since_kam"):
                pd.testing.assert_series_equal(have[col], want[col], check_exact=True)
    assert set(got.tables) == set(expected.tables)
    for name in expected.tables:
        if name != "transactions":
            pd.testing.assert_frame_equal(got.tables[name], expected.tables[name], check_exact=True)
    assert got.window == expected.window
    return expected, got


def _case_config(case: dict, tmp_path: Path) -> Path:
    body = copy.deepcopy(case["config"])
    for table, spec in (body.get("data") or {}).items():
        spec = {"path": spec} if isinstance(spec, str) else spec
        spec["path"] = str(BAD / spec["path"])
        body["data"][table] = spec
    path = tmp_path / f"{case['case']}.yaml"
    path.write_text(yaml.safe_dump({"client": "Test client", **body}, allow_unicode=True), encoding="utf-8")
    return path


def _config(tmp_path: Path, body: dict) -> Path:
    path = tmp_path / "config.yaml"
    text = yaml.safe_dump({"client": "Test client", **body}, allow_unicode=True, sort_keys=False)
    path.write_text(text, encoding="utf-8")   # derivations run in the order written
    return path


# ------------------------------------------------------------------------------------- the corpus
_LEDGER_CASES = [c for c in CASES if c["case"] not in _OTHER_TABLES and c.get("error") != "ConfigError"]


def test_the_corpus_selection_is_the_ledger_part():
    assert len(_LEDGER_CASES) >= 35
    for case in _LEDGER_CASES:
        assert "transactions" in case["config"]["data"]


@pytest.mark.parametrize("case", _LEDGER_CASES, ids=[c["case"] for c in _LEDGER_CASES])
def test_corpus_case_gives_the_same_result(case, tmp_path):
    config = load_config(_case_config(case, tmp_path))
    expected, got = _assert_same(config, duckdb_route=case["case"] != "file_not_found")
    if case["expect"] == "error":   # and it is the error the corpus expects
        assert case["fragment"] in str(got)
    else:
        assert not isinstance(got, Exception)


@pytest.mark.parametrize("name", ["online_retail", "online_retail_dayfirst", "superstore", "adventureworks"])
def test_foreign_ledger_gives_the_same_result(name):
    _assert_same(load_config(FOREIGN / f"{name}.yaml"))


def test_the_sample_world_gives_the_same_result():
    config = load_config(HERE.parent / "configs" / "sample.yaml")
    _assert_same(config)


# ------------------------------------------------------------------------------- messy ledgers
# every rule at once: Latin-1, ';', decimal comma with thousands dot, day-first and ISO dates,
# NULL and '-' as missing, a window, cost → margin, ledger attributes (with conflicts and a
# placeholder kam_start), an accounts table missing some accounts, dates after 2262, before
# 1677 and after today, missing ids/amounts, copies with and without an order id, an empty
# line, a line of separators, a short line and a truncated last line
_MESSY = (
    "Kunde;Datum;Umsatz;Kosten;Artikel;Beleg;Segment;Region;KAM_Start;Key\n"
    "1001;15.01.2024;1.234,50;1.000,00;P1;B1;Groß;Nord;01.06.2024;ja\n"
    "1001;2024-02-03;EUR 99,90;50,00;P2;B2;Groß;Nord;;1\n"
    "1002;20.01.2024;-30,00;-20,00;P1;B3;Klein;Süd;;nein\n"
    "\n"
    "1002;21.01.2024;NULL;5,00;P1;B4;Klein;Süd;;0\n"
    "1003;01.01.2999;10,00;5,00;P3;B5;Mittel;Ost;;\n"
    "1003;01.01.0001;10,00;5,00;P3;B6;Mittel;Ost;;\n"
    "1003;01.01.2026;10,00;5,00;P3;B7;Mittel;Ost;;\n"
    ";05.02.2024;10,00;5,00;P3;B8;Mittel;Ost;;\n"
    "1004;31.12.2022;10,00;5,00;P3;B9;Mittel;Ost;;\n"
    "1004;02.04.2025;10,00;5,00;P3;B10;Mittel;Ost;;\n"
    "1004;10.03.2024;10,00;5,00;P4;B11;Mittel;West;31.12.9999;ja\n"
    "1004;10.03.2024;10,00;5,00;P4;B11;Mittel;West;31.12.9999;ja\n"
    ";;;;;;;;;\n"
    "1005;11.03.2024;7,00;1,00;P4;;Klein;;;\n"
    "1005;11.03.2024;7,00;1,00;P4;;Klein;;;\n"
    "1005;12.03.2024;8,00;1,00;P5;B12;;West;;\n"
    "1006;12.03.2024\n"
    " 1001 ;2024-03-01;5,00;1,00;P1;B13;Mittel;;;nein\n"
    "1007;2024-03-02;-;1,00;P1;B14;Mittel;;;\n"
    "1007;2024-03-02;3,00;1,00;P1;B14;Mittel;;;\n"
    "1001;2024-03-05;2,50;1,00;P2;B15;Mittel"
)
_MESSY_MAP = {"Kunde": "account_id", "Datum": "date", "Umsatz": "revenue", "Artikel": "product", "Beleg": "order_id",
              "Segment": "segment", "Region": "region", "KAM_Start": "kam_start", "Key": "is_key_account",
              "Kosten": "cost"}


def _messy_config(tmp_path: Path, *, accounts: bool) -> Path:
    (tmp_path / "ledger.csv").write_bytes(_MESSY.encode("latin-1"))
    data = {"transactions": {"path": "ledger.csv", "sep": ";", "decimal": ",", "thousands": ".", "dayfirst": True,
                             "encoding": "latin-1", "na_values": ["NULL", "-"]}}
    if accounts:
        (tmp_path / "crm.csv").write_text("account_id,account_name,segment\n1001,Alpha,\n1002,Beta,SMB\n1009,Gamma,SMB\n")
        data["accounts"] = "crm.csv"
    return _config(tmp_path, {"period": "M", "window": {"start": "2023-01-01", "end": "2025-03-31"}, "data": data,
                              "columns": {"transactions": _MESSY_MAP}})


@pytest.mark.parametrize("accounts", [True, False], ids=["with-accounts-table", "ledger-only"])
def test_a_ledger_where_every_rule_fires(tmp_path, accounts):
    expected, got = _assert_same(load_config(_messy_config(tmp_path, accounts=accounts)))
    rules = set(got.quality.entries["rule"])
    # the rules this file is built to fire (so the comparison above is not vacuous)
    for rule in ("2 empty line(s) skipped (not counted as rows)", "truncated last line", "date in the future",
                 "date before 1677", "missing account_id", "missing revenue", "before the analysis window",
                 "after the analysis window", "duplicate line", "currency symbols removed from amounts",
                 "placeholder dates (after 2262 or before 1677) read as empty",
                 "derived 'gross_margin' = revenue − cost", "credit notes (negative revenue) kept"):
        assert any(r.startswith(rule[:30]) for r in rules), rule
    # hand count: 22 lines after the header - 1 empty line - 1 line of separators = 20 rows read
    assert got.quality._accounting["transactions"]["rows_read"] == 20
    assert got.ledger.rows_read == 20


def _typed_parquet_table() -> pa.Table:
    return pa.table({
        "cust": pa.array([1001.0, 1001.0, 1002.0, None, 1003.0, 1003.0, 1004.0, 1004.0]),
        "when": pa.array(pd.to_datetime(["2024-01-15 10:30", "2024-01-15 10:30", "2024-02-01", "2024-02-02", None,
                                         "2024-03-01", "2024-03-01", "2024-04-01"], format="ISO8601")
                         .to_numpy(dtype="datetime64[us]")),
        "net": pa.array([10.5, 10.5, float("nan"), 3.0, 4.0, -2.0, 5.0, 6.0]),
        "gm": pa.array([1.0, 1.0, 2.0, None, 1.0, None, None, 2.0]),
        "sku": pa.array(["A", "A", " ", "B", "C", None, "D", "D"]),
        "order": pa.array([1, 1, 2, 3, None, None, 7, 8], pa.int64()),   # int with gaps: floats in pandas
        "seg": pa.array(["X", "X", "Y", "Y", "Z", "Z2", None, "W"]),
    })


_TYPED_MAP = {"cust": "account_id", "when": "date", "net": "revenue", "gm": "gross_margin", "sku": "product",
              "order": "order_id", "seg": "segment"}


def test_a_typed_parquet_file(tmp_path):
    pq.write_table(_typed_parquet_table(), tmp_path / "ledger.parquet")
    config = _config(tmp_path, {"period": "Q", "data": {"transactions": "ledger.parquet"},
                                "columns": {"transactions": _TYPED_MAP}})
    expected, got = _assert_same(load_config(config))
    assert "identifiers exported as decimals ('1001.0' → '1001')" in set(got.quality.entries["rule"])
    # 1002's only line has no revenue (NaN) and the line without a customer is excluded
    assert got.tables["accounts"]["account_id"].tolist() == ["1001", "1003", "1004"]


def test_a_folder_of_parquet_files_is_one_table(tmp_path):
    table = _typed_parquet_table()
    folder = tmp_path / "ledger"
    folder.mkdir()
    pq.write_table(table.slice(0, 3), folder / "part-0.parquet")
    pq.write_table(table.slice(3, 5), folder / "part-1.parquet")
    pq.write_table(table.slice(0, 2), folder / "part-2.parquet")   # copies across files
    config = load_config(_config(tmp_path, {"data": {"transactions": "ledger"},
                                            "columns": {"transactions": _TYPED_MAP}}))
    assert use_duckdb(config.data["transactions"])   # a folder goes to DuckDB by itself
    expected, got = _assert_same(config)
    dup = got.quality.entries.set_index("rule").loc["duplicate line"]
    # row numbers run on across the files: part-2's lines are rows 10 and 11 (header = row 1)
    assert dup["rows"] == 3 and dup["examples"] == "rows 3, 10, 11"


def test_quoted_fields_currency_and_time_of_day(tmp_path):
    (tmp_path / "ledger.csv").write_text(
        'account_id,date,revenue,product,order_id\n'
        '00123,2024-01-15,"$1,234.50","Widget\nlarge",O1\n'
        '00123,2024-01-15 10:00:00,"1,000.00",Gadget,O2\n'
        '00124,2024-01-15T10:00,"USD 12.00",Gadget,O3\n'
        '00124,2024-01-15T10:00:00+02:00,"12.00 EUR",Gadget,O4\n'
        '"",2024-01-16,5.00,Gadget,O5\n'
        '00125,20240117,5.00,"",O6\n'
        '00125,2024-01-18,5.00')
    config = load_config(_config(tmp_path, {"data": {"transactions": {"path": "ledger.csv", "thousands": ","}}}))
    expected, got = _assert_same(config)
    assert got.window == (pd.Timestamp("2024-01-15"), pd.Timestamp("2024-01-17"))


def test_derivations_and_a_date_format(tmp_path):
    (tmp_path / "ledger.csv").write_text("cust,day,qty,price,disc\n 7 ,01/15/2024,2,10.005,1\n7,2024-01-20,3,0.1,0\n"
                                         "8,02/28/2024,1,1,0\n")
    body = {"data": {"transactions": {"path": "ledger.csv", "date_format": "%m/%d/%Y"}},
            "columns": {"transactions": {"cust": "account_id", "day": "date"}},
            "derive": {"transactions": {"revenue": {"multiply": ["qty", "price"]},
                                        "gross_margin": {"subtract": ["revenue", "disc"]}}}}
    expected, got = _assert_same(load_config(_config(tmp_path, body)))
    # hand-worked: 2 × 10.005 = 20.01 and 3 × 0.1 = 0.3 (rounded to 10 decimals, as numpy does)
    panel = build_panel(got).set_index(["account_id", "period"])
    assert panel.loc[("7", pd.Timestamp("2024-01-01")), "revenue"] == pytest.approx(20.31, abs=1e-12)
    (tmp_path / "ledger.csv").write_text("cust,day,qty,price,disc\n7,01/15/2024,2,10,1\n8,02/30/2024,1,1,0\n")
    expected, got = _assert_same(load_config(_config(tmp_path, body)))
    assert "must be a date; 1 of 2 rows is not (row 3: '02/30/2024')" in str(got)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_many_copies_of_a_line(tmp_path, fmt):
    """A line exported five times (four copies excluded), one three times without an order id
    (two flagged, kept), and lines that differ in one cell only (not copies)."""
    rows = ([("A1", "2024-01-05", 10.0, "O1")] * 5 + [("A2", "2024-01-06", 7.5, None)] * 3
            + [("A1", "2024-01-05", 10.01, "O1"), ("A1", "2024-01-05", 10.0, "O2")])
    frame = pd.DataFrame(rows, columns=["account_id", "date", "revenue", "order_id"])
    if fmt == "csv":
        frame.to_csv(tmp_path / "ledger.csv", index=False)
        name = "ledger.csv"
    else:
        frame.to_parquet(tmp_path / "ledger.parquet", index=False)
        name = "ledger.parquet"
    expected, got = _assert_same(load_config(_config(tmp_path, {"data": {"transactions": name}})))
    log = got.quality.entries.set_index("rule")
    assert log.loc["duplicate line", "rows"] == 4 and log.loc["duplicate line", "examples"] == "rows 3, 4, 5, 6"
    flagged = log.loc["identical lines without an order id (kept: they may be genuine repeats)"]
    assert flagged["rows"] == 2 and flagged["examples"] == "rows 8, 9"
    assert got.ledger.rows_kept == 10 - 4


def test_an_encoding_duckdb_cannot_read_takes_the_pandas_route(tmp_path):
    (tmp_path / "ledger.csv").write_bytes("account_id;date;revenue\nA€1;2024-01-15;10,5\n".encode("cp1252"))
    config = load_config(_config(tmp_path, {"data": {"transactions": {
        "path": "ledger.csv", "sep": ";", "decimal": ",", "encoding": "cp1252"}}}))
    expected, got = _assert_same(config, duckdb_route=False)
    assert got.ledger is None and got.transactions["account_id"].tolist() == ["A€1"]


def test_partial_sums_route_agrees(tmp_path, monkeypatch):
    """Above _EXACT_LINES the aggregate is summed from partial sums: integers equal, sums to 1e-12."""
    monkeypatch.setattr(ledger_duckdb, "_EXACT_LINES", 0)
    _assert_same(load_config(_messy_config(tmp_path, accounts=True)), exact=False)
    _assert_same(load_config(HERE.parent / "configs" / "sample.yaml"), exact=False)


# ------------------------------------------------------------------- hypothesis: any mixture
_KINDS = ["good", "good", "good", "credit", "missing_id", "missing_amount", "future", "far", "copy", "blank",
          "padded", "currency", "short", "dayfirst"]
_rows = st.lists(st.tuples(st.sampled_from(_KINDS), st.integers(0, 4), st.integers(0, 900), st.integers(1, 10**6),
                           st.booleans()), min_size=1, max_size=30)


def _mixture(rows, sep: str, decimal: str, with_order: bool) -> str:
    header = sep.join(["account_id", "date", "revenue", "product"] + (["order_id"] if with_order else []))
    lines, last = [header], None
    for i, (kind, account, day, cents, flag) in enumerate(rows):
        if kind == "copy" and last is not None:
            lines.append(last)
            continue
        if kind == "blank":
            lines.append("" if flag else sep * (3 + with_order))
            continue
        date = dt.date(2021, 1, 4) + dt.timedelta(days=day)
        date_text = {"future": "2026-02-01", "far": "9999-12-31"}.get(kind, date.isoformat())
        if kind == "dayfirst":
            date_text = date.strftime("%d.%m.%Y")
        amount = f"{(-cents if kind == 'credit' else cents) / 100:.2f}".replace(".", decimal)
        if kind == "currency":
            amount = f"€ {amount}" if flag else f"{amount} EUR"
        ident = f"{account:04d}"
        if kind == "padded":
            ident = f"  {ident} " if flag else f"{account}.0"
        fields = ["" if kind == "missing_id" else ident, date_text, "" if kind == "missing_amount" else amount,
                  f"P{day % 3}"] + ([f"O{i}" if flag or kind != "good" else ""] if with_order else [])
        if kind == "short":
            fields = fields[:2]
        lines.append(sep.join(fields))
        last = lines[-1]
    return "\n".join(lines) + ("\n" if rows[-1][4] else "")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_rows, dialect=st.sampled_from([(",", ".", False), (";", ",", True)]), with_order=st.booleans())
def test_any_mixture_of_good_and_bad_lines_gives_the_same_result(rows, dialect, with_order):
    sep, decimal, dayfirst = dialect
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "ledger.csv").write_text(_mixture(rows, sep, decimal, with_order), encoding="utf-8")
        config = load_config(_config(tmp, {"data": {"transactions": {
            "path": "ledger.csv", "sep": sep, "decimal": decimal, "dayfirst": dayfirst}}}))
        _assert_same(config)


# --------------------------------------------------------------------- the SQL readers themselves
def test_the_blank_characters_are_those_str_strip_removes():
    assert ledger_duckdb._WS == "".join(chr(c) for c in range(0x110000) if chr(c).isspace())


def test_sql_trim_is_str_strip():
    import duckdb

    values = ["", " a ", "a", "\u3000x\xa0", "x\t", "\tx", "ü ", " ü", "a b", "  ", "\xa0", "x\u2003", "€ 5 ", "ab"]
    got = duckdb.connect().execute(f"SELECT {ledger_duckdb._trim('x')} FROM unnest(?) t(x)", [values]).fetchall()
    assert [g for (g,) in got] == [v.strip() for v in values]


def test_sql_numbers_accept_what_arrow_accepts():
    """Arrow's cast is the pandas route's fast path; DuckDB also takes '1_000' and '+-1' unless told not to."""
    import duckdb
    import pyarrow.compute as pc

    rng = np.random.default_rng(7)
    alphabet = list("0123456789.+-eE_ nfiaNIty,")
    cases = sorted({"".join(rng.choice(alphabet, n)).strip() for n in range(1, 6) for _ in range(3000)} - {""})
    cases += ["1_000", "+-1", "1e5", ".5", "5.", "-0", "1e400", "inf", "nan"]   # (cells are stripped first)

    def arrow(c):
        try:
            return pc.cast(pa.array([c]), pa.float64())[0].as_py()
        except pa.ArrowInvalid:
            return None

    got = duckdb.connect().execute(f"SELECT {ledger_duckdb._double_text('x')} FROM unnest(?) t(x)", [cases]).fetchall()
    for case, (value,) in zip(cases, got):
        want = arrow(case)
        assert (want is None) == (value is None), case
        if want is not None:
            assert want == value or (np.isnan(want) and np.isnan(value)), case


@settings(max_examples=60, deadline=None)
@given(day=st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)),
       clock=st.one_of(st.none(), st.times()), sep=st.sampled_from([" ", "T"]),
       noise=st.lists(st.tuples(st.integers(0, 18), st.sampled_from(list("0123456789-: T+x"))), max_size=2))
def test_sql_iso_dates_read_as_pandas_reads_them(day, clock, sep, noise):
    """The dates SQL reads itself (YYYY-MM-DD[ T]HH:MM:SS) get pandas' value; others are left to pandas."""
    import duckdb

    text = f"{day.year:04d}-{day.month:02d}-{day.day:02d}"
    if clock is not None:
        text += f"{sep}{clock.hour:02d}:{clock.minute:02d}:{clock.second:02d}"
    chars = list(text)
    for pos, ch in noise:
        chars[pos % len(chars)] = ch
    text = "".join(chars)
    (value,) = duckdb.connect().execute(f"SELECT {ledger_duckdb._fast_date('x')} FROM (SELECT ? AS x)",
                                        [text]).fetchone()
    if value is None:
        return   # pandas reads it (or says it is not a date)
    want, bad, late, early = _parse_dates(pd.Series([text], dtype=object), DataSource("transactions", Path("x.csv")))
    assert not bad[0], text
    if late[0] or early[0]:
        assert not (pd.Timestamp("1677-09-22") <= pd.Timestamp(value) <= pd.Timestamp("2262-04-11")), text
    else:
        assert pd.Timestamp(value) == want[0], text


def test_record_numbers_become_the_files_row_numbers():
    src = ledger_duckdb._Source(name="x", columns=["a"], types=["text"], relation="", n_fields=1,
                                empty_lines=np.array([3, 4, 9]))
    # lines: 1 header, 2 rec1, 3 -, 4 -, 5 rec2, 6 rec3, 7 rec4, 8 rec5, 9 -, 10 rec6
    assert src.rows([1, 2, 3, 4, 5, 6]).tolist() == [2, 5, 6, 7, 8, 10]


# ------------------------------------------------------------------------- the stand-in table
def test_the_stand_in_keeps_what_the_analyses_read(tmp_path):
    """RFM (purchase days, revenue per day) and cross-sell (first positive purchase of a product)
    come out the same from the stand-in as from the ledger's lines."""
    from kamtools.clv import rfm_summary
    from kamtools.kpi import cross_sell_rate

    config = load_config(HERE.parent / "configs" / "sample.yaml")
    expected, got = _load(config, "pandas"), _load(config, "duckdb")
    tx, standin = expected.transactions, got.transactions
    assert got.ledger.transactions_grain == "account-day-product"
    assert standin["lines"].sum() == len(tx) == got.quality._accounting["transactions"]["rows_kept"]
    assert len(standin) < len(tx)
    assert standin["revenue"].sum() == pytest.approx(tx["revenue"].sum(), rel=1e-12)
    end = tx["date"].max()
    want = rfm_summary(tx, observation_end=end)
    have = rfm_summary(standin, observation_end=end)
    pd.testing.assert_frame_equal(have, want, check_exact=False, rtol=1e-9)
    for start, stop in (("2024-01-01", "2024-07-01"), ("2024-07-01", "2025-07-01")):
        want = cross_sell_rate(tx, start=start, end=stop)
        assert 0 < want < 1 and cross_sell_rate(standin, start=start, end=stop) == want


def test_a_large_stand_in_drops_the_product(tmp_path, monkeypatch):
    monkeypatch.setattr(ledger_duckdb, "MAX_STANDIN_ROWS", 5)
    got = _load(load_config(HERE.parent / "configs" / "sample.yaml"), "duckdb")
    assert got.ledger.transactions_grain == "account-day"
    assert "product" not in got.transactions.columns
    assert got.transactions["lines"].sum() == got.ledger.rows_kept


# ------------------------------------------------------------------------------------ dispatch
def test_which_route_a_source_takes(tmp_path, monkeypatch):
    ledger = tmp_path / "ledger.csv"
    ledger.write_text("account_id,date,revenue\nA,2024-01-01,1\n")
    folder = tmp_path / "parts"
    folder.mkdir()
    source = DataSource("transactions", ledger)
    assert not use_duckdb(source)                                            # small file, auto
    assert use_duckdb(dataclasses.replace(source, engine="duckdb"))
    assert not use_duckdb(dataclasses.replace(source, engine="pandas", path=folder))
    assert use_duckdb(DataSource("transactions", folder))                    # a Parquet folder, auto
    assert not use_duckdb(DataSource("transactions", tmp_path / "crm.xlsx", engine="duckdb"))
    monkeypatch.setattr(ledger_duckdb, "SIZE_THRESHOLD", 10)
    assert use_duckdb(source)                                                # large file, auto
    config = load_config(_config(tmp_path, {"engine": "duckdb", "data": {"transactions": "ledger.csv"}}))
    assert config.data["transactions"].engine == "duckdb"
    assert isinstance(load_dataset(config).ledger, DuckLedger)


def test_a_config_key_error_is_still_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="engine must be auto, pandas or duckdb"):
        load_config(_config(tmp_path, {"engine": "spark", "data": {"transactions": "ledger.csv"}}))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=["a", "1", ",", '"', "\n", "\r", " "], min_size=1, max_size=60))
def test_the_quick_text_scan_agrees_with_the_full_scan(text, tmp_path):
    # the quick scan (searches over the mapped file) must see what the line-by-line scan sees
    path = tmp_path / "ledger.csv"
    path.write_bytes(text.encode())
    quick = ledger_duckdb._scan_quick(path, "utf-8")
    full = ledger_duckdb._scan_lines(path, "utf-8")
    if quick is None:   # only files with empty lines need the full scan
        assert "\n\n" in text or "\n\r\n" in text
        return
    assert len(full.empty_lines) == 0
    for name in ("has_quote", "ends_with_newline", "trailing_empty", "last_line"):
        assert getattr(quick, name) == getattr(full, name), name


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_the_load_says_where_its_time_went(tmp_path, fmt):
    table = _typed_parquet_table()
    name = "ledger.parquet" if fmt == "parquet" else "ledger.csv"
    if fmt == "parquet":
        pq.write_table(table, tmp_path / name)
    else:
        table.to_pandas().to_csv(tmp_path / name, index=False)
    config = load_config(_config(tmp_path, {"data": {"transactions": {"path": name, "engine": "duckdb"}},
                                            "columns": {"transactions": _TYPED_MAP}}))
    timings = load_dataset(config).ledger.timings
    steps = ["open", "parse", "rules", "duplicates", "sums"] if fmt == "csv" else \
        ["open", "rules", "duplicates", "sums"]
    assert list(timings) == steps               # the CSV is parsed into a table first
    assert all(0 <= seconds < 60 for seconds in timings.values())


def test_kam_debug_logs_the_steps_of_a_duckdb_load(tmp_path, caplog, capsys):
    from kamtools import cli

    pq.write_table(_typed_parquet_table(), tmp_path / "ledger.parquet")
    config = _config(tmp_path, {"data": {"transactions": {"path": "ledger.parquet", "engine": "duckdb"}},
                                "columns": {"transactions": _TYPED_MAP}})
    kit_logger = logging.getLogger("kamtools")
    level = kit_logger.level
    try:
        assert cli.main(["validate", "--config", str(config)]) == 0
        assert "DuckDB route" not in caplog.text        # quiet without --debug
        assert cli.main(["--debug", "validate", "--config", str(config)]) == 0
        assert "ledger.parquet: DuckDB route, open" in caplog.text
    finally:
        kit_logger.setLevel(level)
    capsys.readouterr()
