"""The whole job on a real Spark cluster: a standalone master and two workers on loopback, an S3
lake (SeaweedFS) and PostgreSQL, as the seed project ran on Databricks with S3 and RDS."""

from __future__ import annotations

import pyarrow.fs as pafs
import pytest
import sqlalchemy as sa

from songscope import service
from songscope.config import Settings
from songscope.store import keys
from songscope.store.lake import Lake
from songscope.store.store import Store
from tests.conftest import load_catalogue

pytestmark = [pytest.mark.spark, pytest.mark.s3, pytest.mark.slow]


def test_run_on_a_standalone_cluster_with_an_s3_lake_and_postgres(spark_standalone, s3_server, postgres_url, seed_files, tmp_path):
    from songscope.backends.spark.session import spark_session

    bucket = s3_server.make_bucket()
    settings = Settings(db_url=postgres_url, lake_url=f"s3://{bucket}/lake", s3_endpoint=s3_server.endpoint, spark_master=spark_standalone,
                        spark_scratch=f"s3://{bucket}/scratch")
    with Store(settings) as store:
        outcome = service.run(store, seed_files, out_dir=tmp_path / "reports", k=6, resamples=3, backend="spark")
    # It ran on the cluster: its master, and two executors besides the driver.
    context = spark_session(spark_standalone).sparkContext
    assert context.master == spark_standalone
    assert context._jsc.sc().getExecutorMemoryStatus().size() == 3
    assert outcome.ingest.backend == "spark" and outcome.ingest.report.chain() == "20,301 -> 15,820 -> 15,779 -> 15,626"
    assert outcome.ingest.report.outliers == 609
    run = outcome.clustering.run
    assert run.engine == "spark" and run.n_tracks == 15_626 and int(run.clusters["size"].sum()) == 15_626
    # Both stores hold all of it: the catalogue and the assignments in the S3 lake and in PostgreSQL.
    lake = Lake(settings.lake_url, settings.s3_endpoint)
    assert len(load_catalogue(settings)) == 15_626
    assert lake.parquet_rows(keys.run_assignments(run.run_id)) == 15_626
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM tracks")).scalar() == 15_626
        assert conn.execute(sa.text("SELECT count(*) FROM cluster_assignments WHERE run_id = :r"), {"r": run.run_id}).scalar() == 15_626
    engine.dispose()
    assert outcome.report.path.exists()
    # The executors' staged files are gone from the scratch prefix.
    fs = pafs.S3FileSystem(access_key=s3_server.access_key, secret_key=s3_server.secret_key, scheme="http",
                           endpoint_override=s3_server.endpoint.split("://")[1])
    left = [i.path for i in fs.get_file_info(pafs.FileSelector(f"{bucket}/scratch", recursive=True, allow_not_found=True))
            if i.type == pafs.FileType.File]
    assert left == []
