"""``fusion-explorer analyze | lab``: looking inside a trained run, and the interaction lab.

``analyze``   re-creates a saved run's test data with its saved preprocessing and
              reports how much each modality contributes (masking and Shapley
              values), the gradient balance during training, the weights the
              method exposes, and the misclassified samples;
``robustness`` scores a saved run on its test samples as each modality gets
              noisier, goes missing for more samples, is corrupted (occlusion,
              word dropout, time masking) or attacked (FGSM, PGD), and sums
              each curve up in one robustness number;
``lab``       trains a few methods on synthetic two-modality data with a chosen
              kind of interaction (redundancy, uniqueness, synergy) and reads the
              scores in one line.

Results go to stdout (readable text, or one JSON document with ``--json``);
progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from fusion_core.cli.model_commands import _table
from fusion_core.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    analyze = subparsers.add_parser(
        "analyze",
        help="analyse a saved run: modality contributions, Shapley values, gradients, weights",
        description="Analyse a saved run on its test samples: how much each modality contributes "
        "(hiding it, and exact Shapley values for up to four modalities), whether one modality "
        "dominated training, the weights the fusion method exposes, and the misclassified samples.",
    )
    analyze.add_argument("--run", required=True, metavar="ID", help="the run id (see 'fusion-explorer runs')")
    analyze.add_argument(
        "--runs-dir", metavar="DIR", help="where runs are saved (default: $FUSION_EXPLORER_RUNS or ./runs)"
    )
    analyze.add_argument("--json", action="store_true", help="print one JSON document")
    analyze.add_argument("--no-tsne", action="store_true", help="skip the t-SNE projection (faster)")
    analyze.set_defaults(handler=run_analyze)

    robustness = subparsers.add_parser(
        "robustness",
        help="how a saved run holds up under noise, missing modalities, corruptions and attacks",
        description="Score a saved run (macro-F1 on its test samples; R² and RMSE for a regression run) as "
        "each modality gets Gaussian noise "
        "(in units of its training spread), goes missing for a growing share of samples, is corrupted "
        "(occlusion for images, word dropout for text, time masking for audio and series) or attacked "
        "(FGSM and PGD on the continuous inputs, per modality and all together). Each curve is summed up "
        "as its robustness: the area under the score-severity curve relative to the clean score (1.0: no loss).",
    )
    robustness.add_argument(
        "--run", required=True, metavar="ID", help="the run id (see 'fusion-explorer runs')"
    )
    robustness.add_argument(
        "--runs-dir", metavar="DIR", help="where runs are saved (default: $FUSION_EXPLORER_RUNS or ./runs)"
    )
    robustness.add_argument("--no-attack", action="store_true", help="skip FGSM and PGD (faster)")
    robustness.add_argument("--json", action="store_true", help="print one JSON document")
    robustness.set_defaults(handler=run_robustness)

    from fusion_core.analysis.interactions import DEFAULT_METHODS, PRESETS

    lab = subparsers.add_parser(
        "lab",
        help="train methods on synthetic data with a chosen kind of modality interaction",
        description="The interaction lab: synthetic two-modality data (A and B) whose label depends on them "
        "through redundancy, uniqueness or synergy; trains each method and reads the scores. Presets: "
        + "; ".join(f"{name}: {p.description}" for name, p in PRESETS.items()),
    )
    lab.add_argument("--preset", required=True, metavar="NAME", help=f"one of: {', '.join(PRESETS)}")
    lab.add_argument(
        "--methods",
        default=",".join(DEFAULT_METHODS),
        metavar="A,B,…",
        help=f"comma-separated methods to train (default: {','.join(DEFAULT_METHODS)})",
    )
    lab.add_argument("--epochs", type=int, default=20, metavar="N", help="epochs per method (default 20)")
    lab.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the data and the weights")
    lab.add_argument("--json", action="store_true", help="print one JSON document")
    lab.set_defaults(handler=run_lab_command)


def run_analyze(args: argparse.Namespace) -> int:
    from fusion_core.analysis.report import analyze_run
    from fusion_core.runs import RunStore

    run = RunStore(args.runs_dir).load(args.run)
    print(f"analysing run {args.run} ({run.method} on {run.dataset_name})…", file=sys.stderr, flush=True)
    report = analyze_run(run, tsne=not args.no_tsne)
    if args.json:
        print(json.dumps(_without_bulk(report), indent=2, default=_json_default))
        return 0
    print(analysis_text(report))
    return 0


def run_robustness(args: argparse.Namespace) -> int:
    from fusion_core.analysis.robustness import robustness_run
    from fusion_core.runs import RunStore

    run = RunStore(args.runs_dir).load(args.run)
    print(f"testing run {args.run} ({run.method} on {run.dataset_name})…", file=sys.stderr, flush=True)
    report = robustness_run(run, adversarial=not args.no_attack)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(robustness_text(report))
    return 0


def robustness_text(report: dict[str, Any]) -> str:
    """A readable summary of ``robustness_run``'s report: one table per kind of damage, then the scores."""
    run, score = report["run"], report["metric_name"]
    lines = [
        f"run {run['run_id'] or '(unsaved)'} · {run['label']} · {run['method']} on {run['dataset']}",
        f"clean {score} {report['clean_score']:.3f} on {report['test_samples']} test samples",
    ]
    if "clean_rmse" in report:
        lines[-1] += f" (RMSE {report['clean_rmse']:.4g} in the target's units)"
    for curve in report["curves"] + report["adversarial"]:
        lines += ["", f"{curve['title']} on {curve['modality']} ({curve['unit']})"]
        header = ["severity", *(f"{v:g}" for v in curve["levels"])]
        rows = [[score, *(f"{v:.3f}" for v in curve["score"])]]
        if "rmse" in curve:
            rows.append(["RMSE", *(f"{v:.4g}" for v in curve["rmse"])])
        lines.append(_indent(_table(rows, header)))
        lines.append(f"  robustness {curve['robustness']:.3f}")
    lines += [
        "",
        f"robustness per corruption (area under the {score}-severity curve / clean {score}; 1.0 = no loss)",
    ]
    lines.append(
        _indent(_table([[k, f"{v:.3f}"] for k, v in report["scores"].items()], ["corruption", "robustness"]))
    )
    lines += ["", "in short"] + [f"  - {note}" for note in report["notes"]]
    return "\n".join(lines)


