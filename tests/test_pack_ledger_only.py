"""The full report pack on a ledger-only client: every notebook renders, and says what is missing.

A consultant's client data are often a ledger and nothing else: no accounts table, no kam_start,
no is_key_account, no programme_costs. The pack must still come out green, with each report giving
what the data allow and naming what to provide ("not available: provide ..."), never a zero.

The data: ``tests/data/foreign/superstore.yaml`` (13 invoice lines of the Tableau Superstore shape,
9 customers over three years, with Sales and Profit, segments and regions; no KAM programme). One
render of all notebooks (about 30-40 s on two cores), shared by the tests of this module.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kamtools.report import render_pack

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "tests" / "data" / "foreign" / "superstore.yaml"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    if not NOTEBOOKS:
        pytest.skip("no report notebooks in notebooks/")
    return render_pack(CONFIG, out=tmp_path_factory.mktemp("ledger_only") / "pack", progress=False)


def _run(pack, stem):
    runs = {nb.name: nb for nb in pack.notebooks}
    assert stem in runs, f"{stem} was not rendered; rendered: {sorted(runs)}"
    return runs[stem]


def _headlines(run) -> list[str]:
    return [h["text"] for h in run.headlines]


def test_every_notebook_of_the_pack_renders(pack):
    assert [nb.name for nb in pack.notebooks] == [p.stem for p in NOTEBOOKS]
    failures = {nb.name: nb.error for nb in pack.notebooks if not nb.ok}
    assert pack.ok, f"notebooks failed on a ledger-only client: {failures}"
    assert pack.exit_code == 0
    for nb in pack.notebooks:
        assert nb.html_path is not None and nb.html_path.exists(), nb.name


def test_roi_report_says_rollout_dates_are_missing(pack):
    run = _run(pack, "03_roi_rollout")
    assert run.ok, run.error
    texts = _headlines(run)
    assert len(texts) == 1
    assert texts[0].startswith("ROI not available: the programme's return cannot be measured without rollout "
                               "dates (no account has a kam_start); provide accounts with account_id, kam_start "
                               "(the date each account entered the KAM programme)")
    assert run.headlines[0]["value"] is None  # no number stands in for a missing ROI
    html = run.html_path.read_text(encoding="utf-8")
    assert "not available: provide accounts with account_id, kam_start" in html
    assert "first period" in html and "2014-06" in html  # the data window is still shown
    # the estimation sections are skipped, not failed: no estimate tables were stored
    assert {t["name"] for t in run.tables} == {"data_window"}


def test_retention_report_values_the_whole_book_without_costs(pack):
    run = _run(pack, "04_retention_sensitivity")
    assert run.ok, run.error
    texts = _headlines(run)
    assert len(texts) == 1
    assert texts[0].startswith("+5 points of retention is worth $")
    assert " over 10 years for the whole book" in texts[0]
    assert texts[0].endswith("no KAM programme costs in the data: the break-even uplift needs programme_costs "
                             "with period, cost (or the programme's annual cost)")
    assert run.headlines[0]["value"] is None  # the break-even is not available, never 0
    html = run.html_path.read_text(encoding="utf-8")
    assert "No key accounts in the data" in html
    assert "Break-even uplift not available: provide programme_costs with period, cost" in html
    stored = {t["name"] for t in run.tables}
    assert {"calibration", "reichheld", "tornado", "sobol"} <= stored and "breakeven" not in stored
