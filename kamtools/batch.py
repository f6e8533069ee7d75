"""Many report packs in one go: ``kam batch CONFIG...``.

Packs render in a bounded pool of worker processes (each pack's notebooks share the machine's
kernels with the other workers), with one progress line per pack. A pack whose inputs (config,
data files, notebooks, kit version) have not changed since it last rendered completely is skipped,
so a batch that stopped half-way resumes where it stopped. The batch ends with a summary table:
client, status, time, failing notebook.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as _dt
import hashlib
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .config import load_config
from .exceptions import KamError, ParameterError

__all__ = ["render_batch", "BatchResult", "inputs_fingerprint", "batch_cli", "MANIFEST"]

logger = logging.getLogger("kamtools.batch")

#: written into a pack folder when the pack rendered completely
MANIFEST = "pack.json"
_HASH_LIMIT = 64 * 2**20  # files above this are fingerprinted by size and mtime, not content


def _file_digest(path: Path) -> str:
    stat = path.stat()
    if stat.st_size > _HASH_LIMIT:
        return f"{stat.st_size}:{stat.st_mtime_ns}"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def inputs_fingerprint(config, notebooks_dir=None) -> str:
    """A hash of everything a pack depends on: config, data files, notebooks and the kit's version."""
    from . import __version__
    from .report import find_notebooks

    config = load_config(config) if not hasattr(config, "data") else config
    parts = [f"kamtools {__version__}", hashlib.sha256(Path(config.path).read_bytes()).hexdigest()]
    for table, source in sorted(config.data.items()):
        files = sorted(source.path.glob("*")) if source.path.is_dir() else [source.path]
        parts += [f"{table}:{f.name}:{_file_digest(f)}" for f in files if f.is_file()]
    for nb in find_notebooks(notebooks_dir):
        parts.append(f"{nb.name}:{hashlib.sha256(nb.read_bytes()).hexdigest()}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _pack_dir(config, out_root) -> Path:
    root = Path(out_root) if out_root else (config.output or Path.cwd() / "reports")
    return Path(root) / config.slug / _dt.date.today().isoformat()


def _complete(out_dir: Path, fingerprint: str) -> bool:
    manifest = out_dir / MANIFEST
    if not manifest.exists():
        return False
    try:
        data = json.loads(manifest.read_text())
    except ValueError:
        return False
    return data.get("fingerprint") == fingerprint and data.get("status") == "ok"


def _render_one(config_path: str, out_dir: str, notebook_workers: int, pdf: bool, notebooks_dir,
                fingerprint: str | None = None) -> dict:
    """Render one pack (in a worker process); never raises. ``fingerprint``: the inputs' fingerprint
    when the parent has already computed it (resume), else computed here."""
    from .report import render_pack

    logging.getLogger("kamtools.report").setLevel(logging.WARNING)  # the batch shows one line per pack
    start = time.perf_counter()
    row = {"config": config_path, "out_dir": out_dir}
    try:
        config = load_config(config_path)
        row["client"] = config.client
        fingerprint = fingerprint or inputs_fingerprint(config, notebooks_dir)
        result = render_pack(config, out=out_dir, pdf=pdf, workers=notebook_workers,
                             notebooks_dir=notebooks_dir, progress=False)
        row["status"] = "ok" if result.ok else "failed"
        row["failing_notebook"] = ", ".join(result.failed)
        if result.ok:
            Path(out_dir, MANIFEST).write_text(json.dumps(
                {"fingerprint": fingerprint, "status": "ok", "client": config.client}, indent=2) + "\n")
    except KamError as exc:
        row["status"] = "error"
        row["failing_notebook"] = ""
        row["error"] = str(exc)
    row["seconds"] = round(time.perf_counter() - start, 1)
    return row


@dataclass(frozen=True)
class BatchResult:
    """The outcome of :func:`render_batch`: one row per config."""

    table: pd.DataFrame
    seconds: float

    @property
    def exit_code(self) -> int:
        """0 all rendered (or skipped as complete), 1 some notebook failed, 2 some config was wrong."""
        if (self.table["status"] == "error").any():
            return 2
        return 1 if (self.table["status"] == "failed").any() else 0

    def summary(self) -> pd.DataFrame:
        return self.table[["client", "status", "seconds", "failing_notebook"]]

    def __str__(self) -> str:
        return self.summary().to_string(index=False)


def render_batch(configs, *, out_root=None, workers: int = 2, notebook_workers: int | None = None,
                 resume: bool = True, pdf: bool = False, notebooks_dir=None, progress: bool = True) -> BatchResult:
    """Render the report pack of every config with a bounded pool of worker processes.

    Parameters
    ----------
    configs : list of path
        Engagement configs (YAML).
    out_root : path, optional
        Packs go to ``out_root/<client>/<YYYY-MM-DD>`` (default: each config's output or ``reports/``).
    workers : int, default 2
        Packs rendered at the same time.
    notebook_workers : int, optional
        Notebooks run at the same time within a pack (default: 2 // workers, at least 1), so the
        machine runs about ``workers × notebook_workers`` kernels.
    resume : bool, default True
        Skip packs already complete for the same inputs (see :func:`inputs_fingerprint`).

    Returns
    -------
    BatchResult
    """
    if workers < 1:
        raise ParameterError(f"The 'workers' parameter of render_batch must be >= 1. Got {workers!r} instead.")
    notebook_workers = notebook_workers or max(1, 2 // workers)
    start = time.perf_counter()
    rows, todo = [], []
    for path in configs:
        try:
            config = load_config(path)
        except KamError as exc:
            rows.append({"client": "", "config": str(path), "status": "error", "seconds": 0.0,
                         "failing_notebook": "", "error": str(exc), "out_dir": ""})
            continue
        out_dir = _pack_dir(config, out_root)
        fingerprint = inputs_fingerprint(config, notebooks_dir) if resume else None
        if resume and _complete(out_dir, fingerprint):
            rows.append({"client": config.client, "config": str(path), "status": "skipped (complete)",
                         "seconds": 0.0, "failing_notebook": "", "out_dir": str(out_dir)})
            continue
        todo.append((str(path), str(out_dir), fingerprint))
    total, done = len(todo), 0
    if progress and total:
        logger.info("kam batch: %d pack(s) to render, %d skipped, %d worker(s)", total, len(rows), workers)
    with cf.ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_render_one, cfg, out, notebook_workers, pdf,
                               str(notebooks_dir) if notebooks_dir else None, fingerprint): cfg
                   for cfg, out, fingerprint in todo}
        for future in cf.as_completed(futures):
            row = future.result()
            done += 1
            rows.append(row)
            if progress:
                extra = f": {row.get('failing_notebook') or row.get('error', '')}" if row["status"] != "ok" else ""
                logger.info("[%d/%d] %s %s (%.1f s)%s", done, total, row.get("client") or row["config"],
                            row["status"], row["seconds"], extra)
    order = {str(p): i for i, p in enumerate(configs)}
    table = pd.DataFrame(rows).reindex(columns=["client", "config", "status", "seconds", "failing_notebook",
                                                "error", "out_dir"])
    table = table.iloc[sorted(range(len(table)), key=lambda i: order.get(table["config"].iloc[i], 0))]
    table = table.astype(object).fillna("").reset_index(drop=True)
    return BatchResult(table=table, seconds=time.perf_counter() - start)


