"""The ``kam`` command line: ``kam sample``, ``kam validate``, ``kam report``, ``kam batch``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .exceptions import KamError

__all__ = ["main"]


def _cmd_sample(args) -> int:
    from .sample import generate_world, write_world

    kwargs = {"seed": args.seed}
    if args.accounts is not None:
        kwargs["n_accounts"] = args.accounts
    if args.months is not None:
        kwargs["n_months"] = args.months
    if args.lines is not None or (args.accounts or 0) > 5000:
        # a big ledger: the same world with its lines split, written in chunks (bounded memory)
        from .sample_large import write_large_world

        paths = write_large_world(args.out, format=args.format, lines=args.lines, **kwargs)
    else:
        paths = write_world(generate_world(**kwargs), args.out, format=args.format)
    print(f"wrote {len(paths)} files to {args.out}")
    return 0


def _cmd_validate(args) -> int:
    from .config import load_config
    from .io import load_dataset

    config = load_config(args.config)
    today = None
    if args.today:
        import datetime as _dt
        today = _dt.date.fromisoformat(args.today)
    dataset = load_dataset(config, today=today)
    print(f"{config.client}: data usable.")
    print(dataset.quality.to_text())
    start, end = dataset.window
    print(f"\nLedger covers {start:%Y-%m-%d} to {end:%Y-%m-%d}; "
          f"{dataset.transactions['account_id'].nunique():,} accounts.")
    return 0


def _cmd_report(argv) -> int:
    from .report import report_cli

    return report_cli(argv)


def _cmd_batch(argv) -> int:
    from .batch import batch_cli

    return batch_cli(argv)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # report and batch own their argument parsing
    if argv and argv[0] in ("report", "batch"):
        try:
            return (_cmd_report if argv[0] == "report" else _cmd_batch)(argv[1:])
        except KamError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    parser = argparse.ArgumentParser(prog="kam", description="Key Account Management analysis kit")
    sub = parser.add_subparsers(dest="command", required=True)
    p_sample = sub.add_parser("sample", help="write the synthetic KAM world")
    p_sample.add_argument("--out", type=Path, default=Path("data/sample"))
    p_sample.add_argument("--seed", type=int, default=0)
    p_sample.add_argument("--accounts", type=int, default=None)
    p_sample.add_argument("--months", type=int, default=None)
    p_sample.add_argument("--format", choices=["csv", "parquet"], default="csv")
    p_sample.add_argument("--lines", type=int, default=None,
                          help="target ledger lines (a big ledger; default for > 5,000 accounts: ~55.6 per "
                               "account-month, 100M for 50,000 x 36)")
    p_val = sub.add_parser("validate", help="load and validate a client's data; print the data-quality log")
    p_val.add_argument("--config", required=True, type=Path)
    p_val.add_argument("--today", default=None, help="the date after which ledger dates count as future "
                                                      "(ISO; default: today)")
    parser.add_argument("--debug", action="store_true",
                        help="show Python tracebacks of unexpected errors and the kit's debug log "
                             "(e.g. the time of each step of a DuckDB ledger load)")
    sub.add_parser("report", help="render the report pack (kam report --help)")
    sub.add_parser("batch", help="render many packs (kam batch --help)")
    args = parser.parse_args(argv)
    if args.debug:
        logging.getLogger("kamtools").setLevel(logging.DEBUG)
    try:
        if args.command == "sample":
            return _cmd_sample(args)
        return _cmd_validate(args)
    except KamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug or an unforeseen input: a short message, the traceback on --debug
        if getattr(args, "debug", False):
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc}. This is a problem in the kit, not in your "
              "data's format: please report it with the output of `kam --debug ...`.", file=sys.stderr)
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
