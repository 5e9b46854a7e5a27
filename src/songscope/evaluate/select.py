"""Choosing k and the algorithm, with evidence: elbow (knee), silhouette curve, gap statistic.

Gap statistic (Tibshirani, Walther & Hastie 2001): ``Gap(k) = E*[log W_k] - log W_k`` with W_k the
pooled within-cluster sum of squares, the expectation over B reference data sets drawn uniformly
in the box aligned with the data's principal components; ``s_k = sd_k * sqrt(1 + 1/B)``; the
1-SE rule picks the smallest k with ``Gap(k) >= Gap(k+1) - s_{k+1}``. It doubles as the null-model
check: if the data has no more structure than the reference, the rule picks k = 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from songscope.cluster.kmeans import kmeans_plus_plus, lloyd
from songscope.cluster.local import LocalAlgorithm
from songscope.errors import UserError
from songscope.evaluate.silhouette import silhouette, silhouettes

Progress = Callable[[str], None]


def sweep_kmeans(X: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, float]:
    """The k sweep's k-means (k-means++ seeds, at most 100 Lloyd iterations): labels and SSE."""
    if k == 1:
        return np.zeros(len(X), dtype=np.int64), float(((X - X.mean(axis=0)) ** 2).sum())
    labels, centres, inertia, _ = lloyd(X, kmeans_plus_plus(X, k, seed), max_iter=100)
    return labels, inertia


def knee(ks: np.ndarray, values: np.ndarray) -> int:
    """The knee of a decreasing convex curve (Kneedle): the k farthest below the chord.

    >>> knee(np.arange(1, 9), np.array([100, 40, 20, 15, 12, 10, 9, 8.5]))
    3
    """
    ks = np.asarray(ks, dtype=float)
    values = np.asarray(values, dtype=float)
    x = (ks - ks[0]) / (ks[-1] - ks[0])
    y = (values - values.min()) / (values.max() - values.min() or 1.0)
    # Distance below the straight line from the first to the last point (a decreasing curve).
    distance = (1 - x) - y
    return int(ks[int(np.argmax(distance))])


def reference_sampler(X: np.ndarray, rng: np.random.Generator) -> Callable[[], np.ndarray]:
    """Draws data sets uniform in the PCA-aligned bounding box of X (Tibshirani's reference (b))."""
    mean = X.mean(axis=0)
    _, _, vt = np.linalg.svd(X - mean, full_matrices=False)
    rotated = (X - mean) @ vt.T
    low, high = rotated.min(axis=0), rotated.max(axis=0)

    def draw() -> np.ndarray:
        return rng.uniform(low, high, size=rotated.shape) @ vt + mean

    return draw


def _gap_at(sample: np.ndarray, refs: list[np.ndarray], k: int, seed: int) -> tuple[float, float]:
    """Gap(k) of `sample` against the reference data sets, and its s_k (Tibshirani's definitions)."""
    log_ref = np.array([np.log(sweep_kmeans(ref, k, seed + b)[1]) for b, ref in enumerate(refs)])
    gap = float(log_ref.mean() - np.log(sweep_kmeans(sample, k, seed)[1]))
    return gap, float(log_ref.std() * np.sqrt(1 + 1 / len(refs)))


@dataclass
class Sweep:
    """The k sweep's table and what each criterion recommends."""

    table: pd.DataFrame
    knee_k: int
    silhouette_k: int
    gap_k: int | None
    structure: dict[str, float]
    sample_sizes: dict[str, int]
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def recommended_k(self) -> int:
        """Where the criteria disagree: the gap statistic's choice if it found structure, else the
        silhouette's best among k at or beyond the knee (the elbow alone over-rewards small k)."""
        if self.gap_k is not None and self.gap_k > 1:
            return self.gap_k
        beyond = self.table[self.table["k"] >= self.knee_k]
        return int(beyond.loc[beyond["silhouette"].idxmax(), "k"]) if len(beyond) else self.silhouette_k


