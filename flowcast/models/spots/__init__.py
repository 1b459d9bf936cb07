"""flowcast.models.spots."""
