"""The shared feature space: which columns, how they are transformed, fitted once, applied alike.

Every engine clusters in this space and every metric is computed in it, so runs of different
engines and algorithms can be compared number for number. The space is saved with each run (as
JSON) and can be rebuilt exactly; `sql_expressions` states the same transform as SQL so Spark can
apply it to the Parquet in the lake without shipping rows through the driver.

Default choice, and why
-----------------------
The ten continuous audio features, standard-scaled, with duration on a log scale: loudness (dB),
tempo (BPM) and duration (ms) live on scales hundreds to thousands of times wider than the 0..1
features and would otherwise decide every distance alone (the seed project saw exactly this), and
duration is right-skewed (a classical-heavy catalogue has 20-minute movements beside 3-minute pop).
Key, mode and time signature are left out by default: they are categorical, and once scaled a
binary `mode` splits the space into two slabs that k-means then "discovers" as clusters. Key can be
added as a point on the pitch-class circle (sin/cos), so that B and C are
neighbours, or one-hot.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from songscope.errors import UserError
from songscope.jsonable import dumps
from songscope.schema import FeatureSet, feature_set  # the default columns; re-exported for callers

Scaling = Literal["standard", "robust"]
KeyEncoding = Literal["none", "circle", "onehot"]


@dataclass
class FeatureSpace:
    """Columns and transforms; `fit` learns centring, scale and (optionally) PCA.

    Parameters
    ----------
    columns : continuous columns to use (default: the feature set's).
    scaling : "standard" (mean, standard deviation) or "robust" (median, interquartile range).
    log_duration : use the log of the set's ``log`` features (Spotify's: duration_ms), not the values.
    key : the set's circular feature (Spotify's: key): "none", "circle" (sin/cos) or "onehot".
    mode : include the set's binary feature (Spotify's: mode, 0/1).
    pca : None, a number of components, or a fraction of variance to keep (0 < pca < 1).
    features : the name of the feature set (`schema.FEATURE_SETS`) the columns come from.

    Examples
    --------
    >>> from songscope.schema import CONTINUOUS_FEATURES
    >>> frame = pd.DataFrame({c: [0.1, 0.5, 0.9] for c in CONTINUOUS_FEATURES} | {"duration_ms": [1e5, 2e5, 3e5], "key": [0, 5, 11]})
    >>> space = FeatureSpace(key="circle").fit(frame)
    >>> space.transform(frame).shape
    (3, 12)
    """

    columns: tuple[str, ...] | None = None
    scaling: Scaling = "standard"
    log_duration: bool = True
    key: KeyEncoding = "none"
    mode: bool = False
    pca: float | int | None = None
    features: str = "spotify"

    centre_: np.ndarray | None = field(default=None, repr=False)
    scale_: np.ndarray | None = field(default=None, repr=False)
    pca_mean_: np.ndarray | None = field(default=None, repr=False)
    pca_components_: np.ndarray | None = field(default=None, repr=False)
    explained_variance_ratio_: np.ndarray | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ the transform, stage by stage

    def __post_init__(self) -> None:
        if self.columns is None:  # the set's features on a scale
            self.columns = self.feature_set.continuous
        else:
            self.columns = tuple(self.columns)
            for column in self.columns:
                self.feature_set.column(column)  # one of the set's, or a clear error

    @property
    def feature_set(self) -> FeatureSet:
        return feature_set(self.features)

    def _logged(self, column: str) -> bool:
        return self.log_duration and self.feature_set.column(column).transform == "log"

    def _circular(self):
        """The set's circular feature, when the space uses it (`key`)."""
        if self.key == "none":
            return None
        found = self.feature_set.of_transform("circular")
        if found is None:
            raise UserError(f"--key {self.key}: the {self.features} feature set has no circular feature")
        return found

    def _binary(self):
        """The set's binary feature, when the space uses it (`mode`)."""
        if not self.mode:
            return None
        found = self.feature_set.of_transform("binary")
        if found is None:
            raise UserError(f"--mode: the {self.features} feature set has no binary feature")
        return found

    def input_columns(self) -> list[str]:
        """The catalogue's columns the space reads: its columns, and the circular and binary
        features it encodes."""
        extra = [found.name for found in (self._circular(), self._binary()) if found is not None]
        return list(self.columns) + extra

    def for_features(self, name: str) -> FeatureSpace:
        """This space's choices over the feature set `name` (the catalogue's): a copy whose
        columns are that set's on a scale, unless this space names columns of its own (which
        must then be the set's). A fitted space is bound to its set already and is returned as it is."""
        import dataclasses

        if name == self.features or self.centre_ is not None:
            return self
        own = tuple(self.columns) != self.feature_set.continuous
        return dataclasses.replace(self, features=name, columns=self.columns if own else None)

    def raw_names(self) -> list[str]:
        """Names of the columns before PCA (after log, circular and binary encoding)."""
        names = [(f"log_{c}" if self._logged(c) else c) for c in self.columns]
        circular, binary = self._circular(), self._binary()
        if circular is not None and self.key == "circle":
            names += [f"{circular.name}_sin", f"{circular.name}_cos"]
        elif circular is not None:
            names += [f"{circular.name}_{k}" for k in range(circular.period)]
        if binary is not None:
            names.append(binary.name)
        return names

    @property
    def output_names(self) -> list[str]:
        if self.pca_components_ is not None:
            return [f"pc{i + 1}" for i in range(len(self.pca_components_))]
        return self.raw_names()

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.columns if c not in frame]
        if missing:
            raise UserError(f"the tracks lack the feature columns {missing}")
        parts = []
        for column in self.columns:
            values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            if self._logged(column):
                values = np.log(np.maximum(values, 1.0))
            parts.append(values)
        circular, binary = self._circular(), self._binary()
        if circular is not None:
            value = pd.to_numeric(frame[circular.name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            if self.key == "circle":
                # A negative value means "none detected" (key -1): it sits at the centre of the circle.
                angle = 2 * np.pi * value / circular.period
                known = value >= 0
                parts += [np.where(known, np.sin(angle), 0.0), np.where(known, np.cos(angle), 0.0)]
            else:
                parts += [(value == k).astype(np.float64) for k in range(circular.period)]
        if binary is not None:
            parts.append(pd.to_numeric(frame[binary.name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))
        matrix = np.column_stack(parts)
        if np.isnan(matrix).any():
            bad = int(np.isnan(matrix).any(axis=1).sum())
            raise UserError(f"{bad} tracks have missing feature values; clean the catalogue first (songscope ingest)")
        return matrix

    def fit(self, frame: pd.DataFrame) -> FeatureSpace:
        """Learn the scaling (scikit-learn's ``StandardScaler``, or the median and IQR) and the
        optional ``PCA``, keeping their fitted attributes: the space is saved as those numbers
        and applied as plain arithmetic (numpy here, SQL on Spark)."""
        encoded = self.encode(frame)
        if self.scaling == "robust":
            centre = np.median(encoded, axis=0)
            q75, q25 = np.percentile(encoded, [75, 25], axis=0)
            scale = q75 - q25
            fallback = encoded.std(axis=0)  # a column whose quartiles coincide (instrumentalness) keeps its spread
            scale = np.where(scale > 0, scale, fallback)
        else:
            from sklearn.preprocessing import StandardScaler

            scaler = StandardScaler().fit(encoded)
            centre, scale = scaler.mean_, scaler.scale_  # a constant column gets scale 1
        self.centre_ = centre
        self.scale_ = np.where(scale > 0, scale, 1.0)
        self.pca_components_ = self.pca_mean_ = self.explained_variance_ratio_ = None
        if self.pca is not None:
            from sklearn.decomposition import PCA

            scaled = (encoded - self.centre_) / self.scale_
            # A variance share (0.9) or a count; the full SVD, whose signs scikit-learn fixes so
            # that each component's largest loading is positive: refits agree.
            share = isinstance(self.pca, float) and 0 < self.pca < 1
            count = self.pca if share else max(1, min(int(self.pca), scaled.shape[1]))
            model = PCA(n_components=count, svd_solver="full").fit(scaled)
            self.pca_mean_ = model.mean_
            self.pca_components_ = model.components_
            self.explained_variance_ratio_ = model.explained_variance_ratio_
        return self

    def transform(self, frame: pd.DataFrame, dtype: type = np.float64) -> np.ndarray:
        if self.centre_ is None or self.scale_ is None:
            raise RuntimeError("the feature space is not fitted: call fit(tracks) first")
        scaled = (self.encode(frame) - self.centre_) / self.scale_
        if self.pca_components_ is not None:
            scaled = (scaled - self.pca_mean_) @ self.pca_components_.T
        return np.ascontiguousarray(scaled, dtype=dtype)

    def fit_transform(self, frame: pd.DataFrame) -> np.ndarray:
        return self.fit(frame).transform(frame)

    def inverse_scale(self, points: np.ndarray) -> np.ndarray:
        """Points of the space back in the encoded units (dB, BPM, log ms), for describing centres."""
        if self.pca_components_ is not None:
            points = points @ self.pca_components_ + self.pca_mean_
        return points * self.scale_ + self.centre_

    # ------------------------------------------------------------------ as SQL, for Spark

    def encoded_sql(self) -> list[str]:
        """One SQL expression per column before scaling (log duration, key and mode encoded), as
        `_encode` computes them: what a distributed fit aggregates."""
        encoded: list[str] = []
        for column in self.columns:
            encoded.append(f"ln(greatest(cast({column} as double), 1.0))" if self._logged(column) else f"cast({column} as double)")
        circular, binary = self._circular(), self._binary()
        if circular is not None and self.key == "circle":
            c, period = circular.name, circular.period
            encoded += [
                f"case when {c} >= 0 then sin(cast({2 * math.pi!r} as double) * {c} / {period}) else cast(0.0 as double) end",
                f"case when {c} >= 0 then cos(cast({2 * math.pi!r} as double) * {c} / {period}) else cast(0.0 as double) end",
            ]
        elif circular is not None:
            # Cast: a bare 1.0 is a DECIMAL in Spark SQL, whose mean is rounded to 5 places.
            encoded += [f"case when {circular.name} = {k} then cast(1.0 as double) else cast(0.0 as double) end" for k in range(circular.period)]
        if binary is not None:
            encoded.append(f"cast({binary.name} as double)")
        return encoded

    def sql_expressions(self) -> list[str]:
        """One SQL expression per output dimension, over the catalogue's columns (Spark SQL)."""
        if self.centre_ is None:
            raise RuntimeError("the feature space is not fitted")
        scaled = [f"(({e}) - {float(c)!r}) / {float(s)!r}" for e, c, s in zip(self.encoded_sql(), self.centre_, self.scale_)]
        if self.pca_components_ is None:
            return scaled
        return [
            " + ".join(f"({float(w)!r}) * (({x}) - {float(m)!r})" for w, x, m in zip(component, scaled, self.pca_mean_))
            for component in self.pca_components_
        ]

    def fit_statistics(self, centre: np.ndarray, scale: np.ndarray, *, encoded_mean: np.ndarray | None = None,
                       encoded_covariance: np.ndarray | None = None) -> FeatureSpace:
        """Fit from statistics a distributed engine aggregated over the encoded columns: the centre
        and scale (mean and population standard deviation, or median and IQR), and for PCA the
        encoded columns' mean and covariance. The same space `fit` learns from rows, up to
        rounding (PCA from the covariance's eigenvectors, signed as scikit-learn signs them)."""
        self.centre_ = np.asarray(centre, dtype=np.float64)
        self.scale_ = np.where(np.asarray(scale) > 0, scale, 1.0).astype(np.float64)
        self.pca_components_ = self.pca_mean_ = self.explained_variance_ratio_ = None
        if self.pca is None:
            return self
        if encoded_mean is None or encoded_covariance is None:
            raise ValueError("a space with PCA needs the encoded columns' mean and covariance")
        # Scaled columns: (x - centre) / scale, so their mean and covariance follow from the encoded ones.
        self.pca_mean_ = (np.asarray(encoded_mean) - self.centre_) / self.scale_
        covariance = np.asarray(encoded_covariance) / np.outer(self.scale_, self.scale_)
        variances, vectors = np.linalg.eigh(covariance)
        order = np.argsort(variances)[::-1]
        variances, components = np.clip(variances[order], 0, None), vectors[:, order].T
        signs = np.sign(components[np.arange(len(components)), np.abs(components).argmax(axis=1)])
        components = components * np.where(signs == 0, 1, signs)[:, None]
        ratio = variances / variances.sum()
        share = isinstance(self.pca, float) and 0 < self.pca < 1
        count = int(np.searchsorted(np.cumsum(ratio), self.pca, side="right") + 1) if share else max(1, min(int(self.pca), len(ratio)))
        count = min(count, len(ratio))
        self.pca_components_, self.explained_variance_ratio_ = components[:count], ratio[:count]
        return self

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, object]:
        def arr(a: np.ndarray | None) -> list | None:
            return None if a is None else a.tolist()

        return {
            "columns": list(self.columns),
            "scaling": self.scaling,
            "log_duration": self.log_duration,
            "key": self.key,
            "mode": self.mode,
            "pca": self.pca,
            "features": self.features,
            "centre": arr(self.centre_),
            "scale": arr(self.scale_),
            "pca_mean": arr(self.pca_mean_),
            "pca_components": arr(self.pca_components_),
            "explained_variance_ratio": arr(self.explained_variance_ratio_),
            "output_names": self.output_names if self.centre_ is not None else None,
        }

    def to_json(self) -> str:
        return dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSpace:
        def arr(key: str) -> np.ndarray | None:
            return None if data.get(key) is None else np.asarray(data[key], dtype=np.float64)

        space = cls(
            columns=tuple(data["columns"]), scaling=data["scaling"], log_duration=data["log_duration"],
            key=data["key"], mode=data["mode"], pca=data["pca"], features=data.get("features", "spotify"),  # runs before feature sets: Spotify's
        )
        space.centre_, space.scale_ = arr("centre" if "centre" in data else "center"), arr("scale")  # runs saved before 0012 spelled it center
        space.pca_mean_, space.pca_components_ = arr("pca_mean"), arr("pca_components")
        space.explained_variance_ratio_ = arr("explained_variance_ratio")
        return space

    @classmethod
    def from_json(cls, text: str) -> FeatureSpace:
        return cls.from_dict(json.loads(text))
