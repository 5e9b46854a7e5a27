"""Cleaning on Spark: the rules of `songscope.clean` as DataFrame operations (see `clean_on_spark`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from songscope import artists, schema
from songscope.backends.spark.scratch import ORDER_FILE as _ORDER_FILE
from songscope.clean import DUPLICATE_COLUMNS, CleanReport, CleanStep

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

#: `artists.SEPARATOR` as a Java regular expression (Spark's split takes one).
ARTIST_SEPARATOR_PATTERN = "\\x1f"

# The columns of the frame the reading tasks produce (`backends.spark.ingest`): what each row is
# (a track, a rejected row, a note), and a rejected row's reason, columns and raw text.
KIND_COLUMN, REASON_COLUMN, COLUMNS_COLUMN, RAW_COLUMN, NOTE_COLUMN = "_kind", "_reason", "_columns", "_raw", "_note"
TRACK_KIND, REJECTED_KIND = "track", "rejected"


@dataclass
class SparkCleaned:
    tracks: DataFrame
    provenance: DataFrame
    rejected: DataFrame
    duplicates: DataFrame
    counts: dict[str, Any]
    rules: tuple[schema.OutlierRule, ...]
    loose: bool = False
    loose_examples: list[dict[str, str]] = field(default_factory=list)
    cached: list[DataFrame] = field(default_factory=list)

    def release(self) -> None:
        """Let the executors drop what cleaning kept (once the outputs are staged)."""
        for frame in self.cached:
            frame.unpersist()

    def report(self) -> CleanReport:
        counts = self.counts
        report = CleanReport()
        report.steps = [
            CleanStep("exact duplicates", counts["valid"], counts["exact"]),
            CleanStep("same track_id", counts["exact"], counts["same_id"]),
            CleanStep("same artist, track name and duration", counts["same_id"], counts["near"]),
        ]
        if self.loose:
            report.steps[-1] = CleanStep("same artist, track name and duration", counts["same_id"], counts["before_loose"])
            report.steps.append(CleanStep("loose near duplicates", counts["before_loose"], counts["near"]))
            report.loose_applied = True
        report.loose_candidates = counts["loose"]
        report.loose_examples = self.loose_examples
        report.id_conflicts = counts["id_conflicts"]
        report.outlier_rules = {rule.name: counts[f"rule{i}"] for i, rule in enumerate(self.rules)}
        report.outliers = counts["outliers"]
        return report


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def clean_on_spark(parsed: DataFrame, extras: list[str], rules: tuple[schema.OutlierRule, ...], loose: bool = False) -> SparkCleaned:
    """`clean.clean`'s rules as DataFrame operations on the valid rows of `parsed` (see the module)."""
    from pyspark import StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    canonical = list(schema.CANONICAL_COLUMNS)
    rows = parsed.where(F.col(KIND_COLUMN) == TRACK_KIND).drop(KIND_COLUMN, COLUMNS_COLUMN, REASON_COLUMN, RAW_COLUMN, NOTE_COLUMN)
    rejected = (parsed.where(F.col(KIND_COLUMN) == REJECTED_KIND)
                .select(F.col(schema.SOURCE_COLUMN).alias("source"), F.col(schema.LINE_COLUMN).alias("line"),
                        F.col(COLUMNS_COLUMN).alias("columns"), F.col(REASON_COLUMN).alias("reason"), F.col(RAW_COLUMN).alias("raw"), _ORDER_FILE)
                .orderBy(_ORDER_FILE, "line"))
    read_order = [F.col(_ORDER_FILE), F.col(schema.LINE_COLUMN)]
    preference = [F.coalesce(F.col("popularity"), F.lit(-1)).desc(), *read_order]

    # 1. exact duplicates: the first row read of each group of rows equal on every canonical column
    exact = Window.partitionBy(*[_quote(c) for c in canonical]).orderBy(*read_order)
    alive = rows.withColumn("_rank", F.row_number().over(exact)).where("_rank = 1").drop("_rank")

    # 2. the same track id with conflicting values: the preferred row stays
    # Each intermediate result that more than one output reads is kept (`SparkCleaned.release`
    # lets it go), or every output would recompute the chain from the first step.
    kept: list[DataFrame] = []

    def keep(frame: DataFrame) -> DataFrame:
        kept.append(frame.persist(StorageLevel.MEMORY_AND_DISK))
        return kept[-1]

    by_id = Window.partitionBy("track_id")
    ranked = keep(alive.withColumn("_copies", F.count(F.lit(1)).over(by_id))
                  .withColumn("_rank", F.row_number().over(by_id.orderBy(*preference))))
    conflicts = keep(_describe_conflicts(ranked.where("_copies > 1")))
    alive_id = ranked.where("_rank = 1").drop("_copies", "_rank")
    exact_count, id_count = ranked.count(), alive_id.count()

    # 3. the same artists (as a set), track name and duration: the preferred row stays, the others are recorded
    alive_id = alive_id.withColumn("_artist_set", F.array_join(F.array_sort(F.array_distinct(F.split(F.col("artists"), ARTIST_SEPARATOR_PATTERN))),
                                                               artists.SEPARATOR))
    near_group = Window.partitionBy("_artist_set", "track_name", "duration_ms")
    ranked = keep(alive_id.withColumn("_rank", F.row_number().over(near_group.orderBy(*preference)))
                  .withColumn("_kept", F.first("track_id").over(near_group.orderBy(*preference).rowsBetween(Window.unboundedPreceding, Window.currentRow))))
    near = (ranked.where("_rank > 1").select(F.lit("same artist, track name and duration").alias("rule"), F.col("_kept").alias("kept_track_id"),
                                              F.col("track_id").alias("dropped_track_id"), F.lit("").alias("detail"), F.lit(1).cast("long").alias("dropped_rows")))
    survivors = ranked.where("_rank = 1").drop("_rank", "_kept", "_artist_set")

    # 4. loose near duplicates on normalised names: always reported, removed only when asked
    loose_pairs = keep(_loose_pairs(survivors))
    merges = near.select(F.col("dropped_track_id").alias("_dropped"), F.col("kept_track_id").alias("_into"))
    if loose:
        loose_rows = loose_pairs.select(F.lit("loose: normalised names, duration within 2 s").alias("rule"), "kept_track_id",
                                        "dropped_track_id", F.lit("").alias("detail"), F.lit(1).cast("long").alias("dropped_rows"))
        near = near.unionByName(loose_rows)
        dropped = loose_pairs.select(F.col("dropped_track_id").alias("_gone"))
        survivors = survivors.join(dropped, survivors["track_id"] == dropped["_gone"], "left_anti")
        # A row step 3 merged into a track that the loose rule then merged goes to the final one.
        loose_map = loose_pairs.select(F.col("dropped_track_id").alias("_from"), F.col("kept_track_id").alias("_to"))
        merges = (merges.join(loose_map, merges["_into"] == loose_map["_from"], "left")
                  .select("_dropped", F.coalesce("_to", "_into").alias("_into"))
                  .unionByName(loose_map.select(F.col("_from").alias("_dropped"), F.col("_to").alias("_into"))))

    # Every input row points at the track it became (only steps 3 and 4 change ids).
    merges = keep(merges)
    mapped = (rows.join(merges, rows["track_id"] == merges["_dropped"], "left")
              .withColumn("_final", F.coalesce("_into", "track_id")))
    if extras:
        mapped = keep(mapped)
    provenance = (mapped.select(F.col("_final").alias("track_id"), schema.SOURCE_COLUMN, schema.LINE_COLUMN, _ORDER_FILE)
                  .dropDuplicates(["track_id", schema.SOURCE_COLUMN, schema.LINE_COLUMN])
                  .orderBy(_ORDER_FILE, schema.LINE_COLUMN))

    tracks = survivors.select(*[_quote(c) for c in canonical], _ORDER_FILE, schema.LINE_COLUMN)
    if extras:
        tracks = tracks.join(_merged_labels(mapped, extras), "track_id", "left")
    flags = []
    for rule in rules:
        flags.append(F.when(F.expr(f"{_quote(rule.column)} {rule.op} {rule.threshold!r}"), F.lit(rule.name)))
    tracks = tracks.withColumn("outlier_rules", F.concat_ws("; ", *flags) if flags else F.lit(""))
    tracks = tracks.withColumn("is_outlier", F.col("outlier_rules") != "")
    # Reading order stays with the rows until the stores take them (`StagedIngest` drops it).
    tracks = tracks.orderBy(_ORDER_FILE, schema.LINE_COLUMN).select(*[_quote(c) for c in canonical + extras], "is_outlier", "outlier_rules",
                                                                    _ORDER_FILE, schema.LINE_COLUMN)

    duplicates = conflicts.unionByName(near)
    tracks = keep(tracks)
    aggregates = [F.count(F.lit(1)).alias("near"), F.sum(F.col("is_outlier").cast("long")).alias("outliers")]
    for i, rule in enumerate(rules):
        aggregates.append(F.sum(F.expr(f"CAST({_quote(rule.column)} {rule.op} {rule.threshold!r} AS LONG)")).alias(f"rule{i}"))
    counts = tracks.agg(*aggregates).first().asDict()
    counts["valid"] = rows.count()
    counts["exact"], counts["same_id"] = exact_count, id_count
    counts["id_conflicts"] = conflicts.select("kept_track_id").distinct().count()
    counts["loose"] = loose_pairs.count()
    counts["before_loose"] = counts["near"] + (counts["loose"] if loose else 0)
    counts = {k: int(v or 0) for k, v in counts.items()}
    examples = [{"kept": r["kept_text"], "dropped": r["dropped_text"]} for r in loose_pairs.orderBy(*_PAIR_ORDER).limit(10).collect()]
    return SparkCleaned(tracks, provenance, rejected, duplicates.select(*DUPLICATE_COLUMNS), counts, rules, loose, examples, kept)


