"""Tests of kamtools.config: the YAML a consultant writes by hand.

Checks that the exact shape of issue 2 works (and loads real files end to end), that an unknown
key at every level is an error naming the key and the nearest valid one, that overrides replace
values at any depth, and that data paths are relative to the config file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
import yaml

from kamtools.config import DERIVE_OPERATIONS, Config, DataSource, load_config
from kamtools.exceptions import ConfigError, KamError

# verbatim from issue 2 ("At least this shape must work, since consultants will write it by hand")
ISSUE_2_YAML = """\
client: Acme Distribution
currency: EUR
period: M
data:
  transactions: {path: ledger.csv, sep: ";", decimal: ",", encoding: latin-1, dayfirst: true}
  accounts: {path: crm.xlsx, sheet: Accounts}      # optional
columns:
  transactions: {CustomerID: account_id, InvoiceDate: date, Segment: segment}
  accounts: {Kundennummer: account_id, Name: account_name}
derive:
  transactions:
    revenue: {multiply: [Quantity, UnitPrice]}
    gross_margin: {subtract: [revenue, Cost]}
"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = "client: Test\ndata: {transactions: ledger.csv}\n"


# ------------------------------------------------------------------------------ the issue's shape
def test_issue_2_shape_parses(tmp_path):
    config = load_config(_write(tmp_path / "acme.yaml", ISSUE_2_YAML))
    assert config.client == "Acme Distribution"
    assert (config.currency, config.period) == ("EUR", "M")
    tx = config.data["transactions"]
    assert tx.path == tmp_path / "ledger.csv"
    assert (tx.sep, tx.decimal, tx.encoding, tx.dayfirst, tx.format) == (";", ",", "latin-1", True, "csv")
    crm = config.data["accounts"]
    assert (crm.path, crm.sheet, crm.format) == (tmp_path / "crm.xlsx", "Accounts", "excel")
    assert config.columns["accounts"] == {"Kundennummer": "account_id", "Name": "account_name"}
    assert config.derive["transactions"] == {"revenue": {"multiply": ["Quantity", "UnitPrice"]},
                                             "gross_margin": {"subtract": ["revenue", "Cost"]}}
    assert config.path == (tmp_path / "acme.yaml").resolve()
    assert config.slug == "acme-distribution"


def test_issue_2_shape_loads_real_files(tmp_path):
    import openpyxl

    from kamtools.io import load_dataset
    from kamtools.panel import build_panel

    # Latin-1, ';', decimal comma, day-first dates, as the config says
    ledger = ("CustomerID;InvoiceDate;Segment;Quantity;UnitPrice;Cost\n"
              "K001;05.01.2024;Großhandel;2;10,50;15,00\n"
              "K001;06.02.2024;Großhandel;1;3,00;2,00\n"
              "K002;07.03.2024;Einzelhandel;4;2,25;10,00\n")
    (tmp_path / "ledger.csv").write_bytes(ledger.encode("latin-1"))
    book = openpyxl.Workbook()
    book.active.title = "Readme"
    sheet = book.create_sheet("Accounts")
    for row in [("Kundennummer", "Name"), ("K001", "Müller GmbH"), ("K002", "Bäckerei Groß")]:
        sheet.append(row)
    book.save(tmp_path / "crm.xlsx")
    dataset = load_dataset(_write(tmp_path / "acme.yaml", ISSUE_2_YAML))
    tx = dataset.transactions
    # revenue = Quantity × UnitPrice: 2 × 10.50 = 21, 1 × 3 = 3, 4 × 2.25 = 9
    assert tx["revenue"].tolist() == [21.0, 3.0, 9.0]
    # gross_margin = revenue − Cost: 21 − 15 = 6, 3 − 2 = 1, 9 − 10 = −1
    assert tx["gross_margin"].tolist() == [6.0, 1.0, -1.0]
    assert tx["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-05", "2024-02-06", "2024-03-07"]
    accounts = dataset.accounts.set_index("account_id")
    assert accounts.loc["K002", "account_name"] == "Bäckerei Groß"
    assert accounts.loc["K001", "segment"] == "Großhandel"  # ledger attribute fills the CRM's gap
    assert build_panel(dataset)["revenue"].sum() == 33.0


