"""A real single-node Apache Kafka 4.x broker (KRaft) on loopback, for tests and development."""
