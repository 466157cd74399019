"""Page files hold no bare expressions: Streamlit's "magic" would draw them on the page.

A string under a constant (meant as its docstring), a leftover variable name or
any other expression standing alone in a page is written to the screen as
Markdown. The check follows magic's own rules: it looks at the module's body and
inside ``if``/``for``/``while``/``with``/``try``/``match`` blocks and function
bodies, skips calls (magic does not draw their results) and the docstrings of
the module and of functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PAGES = sorted((Path(__file__).resolve().parents[1] / "pages").glob("*.py"))
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
NOT_DRAWN = (ast.Call, ast.Yield, ast.YieldFrom, ast.Await)


def _bodies(node: ast.AST) -> list[list[ast.stmt]]:
    """The statement lists inside ``node`` that magic rewrites."""
    if isinstance(node, (*FUNCTIONS, ast.With, ast.AsyncWith)):
        return [node.body]
    if isinstance(node, ast.For | ast.AsyncFor | ast.While | ast.If):
        return [node.body, node.orelse]
    if isinstance(node, ast.Try | ast.TryStar):
        return [node.body, node.orelse, node.finalbody, *[handler.body for handler in node.handlers]]
    if isinstance(node, ast.Match):
        return [case.body for case in node.cases]
    if isinstance(node, ast.ClassDef):
        return [[inner for inner in node.body if isinstance(inner, FUNCTIONS)]]
    return []


def bare_expressions(source: str) -> list[tuple[int, str]]:
    """(line, text) of every expression statement that Streamlit's magic would draw."""
    found: list[tuple[int, str]] = []

    def visit(body: list[ast.stmt], parent: ast.AST) -> None:
        for index, node in enumerate(body):
            if isinstance(node, ast.Expr) and not isinstance(node.value, NOT_DRAWN):
                is_docstring = (
                    index == 0
                    and isinstance(parent, (ast.Module, *FUNCTIONS))
                    and isinstance(node.value, ast.Constant)
                    and isinstance(node.value.value, str)
                )
                if not is_docstring:
                    found.append((node.lineno, ast.get_source_segment(source, node) or ""))
            for inner in _bodies(node):
                visit(inner, node)

    tree = ast.parse(source)
    visit(tree.body, tree)
    return found


def test_the_check_finds_what_magic_would_draw():
    source = (
        '"""Module docstring: fine."""\n'
        "X = (1, 2)\n"
        '"""A note under a constant."""\n'
        "if X:\n    X\n"
        "def f():\n"
        '    """Function docstring: fine."""\n'
        "    'a bare string in a function'\n"
        "    print('calls are fine')\n"
        "with open('f') as handle:\n    f'{handle}'\n"
    )
    assert [line for line, _ in bare_expressions(source)] == [3, 5, 8, 11]


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.name)
def test_page_has_no_bare_expression(page):
    found = bare_expressions(page.read_text())
    assert not found, f"{page.name} would show these on the page: " + "; ".join(
        f"line {line}: {text[:60]}" for line, text in found
    )
