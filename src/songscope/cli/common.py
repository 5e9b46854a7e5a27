"""What every command shares: the app, the consoles, the shared options, settings, the error edge, progress."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from songscope import __version__, schema
from songscope.config import Settings
from songscope.errors import UserError

app = typer.Typer(
    name="songscope",
    help=(
        "Cluster songs by their audio features and find new songs for a listener's favourites.\n\n"
        "Start with `songscope run` (ingest, clean, profile and cluster the shipped seed CSVs, ending with an "
        "HTML report), or `songscope ingest FILES...` for your own data; then `songscope recommend` or "
        "`songscope serve` for the web app. Settings come from flags, then the "
        "SONGSCOPE_DB_URL, SONGSCOPE_LAKE_URL and SONGSCOPE_S3_ENDPOINT variables, then defaults "
        "(sqlite:///songscope.db and ./lake)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# What is printed is data (names, paths, reasons): "[2020] Live" or "songscope[audio]" is not markup.
out = Console(markup=False)
err = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL: sqlite:///file.db, postgresql+psycopg://user@host/db, mysql+pymysql://user@host/db. (env SONGSCOPE_DB_URL; default sqlite:///songscope.db)", show_default=False),
]
LakeOption = Annotated[
    str | None,
    typer.Option("--lake", help="Object store for Parquet: a folder or s3://bucket/prefix. (env SONGSCOPE_LAKE_URL; default ./lake)", show_default=False),
]
S3Option = Annotated[
    str | None,
    typer.Option("--s3-endpoint", help="S3 endpoint of a non-AWS server, e.g. http://127.0.0.1:8333; credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY. (env SONGSCOPE_S3_ENDPOINT)", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]
ReasonRunOption = Annotated[str | None, typer.Option("--run", help="Clustering run for the cluster reasons (default: the latest).", show_default=False)]
FeaturesOption = Annotated[str | None, typer.Option(
    "--features", help=f"The feature set the songs are described by ({', '.join(schema.FEATURE_SETS)}; default: spotify for tables, "
    "audio for audio files): what clustering, profiles and recommendations read.", show_default=False)]
IngestEngineOption = Annotated[str, typer.Option(
    "--engine", "-e", help="Where to read and clean: local (this process), spark (executors; no row passes through this process) "
    "or auto (spark from SONGSCOPE_SPARK_MIN_ROWS songs, estimated from the files).")]
SparkMasterOption = Annotated[str | None, typer.Option(
    "--spark-master", help="Spark master for --engine spark: local[*] (default), spark://host:7077, or $SONGSCOPE_SPARK_MASTER.", show_default=False)]


def settings_from(db: str | None, lake: str | None, s3_endpoint: str | None, **more) -> Settings:
    return Settings.load(db_url=db, lake_url=lake, s3_endpoint=s3_endpoint, **more)


def open_store(settings: Settings):
    from songscope.store.store import Store

    return Store(settings)


def print_json(result) -> None:
    """The one renderer of ``--json``: a result object's ``to_dict()`` through songscope's JSON encoding."""
    from songscope.jsonable import dumps

    out.print_json(dumps(result))


@contextmanager
def friendly_errors() -> Iterator[None]:
    """The one error edge: a `UserError` (what the user can fix) becomes one clear line on stderr and
    exit status 2, a failed Spark job its first line and status 1; anything else is a bug and shows
    as one, with its traceback."""
    from rich.markup import escape

    from songscope.errors import UserError

    try:
        yield
    except UserError as exc:  # the message as written: "songscope[audio]" or a path's "[2020]" is not markup
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(2) from None
    except Exception as exc:
        if not type(exc).__module__.startswith(("pyspark", "py4j")):
            raise
        # A failed Spark job: its first line says what (a Java error, an executor out of memory), not 200 lines of JVM stack.
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        err.print(f"[bold red]error:[/] Spark failed: {escape(first[:500])}. Spark's own log above has the detail; if an executor ran out of "
                  "memory, give it more (SONGSCOPE_SPARK_MEMORY=12g on local[*], spark.executor.memory on a cluster)",
                  highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(1) from None


@contextmanager
def progress_line(enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """A live status line on stderr (a spinner, the current step and the time spent)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    if not enabled:
        yield lambda message: None
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task("starting", total=None)
        yield lambda message: bar.update(task, description=message)


def _version(value: bool) -> None:
    if value:
        out.print(f"songscope {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """songscope command line."""


def parse_params(values: list[str] | None) -> dict[str, object]:
    params: dict[str, object] = {}
    for item in values or []:
        if "=" not in item:
            raise UserError(f"--param {item!r}: use NAME=VALUE, e.g. --param min_cluster_size=50")
        name, raw = item.split("=", 1)
        try:
            params[name] = json.loads(raw)
        except json.JSONDecodeError:
            params[name] = raw
    return params


def feature_space(key: str, mode: bool, scaling: str, pca: float | None):
    from songscope.features import FeatureSpace

    if key not in ("none", "circle", "onehot"):
        raise UserError(f"--key {key!r}: choose none, circle or onehot")
    if scaling not in ("standard", "robust"):
        raise UserError(f"--scaling {scaling!r}: choose standard or robust")
    return FeatureSpace(key=key, mode=mode, scaling=scaling, pca=(int(pca) if pca and pca >= 1 else pca))  # type: ignore[arg-type]


KeyOption = Annotated[str, typer.Option("--key", help="How to use the musical key: none, circle (sin/cos) or onehot.")]
ModeOption = Annotated[bool, typer.Option("--mode/--no-mode", help="Use mode (major/minor) as a feature.")]
ScalingOption = Annotated[str, typer.Option("--scaling", help="standard (mean/sd) or robust (median/IQR).")]
PcaOption = Annotated[float | None, typer.Option("--pca", help="Project onto principal components: a count (e.g. 6) or a variance share (e.g. 0.9).", show_default=False)]


def k_range(text: str) -> list[int]:
    try:
        if ".." in text:
            low, high = (int(p) for p in text.split(".."))
            ks = list(range(low, high + 1))
        else:
            ks = [int(p) for p in text.split(",")]
    except ValueError:
        raise UserError(f"--k {text!r}: use a range such as 2..60 or a list such as 4,8,12") from None
    if not ks or min(ks) < 2:
        raise UserError(f"--k {text!r}: k starts at 2")
    return ks


def parse_range(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        low, high = (int(p) for p in text.split(".."))
    except ValueError:
        raise UserError(f"--popularity {text!r}: use LOW..HIGH, e.g. 20..80") from None
    return low, high


def songs_from_file(path: Path | None, flag: str = "--file") -> list[str]:
    """The songs a file names: a playlist (.m3u, .m3u8, .jspf, .json, .csv: its format by the
    extension, Spotify exporters' CSV included), or one song per line (a track id or 'artist - title')."""
    from songscope.recommend import playlists

    if path is None:
        return []
    if not path.is_file():
        raise UserError(f"{flag} {path}: no such file (a playlist, or one song per line: a track id or 'artist - title')")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    kind = playlists.FORMATS.get(path.suffix.lower())
    if kind is not None:
        return playlists.read(text, kind, source=f"{flag} {path}")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def write_playlist(playlist, path: Path, kind: str | None) -> None:
    from songscope.recommend import playlists

    chosen = playlists.format_of(path, kind)
    path.write_text(playlist.render(chosen, base=path.absolute().parent), encoding="utf-8")
    out.print(f"wrote {len(playlist.songs)} songs to {path} ({chosen})", highlight=False)
