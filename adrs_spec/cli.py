"""The `adrs-spec` command line.

Exit codes, everywhere: 0 ok, 1 the spec or the policy is invalid, 2 a usage or input error.
"""
from __future__ import annotations

import functools
import sys

import click

from adrs_spec import __version__
from adrs_spec.errors import CompilerBug, InputError, SpecError

EXIT_OK, EXIT_INVALID, EXIT_INPUT = 0, 1, 2


def _fail(message: str, code: int) -> None:
    click.echo(message, err=True)
    sys.exit(code)


def user_errors(fn):
    """Turn the user's mistakes into located messages and exit codes, never tracebacks."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SpecError as err:
            _fail(err.render(), EXIT_INVALID)
        except InputError as err:
            _fail(f"error: {err}", EXIT_INPUT)
        except CompilerBug as err:
            _fail(f"internal error in adrs-spec {__version__} (a bug, not your mistake): {err}\n"
                  "please report it with the spec that triggered it", 3)
        except KeyboardInterrupt:
            _fail("interrupted", 130)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="adrs-spec")
def main() -> None:
    """adrs-spec: write what a correct, good answer to a systems problem is; get the evaluator.

    A spec (.adrs) declares params, the instance a policy sees, the policy's signature,
    invariants every output must satisfy, metrics, a score, and workloads. adrs-spec
    compiles it into a vectorized JAX evaluator with guards, generates workloads and
    holdouts, and validates hand-written policies in a sandbox.

    \b
    Typical use:
      adrs-spec compile specs/eplb.adrs
      adrs-spec workloads specs/eplb.adrs --out data/eplb
      adrs-spec validate specs/eplb.adrs specs/eplb/policies/deepseek.py --array torch

    Exit codes: 0 ok, 1 the spec or policy is invalid, 2 a usage or input error.
    """


@main.command("compile")
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", default="generated", show_default=True, type=click.Path(file_okay=False),
              help="Folder that receives one subfolder per spec.")
@click.option("--check", "check_only", is_flag=True,
              help="Write nothing; exit 1 if the generated files are missing or differ from a fresh compile.")
@user_errors
def compile_cmd(specs: tuple[str, ...], out_dir: str, check_only: bool) -> None:
    """Check SPECS and write their evaluators to OUT/NAME/.

    Each spec is parsed and checked (names, types, shapes, index ranges, requires at the
    defaults); errors are printed as file:line:col with the source line. Then the JAX
    backend writes OUT/NAME/evaluator.py (guards + simulator, jit + vmap) and
    OUT/NAME/manifest.json. Writing is atomic: a failed compile leaves OUT untouched.
    """
    from adrs_spec.compile import compile_spec, check_generated, write_generated

    stale = []
    for path in specs:
        result = compile_spec(path)
        for warning in result.warnings:
            click.echo(warning.render().replace(": error: ", ": warning: ", 1), err=True)
        if check_only:
            problems = check_generated(result, out_dir)
            if problems:
                stale.append(path)
                click.echo(f"STALE  {path}: " + "; ".join(problems), err=True)
            else:
                click.echo(f"OK     {path}: {out_dir}/{result.spec.name}/ is up to date")
            continue
        folder = write_generated(result, out_dir)
        click.echo(f"compiled {path} -> {folder}/ ({', '.join(sorted(result.files))}) "
                   f"in {result.seconds * 1000:.0f} ms")
        click.echo("  " + result.summary())
    if stale:
        _fail(f"{len(stale)} spec(s) have stale generated code; run `adrs-spec compile "
              f"{' '.join(stale)}`", EXIT_INVALID)


if __name__ == "__main__":  # pragma: no cover
    main()
