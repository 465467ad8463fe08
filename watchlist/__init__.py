"""Names, travel documents and screening: pure functions, no I/O."""
