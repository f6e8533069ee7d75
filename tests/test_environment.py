"""environment.yml (for conda users) must list exactly the dependencies of pyproject.toml."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI's
CONDA_TO_PYPI = {"python-duckdb": "duckdb"}


def _split(requirement: str) -> tuple[str, str]:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement)
    name, spec = match.group(1), match.group(2).split("#")[0].strip().replace(" ", "")
    return name.lower().replace("_", "-"), spec


def _pyproject() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"]) + list(meta["optional-dependencies"]["test"])
    return dict(_split(r) for r in reqs)


def _conda() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):  # the pip section installs the kit itself
            continue
        name, spec = _split(dep)
        if name in ("python", "pip"):
            continue
        out[CONDA_TO_PYPI.get(name, name)] = spec
    return out


def test_environment_lists_the_same_packages_as_pyproject():
    pyproject, conda = _pyproject(), _conda()
    assert sorted(set(pyproject) - set(conda)) == [], "in pyproject.toml but not environment.yml"
    assert sorted(set(conda) - set(pyproject)) == [], "in environment.yml but not pyproject.toml"


def test_environment_pins_the_same_versions_as_pyproject():
    pyproject, conda = _pyproject(), _conda()
    differ = {n: (pyproject[n], conda[n]) for n in pyproject if n in conda and pyproject[n] != conda[n]}
    assert differ == {}


def test_python_floor_matches():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert f"python{meta['requires-python']}" in env["dependencies"]
