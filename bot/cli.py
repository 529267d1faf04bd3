"""`segbot` command line: a thin layer over `model` and the command router."""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import queue
import sys
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from bot.settings import BotSettings
from model import SegbotError

# Flags of `segbot train` and the setting each overrides (docs/interface.md §5).
TRAIN_FLAGS: dict[str, tuple[str, str]] = {
    "--data": ("data", "a .csv/.parquet path or a SQLAlchemy URL"),
    "--query": ("data_query", "SQL query or table name, with a URL source"),
    "--kind": ("data_kind", "customers (one row per customer) or transactions"),
    "--id-column": ("id_column", "customer id column; @row: no id column, row numbers are the ids"),
    "--features": ("features", "comma-separated feature columns"),
    "--date-column": ("date_column", "transaction date column"),
    "--amount-column": ("amount_column", "transaction amount column"),
    "--labels": ("labels_file", "data dictionary CSV: column,label or column,value,label"),
    "--categorical": ("categorical", "comma-separated integer-coded columns read as categories"),
    "--k": ("k", "'auto' or a number of segments"),
    "--k-min": ("k_min", "smallest k tried by auto (2 allows a high/low split)"),
    "--k-max": ("k_max", "largest k tried by auto"),
    "--model-dir": ("model_dir", "where versions are kept"),
    "--engine": ("engine", "local (this process) or spark (pip install 'segbot[spark]')"),
    "--spark-master": ("spark_master", "Spark master URL for --engine spark (default local[*])"),
}


def load_settings(args: argparse.Namespace) -> BotSettings:
    """Environment and .env first, then any flag given on the command line."""
    overrides = {
        field: getattr(args, flag[2:].replace("-", "_"))
        for flag, (field, _) in TRAIN_FLAGS.items()
        if getattr(args, flag[2:].replace("-", "_"), None) is not None
    }
    try:
        return BotSettings(**overrides)
    except ValidationError as exc:
        raise SegbotError(settings_error(exc)) from None


def settings_error(exc: ValidationError) -> str:
    """One line naming the variable (and flag) as a user writes them."""
    first = exc.errors()[0]
    if not first.get("loc"):  # a rule across settings: its message names them
        return "settings: " + str(first["msg"]).removeprefix("Value error, ")
    loc = str(first["loc"][-1])
    by_alias = {info.alias: name for name, info in BotSettings.model_fields.items()}
    field = by_alias.get(loc, loc)
    info = BotSettings.model_fields.get(field)
    name = info.alias if info is not None and info.alias else field
    flags = [flag for flag, (f, _) in TRAIN_FLAGS.items() if f == field]
    where = f"{name} / {flags[0]}" if flags else name
    message = str(first["msg"]).removeprefix("Value error, ")
    given = repr(first.get("input"))
    return f"setting {where}: {message}" + ("" if given in message else f" (got {given})")


def _add_data_flags(parser: argparse.ArgumentParser) -> None:
    for flag, (_, text) in TRAIN_FLAGS.items():
        parser.add_argument(flag, help=text, default=None)


def _cmd_train(args: argparse.Namespace) -> int:
    from bot.progress import terminal_progress
    from model import WAITING_FOR_CHARTS, BackgroundImport, SegmentService

    service = SegmentService(load_settings(args))
    # also catch up a target left behind earlier; its outcome is printed below, once
    service.catch_up_write_back(quiet=not args.verbose)
    # The summary needs the router (~0.15 s of imports): imported while the trainer
    # waits for its chart process, when this process has nothing else to do.
    router = BackgroundImport("bot.router")
    with terminal_progress() as progress:

        def report(stage: str, fraction: float) -> None:
            progress(stage, fraction)
            if stage == WAITING_FOR_CHARTS:
                router.start()

        result = service.retrain(progress=report, force=True)
    for note in service.registry.metadata(result.version.version).notes:
        print(f"Note: {note}")
    if not result.served:
        print(
            f"Stored {result.version.version} as a candidate, not served: "
            + "; ".join(result.held_back)
        )
    print(router.module().Router(service).summary_text())
    written = service.write_back_outcome()  # ran in the background meanwhile
    if written is not None and written.ok:
        print(written.line)
    elif written is not None:
        print(f"segbot: {written.line}", file=sys.stderr)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from model import Registry, export_version

    settings = load_settings(args)
    version, rows = export_version(Registry(settings.model_dir), Path(args.out), args.version)
    print(f"wrote {rows:,} rows of {version} to {args.out}")
    return 0


def _cmd_sample_data(args: argparse.Namespace) -> int:
    from model import write_sample

    path = write_sample(Path(args.out), rows=args.rows, seed=args.seed)
    print(f"wrote {args.rows:,} customers to {path}")
    return 0


