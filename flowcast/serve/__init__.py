"""flowcast.serve."""