def k_sweep(
    X: np.ndarray,
    ks: Iterable[int],
    *,
    seed: int = 0,
    references: int = 10,
    gap_sample: int = 4_000,
    silhouette_sample: int = 4_000,
    progress: Progress | None = None,
) -> Sweep:
    """SSE, silhouette and gap statistic for each k (k-means, one seeded run each).

    SSE is on all songs; silhouette and the gap statistic on fixed-seed samples (sizes reported),
    which is what makes a 2..60 sweep take seconds rather than hours.
    """
    import time

    started = time.perf_counter()
    ks = sorted(set(int(k) for k in ks))
    if ks[0] < 2:
        raise UserError("k starts at 2 (k = 1 is the gap statistic's null model, computed anyway)")
    rng = np.random.default_rng(seed)
    sil_idx = rng.choice(len(X), min(silhouette_sample, len(X)), replace=False)
    gap_idx = rng.choice(len(X), min(gap_sample, len(X)), replace=False)
    Xg = X[gap_idx]
    draw = reference_sampler(Xg, rng)
    refs = [draw() for _ in range(references)]
    rows = []
    gap_ks = [1] + ks
    gap, se = {}, {}
    sampled = []
    for k in gap_ks:
        if progress:
            progress(f"k sweep: k = {k} of {ks[-1]}")
        if k > 1:
            labels, sse = sweep_kmeans(X, k, seed)
            sampled.append(labels[sil_idx])
            rows.append({"k": k, "sse": sse})
        gap[k], se[k] = _gap_at(Xg, refs, k, seed)
    table = pd.DataFrame(rows)
    table["silhouette"] = silhouettes(X[sil_idx], sampled)  # one distance matrix for every k
    table["gap"] = table["k"].map(gap)
    table["gap_se"] = table["k"].map(se)
    gap_k = None
    for a, b in zip(gap_ks, gap_ks[1:]):
        if b == a + 1 and gap[a] >= gap[b] - se[b]:
            gap_k = a
            break
    best = int(table.loc[table["gap"].idxmax(), "k"])
    structure = {
        "k": float(best),
        "gap_k": gap[best],
        "gap_1": gap[1],
        "delta": gap[best] - gap[1],
        "delta_se": float(np.hypot(se[best], se[1])),
    }
    sweep = Sweep(
        table=table,
        knee_k=knee(table["k"].to_numpy(), table["sse"].to_numpy()),
        silhouette_k=int(table.loc[table["silhouette"].idxmax(), "k"]),
        gap_k=gap_k,
        structure=structure,
        sample_sizes={"silhouette": len(sil_idx), "gap": len(gap_idx), "references": references},
    )
    if gap_k is None:
        sweep.notes.append(f"the gap statistic kept rising up to k = {ks[-1]}: the 1-SE rule found no stopping point in range")
    sweep.seconds = time.perf_counter() - started
    return sweep


def null_model_check(X: np.ndarray, k: int, *, seed: int = 0, references: int = 10, sample: int = 4_000) -> dict[str, float | bool]:
    """Does the data hold more cluster structure at k than a uniform reference does?

    Gap(k) - Gap(1) with its standard error; ``structure`` is True when it exceeds 2 SE.
    """
    rng = np.random.default_rng(seed)
    Xs = X[rng.choice(len(X), min(sample, len(X)), replace=False)]
    draw = reference_sampler(Xs, rng)
    refs = [draw() for _ in range(references)]
    gap, se = {}, {}
    for kk in (1, k):
        gap[kk], se[kk] = _gap_at(Xs, refs, kk, seed)
    delta, delta_se = gap[k] - gap[1], float(np.hypot(se[k], se[1]))
    return {"k": k, "gap_k": gap[k], "gap_1": gap[1], "delta": delta, "delta_se": delta_se, "structure": bool(delta > 2 * delta_se), "sample": len(Xs)}


def has_structure(sweep: Sweep) -> bool:
    """More cluster structure than the uniform reference: Gap(k) exceeds Gap(1) by 2 SE."""
    s = sweep.structure
    return s["delta"] > 2 * s["delta_se"] and sweep.gap_k != 1


