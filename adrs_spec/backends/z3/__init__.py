"""The Z3 backend: the spec's IR encoded for a solver at bounded sizes.

    values, terms, algebra   how ints, floats and conditions become Z3 terms
    encode                   the IR at one size: variables, lets, invariants, claims, metrics
    sizes, shapes            the params: the size the checks run at; tuples that meet the requires
    solve, verdicts          one query with a timeout; PROVED / REFUTED / UNKNOWN / SKIPPED
    checks, models, report   the spec checks, their concrete models, and how they are printed

It reads the IR (adrs_spec.lang.ir) and the operator table (adrs_spec.lang.operators), and no
other backend; the parts that read no tensor are evaluated concretely, through the same
table (adrs_spec.lang.evaluate). The commands that run the checks live in adrs_spec.checking.
"""
