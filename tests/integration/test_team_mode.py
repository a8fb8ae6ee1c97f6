"""Team mode: PostgreSQL metadata and S3 artifacts, through the same SDK calls."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import modelcycle as mc
from modelcycle.sdk import session

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.postgres
@pytest.mark.s3
def test_tracking_on_postgresql_with_artifacts_on_s3(
    postgres_url: str, s3_url: str, tmp_path: Path
) -> None:
    mc.configure(uri=postgres_url, artifacts=s3_url)
    try:
        mc.set_project("team", task="regression", target="price", metric="rmse", goal=10.0)
        report = tmp_path / "report.txt"
        report.write_text("residuals look fine\n")
        folder = tmp_path / "plots"
        (folder / "nested").mkdir(parents=True)
        (folder / "a.svg").write_text("<svg/>")
        (folder / "nested" / "b.svg").write_text("<svg></svg>")
        with mc.start_run(name="s3") as run:
            mc.log_param("alpha", 0.5)
            mc.log_metric("rmse", 12.5, step=0)
            mc.log_metric("rmse", 9.5, step=1)
            mc.log_artifact(report)
            mc.log_artifact(folder, name="plots")
        stored = mc.get_run(run.id)
        assert sorted(a.path for a in stored.artifacts) == [
            "plots/a.svg",
            "plots/nested/b.svg",
            "report.txt",
        ]
        assert stored.metrics == {"rmse": 9.5}
        assert mc.get_project("team").card.meets_goal(stored.metrics["rmse"]) is True
        out = mc.download_artifacts(run.id, tmp_path / "back")
        assert (out / "report.txt").read_text() == "residuals look fine\n"
        assert (out / "plots" / "nested" / "b.svg").read_text() == "<svg></svg>"
        found = mc.search_runs(filter="metrics.rmse < 10 and params.alpha = 0.5")
        assert [r.id for r in found] == [run.id]
    finally:
        session.configure()


@pytest.mark.postgres
@pytest.mark.s3
def test_data_stage_on_postgresql_with_a_lake_on_s3(postgres_url: str, s3_url: str) -> None:
    import boto3
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from modelcycle.store.filesystems import s3_endpoint

    bucket = s3_url.removeprefix("s3://").split("/", 1)[0]
    client = boto3.client("s3", endpoint_url=s3_endpoint())
    for month, rows in (("2026-01", 40), ("2026-02", 60)):
        table = pa.table(
            {"amount": [float(i) for i in range(rows)], "shop": ["a", "b"] * (rows // 2)}
        )
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        key = f"lake/sales/month={month}/part-0.parquet"
        client.put_object(Bucket=bucket, Key=key, Body=sink.getvalue().to_pybytes())
    mc.configure(uri=postgres_url, artifacts=s3_url)
    try:
        mc.set_project("team")
        version = mc.data.register("sales", f"s3://{bucket}/lake/sales")
        assert version.num_rows == 100
        assert version.lineage.source["partitions"] == ["month"]
        frame = version.load()
        assert isinstance(frame, pd.DataFrame)
        assert sorted(frame["month"].astype(str).unique()) == ["2026-01", "2026-02"]
        parts = mc.data.split(version, {"train": 0.8, "test": 0.2}, method="group", column="month")
        assert sorted(v.num_rows for v in parts.values()) == [40, 60]
        mc.data.set_rules("sales", "- range: {column: amount, min: 0, max: 50}\n")
        report = mc.data.validate(version)
        assert report.results[0].failing_count == 9  # 51..59, in the 60-row month only
    finally:
        session.configure()