def density_sweep(
    X: np.ndarray,
    *,
    seed: int = 0,
    sizes: Iterable[int] = (25, 50, 100, 200),
    eps: Iterable[float] = (0.5, 0.8, 1.2),
    sample: int = 10_000,
) -> pd.DataFrame:
    """HDBSCAN over min_cluster_size and DBSCAN over eps (min_samples 10), on a fixed-seed sample:
    clusters found, noise share, and the silhouette of the clustered songs."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(X), min(sample, len(X)), replace=False)
    Xs = X[idx]
    # A cluster must be smaller than the songs it is found among (a catalogue of a few dozen songs has only small ones).
    runs = [("hdbscan", "min_cluster_size", size, {"min_cluster_size": size}) for size in sizes if size < len(Xs)]
    runs += [("dbscan", "eps", e, {"eps": e, "min_samples": min(10, len(Xs) - 1)}) for e in eps]
    rows = []
    for algorithm, name, value, params in runs:
        result = LocalAlgorithm(algorithm, params=params, random_state=seed).fit(Xs)
        kept = result.labels >= 0
        n_clusters = int(len(np.unique(result.labels[kept])))
        sil = silhouette(Xs[kept], result.labels[kept]) if 1 < n_clusters < kept.sum() else float("nan")
        rows.append({"algorithm": algorithm, "parameter": name, "value": value, "clusters": n_clusters, "noise_share": result.noise_share, "silhouette": sil})
    return pd.DataFrame(rows)


#: The algorithms `compare_algorithms` fits at one k, k-means first (the reference for agreement);
#: the density methods, which take no k, have their own sweep.
COMPARED = ("kmeans", "bisecting-kmeans", "minibatch-kmeans", "gmm", "agglomerative")


def compare_algorithms(X: np.ndarray, k: int, *, seed: int = 0, sample: int = 4_000, algorithms: Iterable[str] = COMPARED) -> pd.DataFrame:
    """Each algorithm at the same k on the same fixed-seed sample of songs (all alike, so the
    quadratic ones fit too): fit seconds, the internal indices in the shared space, agreement with
    the first algorithm (ARI) and the smallest cluster's share of songs."""
    from songscope.evaluate.external import adjusted_rand
    from songscope.evaluate.internal import calinski_harabasz, davies_bouldin

    rng = np.random.default_rng(seed)
    Xs = X[rng.choice(len(X), min(sample, len(X)), replace=False)]
    fits = [(algorithm, LocalAlgorithm(algorithm, n_clusters=k, random_state=seed).fit(Xs)) for algorithm in algorithms]
    reference = fits[0][1].labels
    rows = []
    for (algorithm, result), sil in zip(fits, silhouettes(Xs, [r.labels for _, r in fits]), strict=True):
        sizes = np.unique(result.labels, return_counts=True)[1]
        rows.append({
            "algorithm": algorithm, "clusters": int(len(sizes)), "fit_s": float(result.timings.get("fit_s", float("nan"))),
            "silhouette": sil, "davies_bouldin": davies_bouldin(Xs, result.labels), "calinski_harabasz": calinski_harabasz(Xs, result.labels),
            f"ari_vs_{fits[0][0]}": adjusted_rand(reference, result.labels), "smallest_share": float(sizes.min() / len(Xs)),
        })
    table = pd.DataFrame(rows)
    table.attrs.update(k=int(k), sample=len(Xs))
    return table


@dataclass
class Evidence:
    """What the report shows to choose k and the algorithm."""

    sweep: Sweep
    density: pd.DataFrame | None = None  # `density_sweep`
    methods: pd.DataFrame | None = None  # `compare_algorithms` at the run's k

    def to_dict(self) -> dict:
        """The evidence as plain data, with its rationale in words."""
        from songscope.jsonable import jsonable

        s = self.sweep
        return jsonable({"rationale": rationale(s, self.density, self.methods), "recommended_k": s.recommended_k, "knee_k": s.knee_k,
                         "silhouette_k": s.silhouette_k, "gap_k": s.gap_k, "structure": s.structure, "samples": s.sample_sizes,
                         "sweep": s.table, "density": self.density, "methods": self.methods,
                         "methods_sample": None if self.methods is None else self.methods.attrs.get("sample")})


def selection_evidence(
    X: np.ndarray, *, k: int | None = None, ks: Iterable[int] = range(2, 21), references: int = 10, density: bool = True, seed: int = 0,
    progress: Progress | None = None,
) -> Evidence:
    """The report's evidence for k and the algorithm: a compact k sweep (default k 2..20, B = 10 as the design defines the gap statistic;
    `songscope evaluate` runs the full one), with `density` the density methods' sweep on a
    3,000-song sample, and with `k` every k-taking algorithm compared at that k (`compare_algorithms`)."""
    sweep = k_sweep(X, list(ks), seed=seed, references=references, progress=progress)
    return Evidence(
        sweep,
        density_sweep(X, seed=seed, sample=3_000) if density else None,
        compare_algorithms(X, k, seed=seed) if k is not None else None,
    )


