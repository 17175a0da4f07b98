"""The local stack: Kafka and ClickHouse as plain background processes under .esup/, no Docker needed."""
