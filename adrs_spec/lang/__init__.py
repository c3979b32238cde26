"""The language's backend-neutral layer: what each operator means, stated once.

Backends import this package, never each other. Today it holds the operator table
(`operators`); the IR itself still lives in `adrs_spec.ir`.
"""