_PAIR_ORDER = ("kept_file", "kept_line", "dropped_file", "dropped_line")
_PAIR_SCHEMA = ("kept_track_id string, dropped_track_id string, kept_file int, kept_line long, dropped_file int, dropped_line long, "
                "kept_text string, dropped_text string")


def _loose_pairs(survivors: DataFrame) -> DataFrame:
    """`clean`'s loose rule on Spark: names normalised by `normalise.normalise_names` in the executors,
    each group of equal normalised names matched by `clean.loose_matches`."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    columns = ["track_id", "artist_name", "track_name", "duration_ms", "popularity", _ORDER_FILE, schema.LINE_COLUMN]

    def normalise(frames):
        from songscope.normalise import normalise_names

        for frame in frames:
            for column, target in (("artist_name", "_artist"), ("track_name", "_title")):
                codes, names = pd.factorize(frame[column].astype(str), sort=False)
                frame[target] = normalise_names(pa.array(np.asarray(names, dtype=object), type=pa.string())).to_numpy(zero_copy_only=False)[codes]
            yield frame

    def match(group: pd.DataFrame) -> pd.DataFrame:
        from songscope.clean import format_minutes, loose_matches

        group = group.assign(_pop=group["popularity"].fillna(-1)).sort_values(["_pop", _ORDER_FILE, schema.LINE_COLUMN],
                                                                              ascending=[False, True, True]).reset_index(drop=True)
        out = []
        for kept, dropped in loose_matches(group.index.to_numpy(), group["duration_ms"].to_numpy(dtype=float)):
            k, d = group.iloc[kept], group.iloc[dropped]
            out.append((k["track_id"], d["track_id"], int(k[_ORDER_FILE]), int(k[schema.LINE_COLUMN]), int(d[_ORDER_FILE]), int(d[schema.LINE_COLUMN]),
                        f"{k['artist_name']} - {k['track_name']} ({format_minutes(k['duration_ms'])})",
                        f"{d['artist_name']} - {d['track_name']} ({format_minutes(d['duration_ms'])})"))
        return pd.DataFrame(out, columns=[c.split()[0] for c in _PAIR_SCHEMA.split(", ")])

    names = survivors.select(*columns).mapInPandas(normalise, survivors.select(*columns).schema.add("_artist", "string").add("_title", "string"))
    names = names.where("_artist != '' AND _title != ''")
    names = names.withColumn("_n", F.count(F.lit(1)).over(Window.partitionBy("_artist", "_title"))).where("_n > 1").drop("_n")
    return names.groupBy("_artist", "_title").applyInPandas(match, _PAIR_SCHEMA)


def _describe_conflicts(contested: DataFrame) -> DataFrame:
    """(rule, kept, dropped, detail, dropped_rows): one record per contested track id, its rows
    that the preferred row replaced worded by `clean.describe_conflicts` and counted by
    `clean.counted_conflicts`, as the local backend does (labels are merged, not compared)."""
    columns = list(schema.CANONICAL_COLUMNS)
    integer = [c.name for c in schema.NUMERIC_COLUMNS if c.integer]

    def describe(group: pd.DataFrame) -> pd.DataFrame:
        from songscope.clean import counted_conflicts, describe_conflicts

        group = group.sort_values("_rank").reset_index(drop=True)
        for name in integer:
            group[name] = group[name].astype("Int64")
        dropped = np.arange(1, len(group))
        details = describe_conflicts(group[columns], np.zeros(len(dropped), dtype=np.int64), dropped)
        out = pd.DataFrame({"rule": "same track_id, conflicting values", "kept_track_id": group["track_id"].iloc[0],
                            "dropped_track_id": group["track_id"].iloc[1:].to_numpy(dtype=object), "detail": details, "dropped_rows": 1},
                           columns=DUPLICATE_COLUMNS)
        return counted_conflicts(out)

    return contested.select(*[_quote(c) for c in columns], "_rank").groupBy("track_id").applyInPandas(
        describe, "rule string, kept_track_id string, dropped_track_id string, detail string, dropped_rows long")


def _merged_labels(mapped: DataFrame, extras: list[str]) -> DataFrame:
    """Per final track: each label column's values from every row it absorbed, split on ``|``,
    unique, in reading order, joined with ``|`` (a track of one row keeps its value as read)."""
    from pyspark.sql import functions as F

    aggregates = [F.count(F.lit(1)).alias("_rows")]
    for name in extras:
        aggregates.append(F.sort_array(F.collect_list(F.struct(_ORDER_FILE, schema.LINE_COLUMN, F.col(_quote(name)).alias("v")))).alias(f"_l{extras.index(name)}"))
        aggregates.append(F.first(F.col(_quote(name)), ignorenulls=False).alias(f"_one{extras.index(name)}"))
    grouped = mapped.groupBy(F.col("_final").alias("track_id")).agg(*aggregates)
    columns = [F.col("track_id")]
    for i, name in enumerate(extras):
        parts = F.filter(F.flatten(F.transform(F.filter(F.col(f"_l{i}"), lambda x: x["v"].isNotNull()),
                                               lambda x: F.split(x["v"], r"\|"))), lambda p: p != "")
        joined = F.when(F.size(F.array_distinct(parts)) > 0, F.array_join(F.array_distinct(parts), "|"))
        columns.append(F.when(F.col("_rows") == 1, F.col(f"_one{i}")).otherwise(joined).alias(name))
    return grouped.select(*columns)
