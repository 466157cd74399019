"""Is the default comparison strong? Best neural fusion against the classical baselines, per dataset.

For every bundled sample and for a two-view synthetic table, runs the default
``compare`` (every method, one seed, the default training budget) and prints the
best neural fusion method, the best classical ``sk:`` baseline row, the best
single modality (``only:``) and the wall time, by macro-F1 (R² for a regression
sample). Goals: on every sample the best
neural fusion scores at least the best ``sk:`` row; on the two-view table it
reaches 0.93 macro-F1 with the defaults and 0.95 with ``--tune 20``.

The two-view table is scikit-learn's ``make_classification`` with 5,000 rows,
40 features split 20/20 into two views, 4 classes, 2 clusters per class,
``class_sep=1.0`` and ``random_state=0``. Its number of informative features is
not fixed by that description; we use 38, the most the other defaults allow
(40 features less ``n_redundant=2``), so that no column is pure noise.

    .venv/bin/python bench/bench_quality.py                 # samples, two-view defaults and tuned
    .venv/bin/python bench/bench_quality.py --only two-view --tune 20 --tune-methods early,concat
    .venv/bin/python bench/bench_quality.py --skip-tune --save results/   # and every row as JSON
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from fusion_core.config import DataConfig
from fusion_core.experiment import BASELINE_PREFIX, compare
from fusion_core.runs import RunStore
from fusion_core.samples import list_samples

CLASSICAL_PREFIX = "sk:"
TWO_VIEW = "two-view"
TWO_VIEW_DEFAULT_GOAL = 0.93
TWO_VIEW_TUNED_GOAL = 0.95


def write_two_view(folder: Path) -> Path:
    """The two-view synthetic table as a bundle: manifest.csv and a schema with views of 20 columns."""
    from sklearn.datasets import make_classification

    features, labels = make_classification(
        n_samples=5000,
        n_features=40,
        n_informative=38,
        n_classes=4,
        n_clusters_per_class=2,
        class_sep=1.0,
        random_state=0,
    )
    folder.mkdir(parents=True, exist_ok=True)
    columns = [f"f{i:02d}" for i in range(40)]
    table = pd.DataFrame(np.round(features, 6), columns=columns)
    table.insert(0, "id", [f"row{i:04d}" for i in range(len(labels))])
    table["label"] = [f"class_{k}" for k in labels]
    table.to_csv(folder / "manifest.csv", index=False)
    views = {"view_a": columns[:20], "view_b": columns[20:]}
    schema = {"modalities": {name: {"type": "tabular", "columns": cols} for name, cols in views.items()}}
    (folder / "schema.json").write_text(json.dumps(schema, indent=2))
    return folder


def best(rows: list[dict], keep) -> tuple[str, float] | None:
    """The best row that ``keep`` accepts, by the task's main score (macro-F1, or R² for a number)."""
    found = [(row["method"], row[f"{row['metric']}_mean"]) for row in rows if keep(row["method"])]
    return max(found, key=lambda item: item[1]) if found else None


def is_neural_fusion(method: str) -> bool:
    return not method.startswith((BASELINE_PREFIX, CLASSICAL_PREFIX))


def measure(source: str, runs_root: str, *, methods: str = "all", tune: int = 0) -> dict:
    started = time.perf_counter()
    comparison = compare(DataConfig(source=source), methods, tune=tune, store=RunStore(runs_root))
    seconds = time.perf_counter() - started
    everything = comparison.to_dict()
    rows = everything["methods"]
    return {
        "comparison": everything,
        "fusion": best(rows, is_neural_fusion),
        "classical": best(rows, lambda m: m.startswith(CLASSICAL_PREFIX)),
        "unimodal": best(rows, lambda m: m.startswith(BASELINE_PREFIX)),
        "seconds": seconds,
        "metric": rows[0]["metric"] if rows else "macro_f1",
        "skipped": [f"{p.method} ({p.status})" for p in comparison.problems],
    }


def cell(found: tuple[str, float] | None, metric: str = "macro_f1") -> str:
    unit = " R²" if metric == "r2" else ""
    return "n/a" if found is None else f"{found[1]:.3f}{unit} {found[0]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", metavar="NAME", help="one sample name, or 'two-view'")
    parser.add_argument("--tune", type=int, default=20, metavar="N", help="trials of the tuned two-view run")
    parser.add_argument("--tune-methods", default="all", metavar="A,B", help="methods of the tuned run")
    parser.add_argument("--skip-tune", action="store_true", help="leave out the tuned two-view run")
    parser.add_argument("--save", metavar="DIR", help="also write each comparison's JSON (every row) there")
    args = parser.parse_args()

    cases = [info.name for info in list_samples()] + [TWO_VIEW]
    if args.only:
        cases = [name for name in cases if name == args.only]
    header = f"{'dataset':<22} {'best neural fusion':<24} {'best sk: row':<34} {'best unimodal':<26} {'time':>7}  goal"
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as scratch:
        runs = str(Path(scratch) / "runs")
        for name in cases:
            source = str(write_two_view(Path(scratch) / TWO_VIEW)) if name == TWO_VIEW else name
            result = measure(source, runs)
            report(name, result, two_view_goal=TWO_VIEW_DEFAULT_GOAL if name == TWO_VIEW else None)
            save(args.save, name, result)
            if name == TWO_VIEW and not args.skip_tune and args.tune > 0:
                tuned = measure(source, runs, methods=args.tune_methods, tune=args.tune)
                report(f"{name} --tune {args.tune}", tuned, two_view_goal=TWO_VIEW_TUNED_GOAL)
                save(args.save, f"{name}-tune-{args.tune}", tuned)


def save(folder: str | None, name: str, result: dict) -> None:
    if folder is not None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"{name}.json").write_text(json.dumps(result["comparison"], indent=2, default=str))


def report(name: str, result: dict, *, two_view_goal: float | None) -> None:
    fusion, classical = result["fusion"], result["classical"]
    if two_view_goal is not None:
        verdict = f"≥ {two_view_goal}: {'met' if fusion and fusion[1] >= two_view_goal else 'NOT met'}"
    elif classical is None:
        verdict = "fusion ≥ sk: n/a (no sk: rows)"
    else:
        verdict = f"fusion ≥ sk: {'met' if fusion and fusion[1] >= classical[1] else 'NOT met'}"
    print(
        f"{name:<22} {cell(fusion, result['metric']):<24} {cell(classical, result['metric']):<34} "
        f"{cell(result['unimodal'], result['metric']):<26} "
        f"{result['seconds']:6.1f}s  {verdict}",
        flush=True,
    )
    if result["skipped"]:
        print(f"{'':<22} skipped or failed: {', '.join(result['skipped'])}", flush=True)


if __name__ == "__main__":
    main()
