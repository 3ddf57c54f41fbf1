"""What a run records about where and how it ran, captured once at ``init``."""
