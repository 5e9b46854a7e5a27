"""The canonical track schema: columns, types, valid ranges and the aliases of known layouts.

This is the ground floor of songscope: it imports nothing of ours, and every stage agrees with it.
A table from any known source is mapped onto these names before anything else looks at it.
"""

from __future__ import annotations

from dataclasses import dataclass

from songscope.errors import UserError

#: Text columns that identify a track.
TEXT_COLUMNS: tuple[str, ...] = ("track_id", "artist_name", "track_name")


@dataclass(frozen=True)
class NumericColumn:
    """A numeric column with its valid closed range and whether it must be a whole number."""

    name: str
    low: float
    high: float
    integer: bool = False
    required: bool = True
    #: Whether `low` itself is allowed (duration_ms must be strictly positive).
    low_inclusive: bool = True

    def describe_range(self) -> str:
        left = "[" if self.low_inclusive else "("
        high = "inf" if self.high == float("inf") else _fmt(self.high)
        return f"{left}{_fmt(self.low)}, {high}]"


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


_UNIT = (0.0, 1.0)

#: The Spotify audio features and metadata, in the order songscope writes them.
NUMERIC_COLUMNS: tuple[NumericColumn, ...] = (
    NumericColumn("popularity", 0, 100, integer=True, required=False),
    NumericColumn("danceability", *_UNIT),
    NumericColumn("energy", *_UNIT),
    NumericColumn("key", -1, 11, integer=True),
    # Spotify documents loudness as roughly -60..0 dB; a few masters measure slightly above 0,
    # which the outlier rules flag. Outside this band the value is not a loudness at all.
    NumericColumn("loudness", -100.0, 20.0),
    NumericColumn("mode", 0, 1, integer=True),
    NumericColumn("speechiness", *_UNIT),
    NumericColumn("acousticness", *_UNIT),
    NumericColumn("instrumentalness", *_UNIT),
    NumericColumn("liveness", *_UNIT),
    NumericColumn("valence", *_UNIT),
    NumericColumn("tempo", 0.0, 1000.0),
    NumericColumn("duration_ms", 0, float("inf"), integer=True, low_inclusive=False),
    NumericColumn("time_signature", 0, 7, integer=True, required=False),
)

#: The descriptors songscope measures on audio files (`songscope.audio`; the `audio` feature set)
#: beyond the columns they share with Spotify's (tempo, key, mode, loudness, duration_ms). A song
#: read from a Spotify table has none of them, a song analysed from a file none of Spotify's
#: model scores: every feature column is stored nullable, and a set's own columns are required of
#: its songs (`required_columns`).
_MFCC_RANGE = (-2000.0, 2000.0)
AUDIO_ONLY_COLUMNS: tuple[NumericColumn, ...] = (
    NumericColumn("tempo_confidence", *_UNIT),
    NumericColumn("key_strength", -1.0, 1.0),
    NumericColumn("loudness_range", 0.0, 100.0),
    NumericColumn("onset_rate", 0.0, 100.0),
    NumericColumn("dfa_exponent", -10.0, 10.0),
    NumericColumn("spectral_centroid", 0.0, 100_000.0),
    NumericColumn("spectral_rolloff", 0.0, 100_000.0),
    NumericColumn("spectral_flatness", -200.0, 0.0),
    NumericColumn("spectral_contrast", 0.0, 200.0),
    NumericColumn("zero_crossing_rate", *_UNIT),
    *(NumericColumn(f"mfcc_{i}", *_MFCC_RANGE) for i in range(1, 14)),
)
#: Spotify's columns (the layout of every public dump), as every table source is read into.
SPOTIFY_NUMERIC_COLUMNS: tuple[NumericColumn, ...] = NUMERIC_COLUMNS
NUMERIC_COLUMNS = NUMERIC_COLUMNS + AUDIO_ONLY_COLUMNS

NUMERIC_BY_NAME: dict[str, NumericColumn] = {c.name: c for c in NUMERIC_COLUMNS}

