"""``fusion-explorer methods | train | compare | runs``: models from the command line.

``methods``   the fusion methods and encoders there are to choose from;
``train``     train one model on a dataset, print its test metrics, save it as a run;
``compare``   train several methods on identical splits and seeds, print a ranking;
``runs``      list the saved runs.

Results go to stdout (a readable table, or one JSON document with ``--json``);
progress goes to stderr so that it never mixes with what a script reads.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fusion_core.baselines import BASELINE_CHOICES, DEFAULT_BASELINES
from fusion_core.config import (
    IMBALANCE_REMEDIES,
    REMEDY_HELP,
    SCHEDULES,
    DataConfig,
    EncoderConfig,
    ExperimentConfig,
    ModelConfig,
    TrainConfig,
)
from fusion_core.data.types import MAIN_METRIC, METRIC_NAMES
from fusion_core.device import DEVICE_CHOICES
from fusion_core.errors import ConfigError
from fusion_core.executors import EXECUTORS, RAY_ADDRESS_ENV, make_executor

PREVIEW_ROWS = 10


def register(subparsers: argparse._SubParsersAction) -> None:
    methods = subparsers.add_parser(
        "methods",
        help="list the fusion methods and encoders",
        description="List the fusion methods (with their level and a one-line summary) and the encoders.",
    )
    methods.add_argument("--json", action="store_true", help="print one JSON document")
    methods.set_defaults(handler=run_methods)

    train = subparsers.add_parser(
        "train",
        help="train one fusion model and save it as a run",
        description="Train one fusion model on a dataset, print its test metrics and save it as a run.",
    )
    train.add_argument(
        "--data",
        metavar="PATH|NAME",
        help="a bundle (zip or folder) or a sample dataset name (with --config: use this data instead)",
    )
    train.add_argument(
        "--config",
        metavar="FILE",
        help="repeat a run: its configuration JSON ('fusion-explorer runs show ID > run-config.json'); "
        "--data, --epochs, --seed and --device override it",
    )
    train.add_argument("--fusion", metavar="NAME", help="fusion method, or only:<modality>")
    train.add_argument(
        "--encoder",
        action="append",
        default=[],
        metavar="MODALITY=ENCODER",
        help="encoder for one modality (repeatable); others get the default for their input form",
    )
    train.add_argument(
        "--fusion-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of the fusion method (repeatable); see 'fusion-explorer methods'",
    )
    _add_training_arguments(train)
    train.add_argument("--batch-size", type=int, metavar="N", help="samples per training step")
    train.add_argument("--lr", type=float, metavar="F", help="learning rate")
    train.add_argument("--seed", type=int, metavar="N", help="seed of the weights and the batch order")
    train.set_defaults(handler=run_train)

    compare = subparsers.add_parser(
        "compare",
        help="compare fusion methods on identical splits and seeds",
        description="Train several fusion methods on identical splits with the same seeds and rank them "
        "by test macro-F1, with the gain over the best single-modality baseline.",
    )
    _add_data_argument(compare)
    compare.add_argument(
        "--methods", default="all", metavar="all|A,B,…", help="'all' or comma-separated method names"
    )
    compare.add_argument("--seeds", type=int, default=1, metavar="N", help="seeds per method (default 1)")
    compare.add_argument("--folds", type=int, metavar="K", help="stratified K-fold cross-validation")
    compare.add_argument(
        "--baselines",
        choices=BASELINE_CHOICES,
        metavar="|".join(BASELINE_CHOICES),
        help=f"classical sk: rows to add on the same splits and seeds (default {DEFAULT_BASELINES} with "
        "--methods all, none with a list); see 'fusion-explorer methods'",
    )
    compare.add_argument(
        "--tune",
        type=int,
        default=0,
        metavar="N",
        help="first search each method's learning rate, weight decay, width, depth, dropout, schedule and "
        "patience for N Optuna trials on the validation split, then train the best setting on every seed (default 0: no tuning)",
    )
    compare.add_argument(
        "--executor",
        choices=EXECUTORS,
        help="where the runs train: in this process one after another, or as tasks on a Ray cluster "
        f"(default: ray when ${RAY_ADDRESS_ENV} is set, else inprocess)",
    )
    compare.add_argument(
        "--address",
        metavar="ADDR",
        help="the Ray cluster to use with --executor ray ('auto', HOST:PORT; default: a local one)",
    )
    _add_training_arguments(compare)
    compare.set_defaults(handler=run_compare)

    runs = subparsers.add_parser(
        "runs",
        help="list the saved runs, or show one run's configuration",
        description="List the saved runs, newest first; 'runs show ID' prints a run's configuration JSON, "
        "which 'train --config' repeats.",
    )
    runs.add_argument(
        "--runs-dir", metavar="DIR", help="run registry folder (default $FUSION_EXPLORER_RUNS or ./runs)"
    )
    runs.add_argument("--dataset", metavar="NAME", help="only the runs on this dataset")
    runs.add_argument("--json", action="store_true", help="print one JSON list")
    runs.set_defaults(handler=run_runs)
    runs_commands = runs.add_subparsers(dest="runs_command", metavar="show")
    show = runs_commands.add_parser(
        "show",
        help="print a run's configuration JSON (every option; 'train --config' repeats it)",
        description="Print a run's configuration JSON: every preprocessing, encoder, fusion and training "
        "option. Save it and repeat the run with: fusion-explorer train --config FILE",
    )
    show.add_argument("run_id", metavar="ID", help="the run id (see 'fusion-explorer runs')")
    show.add_argument("--runs-dir", metavar="DIR", default=argparse.SUPPRESS, help="run registry folder")
    show.set_defaults(handler=run_runs_show)

    predict = subparsers.add_parser(
        "predict",
        help="predict new samples with a saved run",
        description="Predict new samples (a bundle, a CSV table or per-modality files, labelled or not) "
        "with a saved run, using its saved preprocessing. One row per sample: id, predicted class, a "
        "probability per class and which modalities were present.",
    )
    predict.add_argument("--run", required=True, metavar="ID", help="the run id (see 'fusion-explorer runs')")
    predict.add_argument(
        "--data",
        required=True,
        nargs="+",
        metavar="PATH",
        help="a bundle (zip or folder), a CSV table, or several per-modality files paired by id",
    )
    predict.add_argument("--out", metavar="FILE", help="write the predictions to this CSV file")
    predict.add_argument("--runs-dir", metavar="DIR", help="run registry folder")
    predict.add_argument("--json", action="store_true", help="print one JSON document")
    predict.set_defaults(handler=run_predict)

    export = subparsers.add_parser(
        "export",
        help="export a run as a zip (or its network as ONNX)",
        description="Write a run as one zip (configuration, weights as a state dict, fitted preprocessing, "
        "metrics, predictions and a Markdown model card; no pickle), and/or its network as an ONNX file.",
    )
    export.add_argument("--run", required=True, metavar="ID", help="the run id (see 'fusion-explorer runs')")
    export.add_argument("--out", metavar="FILE.zip", help="write the run zip here")
    export.add_argument(
        "--onnx", metavar="FILE.onnx", help="write the network here as ONNX (needs the [onnx] extra)"
    )
    export.add_argument("--runs-dir", metavar="DIR", help="run registry folder")
    export.set_defaults(handler=run_export)

    import_ = subparsers.add_parser(
        "import",
        help="import a run zip made by 'export'",
        description="Check a run zip completely (file names, sizes, no pickled code, weights that fit the "
        "model its configuration builds) and add it to the run registry.",
    )
    import_.add_argument("zip", metavar="FILE.zip", help="a run zip made by 'fusion-explorer export'")
    import_.add_argument("--runs-dir", metavar="DIR", help="run registry folder")
    import_.set_defaults(handler=run_import)


def _add_data_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", required=True, metavar="PATH|NAME", help="a bundle (zip or folder) or a sample dataset name"
    )


def _add_training_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--epochs",
        type=int,
        metavar="N",
        help=f"the cap on epochs; training stops sooner when validation macro-F1 stops improving "
        f"(default {TrainConfig.epochs})",
    )
    parser.add_argument(
        "--patience",
        type=int,
        metavar="N",
        help=f"stop after N epochs without a gain in validation macro-F1 (default {TrainConfig.patience})",
    )
    parser.add_argument(
        "--time-budget",
        type=float,
        metavar="SECONDS",
        help="stop each training run after this many seconds (default: no limit)",
    )
    parser.add_argument(
        "--schedule",
        choices=SCHEDULES,
        help=f"learning-rate schedule (default {TrainConfig.schedule})",
    )
    parser.add_argument(
        "--average-weights",
        type=float,
        metavar="EPOCHS",
        help="score and keep a running average of the weights with this half-life in epochs; 0 turns "
        f"it off (default {TrainConfig.average_weights:g})",
    )
    parser.add_argument(
        "--device", choices=DEVICE_CHOICES, default="auto", help="where to train (default auto)"
    )
    parser.add_argument(
        "--runs-dir", metavar="DIR", help="run registry folder (default $FUSION_EXPLORER_RUNS or ./runs)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    remedies = parser.add_argument_group(
        "modality imbalance remedies",
        "when one modality dominates training (the insight panel's gradient note), the others stop "
        "learning; these options push back",
    )
    remedies.add_argument(
        "--imbalance",
        choices=IMBALANCE_REMEDIES,
        help="; ".join(f"{name}: {text}" for name, text in REMEDY_HELP.items())
        + f" (default {TrainConfig.imbalance})",
    )
    remedies.add_argument(
        "--ogm-alpha",
        type=float,
        metavar="F",
        help=f"OGM-GE strength: the dominant modality's gradient is scaled by 1 - tanh(alpha·(ratio - 1)) "
        f"(default {TrainConfig.ogm_alpha})",
    )
    remedies.add_argument(
        "--modality-dropout",
        type=float,
        metavar="P",
        help="chance of hiding each modality of a training sample, so the model cannot lean on one "
        f"alone (default {TrainConfig.modality_dropout})",
    )


# -----------------------------------------------------------------------------
# methods


def run_methods(args: argparse.Namespace) -> int:
    from fusion_core.baselines import describe_baselines
    from fusion_core.encoders import ENCODERS
    from fusion_core.fusion import FUSIONS
    from fusion_core.modalities import MODALITIES

    fusions = [
        {
            "name": f"{name}:<modality>" if cls.per_modality_baseline else name,
            "title": cls.title,
            "level": cls.level,
            "summary": cls.summary,
        }
        for name, cls in FUSIONS.items()
    ]
    encoders = [
        {
            "name": name,
            "title": cls.title,
            "forms": sorted(cls.accepts),
            "modality_types": sorted(
                {t for t in MODALITIES.names() if set(MODALITIES.get(t).forms) & set(cls.accepts)}
            ),
            "summary": cls.summary,
        }
        for name, cls in ENCODERS.items()
    ]
    baselines = describe_baselines()
    if args.json:
        print(json.dumps({"fusion_methods": fusions, "encoders": encoders, "baselines": baselines}, indent=2))
        return 0
    print("Fusion methods (use with --fusion)")
    print(_table([[f["name"], f["level"], f["summary"]] for f in fusions], ["name", "level", "summary"]))
    print()
    print(
        "Classical baselines (scikit-learn on per-modality feature vectors; use with --fusion or "
        f"compare --baselines {'|'.join(BASELINE_CHOICES)})"
    )
    print(_table([[b["name"], b["summary"]] for b in baselines], ["name", "summary"]))
    print()
    print("Encoders (use with --encoder MODALITY=ENCODER)")
    rows = [
        [e["name"], ", ".join(e["forms"]), ", ".join(e["modality_types"]), e["summary"]] for e in encoders
    ]
    print(_table(rows, ["name", "forms", "modality types", "summary"]))
    return 0


# -----------------------------------------------------------------------------
# train


def run_train(args: argparse.Namespace) -> int:
    from fusion_core.baselines import is_baseline_method
    from fusion_core.data import load_dataset
    from fusion_core.encoders import ENCODERS
    from fusion_core.fusion import FUSIONS, available_methods, split_method
    from fusion_core.modalities import prepare
    from fusion_core.options import check_options

    if args.config:
        config = _config_from_file(args)
        dataset = load_dataset(config.data.source)
        return _train_and_report(args, config, prepare(dataset, config.data))
    if not args.data or not args.fusion:
        raise ConfigError(
            "train needs --data and --fusion (e.g. --data digits-audio --fusion concat), or --config FILE "
            "to repeat a saved run"
        )
    encoders = parse_pairs(args.encoder, "--encoder", "MODALITY=ENCODER")
    fusion_options = parse_pairs(args.fusion_option, "--fusion-option", "KEY=VALUE")
    source = _source(args.data)
    dataset = load_dataset(source)
    if is_baseline_method(args.fusion):
        return _train_baseline(args, dataset, source)
    methods = available_methods(list(dataset.modalities))
    if args.fusion not in methods:
        raise ConfigError(f"unknown fusion method {args.fusion!r}; choose one of: {', '.join(methods)}")
    fusion_class = FUSIONS.get(split_method(args.fusion)[0])
    fusion_options = check_options(fusion_class, fusion_options, f"fusion {args.fusion!r}")
    for modality, encoder in encoders.items():
        if modality not in dataset.modalities:
            raise ConfigError(
                f"--encoder names modality {modality!r}, which this dataset does not have; "
                f"its modalities are: {', '.join(dataset.modalities)}"
            )
        ENCODERS.get(encoder)  # unknown names fail here, listing the encoders

    config = ExperimentConfig(
        data=DataConfig(source=source),
        model=ModelConfig(
            fusion=args.fusion,
            fusion_options=fusion_options,
            encoders={modality: EncoderConfig(name) for modality, name in encoders.items()},
        ),
        train=_train_config(args),
    )
    return _train_and_report(args, config, prepare(dataset, config.data))


def _train_and_report(args: argparse.Namespace, config: ExperimentConfig, prepared: Any) -> int:
    from fusion_core.distributed import process_group
    from fusion_core.experiment import run_experiment
    from fusion_core.modalities.pipeline import data_path
    from fusion_core.runs import RunStore

    with process_group() as rank:  # several processes when started by torchrun; rank 0 saves and prints
        progress = None if args.json or rank else _print_epoch(config.train.epochs)
        store = None if rank else RunStore(args.runs_dir)
        result = run_experiment(config, prepared=prepared, store=store, on_epoch=progress)
    if rank:
        return 0
    used_encoders = {
        name: getattr(enc, "name", type(enc).__name__) for name, enc in result.model.encoders.items()
    }
    if args.json:
        print(
            json.dumps(
                _train_json(result, args.data, used_encoders) | {"data_path": data_path(prepared)}, indent=2
            )
        )
        return 0
    print(_train_report(result, used_encoders, args.runs_dir))
    print(f"data: {data_path(prepared)}")
    return 0


def _config_from_file(args: argparse.Namespace) -> ExperimentConfig:
    """The configuration in ``--config``, with --data and the training flags given applied."""
    from dataclasses import replace

    mixed = [flag for flag, value in (("--fusion", args.fusion), ("--encoder", args.encoder),
             ("--fusion-option", args.fusion_option)) if value]  # fmt: skip
    if mixed:
        raise ConfigError(f"{mixed[0]} cannot be combined with --config; edit the configuration file instead")
    path = Path(args.config).expanduser()
    try:
        config = ExperimentConfig.from_json(path.read_text(encoding="utf-8"))
    except (ValueError, TypeError, AttributeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(
            f"{path.name} is not a run configuration ({reason}); save one with "
            "'fusion-explorer runs show ID > run-config.json'"
        ) from None
    given = {"epochs": args.epochs, "seed": args.seed, "batch_size": args.batch_size, "lr": args.lr}
    given |= {"patience": args.patience, "time_budget": args.time_budget, "schedule": args.schedule}
    given["average_weights"] = args.average_weights
    if args.device != "auto":
        given["device"] = args.device
    train = replace(config.train, **{key: value for key, value in given.items() if value is not None})
    data = replace(config.data, source=_source(args.data)) if args.data else config.data
    return replace(config, data=data, train=train)


def _train_baseline(args: argparse.Namespace, dataset: Any, source: str) -> int:
    """``train --fusion sk:…``: fit one classical baseline and save it as a run."""
    from fusion_core.baselines import parse_baseline
    from fusion_core.experiment import run_experiment
    from fusion_core.runs import RunStore

    parse_baseline(args.fusion, list(dataset.modalities))
    if args.encoder or args.fusion_option:
        raise ConfigError("an sk: baseline takes no --encoder or --fusion-option; leave them out")
    config = ExperimentConfig(
        data=DataConfig(source=source), model=ModelConfig(fusion=args.fusion), train=_train_config(args)
    )
    result = run_experiment(config, dataset=dataset, store=RunStore(args.runs_dir))
    if args.json:
        print(json.dumps(_train_json(result, args.data, {}), indent=2))
        return 0
    print(_train_report(result, {}, args.runs_dir))
    return 0


def _train_config(args: argparse.Namespace) -> TrainConfig:
    given = {"epochs": args.epochs, "device": args.device}
    for name in (
        "batch_size",
        "lr",
        "seed",
        "patience",
        "time_budget",
        "schedule",
        "average_weights",
        "imbalance",
        "ogm_alpha",
        "modality_dropout",
    ):
        given[name] = getattr(args, name, None)
    return TrainConfig(**{key: value for key, value in given.items() if value is not None})


def _train_json(result: Any, data: str, encoders: dict[str, str]) -> dict[str, Any]:
    from dataclasses import asdict

    from fusion_core.training import budget_rule

    return {
        "run_id": result.run_id,
        "label": result.label,
        "data": data,
        "dataset": result.dataset_name,
        "fusion": result.method,
        "encoders": encoders,
        "metrics": result.metrics,
        "task": result.task,
        "confusion_matrix": result.metrics.get("confusion_matrix"),
        "class_names": result.class_names,
        "history": [asdict(log) for log in result.history],
        "params": result.params,
        "train_seconds": result.train_seconds,
        "epochs_run": result.epochs_run,
        "stopped": result.stopped,
        "stopped_because": explain_stop(result),
        "budget": budget_rule(result.config.train, result.task),
        "device": result.device,
    }


def _train_report(result: Any, encoders: dict[str, str], runs_dir: str | None) -> str:
    m = result.metrics
    if result.task == "regression":
        lines = [
            f"{result.method} on {result.dataset_name}: {result.epochs_run} epochs, "
            f"{result.train_seconds:.1f} s on {result.device}, {result.params:,} parameters",
            explain_stop(result),
            "",
            "test metrics (regression, in the target's units)",
            _table(
                [["R²", _num(m["r2"])], ["MAE", _num(m["mae"])], ["RMSE", _num(m["rmse"])]],
                ["metric", "value"],
            ),
            "",
            f"run id: {result.run_id}",
        ]
        return "\n".join(lines)
    lines = [
        f"{result.method} on {result.dataset_name}: {result.epochs_run} epochs, "
        f"{result.train_seconds:.1f} s on {result.device}, {result.params:,} parameters",
        explain_stop(result),
        "encoders: "
        + (", ".join(f"{name}={enc}" for name, enc in encoders.items()) or "none (sk: baseline)"),
        "",
        "test metrics",
        _table(
            [
                ["accuracy", _num(m["accuracy"])],
                ["macro F1", _num(m["macro_f1"])],
                ["weighted F1", _num(m["weighted_f1"])],
                ["precision (macro)", _num(m["precision"])],
                ["recall (macro)", _num(m["recall"])],
                ["ROC-AUC (one-vs-rest)", _num(m["roc_auc"])],
            ],
            ["metric", "value"],
        ),
        "",
        "per class",
        _table(
            [
                [name, _num(c["precision"]), _num(c["recall"]), _num(c["f1"]), str(c["support"])]
                for name, c in m["per_class"].items()
            ],
            ["class", "precision", "recall", "F1", "support"],
        ),
        "",
        "confusion matrix (rows: true class, columns: predicted class)",
        _table(
            [
                [name, *map(str, row)]
                for name, row in zip(result.class_names, m["confusion_matrix"], strict=True)
            ],
            ["", *result.class_names],
        ),
        "",
        f"run id: {result.run_id}",
    ]
    if result.model is not None:
        lines.append(
            f"analyse it: fusion-explorer analyze --run {result.run_id}"
            + (f" --runs-dir {runs_dir}" if runs_dir else "")
        )
    return "\n".join(lines)


# -----------------------------------------------------------------------------
# compare


def run_compare(args: argparse.Namespace) -> int:
    from fusion_core.experiment import compare
    from fusion_core.runs import RunStore

    def announce(result: Any, index: int, total: int) -> None:
        stopped = result.stopped.replace("_", " ")
        work = "fitted" if result.model is None else f"{result.epochs_run} epochs ({stopped})"
        metric = MAIN_METRIC[result.task]
        print(
            f"[{index}/{total}] {result.label}: {METRIC_NAMES[metric]} {result.metrics[metric]:.3f}, {work}, "
            f"{result.train_seconds:.1f} s",
            file=sys.stderr,
            flush=True,
        )

    def warn(problem: Any) -> None:
        print(f"{problem.method} {problem.status}: {problem.reason}", file=sys.stderr, flush=True)

    def trial(method: str, number: int, value: float | None) -> None:
        score = "failed" if value is None else f"val macro-F1 {value:.3f}"
        print(f"tuning {method}: trial {number + 1}/{args.tune} {score}", file=sys.stderr, flush=True)

    train = _train_config(args)
    comparison = compare(
        DataConfig(source=_source(args.data)),
        args.methods,
        seeds=args.seeds,
        folds=args.folds,
        baselines=args.baselines,
        train=train,
        tune=args.tune,
        store=RunStore(args.runs_dir),
        on_run=None if args.json else announce,
        on_problem=None if args.json else warn,
        on_trial=None if args.json else trial,
        executor=make_executor(args.executor, args.address),
    )
    report = comparison.to_dict()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(_compare_report(report, args))
    return 0


def _compare_report(report: dict[str, Any], args: argparse.Namespace) -> str:
    from fusion_core.stats import format_difference

    rows = report["methods"]
    runs = sum(row["runs"] for row in rows)
    name = report["dataset"] or args.data
    splits = f"{args.folds} folds" if args.folds else "one split"
    tuned = f", each method tuned for {args.tune} trials" if args.tune else ""
    lines = [
        f"{name}: {runs} runs ({splits}, {args.seeds} seed{'s' if args.seeds > 1 else ''} per method{tuned})",
        f"budget: {report['budget']}",
        _table(
            [
                [
                    row["method"],
                    f"{row[row['metric'] + '_mean']:.3f} ± {row[row['metric'] + '_std']:.3f}",
                    _num(row.get("accuracy_mean", row.get("rmse_mean"))),
                    f"{row['params']:,}",
                    f"{row['train_seconds_mean']:.1f}",
                    f"{row['epochs_mean']:.0f}",
                    format_difference(row["vs_best_unimodal"]),
                    format_difference(row["vs_best"]),
                ]
                for row in rows
            ]
            + [[p["method"], p["status"], "", "", "", "", p["reason"], ""] for p in report["problems"]],
            [
                "method",
                f"{METRIC_NAMES[rows[0]['metric']] if rows else 'macro-F1'} (mean ± std)",
                "RMSE" if rows and rows[0]["metric"] == "r2" else "accuracy",
                "parameters",
                "train s",
                "epochs",
                "vs best unimodal [95% CI]",
                "vs best [95% CI]",
            ],
        ),
        "* the 95% interval of the paired difference excludes zero (paired bootstrap over seeds/folds and test rows)",
    ]
    if report["verdict"]:
        lines += ["", report["verdict"]]
    if report["tuning"]:
        score = METRIC_NAMES[report["tuning"][0]["metric"]]
        lines += ["", f"tuning (best validation {score} so far, by trial)"]
        lines.append(
            _table(
                [
                    [
                        study["method"],
                        _num(study["best_val_macro_f1"]),
                        " ".join("-" if v is None else f"{v:.3f}" for v in study["best_so_far"]),
                        ", ".join(f"{k}={_param(v)}" for k, v in study["best_params"].items()),
                    ]
                    for study in report["tuning"]
                ],
                ["method", "best val", "best so far by trial", "best setting"],
            )
        )
    return "\n".join(lines)


def _param(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


# -----------------------------------------------------------------------------
# runs


def run_runs(args: argparse.Namespace) -> int:
    from fusion_core.runs import RunStore

    store = RunStore(args.runs_dir)
    rows = store.list(dataset=args.dataset)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(
            f"no saved runs in {store.root}; train one with: fusion-explorer train --data NAME --fusion concat"
        )
        return 0
    print(
        _table(
            [
                [
                    r["run_id"],
                    r["label"],
                    r["dataset"],
                    r["method"],
                    _num(r["macro_f1"]),
                    _num(r["accuracy"]),
                    str(r["epochs_run"]),
                    r["created"],
                ]
                for r in rows
            ],
            ["run id", "label", "dataset", "method", "macro-F1", "accuracy", "epochs", "created"],
        )
    )
    return 0


def run_runs_show(args: argparse.Namespace) -> int:
    from fusion_core.runs import RunStore

    store = RunStore(args.runs_dir)
    print(store.load(args.run_id).config.to_json())
    return 0


# -----------------------------------------------------------------------------
# predict, export, import


def run_predict(args: argparse.Namespace) -> int:
    from fusion_core.predict import predict_source
    from fusion_core.runs import RunStore

    run = RunStore(args.runs_dir).load(args.run)
    source = args.data[0] if len(args.data) == 1 else [str(Path(p).expanduser()) for p in args.data]
    result = predict_source(run, source)
    if args.out:
        Path(args.out).expanduser().write_text(result.to_csv())
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
        return 0
    shown = result.table.head(PREVIEW_ROWS)
    columns = ["id", "predicted", *[c for c in ("true",) if c in shown], "missing"]
    columns += [f"prob_{name}" for name in result.class_names]
    rows = [[_cell(row[c]) for c in columns] for _, row in shown.iterrows()]
    print(f"{len(result.table)} samples predicted with run {run.run_id} ({run.method})")
    print(_table(rows, columns))
    if len(result.table) > PREVIEW_ROWS:
        print(
            f"… {len(result.table) - PREVIEW_ROWS} more rows"
            + ("" if args.out else "; write them all with --out FILE")
        )
    for note in result.notes:
        print(f"note: {note}")
    if result.metrics is not None and "r2" in result.metrics:
        m = result.metrics
        print(
            f"\nagainst the targets given: R² {_num(m['r2'])}, MAE {_num(m['mae'])}, RMSE {_num(m['rmse'])}"
        )
    elif result.metrics is not None:
        m = result.metrics
        print(f"\nagainst the labels given: accuracy {_num(m['accuracy'])}, macro-F1 {_num(m['macro_f1'])}")
        print("confusion matrix (rows: true class, columns: predicted class)")
        print(
            _table(
                [[n, *map(str, r)] for n, r in zip(result.class_names, m["confusion_matrix"], strict=True)],
                ["", *result.class_names],
            )
        )
    if args.out:
        print(f"predictions written to {args.out}")
    return 0


def _cell(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def run_export(args: argparse.Namespace) -> int:
    from fusion_core.runs import RunStore

    if not args.out and not args.onnx:
        raise ConfigError("export needs --out FILE.zip (the whole run) and/or --onnx FILE.onnx (the network)")
    store = RunStore(args.runs_dir)
    run = store.load(args.run)
    if args.out:
        from fusion_core.portable import export_run

        export_run(store, args.run, args.out)
        print(
            f"run {args.run} written to {args.out}; import it elsewhere with: fusion-explorer import {args.out}"
        )
    if args.onnx:
        from fusion_core.errors import FusionExplorerError
        from fusion_core.onnx_export import export_onnx, parity_on_test_split

        export_onnx(run, args.onnx)
        print(
            f"network of run {args.run} written to {args.onnx} (inputs: each modality after preprocessing "
            "plus <modality>_present; output: logits)"
        )
        try:
            parity = parity_on_test_split(run, args.onnx)
        except FusionExplorerError as exc:  # e.g. an imported run whose data is not on this machine
            print(f"note: parity with PyTorch not checked ({exc})")
        else:
            print(
                f"onnxruntime against PyTorch on the {parity.rows} test samples: max |logit difference| "
                f"{parity.max_abs_diff:.2e}, same predicted classes: {'yes' if parity.same_predictions else 'no'}"
            )
    return 0


def run_import(args: argparse.Namespace) -> int:
    from fusion_core.portable import import_run
    from fusion_core.runs import RunStore

    run_id = import_run(RunStore(args.runs_dir), args.zip)
    print(f"imported as run {run_id}; see it with: fusion-explorer runs show {run_id}")
    return 0


# -----------------------------------------------------------------------------
# helpers


def parse_pairs(items: list[str], flag: str, form: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` → ``{"a": "1", "b": "x"}``; a malformed item is a ConfigError."""
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"{flag} takes {form}, got {item!r}")
        pairs[key.strip()] = value.strip()
    return pairs


def explain_stop(result: Any) -> str:
    from fusion_core.training import stop_explanation

    return stop_explanation(result.stopped, result.history, result.config.train)


def _source(data: str) -> str:
    """A path is made absolute, so that the saved configuration works from any folder."""
    path = Path(data).expanduser()
    return str(path.resolve()) if path.exists() else data


def _print_epoch(epochs: int):
    def show(log: Any) -> None:
        print(
            f"epoch {log.epoch:>3}/{epochs}  train loss {log.train_loss:.4f}  val loss {log.val_loss:.4f}  "
            + (f"val macro-F1 {log.val_macro_f1:.3f}" if log.val_r2 is None else f"val R² {log.val_r2:.3f}")
            + f"  ({log.seconds:.1f} s)",
            file=sys.stderr,
            flush=True,
        )

    return show


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _table(rows: list[list[str]], header: list[str]) -> str:
    """A plain left-aligned text table."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
