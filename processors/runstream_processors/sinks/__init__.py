"""Where validated events are written."""