#: A song's artists in order, joined with ``artists.SEPARATOR`` (the first is ``artist_name``,
#: the display name), and their ids where the file gives them (null otherwise).
ARTIST_COLUMNS: tuple[str, ...] = ("artists", "artist_ids")

#: Every canonical column, in output order: what every song read has (missing where its source
#: lacks it). The audio-only descriptors follow where a source has them.
CANONICAL_COLUMNS: tuple[str, ...] = TEXT_COLUMNS + ARTIST_COLUMNS + tuple(c.name for c in SPOTIFY_NUMERIC_COLUMNS)
#: How the id of a song analysed from an audio file begins (then its SHA-256): only such a song has a file.
AUDIO_TRACK_ID_PREFIX = "audio:"
#: Every column the catalogue stores as a song's own (anything else a source has is a label).
STORED_COLUMNS: tuple[str, ...] = CANONICAL_COLUMNS + tuple(c.name for c in AUDIO_ONLY_COLUMNS)


def carried_columns(present) -> list[str]:
    """The song's own columns a frame carries, in order: every canonical column (missing where its
    source lacks it), then the audio-only descriptors among `present` (a Spotify table has none)."""
    return list(CANONICAL_COLUMNS) + [c.name for c in AUDIO_ONLY_COLUMNS if c.name in present]

#: The largest whole number a float64 (and so every reader and store of songscope) holds exactly:
#: 9007199254740993 would silently become ...992, and 1e19 does not fit a 64-bit integer at all.
MAX_EXACT_INTEGER = 2**53 - 1

#: Values that layouts spell out for codes, each mapping with one clear meaning, read as the code
#: (and reported, never silently). Keys are lower-case; ♯ and ♭ are read as # and b.
_PITCH_CLASSES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
NOTE_NAMES: dict[str, int] = {
    f"{letter}{accidental}": (pitch + shift) % 12
    for letter, pitch in _PITCH_CLASSES.items()
    for accidental, shift in (("", 0), ("#", 1), ("b", -1))
}
MODE_NAMES: dict[str, int] = {"major": 1, "minor": 0}
#: How each spelled value is described in an ingest's notes.
SPELLED_DESCRIPTIONS: dict[str, str] = {
    "key": "note names read as pitch classes (C=0, C#/Db=1, ..., B=11)",
    "mode": "Major/Minor read as 1/0",
    "time_signature": "N/4 (or its spreadsheet date N-Apr) read as N beats per bar",
}

#: Columns a Spotify table must have (after aliasing); `required_columns` gives any set's.
#: `track_id` is derived when a layout has none.
REQUIRED_COLUMNS: tuple[str, ...] = ("artist_name", "track_name") + tuple(
    c.name for c in SPOTIFY_NUMERIC_COLUMNS if c.required
)

@dataclass(frozen=True)
class FeatureColumn:
    """One feature of a feature set: how the feature space uses it, and how it is described.

    `transform`: ``scaled`` (centred and scaled), ``log`` (scaled on a log scale: a right-skewed
    quantity such as a duration), ``circular`` (a point on a circle of `period` values, such as
    the pitch class: B and C are neighbours), ``binary`` (0/1, such as major/minor) or
    ``category`` (codes whose distances mean nothing: never in the space). `high` and `low` are
    the words for a cluster high or low in it; `unit` what its numbers count; `weight` how much
    it counts in the recommender's metric against the others (`recommend.distance`; 0: not at all).
    """

    name: str
    transform: str
    high: str = ""
    low: str = ""
    unit: str = ""
    period: int = 0
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.transform not in ("scaled", "log", "circular", "binary", "category"):
            raise ValueError(f"feature {self.name!r}: transform {self.transform!r} is not scaled, log, circular, binary or category")
        if (self.transform == "circular") != (self.period > 0):
            raise ValueError(f"feature {self.name!r}: a circular feature, and only one, has a period")

    @property
    def continuous(self) -> bool:
        """Whether the feature is a quantity on a scale (what the space uses by default)."""
        return self.transform in ("scaled", "log")


