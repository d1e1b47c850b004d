"""``modelport evaluate MODEL --url URL --dataset NAME``: score a served model."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from modelport import evaluate, logreport
from modelport.cli.hints import DefaultsShown
from modelport.client import Client
from modelport.datasets import DATASETS, load_dataset
from modelport.drift import Profile
from modelport.errors import InvalidInput


def add_parser(commands: Any, name: str) -> None:
    cmd = commands.add_parser(
        name,
        help="send a labelled data set through a server and score it",
        formatter_class=DefaultsShown,
    )
    cmd.add_argument("model", help="the served model's name")
    cmd.add_argument("--url", default="127.0.0.1:8000", help="host:port of the server")
    cmd.add_argument(
        "--protocol",
        choices=["rest", "grpc", "tfserving"],
        default="rest",
        help="V2 REST (default), V2 gRPC (give the gRPC port), or TF Serving's REST predict",
    )
    cmd.add_argument(
        "--dataset", default="digits", help=f"{', '.join(DATASETS)}, FILE.npz or FILE.csv"
    )
    cmd.add_argument("--batch-size", type=int, default=64, help="samples per request")
    cmd.add_argument("--out", type=Path, default=Path("evaluation"), help="report directory")
    cmd.add_argument(
        "--from-log",
        type=Path,
        metavar="DIR",
        help="score the model's request log (its sink folder) joined to the labels sent"
        " back for it, instead of sending a data set",
    )
    cmd.add_argument(
        "--window",
        type=_duration,
        default=0.0,
        metavar="DURATION",
        help="with --from-log: also score each window of this length (30s, 15m, 1h, 1d)",
    )
    cmd.add_argument(
        "--profile",
        type=Path,
        help="with --from-log: the drift reference (modelport profile-data); default: the"
        " log's first --reference-rows rows",
    )
    cmd.add_argument(
        "--reference-rows", type=int, default=logreport.REFERENCE_ROWS, help="see --profile"
    )


def run(args: argparse.Namespace) -> int:
    if args.from_log is not None:
        return _from_log(args)
    try:
        data = load_dataset(args.dataset)
    except (ValueError, KeyError) as exc:  # unknown name, unreadable file, missing x or y
        raise InvalidInput(f"cannot use data set {args.dataset!r}: {exc}") from exc
    with Client(args.url, protocol=args.protocol) as client, _progress(len(data.y)) as advance:
        outputs, latencies = evaluate.run(client, args.model, data, args.batch_size, advance)
        described = evaluate.provenance(client, args.model, args.url, args.protocol)
    report = described | evaluate.score(data, outputs, latencies)
    paths = evaluate.write_report(report, args.out, data.y, outputs)
    print(_summary(report))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _from_log(args: argparse.Namespace) -> int:
    try:
        profile = Profile.load(args.profile) if args.profile else None
        report, y, outputs = logreport.from_log(
            args.from_log, args.model, args.window, profile, args.reference_rows
        )
    except KeyError as exc:  # a file that is not a request log
        raise InvalidInput(f"cannot score the request log: a record has no {exc}") from exc
    except (OSError, ValueError, TypeError) as exc:
        raise InvalidInput(f"cannot score the request log: {exc}") from exc
    paths = evaluate.write_report(report, args.out, y, outputs)
    if report.get("windows"):
        paths.extend(_windows_plot(report, args.out))
    quality = "accuracy" if report["task"] == "classification" else "mse"
    print(
        f"{args.model}: {report['samples']} labelled predictions, {quality} {report[quality]:.4f}"
    )
    for tensor, figures in report["drift"].items():
        psi, ks = figures.get("psi", 0.0), figures.get("ks", 0.0)
        print(f"  drift of {tensor}: PSI {psi:.3f}, KS {ks:.3f} (worst feature)")
    for window in report.get("windows", []):
        print("  " + _window_line(window))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _windows_plot(report: dict[str, Any], out: Path) -> list[Path]:
    try:
        png = logreport.windows_plot(report)
    except ImportError:
        return []
    (out / "windows.png").write_bytes(png)
    return [out / "windows.png"]


def _window_line(window: dict[str, Any]) -> str:
    figures = [f"{k} {window[k]:.3f}" for k in logreport.QUALITY_KEYS if k in window]
    psi = [f"PSI {t} {d['psi']:.3f}" for t, d in window["drift"].items() if "psi" in d]
    counts = f"{window['requests']} requests, {window['samples']} labelled"
    return f"{window['start']}: " + ", ".join([counts, *figures, *psi])


UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> float:
    """``90``, ``30s``, ``15m``, ``1h``, ``1d`` in seconds."""
    number, unit = (text[:-1], text[-1]) if text and text[-1] in UNITS else (text, "s")
    try:
        seconds = float(number) * UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (30s, 15m, 1h, 1d)") from None
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: a window's duration is more than 0 seconds")
    return seconds


@contextmanager
def _progress(total: int) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on a terminal; nothing otherwise (or without rich)."""
    try:
        from rich.progress import Progress
    except ImportError:
        yield None
        return
    if not sys.stderr.isatty():
        yield None
        return
    with Progress(transient=True) as bar:
        task = bar.add_task("evaluating", total=total)
        yield lambda done: bar.advance(task, done)


def _summary(report: dict[str, Any]) -> str:
    lat = report["latency_ms"]
    head = (
        f"{report['model']} version {report['version']} at {report['server']}, "
        f"{report['dataset']}: {report['samples']} samples"
    )
    if report["task"] == "classification":
        quality = (
            f"accuracy {report['accuracy']:.4f}, macro F1 {report['macro']['f1']:.4f}, "
            f"weighted F1 {report['weighted']['f1']:.4f}"
        ) + (f", ROC AUC {report['roc_auc']:.4f}" if "roc_auc" in report else "")
    else:
        quality = f"MSE {report['mse']:.4f}, MAE {report['mae']:.4f}, R² {report['r2']:.4f}"
    speed = (
        f"latency p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms per batch; "
        f"{report['throughput_samples_per_s']:,.0f} samples/s"
    )
    return f"{head}\n{quality}\n{speed}"
