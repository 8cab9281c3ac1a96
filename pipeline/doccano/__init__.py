"""doccano: a local annotation server, and push/pull of documents and annotations to and from it.

Pure shapes and conversions: ``shape`` (doccano's span/relation JSON, also used by the doccano
format of :mod:`pipeline.formats`), ``convert`` (corpus records ⇄ doccano lines, UTF-16 offsets).
Talking to a server: ``session`` (URL, credentials, errors), ``push``, ``pull``, ``corpus`` (the
documents pushed). The local server: ``server_config`` (where it lives), ``server_env`` (its own
virtual environment: doccano 1.8.4 needs pydantic 2 while doccano-client 1.2.8 needs pydantic 1),
``server`` (start, stop, status; bound to 127.0.0.1 only). ``cli``: the command line.
"""
