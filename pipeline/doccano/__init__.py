"""Local doccano annotation server: its own environment, lifecycle and command line.

doccano 1.8.4 needs pydantic 2 while doccano-client 1.2.8 (used by the pipeline) needs pydantic 1, so the
server runs from a separate virtual environment under ``.doccano/`` and is only ever bound to 127.0.0.1.
"""
