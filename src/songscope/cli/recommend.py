"""Recommendation commands: recommend, path, eval-recs."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from pathlib import Path
from typing import Annotated

import typer

from songscope.cli.common import (
    DbOption,
    FeaturesOption,
    JsonOption,
    LakeOption,
    ReasonRunOption,
    S3Option,
    app,
    friendly_errors,
    open_store,
    out,
    parse_range,
    print_json,
    progress_line,
    settings_from,
    songs_from_file,
    write_playlist,
)
from songscope.cli.render import print_offline_evaluation, print_recommendations, print_songs
from songscope.recommend.options import RecommendOptions


def _option_flags() -> list[inspect.Parameter]:
    """One typer option per `RecommendOptions` field, from its one declaration: its default,
    bounds and help, spelled as its ``cli`` metadata says (the API's request model is made from
    the same fields)."""
    hints = typing.get_type_hints(RecommendOptions)
    parameters = []
    for option in dataclasses.fields(RecommendOptions):
        cli, help_text = option.metadata["cli"], option.metadata["help"]
        flag = cli.get("flag", "--" + option.name.replace("_", "-"))
        hint, default, show = hints[option.name], option.default, True
        bounds = {"min": option.metadata["ge"]} if "ge" in option.metadata else {}
        if "le" in option.metadata:
            bounds["max"] = option.metadata["le"]
        if hint is bool:
            declared = f"{flag}/{cli['off_flag']}" if "off_flag" in cli else (f"{flag}/--no-{flag[2:]}" if default else flag)
            annotation = Annotated[bool, typer.Option(declared, help=help_text)]
        elif "none_as" in cli:
            annotation = Annotated[int, typer.Option(flag, min=cli["none_as"], help=help_text.replace("none", str(cli["none_as"])))]
        elif cli.get("repeat"):
            annotation, default, show = Annotated[list[str] | None, typer.Option(flag, help=help_text + " Repeatable.", show_default=False)], None, False
        elif cli.get("file"):
            annotation, default = Annotated[Path | None, typer.Option(flag, help=cli["help"], show_default=False)], None
        elif cli.get("range"):
            annotation = Annotated[str | None, typer.Option(flag, help=help_text, show_default=False)]
        elif default is None:
            bounds.pop("max", None) if hint == (float | None) else None
            annotation = Annotated[hint, typer.Option(flag, help=help_text, show_default=False, **({} if hint == (float | None) else bounds))]
        else:
            annotation = Annotated[hint, typer.Option(flag, help=help_text, show_default=show, **bounds)]
        parameters.append(inspect.Parameter(option.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation, default=default))
    return parameters


def options_from_flags(values: dict[str, object]) -> RecommendOptions:
    """The `RecommendOptions` the flags of `_option_flags` give."""
    chosen: dict[str, object] = {}
    for option in dataclasses.fields(RecommendOptions):
        cli, value = option.metadata["cli"], values[option.name]
        if "none_as" in cli:
            value = None if value == cli["none_as"] else value
        elif cli.get("range"):
            value = parse_range(value)  # type: ignore[arg-type]
        elif cli.get("file"):
            value = tuple(songs_from_file(value, cli.get("flag", "--" + option.name.replace("_", "-"))))  # type: ignore[arg-type]
        elif cli.get("repeat"):
            value = tuple(value or ())  # type: ignore[arg-type]
        chosen[option.name] = value
    return RecommendOptions(**chosen)  # type: ignore[arg-type]


def recommend(
    favourites: list[str] | None = None,
    file: Path | None = None,
    dislike: list[str] | None = None,
    export: Path | None = None,
    export_format: str | None = None,
    run: str | None = None,
    db: str | None = None,
    lake: str | None = None,
    s3_endpoint: str | None = None,
    as_json: bool = False,
    **flags: object,
) -> None:
    """Recommend new songs for favourites, each with its reasons; the request is stored in the database.

    Example: songscope recommend "Bastille - Admit Defeat" "Cigarettes After Sex - Cry" -n 10

    Filters: songscope recommend "Bastille - Admit Defeat" --where "duration_ms < 420000 and instrumentalness < 0.5" --exclude-artist Drake
    """
    from songscope import service

    # An unknown or ambiguous favourite is an UnknownSongError (a UserError): one clear line, exit 2.
    with friendly_errors():
        songs = list(favourites or []) + songs_from_file(file)
        options = options_from_flags(flags)
        if export is not None:
            from songscope.recommend.playlists import format_of

            format_of(export, export_format)  # a bad name is refused before any work
        with open_store(settings_from(db, lake, s3_endpoint)) as store:
            outcome = service.recommend(store, songs, dislikes=list(dislike or []), options=options, run_id=run)
            if export is not None:
                write_playlist(service.recommendation_playlist(store, outcome), export, export_format)
    if as_json:
        print_json(outcome)
        return
    print_recommendations(outcome)


_FIXED = {
    "favourites": Annotated[list[str] | None, typer.Argument(help="Favourite songs: track ids or 'artist - title' (fuzzy).", show_default=False)],
    "file": Annotated[Path | None, typer.Option("--file", "-f", help="Favourites from a file: one per line, or a playlist (.m3u, .jspf, .csv, "
                                                "Spotify exporters' CSV included).", show_default=False)],
    "dislike": Annotated[list[str] | None, typer.Option("--dislike", "-d", help="A song the listener dislikes (repeatable).", show_default=False)],
    "export": Annotated[Path | None, typer.Option("--export", help="Also write the list as a playlist: .m3u, .jspf or .csv (spotify:track URIs).",
                                                  show_default=False)],
    "export_format": Annotated[str | None, typer.Option("--export-format", help="m3u, jspf or csv (default: from --export's extension).", show_default=False)],
    "run": ReasonRunOption, "db": DbOption, "lake": LakeOption, "s3_endpoint": S3Option, "as_json": JsonOption,
}
_fixed = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=_FIXED[name], default=parameter.default)
          for name, parameter in inspect.signature(recommend).parameters.items() if name in _FIXED]
# The flags: the fixed ones, then one per recommendation option (typer reads the signature).
recommend.__signature__ = inspect.Signature([*_fixed[:3], *_option_flags(), *_fixed[3:]], return_annotation=None)  # type: ignore[attr-defined]
recommend.__annotations__ = {p.name: p.annotation for p in recommend.__signature__.parameters.values()} | {"return": None}  # type: ignore[attr-defined]
app.command()(recommend)


@app.command()
def path(
    start: Annotated[str, typer.Argument(help="The first song: a track id or 'artist - title' (fuzzy).", show_default=False)],
    end: Annotated[str, typer.Argument(help="The last song.", show_default=False)],
    steps: Annotated[int, typer.Option(min=3, max=100, help="Songs on the path, its two ends included.")] = 12,
    per_artist: Annotated[int, typer.Option(min=0, help="At most this many songs per artist, the ends included (0: no cap).")] = 1,
    export: Annotated[Path | None, typer.Option("--export", help="Also write the path as a playlist: .m3u, .jspf or .csv.", show_default=False)] = None,
    run: ReasonRunOption = None,
    db: DbOption = None,
    lake: LakeOption = None,
    s3_endpoint: S3Option = None,
    as_json: JsonOption = False,
) -> None:
    """A path of songs moving smoothly from one song to another, each step with its reason.

    Example: songscope path "Bastille - Admit Defeat" "Cigarettes After Sex - Cry" --steps 12
    """
    from songscope import service
    from songscope.recommend.playlists import format_of

    with friendly_errors():
        if export is not None:
            format_of(export)
        with open_store(settings_from(db, lake, s3_endpoint)) as store:
            result = service.path(store, start, end, steps=steps, per_artist=per_artist or None, run_id=run)
            if export is not None:
                write_playlist(service.path_playlist(store, result), export, None)
    if as_json:
        print_json(result)
        return
    print_songs([(step.rank, f"{step.shown_artists} - {step.track_name}", reason) for step, reason in zip(result.steps, result.reasons())])
    smooth = result.to_dict()["smoothness"]
    out.print(f"hops: mean {smooth['mean_hop']}, longest {smooth['longest_hop']} (an even path's: {smooth['straight_hop']})", highlight=False)
    for note in result.notes:
        out.print(note, highlight=False)


@app.command("eval-recs")
def eval_recs(
    sources: Annotated[list[str] | None, typer.Argument(help="A labelled catalogue (any layout ingest accepts), e.g. the TidyTuesday songs.", show_default=False)] = None,
    label: Annotated[str, typer.Option(help="Column of genre-like labels (cells may hold several, joined with |).")] = "playlist_genre",
    playlist: Annotated[str | None, typer.Option(help="Column of playlist ids for playlist continuation (default: playlist_id when the catalogue has it; skipped, with a note, when it has none).", show_default=False)] = None,
    queries: Annotated[int, typer.Option(min=10, help="Query songs for genre-precision@10 (from the catalogue's evaluation half).")] = 2_000,
    playlists: Annotated[int | None, typer.Option(help="At most this many playlists (default: all with >= 10 tracks).", show_default=False)] = None,
    learn_weights: Annotated[bool, typer.Option("--learn-weights", help="Also learn feature weights on this catalogue's training half and evaluate songscope with them.")] = False,
    liked: Annotated[str | None, typer.Option(help="A liked/disliked set for the ROC AUC protocol (e.g. the Spotify Song Attributes data.csv).", show_default=False)] = None,
    target: Annotated[str, typer.Option(help="Column of the liked set: 1 liked, 0 disliked.")] = "target",
    repeats: Annotated[int, typer.Option(min=2, help="Random halves for the liked AUC.")] = 20,
    seed: Annotated[int, typer.Option(help="Seed of every random choice (queries, splits, baselines).")] = 0,
    features: FeaturesOption = "spotify",
    db: DbOption = None,
    lake: LakeOption = None,
    s3_endpoint: S3Option = None,
    as_json: JsonOption = False,
) -> None:
    """Evaluate recommendations offline against labels: genre-precision@10, playlist continuation, liked AUC; baselines, 95% CIs, paired differences, and an ablation of songscope's ingredients.

    Example: songscope eval-recs spotify_songs.csv --liked data.csv
    """
    from songscope import service

    with friendly_errors(), open_store(settings_from(db, lake, s3_endpoint)) as store, progress_line(not as_json) as say:
        report = service.eval_recs(store, sources, liked=liked, label=label, playlist=playlist, queries=queries, playlists=playlists,
                                   learn_weights=learn_weights, target=target, repeats=repeats, seed=seed, features=features, progress=say)
    if as_json:
        print_json(report)
        return
    print_offline_evaluation(report)
