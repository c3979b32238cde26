"""The backends, one subpackage each; every one reads the IR and the operator table
(adrs_spec.lang) and none imports another.

    reference   the interpreter every other backend is tested against (loops over points)
    jax         the code generator: a spec -> generated/<name>/evaluator.py, plain JAX
    z3          the solver encoding behind `adrs-spec check`
"""
