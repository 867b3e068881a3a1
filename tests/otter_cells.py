"""Build otter-format master notebook cells in tests (the format of notebooks/masters)."""

import nbformat

v4 = nbformat.v4


def question(name, points, solution, public, hidden, prompt=""):
    """The cells of one question: its raw markers, a prompt, the solution, a public and a hidden
    test (the ``# HIDDEN`` line is added)."""
    return [
        v4.new_raw_cell(f"# BEGIN QUESTION\nname: {name}\npoints: {points}"),
        v4.new_markdown_cell(f"**{name}.**{' ' + prompt if prompt else ''}"),
        v4.new_raw_cell("# BEGIN SOLUTION"),
        v4.new_code_cell(solution),
        v4.new_raw_cell("# END SOLUTION"),
        v4.new_raw_cell("# BEGIN TESTS"),
        v4.new_code_cell(public),
        v4.new_code_cell("# HIDDEN\n" + hidden),
        v4.new_raw_cell("# END TESTS"),
        v4.new_raw_cell("# END QUESTION"),
    ]
