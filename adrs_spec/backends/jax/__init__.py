"""The JAX backend: a checked spec -> generated/<name>/evaluator.py, plain JAX.

    codegen       the module: constants, statics, one function per let, invariant, metric
    lower         IR expressions -> lines of array code over index axes
    patterns      faster forms of common reductions (segment sums, block reshapes, rank planes)
    steps         step blocks as `lax.scan`
    emit          the pieces generated code is built from
    polynomials   symbolic algebra on index ranges
    support       what generated code imports at run time (as `rt`): the operator table's
                  edge cases on arrays, guards' witnesses, batching, scoped float64
"""
