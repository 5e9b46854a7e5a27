"""The `songscope` command: a thin shell over the service (parse, call one function, print).

One module per family of commands (`ingest`, `clusters`, `recommend`, `serve`), the options they
share and the error edge in `common`, the tables they print in `render`.
"""

# Imported in the order `--help` lists their commands; each module adds its commands to `app`.
from songscope.cli import ingest  # noqa: F401, I001
from songscope.cli import clusters  # noqa: F401
from songscope.cli import recommend  # noqa: F401
from songscope.cli import serve  # noqa: F401
from songscope.cli.common import app


def entry() -> None:  # pragma: no cover - console script
    app(prog_name="songscope")


__all__ = ["app", "entry"]
