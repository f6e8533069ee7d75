"""The package's public surface: every re-exported name resolves, every module declares __all__."""

import importlib
import pkgutil

import pytest

import kamtools

MODULES = sorted(m.name for m in pkgutil.iter_modules(kamtools.__path__))


@pytest.mark.parametrize("name", sorted(set(kamtools.__all__) - {"__version__"}))
def test_reexported_name_resolves(name):
    assert getattr(kamtools, name) is not None


@pytest.mark.parametrize("module", MODULES)
def test_module_declares_all_and_its_names_exist(module):
    mod = importlib.import_module(f"kamtools.{module}")
    assert hasattr(mod, "__all__"), f"kamtools.{module} has no __all__"
    missing = [n for n in mod.__all__ if not hasattr(mod, n)]
    assert missing == []


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        kamtools.nope


@pytest.mark.parametrize("module", ["selection", "kpi", "clv", "roi", "retention", "panel", "io"])
def test_analytic_modules_do_not_import_pyplot_at_import_time(module):
    import subprocess
    import sys

    code = (f"import sys, kamtools.{module}; "
            "sys.exit(1 if 'matplotlib.pyplot' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0, f"kamtools.{module} imports pyplot"
