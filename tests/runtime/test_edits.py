"""Edits: diffs and rewrites applied, EVOLVE-BLOCKs enforced, reasons exact, duplicates spotted."""
from __future__ import annotations

import ast
import copy

import pytest

from adrs_spec.runtime.edits import (EVOLVE_END, EVOLVE_START, Block, EditError, apply_response, apply_tree,
                                     code_hash, edit_instructions, evolve_blocks, normalize, same_tree)

PARENT = '''import numpy as np


def place(x):
    """Doc."""
    # EVOLVE-BLOCK-START
    y = x + 1
    if y > 2:
        y = y * 2
    # EVOLVE-BLOCK-END
    return y
'''

PLAIN = "import numpy as np\n\n\ndef f(x):\n    return x + 1\n"


def diff(search: str, replace: str) -> str:
    return f"<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def reason(parent: str, response: str) -> str:
    with pytest.raises(EditError) as info:
        apply_response(parent, response)
    return info.value.reason


# ---- blocks ----

def test_blocks_are_the_lines_between_the_markers():
    assert evolve_blocks(PARENT) == [Block(6, 9)]


def test_a_program_without_markers_is_one_block():
    assert evolve_blocks(PLAIN) == [Block(0, 5)]


def test_two_blocks_and_indented_markers():
    code = f"a = 1\n{EVOLVE_START}\nb = 2\n{EVOLVE_END}\nc = 3\n    {EVOLVE_START}  \nd = 4\n\t{EVOLVE_END}\n"
    assert evolve_blocks(code) == [Block(2, 3), Block(6, 7)]


def test_a_marker_with_more_text_is_not_a_marker():
    assert evolve_blocks(f"x = 1  {EVOLVE_START}\ny = 2\n") == [Block(0, 2)]


@pytest.mark.parametrize("code, expected", [
    (f"{EVOLVE_START}\nx = 1\n", "the EVOLVE-BLOCK opened at line 1 is never closed; put `# EVOLVE-BLOCK-END` after "
                                 "its last line"),
    (f"x = 1\n{EVOLVE_END}\n", "line 2 closes an EVOLVE-BLOCK that was never opened; put `# EVOLVE-BLOCK-START` "
                               "before it"),
    (f"{EVOLVE_START}\n{EVOLVE_START}\n{EVOLVE_END}\n{EVOLVE_END}\n",
     "line 2 opens an EVOLVE-BLOCK inside the one opened at line 1; blocks cannot nest: close each block with "
     "`# EVOLVE-BLOCK-END` before opening another"),
])
def test_unbalanced_or_nested_markers(code, expected):
    with pytest.raises(EditError) as info:
        evolve_blocks(code)
    assert info.value.reason == expected


# ---- diffs ----

def test_an_exact_diff_inside_the_block():
    child = apply_response(PARENT, diff("    y = x + 1", "    y = x - 1"))
    assert child == PARENT.replace("y = x + 1", "y = x - 1")


def test_a_diff_whose_search_differs_only_in_indentation_is_reindented():
    response = "```\n" + diff("if y > 2:\n    y = y * 2", "if y >= 3:\n    y = y * 3\n    y += 1") + "```\n"
    child = apply_response(PARENT, response)
    assert child == PARENT.replace("    if y > 2:\n        y = y * 2\n",
                                   "    if y >= 3:\n        y = y * 3\n        y += 1\n")


def test_trailing_whitespace_and_blank_lines_do_not_stop_a_match():
    child = apply_response(PARENT, diff("    y = x + 1   \n\n    if y > 2:", "    y = x + 1\n    if y > 5:"))
    assert child == PARENT.replace("y > 2", "y > 5")


def test_several_diffs_apply_in_order():
    response = diff("    y = x + 1", "    y = x + 7") + "and then\n" + diff("    y = x + 7", "    y = x + 8")
    assert apply_response(PARENT, response) == PARENT.replace("x + 1", "x + 8")


def test_a_second_diff_that_does_not_apply_rejects_the_answer_naming_it():
    response = diff("    y = x + 1", "    y = x + 2") + diff("    y = y * 5", "    y = 0")
    assert reason(PARENT, response) == (
        "SEARCH block 2 was not found in the current program (the closest line is line 9: `y = y * 2`); copy the "
        "lines to replace exactly, including indentation, from the program as it is after the diffs before it")


def test_a_diff_outside_the_block_is_rejected_with_the_lines():
    assert reason(PARENT, diff("    return y", "    return y + 1")) == (
        "edit 1 changes line 11, outside the EVOLVE-BLOCK (lines 7-9): only code between the markers may change; "
        "quote lines inside the block, and leave the markers as they are")


