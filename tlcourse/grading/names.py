"""The names a question's tests read, derived from the tests themselves.

A hidden test runs outside the student's kernel, against answers exported from it; what to
export is exactly what the tests read. For each free name of a test (read but never bound in
it), the attributes it reads on that name are recorded too (``data.num_classes``), so that an
object that cannot leave the sandbox as a whole (a dataset, a training record) can still leave
as those attributes. Names the grader provides itself (:data:`TRUSTED_MODULES`, ``FAST`` and
the builtins) are never taken from the student.
"""

from __future__ import annotations

import ast
import builtins
import doctest
import inspect
import textwrap

__all__ = ["TRUSTED_MODULES", "TRUSTED_NAMES", "code_names", "question_names"]

# Names the tests may use without importing them: the grader imports the real modules itself.
TRUSTED_MODULES = {"tl": "tlcourse", "np": "numpy", "pd": "pandas", "keras": "keras",
                   "tf": "tensorflow", "os": "os", "math": "math"}  # fmt: skip
TRUSTED_NAMES = frozenset(TRUSTED_MODULES) | {"FAST"} | frozenset(dir(builtins))


class _Reads(ast.NodeVisitor):
    """Collect names read and bound anywhere in a piece of code, and attributes read on them."""

    def __init__(self) -> None:
        self.read: dict[str, set[str]] = {}
        self.bound: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.read.setdefault(node.id, set())
        else:
            self.bound.add(node.id)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and isinstance(node.value.ctx, ast.Load):
            self.read.setdefault(node.value.id, set()).add(node.attr)
        self.generic_visit(node)

    def _bind_function(self, node) -> None:
        if hasattr(node, "name"):  # a lambda has none
            self.bound.add(node.name)
        a = node.args
        every = [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]
        self.bound.update(arg.arg for arg in every if arg is not None)
        self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _bind_function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.bound.add(node.name)
        self.generic_visit(node)

    def visit_alias(self, node: ast.alias) -> None:
        self.bound.add((node.asname or node.name).split(".")[0])

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.bound.add(node.name)
        self.generic_visit(node)


def code_names(code: str) -> dict[str, list[str]]:
    """The free names of Python code (or a doctest) and the attributes read on each.

    Example:
        >>> code_names(">>> assert model.output_shape == (None, data.num_classes)")
        {'data': ['num_classes'], 'model': ['output_shape']}
        >>> code_names("dense = [l for l in head.layers if isinstance(l, keras.layers.Dense)]")
        {'head': ['layers']}
    """
    if ">>>" in code:
        examples = doctest.DocTestParser().get_examples(code)
        code = "\n".join(example.source for example in examples)
    visitor = _Reads()
    visitor.visit(ast.parse(textwrap.dedent(code)))
    return {name: sorted(attributes) for name, attributes in sorted(visitor.read.items())
            if name not in visitor.bound and name not in TRUSTED_NAMES}  # fmt: skip


def question_names(test_file) -> dict[str, list[str]]:
    """The names (and attributes) every test case of one otter test file reads.

    Example:
        >>> from otter.test_files import OKTestFile
        >>> test = OKTestFile.from_spec({"name": "q1", "points": 1, "suites": [{"cases": [
        ...     {"code": ">>> assert x == 42", "hidden": True}]}]})
        >>> question_names(test)
        {'x': []}
    """
    names: dict[str, set[str]] = {}
    for case in test_file.test_cases:
        function = getattr(case.body, "test_func", None)
        if function is not None:  # exception format: otter passes the globals it names
            parameters = inspect.signature(function).parameters
            found = {name: () for name in parameters if name not in TRUSTED_NAMES}
        else:
            found = code_names(str(case.body))
        for name, attributes in found.items():
            names.setdefault(name, set()).update(attributes)
    return {name: sorted(attributes) for name, attributes in sorted(names.items())}
