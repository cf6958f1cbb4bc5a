"""Command line: bican (or python -m bican) fetch-data | train | train-classifier | fit-prior | compress | decompress |
eval | bench.

Parsing needs only the standard library and tqdm: torch and numpy load in the command that runs, so `--help`, `--version`
and a mistyped option answer at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path

from tqdm import tqdm

from . import __version__, paths
from .bitstream import BitstreamError
from .config import DEFAULT_MODEL, DEVICES, MAX_REFINE, PRECISION_NAMES, PRESETS, SEARCH, ConfigError, TrainConfig, preset

ERRORS = (BitstreamError, ConfigError, ValueError, OSError, RuntimeError)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except ERRORS as exc:
        print(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 2


# Over 40 lines, on purpose: one flat declaration per command and option, the whole command line in one place.
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bican", description="BiCAN: a learned compressor for MNIST digits")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(required=True, metavar="COMMAND")

    s = sub.add_parser("fetch-data", help="download and verify MNIST")
    s.add_argument("--root", default=None, help="data root (default: $BICAN_DATA or ./data)")
    s.set_defaults(run=_fetch)

    s = sub.add_parser("train", help="train a codec model")
    _config_options(s)
    s.add_argument("--out", type=Path, help="output directory (default: out/train)")
    s.add_argument("--resume", action="store_true", help="continue from OUT/last.safetensors")
    s.add_argument("--run-id", help="train this registered run: its directory, config and status in the registry "
                                    "(as the app launches it); excludes the options above")
    s.add_argument("--runs-dir", type=Path, help="the run registry's root (default: $BICAN_RUNS or ./runs)")
    s.set_defaults(run=_train)

    s = sub.add_parser("runs", help="the run registry")
    s.add_argument("action", choices=["reindex"],
                   help="reindex: index every run folder the registry lacks, after moving an unreadable registry aside")
    s.add_argument("--runs-dir", type=Path, help="the run registry's root (default: $BICAN_RUNS or ./runs)")
    s.set_defaults(run=_runs)

    s = sub.add_parser("train-classifier", help="train the LeNet-size classifier used by eval")
    s.add_argument("--out", type=Path, default=paths.shipped_weights() / "classifier.safetensors",
                   help="(default: %(default)s)")
    s.add_argument("--epochs", type=int, default=4, help="(default: %(default)s)")
    s.set_defaults(run=_train_classifier)

    s = sub.add_parser("fit-prior", help="refit a model's prior as a mixture over its codes of the training digits")
    s.add_argument("--model", default=DEFAULT_MODEL, help="name or .safetensors path (default: %(default)s)")
    s.add_argument("-o", "--output", type=Path, required=True, help="the refitted model's .safetensors file")
    s.add_argument("--components", type=int, default=64, help="mixture components (default: %(default)s)")
    s.add_argument("--encoder", choices=["settle", "invert"],
                   help="the refitted model's default encoder (default: the model's own)")
    s.add_argument("--rate-weight", type=float,
                   help="the refitted model's refinement trade-off, squared levels per bit (default: the model's own)")
    s.set_defaults(run=_fit_prior)

    s = sub.add_parser("compress", help="digits (.npy, .png, idx or a folder of PNGs) to a .bican archive")
    s.add_argument("input", type=Path)
    s.add_argument("-o", "--output", type=Path, required=True)
    _codec_options(s)
    s.set_defaults(run=_compress)

    s = sub.add_parser("decompress", help="a .bican archive to .npy or .png")
    s.add_argument("input", type=Path)
    s.add_argument("-o", "--output", type=Path, required=True)
    s.add_argument("--max-digits", type=int, default=100_000,
                   help="refuse an archive that claims more digits: decoding takes time in proportion "
                        "(default: %(default)s)")
    s.set_defaults(run=_decompress)

    s = sub.add_parser("eval", help="measure a model on the MNIST test set, the drawn set or your own digits")
    _codec_options(s)
    s.add_argument("--set", default="mnist", metavar="{mnist,drawn,FILE}",  # checked by the command: a one-line error
                   help="mnist: the 10,000 test digits; drawn: 2,000 test digits redrawn as the studio's canvas draws "
                        "them; FILE: your own digits, in any form compress reads; a folder of PNGs in subfolders "
                        "named 0 to 9 gives their classes too (default: %(default)s)")
    s.add_argument("--labels", type=Path,
                   help="with --set FILE: a .npy or idx file of each digit's class (0-9), for classifier_accuracy "
                        "(default: the class subfolders of a folder, else none; agreement needs no labels)")
    s.add_argument("--limit", type=int, default=0, help="only the first N digits of the set (default: all)")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(run=_eval)

    s = sub.add_parser("bench-coder", help="the entropy coder against the legacy range coder, as a markdown table")
    s.add_argument("models", nargs="*", help="model names (default: every installed entropy-coded model)")
    s.add_argument("--limit", type=int, default=None, help="only the first N test digits (default: all)")
    s.add_argument("--timed", type=int, default=1000, help="digits timed per coder and model (default: %(default)s)")
    s.add_argument("--cache", type=Path, default=None,
                   help="folder keeping each model's test codes between runs (default: none; recomputed)")
    s.set_defaults(run=_bench_coder)

    s = sub.add_parser("bench", help="measure the codecs (or training speed) and print the results as JSON; "
                                     "python -m tools.bench writes them into docs/")
    s.add_argument("what", nargs="?", default="codec", choices=["codec", "train"], help="(default: %(default)s)")
    s.add_argument("--limit", type=int, default=None,
                   help="codec: only the first N digits of the test set and of the drawn set (default: all)")
    s.add_argument("--refine", type=int, default=0,
                   help="codec: also measure each entropy model with this many refinement passes (slow; default: 0)")
    s.add_argument("--invert", action="store_true",
                   help="codec: also measure each entropy model encoding by inversion (slow; with --refine N, refined)")
    _config_options(s, "train: ")
    s.add_argument("--target-db", type=float, default=21.5, help="train: PSNR to reach (default: %(default)s)")
    s.add_argument("--max-bytes", type=float, default=8.0, help="train: at most this many bytes/digit (default: %(default)s)")
    s.add_argument("--budget", type=float, default=600, help="train: give up after this many seconds (default: %(default)s)")
    s.add_argument("-o", "--output", type=Path, help="also write the results to this JSON file")
    s.set_defaults(run=_bench)

    return p


def _codec_options(s: argparse.ArgumentParser) -> None:
    s.add_argument("--model", default=DEFAULT_MODEL, help="name or .safetensors path (default: %(default)s)")
    s.add_argument("--search", type=int, default=None,
                   help=f"other codes the encoder tries per digit: more is closer, slower (default: {SEARCH}, "
                        "or the latent count if fewer)")
    s.add_argument("--precision", choices=PRECISION_NAMES, default="auto",
                   help="the networks' arithmetic; auto is bfloat16 on a CPU with native bfloat16, else float32 "
                        "(default: %(default)s)")
    s.add_argument("--refine", type=int, default=0,
                   help="passes of refinement after the search: codes that trade error and bits better, for many "
                        f"times the encoding time; for archives (0 to {MAX_REFINE}; default: %(default)s)")
    s.add_argument("--invert", action=argparse.BooleanOptionalAction, default=None,
                   help="encode by inverting the decoder instead of iterating to a recompression fixed point: "
                        "0.7 to 1.5 dB closer, still idempotent, for many times the encoding time "
                        "(default: the model's own choice)")


def _load_codec(args):
    from . import codec

    return codec.load(args.model, search=args.search, dtype=codec.PRECISIONS[args.precision], refine=args.refine,
                      invert=args.invert)


@contextmanager
def _percent_bar(desc: str):
    """A tqdm bar driven by the library's (stage, fraction) progress callbacks."""
    with tqdm(total=100, desc=desc, unit="%") as bar:
        def progress(stage: str, fraction: float) -> None:
            bar.set_postfix_str(stage)
            bar.update(max(0, round(fraction * 100) - bar.n))
        yield progress