def test_a_diff_that_takes_a_marker_is_outside_the_block():
    assert reason(PARENT, diff(f"    y = y * 2\n    {EVOLVE_END}", "    y = y * 2")).startswith(
        "edit 1 changes lines 9-10, outside the EVOLVE-BLOCK (lines 7-9)")


def test_the_first_match_inside_the_block_is_taken():
    code = f"y = 1\n{EVOLVE_START}\ny = 1\n{EVOLVE_END}\n"
    assert apply_response(code, diff("y = 1", "y = 2")) == f"y = 1\n{EVOLVE_START}\ny = 2\n{EVOLVE_END}\n"


def test_an_unterminated_diff_and_an_empty_search():
    assert reason(PARENT, "<<<<<<< SEARCH\n    y = x + 1\n=======\n    y = 3\n") == (
        "diff 1 has no `>>>>>>> REPLACE` line; write each diff as `<<<<<<< SEARCH`, the lines to replace, "
        "`=======`, the new lines, `>>>>>>> REPLACE`")
    assert reason(PARENT, diff("", "    z = 1")) == "SEARCH block 1 is empty; a diff must quote the lines it replaces"


def test_a_child_that_does_not_parse_names_the_line():
    assert reason(PARENT, diff("    y = x + 1", "    y = x +")) == (
        "the edited program does not parse: invalid syntax at line 7: `y = x +`; send edits that leave valid Python")


def test_an_answer_that_changes_nothing_or_holds_no_edit():
    assert reason(PARENT, diff("    y = x + 1", "    y = x + 1")) == (
        "the edits leave the program unchanged; change the code inside the EVOLVE-BLOCK")
    assert reason(PARENT, "I would make it faster.").startswith(
        "the answer holds no SEARCH/REPLACE diff and no ```python block;")


def test_a_program_without_markers_takes_a_diff_anywhere():
    assert apply_response(PLAIN, diff("import numpy as np", "import math")) == PLAIN.replace("numpy as np", "math")


def test_a_program_without_final_newline_keeps_it_that_way():
    code = "x = 1\ny = 2"
    assert apply_response(code, diff("y = 2", "y = 3")) == "x = 1\ny = 3"


# ---- full rewrites ----

def test_a_rewrite_replaces_the_block_and_keeps_the_rest_byte_for_byte():
    rewrite = PARENT.replace("x + 1", "x * 3").replace("\n\n\n", "\n\n").replace("return y", "return y   ")
    child = apply_response(PARENT, f"Try this:\n```python\n{rewrite}```\nDone.")
    assert child == PARENT.replace("x + 1", "x * 3")


def test_a_rewrite_that_changes_an_import_outside_the_block_is_rejected():
    rewrite = PARENT.replace("import numpy as np", "import numpy as np, math").replace("x + 1", "x + 2")
    assert reason(PARENT, f"```python\n{rewrite}```") == (
        "the rewrite changes line 1 (`import numpy as np`), outside the EVOLVE-BLOCK (lines 7-9): only code "
        "between the markers may change; keep every other line exactly as it is")


def test_a_rewrite_that_drops_the_markers_is_rejected():
    rewrite = PARENT.replace(f"    {EVOLVE_START}\n", "").replace(f"    {EVOLVE_END}\n", "")
    assert reason(PARENT, f"```python\n{rewrite}```") == (
        "the rewrite has 0 EVOLVE-BLOCK marker line(s) where the program has 2: write the complete program and "
        "keep every `# EVOLVE-BLOCK-START` / `# EVOLVE-BLOCK-END` line as it is")


def test_a_rewrite_of_a_program_without_markers_replaces_everything():
    assert apply_response(PLAIN, "```py\nimport math\n\n\ndef f(x):\n    return math.exp(x)\n```") == (
        "import math\n\n\ndef f(x):\n    return math.exp(x)\n")


def test_the_largest_fenced_block_is_the_rewrite():
    response = "```python\nx = 1\n```\n```python\n" + PLAIN.replace("x + 1", "x + 2") + "```"
    assert apply_response(PLAIN, response) == PLAIN.replace("x + 1", "x + 2")


# ---- duplicates and instructions ----

def test_normalize_ignores_comments_docstrings_blank_lines_and_formatting():
    other = "import numpy as np\ndef place(x):\n    # a comment\n    y=(x+1)\n    if y>2:  # why\n        y = y*2\n\n" \
            "    return y\n"
    assert normalize(PARENT) == normalize(other) == (
        "import numpy as np\n\ndef place(x):\n    y = x + 1\n    if y > 2:\n        y = y * 2\n    return y")
    assert code_hash(PARENT) == code_hash(other)
    assert code_hash(PARENT) != code_hash(PARENT.replace("y * 2", "y * 3"))
    assert len(code_hash(PARENT)) == 64


