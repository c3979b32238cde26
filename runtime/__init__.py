"""The evolution runtime behind `adrs-spec evolve`, installed as `adrs_spec.runtime`.

One module per job, data flowing one way: config (settings) -> database (SQLite program
store) -> select (parents, inspirations, islands, MAP-Elites) -> prompts (spec -> problem
statement; parent + feedback -> prompt) -> llm or mutator (a child) -> edits (applied,
EVOLVE-BLOCK enforced, duplicates rejected) -> evaluate (the cascade on the sandbox and the
generated evaluator that `validate` uses) -> database. loop.py wires them; report.py renders
the summary.
"""
