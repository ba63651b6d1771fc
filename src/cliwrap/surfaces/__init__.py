"""The wire surfaces: each parses its own request shape into a ChatRequest and encodes events."""
