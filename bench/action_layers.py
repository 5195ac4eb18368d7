"""Where the time of engine_throughput.py's mode (c) goes, by layer, from a py-spy sample file.

It reads py-spy's raw (collapsed-stack) output, keeps the samples taken inside (c)'s loop (db_instances), and
gives each sample to the innermost layer it was in:

  driver               the database driver's execute and commit calls (SQLAlchemy's dialect do_* methods);
  SQLAlchemy ORM       sqlalchemy/orm: sessions, the unit of work's flush, loading rows into objects;
  SQLAlchemy Core      the rest of sqlalchemy: compiling and caching statements, executing, reading results;
  SpiffWorkflow        the workflow library;
  state JSON           engine/serialization.py (the case state to and from JSON);
  services             the rest of engine/ and web/ (routing, permissions, deadlines, audit, rollups, ...);
  other                anything else (the standard library called from the bench loop, ...).

A sample inside a standard-library call counts for the layer that made the call (json.dumps called by the
audit trail is "services"). Use it as (needs py-spy: .venv/bin/pip install py-spy):

    .venv/bin/py-spy record -r 400 -f raw -o /tmp/c.raw -- \\
        env PYTHONPATH=. .venv/bin/python bench/engine_throughput.py --n 50 --n-db 600
    .venv/bin/python bench/action_layers.py /tmp/c.raw
"""
from __future__ import annotations

import argparse
import collections
import sys

DRIVER_CALLS = {"do_execute", "do_executemany", "do_execute_no_params", "do_commit"}   # the dialect's methods
LAYERS = ["driver", "SQLAlchemy ORM", "SQLAlchemy Core", "SpiffWorkflow", "state JSON", "services", "other"]


def layer_of(frames: list[str]) -> str:
    """The layer of one sample, its frames outermost first, each "function (file:line)"."""
    if any(frame.split(" (", 1)[0].rsplit(".", 1)[-1] in DRIVER_CALLS for frame in frames):
        return "driver"
    for frame in reversed(frames):
        where = frame.rsplit("(", 1)[-1]
        if "sqlalchemy/orm/" in where:
            return "SQLAlchemy ORM"
        if "sqlalchemy/" in where:
            return "SQLAlchemy Core"
        if "SpiffWorkflow/" in where:
            return "SpiffWorkflow"
        if where.startswith("engine/serialization.py"):
            return "state JSON"
        if where.startswith(("engine/", "web/")):
            return "services"
        if where.startswith("bench/"):
            return "other"
    return "other"


def layer_counts(lines, loop: str = "db_instances") -> collections.Counter[str]:
    """Samples per layer, of the py-spy raw lines ("frame;frame;... count") taken inside ``loop``."""
    counts: collections.Counter[str] = collections.Counter()
    for line in lines:
        stack, _, number = line.rstrip("\n").rpartition(" ")
        frames = stack.split(";")
        if any(frame.startswith(loop + " ") for frame in frames):
            counts[layer_of(frames)] += int(number)
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("raw", help="py-spy record -f raw output")
    ap.add_argument("--loop", default="db_instances", help="the function whose samples count (default db_instances)")
    args = ap.parse_args(argv)
    with open(args.raw, encoding="utf-8") as handle:
        counts = layer_counts(handle, args.loop)
    total = sum(counts.values())
    if not total:
        print(f"no samples inside {args.loop}", file=sys.stderr)
        return 1
    width = max(map(len, LAYERS))
    print(f"{'layer':<{width}}  samples  share")
    print(f"{'-' * width}  -------  -----")
    for layer in LAYERS:
        print(f"{layer:<{width}}  {counts[layer]:>7,}  {100 * counts[layer] / total:4.1f} %")
    print(f"{'all':<{width}}  {total:>7,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