# ------------------------------------------------------------------------------ unknown keys
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("client: X\ncurency: EUR\ndata: {transactions: l.csv}\n",
         "unknown key 'curency' in the top level; did you mean 'currency'?"),
        ("client: X\nwindow: {start: 2024-01-01, ende: 2024-12-31}\ndata: {transactions: l.csv}\n",
         "unknown key 'ende' in window; did you mean 'end'?"),
        ("client: X\ndata: {transaction: l.csv}\n",
         "unknown key 'transaction' in data; did you mean 'transactions'?"),
        ("client: X\ndata: {transactions: {path: l.csv, seperator: ';'}}\n",
         "unknown key 'seperator' in data.transactions; did you mean 'sep'?"),
        ("client: X\ndata: {transactions: {path: l.csv, delimiter: ';'}}\n",
         "unknown key 'delimiter' in data.transactions; did you mean 'sep'?"),
        ("client: X\ndata: {transactions: {path: l.csv, sheet_name: Sales}}\n",
         "unknown key 'sheet_name' in data.transactions; did you mean 'sheet'?"),
        ("client: X\ndata: {transactions: {path: l.csv, Encoding: latin-1}}\n",
         "unknown key 'Encoding' in data.transactions; did you mean 'encoding'?"),
        ("client: X\ndata: {transactions: l.csv}\ncolumns: {transaktionen: {A: account_id}}\n",
         "unknown key 'transaktionen' in columns; did you mean 'transactions'?"),
        ("client: X\ndata: {transactions: l.csv}\ncolumns: {transactions: {Kunde: acount_id}}\n",
         "columns.transactions: 'Kunde' maps to unknown column 'acount_id'; did you mean 'account_id'?"),
        ("client: X\ndata: {transactions: l.csv}\ncolumns: {surveys: {Score: nps_score}}\n",
         "columns.surveys: 'Score' maps to unknown column 'nps_score'; did you mean 'nps'?"),
        ("client: X\ndata: {transactions: l.csv}\nderive: {transaction: {revenue: {copy: [Sales]}}}\n",
         "unknown key 'transaction' in derive; did you mean 'transactions'?"),
        ("client: X\ndata: {transactions: l.csv}\nderive: {transactions: {revenue: {mutliply: [Q, P]}}}\n",
         "derive.transactions.revenue: unknown operation 'mutliply'; did you mean 'multiply'?"),
        ("client: X\ndata: {transactions: l.csv}\nderive: {transactions: {revenu: {multiply: [Q, P]}}}\n",
         "derive.transactions: 'revenu' is neither a canonical column of transactions nor used by a later "
         "derivation; did you mean 'revenue'?"),
        ("client: X\ndata: {transactions: l.csv}\nnotebooks: {01_selection: {parameter: {k: 1}}}\n",
         "unknown key 'parameter' in notebooks.01_selection; did you mean 'parameters'?"),
    ],
    ids=["top", "window", "data", "source", "source-alias", "source-alias-sheet", "source-case", "columns",
         "columns-target", "columns-target-surveys", "derive", "derive-operation", "derive-target", "notebooks"],
)
def test_unknown_keys_name_the_nearest_valid_one(tmp_path, text, message):
    path = _write(tmp_path / "client.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: {message}"


def test_intermediate_derivations_are_allowed(tmp_path):
    text = MINIMAL + "derive:\n  transactions:\n    net: {subtract: [1, Discount]}\n" \
                     "    revenue: {multiply: [Quantity, Price, net]}\n"
    config = load_config(_write(tmp_path / "c.yaml", text))
    assert list(config.derive["transactions"]) == ["net", "revenue"]


@pytest.mark.parametrize(
    ("snippet", "match"),
    [
        ("derive: {transactions: {revenue: {multiply: [Quantity]}}}", r"'multiply' takes two or more operands"),
        ("derive: {transactions: {revenue: {subtract: [a, b, c]}}}", r"'subtract' takes exactly two operands"),
        ("derive: {transactions: {revenue: {negate: [a, b]}}}", r"'negate' takes one operand"),
        ("derive: {transactions: {revenue: Quantity * Price}}", r"must be one operation like"),
        ("derive: {transactions: {revenue: {multiply: [a, {b: 1}]}}}", r"operands are column names or numbers"),
    ],
)
def test_bad_derivations(tmp_path, snippet, match):
    with pytest.raises(ConfigError, match=match):
        load_config(_write(tmp_path / "c.yaml", MINIMAL + snippet + "\n"))


def test_derive_operations_are_data_not_code():
    assert DERIVE_OPERATIONS == ("multiply", "subtract", "add", "divide", "negate", "copy")


# ------------------------------------------------------------------------------ values
@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("{path: l.csv, decimal: ';'}", r"data.transactions.decimal must be \".\" or \",\", got ';'"),
        ("{path: l.csv, sep: ';;'}", r"data.transactions.sep must be one character"),
        ("{path: l.csv, decimal: ',', thousands: ','}", r"thousands and decimal are both ','"),
        ("{path: l.csv, thousands: '#'}", r"data.transactions.thousands must be one of"),
        ("{path: l.csv, dayfirst: 2}", r"data.transactions.dayfirst must be true or false, got 2"),
        ("{path: l.csv, date_format: dd.mm.yyyy}", r"date_format must be a strftime pattern such as"),
        ("{path: l.csv, engine: spark}", r"data.transactions.engine must be auto, pandas or duckdb"),
        ("{path: l.csv, sheet: [a]}", r"data.transactions.sheet must be a sheet name or number"),
        ("{path: l.csv, na_values: {a: 1}}", r"data.transactions.na_values must be a list"),
        ("{sep: ';'}", r"data.transactions needs a 'path'"),
    ],
)
def test_bad_source_values(tmp_path, source, match):
    with pytest.raises(ConfigError, match=match):
        load_config(_write(tmp_path / "c.yaml", f"client: X\ndata: {{transactions: {source}}}\n"))


