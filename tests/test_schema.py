"""Tests of kamtools.schema: the contract is consistent, matches ARCHITECTURE.md, and the README
shows exactly ``contract_markdown()`` between its contract markers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kamtools.config import load_config
from kamtools.schema import ACCOUNT_ATTRIBUTES, CONTRACT, TABLE_NAMES, Column, canonical_columns, contract_markdown

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- contract:start -->", "<!-- contract:end -->"

# The data contract of ARCHITECTURE.md / COMMON.md, copied by hand: the schema must say the same.
# (table, columns in order, required columns)
ARCHITECTURE = {
    "accounts": ("account_id account_name segment industry region account_manager is_key_account kam_start "
                 "wallet_estimate product_fit strategic_value relationship_strength logo_appeal "
                 "renewal_likelihood cost_to_serve", "account_id"),
    "transactions": ("account_id date revenue gross_margin product order_id", "account_id date revenue"),
    "surveys": ("account_id date nps csat referenceable", "account_id date"),
    "interactions": ("account_id date channel direction response_hours", "account_id date"),
    "outcomes": ("account_id goal target_date achieved", "account_id goal"),
    "prospects": ("prospect_id first_contact converted channel", "prospect_id"),
    "manager_surveys": ("account_manager date satisfaction", "account_manager date"),
    "programme_costs": ("period cost item", "period cost"),
}
KINDS = {"id", "text", "date", "money", "number", "bool"}


# ------------------------------------------------------------------------------ README sync
def test_readme_shows_the_contract():
    assert README.exists(), "README.md is missing: it must document the data contract"
    text = README.read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1, (
        f"README.md must contain the contract between {START} and {END} exactly once"
    )
    block = text.split(START, 1)[1].split(END, 1)[0]
    assert block.strip() == contract_markdown().strip(), (
        "README.md's contract table is out of date: paste the output of "
        "`python -c 'from kamtools.schema import contract_markdown; print(contract_markdown())'` between the markers"
    )


def test_contract_markdown_is_a_table_of_every_column():
    lines = contract_markdown().splitlines()
    assert lines[0] == "| table | column | required | type | allowed values | meaning |"
    assert lines[1] == "|---|---|---|---|---|---|"
    body = lines[2:]
    assert len(body) == sum(len(t.columns) for t in CONTRACT.values())
    assert all(line.startswith("| ") and line.endswith(" |") and line.count(" | ") == 5 for line in body)
    cells = [line[2:-2].split(" | ") for line in body]
    assert [(c[0], c[1].strip("`")) for c in cells] == [
        (t.name, col.name) for t in CONTRACT.values() for col in t.columns
    ]
    required = {(c[0], c[1].strip("`")) for c in cells if c[2] == "**yes**"}
    assert required == {(t, c) for t, (_, req) in ARCHITECTURE.items() for c in req.split()}
    row = {c[1].strip("`") + "@" + c[0]: c for c in cells}
    assert row["nps@surveys"][4] == "0–10 (whole numbers)"
    assert row["renewal_likelihood@accounts"][4] == "0–1"
    assert row["cost@programme_costs"][4] == "≥ 0"
    assert row["revenue@transactions"][4] == "negative allowed (credit notes)"
    assert row["direction@interactions"][4] == "in / out"


# ------------------------------------------------------------------------------ self-consistency
def test_tables_and_columns_match_the_architecture():
    assert TABLE_NAMES == tuple(ARCHITECTURE)
    for name, (columns, required) in ARCHITECTURE.items():
        assert canonical_columns(name) == columns.split(), name
        assert CONTRACT[name].required == required.split(), name
    assert [t for t in TABLE_NAMES if CONTRACT[t].required_table] == ["transactions"]


@pytest.mark.parametrize("table", TABLE_NAMES)
def test_columns_are_well_formed(table):
    spec = CONTRACT[table]
    assert spec.name == table and spec.description
    names = spec.names
    assert len(names) == len(set(names))
    for col in spec.columns:
        assert isinstance(col, Column)
        assert re.fullmatch(r"[a-z][a-z_]*", col.name)
        assert col.kind in KINDS, (table, col.name)
        assert col.description, (table, col.name)
        assert col.on_out_of_range in ("null", "exclude", "error")
        if col.min is not None and col.max is not None:
            assert col.min < col.max
        if col.min is not None or col.max is not None or col.integer:
            assert col.kind in ("number", "money"), (table, col.name)
        if col.allowed:
            assert col.kind == "text" and all(a == a.lower() for a in col.allowed)
        if not col.allow_negative:
            assert col.min == 0, (table, col.name)
    assert spec.column(names[0]).name == names[0]
    with pytest.raises(KeyError):
        spec.column("no_such_column")


@pytest.mark.parametrize("table", TABLE_NAMES)
def test_keys_and_references_point_at_real_columns(table):
    spec = CONTRACT[table]
    assert set(spec.key) <= set(spec.names)
    for column, target in spec.references:
        assert column in spec.names
        other, other_column = target.split(".")
        assert other_column in CONTRACT[other].names
        assert other_column in CONTRACT[other].key, f"{target} must be the key of {other}"
    for column, _how in spec.alternatives:
        assert column in spec.names


def test_the_rules_the_issue_names():
    surveys, accounts = CONTRACT["surveys"], CONTRACT["accounts"]
    assert (surveys.column("nps").min, surveys.column("nps").max) == (0, 10)
    assert (surveys.column("csat").min, surveys.column("csat").max) == (1, 5)
    for score in ("product_fit", "strategic_value", "relationship_strength", "logo_appeal"):
        assert (accounts.column(score).min, accounts.column(score).max) == (1, 5)
    assert (accounts.column("renewal_likelihood").min, accounts.column("renewal_likelihood").max) == (0, 1)
    assert accounts.key == ("account_id",)
    assert ("account_id", "accounts.account_id") in CONTRACT["transactions"].references
    assert CONTRACT["transactions"].column("revenue").allow_negative  # credit notes are legitimate
    assert CONTRACT["programme_costs"].column("cost").on_out_of_range == "error"


def test_account_attributes_are_account_columns():
    assert set(ACCOUNT_ATTRIBUTES) <= set(canonical_columns("accounts"))
    assert "account_id" not in ACCOUNT_ATTRIBUTES


def test_every_canonical_column_can_be_mapped(tmp_path):
    # the config accepts every canonical column as a column-map target (no column is unreachable)
    columns = {t: {f"Client {c}": c for c in canonical_columns(t)} for t in TABLE_NAMES}
    path = tmp_path / "c.yaml"
    import yaml

    path.write_text(yaml.safe_dump({"client": "X", "data": {"transactions": "l.csv"}, "columns": columns}),
                    encoding="utf-8")
    assert load_config(path).columns == columns
