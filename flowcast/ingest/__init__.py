"""Sources and decoding: Kafka, the in-process bus, dataset replay, the simulator, CSV import."""