def test_normalize_keeps_a_function_whose_only_statement_is_its_docstring():
    assert normalize('def f():\n    """Only a docstring."""\n') == "def f():\n    pass"


def test_normalize_of_code_that_does_not_parse_uses_its_stripped_lines():
    assert normalize("def f(:\n\n    return  1\n") == "def f(:\nreturn  1"


def test_edit_instructions_explain_the_format_and_the_markers():
    text = edit_instructions()
    for part in ("<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE", EVOLVE_START, EVOLVE_END, "```python"):
        assert part in text


# ---- a changed tree written back ----

TREE_PARENT = f'''import numpy as np

LIMIT = 3  # outside


def f(x):
    # a comment that stays
    {EVOLVE_START}
    y = x + 1   # changed, so this comment goes
    z = [y,
         y]     # untouched, layout kept
    {EVOLVE_END}
    return z
'''


def changed(code: str, change) -> ast.Module:
    tree = ast.parse(code)
    change(tree)
    return tree


def test_apply_tree_rerenders_only_the_changed_statement():
    tree = changed(TREE_PARENT, lambda t: setattr(t.body[2].body[0].value, "op", ast.Sub()))
    assert apply_tree(TREE_PARENT, tree) == TREE_PARENT.replace("y = x + 1   # changed, so this comment goes",
                                                                "y = x - 1")


def test_apply_tree_inserts_and_deletes_statements_inside_the_block():
    def repeat(t):
        body = t.body[2].body
        body.insert(1, copy.deepcopy(body[0]))
    assert apply_tree(TREE_PARENT, changed(TREE_PARENT, repeat)) == TREE_PARENT.replace(
        "y = x + 1   # changed, so this comment goes", "y = x + 1   # changed, so this comment goes\n    y = x + 1")
    assert apply_tree(TREE_PARENT, changed(TREE_PARENT, lambda t: t.body[2].body.pop(0))) == TREE_PARENT.replace(
        "    y = x + 1   # changed, so this comment goes\n", "")


def test_apply_tree_appends_at_the_end_of_a_file_without_final_newline():
    code = "def f(x):\n    return x\ny = f(1)"
    tree = changed(code, lambda t: t.body.append(copy.deepcopy(t.body[-1])))
    assert apply_tree(code, tree) == "def f(x):\n    return x\ny = f(1)\ny = f(1)"


def test_apply_tree_refuses_changes_outside_the_blocks_and_no_change():
    tree = changed(TREE_PARENT, lambda t: setattr(t.body[1].value, "value", 4))
    with pytest.raises(EditError) as info:
        apply_tree(TREE_PARENT, tree)
    assert info.value.reason == "the change reaches lines 3-3, outside the EVOLVE-BLOCK (lines 9-11)"
    with pytest.raises(EditError) as info:
        apply_tree(TREE_PARENT, ast.parse(TREE_PARENT))
    assert info.value.reason == "the tree is the same as the program's: nothing to change"


def test_apply_tree_rewrites_the_enclosing_statement_when_a_line_holds_two():
    code = "def f(x):\n    if x: y = 1; z = 2\n    return x\n"
    tree = changed(code, lambda t: setattr(t.body[0].body[0].body[1].value, "value", 3))
    assert apply_tree(code, tree) == "def f(x):\n    if x:\n        y = 1\n        z = 3\n    return x\n"


def test_apply_tree_keeps_docstrings_of_rerendered_functions_intact():
    code = 'def f(x):\n    """Two\n    lines."""\n    return x + 1\n'
    tree = changed(code, lambda t: t.body[0].body.insert(1, ast.parse("x = -x").body[0]))
    child = apply_tree(code, tree)
    assert child == 'def f(x):\n    """Two\n    lines."""\n    x = -x\n    return x + 1\n'
    assert ast.get_docstring(ast.parse(child).body[0], clean=False) == "Two\n    lines."


def test_same_tree_ignores_positions_and_reads_negative_constants_as_parsed():
    assert same_tree(ast.parse("x = -1"), ast.Module([ast.Assign([ast.Name("x", ast.Store())], ast.Constant(-1))], []))
    assert not same_tree(ast.parse("x = 1"), ast.parse("x = 1.0"))
    assert same_tree(ast.parse("x = (1 +\n 2)"), ast.parse("x = 1 + 2"))
