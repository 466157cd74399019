"""Architecture diagrams as Graphviz DOT text: a built model, and the three families of fusion.

``model_diagram(model)`` draws what ``fusion_core.model.describe_model`` reports
about a *built* model: one input per modality with its tensor shape, its
encoder, the fusion step and the head, each with its real output shape and
parameter count. Because it is drawn from the model itself, it is never out of
date with the code. ``family_overview()`` is a static picture of data-level,
feature-level and decision-level fusion; ``family_svg(family)`` draws one of them
as plain SVG, for pages that should not wait for a Graphviz renderer. Streamlit's ``st.graphviz_chart`` and
any Graphviz tool render the text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for annotations only: importing the data package loads PyTorch (seconds)
    from fusion_core.data.types import InputSpec

FORM_WORDS = {
    "vector": "feature vector",
    "grid": "image / spectrogram",
    "sequence": "time series",
    "tokens": "token ids",
}
TYPE_WORDS = {
    ("image", "grid"): "image",
    ("audio", "grid"): "audio as spectrogram",
    ("text", "vector"): "text as word counts",
    ("text", "tokens"): "text as token ids",
    ("series", "sequence"): "time series",
    ("tabular", "vector"): "table columns",
}
"""How an input reads when its modality type is known: (type, form) → words."""

COLORS = {
    "input": "#EAF2FB",
    "encoder": "#D6E9F8",
    "fusion": "#FCE3C4",
    "head": "#DCEFD9",
    "output": "#F2F2F2",
}
GRAPH_HEADER = (
    "  rankdir=LR;\n"
    '  graph [fontname="Helvetica", fontsize=11, nodesep=0.25, ranksep=0.45];\n'
    '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, color="#5A6A7A"];\n'
    '  edge [fontname="Helvetica", fontsize=9, color="#5A6A7A"];\n'
)


def quote(text: str) -> str:
    """A DOT string literal: backslashes and quotes escaped, line breaks as ``\\n``."""
    escaped = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _node(node_id: str, label: str, kind: str, **attributes: str) -> str:
    extra = "".join(f", {key}={quote(value)}" for key, value in attributes.items())
    return f"  {quote(node_id)} [label={quote(label)}, fillcolor={quote(COLORS[kind])}{extra}];\n"


def _edge(source: str, target: str, label: str = "") -> str:
    suffix = f" [label={quote(label)}]" if label else ""
    return f"  {quote(source)} -> {quote(target)}{suffix};\n"


def parameters_text(count: int) -> str:
    if count == 0:
        return "no parameters"
    return f"{count:,} parameter" + ("" if count == 1 else "s")


def _shape(spec: InputSpec) -> str:
    return "(N, " + ", ".join(str(d) for d in spec.shape) + ")"


def model_diagram(
    model: Any,
    *,
    title: str | None = None,
    direction: str = "TB",
    types: Mapping[str, str] | None = None,
) -> str:
    """DOT text of a built ``FusionModel``: inputs → encoders → fusion → head → class scores.

    ``direction`` is Graphviz's ``rankdir``: "TB" (top to bottom, fits a narrow column) or "LR".
    ``types`` (modality name → type, e.g. "audio") lets the inputs say what they are.
    """
    from fusion_core.model import describe_model

    rows = describe_model(model)
    specs: Mapping[str, InputSpec] = getattr(model, "specs", {}) or {}
    node_of: dict[str, str] = {}
    parts = ["digraph model {\n", GRAPH_HEADER.replace("rankdir=LR", f"rankdir={direction}")]
    if title:
        parts.append(f"  labelloc=t; label={quote(title)};\n")

    parts.append("  subgraph inputs { rank=same;\n")
    for name, spec in specs.items():
        kind = (types or {}).get(name)
        words = TYPE_WORDS.get((kind, spec.form)) or FORM_WORDS.get(spec.form, spec.form)
        label = f"{name}\n{_shape(spec)}" if words == name else f"{name}\n{words}\n{_shape(spec)}"
        parts.append(_node(f"input:{name}", label, "input", shape="note"))
    parts.append("  }\n")

    for row in rows:
        node_id = f"{row['kind']}:{row['name']}"
        output = _short(row["output_shape"])
        output_line = f"\n→ {output}" if output else ""
        if row["kind"] == "encoder":
            label = f"{row['name']} encoder: {row['block']}{output_line}"
        elif row["kind"] == "fusion":
            label = f"fusion: {row['block']}{output_line}"
        else:
            label = f"{row['title'] or row['block']}{output_line}"
        label += f"\n{parameters_text(row['parameters'])}"
        kind = row["kind"] if row["kind"] in COLORS else "fusion"
        parts.append(_node(node_id, label, kind, tooltip=row.get("title") or row["block"]))
        node_of[row["name"] if row["kind"] != "encoder" else f"encoder:{row['name']}"] = node_id

    encoders = {row["name"]: f"encoder:{row['name']}" for row in rows if row["kind"] == "encoder"}
    outputs = {f"{row['kind']}:{row['name']}": row["output_shape"] for row in rows}
    for row in rows:
        node_id = f"{row['kind']}:{row['name']}"
        for source in row.get("inputs", []):
            if row["kind"] == "encoder":
                if f"input:{source}" in (f"input:{n}" for n in specs):
                    parts.append(_edge(f"input:{source}", node_id))
                continue
            source_id = node_of.get(source) or encoders.get(source)
            if source_id is None:
                continue
            parts.append(_edge(source_id, node_id, _short(outputs.get(source_id, ""))))

    last = rows[-1]
    classes = model.num_classes
    if model.task == "regression":
        output_label = "predicted value\n(N, 1)"
    else:
        output_label = f"class scores\n(N, {classes})" if classes else "class scores"
    parts.append(_node("output", output_label, "output", shape="ellipse"))
    parts.append(_edge(f"{last['kind']}:{last['name']}", "output"))
    parts.append("}\n")
    return "".join(parts)


def _short(shape: str) -> str:
    """Several joined shapes (``(N, 3) + (N, 3)``) read as ``(N, 3) each``; different ones are left out."""
    if "+" not in shape:
        return shape
    pieces = {piece.strip() for piece in shape.split("+")}
    return f"{pieces.pop()} each" if len(pieces) == 1 else ""


def method_diagram(
    specs: Mapping[str, InputSpec],
    num_classes: int,
    method: str,
    *,
    embedding_dim: int = 64,
    fusion_options: Mapping[str, Any] | None = None,
    direction: str = "TB",
    types: Mapping[str, str] | None = None,
    task: str = "classification",
) -> str:
    """Build ``method`` with default encoders for these inputs and draw it (``ConfigError`` if it cannot be built).

    For a regression ``task`` the head outputs one number and ``num_classes`` is not used.

    ``only`` (the single-modality baseline's registered name) is drawn for the first modality.
    """
    from fusion_core.config import ModelConfig
    from fusion_core.fusion import FUSIONS
    from fusion_core.model import build_model

    name = method
    if ":" not in method and method in FUSIONS and FUSIONS.get(method).per_modality_baseline:
        name = f"{method}:{next(iter(specs))}"
    config = ModelConfig(fusion=name, fusion_options=dict(fusion_options or {}), embedding_dim=embedding_dim)
    model = build_model(dict(specs), num_classes, config, task=task)
    return model_diagram(model, direction=direction, types=types)


FAMILY_SHAPES = {
    "early": (
        "Data level (early)",
        [("join inputs", "fusion"), ("one network", "encoder"), ("class", "output")],
    ),
    "intermediate": (
        "Feature level (intermediate)",
        [("fuse features", "fusion"), ("head", "head"), ("class", "output")],
    ),
    "late": ("Decision level (late)", [("combine decisions", "fusion"), ("class", "output")]),
}
"""Each family's path from two inputs, A and B, to the class: the step where they meet, and after."""


def family_overview() -> str:
    """DOT text of the three families side by side: where in the network the modalities meet."""
    parts = ["digraph families {\n", GRAPH_HEADER.replace("rankdir=LR", "rankdir=TB"), "  compound=true;\n"]
    for family, (title, _) in FAMILY_SHAPES.items():
        parts.append(
            f'  subgraph cluster_{family} {{\n    label={quote(title)}; style=rounded; color="#B0B8C0";\n'
        )
        parts += _family_body(family)
        parts.append("  }\n")
    parts.append("}\n")
    return "".join(parts)


def _family_body(family: str) -> list[str]:
    """Nodes and edges of one family, ids prefixed by its name."""
    chain = FAMILY_SHAPES[family][1]
    parts = []
    for name in ("A", "B"):
        parts.append("  " + _node(f"{family}:{name}", name, "input", shape="note"))
        if family in ("intermediate", "late"):
            parts.append("  " + _node(f"{family}:enc{name}", f"encoder {name}", "encoder"))
        if family == "late":
            parts.append("  " + _node(f"{family}:head{name}", f"classifier {name}", "head"))
    for label, kind in chain:
        shape = {"shape": "ellipse"} if kind == "output" else {}
        parts.append("  " + _node(f"{family}:{label}", label, kind, **shape))
    first = chain[0][0]
    for name in ("A", "B"):
        if family == "early":
            parts.append(_edge(f"{family}:{name}", f"{family}:{first}"))
        elif family == "intermediate":
            parts.append(_edge(f"{family}:{name}", f"{family}:enc{name}"))
            parts.append(_edge(f"{family}:enc{name}", f"{family}:{first}"))
        else:
            parts.append(_edge(f"{family}:{name}", f"{family}:enc{name}"))
            parts.append(_edge(f"{family}:enc{name}", f"{family}:head{name}"))
            parts.append(_edge(f"{family}:head{name}", f"{family}:{first}"))
    for (a, _), (b, _) in zip(chain, chain[1:], strict=False):
        parts.append(_edge(f"{family}:{a}", f"{family}:{b}"))
    return parts


def family_svg(family: str) -> str:
    """A small SVG picture of one family: two inputs, A and B, flowing down to where they meet and on to
    the class. Drawn here, not by Graphviz, so the page that shows it needs no diagram renderer."""
    if family not in FAMILY_SHAPES:
        raise ValueError(f"unknown fusion family {family!r}; choose one of: {', '.join(FAMILY_SHAPES)}")
    pairs = [(("A", "input"), ("B", "input"))]
    if family in ("intermediate", "late"):
        pairs.append((("encoder A", "encoder"), ("encoder B", "encoder")))
    if family == "late":
        pairs.append((("classifier A", "head"), ("classifier B", "head")))
    chain = FAMILY_SHAPES[family][1]
    width, row, box_h = 250, 46, 28
    rows = len(pairs) + len(chain)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{rows * row}" '
        f'viewBox="0 0 {width} {rows * row}" font-family="Helvetica, Arial, sans-serif" font-size="11">',
        '<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#5A6A7A"/></marker></defs>',
    ]

    def box(x: float, y: float, w: float, label: str, kind: str) -> None:
        radius = box_h / 2 if kind == "output" else 6
        parts.append(
            f'<rect x="{x - w / 2:.0f}" y="{y:.0f}" width="{w:.0f}" height="{box_h}" rx="{radius:.0f}" '
            f'fill="{COLORS[kind]}" stroke="#5A6A7A"/>'
            f'<text x="{x:.0f}" y="{y + box_h / 2 + 4:.0f}" text-anchor="middle" fill="#262730">'
            f"{_svg_text(label)}</text>"
        )

    def arrow(x1: float, y1: float, x2: float, y2: float) -> None:
        parts.append(
            f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="#5A6A7A" '
            'marker-end="url(#arrow)"/>'
        )

    left, right, middle = width * 0.27, width * 0.73, width / 2
    for index, ((left_label, kind), (right_label, _)) in enumerate(pairs):
        y = index * row + 4
        box(left, y, 100, left_label, kind)
        box(right, y, 100, right_label, kind)
        if index:
            arrow(left, y - row + box_h, left, y)
            arrow(right, y - row + box_h, right, y)
    for index, (label, kind) in enumerate(chain):
        y = (len(pairs) + index) * row + 4
        box(middle, y, 130, label, kind)
        if index == 0:
            arrow(left, y - row + box_h, middle - 30, y)
            arrow(right, y - row + box_h, middle + 30, y)
        else:
            arrow(middle, y - row + box_h, middle, y)
    parts.append("</svg>")
    return "".join(parts)


def _svg_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