def _cmd_ask(args: argparse.Namespace) -> int:
    from bot.ask import run_ask

    return run_ask(load_settings(args), args.command_line, as_json=args.json, out=args.out)


def _cmd_shell(args: argparse.Namespace) -> int:
    from bot.shell import run_shell

    return run_shell(load_settings(args), out=args.out)


def _cmd_serve(args: argparse.Namespace) -> int:
    from bot.serve import run_serve

    return run_serve(load_settings(args), mode=args.mode)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segbot", description="Customer segments in Slack, the shell and the command line."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = sub.add_parser("train", help="train a new version now and print the summary")
    _add_data_flags(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("sample-data", help="write synthetic customers (csv or parquet)")
    p.add_argument("--rows", type=int, default=5000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", required=True, help="output file, .csv or .parquet")
    p.set_defaults(func=_cmd_sample_data)

    p = sub.add_parser("export", help="write every customer's segment to a csv or parquet file")
    p.add_argument("--version", default=None, help="a stored version, e.g. v3 (default: served)")
    p.add_argument("--out", required=True, help="output file, .csv or .parquet")
    p.add_argument("--model-dir", default=None, help=TRAIN_FLAGS["--model-dir"][1])
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("ask", help='one command through the router, e.g. "/segments summary"')
    p.add_argument("command_line")
    p.add_argument("--json", action="store_true", help="print the whole reply as JSON")
    p.add_argument("--out", default=None, help="save charts into this folder")
    _add_data_flags(p)
    p.set_defaults(func=_cmd_ask)

    p = sub.add_parser("shell", help="interactive local console")
    p.add_argument("--out", default=None, help="save charts into this folder")
    _add_data_flags(p)
    p.set_defaults(func=_cmd_shell)

    p = sub.add_parser("serve", help="run the bot (Socket Mode, HTTP or the local shell)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--socket", dest="mode", action="store_const", const="socket")
    mode.add_argument("--http", dest="mode", action="store_const", const="http")
    mode.add_argument("--shell", dest="mode", action="store_const", const="shell")
    _add_data_flags(p)
    p.set_defaults(func=_cmd_serve, mode=None)
    return parser


class _Queued(logging.handlers.QueueHandler):
    """Queues records for the writer thread until `hand_back`; then hands them straight
    to the handlers. The switch is made under the handler's own lock, which every
    emit holds, so a record is either queued before the writer's last drain or written
    directly: none is lost, not even a write-back's line as `serve` exits."""

    def __init__(self, records: queue.SimpleQueue) -> None:
        super().__init__(records)
        self.direct: list[logging.Handler] | None = None

    def hand_back(self, handlers: list[logging.Handler]) -> None:
        with self.lock:
            self.direct = handlers

    def emit(self, record: logging.LogRecord) -> None:
        if self.direct is None:
            super().emit(record)
            return
        for handler in self.direct:
            if record.levelno >= handler.level:
                handler.handle(record)


def _log_off_the_request_threads() -> Callable[[], None] | None:
    """A server's request threads hand log records to a queue; one thread writes them.
    Written from each of them, they contend on the stream handler's lock: under 20
    clients, the one line per command costs a quarter of a lookup's time over HTTP.
    Returns what writes the rest and puts the handlers back (before the last line of a
    failed start)."""
    root = logging.getLogger()
    handlers = root.handlers[:]
    if not handlers or any(type(h) is not logging.StreamHandler for h in handlers):
        return None  # not what basicConfig made (a test's capture, say): leave it
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    writer = logging.handlers.QueueListener(records, *handlers, respect_handler_level=True)
    queued = _Queued(records)
    for handler in handlers:
        root.removeHandler(handler)
    root.addHandler(queued)
    writer.start()

    def stop() -> None:
        root.handlers = [h for h in root.handlers if h is not queued] + handlers
        queued.hand_back(handlers)  # a thread that found `queued` before the swap
        writer.stop()  # writes what was queued before the hand-back

    return stop


def main(argv: list[str] | None = None) -> int:
    # Before scikit-learn loads its OpenMP runtime: with the default spin-waiting, KMeans
    # slows down ~50x whenever another thread or process wants the same cores (request
    # threads, a second trainer), which is normal life for a bot on 2 cores.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    # A server logs what it does; one-shot commands only warn, so their output stays clean.
    quiet = logging.INFO if args.verb == "serve" else logging.WARNING
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else quiet,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    stop_log_writer = _log_off_the_request_threads() if args.verb == "serve" else None
    try:
        try:
            return args.func(args)
        finally:
            if stop_log_writer is not None:
                stop_log_writer()
    except SegbotError as exc:
        print(f"segbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