def test_source_conveniences(tmp_path):
    text = ("client: X\ndata:\n  transactions: {path: l.tsv, sep: tab, na_values: [NULL, '-', -999]}\n"
            "  surveys: {path: s.csv, dayfirst: 'yes', sheet: 0}\n")
    config = load_config(_write(tmp_path / "c.yaml", text))
    tx = config.data["transactions"]
    assert tx.sep == "\t"
    # YAML reads a bare NULL as "nothing"; the consultant meant the word
    assert tx.na_values == ("NULL", "null", "Null", "-", "-999")
    assert config.data["surveys"].dayfirst is True


@pytest.mark.parametrize(("value", "expected"), [("M", "M"), ("month", "M"), ("Monthly", "M"), ("Q", "Q"),
                                                 ("quarter", "Q"), ("QUARTERLY", "Q")])
def test_period_words(tmp_path, value, expected):
    assert load_config(_write(tmp_path / "c.yaml", MINIMAL + f"period: {value}\n")).period == expected


@pytest.mark.parametrize(
    ("snippet", "match"),
    [
        ("period: W", r"period must be M \(month\) or Q \(quarter\), got 'W'"),
        ("window: {start: 2024-12-31, end: 2024-01-01}", r"window.start 2024-12-31 is after window.end 2024-01-01"),
        ("window: {start: 31.12.2024}", r"window.start must be an ISO date like 2024-01-31, got '31.12.2024'"),
        ("as_of: tomorrow", r"as_of must be an ISO date"),
        ("engine: spark", r"engine must be auto, pandas or duckdb, got 'spark'"),
        ("notebooks: [01_selection]", r"notebooks must map a notebook name to its settings"),
    ],
)
def test_bad_top_level_values(tmp_path, snippet, match):
    with pytest.raises(ConfigError, match=match):
        load_config(_write(tmp_path / "c.yaml", MINIMAL + snippet + "\n"))


def test_required_keys(tmp_path):
    with pytest.raises(ConfigError, match=r"'client' is required"):
        load_config(_write(tmp_path / "a.yaml", "data: {transactions: l.csv}\n"))
    with pytest.raises(ConfigError, match=r"data.transactions is required"):
        load_config(_write(tmp_path / "b.yaml", "client: X\ndata: {accounts: crm.csv}\n"))


