"""The early-warning report's files: HTML page, CSV per table, JSON summary, manifest.

Pure: a report's values (``domain.report``) in, bytes out; no I/O, no
database, no transport. ``render`` makes the files, ``map`` projects the
districts' boundaries, ``charts`` computes the charts' geometry; the page's
template and stylesheet are package data (``templates/``).
"""
