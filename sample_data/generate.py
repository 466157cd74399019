"""(Re)build the bundled sample datasets.

    python sample_data/generate.py                     # every dataset, into sample_data/generated/
    python sample_data/generate.py digits-audio        # only some
    python sample_data/generate.py --out /tmp/samples  # somewhere else

The app and the CLI build a missing sample on first use, so running this is
optional; it rebuilds even bundles that are up to date. The same seed always
gives the same files, byte for byte.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from fusion_core.errors import FusionExplorerError  # noqa: E402
from fusion_core.samples import DEFAULT_SEED, build_sample, list_samples, sample_builder, samples_dir  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    every = [info.name for info in list_samples()]
    parser = argparse.ArgumentParser(description="Rebuild Fusion Explorer's sample datasets.")
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"datasets to build (default: all of {', '.join(every)})",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help=f"folder to build into (default: {samples_dir()})"
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default: {DEFAULT_SEED})"
    )
    args = parser.parse_args(argv)

    names = args.names or every
    try:
        for name in names:
            sample_builder(name)
        started = time.perf_counter()
        for name in names:
            began = time.perf_counter()
            path = build_sample(name, args.out, seed=args.seed, force=True)
            print(f"{name:18s} {time.perf_counter() - began:5.1f} s  {path}")
    except FusionExplorerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"built {len(names)} dataset(s) in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
