"""The edge cases every backend is checked against the operator table on (tests/lang for the
reference interpreter and the JAX backend, tests/check/test_z3_algebra.py for Z3): zero,
signs, numbers near overflow, infinities and NaN for floats; zero and negative divisors for
ints. The sign of zero (-0.0), which the table does not model, is left out."""
import math

FLOATS = [0.0, 1.0, -1.0, 2.5, -3.75, 1e-3, 7.0, 3.0, 1e300, -1e300, math.inf, -math.inf, math.nan]
INTS = [-7, -2, -1, 0, 1, 2, 3, 7, 10]
