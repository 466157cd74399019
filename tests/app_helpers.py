"""Helpers for driving the app with Streamlit's AppTest."""

from __future__ import annotations

import ast
import base64
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
if str(ROOT) not in sys.path:  # the app's ``ui`` package lives next to app.py, not in site-packages
    sys.path.insert(0, str(ROOT))
PAGES = ("home", "data", "model", "train", "results", "compare", "predict")
TIMEOUT = 60


def navigation_pages() -> list[tuple[str, str]]:
    """(page file, sidebar title) of every page in app.py's navigation, in sidebar order (its ``PAGES``)."""
    tree = ast.parse(APP.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "PAGES" for t in node.targets):
            table = ast.literal_eval(node.value)
            return [(path, title) for section in table.values() for path, title, _icon in section]
    raise AssertionError("app.py has no PAGES table")


def new_app() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    return at


def open_page(at: AppTest, page: str) -> AppTest:
    return at.switch_page(f"pages/{page}.py").run()


def problems(at: AppTest) -> list[str]:
    """Every exception and error box on the page, as text."""
    return [e.value for e in at.exception] + [e.value for e in at.error]


def plotly_spec(at: AppTest, key: str) -> dict[str, Any]:
    """The plotly figure (as a dict) of the chart whose widget key ends with ``key``."""
    for element in at.get("plotly_chart"):
        proto = element.proto
        if proto.id.endswith(key) or key in proto.id:
            return json.loads(proto.spec)
    ids = [element.proto.id for element in at.get("plotly_chart")]
    raise AssertionError(f"no plotly chart with key {key!r}; charts on the page: {ids}")


def array(value: Any) -> np.ndarray:
    """A plotly JSON value as an array; plotly writes numpy arrays as base64 typed arrays."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = tuple(int(n) for n in str(value.get("shape", len(flat))).split(","))
        return flat.reshape(shape)
    return np.asarray(value)


def metric_value(at: AppTest, label: str) -> str:
    for metric in at.metric:
        if metric.label == label:
            return metric.value
    raise AssertionError(f"no metric {label!r}; metrics: {[m.label for m in at.metric]}")
