"""flowcast.transport."""