def test_broken_files(tmp_path):
    with pytest.raises(ConfigError, match=r"config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"not valid YAML"):
        load_config(_write(tmp_path / "bad.yaml", "client: [unclosed\n"))
    with pytest.raises(ConfigError, match=r"must be a mapping of keys to values"):
        load_config(_write(tmp_path / "list.yaml", "- client\n- data\n"))
    (tmp_path / "latin.yaml").write_bytes("client: Müller\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"must be saved as UTF-8"):
        load_config(tmp_path / "latin.yaml")
    # a BOM (Windows editors) is fine
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode("utf-8"))
    assert load_config(tmp_path / "bom.yaml").client == "Test"
    assert issubclass(ConfigError, KamError) and issubclass(ConfigError, ValueError)


# ------------------------------------------------------------------------------ overrides
def test_overrides_replace_values(tmp_path):
    text = MINIMAL + "notebooks:\n  01_selection: {parameters: {max_key_accounts: 25, alpha: 0.1}}\n"
    path = _write(tmp_path / "c.yaml", text)
    config = load_config(path, client="Other client", currency="CHF",
                         notebooks__01_selection__parameters__max_key_accounts=30)
    assert (config.client, config.currency) == ("Other client", "CHF")
    assert config.notebook_parameters("01_selection") == {"max_key_accounts": 30, "alpha": 0.1}
    # the file itself is untouched and a second load sees the original
    assert load_config(path).notebook_parameters("01_selection")["max_key_accounts"] == 25


def test_overrides_with_dots_and_new_branches(tmp_path):
    path = _write(tmp_path / "c.yaml", MINIMAL + "window:\n")
    config = load_config(path, **{"window.start": "2024-01-01", "data.transactions.sep": ";",
                                  "notebooks.04_retention_sensitivity.enabled": False})
    assert config.window_start == dt.date(2024, 1, 1)
    # the short form `transactions: ledger.csv` becomes {path: ledger.csv, sep: ';'}
    assert (config.data["transactions"].path.name, config.data["transactions"].sep) == ("ledger.csv", ";")
    assert not config.notebook_enabled("04_retention_sensitivity")
    assert config.notebook_enabled("01_selection")


def test_overrides_are_checked_like_the_file(tmp_path):
    path = _write(tmp_path / "c.yaml", MINIMAL)
    with pytest.raises(ConfigError, match=r"unknown key 'clinet' in the top level; did you mean 'client'\?"):
        load_config(path, clinet="X")
    with pytest.raises(ConfigError, match=r"unknown key 'seperator' in data.transactions; did you mean 'sep'\?"):
        load_config(path, data__transactions__seperator=";")
    with pytest.raises(ConfigError, match=r"override 'client.name': 'client' is 'Test', not a mapping"):
        load_config(path, client__name="X")


def test_overrides_alone_make_a_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(client="Ad hoc", data={"transactions": "ledger.csv"})
    assert config.data["transactions"].path == tmp_path / "ledger.csv"
    assert config.path is None


# ------------------------------------------------------------------------------ paths
def test_paths_are_relative_to_the_config_file(tmp_path, monkeypatch):
    text = ("client: X\noutput: ../reports\ndata:\n  transactions: ../data/ledger.csv\n"
            f"  accounts: {{path: {tmp_path / 'abs' / 'crm.csv'}}}\n")
    _write(tmp_path / "configs" / "client.yaml", text)
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    config = load_config(Path("../../configs/client.yaml"))
    assert config.data["transactions"].path.resolve() == (tmp_path / "data" / "ledger.csv").resolve()
    assert config.data["accounts"].path == tmp_path / "abs" / "crm.csv"
    assert config.output.resolve() == (tmp_path / "reports").resolve()


@pytest.mark.parametrize(("name", "fmt"), [("l.csv", "csv"), ("l.txt", "csv"), ("l.csv.gz", "csv"),
                                           ("l.XLSX", "excel"), ("l.xlsm", "excel"), ("l.parquet", "parquet"),
                                           ("l.pq", "parquet")])
def test_source_format_from_the_suffix(name, fmt):
    assert DataSource("transactions", Path("/nowhere") / name).format == fmt


def test_a_folder_is_parquet(tmp_path):
    assert DataSource("transactions", tmp_path).format == "parquet"


def test_config_is_frozen(tmp_path):
    config = load_config(_write(tmp_path / "c.yaml", MINIMAL))
    assert isinstance(config, Config)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.client = "Y"


def test_sample_config_when_present():
    path = Path(__file__).resolve().parents[1] / "configs" / "sample.yaml"
    if not path.exists():
        pytest.skip("configs/sample.yaml is written with the sample data")
    config = load_config(path)
    assert config.data["transactions"].path.exists()
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["client"] == config.client
