"""flowcast.evaluation."""
