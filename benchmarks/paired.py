"""Issue 17's targets, each measured as a ratio of two runs taken back to back.

    python benchmarks/paired.py [--rounds N] [--quick] [--label NAME] [--no-triton] [--only TEXT]

``run.py`` measures one server's every scenario, then the next server's: the two halves of a
ratio are minutes apart, and on a shared VM whose speed drifts by 10-20% in minutes the
ratio drifts with it. Here every server runs at once (pinned to the server core; an idle
one costs under 0.3% of a core, measured), and each target is measured in ``N`` rounds of
its two scenarios one after the other, the order swapped every round (A B, B A, ...). A
round's ratio compares figures taken seconds apart; the table reports the median round and
lists every round (``lost`` where perf_analyzer found no stable window). A ratio against
the raw onnxruntime ceiling measures the ceiling in the round, on the server core.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import models, record, run
from benchmarks.run import TARGETS, Key, Row, Target
from benchmarks.servers import CLIENT_CORE, SERVER_CORE, Running, Scenario, pin_self

Lookup = dict[str, tuple[Running, list[Scenario]]]


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--rounds", type=int, default=3, help="alternating rounds per target")
    args.add_argument("--quick", action="store_true", help="1 s warm-up, 3 s measured")
    args.add_argument("--label", default="paired")
    args.add_argument("--no-triton", action="store_true", help="leave Triton out")
    args.add_argument("--only", default="", help="the targets whose name contains this")
    opts = args.parse_args()
    targets = [t for t in TARGETS if opts.only in t.name]
    timing = (1.0, 3.0) if opts.quick else (3.0, 10.0)
    pin_self(CLIENT_CORE)
    with tempfile.TemporaryDirectory() as tmp:
        repo = models.repository(Path(tmp) / "repo")
        running: Lookup = {}
        try:
            for spec in run.specs(repo, tmp, not opts.no_triton):
                running[spec.label] = (spec.launch(), spec.scenarios)
            lines = [_line(t, _rounds(t, running, repo, timing, opts.rounds)) for t in targets]
        finally:
            for server, _ in running.values():
                server.stop()
    _write(opts.label, [line for line in lines if line], opts.rounds, timing)


def _rounds(
    target: Target, running: Lookup, repo: Path, timing: tuple[float, float], rounds: int
) -> list[float | None] | None:
    """The target's figure in each round, None for a round that could not be measured (None
    for the whole target when a server it needs is not running)."""
    if not _runnable(target.top, running) or not _runnable(target.bottom, running):
        return None
    found: list[float | None] = []
    for index in range(rounds):
        order = [target.top, target.bottom] if index % 2 == 0 else [target.bottom, target.top]
        try:
            rows = {key: _measure(key, running, repo, timing) for key in order}
        except RuntimeError as exc:  # perf_analyzer found no stable window: the round is lost
            print(f"{target.name}: round {index + 1} lost: {str(exc)[-200:]}", flush=True)
            found.append(None)
            continue
        top, bottom = rows[target.top], rows[target.bottom] if target.bottom else None
        found.append(top[target.field] / (bottom[target.field] if bottom else 1.0))
        print(f"{target.name}: round {index + 1}: {found[-1]:.3f}", flush=True)
    return found


def _runnable(key: Key | None, running: Lookup) -> bool:
    return key is None or key[0] == "ceiling" or key[0] in running


def _measure(key: Key | None, running: Lookup, repo: Path, timing: tuple[float, float]) -> Row:
    if key is None:
        return {}
    if key[0] == "ceiling":
        name, _, batch = key[1].rpartition(" batch ")
        pin_self(SERVER_CORE)
        try:
            return {"rps": run.samples_per_second(repo, name, int(batch), timing[1])}
        finally:
            pin_self(CLIENT_CORE)
    server, scenarios = running[key[0]]
    return run.measure(server, _scenario(key, scenarios), timing)


def _scenario(key: Key, scenarios: list[Scenario]) -> Scenario:
    _, model, kind, concurrency = key
    for scenario in scenarios:
        if (scenario[0], scenario[2], str(scenario[3])) == (model, kind, concurrency):
            return scenario
    raise LookupError(f"{key[0]} has no scenario {model} {kind} c={concurrency}")


def _line(target: Target, rounds: list[float | None] | None) -> str:
    if rounds is None:
        return ""
    each = " ".join("lost" if f is None else f"{f:.2f}" for f in rounds)
    figures = [f for f in rounds if f is not None]
    if not figures:
        return f"| {target.name} | | {each} | | |"
    middle = statistics.median(figures)
    goal, verdict = target.judged(middle)
    return f"| {target.name} | {middle:.2f} | {each} | {goal} | {verdict} |"


def _write(label: str, lines: list[str], rounds: int, timing: tuple[float, float]) -> None:
    head = [
        f"# {label}: {record.today()}",
        "",
        f"Command: `python {' '.join(sys.argv)}`. Every server running at once, pinned to core "
        f"{SERVER_CORE}; load generators on core {CLIENT_CORE}; {timing[0]:g} s warm-up and "
        f"{timing[1]:g} s measured per scenario; {rounds} rounds per target, the two scenarios "
        "of a ratio back to back, their order swapped every round. The figure is the median "
        "round of those measured; every round is listed (lost: perf_analyzer found no stable "
        "window).",
        "",
        "| target | median | rounds | goal | met |",
        "|---|---|---|---|---|",
    ]
    record.save(label, [*head, *lines])


if __name__ == "__main__":
    main()
