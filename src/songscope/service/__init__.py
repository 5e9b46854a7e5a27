"""One function per user action, under both shells (the CLI and the web app).

Each takes a `Store` (the database and the lake of the process) and returns a result object
with ``to_dict()``; the shells parse their input, call one function and render what it returns
(``--json`` and the API through `songscope.jsonable`). A job's backend (local or Spark) is chosen
once, by `common.backend_for`, and runs every stage of it: no function here asks which kind it
is. Progress is reported through a callback so the CLI can draw a progress bar; nothing here prints.

One module per family of actions: `ingest` (ingest, profile, synth), `audio` (analyze audio files into a table), `clusters` (cluster,
assign, evaluate, compare), `recommend`, `report` (report, and the end-to-end `run`), `status`,
and `browse` (what the web app shows).
"""

from songscope.service.audio import AnalyzeOutcome, analyze
from songscope.service.browse import cluster_details, cluster_map, load_list, overview, run_details, runs, save_list, search_songs, song, song_audio
from songscope.service.clusters import AssignOutcome, ClusterOutcome, EvaluateOutcome, assign, cluster, compare, evaluate
from songscope.service.common import LABEL_CANDIDATES, NotFound, Progress, backend_for, catalogue_size_or_zero, load_run
from songscope.service.ingest import AudioIngestOutcome, IngestOutcome, ProfileOutcome, SynthOutcome, ingest, profile, prune_gone, synth
from songscope.service.recommend import (
                                      MAX_PLAYLIST_SONGS,
                                      Playlist,
                                      RecommendOutcome,
                                      cluster_playlist,
                                      eval_recs,
                                      path,
                                      path_playlist,
                                      recommend,
                                      recommendation_playlist,
                                      recommender,
)
from songscope.service.report import ReportOutcome, RunOutcome, report, run
from songscope.service.status import Status, SweepOutcome, status, sweep

__all__ = [
    "LABEL_CANDIDATES", "MAX_PLAYLIST_SONGS", "AnalyzeOutcome", "AssignOutcome", "AudioIngestOutcome", "ClusterOutcome", "EvaluateOutcome", "IngestOutcome", "NotFound", "Playlist",
    "ProfileOutcome", "Progress", "RecommendOutcome", "ReportOutcome", "RunOutcome", "Status", "SweepOutcome", "SynthOutcome", "analyze", "assign",
    "backend_for", "catalogue_size_or_zero", "cluster", "cluster_details", "cluster_map", "cluster_playlist", "compare", "eval_recs",
    "evaluate", "ingest", "load_list", "load_run", "overview", "path", "path_playlist", "profile", "prune_gone", "recommend", "recommendation_playlist",
    "recommender", "report", "run", "run_details", "runs", "save_list", "search_songs", "song", "song_audio", "status", "sweep", "synth",
]
