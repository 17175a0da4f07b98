"""esup: the base layer (settings, Kafka and ClickHouse logins, producer, topics, the local stack) and the CLI."""
