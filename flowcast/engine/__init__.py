"""flowcast.engine.loop."""
