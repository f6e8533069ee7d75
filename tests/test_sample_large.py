"""Big synthetic ledgers keep the small world's panel to the cent and have no duplicate lines."""

import numpy as np
import pandas as pd
import pytest

from kamtools.config import load_config
from kamtools.exceptions import ParameterError
from kamtools.io import load_dataset
from kamtools.panel import build_panel
from kamtools.sample import generate_world
from kamtools.sample_large import split_lines, write_large_world


def test_split_lines_adds_up_to_the_cent():
    world = generate_world(seed=3, n_accounts=60, n_months=12)
    small = world.transactions
    big = split_lines(small, factor=7.0, rng=np.random.default_rng(0))
    assert len(big) > 4 * len(small)
    keys = ["account_id", "date", "product", "order_id"]
    for col in ("revenue", "gross_margin"):
        a = small.groupby(keys)[col].sum().mul(100).round().astype("int64")
        b = big.groupby(keys)[col].sum().mul(100).round().astype("int64")
        pd.testing.assert_series_equal(a, b)
    assert not big.duplicated().any()


def test_split_lines_refuses_a_factor_below_one():
    with pytest.raises(ParameterError, match="'factor' parameter of split_lines must be >= 1"):
        split_lines(generate_world(seed=0, n_accounts=60, n_months=12).transactions, 0.5, np.random.default_rng(0))


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_large_world_panel_equals_the_small_worlds(tmp_path, fmt):
    write_large_world(tmp_path, seed=1, n_accounts=60, n_months=12, format=fmt, lines=20_000, chunk_lines=300)
    ledger = "transactions" if fmt == "parquet" else "transactions.csv"
    (tmp_path / "c.yaml").write_text(f"client: Big\ndata:\n  transactions: {ledger}\n  accounts: accounts.csv\n")
    dataset = load_dataset(load_config(tmp_path / "c.yaml"))
    assert dataset.quality.accounting["rows_excluded"].sum() == 0
    big = build_panel(dataset)
    small = build_panel(generate_world(seed=1, n_accounts=60, n_months=12))
    pd.testing.assert_frame_equal(big.reset_index(drop=True), small.reset_index(drop=True),
                                  check_exact=False, rtol=0, atol=1e-6, check_dtype=False)
