"""The report pipeline: parameterised notebooks → papermill → client-ready HTML, index and Excel.

``kam report --config FILE`` (:func:`report_cli`) and :func:`render_pack` run every
``notebooks/NN_*.ipynb`` that the config enables and write ``reports/<client>/<YYYY-MM-DD>/``::

    00_data_overview.ipynb    the executed notebook: parameters, versions, data-quality log, errors
    00_data_overview.html     the report: code hidden, prompts removed, figures embedded, no CDN
    00_data_overview.pdf      with --pdf, when Chromium is installed
    index.html                client, run date, data window, headlines with links, data quality, failures
    tables.xlsx               the key tables of every report (one sheet each) and the data-quality log
    _artifacts/<notebook>/    what the notebook stored through :mod:`kamtools.pack`

Concurrency
-----------
Notebooks run ``workers`` (default 2) at a time in threads, each calling
``papermill.execute_notebook``. Two things make that safe:

* papermill's ``cwd=`` argument changes the working directory of the whole process
  (nteract/papermill#473), so it is never used: the kernel's working directory is passed to
  nbclient as ``resources={"metadata": {"path": ...}}``, which becomes the kernel's ``cwd`` only.
* Kernels talk to the runner over Unix-domain sockets (ZeroMQ ``ipc`` transport) in a private
  folder made by ``tempfile.mkdtemp`` (:class:`IPCKernelManager`). With the default TCP transport,
  jupyter_client picks free ports by binding to port 0 and closing the socket; a concurrent
  launch can take the port before the kernel binds it ("Address already in use",
  ipython/ipython#12372). A fresh folder per kernel has no such window. On Windows, which has no
  ``ipc`` transport, the default TCP manager is used.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import difflib
import html
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from jupyter_client.manager import AsyncKernelManager
from traitlets import Unicode, default

from .config import Config, load_config
from .pack import HEADLINES_FILE, TABLES_FILE, _file_name, _read_list, show_quality
from .exceptions import ConfigError, KamError, ParameterError

__all__ = [
    "render_pack",
    "report_cli",
    "refresh_notebooks",
    "PackResult",
    "NotebookRun",
    "IPCKernelManager",
    "find_notebooks",
    "notebook_parameters",
    "export_html",
    "write_tables_xlsx",
    "external_requests",
    "find_chromium",
    "strip_volatile_metadata",
    "RESERVED_PARAMETERS",
    "main",
]

logger = logging.getLogger(__name__)

#: Parameters every report notebook declares and the runner sets.
RESERVED_PARAMETERS = ("config_path", "output_dir")

_NOTEBOOK_GLOB = re.compile(r"^\d{2}_[A-Za-z0-9_\-]+\.ipynb$")
_FIXED_TIME = _dt.datetime(2000, 1, 1, 0, 0, 0)  # workbook properties: no run timestamp in the file
_TEXT_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")  # spreadsheet formula / DDE injection starters
_CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-pdf-header-footer",
)


# ------------------------------------------------------------------------------ kernel manager
class IPCKernelManager(AsyncKernelManager):
    """An async kernel manager whose kernel listens on Unix-domain sockets in a private folder.

    The connection file is ``<mkdtemp>/kernel.json`` and the sockets ``<mkdtemp>/kernel-ipc-1…5``;
    the folder is unique per kernel (``mkdtemp`` is atomic), so concurrent launches cannot pick
    the same endpoint. The folder is removed when the kernel's resources are cleaned up.
    """

    _ipc_dir: str | None = None

    kernel_log = Unicode(
        "", config=True, help="File that receives the kernel process's own stdout/stderr (empty: inherit)."
    )

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"

    @default("connection_file")
    def _default_connection_file(self) -> str:
        self._ipc_dir = tempfile.mkdtemp(prefix="kam-kernel-")
        return os.path.join(self._ipc_dir, "kernel.json")

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart and self._ipc_dir:
            shutil.rmtree(self._ipc_dir, ignore_errors=True)
            self._ipc_dir = None

    # AsyncKernelManager binds the base coroutine to this name; point it at the override
    cleanup_resources = _async_cleanup_resources  # type: ignore[assignment]

    async def _async_launch_kernel(self, kernel_cmd, **kw) -> None:
        if not self.kernel_log:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        with open(self.kernel_log, "ab") as log:  # the child keeps its own copy of the descriptor
            kw.setdefault("stdout", log)
            kw.setdefault("stderr", log)
            return await super()._async_launch_kernel(kernel_cmd, **kw)


def _kernel_manager_class():
    return None if os.name == "nt" else IPCKernelManager


# ----------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class NotebookRun:
    """What happened to one notebook of the pack."""

    name: str
    title: str
    status: str  # "ok" or "failed"
    seconds: float
    ipynb_path: Path | None
    html_path: Path | None = None
    pdf_path: Path | None = None
    error: str = ""
    headlines: tuple[dict, ...] = ()
    tables: tuple[dict, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class PackResult:
    """The outcome of :func:`render_pack`."""

    out_dir: Path
    notebooks: tuple[NotebookRun, ...]
    index_path: Path
    tables_path: Path | None
    run_date: _dt.date
    data_window: tuple[Any, Any] | None = None
    data_error: str = ""
    pdf_note: str = ""
    seconds: float = 0.0

    @property
    def failed(self) -> tuple[str, ...]:
        """Names of the notebooks that failed."""
        return tuple(nb.name for nb in self.notebooks if not nb.ok)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def exit_code(self) -> int:
        """0 when every notebook rendered, 1 otherwise (the CLI's exit status)."""
        return 0 if self.ok else 1

    def summary(self) -> pd.DataFrame:
        """One row per notebook: ``notebook, status, seconds, html, error``."""
        return pd.DataFrame(
            [
                {
                    "notebook": nb.name,
                    "status": nb.status,
                    "seconds": round(nb.seconds, 1),
                    "html": nb.html_path.name if nb.html_path else "",
                    "error": nb.error,
                }
                for nb in self.notebooks
            ],
            columns=["notebook", "status", "seconds", "html", "error"],
        )

    def _repr_html_(self) -> str:
        head = f"<p><strong>Report pack</strong> in <code>{html.escape(str(self.out_dir))}</code>: "
        head += "all notebooks rendered.</p>" if self.ok else (
            f"<strong>{len(self.failed)} failed</strong>: {html.escape(', '.join(self.failed))}.</p>"
        )
        return head + self.summary().to_html(index=False, escape=True)

    def __str__(self) -> str:
        lines = [f"Report pack: {self.out_dir}"]
        for nb in self.notebooks:
            mark = "ok    " if nb.ok else "FAILED"
            lines.append(f"  {mark} {nb.name} ({nb.seconds:.1f} s){': ' + nb.error if nb.error else ''}")
        lines.append(f"  index: {self.index_path}")
        if self.tables_path:
            lines.append(f"  tables: {self.tables_path}")
        if self.pdf_note:
            lines.append(f"  pdf: {self.pdf_note}")
        return "\n".join(lines)


# -------------------------------------------------------------------------------- notebooks
def _default_notebooks_dir() -> Path:
    repo = Path(__file__).resolve().parents[1] / "notebooks"
    return repo if repo.is_dir() else Path.cwd() / "notebooks"


def find_notebooks(notebooks_dir=None) -> list[Path]:
    """The report notebooks ``NN_name.ipynb`` in ``notebooks_dir``, in order."""
    folder = Path(notebooks_dir) if notebooks_dir is not None else _default_notebooks_dir()
    if not folder.is_dir():
        raise ConfigError(f"notebooks folder not found: {folder}")
    return sorted(p for p in folder.iterdir() if p.is_file() and _NOTEBOOK_GLOB.match(p.name))


def notebook_parameters(path) -> dict[str, dict]:
    """The parameters a notebook declares (``papermill.inspect_notebook``): name -> type, default, help."""
    import papermill

    with _quiet_papermill():
        return papermill.inspect_notebook(str(path))


_ASSIGNMENT = re.compile(r"^([A-Za-z_]\w*)\s*(?::[^=#]*)?=(?!=)")


def _unreadable_parameter_lines(path, declared: dict[str, dict]) -> list[str]:
    """Lines of the ``parameters`` cell that assign a name papermill did not pick up."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    cell = next((c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        return []
    lines = []
    for line in cell.source.splitlines():
        match = _ASSIGNMENT.match(line)
        if match and match.group(1) not in declared:
            lines.append(line.strip())
    return lines


def _describe_parameters(name: str, declared: dict[str, dict]) -> str:
    if not declared:
        return f"{name} declares no parameters"
    parts = []
    for pname, info in declared.items():
        typ = info.get("inferred_type_name") or "None"
        typ = "" if typ == "None" else f": {typ}"
        helptext = f"  # {info['help']}" if info.get("help") else ""
        parts.append(f"    {pname}{typ} = {info.get('default')}{helptext}")
    return f"{name} parameters:\n" + "\n".join(parts)


def _notebook_title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


class _CliValue(str):
    """A -p value as typed on the command line: parsed with YAML unless the parameter is a str."""


_SIMPLE_TYPES = {"int": int, "float": float, "bool": bool, "str": str, "list": list, "dict": dict}


def _coerce(nb_name: str, pname: str, value, declared_type: str | None):
    base = (declared_type or "None").split("[")[0].strip()
    if isinstance(value, _CliValue):
        if base == "str":
            return str(value)
        try:
            value = yaml.safe_load(str(value))
        except yaml.YAMLError:
            value = str(value)
    if isinstance(value, (_dt.date, _dt.datetime)):
        value = value.isoformat()
    expected = _SIMPLE_TYPES.get(base)
    if expected is None or value is None:
        return value
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, bool):
        ok = False
    else:
        ok = isinstance(value, expected)
    if not ok:
        raise ParameterError(
            f"The '{pname}' parameter of {nb_name} must be {base}. Got {value!r} instead."
        )
    return value


def _match_only(only, stems: list[str]) -> list[str]:
    if only is None:
        return list(stems)
    if isinstance(only, str):
        only = [only]
    wanted: list[str] = []
    for item in only:
        for token in str(item).split(","):
            token = token.strip()
            if not token:
                continue
            hits = [s for s in stems if s == token or s.split("_", 1)[0] == token or s.split("_", 1)[-1] == token]
            if not hits:
                near = difflib.get_close_matches(token, stems, n=1, cutoff=0.4)
                hint = f"; did you mean '{near[0]}'?" if near else ""
                raise ConfigError(
                    f"--only: no notebook called '{token}'{hint} Notebooks: {', '.join(stems) or '(none)'}"
                )
            wanted.extend(h for h in hits if h not in wanted)
    return [s for s in stems if s in wanted]


def _plan(config: Config, paths: list[Path], only, parameters, config_path: Path) -> list[dict]:
    stems = [p.stem for p in paths]
    for name, settings in config.notebooks.items():
        if name not in stems and (settings or {}).get("enabled", True) is not False:
            near = difflib.get_close_matches(name, stems, n=1, cutoff=0.4)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise ConfigError(
                f"{config_path}: notebooks.{name}: no such notebook{hint} Notebooks: {', '.join(stems) or '(none)'}"
            )
    if only is None:
        selected = [s for s in stems if config.notebook_enabled(s)]
    else:
        selected = _match_only(only, stems)
    by_stem = dict(zip(stems, paths))
    declared = {s: notebook_parameters(by_stem[s]) for s in selected}
    for stem in selected:
        for line in _unreadable_parameter_lines(by_stem[stem], declared[stem]):
            logger.warning(
                "%s: papermill skips the parameter line %r: it reads lines with exactly one '=' "
                "(reword the help comment); until then the parameter keeps its default and cannot be "
                "set with -p or the config", stem, line
            )

    for stem in selected:
        missing = [r for r in RESERVED_PARAMETERS if r not in declared[stem]]
        if missing:
            raise ConfigError(
                f"{stem}: the parameters cell must declare {', '.join(missing)} (tag the first code cell "
                f"'parameters' with lines like `config_path: str = \"../configs/sample.yaml\"`).\n"
                + _describe_parameters(stem, declared[stem])
            )

    values: dict[str, dict[str, Any]] = {s: {} for s in selected}
    for stem in selected:
        for pname, value in config.notebook_parameters(stem).items():
            if pname in RESERVED_PARAMETERS:
                raise ConfigError(f"{config_path}: notebooks.{stem}.parameters.{pname} is set by kam report")
            if pname not in declared[stem]:
                raise ConfigError(
                    f"{config_path}: notebooks.{stem}.parameters: unknown parameter '{pname}'.\n"
                    + _describe_parameters(stem, declared[stem])
                )
            values[stem][pname] = _coerce(stem, pname, value, declared[stem][pname].get("inferred_type_name"))

    for key, value in (parameters or {}).items():
        key = str(key)
        if "." in key:
            target, pname = key.split(".", 1)
            targets = [s for s in selected if s == target or s.split("_", 1)[0] == target]
            if not targets:
                raise ParameterError(
                    f"-p {key}: no selected notebook called '{target}'. Selected: {', '.join(selected)}"
                )
        else:
            pname, targets = key, [s for s in selected if key in declared[s]]
        if pname in RESERVED_PARAMETERS:
            raise ParameterError(f"-p {pname}: {pname} is set by kam report (use --config / --out)")
        bad = [s for s in targets if pname not in declared[s]]
        if not targets or bad:
            listing = "\n".join(_describe_parameters(s, declared[s]) for s in (bad or selected))
            known = sorted({n for s in selected for n in declared[s] if n not in RESERVED_PARAMETERS})
            near = difflib.get_close_matches(pname, known, n=1, cutoff=0.6)
            hint = f" Did you mean '{near[0]}'?" if near else ""
            raise ParameterError(f"-p {key}: unknown parameter '{pname}'.{hint}\n{listing}")
        for stem in targets:
            values[stem][pname] = _coerce(stem, pname, value, declared[stem][pname].get("inferred_type_name"))

    return [{"name": s, "path": by_stem[s], "parameters": values[s]} for s in selected]


# -------------------------------------------------------------------------------- execution
def _execute(input_path: Path, output_path: Path, parameters: dict | None, cwd: Path, *, timeout=None,
             kernel_log: Path | None = None):
    """Run one notebook with papermill; returns (status, error text)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError
    from traitlets.config import Config as TraitletsConfig

    kwargs: dict[str, Any] = {"resources": {"metadata": {"path": str(cwd)}}}
    km_class = _kernel_manager_class()
    if km_class is not None:
        kwargs["kernel_manager_class"] = km_class
        if kernel_log is not None:
            kwargs["config"] = TraitletsConfig({"IPCKernelManager": {"kernel_log": str(kernel_log)}})
    try:
        papermill.execute_notebook(
            str(input_path),
            str(output_path),
            parameters=parameters or None,
            progress_bar=False,
            log_output=False,
            # papermill rewrites the whole notebook before and after every cell (O(cells²) bytes:
            # ~0.5 s for the selection report); it is written once at the end, and on a cell error
            request_save_on_cell_execute=False,
            start_timeout=120,
            execution_timeout=timeout,
            **kwargs,
        )
    except PapermillExecutionError as exc:
        return "failed", f"In [{exc.exec_count}]: {exc.ename}: {exc.evalue}".strip()
    except Exception as exc:  # kernel died, timeout, bad notebook: keep going with the others
        text = str(exc).strip().splitlines()
        return "failed", f"{type(exc).__name__}: {text[-1] if text else ''}"
    return "ok", ""


# -------------------------------------------------------------------------------------- HTML
_TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{#- kamtools: the lab template with nothing loaded from the network (no require.js, MathJax,
    mermaid or widget bundle from a CDN) and a print-friendly page. -#}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
<style type="text/css">
body.jp-Notebook { max-width: 1080px; margin: 0 auto; padding: 1.5rem 2rem 4rem;
  font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
.jp-RenderedHTMLCommon { font-size: 15px; line-height: 1.55; }
.jp-RenderedHTMLCommon table { font-size: 13px; }
.kam-headline { font-size: 1.15em; border-left: 4px solid #0072B2; padding: .3em .8em; background: #f3f7fb; }
.jp-OutputArea-output img { max-width: 100%; height: auto; }
@media print { body.jp-Notebook { max-width: none; padding: 0; } .jp-Cell { break-inside: avoid; } }
</style>
{%- endblock extra_css -%}
"""
_EXPORTER_LOCK = threading.Lock()
_NBCONVERT_LOG = logging.getLogger(__name__ + ".nbconvert")
_NBCONVERT_LOG.setLevel(logging.ERROR)


def _html_exporter():
    import jinja2
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({"kam_report.html.j2": _TEMPLATE})],
        template_file="kam_report.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        theme="light",
    )
    exporter.register_preprocessor(
        TagRemovePreprocessor(remove_cell_tags={"remove-cell", "hide-in-report"}), enabled=True
    )
    # nbconvert warns for every chart without alt text (and gives it a generic one): not news per report
    exporter.log = _NBCONVERT_LOG
    return exporter


def export_html(notebook, out_path, *, title: str | None = None) -> Path:
    """Write a client-ready HTML report of an executed notebook: code and prompts hidden, offline.

    Parameters
    ----------
    notebook : path or NotebookNode
    out_path : path
    title : str, optional
        The page title (escaped); default: the notebook's first ``# `` heading.

    Returns
    -------
    Path
    """
    import nbformat

    nb = notebook if not isinstance(notebook, (str, Path)) else nbformat.read(str(notebook), as_version=4)
    name = title or _notebook_title(nb) or (Path(notebook).stem if isinstance(notebook, (str, Path)) else "report")
    with _EXPORTER_LOCK:  # jinja environments are built per exporter; building them is not reentrant-safe
        exporter = _html_exporter()
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": name}})
    out_path = Path(out_path)
    out_path.write_text(body, encoding="utf-8")
    return out_path


_EXTERNAL = [
    re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?\s*(?:https?:)?//", re.I),
    re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?\s*(?:https?:)?//", re.I),
    re.compile(r"<(?:img|iframe|embed|source|video|audio)\b[^>]*\bsrc\s*=\s*[\"']?\s*(?:https?:)?//", re.I),
    re.compile(r"@import\s+(?:url\()?\s*[\"']?\s*(?:https?:)?//", re.I),
    re.compile(r"url\(\s*[\"']?\s*(?:https?:)?//", re.I),
]


def external_requests(text: str) -> list[str]:
    """Snippets of ``text`` (HTML) that would make a browser fetch something from the network.

    Looks for ``<script src>``, ``<link href>``, media ``src`` and CSS ``@import`` / ``url()``
    pointing at ``http(s)://`` or ``//``; CSS comments are ignored. Hyperlinks (``<a href>``) are
    not requests and are allowed.
    """
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    hits = []
    for pattern in _EXTERNAL:
        hits.extend(m.group(0)[:120] for m in pattern.finditer(text))
    return hits


# ------------------------------------------------------------------------------------- Excel
def _number_format(name: str, series: pd.Series) -> str | None:
    lname = name.lower()
    if pd.api.types.is_bool_dtype(series):
        return None
    if pd.api.types.is_datetime64_any_dtype(series):
        return "yyyy-mm-dd"
    if pd.api.types.is_numeric_dtype(series):
        if lname.endswith(("_share", "_rate", "share", "rate")) or lname.startswith("share"):
            return "0.0%"
        if pd.api.types.is_integer_dtype(series):
            return "#,##0"
        if any(k in lname for k in ("revenue", "margin", "value", "cost", "wallet", "spend", "amount")):
            return "#,##0"
        return "#,##0.00"
    return None


def _cell_value(value):
    if value is None:
        return None
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None  # Excel has neither NaN nor infinity: an empty cell (e.g. "no break-even within reach")
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, pd.Timestamp):
        value = value.tz_localize(None) if value.tzinfo else value
        return value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return value.item()
        except (ValueError, AttributeError):
            return str(value)
    if isinstance(value, (list, tuple, dict, set)):
        return str(value)
    return value


def _sheet_name(base: str, used: set[str]) -> str:
    clean = re.sub(r"[\[\]:*?/\\']", "_", base).strip() or "sheet"
    name = clean[:31]
    i = 2
    while name.lower() in used:
        suffix = f"~{i}"
        name = clean[: 31 - len(suffix)] + suffix
        i += 1
    used.add(name.lower())
    return name


def write_tables_xlsx(path, sheets) -> Path:
    """Write DataFrames to an Excel workbook, one formatted sheet each; text is never a formula.

    Parameters
    ----------
    path : path
    sheets : iterable of (sheet name, DataFrame)
        Names are cleaned of characters Excel refuses, cut to 31 characters and made unique
        (case-insensitively) with a ``~2`` suffix.

    Returns
    -------
    Path

    Notes
    -----
    Headers are bold on a grey-blue fill, the header row is frozen with an autofilter, columns are
    sized to their content (at most 60 characters), numbers get ``#,##0`` / ``0.0%`` / dates
    ``yyyy-mm-dd`` formats. A string starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
    return is stored as a text cell (``t="inlineStr"``) with Excel's quote prefix, so neither
    Excel nor a later edit turns it into a formula (OWASP "CSV injection"). Workbook properties
    carry a fixed date and the zip entries a fixed time, so the same tables give the same bytes.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.writer.excel import ExcelWriter

    wb = Workbook()
    wb.remove(wb.active)
    used: set[str] = set()
    header_font = Font(bold=True, color="FFFFFF")
    header_fill = PatternFill("solid", fgColor="2F4B6E")
    for raw_name, frame in sheets:
        frame = frame.reset_index(drop=True)
        ws = wb.create_sheet(_sheet_name(str(raw_name), used))
        columns = [str(c) for c in frame.columns]
        ws.append(columns)
        for cell in ws[1]:
            cell.font = header_font
            cell.fill = header_fill
            cell.alignment = Alignment(vertical="center", wrap_text=False)
            if isinstance(cell.value, str) and cell.value.startswith(_TEXT_TRIGGERS):
                cell.data_type = "s"
                cell.quotePrefix = True
        for record in frame.itertuples(index=False, name=None):
            ws.append([_cell_value(v) for v in record])
        for j, col in enumerate(frame.columns, start=1):
            series = frame[col]
            letter = get_column_letter(j)
            fmt = _number_format(str(col), series)
            text = series.astype("string").fillna("")
            if fmt == "yyyy-mm-dd":
                width = 10
            elif fmt is not None:
                biggest = pd.to_numeric(series, errors="coerce").astype("float64").abs().max()
                width = 0 if pd.isna(biggest) else len(f"{biggest:,.0f}") + 1 + (3 if fmt == "#,##0.00" else 0)
            else:
                width = int(text.str.len().max() or 0) if len(text) else 0
            ws.column_dimensions[letter].width = min(max(width, len(str(col))) + 3, 60)
            if fmt is None and not (pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)):
                continue
            # an empty column maps to its own dtype (dates, not booleans): cast the text test to bool
            is_text = series.map(lambda v: isinstance(v, str)).astype(bool)
            risky = text.str.startswith(_TEXT_TRIGGERS).fillna(False).astype(bool) & is_text
            column_cells = ws[letter][1:]
            if fmt is not None:
                for cell in column_cells:
                    cell.number_format = fmt
            for i in risky.to_numpy().nonzero()[0]:
                cell = column_cells[int(i)]
                cell.value = frame.iat[int(i), j - 1]
                cell.data_type = "s"
                cell.quotePrefix = True
        ws.freeze_panes = "A2"
        if frame.shape[1]:
            ws.auto_filter.ref = f"A1:{get_column_letter(frame.shape[1])}{max(len(frame) + 1, 1)}"
    if not wb.sheetnames:
        wb.create_sheet("contents")
    wb.properties.creator = "kamtools"
    wb.properties.created = _FIXED_TIME
    wb.properties.modified = _FIXED_TIME
    wb.properties.lastModifiedBy = "kamtools"
    path = Path(path)
    tmp = path.with_suffix(".tmp.xlsx")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()  # openpyxl's save_workbook would stamp 'modified' with now
    _normalise_zip(tmp, path)
    tmp.unlink(missing_ok=True)
    return path


def _normalise_zip(src: Path, dst: Path) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            zout.writestr(fixed, zin.read(info.filename))


# ---------------------------------------------------------------------------------------- PDF
def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _print_pdf(chromium: str, html_path: Path, pdf_path: Path, timeout: float = 180) -> str:
    with tempfile.TemporaryDirectory(prefix="kam-chromium-") as profile:
        cmd = [chromium, *_CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--print-to-pdf={pdf_path}",
               html_path.resolve().as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return f"Chromium did not finish within {timeout:.0f} s"
    if proc.returncode != 0 or not pdf_path.exists():
        tail = (proc.stderr or "").strip().splitlines()[-1:] or [""]
        return f"Chromium exited with {proc.returncode}: {tail[0]}"
    return ""


# -------------------------------------------------------------------------------------- index
_INDEX_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1d2733;
       max-width: 980px; margin: 0 auto; padding: 2rem 2rem 4rem; line-height: 1.5; }
h1 { margin-bottom: .2rem; } .meta { color: #4a5a6a; margin-top: 0; }
table { border-collapse: collapse; margin: .5rem 0 1.2rem; font-size: 14px; }
th, td { border-bottom: 1px solid #d6dde4; padding: .35rem .7rem; text-align: left; vertical-align: top; }
th { background: #2F4B6E; color: #fff; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.card { border: 1px solid #d6dde4; border-left: 5px solid #0072B2; border-radius: 4px; padding: .6rem 1rem;
        margin: .8rem 0; }
.card.failed { border-left-color: #D55E00; background: #fdf3ee; }
.card h3 { margin: .1rem 0 .3rem; } .headline { font-size: 1.05rem; font-weight: 600; }
.alert { border: 1px solid #D55E00; background: #fdf3ee; padding: .6rem 1rem; border-radius: 4px; }
.ok { color: #00704f; } .bad { color: #b34700; } code { font-size: 90%; }
@media print { body { max-width: none; padding: 0; } .card { break-inside: avoid; } }
"""


def _esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _frame_html(frame: pd.DataFrame) -> str:
    if frame is None or frame.empty:
        return "<p>(none)</p>"
    head = "".join(f"<th>{_esc(c)}</th>" for c in frame.columns)
    body = []
    for record in frame.itertuples(index=False, name=None):
        cells = []
        for v in record:
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            text = "" if (v is None or (isinstance(v, float) and v != v)) else (f"{v:,}" if num else v)
            attr = ' class="num"' if num else ""
            cells.append(f"<td{attr}>{_esc(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _format_date(value) -> str:
    if value is None:
        return "?"
    try:
        return pd.Timestamp(value).date().isoformat()
    except (ValueError, TypeError):
        return str(value)


def _write_index(path: Path, *, config: Config, runs: list[NotebookRun], run_date: _dt.date, window,
                 quality, data_error: str, tables_path: Path | None, pdf_note: str) -> None:
    failed = [r for r in runs if not r.ok]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(config.client)} · KAM report pack</title>",
        f"<style>{_INDEX_CSS}</style></head><body>",
        f"<h1>{_esc(config.client)}</h1>",
        '<p class="meta">Key account management report pack · run on '
        f"{_esc(run_date.isoformat())} · data from {_esc(_format_date(window[0]) if window else '?')} "
        f"to {_esc(_format_date(window[1]) if window else '?')} · amounts in {_esc(config.currency)}</p>",
    ]
    if failed:
        items = "".join(f"<li><strong>{_esc(r.name)}</strong>: {_esc(r.error)}</li>" for r in failed)
        parts.append(
            f'<div class="alert"><strong>{len(failed)} of {len(runs)} reports failed.</strong> '
            "Their executed notebooks show the error at the failing cell.<ul>" + items + "</ul></div>"
        )
    parts.append("<h2>Reports</h2>")
    for r in runs:
        title = r.title or r.name
        cls = "card" if r.ok else "card failed"
        parts.append(f'<div class="{cls}">')
        if r.ok and r.html_path is not None:
            parts.append(f'<h3><a href="{_esc(r.html_path.name)}">{_esc(title)}</a></h3>')
        else:
            parts.append(f'<h3>{_esc(title)} <span class="bad">(failed)</span></h3>')
        for i, h in enumerate(r.headlines):
            parts.append(f'<p class="{"headline" if i == 0 else "sub"}">{_esc(h.get("text"))}</p>')
        if not r.ok:
            parts.append(f'<p class="bad">{_esc(r.error)}</p>')
        links = []
        if r.html_path is not None:
            links.append(f'<a href="{_esc(r.html_path.name)}">report</a>')
        if r.pdf_path is not None:
            links.append(f'<a href="{_esc(r.pdf_path.name)}">PDF</a>')
        if r.ipynb_path is not None and r.ipynb_path.exists():
            links.append(f'<a href="{_esc(r.ipynb_path.name)}">executed notebook</a>')
        parts.append(f"<p>{' · '.join(links)}</p></div>")
    if tables_path is not None:
        parts.append(f'<p>Key tables of every report: <a href="{_esc(tables_path.name)}">{_esc(tables_path.name)}</a></p>')
    if pdf_note:
        parts.append(f"<p>PDF: {_esc(pdf_note)}</p>")

    parts.append("<h2>Data quality</h2>")
    if data_error:
        parts.append(f'<div class="alert">The data could not be loaded: {_esc(data_error)}</div>')
    elif quality is not None:
        view = show_quality(quality)
        acc = view.accounting
        excluded = int(acc["rows_excluded"].sum()) if "rows_excluded" in acc else 0
        read = int(acc["rows_read"].sum()) if "rows_read" in acc else 0
        status = '<span class="ok">usable</span>' if quality.ok else '<span class="bad">rejected data: see below</span>'
        parts.append(
            f"<p>Status: {status}. {read:,} rows read, {excluded:,} excluded "
            f"({(excluded / read if read else 0):.1%}).</p>"
        )
        parts.append("<h3>Row accounting (rows read = kept + excluded)</h3>" + _frame_html(acc))
        entries = view.entries
        if not entries.empty:
            parts.append("<h3>What the loader did</h3>" + _frame_html(entries))
        else:
            parts.append("<p>No data-quality rule fired.</p>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------- artifacts
def _read_artifacts(folder: Path) -> tuple[tuple[dict, ...], tuple[dict, ...]]:
    return tuple(_read_list(folder / HEADLINES_FILE)), tuple(_read_list(folder / TABLES_FILE))


def _load_data(config: Config):
    try:
        from .io import load_dataset
    except ImportError as exc:  # pragma: no cover - during development only
        return None, None, f"kamtools.io is not available ({exc})"
    try:
        dataset = load_dataset(config)
    except KamError as exc:
        return None, None, str(exc)
    except Exception as exc:  # unexpected reader failure: the index says so, notebooks report their own
        return None, None, f"{type(exc).__name__}: {exc}"
    return dataset.window, dataset.quality, ""


_QUIET_LOCK = threading.Lock()
_QUIET_STATE = {"depth": 0, "level": logging.NOTSET}


@contextlib.contextmanager
def _quiet_papermill():
    """papermill logs every input/output path at INFO; our progress lines say what matters.

    Re-entrant across threads (several packs may render at once): the first entry lowers the
    level, the last exit restores what the user had.
    """
    pm_logger = logging.getLogger("papermill")
    with _QUIET_LOCK:
        if _QUIET_STATE["depth"] == 0:
            _QUIET_STATE["level"] = pm_logger.level
            if pm_logger.level == logging.NOTSET:
                # ERROR: its parameter-parsing warnings repeat per call; _plan reports them once
                pm_logger.setLevel(logging.ERROR)
        _QUIET_STATE["depth"] += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _QUIET_STATE["depth"] -= 1
            if _QUIET_STATE["depth"] == 0:
                pm_logger.setLevel(_QUIET_STATE["level"])


@contextlib.contextmanager
def _progress(enabled: bool):
    handler = None
    if enabled and not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        old_level = logger.level
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        if handler is not None:
            logger.removeHandler(handler)
            logger.setLevel(old_level)


# ---------------------------------------------------------------------------------- the pack
def render_pack(
    config,
    *,
    out=None,
    only=None,
    parameters=None,
    pdf: bool = False,
    workers: int = 2,
    notebooks_dir=None,
    progress: bool = True,
) -> PackResult:
    """Run the enabled report notebooks for a client and write the report pack.

    Parameters
    ----------
    config : Config or path
        The engagement config (:func:`kamtools.config.load_config`) or its YAML file. It must come
        from a file: notebooks receive its absolute path as ``config_path``.
    out : path, optional
        The pack folder. Default ``<config.output or ./reports>/<client slug>/<YYYY-MM-DD>``.
    only : str or list of str, optional
        Notebooks to run (``"00_data_overview"``, ``"00"`` or ``"data_overview"``; comma-separated
        allowed). Named notebooks run even when the config disables them.
    parameters : dict, optional
        Notebook parameters: ``{"max_key_accounts": 30}`` goes to every selected notebook that
        declares it, ``{"01_selection.max_key_accounts": 30}`` to that one. Override the config's
        ``notebooks.<name>.parameters``. Unknown names raise :class:`ParameterError` listing the
        notebooks' parameters.
    pdf : bool, default False
        Also print each HTML report to PDF with headless Chromium (skipped, with a note, when
        Chromium is not installed).
    workers : int, default 2
        Notebooks run at the same time (2 is the measured sweet spot on 2 cores).
    notebooks_dir : path, optional
        Where the ``NN_name.ipynb`` notebooks are; default the kit's ``notebooks/``.
    progress : bool, default True
        Log a line per notebook start and finish to stderr.

    Returns
    -------
    PackResult
        ``.failed`` names the notebooks that failed; ``.exit_code`` is 1 when any did.

    Notes
    -----
    ``index.html`` and ``tables.xlsx`` describe the notebooks of this run (with ``only``, just
    those). The data are loaded once more in the runner, alongside the notebooks, for the index's
    data window and data-quality summary and the quality sheets of ``tables.xlsx``.

    Raises
    ------
    ConfigError, ParameterError
        Before anything runs: unknown notebooks or parameters, a notebook without the
        ``config_path`` / ``output_dir`` parameters.
    """
    started = time.perf_counter()
    if not isinstance(config, Config):
        config = load_config(config)
    if config.path is None:
        raise ConfigError("render_pack needs a config loaded from a file (notebooks receive its path)")
    if not (isinstance(workers, int) and workers >= 1):
        raise ParameterError(f"The 'workers' parameter of render_pack must be an int >= 1. Got {workers!r} instead.")
    config_path = Path(config.path).resolve()
    paths = find_notebooks(notebooks_dir)
    if not paths:
        raise ConfigError(f"no report notebooks (NN_name.ipynb) in {Path(notebooks_dir or _default_notebooks_dir())}")
    plan = _plan(config, paths, only, parameters, config_path)
    if not plan:
        raise ConfigError(f"{config_path}: every notebook is disabled; nothing to render")

    run_date = _dt.date.today()
    if out is None:
        base = Path(config.output) if config.output is not None else Path("reports")
        out = base / config.slug / run_date.isoformat()
    out_dir = Path(out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)

    with _progress(progress), _quiet_papermill():
        return _render(config, config_path, plan, out_dir, workers=workers, pdf=pdf, run_date=run_date,
                       started=started)


def _render(config: Config, config_path: Path, plan: list[dict], out_dir: Path, *, workers: int, pdf: bool,
            run_date: _dt.date, started: float) -> PackResult:
    artifacts = out_dir / "_artifacts"
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kam-data") as data_pool:
        data_future = data_pool.submit(_load_data, config)
        total = len(plan)
        logger.info("kam report: %s, %d notebook%s, %d at a time -> %s", config.client, total,
                    "" if total == 1 else "s", min(workers, total), out_dir)

        def run_one(index_item):
            index, item = index_item
            name, path = item["name"], item["path"]
            nb_artifacts = artifacts / name
            shutil.rmtree(nb_artifacts, ignore_errors=True)
            nb_artifacts.mkdir(parents=True, exist_ok=True)
            for stale in (out_dir / f"{name}.html", out_dir / f"{name}.pdf"):
                stale.unlink(missing_ok=True)
            params = {"config_path": str(config_path), "output_dir": str(nb_artifacts), **item["parameters"]}
            ipynb = out_dir / f"{name}.ipynb"
            logger.info("[%d/%d] %s: running", index, total, name)
            t0 = time.perf_counter()
            kernel_log = nb_artifacts / "kernel.log"
            status, error = _execute(path, ipynb, params, path.parent, kernel_log=kernel_log)
            if status != "ok" and not error.startswith("In [") and kernel_log.exists():
                # not a cell error (the kernel died or never started): its own output says why
                tail = [ln for ln in kernel_log.read_text(errors="replace").splitlines() if ln.strip()][-1:]
                if tail:
                    error += f" (kernel: {tail[0].strip()[:300]})"
            html_path = None
            title = ""
            if ipynb.exists():
                import nbformat

                executed = nbformat.read(str(ipynb), as_version=4)
                title = _notebook_title(executed)
                if status == "ok":
                    try:
                        html_path = export_html(executed, out_dir / f"{name}.html",
                                                title=f"{config.client} · {title or name}")
                    except Exception as exc:  # a broken output must not sink the pack
                        status, error = "failed", f"HTML export: {type(exc).__name__}: {exc}"
            seconds = time.perf_counter() - t0
            if status == "ok":
                logger.info("[%d/%d] %s: done in %.1f s", index, total, name, seconds)
            else:
                logger.warning("[%d/%d] %s: FAILED after %.1f s: %s", index, total, name, seconds, error)
            headlines, tables = _read_artifacts(nb_artifacts)
            return NotebookRun(
                name=name, title=title, status=status, seconds=seconds,
                ipynb_path=ipynb if ipynb.exists() else None, html_path=html_path,
                error=error, headlines=headlines, tables=tables,
            )

        with ThreadPoolExecutor(max_workers=min(workers, total), thread_name_prefix="kam-nb") as pool:
            runs = list(pool.map(run_one, enumerate(plan, start=1)))
        window, quality, data_error = data_future.result()

    if window is None and (config.window_start or config.window_end):
        window = (config.window_start, config.window_end)

    # Excel: contents, key tables in notebook order, then the data-quality log
    sheets: list[tuple[str, pd.DataFrame]] = []
    contents = []
    used: set[str] = set()
    for run in runs:
        prefix = run.name.split("_", 1)[0]
        for table in run.tables:
            frame = pd.read_parquet(artifacts / run.name / table["file"])
            sheet = _sheet_name(f"{prefix}_{table['name']}", used)
            sheets.append((sheet, frame))
            contents.append({"sheet": sheet, "report": run.title or run.name, "description": table.get("description", "")})
    if quality is not None:
        acc = show_quality(quality).accounting
        ent = quality.entries   # a new frame on each access; its file column kept, as names only
        if "file" in ent.columns:
            ent["file"] = ent["file"].map(_file_name)
        for sheet_base, frame, desc in (
            ("row_accounting", acc, "Rows read, kept and excluded per table"),
            ("data_quality", ent, "Every data-quality rule that fired and what was done"),
        ):
            sheet = _sheet_name(sheet_base, used)
            sheets.append((sheet, frame))
            contents.append({"sheet": sheet, "report": "data quality", "description": desc})
    tables_path = out_dir / "tables.xlsx"
    write_tables_xlsx(tables_path, [("contents", pd.DataFrame(contents, columns=["sheet", "report", "description"]))]
                      + sheets)

    pdf_note = ""
    if pdf:
        runs, pdf_note = _render_pdfs(runs, out_dir)

    index_path = out_dir / "index.html"
    _write_index(index_path, config=config, runs=runs, run_date=run_date, window=window, quality=quality,
                 data_error=data_error, tables_path=tables_path, pdf_note=pdf_note)
    result = PackResult(
        out_dir=out_dir, notebooks=tuple(runs), index_path=index_path, tables_path=tables_path,
        run_date=run_date, data_window=window, data_error=data_error, pdf_note=pdf_note,
        seconds=time.perf_counter() - started,
    )
    if result.ok:
        logger.info("kam report: %d report%s in %.1f s -> %s", len(runs), "" if len(runs) == 1 else "s",
                    result.seconds, index_path)
    else:
        logger.error("kam report: %d of %d notebooks failed (%s); see %s", len(result.failed), len(runs),
                     ", ".join(result.failed), index_path)
    return result


def _render_pdfs(runs: list[NotebookRun], out_dir: Path) -> tuple[list[NotebookRun], str]:
    """Print each rendered HTML report to PDF; returns the runs (with ``pdf_path``) and a note."""
    chromium = find_chromium()
    if chromium is None:
        note = ("skipped: Chromium is not installed (Debian: apt-get install chromium); "
                "the HTML reports print to PDF from any browser")
        logger.warning("PDF %s", note)
        return runs, note
    notes, new_runs = [], []
    for run in runs:
        if run.html_path is None:
            new_runs.append(run)
            continue
        pdf_path = out_dir / f"{run.name}.pdf"
        logger.info("PDF: %s", pdf_path.name)
        problem = _print_pdf(chromium, run.html_path, pdf_path)
        if problem:
            notes.append(f"{run.name}: {problem}")
            logger.warning("PDF %s: %s", run.name, problem)
            new_runs.append(run)
        else:
            new_runs.append(replace(run, pdf_path=pdf_path))
    return new_runs, "; ".join(notes)


# ------------------------------------------------------------------------------ refresh (make)
def strip_volatile_metadata(nb):
    """Remove what changes from run to run: papermill paths and timings, execution timestamps.

    Returns the same NotebookNode (modified in place).
    """
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        md = cell.get("metadata", {})
        for key in ("papermill", "execution", "ExecuteTime", "collapsed", "scrolled"):
            md.pop(key, None)
        if md.get("tags") == []:
            md.pop("tags")
    return nb


def refresh_notebooks(paths=None, *, workers: int = 2, progress: bool = True) -> list[Path]:
    """Re-execute notebooks in place on the sample (``make notebooks``), so nbval's stored outputs stay current.

    Each notebook runs with its default parameters (``config_path`` pointing at the sample,
    ``output_dir = ""``) and its own folder as working directory; the outputs replace the old
    ones only when the run succeeded, with papermill's paths and timings stripped.

    Parameters
    ----------
    paths : iterable of paths, optional
        Default: every ``NN_name.ipynb`` in the kit's ``notebooks/``.

    Returns
    -------
    list of Path

    Raises
    ------
    KamError
        When a notebook fails (the others are still refreshed); the message names them.
    """
    import nbformat

    paths = [Path(p).resolve() for p in (paths if paths is not None else find_notebooks())]
    failures: list[str] = []

    def one(path: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="kam-refresh-") as tmp:
            target = Path(tmp) / path.name
            logger.info("refresh %s", path.name)
            # the kernel's own output goes to a log, shown when it failed (jupyter_client interrupts a
            # kernel on shutdown; ipykernel may log that harmless interrupt as an error)
            kernel_log = Path(tmp) / "kernel.log"
            status, error = _execute(path, target, None, path.parent, kernel_log=kernel_log)
            if status != "ok":
                if kernel_log.exists():
                    error += "\n" + kernel_log.read_text(errors="replace")[-2000:]
                failures.append(f"{path.name}: {error}")
                logger.error("refresh %s FAILED: %s", path.name, error)
                return
            nb = strip_volatile_metadata(nbformat.read(str(target), as_version=4))
            nbformat.validate(nb)
            nbformat.write(nb, str(path))

    with _progress(progress), _quiet_papermill(), \
            ThreadPoolExecutor(max_workers=max(1, min(workers, len(paths) or 1))) as pool:
        list(pool.map(one, paths))
    if failures:
        raise KamError("notebooks failed to refresh (stored outputs left as they were):\n  " + "\n  ".join(failures))
    return paths


# ------------------------------------------------------------------------------------- CLI
def _parser(prog: str = "kam report") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run the report notebooks for a client config and write the report pack "
        "(HTML reports, index.html, tables.xlsx, executed notebooks).",
    )
    parser.add_argument("--config", required=True, metavar="FILE", help="engagement config (YAML)")
    parser.add_argument("--out", metavar="DIR", help="pack folder (default reports/<client>/<YYYY-MM-DD>)")
    parser.add_argument("--only", action="append", metavar="NAMES",
                        help="notebooks to run, comma-separated (00_data_overview, 00 or data_overview)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                        help="notebook parameter (NAME or NOTEBOOK.NAME); VALUE is read as YAML: 30, 0.5, true, [a, b]")
    parser.add_argument("--pdf", action="store_true", help="also print each report to PDF (needs chromium)")
    parser.add_argument("--workers", type=int, default=2, help="notebooks run at the same time (default 2)")
    parser.add_argument("--notebooks", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    return parser


def report_cli(argv=None) -> int:
    """``kam report --config FILE [--out DIR] [--only NAMES] [-p NAME VALUE] [--pdf]``; returns the exit code.

    0: every report rendered; 1: some notebook failed (the others are rendered, index.html says
    which and why); 2: bad config or parameters (nothing ran).
    """
    args = _parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    old_level, old_propagate = logger.level, logger.propagate
    if args.quiet:
        logger.setLevel(logging.WARNING)  # failures still show, through whatever handler the caller has
    else:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # the kam entry point may have configured the root logger too
    try:
        parameters = {name: _CliValue(value) for name, value in args.parameter}
        result = render_pack(
            args.config,
            out=args.out,
            only=args.only,
            parameters=parameters,
            pdf=args.pdf,
            workers=args.workers,
            notebooks_dir=args.notebooks,
            progress=False,
        )
    except KamError as exc:
        sys.stderr.write(f"kam report: error: {exc}\n")
        return 2
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate
    if args.quiet and not result.ok:
        sys.stderr.write(f"kam report: failed: {', '.join(result.failed)} (see {result.index_path})\n")
    return result.exit_code


def main(argv=None) -> int:
    """``python -m kamtools.report report ...`` or ``python -m kamtools.report refresh [NOTEBOOK ...]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "refresh":
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
        try:
            refresh_notebooks(argv[1:] or None, progress=False)
        except KamError as exc:
            sys.stderr.write(f"{exc}\n")
            return 1
        return 0
    if argv and argv[0] == "report":
        argv = argv[1:]
    return report_cli(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