def _fetch(args) -> int:
    from . import data

    with _percent_bar("MNIST") as progress:
        path = data.ensure(args.root, progress)
    print(f"MNIST verified in {path}")
    return 0


def _config_options(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """The options load_train_config reads, for every subcommand that builds a TrainConfig."""
    parser.add_argument("--config", type=Path, help=f"{prefix}TrainConfig as JSON; overrides the preset's fields it names")
    parser.add_argument("--preset", choices=list(PRESETS), help=f"{prefix}(default: entropy)")
    parser.add_argument("--epochs", type=int, help=f"{prefix}override the number of epochs")
    parser.add_argument("--init", help=f"{prefix}fine-tune this model (a name or .safetensors path): its networks, "
                        "prior, model config and objective (λ, cycle weight, train rounds) start the run, unless the "
                        "config names them")
    parser.add_argument("--device", choices=DEVICES,
                        help=f"{prefix}override the device (preset default: auto)")


def load_train_config(args) -> TrainConfig:
    """The preset, then the --config file's fields, then the flags; with an init model, its model and objective
    wherever the config file names none of theirs (train.with_init)."""
    cfg, named = preset(args.preset or "entropy"), set()
    if args.config:
        try:
            override = json.loads(args.config.read_text(), parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{args.config}: not valid JSON ({exc})") from exc
        if not isinstance(override, dict):
            raise ConfigError(f"{args.config}: expected a JSON object")
        base = cfg.to_dict()
        named = set(override) | {f"model.{k}" for k in override.get("model", {})}
        override["model"] = {**base["model"], **override.get("model", {})}
        cfg = TrainConfig.from_dict({**base, **override})
    changes = {k: v for k, v in (("epochs", args.epochs), ("device", args.device), ("init", args.init)) if v is not None}
    cfg = dataclasses.replace(cfg, **changes).validate()
    if not cfg.init:
        return cfg
    from .train import with_init

    return with_init(cfg, named)


def _no_constant(name: str) -> float:
    # Python's json reads Infinity and NaN, which JSON itself does not have.
    raise ConfigError(f"{name} is not a JSON number; every value must be finite")


def _train(args) -> int:
    if args.run_id is not None:
        return _train_run(args)
    cfg = load_train_config(args)
    out = args.out or Path("out/train")
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(cfg.to_json())
    return _fit(cfg, out, args.resume)


def _train_run(args) -> int:
    """The app's path: the registry holds the config; events, heartbeat and the end status go back to it."""
    from .runs import Registry

    given = [f"--{name}" for name in ("config", "preset", "epochs", "device", "init", "out")
             if getattr(args, name) is not None]
    given += ["--resume"] if args.resume else []
    if given:
        raise ConfigError(f"--run-id takes everything from the run; drop {', '.join(given)}")
    registry = Registry(args.runs_dir)
    try:
        begun = registry.begin(args.run_id, os.getpid())
        if begun is None:
            print(f"run {args.run_id} was cancelled before it started", file=sys.stderr)
            return 1
        out, cfg = begun
        import torch

        from .train import SHARED_THREADS

        torch.set_num_threads(SHARED_THREADS)  # the app's runs share the machine with the studio
        with registry.writer(args.run_id) as writer:
            return _fit(cfg, out, (out / "last.safetensors").exists(), writer)
    finally:
        registry.schedule()  # this run's slot is free: start the next queued run


# Over 40 lines: its listener is the progress display for every event type, kept beside the run it listens to.
def _fit(cfg: TrainConfig, out: Path, resume: bool, listener=None) -> int:
    """Train with a progress bar (and another listener, if given); SIGTERM stops after a checkpoint."""
    from . import samples
    from .train import train

    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    lead = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 reports
    bar = tqdm(unit="step", dynamic_ncols=True, disable=not lead)
    from .runs import EventLog

    events = EventLog(out / "events.jsonl") if lead else None

    def listen(event: dict) -> None:
        if event["type"] == "samples":  # the arrays go to their own file; the event log keeps the bytes
            event = samples.save(out, event)
        if events is not None:
            events(event)
        if event["type"] == "start":
            bar.reset(total=event["total_steps"])
            bar.update(event["resumed_at"])
            bar.write(f"training on {event['device']}: {event['parameters']:,} parameters")
        elif event["type"] == "step":
            bar.update(1)
            # refresh=False: the bar redraws at its own pace (TQDM_MININTERVAL), not once a step into a log file
            bar.set_postfix(dec=f"{event['decompressor']:.4f}", comp=f"{event['compressor']:.4f}",
                            rate=f"{event['rate']:.1f}b", refresh=False)
        elif event["type"] == "epoch":
            bar.write(f"epoch {event['epoch']}: {event['psnr_db']:.2f} dB, {event['ideal_bytes_per_digit']:.2f} B ideal, "
                      f"{event.get('bytes_per_digit', float('nan')):.2f} B actual, "
                      f"idempotent {event.get('idempotent_fraction', float('nan')):.1%}, {event['seconds']:.1f} s")
        if listener is not None:
            listener(event)

    end = train(cfg, listen, out, resume=resume, stop=lambda: stop["now"], drawn=lambda: samples.drawn(out))
    bar.close()
    if events is not None:
        events.close()
    if lead:
        print(json.dumps(end))
    code = 0 if end["status"] == "done" else 1
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # Everything is written. Under torchrun, PyTorch's C++ teardown at interpreter exit aborted a rank about
        # one run in ten on a loaded 2-core machine ("terminate called without an active exception"), failing a
        # finished run; a barrier or freeing DDP first did not help. So skip that teardown.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _runs(args) -> int:
    from .runs import rebuild

    registry, added, aside = rebuild(args.runs_dir)
    if aside is not None:
        print(f"the unreadable registry was moved to {aside}")
    print(f"{len(added)} run folder(s) indexed; {len(registry.runs())} run(s) in {registry.db}")
    return 0


def _train_classifier(args) -> int:
    from .classifier import train as train_classifier

    with tqdm(total=args.epochs, desc="classifier", unit="epoch") as bar:
        def progress(epoch: int, accuracy: float) -> None:
            bar.update(1)
            bar.set_postfix(test=f"{accuracy:.4f}")
        accuracy = train_classifier(args.out, args.epochs, progress)
    print(f"test accuracy {accuracy:.4f}; saved {args.out}")
    return 0


def _fit_prior(args) -> int:
    from .fit_prior import fit_prior

    with ExitStack() as stack:
        bars: list[tqdm] = []

        def progress(digits: int) -> None:
            # Opened at the first step, so that a bad --model or --components prints its error and no empty bar.
            if not bars:
                bars.append(stack.enter_context(tqdm(total=60000, desc="encode training digits", unit="digit")))
            bars[0].update(digits)

        result = fit_prior(args.model, args.output, args.components, progress, args.encoder, args.rate_weight)
    print(json.dumps(result))
    return 0


def _compress(args) -> int:
    from .images import read_digits

    digits = read_digits(args.input)
    c = _load_codec(args)
    with tqdm(total=len(digits), desc="compress", unit="digit") as bar:
        symbols = c.symbols(digits, bar.update)
    archive = c.pack(symbols)
    args.output.write_bytes(archive)
    print(f"{len(digits)} digit(s) -> {len(archive)} bytes ({len(archive) / len(digits):.2f} B/digit with the header, "
          f"{c.ideal_bits(symbols).mean() / 8:.2f} B/digit ideal) with {c.name}")
    return 0


def _decompress(args) -> int:
    from . import bitstream, codec
    from .images import write_digits

    if args.output.suffix.lower() not in (".npy", ".png"):
        raise ValueError(f"{args.output}: the output must end in .npy or .png")
    data = args.input.read_bytes()
    count = bitstream.unpack(data).count
    if count > args.max_digits:
        raise BitstreamError(f"{args.input} claims {count:,} digits, more than --max-digits {args.max_digits:,}; "
                             "raise it to decode this archive")
    c, digits = codec.decode_archive(data)
    write_digits(args.output, digits)
    print(f"{len(digits)} digit(s) decoded with {c.name} -> {args.output}")
    return 0


def _bench_coder(args) -> int:
    from . import bench_coder

    rows = [bench_coder.compare(name, bench_coder.model_codes(name, args.limit, args.cache), args.timed)
            for name in args.models or bench_coder.entropy_models()]
    print(bench_coder.markdown(rows))
    return 0


def _bench(args) -> int:
    from . import bench

    if args.what == "train":
        cfg = load_train_config(args)
        result = bench.train_bench(cfg, args.target_db, args.max_bytes, args.budget)
        print(f"measured {result['wall_s']:.1f} s, estimated {result['estimate_s']:.1f} s "
              f"({result['estimate_s'] / result['wall_s']:.2f}x), load {result['load'][0]:.1f}", file=sys.stderr)
    else:
        with _percent_bar("bench") as progress:
            result = bench.codec_bench(progress, args.limit, args.refine, args.invert)
    text = json.dumps(result, indent=1)
    if args.output is not None:
        args.output.write_text(text)
    print(text)
    return 0


def _eval(args) -> int:
    from .classifier import load as load_classifier
    from .evaluate import digit_set, evaluate

    c = _load_codec(args)  # first, so that a bad option fails before MNIST is fetched or read
    digits, labels = digit_set(args.set, args.limit or None, args.labels)
    result = {"model": c.name, "set": args.set, **evaluate(c, digits, labels, load_classifier())}
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:24s} {value:.4f}" if isinstance(value, float) else f"{key:24s} {value}")
    return 0
