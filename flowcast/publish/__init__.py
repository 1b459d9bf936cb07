"""Road levels, alert lifecycle, Kafka sinks, HTTP API and pages."""
