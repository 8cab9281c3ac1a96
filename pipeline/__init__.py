"""German news corpus pipeline."""
