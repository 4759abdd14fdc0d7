"""The terminal side of the CLI: the stderr console, the exit codes, progress bars (one style for every long
stage), and help and option parsing that Typer lacks (`--csv`/`--json` with an optional value, plain usage lines)."""

from __future__ import annotations

import re

from rich.console import Console
from typer.core import TyperCommand, TyperGroup

err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

EXIT_OK, EXIT_FILE_FAILED, EXIT_USAGE, EXIT_OUTPUT, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_CODES_HELP = (
    "Exit codes: 0 every file was scanned (with or without faces); 1 at least one file could not be "
    "read (its row says why); 2 usage error (bad option, missing path, no usable model); 3 the output could not "
    "be written (disk full, read-only or vanished folder, closed pipe); 130 interrupted (Ctrl-C or SIGTERM)."
)
INFO_EXIT_HELP = "Exit codes: 0 the model was described; 2 usage error (no usable model at --model)."
TRAIN_EXIT_HELP = ("Exit codes: 0 the bundle was written; 2 usage error or unusable training data (nothing written); "
                   "130 interrupted (the last checkpoint is kept: rerun with --resume).")
EVALUATE_EXIT_HELP = "Exit codes: 0 evaluated; 2 usage error (bad option, missing folder, no usable model); 130 interrupted."



_OPTIONAL_VALUE_FLAGS = ("--csv", "--json")


def _fill_optional_values(args: list[str]) -> list[str]:
    """Give scan's `--csv`/`--json` the value "-" (stdout) when no FILE follows them."""
    if "scan" not in args:
        return args
    out = []
    start = args.index("scan")
    end = args.index("--") if "--" in args[start:] else len(args)
    for i, arg in enumerate(args):
        out.append(arg)
        if start < i < end and arg in _OPTIONAL_VALUE_FLAGS:
            nxt = args[i + 1] if i + 1 < len(args) else None
            if nxt is None or (nxt.startswith("-") and nxt != "-"):
                out.append("-")
    return out


class Group(TyperGroup):
    """Typer group whose `--csv`/`--json` take an optional value (Typer has no such option type)."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _fill_optional_values(list(args)))


class Command(TyperCommand):
    """Help text for people: `scan [OPTIONS] PATH...` (not `{PATH}...`), no `<list[str]>` beside an argument."""

    def get_help(self, ctx) -> str:
        usage, _, rest = super().get_help(ctx).partition("\n")
        rest = re.sub(r" <list\[\w+\]>", lambda m: " " * len(m[0]), rest)
        return re.sub(r"\{([A-Z_.]+)\}", r"\1", usage) + "\n" + rest


def progress(results, total: int, quiet: bool):
    """Wrap an iterator of results in a progress bar on stderr (terminals only)."""
    if quiet or not err.is_terminal or total < 2:
        yield from results
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err, transient=True) as bar:
        task = bar.add_task("scan", total=total)
        for r in results:
            yield r
            bar.advance(task)


class Bar:
    """tqdm's small interface (wrap an iterable; or total, update, set_postfix, close), drawn by rich on
    stderr like scan's bar, so every long stage of training shows one style of progress."""

    def __init__(self, iterable=None, *, total=None, initial: int = 0, desc: str = "", **_):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.iterable = iterable
        self.progress = Progress(TextColumn(desc or "working"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                 TextColumn("{task.fields[note]}"), console=err, transient=True)
        self.task = self.progress.add_task(desc, total=total, completed=initial, note="")
        self.progress.start()

    def __iter__(self):
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def update(self, n: int = 1) -> None:
        self.progress.advance(self.task, n)

    def set_postfix(self, **values) -> None:
        self.progress.update(self.task, note=" ".join(f"{k} {v}" for k, v in values.items()))

    def close(self) -> None:
        self.progress.stop()
