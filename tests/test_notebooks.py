"""House rules every report notebook keeps (nbval checks their outputs; this checks their shape)."""

import ast
import json
import re
from pathlib import Path

import papermill as pm
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _parameter_lines(path):
    cell = next(c for c in _cells(path) if c["cell_type"] == "code")
    assert "parameters" in cell.get("metadata", {}).get("tags", []), "first code cell must be tagged parameters"
    source = "".join(cell["source"])
    names = []
    for node in ast.parse(source).body:
        assert isinstance(node, ast.AnnAssign), f"parameters cell line {node.lineno} is not `name: type = value`"
        names.append(node.target.id)
    return names, source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_parameter_is_seen_by_papermill(path):
    names, source = _parameter_lines(path)
    assert {"config_path", "output_dir"} <= set(names)
    for line in source.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            assert "#" in line, f"parameter without a help comment: {line!r}"
    seen = set(pm.inspect_notebook(str(path)))
    assert set(names) - seen == set(), "papermill skips these (an '=' in the help comment?)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_are_clean(path):
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"/(root|home|tmp|work)/", text), "absolute path of this machine in the notebook"
    code = [c for c in _cells(path) if c["cell_type"] == "code"]
    assert any(c.get("outputs") for c in code), "no stored outputs: run `make notebooks`"
    for cell in code:
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error"
            assert not (out["output_type"] == "stream" and out.get("name") == "stderr"), "warning in stored output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_narrative_before_results(path):
    cells = _cells(path)
    markdown = sum(1 for c in cells if c["cell_type"] == "markdown")
    assert "markdown" in [c["cell_type"] for c in cells[:3]], "the notebook says early what it is for"
    assert markdown >= 5
