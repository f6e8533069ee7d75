"""kam batch: a bounded pool of packs, resume on unchanged inputs, a summary table."""

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from kamtools.batch import MANIFEST, inputs_fingerprint, render_batch
from kamtools.cli import main

MINI = Path(__file__).parent / "data" / "mini"


def _notebook(folder: Path, name: str, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('config_path: str = ""  # config\noutput_dir: str = ""  # pack folder')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / name)


@pytest.fixture(scope="module")
def batch_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    notebooks = root / "notebooks"
    notebooks.mkdir()
    _notebook(notebooks, "00_hello.ipynb", "from kamtools import pack\npack.start(output_dir)\npack.headline('hi')")
    for name in ("accounts.csv", "transactions.csv"):
        shutil.copy(MINI / name, root / name)
    text = (MINI / "mini.yaml").read_text()
    (root / "a.yaml").write_text(text)
    (root / "b.yaml").write_text(text.replace("Mini <b>Client</b> & Co", "Beta"))
    (root / "bad.yaml").write_text(text + "\nunknown_key: 1\n")
    return root


def test_batch_renders_resumes_and_reports(batch_dir):
    configs = [batch_dir / "a.yaml", batch_dir / "b.yaml"]
    first = render_batch(configs, out_root=batch_dir / "out", notebooks_dir=batch_dir / "notebooks",
                         progress=False)
    assert list(first.table["status"]) == ["ok", "ok"]
    assert first.exit_code == 0
    for out in first.table["out_dir"]:
        manifest = json.loads((Path(out) / MANIFEST).read_text())
        assert manifest["status"] == "ok"
    # unchanged inputs: both skipped
    second = render_batch(configs, out_root=batch_dir / "out", notebooks_dir=batch_dir / "notebooks",
                          progress=False)
    assert list(second.table["status"]) == ["skipped (complete)"] * 2
    # a changed config is rendered again, the other still skipped
    (batch_dir / "b.yaml").write_text((batch_dir / "b.yaml").read_text() + "\n# edited\n")
    third = render_batch(configs, out_root=batch_dir / "out", notebooks_dir=batch_dir / "notebooks",
                         progress=False)
    assert list(third.table["status"]) == ["skipped (complete)", "ok"]
    assert list(third.summary().columns) == ["client", "status", "seconds", "failing_notebook"]


def test_fingerprint_changes_with_data(batch_dir, tmp_path):
    before = inputs_fingerprint(batch_dir / "a.yaml", batch_dir / "notebooks")
    ledger = batch_dir / "transactions.csv"
    original = ledger.read_text()
    try:
        ledger.write_text(original + original.splitlines()[-1] + "\n")
        assert inputs_fingerprint(batch_dir / "a.yaml", batch_dir / "notebooks") != before
    finally:
        ledger.write_text(original)
    assert inputs_fingerprint(batch_dir / "a.yaml", batch_dir / "notebooks") == before


def test_a_bad_config_does_not_stop_the_batch(batch_dir):
    result = render_batch([batch_dir / "bad.yaml", batch_dir / "a.yaml"], out_root=batch_dir / "out2",
                          notebooks_dir=batch_dir / "notebooks", progress=False, resume=False)
    assert list(result.table["status"]) == ["error", "ok"]
    assert "unknown_key" in result.table["error"].iloc[0]
    assert result.exit_code == 2


def test_cli_batch_exit_code_for_a_bad_config(batch_dir, capsys):
    assert main(["batch", str(batch_dir / "bad.yaml"), "--out-root", str(batch_dir / "out3")]) == 2
    out = capsys.readouterr()
    assert "error" in out.out and "Traceback" not in out.err
