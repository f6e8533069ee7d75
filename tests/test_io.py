"""Tests of kamtools.io: the bad-input corpus, row accounting, foreign ledgers, real ledgers.

Evidence used
- the corpus ``tests/data/bad/cases.yaml``: every broken input with the message or log entry the
  loader must produce (and ``kam validate`` run on each, in-process);
- hypothesis properties: for any mixture of good and bad rows, rows read = kept + excluded, each
  exclusion has its reason, and the panel's revenue equals the kept lines' total to the cent;
- hand-worked totals of small ledgers in foreign shapes (UCI Online Retail, Tableau Superstore,
  AdventureWorks) loaded through YAML column maps alone;
- published figures of the real ledgers in ``../shared/reference-data`` (skipped when absent).
"""

from __future__ import annotations

import copy
import datetime as dt
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kamtools import cli
from kamtools.config import load_config
from kamtools.exceptions import ConfigError, DataValidationError
from kamtools.io import Dataset, load_dataset, read_table
from kamtools.panel import build_panel

DATA = Path(__file__).resolve().parent / "data"
BAD = DATA / "bad"
FOREIGN = DATA / "foreign"
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference-data"
CASES = yaml.safe_load((BAD / "cases.yaml").read_text(encoding="utf-8"))


def _write(tmp_path: Path, text: str, name: str = "ledger.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _config(tmp_path: Path, body: dict, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"client": "Test client", **body}, allow_unicode=True), encoding="utf-8")
    return path


def _entries(dataset: Dataset, table: str, action: str, fragment: str) -> pd.DataFrame:
    log = dataset.quality.entries
    hit = (log["table"] == table) & (log["action"] == action) & log["rule"].str.contains(fragment, regex=False)
    return log[hit]


def _assert_accounting(dataset: Dataset) -> None:
    for record in dataset.quality._accounting.values():
        excluded = record["excluded_by_reason"]
        assert record["rows_read"] == record["rows_kept"] + sum(excluded.values())
        assert all(reason and n > 0 for reason, n in excluded.items())
        assert len(dataset.tables[record["table"]]) == record["rows_kept"] or record["table"] == "accounts"


# ------------------------------------------------------------------------------- the corpus
def _case_config(case: dict, tmp_path: Path) -> Path:
    body = copy.deepcopy(case["config"])
    for table, spec in (body.get("data") or {}).items():
        spec = {"path": spec} if isinstance(spec, str) else spec
        spec["path"] = str(BAD / spec["path"])
        body["data"][table] = spec
    return _config(tmp_path, body, name=f"{case['case']}.yaml")


def test_corpus_is_complete():
    names = [c["case"] for c in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    assert sum(c["expect"] == "error" for c in CASES) >= 30
    assert len(CASES) >= 45
    used = set()
    for case in CASES:
        assert case["expect"] in ("error", "log", "ok"), case["case"]
        assert case.get("what"), f"{case['case']}: say what is wrong"
        for spec in case["config"]["data"].values():
            used.add(spec if isinstance(spec, str) else spec["path"])
    present = {p.name for p in BAD.iterdir() if p.suffix in (".csv", ".xlsx")}
    assert present - used == set(), "files in the corpus that no case uses"
    assert used - present == {"no_such_ledger.csv"}, "cases naming files that are not in the corpus"


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_corpus(case, tmp_path, capsys):
    config_path = _case_config(case, tmp_path)
    if case["expect"] == "error":
        expected = ConfigError if case.get("error") == "ConfigError" else DataValidationError
        with pytest.raises(expected) as info:
            load_dataset(config_path)
        message = str(info.value)
        assert case["fragment"] in message
        file = config_path.name if case["file"] == "<config>" else case["file"]
        assert message.startswith(file) or f"/{file}:" in message, message
        if case.get("column"):
            assert f"'{case['column']}'" in message
        if case.get("rows"):
            assert case["rows"] in message
        if case.get("todo"):
            assert case["todo"] in message.split("What to do:")[1]
        if expected is DataValidationError:
            assert "What to do: " in message
        capsys.readouterr()
        code = cli.main(["validate", "--config", str(config_path)])
        out = capsys.readouterr()
        assert code != 0
        assert case["fragment"] in out.err
        assert "Traceback" not in out.err + out.out
        return

    dataset = load_dataset(config_path)
    _assert_accounting(dataset)
    if case["expect"] == "log":
        hits = _entries(dataset, case["table"], case["action"], case["fragment"])
        assert len(hits) == 1, dataset.quality.to_text()
        entry = hits.iloc[0]
        assert entry["rows"] == case["rows"]
        if case.get("examples"):
            assert entry["examples"] == case["examples"] or entry["examples"].startswith(case["examples"])
        if case["action"] == "excluded":
            reasons = dataset.quality._accounting[case["table"]]["excluded_by_reason"]
            assert reasons[entry["rule"]] == case["rows"]
    for key, value in (case.get("check") or {}).items():
        table, column = key.split(".")
        values = dataset.tables[table][column].tolist()
        assert value in values, f"{value!r} not in {values!r}"
    capsys.readouterr()
    code = cli.main(["validate", "--config", str(config_path)])
    out = capsys.readouterr()
    assert code == 0, out.err
    if case["expect"] == "log":
        assert case["fragment"] in out.out
    assert "Traceback" not in out.err + out.out


# --------------------------------------------------------------------- specific behaviours
def test_message_has_the_house_shape(tmp_path):
    # 3 bad of 6 rows: rows 3, 5, 7 hold 'n/a', '12,5O' and '1.2.3' (header is row 1)
    text = ("account_id,date,revenue\nA,2024-01-01,1\nA,2024-01-02,n/a\nA,2024-01-03,2\nA,2024-01-04,\"12,5O\"\n"
            "A,2024-01-05,3\nA,2024-01-06,1.2.3\n")
    _write(tmp_path, text)
    with pytest.raises(DataValidationError) as info:
        load_dataset(_config(tmp_path, {"data": {"transactions": "ledger.csv"}}))
    assert str(info.value).startswith(
        "ledger.csv: column 'revenue' must be numeric; 3 of 6 rows are not "
        "(rows 3, 5, 7: 'n/a', '12,5O', '1.2.3'). What to do: "
    )


def test_message_names_the_client_column(tmp_path):
    _write(tmp_path, "Kunde;Datum;Umsatz\nK1;2024-01-01;12\nK2;2024-01-02;zwölf\n")
    config = _config(tmp_path, {"data": {"transactions": {"path": "ledger.csv", "sep": ";"}},
                                "columns": {"transactions": {"Kunde": "account_id", "Datum": "date",
                                                             "Umsatz": "revenue"}}})
    with pytest.raises(DataValidationError, match=r"column 'Umsatz' \(mapped to 'revenue'\) must be numeric; "
                                                  r"1 of 2 rows is not \(row 3: 'zwölf'\)"):
        load_dataset(config)


def test_more_than_five_bad_rows_shows_the_first_five(tmp_path):
    rows = "".join(f"A,2024-01-{d:02d},x{d}\n" for d in range(1, 9))
    _write(tmp_path, "account_id,date,revenue\n" + rows)
    with pytest.raises(DataValidationError, match=r"8 of 8 rows are not \(rows 2, 3, 4, 5, 6: 'x1', 'x2', "
                                                  r"'x3', 'x4', 'x5'\)"):
        load_dataset(_config(tmp_path, {"data": {"transactions": "ledger.csv"}}))


def test_identifiers_stay_text(tmp_path):
    _write(tmp_path, "account_id,date,revenue,order_id\n007,2024-01-01,1,0001\n1001,2024-01-02,2,0002\n")
    ds = load_dataset(_config(tmp_path, {"data": {"transactions": "ledger.csv"}}))
    assert ds.transactions["account_id"].tolist() == ["007", "1001"]
    assert ds.transactions["order_id"].tolist() == ["0001", "0002"]
    assert str(ds.transactions["account_id"].dtype) == "string"
    assert ds.accounts["account_id"].tolist() == ["007", "1001"]


def test_float_ids_from_parquet_and_excel(tmp_path):
    # Parquet with a float id column (missing values force float): 1001.0 -> '1001'
    frame = pd.DataFrame({"cust": [1001.0, np.nan, 1002.0], "date": pd.to_datetime(["2024-01-01"] * 3),
                          "revenue": [1.0, 2.0, 3.0]})
    frame.to_parquet(tmp_path / "ledger.parquet")
    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "CRM"
    for row in [("cust", "name", "score"), (1001, "Alpha", 4.0), (1002.0, "Beta", 2)]:
        book.active.append(row)
    book.save(tmp_path / "crm.xlsx")
    config = _config(tmp_path, {
        "data": {"transactions": "ledger.parquet", "accounts": {"path": "crm.xlsx", "sheet": "CRM"}},
        "columns": {"transactions": {"cust": "account_id"},
                    "accounts": {"cust": "account_id", "name": "account_name", "score": "product_fit"}},
    })
    ds = load_dataset(config)
    assert ds.transactions["account_id"].tolist() == ["1001", "1002"]
    assert ds.accounts.set_index("account_id")["account_name"].to_dict() == {"1001": "Alpha", "1002": "Beta"}
    assert ds.accounts["product_fit"].tolist() == [4.0, 2.0]
    assert ds.accounts["in_accounts_table"].all()
    assert ds.quality._accounting["transactions"]["excluded_by_reason"] == {"missing account_id": 1}


def test_excel_decimals_with_decimal_comma_config(tmp_path):
    # numbers stored as numbers in Excel must not be mangled by a CSV-style `thousands: "."`
    import openpyxl

    book = openpyxl.Workbook()
    for row in [("account_id", "date", "revenue"), ("A", dt.datetime(2024, 1, 5), 1234.5), ("B", "2024-01-06", 12.25)]:
        book.active.append(row)
    book.save(tmp_path / "ledger.xlsx")
    config = _config(tmp_path, {"data": {"transactions": {"path": "ledger.xlsx", "decimal": ",", "thousands": "."}}})
    ds = load_dataset(config)
    assert ds.transactions["revenue"].tolist() == [1234.5, 12.25]
    assert ds.transactions["date"].tolist() == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-01-06")]


def test_excel_row_numbers_skip_nothing(tmp_path):
    # an empty row 3 in the sheet: the bad value sits in Excel row 4 and the message says so
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(("account_id", "date", "revenue"))
    sheet.append(("A", "2024-01-01", 1))
    sheet.append((None, None, None))
    sheet.append(("B", "2024-01-02", "n/a"))
    book.save(tmp_path / "ledger.xlsx")
    with pytest.raises(DataValidationError, match=r"ledger.xlsx: column 'revenue' must be numeric; 1 of 2 rows "
                                                  r"is not \(row 4: 'n/a'\)"):
        load_dataset(_config(tmp_path, {"data": {"transactions": "ledger.xlsx"}}))


def test_future_rule_uses_today(tmp_path):
    _write(tmp_path, "account_id,date,revenue\nA,2024-01-01,1\nA,2024-06-01,2\nB,2024-06-03,3\n")
    config = _config(tmp_path, {"data": {"transactions": "ledger.csv"}})
    ds = load_dataset(config, today="2024-06-01")
    # 2024-06-01 is today (kept), 2024-06-03 is two days ahead (excluded; one day of slack for time zones)
    assert ds.transactions["revenue"].tolist() == [1.0, 2.0]
    assert ds.quality._accounting["transactions"]["excluded_by_reason"] == {"date in the future": 1}
    assert len(load_dataset(config, today="2024-07-01").transactions) == 3


def test_window_excludes_and_accounts(tmp_path):
    _write(tmp_path, "account_id,date,revenue\nA,2023-12-31,1\nA,2024-01-01,2\nA,2024-12-31,3\nA,2025-01-01,4\n")
    config = _config(tmp_path, {"data": {"transactions": "ledger.csv"},
                                "window": {"start": "2024-01-01", "end": "2024-12-31"}})
    ds = load_dataset(config)
    assert ds.transactions["revenue"].tolist() == [2.0, 3.0]
    assert ds.quality._accounting["transactions"]["excluded_by_reason"] == {
        "before the analysis window": 1, "after the analysis window": 1}


def test_ledger_attributes_make_the_accounts_table(tmp_path):
    # A001 changes segment: the most recent value (2024-03) wins and the conflict is flagged
    _write(tmp_path, "cust,date,revenue,seg,am\nA001,2024-01-01,1,SMB,Kim\nA001,2024-03-01,2,Mid,Kim\n"
                     "A002,2024-02-01,3,SMB,Lee\n")
    config = _config(tmp_path, {"data": {"transactions": "ledger.csv"},
                                "columns": {"transactions": {"cust": "account_id", "seg": "segment",
                                                             "am": "account_manager"}}})
    ds = load_dataset(config)
    assert ds.accounts_from_ledger
    accounts = ds.accounts.set_index("account_id")
    assert accounts.loc["A001", "segment"] == "Mid"
    assert accounts.loc["A002", "account_manager"] == "Lee"
    assert "segment" not in ds.transactions.columns
    assert len(_entries(ds, "accounts", "flagged", "more than one segment")) == 1


def test_accounts_table_filled_from_ledger_attributes(tmp_path):
    _write(tmp_path, "account_id,date,revenue,account_manager\nA,2024-01-01,1,Kim\nB,2024-01-02,2,Lee\n")
    _write(tmp_path, "account_id,account_name,account_manager\nA,Alpha,\n", name="crm.csv")
    ds = load_dataset(_config(tmp_path, {"data": {"transactions": "ledger.csv", "accounts": "crm.csv"}}))
    accounts = ds.accounts.set_index("account_id")
    assert accounts.loc["A", "account_name"] == "Alpha"
    assert accounts.loc["A", "account_manager"] == "Kim"  # blank in the CRM, filled from the ledger
    assert accounts.loc["B", "account_manager"] == "Lee"  # unlisted account, added from the ledger
    assert accounts["in_accounts_table"].tolist() == [True, False]


def test_cost_gives_gross_margin(tmp_path):
    # margin = revenue − cost: 100 − 60 = 40 and 50 − 55 = −5
    _write(tmp_path, "account_id,date,revenue,cost\nA,2024-01-01,100,60\nA,2024-01-02,50,55\n")
    ds = load_dataset(_config(tmp_path, {"data": {"transactions": "ledger.csv"}}))
    assert ds.transactions["gross_margin"].tolist() == [40.0, -5.0]
    assert "cost" not in ds.transactions.columns


def test_derivations_chain_and_constants(tmp_path):
    # net = 1 − Discount; revenue = Quantity × Price × net: 2 × 10 × 0.9 = 18 and 1 × 5 × 1 = 5
    _write(tmp_path, "account_id,date,Quantity,Price,Discount\nA,2024-01-01,2,10,0.1\nB,2024-01-02,1,5,0\n")
    config = _config(tmp_path, {
        "data": {"transactions": "ledger.csv"},
        "derive": {"transactions": {"net": {"subtract": [1, "Discount"]},
                                    "revenue": {"multiply": ["Quantity", "Price", "net"]}}},
    })
    ds = load_dataset(config)
    assert ds.transactions["revenue"].tolist() == [18.0, 5.0]


def test_division_by_zero_is_a_missing_value(tmp_path):
    _write(tmp_path, "account_id,date,Amount,Rate\nA,2024-01-01,10,2\nB,2024-01-02,5,0\n")
    config = _config(tmp_path, {"data": {"transactions": "ledger.csv"},
                                "derive": {"transactions": {"revenue": {"divide": ["Amount", "Rate"]}}}})
    ds = load_dataset(config)
    assert ds.transactions["revenue"].tolist() == [5.0]
    assert ds.quality._accounting["transactions"]["excluded_by_reason"] == {"missing revenue": 1}


def test_semicolon_and_decimal_comma_are_sniffed(tmp_path):
    _write(tmp_path, "account_id;date;revenue\nA;2024-01-01;1,5\n")
    ds = load_dataset(_config(tmp_path, {"data": {"transactions": {"path": "ledger.csv", "decimal": ","}}}))
    assert ds.transactions["revenue"].tolist() == [1.5]


def test_gzip_csv(tmp_path):
    import gzip

    (tmp_path / "ledger.csv.gz").write_bytes(gzip.compress(b"account_id,date,revenue\nA,2024-01-01,7\n"))
    ds = load_dataset(_config(tmp_path, {"data": {"transactions": "ledger.csv.gz"}}))
    assert ds.transactions["revenue"].tolist() == [7.0]


def test_bom_beats_a_latin1_setting(tmp_path):
    # a UTF-8 BOM says what the file is: 'Müller' must not become 'MÃ¼ller'
    (tmp_path / "crm.csv").write_bytes(b"\xef\xbb\xbfaccount_id,account_name\nA,M\xc3\xbcller\n")
    _write(tmp_path, "account_id,date,revenue\nA,2024-01-01,1\n")
    config = _config(tmp_path, {"data": {"transactions": "ledger.csv",
                                         "accounts": {"path": "crm.csv", "encoding": "latin-1"}}})
    ds = load_dataset(config)
    assert ds.accounts["account_name"].tolist() == ["Müller"]


def test_excluded_rows_do_not_trigger_fatal_rules(tmp_path):
    # the future-dated row 3 would not matter; the truncated row 4 has a broken date: excluded, not fatal
    (tmp_path / "ledger.csv").write_bytes(b"account_id,date,revenue\nA,2024-01-01,1\nA,2024-01-02,2\nB,2024-0")
    ds = load_dataset(_config(tmp_path, {"data": {"transactions": "ledger.csv"}}))
    assert ds.quality._accounting["transactions"]["excluded_by_reason"] == {"truncated last line": 1}


def test_utc_offsets_keep_the_wall_clock_time(tmp_path):
    # 23:30 at +01:00 on 31 January stays in January (converting to UTC would not move it, but
    # 00:30 at +02:00 on 1 February would fall back into January in UTC)
    _write(tmp_path, "account_id,date,revenue\nA,2024-01-31T23:30:00+01:00,1\nB,2024-02-01T00:30:00+02:00,2\n"
                     "C,2024-02-01,3\n")
    ds = load_dataset(_config(tmp_path, {"data": {"transactions": "ledger.csv"}}))
    assert ds.transactions["date"].dt.strftime("%Y-%m-%d %H:%M").tolist() == [
        "2024-01-31 23:30", "2024-02-01 00:30", "2024-02-01 00:00"]


def test_placeholder_dates(tmp_path):
    # ERP "open end" 9999-12-31 in kam_start means never: blanked (corrected); a ledger line dated
    # 0001-01-01 is a placeholder: excluded
    _write(tmp_path, "account_id,date,revenue\nA,2024-01-01,1\nB,0001-01-01,2\nB,2024-01-02,3\n")
    _write(tmp_path, "account_id,kam_start\nA,2024-01-01\nB,9999-12-31\n", name="crm.csv")
    ds = load_dataset(_config(tmp_path, {"data": {"transactions": "ledger.csv", "accounts": "crm.csv"}}))
    assert ds.quality._accounting["transactions"]["excluded_by_reason"] == {"date before 1677": 1}
    kam = ds.accounts.set_index("account_id")["kam_start"]
    assert kam["A"] == pd.Timestamp("2024-01-01") and pd.isna(kam["B"])
    entry = _entries(ds, "accounts", "corrected", "placeholder dates")
    assert entry["examples"].tolist() == ["row 3: '9999-12-31'"]


def test_interaction_direction_blanked_when_unknown(tmp_path):
    _write(tmp_path, "account_id,date,revenue\nA,2024-01-01,1\n")
    _write(tmp_path, "account_id,date,channel,direction,response_hours\nA,2024-01-02,call,IN,2\n"
                     "A,2024-01-03,email,sideways,-1\n", name="touch.csv")
    ds = load_dataset(_config(tmp_path, {"data": {"transactions": "ledger.csv", "interactions": "touch.csv"}}))
    assert ds.interactions["direction"].tolist()[0] == "in"
    assert ds.interactions["direction"].isna().tolist() == [False, True]
    assert ds.interactions["response_hours"].isna().tolist() == [False, True]


def test_final_tables_carry_no_attrs_and_no_row_numbers(tmp_path):
    _write(tmp_path, "account_id,date,revenue\nA,2024-01-01,1\nB,2024-01-02\n")
    ds = load_dataset(_config(tmp_path, {"data": {"transactions": "ledger.csv"}}))
    for frame in ds.tables.values():
        assert frame.attrs == {}
        assert "_source_row" not in frame.columns
    pd.concat([ds.transactions, ds.transactions])  # attrs holding arrays used to break concat


def test_read_table_keeps_spreadsheet_row_numbers(tmp_path):
    _write(tmp_path, "a,b\n1,2\n\n3,4\n")
    config = load_config(_config(tmp_path, {"data": {"transactions": "ledger.csv"}}))
    frame = read_table(config.data["transactions"])
    assert frame["_source_row"].tolist() == [2, 4]
    assert frame["a"].tolist() == ["1", "3"]


# ---------------------------------------------------------------------- row accounting (hypothesis)
_BASE = dt.date(2022, 1, 3)
_KINDS = ["good", "good", "good", "credit", "missing_id", "missing_amount", "future", "duplicate"]
_rows = st.lists(
    st.tuples(st.sampled_from(_KINDS), st.integers(0, 5), st.integers(0, 700), st.integers(1, 10**7)),
    min_size=1, max_size=40,
)
_surveys = st.lists(st.tuples(st.integers(0, 7), st.integers(-3, 13), st.integers(0, 6)), max_size=15)


def _ledger_text(rows, sep, decimal, dayfirst, with_order):
    """CSV text of the generated rows and what the loader must do with them."""
    header = sep.join(["account_id", "date", "revenue", "product"] + (["order_id"] if with_order else []))
    lines, kept_cents, kept_accounts = [header], 0, set()
    excluded = {"missing account_id": 0, "missing revenue": 0, "date in the future": 0, "duplicate line": 0}
    last_kept = None
    for i, (kind, account, day, cents) in enumerate(rows):
        if kind == "duplicate" and last_kept is not None:
            lines.append(last_kept[0])
            if with_order:
                excluded["duplicate line"] += 1
            else:  # without an order id identical lines may be genuine: kept (flagged)
                kept_cents += last_kept[1]
            continue
        kind = "good" if kind == "duplicate" else kind
        date = (dt.date(2999, 1, 1) if kind == "future" else _BASE) + dt.timedelta(days=day)
        date_text = date.strftime("%d.%m.%Y") if dayfirst else date.isoformat()
        signed = -cents if kind == "credit" else cents
        amount = f"{signed / 100:.2f}".replace(".", decimal)
        account_id = f"{account:04d}"  # leading zeros must survive
        fields = ["" if kind == "missing_id" else account_id, date_text,
                  "" if kind == "missing_amount" else amount, f"P{day % 3}"] + ([f"O{i}"] if with_order else [])
        line = sep.join(fields)
        lines.append(line)
        if kind in ("good", "credit"):
            kept_cents += signed
            kept_accounts.add(account_id)
            last_kept = (line, signed)
        else:
            excluded[{"missing_id": "missing account_id", "missing_amount": "missing revenue",
                      "future": "date in the future"}[kind]] += 1
    return "\n".join(lines) + "\n", kept_cents, kept_accounts, {k: v for k, v in excluded.items() if v}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_rows, surveys=_surveys, dialect=st.sampled_from([(",", ".", False), (";", ",", True)]),
       with_order=st.booleans())
def test_row_accounting_for_any_mixture(rows, surveys, dialect, with_order):
    sep, decimal, dayfirst = dialect
    text, kept_cents, kept_accounts, excluded = _ledger_text(rows, sep, decimal, dayfirst, with_order)
    survey_lines = ["account_id,date,nps,csat"] + [
        f"{account:04d},2023-05-0{1 + account % 9},{nps},{csat}" for account, nps, csat in surveys
    ]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _write(tmp, text)
        _write(tmp, "\n".join(survey_lines) + "\n", name="surveys.csv")
        data = {"transactions": {"path": "ledger.csv", "sep": sep, "decimal": decimal, "dayfirst": dayfirst}}
        if surveys:
            data["surveys"] = "surveys.csv"
        config = _config(tmp, {"data": data})
        if kept_cents == 0 and not kept_accounts:
            with pytest.raises(DataValidationError, match="no usable ledger rows remain"):
                load_dataset(config)
            return
        ds = load_dataset(config)

    tx_acc = ds.quality._accounting["transactions"]
    assert tx_acc["rows_read"] == len(rows)
    assert tx_acc["excluded_by_reason"] == excluded
    assert tx_acc["rows_kept"] == len(rows) - sum(excluded.values()) == len(ds.transactions)
    assert round(ds.transactions["revenue"].sum() * 100) == kept_cents
    assert set(ds.accounts["account_id"]) == kept_accounts
    panel = build_panel(ds)
    assert abs(panel["revenue"].sum() - kept_cents / 100) < 0.005
    assert abs(build_panel(ds, freq="Q")["revenue"].sum() - kept_cents / 100) < 0.005

    if surveys:
        sv_acc = ds.quality._accounting["surveys"]
        unknown = sum(f"{a:04d}" not in kept_accounts for a, _, _ in surveys)
        assert sv_acc["rows_read"] == len(surveys)
        assert sv_acc["excluded_by_reason"] == ({"account not in accounts or ledger": unknown} if unknown else {})
        kept = [(n, c) for a, n, c in surveys if f"{a:04d}" in kept_accounts]
        out = ds.surveys
        assert len(out) == len(kept)
        # out-of-range scores are blanked, in-range ones kept as they were
        assert out["nps"].isna().sum() == sum(not 0 <= n <= 10 for n, _ in kept)
        assert out["csat"].isna().sum() == sum(not 1 <= c <= 5 for _, c in kept)
        assert out["nps"].dropna().between(0, 10).all() and out["csat"].dropna().between(1, 5).all()


# ------------------------------------------------------------------------------ foreign ledgers
def _panel_total(dataset):
    return build_panel(dataset)["revenue"].sum()


@pytest.mark.parametrize("name", ["online_retail", "online_retail_dayfirst"])
def test_foreign_online_retail(name):
    ds = load_dataset(FOREIGN / f"{name}.yaml")
    # Quantity × Price of the 11 lines with a Customer ID (rows 7, 9, 10 have none):
    # 15.30 + 20.34 + 11.10 + 54.08 + 12.60 − 27.50 − 4.65 + 38.16 + 17.70 + 19.50 + 15.00 = 171.63
    assert round(_panel_total(ds), 2) == 171.63
    assert abs(_panel_total(ds) - 171.63) < 0.005
    acc = ds.quality._accounting["transactions"]
    assert (acc["rows_read"], acc["rows_kept"], acc["excluded_by_reason"]) == (14, 11, {"missing account_id": 3})
    # cancellations (C-invoices, negative quantity) are credit notes, kept
    assert len(_entries(ds, "transactions", "info", "credit notes")) == 1
    assert (ds.transactions["revenue"] < 0).sum() == 2
    assert sorted(ds.accounts["account_id"]) == ["12583", "13047", "13313", "14527", "15311", "15987", "17850"]
    panel = build_panel(ds).set_index(["account_id", "period"])
    assert panel.loc[("12583", pd.Timestamp("2011-01-01")), "revenue"] == pytest.approx(15.0)
    assert panel.loc[("17850", pd.Timestamp("2010-12-01")), "orders"] == 2  # invoices 536365 and 536366


def test_foreign_superstore_us_dates():
    ds = load_dataset(FOREIGN / "superstore.yaml")
    panel = build_panel(ds)
    # Sales: 261.96 + 731.94 + 14.62 + 957.5775 + 22.368 + 48.86 + 7.28 + 907.152 + 15.552 + 407.976
    #        + 68.81 + 665.88 + 55.5 = 4165.4755
    assert abs(panel["revenue"].sum() - 4165.4755) < 0.005
    # Profit: 41.9136 + 219.582 + 6.8714 − 383.031 + 2.5164 + 14.1694 + 1.9656 + 90.7152 + 5.4432
    #         + 132.5922 − 123.858 + 13.3176 + 9.99 = 32.1876
    assert abs(panel["gross_margin"].sum() - 32.1876) < 0.005
    # 6/12/2016 is June 12 (month first), not December 6
    assert ds.transactions["date"].min() == pd.Timestamp("2014-06-09")
    dv = panel[panel["account_id"] == "DV-13045"]
    assert dv["period"].tolist() == [pd.Timestamp("2016-06-01")]
    accounts = ds.accounts.set_index("account_id")
    assert accounts.loc["HP-14815", "segment"] == "Home Office"
    assert accounts.loc["SO-20335", "account_name"] == "Sean O'Donnell"
    # Claire Gute: one order (CA-2016-152156) of two lines
    assert panel.loc[panel["account_id"] == "CG-12520", "orders"].tolist() == [1]


def test_foreign_adventureworks_with_excel_accounts():
    ds = load_dataset(FOREIGN / "adventureworks.yaml")
    panel = build_panel(ds)
    # SalesAmount: 2024.994 + 6074.982 + 419.4589 + 115.3616 + 1200.525 + 838.9178 + 31.119 + 86.5212
    #              + 2039.994 = 12831.8735
    assert abs(panel["revenue"].sum() - 12831.8735) < 0.005
    # margin where the cost is known (NULL on the first two lines): 6.3126 + 14.1568 + 141.215 + 12.6252
    #   + 1.1826 + 10.6176 + 127.8396 = 313.9494
    assert abs(ds.transactions["gross_margin"].sum() - 313.9494) < 0.005
    assert ds.transactions["gross_margin"].isna().sum() == 2
    accounts = ds.accounts.set_index("account_id")
    assert accounts.loc["676", "account_name"] == "Better Bike Shop"
    assert accounts.loc["676", "account_manager"] == "285"  # from the ledger's EmployeeKey
    assert not accounts.loc["999", "in_accounts_table"]  # bought, not in the workbook: kept, flagged
    assert accounts.loc["1", "in_accounts_table"]  # in the workbook, never bought: no panel rows
    assert "1" not in set(panel["account_id"])
    p676 = panel[panel["account_id"] == "676"].set_index("period")
    # July: both lines lack cost -> margin unknown; August: 838.9178 − 826.2926 = 12.6252
    assert np.isnan(p676.loc[pd.Timestamp("2017-07-01"), "gross_margin"])
    assert p676.loc[pd.Timestamp("2017-08-01"), "gross_margin"] == pytest.approx(12.6252)


# ------------------------------------------------------------------------------- real ledgers
def _realworld(folder: str) -> Path:
    path = REFERENCE / "realworld" / folder
    if not path.exists():
        pytest.skip(f"reference data not available ({path})")
    return path


def test_real_superstore_published_totals(tmp_path):
    source = _realworld("superstore") / "sales_lines.csv"
    config = _config(tmp_path, {
        "currency": "USD",
        "data": {"transactions": str(source)},
        "columns": {"transactions": {"Order ID": "order_id", "Order Date": "date", "Customer ID": "account_id",
                                     "Customer Name": "account_name", "Segment": "segment", "Region": "region",
                                     "Product ID": "product", "Sales": "revenue", "Profit": "gross_margin"}},
    })
    ds = load_dataset(config)
    panel = build_panel(ds)
    # published totals of the classic data set (SOURCE.txt): 9,994 lines, 793 customers,
    # Sales 2,297,200.86, Profit 286,397.02
    assert ds.quality._accounting["transactions"]["rows_read"] == 9994
    assert ds.quality._accounting["transactions"]["rows_kept"] == 9994
    assert ds.transactions["account_id"].nunique() == 793
    assert abs(panel["revenue"].sum() - 2_297_200.86) < 0.005
    assert abs(panel["gross_margin"].sum() - 286_397.02) < 0.005
    raw = pd.read_csv(source)
    assert abs(panel["revenue"].sum() - raw["Sales"].sum()) < 0.005
    assert set(ds.accounts["segment"]) == {"Consumer", "Corporate", "Home Office"}


def test_real_online_retail_parquet(tmp_path):
    source = _realworld("online_retail") / "online_retail_2010-2011.parquet"
    raw = pd.read_parquet(source)
    assert list(raw.columns) == ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price",
                                 "Customer ID", "Country"]
    config = _config(tmp_path, {
        "currency": "GBP",
        "data": {"transactions": str(source)},
        "columns": {"transactions": {"Invoice": "order_id", "StockCode": "product", "InvoiceDate": "date",
                                     "Customer ID": "account_id"}},
        "derive": {"transactions": {"revenue": {"multiply": ["Quantity", "Price"]}}},
    })
    ds = load_dataset(config)
    acc = ds.quality._accounting["transactions"]
    # published UCI figures (SOURCE.txt): 541,909 rows, 135,080 without customer id, 4,372 customer ids,
    # sum(Quantity × Price) over all rows 9,747,747.93
    assert acc["rows_read"] == 541_909
    assert acc["excluded_by_reason"]["missing account_id"] == 135_080
    assert ds.transactions["account_id"].nunique() == 4372
    assert abs((raw["Quantity"] * raw["Price"]).sum() - 9_747_747.93) < 0.005
    # the source's own total of the rows the loader keeps, computed independently: rows with a
    # customer id, exact duplicate lines (every column equal, order id present) counted once
    with_id = raw[raw["Customer ID"].notna()]
    expected = with_id.drop_duplicates()
    assert acc["excluded_by_reason"]["duplicate line"] == len(with_id) - len(expected)
    assert acc["rows_read"] == acc["rows_kept"] + sum(acc["excluded_by_reason"].values())
    assert acc["rows_kept"] == len(expected)
    total = (expected["Quantity"] * expected["Price"]).sum()
    panel = build_panel(ds)
    assert abs(panel["revenue"].sum() - total) < 0.005
    assert set(ds.accounts["account_id"]) == set(expected["Customer ID"].astype(int).astype(str))
