"""Figures from songscope's result objects: EDA, model selection, the cluster map, profiles,
comparisons and recommendations.

Every function takes results (frames, arrays, `Sweep`, `Comparison`, a `Recommendation`) and
returns an interactive Plotly figure; `save_static` writes any of them as PNG or SVG. Figures
hold no randomness of their own: what they sample, they sample with the seed they are given, so
the same inputs give the same figure data (tested on the data, not on pixels).

Readability rules applied throughout: up to 12 clusters get a legend; beyond that the legend
would hide the data, so clusters are labelled at their centres and named on hover instead; the
palette has 48 distinguishable colours before it repeats; the cluster map states how much of the
neighbourhood structure the 2-D picture keeps (trustworthiness), so nobody reads more into it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from songscope import schema
from songscope.errors import UserError

#: 48 colours: Plotly's Dark24 then Light24 (qualitative, distinguishable on white).
PALETTE = (
    "#2E91E5 #E15F99 #1CA71C #FB0D0D #DA16FF #222A2A #B68100 #750D86 #EB663B #511CFB #00A08B #FB00D1 "
    "#FC0080 #B2828D #6C7C32 #778AAE #862A16 #A777F1 #620042 #1616A7 #DA60CA #6C4516 #0D2A63 #AF0038 "
    "#FD3216 #00FE35 #6A76FC #FED4C4 #FE00CE #0DF9FF #F6F926 #FF9616 #479B55 #EEA6FB #DC587D #D626FF "
    "#6E899C #00B5F7 #B68E00 #C9FBE5 #FF0092 #22FFA7 #E3EE9E #86CE00 #BC7196 #7E7DCD #FC6955 #E48F72"
).split()
#: Above this many clusters, legends give way to labels at the cluster centres.
LEGEND_MAX = 12
TEMPLATE = "plotly_white"


def colour(cluster: int) -> str:
    return "#9E9E9E" if cluster < 0 else PALETTE[cluster % len(PALETTE)]


def _layout(fig: go.Figure, title: str, *, height: int = 420, **kwargs) -> go.Figure:
    top = 95 if "<br>" in title else 60
    fig.update_layout(template=TEMPLATE, title={"text": title, "x": 0.01, "xanchor": "left"}, height=height,
                      margin={"l": 60, "r": 20, "t": top, "b": 50}, font={"size": 12}, **kwargs)
    return fig


# ---------------------------------------------------------------------------------------- EDA


def feature_histograms(tracks: pd.DataFrame, features: Sequence[str] = schema.SPOTIFY.continuous,
                       rules: Sequence[schema.OutlierRule] = schema.SEED_OUTLIER_RULES, bins: int = 40) -> go.Figure:
    """One histogram per feature (by default Spotify's on a scale), with the outlier rules'
    thresholds as dashed red lines."""
    features = [f for f in features if f in tracks and pd.to_numeric(tracks[f], errors="coerce").notna().any()]
    cols = 4
    rows = -(-len(features) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=features, vertical_spacing=0.12, horizontal_spacing=0.06)
    traces, at_rows, at_cols, lines = [], [], [], []
    for i, feature in enumerate(features):
        values = pd.to_numeric(tracks[feature], errors="coerce").dropna().to_numpy(dtype=float)
        counts, edges = np.histogram(values, bins=bins)
        traces.append(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges), marker_color="#4C78A8", name=feature,
                             showlegend=False, hovertemplate=f"{feature} %{{x:.3g}}: %{{y:,}} songs<extra></extra>"))
        at_rows.append(i // cols + 1)
        at_cols.append(i % cols + 1)
        axis = "" if i == 0 else str(i + 1)
        for rule in rules:
            if rule.column == feature and edges[0] <= rule.threshold <= edges[-1]:
                # Shapes in one batch: `add_vline` per line re-validates the whole layout each time.
                lines.append({"type": "line", "xref": f"x{axis}", "yref": f"y{axis} domain", "x0": rule.threshold, "x1": rule.threshold,
                              "y0": 0, "y1": 1, "line": {"dash": "dash", "color": "#D62728"}})
    fig.add_traces(traces, rows=at_rows, cols=at_cols)
    note = "dashed red: outlier thresholds (" + "; ".join(r.name for r in rules) + ")" if rules else ""
    return _layout(fig, "Audio features: distributions", height=230 * rows + 80, shapes=lines,
                   annotations=list(fig.layout.annotations) + ([{"text": note, "xref": "paper", "yref": "paper", "x": 0, "y": -0.08, "showarrow": False,
                                                                "font": {"size": 11, "color": "#D62728"}, "xanchor": "left"}] if note else []))


def correlation_heatmap(correlations: pd.DataFrame) -> go.Figure:
    """Spearman correlations between features, diverging colours centred on 0, values printed."""
    fig = go.Figure(go.Heatmap(z=correlations.to_numpy(), x=list(correlations.columns), y=list(correlations.index), zmin=-1, zmax=1,
                               colorscale="RdBu", reversescale=True, text=np.round(correlations.to_numpy(), 2), texttemplate="%{text}",
                               hovertemplate="%{y} vs %{x}: %{z:.2f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, "Feature correlations (Spearman)", height=520)


def top_artists_bar(top_artists: pd.DataFrame, total: int) -> go.Figure:
    """The most frequent artists and their share of the catalogue: how concentrated (biased) it is."""
    frame = top_artists.iloc[::-1]
    fig = go.Figure(go.Bar(x=frame["tracks"], y=frame["artist_name"], orientation="h", marker_color="#F58518",
                           text=[f"{t / total:.1%}" for t in frame["tracks"]], textposition="outside",
                           hovertemplate="%{y}: %{x:,} songs<extra></extra>"))
    share = top_artists["tracks"].head(10).sum() / max(total, 1)
    return _layout(fig, f"Top artists: the 10 largest hold {share:.1%} of {total:,} songs", height=40 + 24 * len(frame) + 80,
                   xaxis_title="songs")


def popularity_histogram(tracks: pd.DataFrame) -> go.Figure:
    values = pd.to_numeric(tracks.get("popularity"), errors="coerce").dropna()
    fig = go.Figure(go.Histogram(x=values, xbins={"start": 0, "end": 101, "size": 2}, marker_color="#54A24B",
                                 hovertemplate="popularity %{x}: %{y:,} songs<extra></extra>"))
    zero = float((values == 0).mean()) if len(values) else 0.0
    return _layout(fig, f"Popularity ({zero:.1%} of songs at 0)", xaxis_title="popularity (0-100)", yaxis_title="songs")


# --------------------------------------------------------------------------- model selection


def k_selection(sweep) -> go.Figure:
    """Elbow (SSE) with the knee, silhouette curve with its best k, gap statistic with error bars
    and the 1-SE choice: the three criteria side by side, each choice marked."""
    table = sweep.table
    fig = make_subplots(rows=1, cols=3, subplot_titles=("SSE (elbow)", "silhouette", "gap statistic (+/- 1 SE)"), horizontal_spacing=0.08)
    fig.add_trace(go.Scatter(x=table["k"], y=table["sse"], mode="lines+markers", marker_color="#4C78A8", showlegend=False,
                             hovertemplate="k=%{x}: SSE %{y:,.0f}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(x=table["k"], y=table["silhouette"], mode="lines+markers", marker_color="#F58518", showlegend=False,
                             hovertemplate="k=%{x}: silhouette %{y:.3f}<extra></extra>"), row=1, col=2)
    fig.add_trace(go.Scatter(x=table["k"], y=table["gap"], error_y={"type": "data", "array": table["gap_se"], "visible": True},
                             mode="lines+markers", marker_color="#54A24B", showlegend=False,
                             hovertemplate="k=%{x}: gap %{y:.3f}<extra></extra>"), row=1, col=3)
    marks = [(1, "sse", sweep.knee_k, "knee"), (2, "silhouette", sweep.silhouette_k, "best"), (3, "gap", sweep.gap_k, "1-SE")]
    for col, column, k, word in marks:
        if k is None or k not in set(table["k"]):
            continue
        y = float(table.loc[table["k"] == k, column].iloc[0])
        fig.add_trace(go.Scatter(x=[k], y=[y], mode="markers+text", text=[f"{word}: k={k}"], textposition="top right",
                                 marker={"size": 14, "color": "#D62728", "symbol": "circle-open", "line": {"width": 3}}, showlegend=False,
                                 hoverinfo="skip"), row=1, col=col)
    fig.update_xaxes(title_text="k")
    return _layout(fig, f"Choosing k: recommended k = {sweep.recommended_k}", height=400)


def density_noise(density: pd.DataFrame) -> go.Figure:
    """Density methods' parameter sweep: noise share (bars) and clusters found (labels)."""
    frame = density.assign(setting=[f"{a} {p}={v:g}" for a, p, v in zip(density["algorithm"], density["parameter"], density["value"])])
    fig = go.Figure(go.Bar(x=frame["setting"], y=frame["noise_share"], marker_color="#B279A2", text=[f"{c} clusters" for c in frame["clusters"]],
                           textposition="outside", hovertemplate="%{x}: %{y:.0%} noise<extra></extra>"))
    fig.update_yaxes(tickformat=".0%", range=[0, 1.1], title_text="songs left as noise")
    return _layout(fig, "Density methods: share of songs they call noise", height=380)


def methods_comparison(methods: pd.DataFrame) -> go.Figure:
    """The algorithms at one k on the same songs: separation (silhouette), agreement with the
    first algorithm (ARI) and fit time, side by side, one colour per algorithm throughout."""
    agreement = next(c for c in methods.columns if c.startswith("ari_vs_"))
    panels = (("silhouette", "silhouette (higher: better separated)", ".3f"),
              (agreement, f"agreement with {agreement.removeprefix('ari_vs_')} (ARI)", ".2f"),
              ("fit_s", "fit time (s)", ".2g"))
    fig = make_subplots(rows=1, cols=3, subplot_titles=[title for _, title, _ in panels], horizontal_spacing=0.07)
    colours = [colour(i) for i in range(len(methods))]
    traces = [go.Bar(x=methods["algorithm"], y=methods[column], marker_color=colours, showlegend=False, text=[format(v, fmt) for v in methods[column]],
                     textposition="outside", cliponaxis=False, hovertemplate=f"%{{x}}: %{{y:{fmt}}}<extra></extra>")
              for column, _, fmt in panels]
    fig.add_traces(traces, rows=[1, 1, 1], cols=[1, 2, 3])
    fig.update_yaxes(range=[0, 1.1], row=1, col=2)
    return _layout(fig, f"The algorithms at k = {methods.attrs['k']}, on the same {methods.attrs['sample']:,} songs", height=400)


# ----------------------------------------------------------------------------------- the map


@dataclass
class MapPoints:
    """Songs placed in 2-D, with how faithful the placement is."""

    xy: np.ndarray  # (n, 2) for the rows in `rows`
    rows: np.ndarray  # which songs of the catalogue are drawn
    method: str
    trustworthiness: float
    trust_sample: int
    note: str


#: What each projection costs, stated on the figure and in `--help`.
PROJECTION_COSTS = {
    "pca": "PCA: linear, instant, keeps global distances; crowds local neighbourhoods",
    "tsne": "t-SNE: keeps local neighbourhoods, distorts distances between clusters; about 1 min per 10k songs",
    "umap": "UMAP: local and some global structure; about 30 s to compile in each new process, then fast",
}


def project(X: np.ndarray, *, method: str = "pca", max_points: int = 20_000, seed: int = 0, trust_sample: int = 2_000) -> MapPoints:
    """Place songs in 2-D (at most `max_points`, a fixed-seed sample) and measure the map's
    trustworthiness (10 neighbours, on a fixed-seed sample of `trust_sample`)."""
    from songscope.evaluate.internal import trustworthiness

    rng = np.random.default_rng(seed)
    rows = np.arange(len(X)) if len(X) <= max_points else np.sort(rng.choice(len(X), max_points, replace=False))
    data = X[rows]
    if method == "pca":
        centred = data - data.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        vt = vt[:2] * np.sign(vt[np.arange(2), np.abs(vt[:2]).argmax(axis=1)])[:, None]  # fixed signs: same map every run
        xy = centred @ vt.T
    elif method == "tsne":
        from sklearn.manifold import TSNE

        xy = TSNE(2, random_state=seed, init="pca").fit_transform(data)
    elif method == "umap":
        try:
            import umap  # type: ignore[import-not-found]
        except ImportError as exc:  # pragma: no cover - optional
            raise UserError("UMAP needs the umap-learn package: pip install umap-learn (or use --map pca or tsne)") from exc
        xy = umap.UMAP(random_state=seed).fit_transform(data)
    else:
        raise UserError(f"unknown projection {method!r}: choose pca, tsne or umap")
    pick = np.sort(rng.choice(len(data), min(trust_sample, len(data)), replace=False))
    trust = trustworthiness(data[pick], xy[pick], n_neighbors=min(10, max(1, len(pick) // 2 - 1)))
    return MapPoints(np.asarray(xy, dtype=float), rows, method, trust, len(pick), PROJECTION_COSTS[method])


def _trust_words(trust: float) -> str:
    if trust >= 0.95:
        return "neighbours on the map are mostly neighbours in the data"
    if trust >= 0.85:
        return "nearby points are often, not always, similar songs; distances between clusters are rough"
    return "a rough sketch: many map neighbours are not similar songs"


def cluster_map(points: MapPoints, labels: np.ndarray, tracks: pd.DataFrame, descriptions: dict[int, str] | None = None,
                title: str = "Cluster map") -> go.Figure:
    """Every drawn song, coloured by cluster; hover shows artist, title, cluster and its description."""
    descriptions = descriptions or {}
    drawn = labels[points.rows]
    names = (tracks["artist_name"].astype(str) + " - " + tracks["track_name"].astype(str)).to_numpy()[points.rows]
    ids = tracks["track_id"].astype(str).to_numpy()[points.rows]
    clusters = sorted(int(c) for c in np.unique(drawn))
    fig = go.Figure()
    many = len(clusters) > LEGEND_MAX
    for c in clusters:
        mask = drawn == c
        text = descriptions.get(c, "noise" if c < 0 else "")
        fig.add_trace(go.Scattergl(
            x=points.xy[mask, 0], y=points.xy[mask, 1], mode="markers", name=f"{c}: {text}"[:40] if c >= 0 else "noise",
            marker={"size": 4, "color": colour(c), "opacity": 0.6},
            customdata=np.c_[names[mask], np.full(mask.sum(), f"{c}: {text}"), ids[mask]],  # the web app opens a song by its id
            hovertemplate="%{customdata[0]}<br>cluster %{customdata[1]}<extra></extra>",
        ))
    if many:
        # Numbers on a light box at each cluster's median point: readable over dense colour.
        for c in clusters:
            if c >= 0:
                x, y = np.median(points.xy[drawn == c], axis=0)
                fig.add_annotation(x=x, y=y, text=str(c), showarrow=False, font={"size": 11, "color": "#111"},
                                   bgcolor="rgba(255,255,255,0.75)", bordercolor=colour(c), borderwidth=1, borderpad=1)
    axis = "PC" if points.method == "pca" else points.method.upper() + " "
    fig.update_xaxes(title_text=f"{axis}1", zeroline=False)
    fig.update_yaxes(title_text=f"{axis}2", zeroline=False)
    subtitle = (f"trustworthiness {points.trustworthiness:.2f} on {points.trust_sample:,} songs: {_trust_words(points.trustworthiness)}."
                f"<br>{len(points.rows):,} songs drawn. {points.note}")
    return _layout(fig, f"{title}<br><sup>{subtitle}</sup>", height=640, showlegend=not many,
                   legend={"itemsizing": "constant", "font": {"size": 11}})


# ---------------------------------------------------------------------------------- profiles


def profile_heatmap(tracks: pd.DataFrame, labels: np.ndarray, features: Sequence[str], descriptions: dict[int, str] | None = None) -> go.Figure:
    """Each cluster's median per feature against the catalogue's, in IQR units (diverging colours):
    the picture behind the clusters' descriptions in words."""
    values = tracks[list(features)].apply(pd.to_numeric, errors="coerce").astype(float)
    iqr = (values.quantile(0.75) - values.quantile(0.25)).replace(0, np.nan).fillna(values.std()).replace(0, 1.0)
    clusters = sorted(int(c) for c in np.unique(labels[labels >= 0]))
    shifts = np.array([((values[labels == c].median() - values.median()) / iqr).to_numpy() for c in clusters])
    descriptions = descriptions or {}
    ylabels = [f"{c}: {descriptions.get(c, '')}"[:38] for c in clusters]
    # Colours saturate at 3 IQR: a feature with a tiny IQR (instrumentalness: most songs at 0)
    # would otherwise take the whole scale and wash every other shift out. Hover gives the value.
    limit = min(3.0, float(np.nanmax(np.abs(shifts)))) if shifts.size else 1.0
    fig = go.Figure(go.Heatmap(z=np.clip(shifts, -limit, limit), x=list(features), y=ylabels, colorscale="RdBu", reversescale=True, zmin=-limit, zmax=limit,
                               customdata=shifts, colorbar={"title": "IQR"},
                               hovertemplate="%{y}<br>%{x}: %{customdata:+.2f} IQR from the catalogue median<extra></extra>"))
    fig.update_yaxes(autorange="reversed", tickfont={"size": 10 if len(clusters) > 20 else 12})
    return _layout(fig, "Cluster profiles: median against the catalogue (IQR units; colours saturate at 3)", height=max(360, 22 * len(clusters) + 140))


def cluster_radar(tracks: pd.DataFrame, labels: np.ndarray, cluster: int, features: Sequence[str], description: str = "") -> go.Figure:
    """One cluster's median per feature as a catalogue percentile (0-100), against the middle (50)."""
    values = tracks[list(features)].apply(pd.to_numeric, errors="coerce").astype(float)
    medians = values[labels == cluster].median()
    percentiles = [float((values[f] <= medians[f]).mean() * 100) for f in features]
    theta = list(features) + [features[0]]
    fig = go.Figure()
    fig.add_trace(go.Scatterpolar(r=[50] * len(theta), theta=theta, name="catalogue median", line={"color": "#9E9E9E", "dash": "dot"}))
    fig.add_trace(go.Scatterpolar(r=percentiles + [percentiles[0]], theta=theta, fill="toself", name=f"cluster {cluster}",
                                  line={"color": colour(cluster)}, hovertemplate="%{theta}: percentile %{r:.0f}<extra></extra>"))
    fig.update_polars(radialaxis={"range": [0, 100], "tickvals": [25, 50, 75]})
    return _layout(fig, f"Cluster {cluster}: {description}", height=430)


def cluster_sizes(profiles: pd.DataFrame) -> go.Figure:
    """Sizes, coloured by bootstrap stability (green stable >= 0.75, amber, red < 0.6)."""
    jaccard = profiles["jaccard"] if "jaccard" in profiles else pd.Series([np.nan] * len(profiles))
    from songscope.evaluate.stability import STABLE, UNTRUSTWORTHY

    colours = ["#9E9E9E" if pd.isna(j) else "#2CA02C" if j >= STABLE else "#FF7F0E" if j >= UNTRUSTWORTHY else "#D62728" for j in jaccard]
    stability = ["not measured" if pd.isna(j) else f"J={j:.2f}" for j in jaccard]
    # Beyond 20 bars the labels would shrink to specks: the colour and the hover carry them.
    text = [t if t != "not measured" else "" for t in stability] if len(profiles) <= 20 else None
    fig = go.Figure(go.Bar(x=profiles["cluster"].astype(str), y=profiles["size"], marker_color=colours, text=text, textposition="outside",
                           cliponaxis=False, customdata=np.c_[profiles["description"], stability],
                           hovertemplate="cluster %{x} (%{customdata[0]}): %{y:,} songs, %{customdata[1]}<extra></extra>"))
    fig.update_xaxes(title_text="cluster", type="category")
    fig.update_yaxes(title_text="songs", range=[0, float(profiles["size"].max()) * 1.15])
    return _layout(fig, "Cluster sizes and stability (bootstrap Jaccard: green >= 0.75 stable, red < 0.6 not to be trusted)", height=400)


def silhouette_plot(X: np.ndarray, labels: np.ndarray, jaccard: Sequence[float] | None = None, *, sample: int = 4_000, seed: int = 0) -> go.Figure:
    """Per-song silhouettes grouped by cluster (sorted within each), on a fixed-seed sample, with
    each cluster's bootstrap stability written beside it."""
    from songscope.evaluate.silhouette import silhouette_samples

    rng = np.random.default_rng(seed)
    kept = np.flatnonzero(labels >= 0)
    pick = kept if len(kept) <= sample else np.sort(rng.choice(kept, sample, replace=False))
    values = silhouette_samples(X[pick], labels[pick])
    fig = go.Figure()
    offset = 0
    for c in sorted(int(c) for c in np.unique(labels[pick])):
        s = np.sort(values[labels[pick] == c])
        y = np.arange(offset, offset + len(s))
        # A filled outline per cluster: thousands of one-song bars render as hairlines.
        fig.add_trace(go.Scatter(x=np.r_[0.0, s, 0.0], y=np.r_[y[0], y, y[-1]], fill="toself", mode="lines", line={"width": 0.5, "color": colour(c)},
                                 fillcolor=colour(c), showlegend=False, hoverinfo="skip"))
        note = f"{c}" + (f" J={jaccard[c]:.2f}" if jaccard is not None and c < len(jaccard) and not pd.isna(jaccard[c]) else "")
        fig.add_annotation(x=1.0, y=offset + len(s) / 2, text=note, showarrow=False, xanchor="left", font={"size": 10})
        offset += len(s) + max(10, len(pick) // 200)
    mean = float(values.mean())
    fig.add_vline(x=mean, line_dash="dash", line_color="#D62728")
    fig.update_yaxes(showticklabels=False)
    fig.update_xaxes(range=[-0.6, 1.25], title_text="silhouette")
    return _layout(fig, f"Silhouette per song by cluster (mean {mean:.3f}, dashed; {len(pick):,} songs); J = bootstrap stability",
                   height=max(420, min(1200, 14 * len(np.unique(labels[pick])) + 300)))


# -------------------------------------------------------------------------------- comparison


def comparison_maps(points: MapPoints, labels_a: np.ndarray, labels_b: np.ndarray, names: tuple[str, str] = ("run A", "run B")) -> go.Figure:
    """The same map twice, coloured by each run's clusters."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=names, horizontal_spacing=0.05)
    for col, labels in ((1, labels_a), (2, labels_b)):
        drawn = labels[points.rows]
        fig.add_trace(go.Scattergl(x=points.xy[:, 0], y=points.xy[:, 1], mode="markers", showlegend=False,
                                   marker={"size": 3, "opacity": 0.6, "color": [colour(int(c)) for c in drawn]},
                                   customdata=drawn, hovertemplate="cluster %{customdata}<extra></extra>"), row=1, col=col)
    return _layout(fig, f"Two runs on one map ({points.method.upper()}, trustworthiness {points.trustworthiness:.2f})", height=480)


def contingency_heatmap(contingency: pd.DataFrame, names: tuple[str, str] = ("run A", "run B")) -> go.Figure:
    """Songs per pair of clusters (rows: run A, columns: run B), each row as a share of its cluster."""
    share = contingency.div(contingency.sum(axis=1), axis=0)
    fig = go.Figure(go.Heatmap(z=share.to_numpy(), x=[str(c) for c in contingency.columns], y=[str(c) for c in contingency.index],
                               colorscale="Blues", zmin=0, zmax=1, customdata=contingency.to_numpy(), colorbar={"title": "share"},
                               hovertemplate=f"{names[0]} %{{y}} -> {names[1]} %{{x}}: %{{customdata:,}} songs (%{{z:.0%}})<extra></extra>"))
    fig.update_xaxes(title_text=names[1], type="category")
    fig.update_yaxes(title_text=names[0], type="category", autorange="reversed")
    return _layout(fig, "Where each cluster's songs went", height=max(380, 18 * len(contingency) + 160))


def timings_bar(runs: pd.DataFrame, stages: Sequence[str] = ("features_s", "cluster_s", "metrics_s", "stability_s", "store_s")) -> go.Figure:
    """Seconds per stage for each run (stacked), engine and algorithm in the label."""
    fig = go.Figure()
    labels = [f"{r.run}: {r.engine} {r.algorithm} k={r.k}" for r in runs.itertuples()]
    for i, stage in enumerate(stages):
        if stage not in runs:
            continue
        fig.add_trace(go.Bar(y=labels, x=runs[stage].fillna(0), name=stage.removesuffix("_s"), orientation="h", marker_color=PALETTE[i],
                             hovertemplate=f"{stage.removesuffix('_s')}: %{{x:.2f}} s<extra></extra>"))
    return _layout(fig, "Wall time per stage", barmode="stack", height=260, xaxis_title="seconds")


# --------------------------------------------------------------------------- recommendations


def recommendation_map(points: MapPoints, labels: np.ndarray, seeds: Sequence[int], recommended: Sequence[int], tracks: pd.DataFrame,
                       xy_of: dict[int, np.ndarray] | None = None) -> go.Figure:
    """The catalogue in grey, the favourites as stars and the recommendations as diamonds.
    `xy_of` places songs not among the drawn ones (the map is a sample on large catalogues)."""
    position = dict(zip(points.rows.tolist(), range(len(points.rows))))
    xy_of = xy_of or {}
    names = (tracks["artist_name"].astype(str) + " - " + tracks["track_name"].astype(str)).to_numpy()

    def place(rows: Sequence[int]) -> np.ndarray:
        return np.array([points.xy[position[r]] if r in position else xy_of[r] for r in rows]).reshape(-1, 2)

    fig = go.Figure(go.Scattergl(x=points.xy[:, 0], y=points.xy[:, 1], mode="markers", name="catalogue",
                                 marker={"size": 3, "color": "#D0D0D0"}, hoverinfo="skip"))
    for rows, name, symbol, size in ((seeds, "favourites", "star", 18), (recommended, "recommended", "diamond", 12)):
        xy = place(rows)
        # WebGL like the catalogue layer: an SVG trace would be drawn under its canvas.
        fig.add_trace(go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers", name=name, text=[names[r] for r in rows],
                                 marker={"symbol": symbol, "size": size, "color": [colour(int(labels[r])) for r in rows], "line": {"width": 1, "color": "#111"}},
                                 hovertemplate="%{text}<extra>" + name + "</extra>"))
    # Zoom to the favourites and recommendations (the whole catalogue stays as grey context
    # when zoomed out): on the full map they are a few overlapping marks.
    chosen = np.vstack([place(seeds), place(recommended)]) if len(seeds) + len(recommended) else points.xy
    low, high = chosen.min(axis=0), chosen.max(axis=0)
    pad = np.maximum((high - low) * 0.4, 0.1 * (points.xy.max(axis=0) - points.xy.min(axis=0)))
    fig.update_xaxes(range=[low[0] - pad[0], high[0] + pad[0]])
    fig.update_yaxes(range=[low[1] - pad[1], high[1] + pad[1]])
    return _layout(fig, "Favourites and recommendations on the map (zoomed; double-click for the whole catalogue)", height=520)


def contribution_bars(contributions: dict[str, float], song: str, nearest_seed: str) -> go.Figure:
    """Each feature's share of the distance between a recommended `song` and its nearest
    favourite (a `Recommendation`'s ``contributions``, as stored with it)."""
    items = sorted(contributions.items(), key=lambda kv: kv[1])
    fig = go.Figure(go.Bar(x=[v for _, v in items], y=[k for k, _ in items], orientation="h", marker_color="#4C78A8",
                           hovertemplate="%{y}: %{x:.0%} of the distance<extra></extra>"))
    fig.update_xaxes(tickformat=".0%", title_text="share of the squared distance")
    return _layout(fig, f"Why {song}: closest to {nearest_seed}"[:110], height=40 + 24 * len(items) + 100)


# ---------------------------------------------------------------------------------- static


def save_static(figures: dict[str, go.Figure], folder: Path, formats: Sequence[str] = ("png", "svg"), scale: float = 2.0) -> list[Path]:
    """Write each figure as PNG and/or SVG into `folder` (needs the `kaleido` package and a
    Chrome or Chromium on the machine; set BROWSER_PATH to point at it)."""
    try:
        import plotly.io as pio
    except ImportError as exc:  # pragma: no cover
        raise RuntimeError("static figures need plotly") from exc
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.{fmt}" for name in figures for fmt in formats]
    figs = [figures[name] for name in figures for _ in formats]
    try:
        pio.write_images(figs, paths, scale=scale)
    except Exception as exc:  # kaleido raises its own types for a missing browser
        raise RuntimeError(f"could not write static figures ({exc}); install kaleido and Chromium, or set BROWSER_PATH") from exc
    return paths
