"""flowcast.ingest.wire.codec."""
