"""adrs-spec: specs of systems problems compiled into guarded, vectorized evaluators."""

__version__ = "0.1.0"
