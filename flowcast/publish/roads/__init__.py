"""flowcast.publish.roads."""
