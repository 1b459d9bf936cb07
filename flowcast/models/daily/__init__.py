"""flowcast.models.daily."""
