"""flowcast.models.roads."""