@dataclass(frozen=True)
class FeatureSet:
    """The features songs are described by, declared once: each stage (the feature space, the
    clusters' descriptions, the profile, the report, the recommender) reads them from here."""

    name: str
    columns: tuple[FeatureColumn, ...]
    #: Whether the recommender's metric learns its weights from each catalogue's own genre tags
    #: (`recommend.distance.weights_from_tags`), for a set that ships no learned weights.
    learns_from_tags: bool = False

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"feature set {self.name!r} names a column twice")
        for transform in ("circular", "binary"):
            if sum(c.transform == transform for c in self.columns) > 1:
                raise ValueError(f"feature set {self.name!r}: at most one {transform} feature")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def check_stored(self) -> None:
        """Refuse a set the catalogue cannot hold: songs are stored with the schema's numeric
        columns (`NUMERIC_COLUMNS`), and a set chooses among them."""
        missing = [name for name in self.names if name not in NUMERIC_BY_NAME]
        if missing:
            raise UserError(f"the {self.name} feature set names {', '.join(missing)}, which the catalogue does not store "
                            f"(it stores {', '.join(NUMERIC_BY_NAME)})")

    @property
    def continuous(self) -> tuple[str, ...]:
        """The features on a scale, in order: the default feature space's columns."""
        return tuple(c.name for c in self.columns if c.continuous)

    @property
    def categorical(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if not c.continuous)

    def column(self, name: str) -> FeatureColumn:
        found = next((c for c in self.columns if c.name == name), None)
        if found is None:
            raise UserError(f"feature set {self.name!r} has no feature {name!r}; it has {', '.join(self.names)}")
        return found

    def of_transform(self, transform: str) -> FeatureColumn | None:
        """The set's one circular (or binary) feature, if it has one."""
        return next((c for c in self.columns if c.transform == transform), None)

    def words(self) -> dict[str, tuple[str, str]]:
        """The words for high and low values of each feature that has them."""
        return {c.name: (c.high, c.low) for c in self.columns if c.high}

    def metric_weights(self) -> dict[str, float]:
        """Each feature's weight in the recommender's metric, by its name in the feature space
        (``log_duration_ms`` for a ``log`` feature)."""
        return {(f"log_{c.name}" if c.transform == "log" else c.name): c.weight for c in self.columns if c.continuous}

    def shared_with(self, other: FeatureSet) -> FeatureSet:
        """The features both sets have, as this one declares them: what a catalogue holding songs
        described by both can compare them on."""
        if other.name == self.name:
            return self
        theirs = set(other.names)
        return FeatureSet(f"{self.name}+{other.name}", tuple(c for c in self.columns if c.name in theirs), self.learns_from_tags)