def batch_cli(argv=None) -> int:
    """``kam batch CONFIG [CONFIG ...] [--out-root DIR] [--workers N] [--no-resume] [--pdf]``."""
    parser = argparse.ArgumentParser(prog="kam batch", description="Render the report pack of many configs.")
    parser.add_argument("configs", nargs="+", metavar="CONFIG", help="engagement configs (YAML)")
    parser.add_argument("--out-root", metavar="DIR", help="write each pack to DIR/<client>/<YYYY-MM-DD>")
    parser.add_argument("--workers", type=int, default=2, help="packs rendered at the same time (default 2)")
    parser.add_argument("--notebook-workers", type=int, default=None,
                        help="notebooks at the same time within a pack (default 2 // workers)")
    parser.add_argument("--no-resume", action="store_true", help="render every pack, even complete ones")
    parser.add_argument("--pdf", action="store_true", help="also print each report to PDF (needs chromium)")
    args = parser.parse_args(argv)
    if not logger.handlers and not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    result = render_batch(args.configs, out_root=args.out_root, workers=args.workers,
                          notebook_workers=args.notebook_workers, resume=not args.no_resume, pdf=args.pdf)
    print(result)
    print(f"\n{len(result.table)} pack(s) in {result.seconds:.1f} s")
    return result.exit_code
