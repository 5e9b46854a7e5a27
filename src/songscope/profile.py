"""Profile a catalogue (exploratory data analysis): what is in it, and how it is biased.

`profile` computes the figures; `write_profile` writes them as one Markdown page and one
self-contained HTML page (images inlined), with the PNG figures beside them.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from songscope import schema
from songscope.artists import credit_counts
from songscope.clean import CleanReport
from songscope.row_keys import flag_outliers

TOP_ARTISTS = 15


@dataclass
class Profile:
    """The figures of a catalogue profile (tables as DataFrames, figures as PNG bytes)."""

    rows: int
    describe: pd.DataFrame
    top_artists: pd.DataFrame
    artist_count: int
    top10_share: float
    popularity_zero_share: float | None
    outliers: pd.DataFrame
    correlations: pd.DataFrame
    clean_report: CleanReport | None = None
    rejected: int | None = None
    figures: dict[str, bytes] = field(default_factory=dict)
    #: How figures were computed where they are not exact (a distributed profile of a big catalogue).
    notes: list[str] = field(default_factory=list)
    #: The feature set (`schema.FEATURE_SETS`) whose features are correlated and drawn.
    feature_set: str = schema.SPOTIFY.name


def described_features(feature_set: schema.FeatureSet) -> tuple[str, ...]:
    """The columns a profile correlates and draws: the set's features, and popularity."""
    return feature_set.names + (schema.POPULARITY.name,)