#: Spotify's audio features (its Web API's, closed to new apps since 2024-11-27), as the public
#: dumps carry them: the 0..1 scores are Spotify's model outputs. The weights were learned by
#: `recommend.distance.learn_weights` on the training half of the TidyTuesday songs (genre labels
#: of 13,751 songs, 2,000 query songs, k = 10, seed 0; `test_metric` learns them again and checks
#: they agree): liveness drops out and tempo counts half again as much.
_LEARNT = 0.99
SPOTIFY = FeatureSet("spotify", (
    FeatureColumn("danceability", "scaled", "danceable", "not danceable", "0..1 score", weight=_LEARNT),
    FeatureColumn("energy", "scaled", "energetic", "calm", "0..1 score", weight=_LEARNT),
    FeatureColumn("key", "circular", unit="pitch class (C = 0; -1: none detected)", period=12),
    FeatureColumn("loudness", "scaled", "loud", "quiet", "dB", weight=_LEARNT),
    FeatureColumn("mode", "binary", unit="1 major, 0 minor"),
    FeatureColumn("speechiness", "scaled", "speechy", "little speech", "0..1 score", weight=_LEARNT),
    FeatureColumn("acousticness", "scaled", "acoustic", "electric", "0..1 score", weight=_LEARNT),
    FeatureColumn("instrumentalness", "scaled", "instrumental", "vocal", "0..1 score", weight=_LEARNT),
    FeatureColumn("liveness", "scaled", "live-sounding", "studio-sounding", "0..1 score", weight=0.0),
    FeatureColumn("valence", "scaled", "happy", "sad", "0..1 score", weight=_LEARNT),
    FeatureColumn("tempo", "scaled", "fast", "slow", "BPM", weight=1.48),
    FeatureColumn("duration_ms", "log", "long", "short", "ms", weight=_LEARNT),
    FeatureColumn("time_signature", "category", unit="beats per bar"),
))
#: songscope's own descriptors of audio files (`songscope.audio`), each measured, none a model's
#: score: the README defines each with its unit, reference and library. Tempo, key, mode, loudness
#: and duration_ms use Spotify's units, so songs of both sets can be compared on those. Every
#: feature counts alike in the recommender's metric (on the rendered set, bench/analyze.py, the
#: 13 MFCC means weighted a quarter each lost a third of the genre-precision@10: 0.45 against
#: 0.64), unless the catalogue's own genre tags teach it other weights (`learns_from_tags`).
AUDIO = FeatureSet("audio", (
    FeatureColumn("tempo", "scaled", "fast", "slow", "BPM"),
    FeatureColumn("tempo_confidence", "scaled", "steady beat", "loose beat", "0..1 onset autocorrelation at the beat"),
    FeatureColumn("key", "circular", unit="pitch class (C = 0)", period=12),
    FeatureColumn("mode", "binary", unit="1 major, 0 minor"),
    FeatureColumn("key_strength", "scaled", "clearly tonal", "tonally ambiguous", "correlation with the key profile"),
    FeatureColumn("loudness", "scaled", "loud", "quiet", "LUFS (EBU R128 integrated)"),
    FeatureColumn("loudness_range", "scaled", "dynamic", "compressed", "LU (EBU Tech 3342)"),
    FeatureColumn("duration_ms", "log", "long", "short", "ms"),
    FeatureColumn("onset_rate", "scaled", "busy", "sparse", "onsets per second"),
    FeatureColumn("dfa_exponent", "scaled", "drifting", "steady groove", "DFA exponent of the loudness envelope"),
    FeatureColumn("spectral_centroid", "log", "bright", "dark", "Hz"),
    FeatureColumn("spectral_rolloff", "log", "airy", "muffled", "Hz (85% of the energy below)"),
    FeatureColumn("spectral_flatness", "scaled", "noisy", "pitched", "dB (Wiener entropy)"),
    FeatureColumn("spectral_contrast", "scaled", "clear peaks", "dense", "dB (peak over valley, 7 bands)"),
    FeatureColumn("zero_crossing_rate", "scaled", "hissy", "smooth", "crossings per sample"),
    *(FeatureColumn(f"mfcc_{i}", "scaled", unit="MFCC mean (dB cepstrum)") for i in range(1, 14)),
), learns_from_tags=True)

#: A song's popularity is not how it sounds, but clusters are described by it too.
POPULARITY = FeatureColumn("popularity", "scaled", "popular", "obscure", "0..100")

#: The feature sets songscope knows, by name (a feature space records its set's name).
FEATURE_SETS: dict[str, FeatureSet] = {SPOTIFY.name: SPOTIFY, AUDIO.name: AUDIO}


def required_columns(features: FeatureSet) -> tuple[str, ...]:
    """The columns a source of songs described by `features` must have: the names, and the set's
    features that every song must have a value for (Spotify's time signature may be missing)."""
    return ("artist_name", "track_name") + tuple(n for n in features.names if NUMERIC_BY_NAME[n].required)


def feature_set(name: str) -> FeatureSet:
    """The feature set called `name`; ``a+b`` names the features sets a and b share (a catalogue
    holding songs of both is compared on those)."""
    parts = name.split("+")
    unknown = [p for p in parts if p not in FEATURE_SETS]
    if unknown:
        raise UserError(f"unknown feature set {unknown[0]!r}; songscope knows {', '.join(FEATURE_SETS)}")
    found = FEATURE_SETS[parts[0]]
    for part in parts[1:]:
        found = found.shared_with(FEATURE_SETS[part])
    if not found.continuous:
        raise UserError(f"the feature sets {' and '.join(parts)} share no feature on a scale: their songs cannot be compared")
    return found


