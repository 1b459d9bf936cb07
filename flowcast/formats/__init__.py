"""flowcast.formats."""
