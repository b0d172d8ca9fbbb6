-- clickhouse-init.sql — the example target table of docker-compose.yml.
-- The clickhouse-server image runs it once, on an empty data volume.
CREATE TABLE IF NOT EXISTS default.events
(
    ts        DateTime,
    event_id  UInt64,
    player_id UInt32,
    event     LowCardinality(String),
    score     Int64
)
ENGINE = MergeTree
ORDER BY (event, ts);
