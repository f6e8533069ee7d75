"""Tests of the report pipeline (kamtools.report) and the notebook-side helpers (kamtools.pack).

Kernel start-ups cost about a second each on the 2-core machines, so the end-to-end tests share
rendered packs through module-scoped fixtures:

* ``mini_pack``: the real ``notebooks/00_data_overview.ipynb`` on ``tests/data/mini`` (account names
  that are HTML and spreadsheet formulas) next to a notebook that raises, rendered through the CLI
  with ``-p top_n 5``;
* ``mini_pack_again``: the same data rendered a second time (only notebook 00), for determinism;
* the sample pack (``configs/sample.yaml``), when the sample is present.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import openpyxl
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from kamtools import pack
from kamtools.config import load_config
from kamtools.exceptions import ConfigError, KamError, ParameterError
from kamtools import report
from kamtools.report import (
    IPCKernelManager,
    export_html,
    external_requests,
    find_notebooks,
    render_pack,
    report_cli,
    strip_volatile_metadata,
    write_tables_xlsx,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
OVERVIEW = NOTEBOOKS / "00_data_overview.ipynb"
MINI = ROOT / "tests" / "data" / "mini" / "mini.yaml"
SAMPLE = ROOT / "configs" / "sample.yaml"

HOSTILE_HTML = "<script>alert(1)</script>"
HOSTILE_FORMULA = '=HYPERLINK("http://x","y")'
HOSTILE_TEXTS = [HOSTILE_HTML, HOSTILE_FORMULA, "+SUM(1;2)", "-2+3", "@cmd"]
EXTERNAL_LITERALS = ('<script src="http', "<link href=\"http", "@import url(http")

PARAMS = (
    'config_path: str = "../configs/sample.yaml"  # engagement config\n'
    'output_dir: str = ""  # set by kam report\n'
)


def _notebook(path: Path, *cells: str, params: str = PARAMS, title: str = "Test report") -> Path:
    nb = new_notebook(
        cells=[new_code_cell(params, metadata={"tags": ["parameters"]}), new_markdown_cell(f"# {title}")]
        + [new_code_cell(c) for c in cells],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    nbformat.write(nb, str(path))
    return path


def _sheet_values(path: Path) -> dict[str, list[tuple]]:
    wb = openpyxl.load_workbook(path)
    return {ws.title: [tuple(c.value for c in row) for row in ws.iter_rows()] for ws in wb}


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def mini_notebooks(tmp_path_factory):
    if not OVERVIEW.exists():
        pytest.skip("notebooks/00_data_overview.ipynb not present")
    folder = tmp_path_factory.mktemp("notebooks")
    shutil.copy(OVERVIEW, folder / OVERVIEW.name)
    _notebook(
        folder / "01_broken.ipynb",
        "from kamtools import pack\npack.start(output_dir)",
        "raise ValueError('the broken notebook broke on purpose')",
        title="Broken report",
    )
    _notebook(folder / "02_dies.ipynb", "import os\nos._exit(3)", title="Report whose kernel dies")
    return folder


@pytest.fixture(scope="module")
def packs(mini_notebooks, tmp_path_factory):
    """Three packs rendered at the same time (4 notebooks on 2 cores keep both busy)."""
    base = tmp_path_factory.mktemp("packs")
    jobs = {
        # through the CLI, with a typed -p value
        "mini": lambda: report_cli(["--config", str(MINI), "--out", str(base / "mini"), "--notebooks",
                                    str(mini_notebooks), "-p", "top_n", "5", "--quiet"]),
        # the same data a second time, for determinism
        "again": lambda: render_pack(MINI, out=base / "again", only="00", parameters={"top_n": 5},
                                     notebooks_dir=mini_notebooks, progress=False),
        "sample": lambda: render_pack(SAMPLE, out=base / "sample", only="00_data_overview", progress=False)
        if SAMPLE.exists() else None,
    }
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        results = {name: future.result() for name, future in futures.items()}
    return results, base


@pytest.fixture(scope="module")
def mini_pack(packs):
    results, base = packs
    return results["mini"], base / "mini"


@pytest.fixture(scope="module")
def mini_pack_again(packs):
    return packs[0]["again"]


@pytest.fixture(scope="module")
def sample_pack(packs):
    if packs[0]["sample"] is None:
        pytest.skip("configs/sample.yaml not present")
    return packs[0]["sample"]


# ---------------------------------------------------------------- kernels: race-free start-up
def test_fifty_parallel_kernel_launches_do_not_collide():
    """50 kernels, 10 starting at a time, each on its own IPC endpoints: all become ready."""

    async def launch():
        km = IPCKernelManager(kernel_name="python3")
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=90)
            info = km.get_connection_info()
            folder = km._ipc_dir
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)
        return info["transport"], info["ip"], folder, os.path.exists(folder)

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda _: asyncio.run(launch()), range(50)))
    assert len(results) == 50
    assert {r[0] for r in results} == {"ipc"}
    assert len({r[1] for r in results}) == 50  # 50 distinct socket paths
    assert len({r[2] for r in results}) == 50
    assert not any(r[3] for r in results)  # every private folder removed at shutdown


# ------------------------------------------------------------------------ the pack end to end
def test_failing_notebook_leaves_the_others_rendered(mini_pack):
    code, out = mini_pack
    assert code == 1  # non-zero: one notebook failed
    assert (out / "00_data_overview.html").exists()
    assert (out / "00_data_overview.ipynb").exists()
    assert not (out / "01_broken.html").exists()
    # the executed copy of the broken notebook is kept, with papermill's error banner and the traceback
    broken = nbformat.read(str(out / "01_broken.ipynb"), as_version=4)
    assert broken.metadata.papermill.exception is True
    errors = [o for c in broken.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors and errors[0].evalue == "the broken notebook broke on purpose"
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "2 of 3 reports failed" in index
    assert "01_broken" in index and "In [4]: ValueError: the broken notebook broke on purpose" in index
    assert 'href="00_data_overview.html"' in index
    # a kernel that dies is a failure of that notebook only, named as such
    assert re.search(r"02_dies</strong>: DeadKernelError", index)


def test_cli_parameter_is_typed_and_injected(mini_pack):
    _, out = mini_pack
    executed = nbformat.read(str(out / "00_data_overview.ipynb"), as_version=4)
    params = executed.metadata.papermill.parameters
    assert params["top_n"] == 5 and isinstance(params["top_n"], int)  # "5" on the command line, int in the notebook
    assert Path(params["config_path"]).is_absolute() and Path(params["config_path"]) == MINI.resolve()
    assert Path(params["output_dir"]) == out.resolve() / "_artifacts" / "00_data_overview"
    # the notebook used it: 5 rows in the top-accounts sheet (6 accounts in the data)
    sheets = _sheet_values(out / "tables.xlsx")
    assert len(sheets["00_top_accounts"]) == 1 + 5


def test_index_lists_headlines_window_and_quality(mini_pack):
    _, out = mini_pack
    index = (out / "index.html").read_text(encoding="utf-8")
    headlines = json.loads((out / "_artifacts" / "00_data_overview" / "headlines.json").read_text())
    assert len(headlines) == 2
    for h in headlines:
        assert h["text"].replace("'", "&#x27;") in index
    # mini ledger: 2024-01-11 .. 2024-03-13
    assert "data from 2024-01-11 to 2024-03-13" in index
    assert "Row accounting" in index and "transactions.csv" in index
    assert "amounts in EUR" in index


def test_html_reports_load_nothing_from_the_network(mini_pack):
    _, out = mini_pack
    pages = sorted(out.glob("*.html"))
    assert {p.name for p in pages} == {"00_data_overview.html", "index.html"}
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for literal in EXTERNAL_LITERALS:
            assert literal not in text, (page.name, literal)
        assert external_requests(text) == [], page.name


def test_html_report_hides_code_and_embeds_figures(mini_pack):
    _, out = mini_pack
    text = (out / "00_data_overview.html").read_text(encoding="utf-8")
    assert "load_dataset(config)" not in text  # code cells hidden
    assert not re.search(r'class="jp-(Input|Output)Prompt', text)  # prompts removed
    code_cells = re.findall(r'<div class="jp-Cell jp-CodeCell[^"]*"', text)
    assert code_cells and all("jp-mod-noInput" in c for c in code_cells)
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', text)) >= 5  # figures embedded
    assert "How concentrated is revenue?" in text  # narrative kept
    assert "<title>Mini &lt;b&gt;Client&lt;/b&gt; &amp; Co · Data overview</title>" in text


def test_client_text_is_escaped_in_html(mini_pack):
    _, out = mini_pack
    report_html = (out / "00_data_overview.html").read_text(encoding="utf-8")
    index = (out / "index.html").read_text(encoding="utf-8")
    assert HOSTILE_HTML not in report_html and HOSTILE_HTML not in index
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report_html  # the account name, shown as text
    assert "<h1>Mini &lt;b&gt;Client&lt;/b&gt; &amp; Co</h1>" in index
    assert "<b>Client</b>" not in index


def test_client_text_is_text_in_excel(mini_pack):
    _, out = mini_pack
    path = out / "tables.xlsx"
    wb = openpyxl.load_workbook(path)
    ws = wb["00_top_accounts"]
    header = [c.value for c in ws[1]]
    col = header.index("account_name") + 1
    names = {ws.cell(r, col).value: ws.cell(r, col) for r in range(2, ws.max_row + 1)}
    # top 5 of the 6 mini accounts = the five hostile names (Plain & Simple Ltd is the smallest)
    assert set(names) == set(HOSTILE_TEXTS)
    for text in HOSTILE_TEXTS:
        assert names[text].data_type == "s", text  # text cell, read back exactly as written
    # no formula anywhere: every cell of every sheet is a value, and the XML holds no <f> element
    assert all(c.data_type != "f" for sheet in wb for row in sheet.iter_rows() for c in row)
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert "<f>" not in z.read(name).decode()


def test_tables_xlsx_sheets_and_formats(mini_pack):
    _, out = mini_pack
    wb = openpyxl.load_workbook(out / "tables.xlsx")
    assert wb.sheetnames[0] == "contents"
    assert {"00_data_inventory", "00_top_accounts", "00_revenue_by_period", "00_revenue_by_segment",
            "00_revenue_by_region", "00_kam_share_by_period", "row_accounting", "data_quality"} <= set(wb.sheetnames)
    assert all(len(n) <= 31 for n in wb.sheetnames)
    ws = wb["00_top_accounts"]
    header = {c.value: c for c in ws[1]}
    assert header["revenue"].font.b and header["revenue"].fill.fgColor.rgb.endswith("2F4B6E")
    assert ws.freeze_panes == "A2"
    assert ws.cell(2, list(header).index("revenue") + 1).number_format == "#,##0"
    assert ws.cell(2, list(header).index("revenue_share") + 1).number_format == "0.0%"
    assert ws.column_dimensions["B"].width > 10
    # the contents sheet describes every other sheet
    contents = pd.read_excel(out / "tables.xlsx", sheet_name="contents")
    assert set(contents["sheet"]) == set(wb.sheetnames) - {"contents"}


def test_two_runs_give_identical_tables(mini_pack, mini_pack_again):
    _, out = mini_pack
    assert mini_pack_again.ok and mini_pack_again.exit_code == 0
    first = out / "tables.xlsx"
    second = mini_pack_again.tables_path
    assert _sheet_values(first) == _sheet_values(second)
    # not only the values: the files are byte for byte the same (fixed properties and zip times)
    assert hashlib.sha256(first.read_bytes()).hexdigest() == hashlib.sha256(second.read_bytes()).hexdigest()


def test_pack_result_summary(mini_pack_again):
    summary = mini_pack_again.summary()
    assert list(summary.columns) == ["notebook", "status", "seconds", "html", "error"]
    assert summary["notebook"].tolist() == ["00_data_overview"]
    assert mini_pack_again.failed == ()
    assert "00_data_overview" in mini_pack_again._repr_html_()


def test_pack_renders_from_the_sample(sample_pack):
    result = sample_pack
    assert result.ok, result.summary()
    assert result.index_path.exists() and (result.out_dir / "00_data_overview.html").exists()
    heads = result.notebooks[0].headlines
    assert heads and heads[0]["text"].startswith("The largest 20% of accounts bring")
    assert 0 < heads[0]["value"] <= 1
    assert external_requests((result.out_dir / "00_data_overview.html").read_text(encoding="utf-8")) == []
    assert "Sample" in result.index_path.read_text(encoding="utf-8")


# ---------------------------------------------------------------------- parameters and config
def test_unknown_parameter_lists_the_notebook_parameters(mini_notebooks):
    with pytest.raises(ParameterError, match=r"unknown parameter 'max_acounts'") as info:
        render_pack(MINI, parameters={"max_acounts": 3}, notebooks_dir=mini_notebooks, progress=False)
    message = str(info.value)
    assert "00_data_overview parameters:" in message
    assert "top_n: int = 15  # how many of the largest accounts" in message
    assert "config_path: str" in message


def test_cli_unknown_parameter_exits_2(mini_notebooks, capsys, tmp_path):
    code = report_cli(["--config", str(MINI), "--out", str(tmp_path), "--notebooks", str(mini_notebooks),
                       "-p", "nope", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown parameter 'nope'" in err and "top_n: int = 15" in err
    assert not any(tmp_path.iterdir())  # nothing ran


def test_parameter_of_wrong_type(mini_notebooks):
    with pytest.raises(ParameterError, match=r"The 'top_n' parameter of 00_data_overview must be int. Got 'many'"):
        render_pack(MINI, parameters={"top_n": report._CliValue("many")}, notebooks_dir=mini_notebooks,
                    progress=False)


def test_reserved_parameter_cannot_be_overridden(mini_notebooks):
    with pytest.raises(ParameterError, match="output_dir is set by kam report"):
        render_pack(MINI, parameters={"output_dir": "/elsewhere"}, notebooks_dir=mini_notebooks, progress=False)


def test_config_parameter_must_exist(mini_notebooks):
    config = load_config(MINI, notebooks__00_data_overview__parameters__top_k=3)
    with pytest.raises(ConfigError, match=r"notebooks.00_data_overview.parameters: unknown parameter 'top_k'"):
        render_pack(config, notebooks_dir=mini_notebooks, progress=False)


def test_config_names_an_unknown_notebook(mini_notebooks):
    config = load_config(MINI, notebooks__00_data_overviw__parameters__top_n=3)
    with pytest.raises(ConfigError, match="no such notebook; did you mean '00_data_overview'"):
        render_pack(config, notebooks_dir=mini_notebooks, progress=False)


def test_only_with_unknown_name(mini_notebooks):
    with pytest.raises(ConfigError, match="--only: no notebook called 'overview'.*Notebooks: 00_data_overview, 01_broken, 02_dies"):
        render_pack(MINI, only="overview", notebooks_dir=mini_notebooks, progress=False)


def test_notebook_without_reserved_parameters(tmp_path):
    _notebook(tmp_path / "00_bare.ipynb", "1 + 1", params='config_path: str = ""  # config\n')
    with pytest.raises(ConfigError, match="00_bare: the parameters cell must declare output_dir"):
        render_pack(MINI, notebooks_dir=tmp_path, progress=False)


def test_find_notebooks_takes_numbered_notebooks_in_order(tmp_path):
    for name in ("01_b.ipynb", "00_a.ipynb", "scratch.ipynb", "1_c.ipynb"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in find_notebooks(tmp_path)] == ["00_a.ipynb", "01_b.ipynb"]


# ----------------------------------------------------------------------------- HTML and Excel
def test_external_requests_detector():
    assert external_requests('<script src="https://cdn.example/require.js"></script>')
    assert external_requests("<link rel='stylesheet' href='http://x/y.css'>")
    assert external_requests("<style>@import url(https://fonts.example/css);</style>")
    assert external_requests('<img src="//cdn.example/a.png">')
    assert external_requests('<div style="background: url(http://x/bg.png)"></div>')
    # hyperlinks, inline data and comments are not requests
    assert external_requests('<a href="https://doi.org/10.2307/2276207">Lorenz 1905</a>') == []
    assert external_requests('<img src="data:image/png;base64,AAAA">') == []
    assert external_requests("<style>/* see https://github.com/x */ body {}</style>") == []


def test_export_html_offline_even_with_math_and_widgets(tmp_path):
    nb = new_notebook(
        cells=[new_markdown_cell("# Title\n\nRevenue share $s = r_i / \\sum r$"), new_code_cell("x = 1")],
        metadata={"widgets": {"application/vnd.jupyter.widget-state+json": {"state": {}}}},
    )
    text = export_html(nb, tmp_path / "r.html").read_text(encoding="utf-8")
    assert external_requests(text) == []
    assert "x = 1" not in text  # code hidden
    assert "<title>Title</title>" in text


def test_write_tables_xlsx_formula_text_and_determinism(tmp_path):
    frame = pd.DataFrame(
        {
            "account_name": HOSTILE_TEXTS + ["plain"],
            "revenue": [1.5, 2.0, 3.0, 4.0, 5.0, 1234567.891],
            "revenue_share": [0.1, 0.2, 0.3, 0.1, 0.2, 0.1],
            "orders": pd.array([1, 2, None, 4, 5, 6], dtype="Int64"),
            "period": pd.to_datetime(["2024-01-01"] * 6),
        }
    )
    long_name = "x" * 40
    sheets = [(long_name, frame), (long_name, frame.head(1)), ("a/b:c", frame.head(2))]
    first = write_tables_xlsx(tmp_path / "a.xlsx", sheets)
    second = write_tables_xlsx(tmp_path / "b.xlsx", sheets)
    assert first.read_bytes() == second.read_bytes()
    wb = openpyxl.load_workbook(first)
    assert wb.sheetnames == ["x" * 31, "x" * 29 + "~2", "a_b_c"]
    ws = wb.worksheets[0]
    for row, text in enumerate(HOSTILE_TEXTS, start=2):
        cell = ws.cell(row, 1)
        assert cell.value == text and cell.data_type == "s"
        # formula starters get Excel's quote prefix, so editing the cell keeps it text
        assert cell.quotePrefix is text.startswith(("=", "+", "-", "@"))
    assert ws.cell(7, 1).quotePrefix is False  # plain text is left alone
    assert ws.cell(7, 2).value == pytest.approx(1234567.891) and ws.cell(7, 2).number_format == "#,##0"
    assert ws.cell(2, 3).number_format == "0.0%"
    assert ws.cell(4, 4).value is None  # missing stays empty, not 0 or 'nan'
    assert ws.cell(2, 5).number_format == "yyyy-mm-dd"
    assert wb.properties.modified.year == 2000  # no run timestamp in the file


def test_write_tables_xlsx_empty_table_with_a_date_column(tmp_path):
    # notebook 02's turned_red table is empty when no account turned red: mapping "is this a str?" over an
    # empty datetime column gives back a datetime column, which used to break the formula-text test
    # ("operation 'and_' not supported for dtype 'boolean' with dtype 'datetime64'")
    empty = pd.DataFrame({
        "account_id": pd.Series([], dtype="string"),
        "period": pd.Series([], dtype="datetime64[ns]"),
        "turned_red_on": pd.Series([], dtype="datetime64[us]"),
        "score": pd.Series([], dtype="float64"),
        "driver": pd.Series([], dtype="object"),
    })
    dated = pd.DataFrame({"period": pd.to_datetime(["2024-01-01"]), "note": ["=1+1"]})
    path = write_tables_xlsx(tmp_path / "t.xlsx", [("turned_red", empty), ("dated", dated)])
    wb = openpyxl.load_workbook(path)
    ws = wb["turned_red"]
    assert [c.value for c in ws[1]] == list(empty.columns)  # the header alone, no data row
    assert ws.max_row == 1
    assert ws.auto_filter.ref == "A1:E1"
    # the same columns with a row still get their formats and the formula text stays text
    ws = wb["dated"]
    assert ws.cell(2, 1).number_format == "yyyy-mm-dd"
    assert ws.cell(2, 2).value == "=1+1" and ws.cell(2, 2).data_type == "s" and ws.cell(2, 2).quotePrefix


def test_pdf_is_skipped_with_a_note_without_chromium(monkeypatch, tmp_path):
    monkeypatch.setattr(report, "find_chromium", lambda: None)
    run = report.NotebookRun(name="00_x", title="X", status="ok", seconds=0.0, ipynb_path=None,
                             html_path=tmp_path / "00_x.html")
    runs, note = report._render_pdfs([run], tmp_path)
    assert runs == [run] and "Chromium is not installed" in note


@pytest.mark.skipif(report.find_chromium() is None, reason="chromium not installed")
def test_pdf_with_chromium(tmp_path):
    page = tmp_path / "00_x.html"
    page.write_text("<!DOCTYPE html><html><body><h1>Report</h1></body></html>", encoding="utf-8")
    run = report.NotebookRun(name="00_x", title="X", status="ok", seconds=0.0, ipynb_path=None, html_path=page)
    runs, note = report._render_pdfs([run], tmp_path)
    assert note == ""
    assert runs[0].pdf_path.read_bytes()[:5] == b"%PDF-"


# ----------------------------------------------------------------------- refresh (make notebooks)
def test_refresh_notebooks_executes_in_place_and_strips_volatile_metadata(tmp_path):
    (tmp_path / "data.txt").write_text("from the notebook folder")
    path = _notebook(
        tmp_path / "00_t.ipynb",
        "from ipykernel.connect import get_connection_info\nget_connection_info(unpack=True)['transport']",
        "open('data.txt').read()",  # cwd = the notebook's folder
    )
    report.refresh_notebooks([path], progress=False)
    nb = nbformat.read(str(path), as_version=4)
    assert nb.cells[-2].outputs[0]["data"]["text/plain"] == "'ipc'"  # the runner's kernels use IPC
    assert nb.cells[-1].outputs[0]["data"]["text/plain"] == "'from the notebook folder'"
    assert "papermill" not in nb.metadata
    text = path.read_text()
    assert "papermill" not in text and "iopub.execute_input" not in text and str(tmp_path) not in text
    # a failing notebook is left as it was and named in the error
    bad = _notebook(tmp_path / "01_bad.ipynb", "1 / 0")
    before = bad.read_text()
    with pytest.raises(KamError, match=r"01_bad.ipynb: In \[2\]: ZeroDivisionError: division by zero"):
        report.refresh_notebooks([bad], progress=False)
    assert bad.read_text() == before


def test_strip_volatile_metadata():
    nb = new_notebook(cells=[new_code_cell("1")], metadata={"papermill": {"input_path": "/x"}})
    nb.cells[0].metadata.update({"papermill": {"duration": 1}, "execution": {"iopub.status.busy": "t"}, "tags": []})
    strip_volatile_metadata(nb)
    assert "papermill" not in nb.metadata and nb.cells[0].metadata == {}


# -------------------------------------------------------------------------- committed notebook
def test_committed_overview_notebook_follows_the_pattern():
    if not OVERVIEW.exists():
        pytest.skip("notebooks/00_data_overview.ipynb not present")
    nb = nbformat.read(str(OVERVIEW), as_version=4)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert first_code.metadata.get("tags") == ["parameters"]
    params = report.notebook_parameters(OVERVIEW)
    assert params["config_path"]["default"] == '"../configs/sample.yaml"'
    assert params["output_dir"]["default"] == '""'
    assert all(p["help"] for p in params.values())  # `name: type = default  # help` on every line
    text = OVERVIEW.read_text(encoding="utf-8")
    for volatile in (str(ROOT), "/tmp/", "/root/", "papermill", "iopub.execute_input"):
        assert volatile not in text, volatile
    # stored outputs exist (nbval compares them), carry no errors and nothing on stderr
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert outputs, "run `make notebooks` to store the outputs"
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"]


# ------------------------------------------------------------------------------- kamtools.pack
def test_pack_helpers_store_nothing_without_output_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert pack.start("") is None
    frame = pd.DataFrame({"a": [1]})
    assert pack.key_table("t", frame) is frame
    head = pack.headline("<b>bold</b> & more", value=0.5)
    assert head._repr_html_() == '<p class="kam-headline"><strong>&lt;b&gt;bold&lt;/b&gt; &amp; more</strong></p>'
    assert repr(head) == "<b>bold</b> & more"
    assert list(tmp_path.iterdir()) == []


def test_pack_helpers_store_headlines_and_tables(tmp_path):
    folder = pack.start(tmp_path / "nb")
    try:
        pack.headline("first", value=1)
        pack.headline("second")
        pack.headline("first", value=2)  # re-running a cell replaces, never duplicates
        frame = pd.DataFrame({"x": [1.0, 2.0]}, index=pd.Index(["a", "b"], name="k"))
        pack.key_table("tbl", frame, description="a table")
        assert json.loads((folder / "headlines.json").read_text()) == [
            {"text": "second", "value": None}, {"text": "first", "value": 2}]
        assert json.loads((folder / "tables.json").read_text()) == [
            {"name": "tbl", "description": "a table", "file": "tables/tbl.parquet"}]
        stored = pd.read_parquet(folder / "tables" / "tbl.parquet")
        assert stored.columns.tolist() == ["k", "x"]  # a named index is kept as a column
        # a new run of the notebook starts clean
        pack.start(folder)
        assert not (folder / "headlines.json").exists() and not (folder / "tables").exists()
    finally:
        pack.start("")


def test_pack_rejects_bad_names():
    with pytest.raises(ParameterError, match="The 'name' parameter of key_table must be letters"):
        pack.key_table("bad/name", pd.DataFrame())
    with pytest.raises(ParameterError, match="The 'value' parameter of headline must be a number"):
        pack.headline("x", value=[1])