#: The audio features that describe how a song sounds (what clustering looks at by default).
AUDIO_FEATURES: tuple[str, ...] = SPOTIFY.names
#: Audio features that are categories, not quantities (distances between their codes mean nothing).
CATEGORICAL_FEATURES: tuple[str, ...] = SPOTIFY.categorical
#: The audio features measured on a scale.
CONTINUOUS_FEATURES: tuple[str, ...] = SPOTIFY.continuous

#: Column names of known layouts mapped to canonical names (keys are already normalised).
ALIASES: dict[str, str] = {
    # TidyTuesday 2020-01-21 "Spotify Songs"
    "track_artist": "artist_name",
    "track_popularity": "popularity",
    # "Spotify Song Attributes" (liked/disliked set)
    "song_title": "track_name",
    "artist": "artist_name",
    # Common exports of the Spotify Web API
    "id": "track_id",
    "name": "track_name",
    "title": "track_name",
    "artists": "artist_name",  # several artists: a list literal, or ";"-joined (see `songscope.artists`)
    "id_artists": "artist_ids",  # "Spotify Dataset 1921-2020" tracks.csv
    "artist_uri(s)": "artist_ids",  # Exportify: "spotify:artist:..." joined with ","
    "duration": "duration_ms",
    # Spotify playlist exporters (Exportify's "Track URI", "Artist Name(s)", "Track Duration (ms)", ...)
    "track_uri": "track_id",
    "spotify_uri": "track_id",
    "artist_name(s)": "artist_name",
    "track_duration_(ms)": "duration_ms",
    "duration_(ms)": "duration_ms",
}

#: Bookkeeping columns that ingest adds to every row.
SOURCE_COLUMN = "source"
LINE_COLUMN = "line"

#: Longest artist or track name accepted; longer text is not a name but a broken export.
MAX_TEXT_LENGTH = 1000
#: Longest track id accepted (Spotify ids are 22 characters; derived ids are 24).
MAX_ID_LENGTH = 64
#: Longest column name accepted: an extra column is stored as a label under its name.
MAX_LABEL_NAME_LENGTH = 128


@dataclass(frozen=True)
class OutlierRule:
    """Flag a row when `column op threshold` holds, e.g. ``loudness < -35``."""

    column: str
    op: str
    threshold: float

    @property
    def name(self) -> str:
        return f"{self.column} {self.op} {_fmt(self.threshold)}"

    @classmethod
    def parse(cls, text: str) -> OutlierRule:
        """Parse ``"tempo < 1"``; raises ValueError with the accepted form on bad input."""
        parts = text.split()
        if len(parts) != 3 or parts[1] not in ("<", "<=", ">", ">="):
            raise UserError(
                f"outlier rule {text!r} is not of the form 'COLUMN OP NUMBER' with OP one of < <= > >="
            )
        column, op, number = parts
        if column not in NUMERIC_BY_NAME:
            raise UserError(f"outlier rule {text!r}: unknown column {column!r}")
        try:
            threshold = float(number)
        except ValueError:
            raise UserError(f"outlier rule {text!r}: {number!r} is not a number") from None
        return cls(column, op, threshold)


#: The seed project's outlier rules (its notebook's thresholds), flagged, never dropped.
SEED_OUTLIER_RULES: tuple[OutlierRule, ...] = (
    OutlierRule("loudness", "<", -35),
    OutlierRule("loudness", ">", 0),
    OutlierRule("speechiness", ">", 0.65),
    OutlierRule("tempo", "<", 1),
    OutlierRule("duration_ms", ">", 430000),
    OutlierRule("time_signature", "<", 1),
)


def normalise_column_name(name: str) -> str:
    """Lower-case, trim and turn spaces and dashes into underscores: ``"Track Name"`` -> ``track_name``."""
    return "_".join(name.strip().lower().replace("-", " ").split())


def canonical_name(name: str) -> str:
    """The canonical name of a source column (itself when it is not a known alias)."""
    normalised = normalise_column_name(name)
    return ALIASES.get(normalised, normalised)
