"""The DuckDB route gives the same bits run after run (parallel float sums would not)."""

import numpy as np

import kamtools.ledger_duckdb as ledger_duckdb
from kamtools.config import load_config
from kamtools.io import load_dataset
from kamtools.panel import build_panel
from kamtools.sample_large import write_large_world


def test_duckdb_panel_is_identical_across_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(ledger_duckdb, "_EXACT_LINES", 0)  # force the SQL aggregation, not the small-ledger one
    write_large_world(tmp_path, seed=2, n_accounts=80, n_months=12, lines=300_000, chunk_lines=2_000)
    (tmp_path / "c.yaml").write_text("client: Det\ndata:\n  transactions: {path: transactions, engine: duckdb}\n")
    panels = [build_panel(load_dataset(load_config(tmp_path / "c.yaml"))) for _ in range(3)]
    for other in panels[1:]:
        for col in ("revenue", "gross_margin"):
            assert np.array_equal(other[col].to_numpy(), panels[0][col].to_numpy(), equal_nan=True)
    # and the decimal sums agree with the pandas route to far below a cent
    pandas_panel = build_panel(load_dataset(load_config(tmp_path / "c.yaml", data__transactions__engine="pandas")))
    assert np.allclose(panels[0]["revenue"], pandas_panel["revenue"], rtol=0, atol=1e-6)


def test_a_parquet_folder_reads_only_its_parquet_files(tmp_path):
    write_large_world(tmp_path, seed=0, n_accounts=60, n_months=12, lines=20_000, chunk_lines=500)
    (tmp_path / "transactions" / "SOURCE.txt").write_text("where these files came from\n")
    counts = {}
    for engine in ("pandas", "duckdb"):
        cfg = tmp_path / f"{engine}.yaml"
        cfg.write_text(f"client: Folder\ndata:\n  transactions: {{path: transactions, engine: {engine}}}\n")
        counts[engine] = load_dataset(load_config(cfg)).quality.accounting.iloc[0]["rows_read"]
    assert counts["pandas"] == counts["duckdb"] > 15_000
