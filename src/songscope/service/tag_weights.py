"""The recommender's feature weights, learned from the catalogue's own genre tags.

Spotify's feature set ships weights learned on a labelled catalogue (`schema.SPOTIFY`); songscope's
audio descriptors have no such catalogue, but a listener's library usually carries genre tags,
and those say what the listener hears as alike. For a feature set that `learns_from_tags`, the
weights are learned from them (`recommend.distance.weights_from_tags`), and used only when they
make neighbours share tags more often on songs they were not learned from.

This is derived data, like the names' coordinates (`service.names`): kept in the lake under a
digest of the catalogue's manifest (its song files and merged-label files), so any ingest or
prune that changes the songs or their tags makes it be learned again; anything missing or
unreadable is simply learned again. An ingest learns it as it ends, so no later command pays.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from songscope.jsonable import dumps
from songscope.recommend.distance import TAG_COLUMN, TAGGED_SAMPLE, SongDistance, TagWeights, tag_sets, weights_from_tags
from songscope.recommend.vectors import artists_mean
from songscope.service.common import Progress, catalogue_features, catalogue_space, say_to
from songscope.service.names import catalogue_name_coordinates
from songscope.service.songs import songs_of
from songscope.store import keys
from songscope.store.catalogue import manifest, rows_at
from songscope.store.labels import label_column
from songscope.store.lake import LakeError
from songscope.store.store import Store


def catalogue_tag_weights(store: Store, progress: Progress | None = None) -> TagWeights | None:
    """The weights learned from the catalogue's genre tags (stored, or learned now and stored);
    None for a catalogue whose feature set ships its own weights, or with no songs."""
    if not catalogue_features(store).learns_from_tags:
        return None
    files = manifest(store)
    if files.empty:
        return None
    version = hashlib.sha256("\n".join(files["lake_key"]).encode()).hexdigest()[:16]
    key = keys.tag_weights(version)
    try:
        return TagWeights.from_dict(json.loads(store.lake.read_bytes(key)))
    except (LakeError, ValueError, KeyError, TypeError, AttributeError):
        pass  # not learned for this catalogue yet, or unreadable: learned (again) below
    found = _learn(store, progress)
    try:
        store.lake.write_bytes(key, dumps(found.to_dict(), indent=2).encode())
    except LakeError:
        return found  # a lake this process may only read: the weights serve it all the same, learned here
    # An earlier catalogue's file goes. Two processes that learned for two versions at once may
    # each remove the other's; the one then missing is learned again when next asked for.
    for old in store.lake.keys(f"{keys.TAG_WEIGHTS_FOLDER}/"):
        if old != key:
            store.lake.delete(old)
    return found


def _learn(store: Store, progress: Progress | None) -> TagWeights:
    say = say_to(progress)
    track_ids, values = label_column(store.db, TAG_COLUMN)
    tags = tag_sets(values)
    tagged = np.flatnonzero([bool(t) for t in tags])
    if len(tagged) > TAGGED_SAMPLE:  # the sample `weights_from_tags` would take, chosen before any song is read
        tagged = np.sort(np.random.default_rng(store.settings.seed).choice(tagged, TAGGED_SAMPLE, replace=False))
    positions = songs_of(store).rows_of_ids([track_ids[i] for i in tagged])
    known = positions >= 0  # a label of a song no longer in the catalogue counts for nothing
    tagged, positions = tagged[known], positions[known]
    if len(tagged) == 0:
        return weights_from_tags(np.zeros((0, 0)), [], [])
    say(f"learning the metric's feature weights from the {TAG_COLUMN} tags of {len(tagged):,} songs")
    space = catalogue_space(store)
    frame = rows_at(store, positions, columns=space.input_columns())
    space = space.fit(frame)  # the sample's scale, near enough the catalogue's for thirty weights
    places = None
    if store.settings.name_context:  # the names as the metric places them: their artists' mean over the whole catalogue
        places = artists_mean(catalogue_name_coordinates(store), songs_of(store), SongDistance())[positions]
    found = weights_from_tags(space.transform(frame), space.output_names, [tags[i] for i in tagged], name_places=places,
                              name_context=store.settings.name_context, seed=store.settings.seed, progress=say)
    say(f"the metric, taught by the {TAG_COLUMN} tags: {found.reason}")
    return found