def profile(
    tracks: pd.DataFrame,
    *,
    clean_report: CleanReport | None = None,
    rejected: int | None = None,
    outlier_rules: tuple[schema.OutlierRule, ...] = schema.SEED_OUTLIER_RULES,
    figures: bool = True,
    feature_set: schema.FeatureSet = schema.SPOTIFY,
) -> Profile:
    """Describe every numeric column, the artists' concentration and the outliers.

    Examples
    --------
    >>> from songscope.clean import read_and_clean
    >>> from songscope.seed import seed_paths
    >>> p = profile(read_and_clean(seed_paths())[1].tracks, figures=False)
    >>> p.top_artists.iloc[0]["artist_name"]
    'Ludwig van Beethoven'
    """
    numeric = [c.name for c in schema.NUMERIC_COLUMNS if c.name in tracks.columns]
    # One float copy of each column, made a column at a time (not the whole frame converted twice).
    values = pd.DataFrame({c: pd.to_numeric(tracks[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan) for c in numeric},
                          index=tracks.index, columns=numeric)
    describe = values.describe().T
    describe.insert(1, "nulls", values.isna().sum())
    describe.insert(2, "unique", values.nunique())

    # Most songs first, ties by name: the order every backend gives (Spark sorts the same way).
    # Every artist of a song counts (a duet is a song of each).
    artists = credit_counts(tracks)
    top = artists.head(TOP_ARTISTS).rename_axis("artist_name").reset_index(name="tracks")
    top["share"] = top["tracks"] / len(tracks)
    popularity_zero = None
    if "popularity" in tracks and tracks["popularity"].notna().any():
        popularity_zero = float((pd.to_numeric(tracks["popularity"]) == 0).mean())

    flags = flag_outliers(tracks, outlier_rules)
    outliers = pd.DataFrame({"rule": flags.columns, "tracks": flags.sum().to_numpy()})
    outliers.loc[len(outliers)] = ["any rule", int(flags.any(axis=1).sum())]

    features = [c for c in described_features(feature_set) if c in values and values[c].notna().any()]
    correlations = values[features].corr(method="spearman")
    result = Profile(
        rows=len(tracks),
        describe=describe,
        top_artists=top,
        artist_count=int(artists.size),
        top10_share=float(artists.head(10).sum() / max(len(tracks), 1)),
        popularity_zero_share=popularity_zero,
        outliers=outliers,
        correlations=correlations,
        clean_report=clean_report,
        rejected=rejected,
        feature_set=feature_set.name,
    )
    if figures:
        result.figures = draw_figures(values, features, top, correlations, outlier_rules)
    return result


def draw_figures(values, features, top, correlations, rules) -> dict[str, bytes]:
    """Histograms of `values` (one per feature), the correlation matrix and the top artists, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    cols = 4
    rows = int(np.ceil(len(features) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(14, 2.6 * rows))
    # A fixed layout: constrained_layout costs seconds for a grid this size.
    fig.subplots_adjust(left=0.04, right=0.99, bottom=0.05, top=0.92, wspace=0.25, hspace=0.45)
    for ax, name in zip(np.ravel(axes), features):
        data = values[name].dropna()
        ax.hist(data, bins=50, color="#4c72b0", histtype="stepfilled")  # one patch, not 50
        for rule in rules:
            if rule.column == name:
                ax.axvline(rule.threshold, color="#c44e52", linestyle="--", linewidth=1)
                ax.text(rule.threshold, ax.get_ylim()[1] * 0.92, f" {rule.op} {rule.threshold:g}", color="#c44e52", fontsize=8)
        ax.set_title(name, fontsize=10)
        ax.tick_params(labelsize=8)
    for ax in np.ravel(axes)[len(features):]:
        ax.set_visible(False)
    fig.suptitle("Feature distributions (dashed: outlier thresholds)")
    out["histograms"] = _png(fig)

    fig, ax = plt.subplots(figsize=(9, 7.5))
    fig.subplots_adjust(left=0.16, right=0.98, bottom=0.18, top=0.94)
    image = ax.imshow(correlations.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(features)), features, rotation=60, ha="right", fontsize=9)
    ax.set_yticks(range(len(features)), features, fontsize=9)
    for i in range(len(features)):
        for j in range(len(features)):
            v = correlations.iat[i, j]
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if abs(v) > 0.6 else "black")
    fig.colorbar(image, ax=ax, shrink=0.8, label="Spearman correlation")
    ax.set_title("Feature correlations")
    out["correlations"] = _png(fig)

    fig, ax = plt.subplots(figsize=(9, 5.5))
    fig.subplots_adjust(left=0.28, right=0.97, bottom=0.1, top=0.93)
    ordered = top.iloc[::-1]
    ax.barh(ordered["artist_name"], ordered["share"] * 100, color="#55a868")
    for y, (count, share) in enumerate(zip(ordered["tracks"], ordered["share"])):
        ax.text(share * 100, y, f" {count:,}", va="center", fontsize=8)
    ax.set_xlim(0, float(ordered["share"].max()) * 100 * 1.12)  # room for the count labels
    ax.set_xlabel("share of catalogue (%)")
    ax.set_title(f"Top {len(top)} artists: catalogue concentration")
    out["top_artists"] = _png(fig)
    plt.close("all")
    return out


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------- writing


def to_markdown(p: Profile, image_names: dict[str, str] | None = None) -> str:
    lines = ["# Catalogue profile\n", f"{p.rows:,} tracks, {p.artist_count:,} artists.\n"]
    if p.clean_report is not None:
        lines.append("## Cleaning\n")
        if p.rejected is not None:
            lines.append(f"Rows rejected at validation: {p.rejected:,} (kept in the rejected-rows table).\n")
        lines.append(f"Rows after each step: {p.clean_report.chain()}.\n")
        lines.append(_md_table(pd.DataFrame([s.__dict__ | {"removed": s.removed} for s in p.clean_report.steps])))
        if p.clean_report.loose_candidates:
            applied = "applied" if p.clean_report.loose_applied else "reported only, not applied"
            lines.append(f"\nLoose near-duplicate candidates (normalised names): {p.clean_report.loose_candidates:,} ({applied}).\n")
    lines.append("## Features\n")
    lines.append(f"Described by the {p.feature_set} feature set: {', '.join(schema.feature_set(p.feature_set).names)}.\n")
    lines.extend(f"{note}\n" for note in p.notes)
    lines.append(_md_table(p.describe.reset_index(names="feature"), floats=4))
    lines.append("## Bias: artist concentration\n")
    lines.append(f"The top 10 artists hold {p.top10_share:.1%} of the catalogue.")
    if p.popularity_zero_share is not None:
        lines.append(f" {p.popularity_zero_share:.1%} of tracks have popularity 0.")
    lines.append("\n")
    lines.append(_md_table(p.top_artists.assign(share=(p.top_artists["share"] * 100).round(2)).rename(columns={"share": "share_%"})))
    lines.append("## Outliers (flagged, not removed)\n")
    lines.append(_md_table(p.outliers))
    if image_names:
        lines.append("## Figures\n")
        for key, name in image_names.items():
            lines.append(f"![{key}]({name})\n")
    return "\n".join(lines) + "\n"


def _cell(v: object, floats: int = 3) -> str:
    if isinstance(v, (float, np.floating)):
        return "" if np.isnan(v) else f"{v:,.{floats}f}".rstrip("0").rstrip(".")
    if isinstance(v, (int, np.integer)):
        return f"{v:,}"
    return str(v)


def _md_table(frame: pd.DataFrame, floats: int = 3) -> str:
    def fmt(v: object) -> str:
        return _cell(v, floats).replace("|", "\\|")

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def to_html(p: Profile) -> str:
    """One self-contained page (templates/profile.html.j2): the Markdown's content as HTML, images inlined."""
    from songscope.pages import render

    cleaning = None
    if p.clean_report is not None:
        loose = None
        if p.clean_report.loose_candidates:
            loose = f"{p.clean_report.loose_candidates:,} ({'applied' if p.clean_report.loose_applied else 'reported only, not applied'})"
        cleaning = {"rejected": p.rejected, "chain": p.clean_report.chain(), "loose": loose,
                    "steps": _cells(pd.DataFrame([s.__dict__ | {"removed": s.removed} for s in p.clean_report.steps]))}
    return render(
        "profile.html.j2", rows=p.rows, artists=p.artist_count, cleaning=cleaning, notes=p.notes,
        feature_set=p.feature_set, features=schema.feature_set(p.feature_set).names,
        describe=_cells(p.describe.reset_index(names="feature"), floats=4), top10_share=f"{p.top10_share:.1%}",
        popularity_zero_share=None if p.popularity_zero_share is None else f"{p.popularity_zero_share:.1%}",
        top_artists=_cells(p.top_artists.assign(share=(p.top_artists["share"] * 100).round(2)).rename(columns={"share": "share_%"})),
        outliers=_cells(p.outliers), figures={key: base64.b64encode(png).decode("ascii") for key, png in p.figures.items()},
    )


def _cells(frame: pd.DataFrame, floats: int = 3) -> dict[str, list]:
    """A table's header and its cells as text, written as the Markdown table writes them."""
    return {"columns": [str(c) for c in frame.columns], "rows": [[_cell(v, floats) for v in row] for row in frame.itertuples(index=False)]}


def write_profile(p: Profile, folder: Path) -> dict[str, Path]:
    """Write ``profile.md``, ``profile.html`` and the PNG figures into `folder`; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    names = {}
    for key, png in p.figures.items():
        path = folder / f"{key}.png"
        path.write_bytes(png)
        paths[key] = path
        names[key] = path.name
    paths["markdown"] = folder / "profile.md"
    paths["markdown"].write_text(to_markdown(p, names), encoding="utf-8")
    paths["html"] = folder / "profile.html"
    paths["html"].write_text(to_html(p), encoding="utf-8")
    return paths
