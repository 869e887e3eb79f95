"""rnnrtl."""
