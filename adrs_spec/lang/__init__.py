"""The language's backend-neutral layer: what a checked spec is and what it means.

- `ir`: the typed IR the frontend produces and every backend consumes;
- `operators`: each operator's meaning, stated once over an algebra of values;
- `statics`: params, static lets and shapes, known before any data;
- `text`: IR back to spec syntax.

Everything else imports this package; it imports nothing from the frontend, the backends,
workloads, the sandbox or the runtime. Backends import it and never each other.
"""
