"""The full report pack on the sample against its floor, and a batch of packs with 1 and 2 workers.

Run: ``python benchmarks/bench_pack.py [--batch-packs 20] [--batch-notebooks 00_data_overview]
[--repeats 3]``.

* **pack**: ``render_pack(configs/sample.yaml)`` against the *floor*: the same number of notebooks
  that only import the same libraries (each floor notebook runs its real notebook's import lines and
  the kit's lazy imports there, see ``LAZY_IMPORTS``) and draw the same number of figures (counted
  from the stored outputs of each real notebook), run by the same runner (papermill, same parallelism, HTML, index,
  Excel). The ratio says what the analyses themselves cost on top of the unavoidable machinery.
  Kit and floor run ``--repeats`` times, interleaved; the best of each is compared.
* **batch**: ``render_batch`` of N copies of the sample config, with 1 and with 2 workers (resume
  off). By default each pack holds the data overview only, so the batch measures the pool rather than
  the analyses (``--batch-notebooks all`` for full packs: about N × the pack time).

Writes ``benchmarks/results/pack.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

import nbformat

from kamtools.batch import render_batch
from kamtools.report import find_notebooks, render_pack

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "configs" / "sample.yaml"
# The floor imports what its real notebook imports: the notebook's own import lines (kamtools
# modules pull in numpy, pandas, scipy.stats, pyarrow) plus what the kit imports lazily on the way:
# seaborn (the theme) everywhere, statsmodels' regression module in the ROI report (interrupted
# time series), SALib in the retention report (Sobol indices).
LAZY_IMPORTS = {"*": ["seaborn"], "03_roi_rollout": ["statsmodels.regression.linear_model"],
                "04_retention_sensitivity": ["SALib.analyze.sobol", "SALib.sample.sobol"]}


def floor_imports(real, name: str) -> str:
    """The import statements of a real notebook (top-level lines of its code cells) and its lazy imports."""
    lines = ["import matplotlib.pyplot as plt"]
    for cell in real.cells:
        if cell.cell_type == "code":
            lines += [ln for ln in cell.source.splitlines() if ln.startswith(("import ", "from ")) and ln not in lines]
    lines += [f"import {m}" for m in LAZY_IMPORTS["*"] + LAZY_IMPORTS.get(name, [])]
    return "\n".join(lines) + "\n"


def _figures(nb) -> int:
    return sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if "image/png" in o.get("data", {}))


def floor_notebooks(folder: Path) -> int:
    """Write one floor notebook per real notebook; returns the number of figures in all."""
    total = 0
    for path in find_notebooks():
        real = nbformat.read(path, as_version=4)
        n_fig = _figures(real)
        total += n_fig
        nb = nbformat.v4.new_notebook()
        params = nbformat.v4.new_code_cell('config_path: str = ""  # config\noutput_dir: str = ""  # pack')
        params.metadata["tags"] = ["parameters"]
        draw = ("from kamtools import pack\npack.start(output_dir)\n"
                f"for i in range({n_fig}):\n    fig, ax = plt.subplots()\n    ax.plot([0, 1], [0, i])\n"
                "    plt.show()\n")
        nb.cells = [params, nbformat.v4.new_code_cell(floor_imports(real, path.stem)),
                    nbformat.v4.new_code_cell(draw)]
        nb.metadata["kernelspec"] = real.metadata.get("kernelspec", {"name": "python3"})
        nbformat.write(nb, folder / path.name)
    return total


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-packs", type=int, default=20)
    parser.add_argument("--batch-notebooks", default="00_data_overview")
    parser.add_argument("--repeats", type=int, default=3, help="runs of the pack and of its floor (best kept)")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        floor_dir = tmp / "floor"
        floor_dir.mkdir()
        n_fig = floor_notebooks(floor_dir)
        # interleaved runs, best of each: a busy spell on a shared machine hits both alike
        kit_runs, floor_runs = [], []
        for _ in range(args.repeats):
            kit_s, result = timed(lambda: render_pack(SAMPLE, out=tmp / "kit", progress=False))
            floor_s, _ = timed(lambda: render_pack(SAMPLE, out=tmp / "floor_out", notebooks_dir=floor_dir,
                                                   progress=False))
            kit_runs.append(kit_s)
            floor_runs.append(floor_s)
        kit_s, floor_s = min(kit_runs), min(floor_runs)
        rows.append({"case": f"full pack on the sample ({len(result.notebooks)} notebooks, {n_fig} figures)",
                     "kit_seconds": kit_s, "reference": "floor (imports + same figures, same runner)",
                     "reference_seconds": floor_s, "ratio": kit_s / floor_s, "target": "<= 1.5",
                     "failed": ", ".join(result.failed),
                     "runs": f"kit {', '.join(f'{t:.1f}' for t in kit_runs)} s; "
                             f"floor {', '.join(f'{t:.1f}' for t in floor_runs)} s"})
        # batch: N copies of the sample config (each its own client name)
        configs = []
        data_dir = (ROOT / "data" / "sample").resolve()
        text = SAMPLE.read_text().replace("../data/sample", str(data_dir))
        only = None if args.batch_notebooks == "all" else args.batch_notebooks
        for i in range(args.batch_packs):
            cfg = tmp / f"client{i:02d}.yaml"
            body = text.replace("client: Sample", f"client: Client {i:02d}")
            if only:
                enabled = {nb.stem: nb.stem == only for nb in find_notebooks()}
                body += "notebooks:\n" + "".join(
                    f"  {k}: {{enabled: {'true' if v else 'false'}}}\n" for k, v in enabled.items())
            cfg.write_text(body)
            configs.append(cfg)
        times = {}
        for workers in (1, 2):
            out = tmp / f"batch{workers}"
            times[workers], res = timed(lambda: render_batch(configs, out_root=out, workers=workers,
                                                             resume=False, progress=False))
            assert res.exit_code == 0, res.table
            shutil.rmtree(out, ignore_errors=True)
        rows.append({"case": f"batch of {args.batch_packs} packs ({args.batch_notebooks}), 2 workers",
                     "kit_seconds": times[2], "reference": "same batch, 1 worker",
                     "reference_seconds": times[1], "ratio": times[2] / times[1],
                     "target": "~0.5 (near-linear)"})
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    for row in rows:
        row["peak_rss_mb_children"] = peak_mb
        print(f"{row['case']}: kit {row['kit_seconds']:.1f} s, {row['reference']} "
              f"{row['reference_seconds']:.1f} s, ratio {row['ratio']:.2f}")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "pack.json").write_text(json.dumps({"benchmark": "pack", "description": __doc__.split("\n\n")[0],
                                                "results": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
