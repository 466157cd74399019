"""``fusion-explorer datasets`` and ``fusion-explorer inspect``: look at data before training on it."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from fusion_core.errors import DataError


def register(subparsers: argparse._SubParsersAction) -> None:
    datasets = subparsers.add_parser(
        "datasets",
        help="list the sample datasets",
        description="List the sample datasets: their modalities, size and number of classes.",
    )
    datasets.add_argument("--json", action="store_true", help="print JSON instead of a table")
    datasets.set_defaults(handler=run_datasets)

    inspect = subparsers.add_parser(
        "inspect",
        help="load a dataset and print its data report",
        description=(
            "Load and validate a dataset and print its report: classes, modalities, absent values, "
            "pairing notes and warnings. Give a sample name, a bundle folder or .zip, or several "
            "per-modality files (CSV tables, zips or folders of <id>.<ext> media files) to pair by id."
        ),
    )
    inspect.add_argument(
        "source", nargs="+", metavar="PATH|NAME", help="sample name, bundle, or per-modality files"
    )
    inspect.add_argument("--json", action="store_true", help="print the report as JSON")
    inspect.add_argument("--id-column", help="id column of per-modality tables (default: id)")
    inspect.add_argument("--target", help='label column (default: label, or schema.json\'s "target")')
    inspect.set_defaults(handler=run_inspect)


def run_datasets(args: argparse.Namespace) -> int:
    infos = sample_infos()
    if args.json:
        print(json.dumps([_info_dict(info) for info in infos], indent=2))
        return 0
    rows = [("name", "modalities", "samples", "classes", "title")]
    for info in infos:
        modalities = ", ".join(f"{name} ({kind})" for name, kind in dict(info.modalities).items())
        rows.append((info.name, modalities, str(info.samples), str(_class_count(info.classes)), info.title))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print(
            f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  "
            f"{row[3]:>{widths[3]}}  {row[4]}".rstrip()
        )
    return 0


def run_inspect(args: argparse.Namespace) -> int:
    from fusion_core.data import build_report, load_dataset, load_paired_files, with_schema

    if len(args.source) > 1 or args.source[0].lower().endswith(".csv"):
        dataset = load_paired_files(args.source, id_column=args.id_column, target=args.target)
    else:
        if args.id_column:
            raise DataError(
                '--id-column applies to per-modality files; name a bundle\'s id column in schema.json as "id"'
            )
        dataset = load_dataset(args.source[0])
        if args.target and args.target != dataset.target:
            dataset = with_schema(dataset, target=args.target)
    report = build_report(dataset)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.to_text())
    return 0


def sample_infos() -> list[Any]:
    try:
        from fusion_core.samples import list_samples
    except ImportError:
        raise DataError(
            "no sample datasets are installed; load a bundle with 'inspect PATH' instead"
        ) from None
    return list_samples()


def _info_dict(info: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(info):
        return dataclasses.asdict(info)
    return {
        key: getattr(info, key) for key in ("name", "title", "modalities", "samples", "classes", "lesson")
    }


def _class_count(classes: Any) -> int:
    return classes if isinstance(classes, int) else len(classes)
