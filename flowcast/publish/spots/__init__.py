"""flowcast.publish.spots."""
