"""The early-warning report's files: HTML, CSV per table, JSON summary, manifest."""
