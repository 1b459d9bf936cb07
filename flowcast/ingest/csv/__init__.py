"""flowcast.ingest.csv."""
