"""PostgreSQL is real, and a Dagster instance on it materializes an asset."""

import dagster as dg
import psycopg2


def test_each_test_gets_its_own_database(postgres_url):
    with psycopg2.connect(postgres_url) as conn, conn.cursor() as cur:
        cur.execute("create table t (x int)")
        cur.execute("insert into t values (1), (2)")
        cur.execute("select sum(x) from t")
        assert cur.fetchone()[0] == 3


def test_dagster_instance_on_postgres_materializes_an_asset(postgres_url, tmp_path):
    @dg.asset
    def answer() -> int:
        return 42

    config = {
        "storage": {"postgres": {"postgres_url": postgres_url.replace("postgresql://", "postgresql+psycopg2://")}},
    }
    with dg.instance_for_test(overrides=config, temp_dir=str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = dg.materialize([answer], instance=instance)
        assert result.success
        event = instance.get_latest_materialization_event(dg.AssetKey("answer"))
        assert event is not None and event.run_id == result.run_id
    with psycopg2.connect(postgres_url) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from runs")
        assert cur.fetchone()[0] == 1