def _without_bulk(report: dict[str, Any]) -> dict[str, Any]:
    """The report without per-sample arrays that only a plot needs (weights values, coordinates)."""
    slim = dict(report)
    weights = dict(report["weights"])
    weights["kinds"] = {
        k: {kk: vv for kk, vv in v.items() if kk != "values"} for k, v in weights["kinds"].items()
    }
    weights.pop("y_true", None)
    slim["weights"] = weights
    projection = report["projection"]
    slim["projection"] = {
        "available": projection.get("available", False),
        "dim": projection.get("dim"),
        "pca_explained": (projection.get("pca") or {}).get("explained"),
        "tsne": projection.get("tsne") is not None,
    }
    return slim


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def analysis_text(report: dict[str, Any]) -> str:
    """A readable summary of ``analyze_run``'s report."""
    run = report["run"]
    contribution = report["contribution"]
    regression = run.get("task") == "regression"
    score = "R²" if regression else "macro-F1"
    lines = [
        f"run {run['run_id'] or '(unsaved)'} · {run['label']} · {run['method']} on {run['dataset']}",
        f"test R² {run['r2']:.3f} on {run['test_samples']} samples"
        if regression
        else f"test macro-F1 {run['macro_f1']:.3f} on {run['test_samples']} samples "
        f"({run['misclassified']} misclassified)",
        "",
        f"modality contribution ({score} on the test split)",
    ]
    rows = [
        [
            name,
            f"{contribution['alone'][name]:.3f}",
            f"{contribution['without'][name]:.3f}",
            f"{contribution['drop'][name]:+.3f}",
            f"{contribution['shapley'][name]:.3f}" if contribution.get("shapley") else "n/a",
        ]
        for name in contribution["modalities"]
    ]
    lines.append(_table(rows, ["modality", "alone", "without it", "drop", "Shapley"]))
    lines.append(
        f"all present {contribution['full']:.3f} · none present {contribution['empty']:.3f}"
        + (
            f" · Shapley values sum to {sum(contribution['shapley'].values()):.3f}"
            if contribution.get("shapley")
            else ""
        )
    )
    if contribution.get("shapley_note"):
        lines.append(contribution["shapley_note"])
    lines += ["", "gradients during training"]
    gradients = report["gradients"]
    if gradients["mean"]:
        lines.append(
            "  mean gradient norm: "
            + ", ".join(f"{name} {value:.3g}" for name, value in gradients["mean"].items())
        )
    lines.append("  " + gradients["note"])
    if gradients["recommendation"]:
        lines.append("  " + gradients["recommendation"])
    if regression:
        lines += ["", "error with only these modalities (RMSE, in the target's units)"]
        lines.append(
            _indent(_table([[k, f"{v:.4g}"] for k, v in report["subset_errors"].items()], ["shown", "RMSE"]))
        )
        lines += ["", "in short"] + [f"  - {note}" for note in report["summary"]]
        return "\n".join(lines)
    lines += ["", "weights the method exposes"]
    weights = report["weights"]
    for key, kind in weights["kinds"].items():
        header = ["class", *kind["columns"]]
        body = [
            ["all", *(_mean(kind["overall"][c]) for c in kind["columns"])],
            *(
                [str(cls), *(_mean(kind["by_class"][cls][c]) for c in kind["columns"])]
                for cls in weights["class_names"]
            ),
        ]
        lines.append(f"  {key} (mean per true class)")
        lines.append(_indent(_table(body, header)))
    lines.append("  " + weights["note"])
    lines += ["", "in short"]
    lines += [f"  - {note}" for note in report["summary"]]
    wrong = report["misclassified"]
    if wrong:
        lines += ["", "most confident mistakes"]
        lines.append(
            _indent(
                _table(
                    [[w["id"], w["true"], w["predicted"], f"{w['confidence']:.2f}"] for w in wrong[:10]],
                    ["id", "true", "predicted", "confidence"],
                )
            )
        )
    return "\n".join(lines)


def run_lab_command(args: argparse.Namespace) -> int:
    from fusion_core.analysis.interactions import preset, run_lab

    chosen = preset(args.preset)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise ConfigError("--methods needs at least one method, e.g. --methods only:A,only:B,concat")
    if args.epochs < 1:
        raise ConfigError(f"--epochs must be at least 1, got {args.epochs}")

    def announce(done: int, total: int, method: str) -> None:
        print(f"[{done + 1}/{total}] training {method}…", file=sys.stderr, flush=True)

    result = run_lab(chosen, methods, epochs=args.epochs, seed=args.seed, on_method=announce)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    print(f"{chosen.title}: {chosen.description}")
    print()
    print(
        _table(
            [[m, f"{result.macro_f1[m]:.3f}", f"{result.seconds[m]:.1f} s"] for m in result.macro_f1],
            ["method", "macro-F1", "time"],
        )
    )
    print()
    print(f"reading:  {result.reading}")
    print(f"expected: {chosen.expected}")
    return 0


def _mean(stats: dict[str, Any]) -> str:
    return "n/a" if stats.get("mean") is None else f"{stats['mean']:.3f}"


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