#: What each algorithm offers on song features (continuous, overlapping, no clear gaps).
ALGORITHM_NOTES = pd.DataFrame(
    [
        ("kmeans", "fast (seconds at 1M songs), every song assigned, centres describe clusters, predicts new songs", "assumes round clusters of similar size; k must be chosen"),
        ("minibatch-kmeans", "memory-light and faster still on very large catalogues", "slightly higher SSE than full k-means"),
        ("bisecting-kmeans", "hierarchical splits that read as a taxonomy; stable on large k", "greedy: an early split is never undone"),
        ("gmm", "soft, elliptical clusters with probabilities; handles correlated features (energy-loudness)", "slower; more parameters; can collapse onto outliers"),
        ("hdbscan", "finds clusters of any shape and says which songs fit none (noise)", "on overlapping song features most songs end up noise or in one blob; sampled above 50k"),
        ("dbscan", "shape-free with an explicit density threshold", "one eps for all densities; very sensitive to eps; sampled above 50k"),
        ("agglomerative", "a full dendrogram (ward linkage matches k-means' objective)", "memory grows with n^2: refused above 30,000 songs"),
    ],
    columns=["algorithm", "advantages", "drawbacks"],
)


def rationale(sweep: Sweep, density: pd.DataFrame | None = None, methods: pd.DataFrame | None = None) -> str:
    """Plain words for what the figures say and why the recommended k and algorithm follow."""
    s = sweep.structure
    rec = sweep.recommended_k
    row = sweep.table.set_index("k").loc[rec]
    parts = [
        f"Elbow: the SSE curve bends at k = {sweep.knee_k}.",
        f"Silhouette peaks at k = {sweep.silhouette_k} ({sweep.table['silhouette'].max():.3f}).",
    ]
    if sweep.gap_k is not None:
        parts.append(f"Gap statistic, 1-SE rule: k = {sweep.gap_k}.")
    else:
        parts.append("Gap statistic: no stopping point in the range (it keeps rising).")
    if has_structure(sweep):
        parts.append(
            f"Null-model check: Gap({int(s['k'])}) - Gap(1) = {s['delta']:.3f} (SE {s['delta_se']:.3f}): the songs have more cluster "
            "structure than a uniform reference, so clusters are more than an arbitrary partition."
        )
    else:
        parts.append(
            f"Null-model check: Gap({int(s['k'])}) - Gap(1) = {s['delta']:.3f} (SE {s['delta_se']:.3f}): the songs show NO more cluster "
            "structure than a uniform reference. Clusters are then a useful partition of a continuum (for browsing or "
            "recommendation), not natural groups; read them as regions, not species."
        )
    parts.append(
        f"Recommended: k-means with k = {rec} (silhouette {row['silhouette']:.3f}, SSE {row['sse']:,.0f}); k-means because it assigns "
        "every song, predicts new ones and runs on both engines."
    )
    if sweep.knee_k != rec:
        knee_row = sweep.table.set_index("k").loc[sweep.knee_k]
        parts.append(
            f"For finer browsing and recommendation, k = {sweep.knee_k} (the elbow; silhouette {knee_row['silhouette']:.3f}) "
            "splits the catalogue into more specific regions at little cost in separation."
        )
    if density is not None and len(density):
        hdb = density[density["algorithm"] == "hdbscan"]
        if len(hdb):
            parts.append(
                f"HDBSCAN finds {int(hdb['clusters'].min())}-{int(hdb['clusters'].max())} clusters and leaves {hdb['noise_share'].min():.0%}-"
                f"{hdb['noise_share'].max():.0%} of songs as noise across min_cluster_size {', '.join(f'{v:g}' for v in hdb['value'])}: "
                "song features form overlapping continua rather than separated dense groups, so a density method would leave many songs unplaced."
            )
    if methods is not None and len(methods) > 1:
        ranked = methods.sort_values("silhouette", ascending=False)
        best, runner_up = ranked.iloc[0], ranked.iloc[1]
        reference = methods["algorithm"].iloc[0]
        agreement = methods.filter(like="ari_vs_").iloc[1:, 0]
        parts.append(
            f"At k = {methods.attrs['k']} on the same {methods.attrs['sample']:,} songs, {best['algorithm']} separates "
            f"best (silhouette {best['silhouette']:.3f}, then {runner_up['algorithm']} {runner_up['silhouette']:.3f}) and the other "
            f"algorithms agree with {reference} at ARI {agreement.min():.2f}-{agreement.max():.2f}: "
            + ("they find much the same regions, so the choice rests on speed and on predicting new songs."
               if agreement.min() >= 0.5 else "they cut the continuum differently, so clusters are one useful partition among several.")
        )
    return " ".join(parts)
