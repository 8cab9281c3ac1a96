"""Benchmark: push + pull of N news-length documents against the local doccano server.

    UV=/tmp/uvboot/bin/uv .venv/bin/python benchmarks/doccano_roundtrip.py            # N=1000
    .venv/bin/python benchmarks/doccano_roundtrip.py --n 200 --keep                      # keep the project

Documents and their gold entities come from ``benchmarks/build_corpus.py`` (real annotated German
text from ``../shared/external``, assembled into news-length documents), plus synthesised relations
between entities whose types the label schema allows (so the relation path is exercised too).

Measured, each on a fresh project of the server in ``.doccano/`` (started here, and stopped again, if
it is not running; that needs ``DOCCANO_ADMIN_USER``/``DOCCANO_ADMIN_PASSWORD``):

* ``push``        create the project and labels, one UTF-8 JSONL import of all N documents;
* ``pull``        export (all examples), offsets back to code points, ids mapped back, layer written;
* ``push_again``  the idempotent second push (one export, nothing to upload or change);
* ``pull_again``  the second pull (no file changes).

The pushing account is the server admin (credentials from the environment as for ``push``/``pull``:
``DOCCANO_USER``/``DOCCANO_PASSWORD``, else the admin variables, else netrc). Prints a table and
writes ``benchmarks/results/doccano.json``. The pulled layer is checked against what was pushed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from build_corpus import iter_documents  # noqa: E402

from pipeline.core.spans import Document, record_from_json  # noqa: E402
from pipeline.core.text import normalise_text  # noqa: E402
from pipeline.doccano import server as srv  # noqa: E402
from pipeline.doccano.pull import layer_path, pull  # noqa: E402
from pipeline.doccano.push import push  # noqa: E402
from pipeline.doccano.server_config import ServerConfig  # noqa: E402
from pipeline.doccano.server_env import ensure_env  # noqa: E402
from pipeline.doccano.session import URL_ENV, DoccanoError, connect  # noqa: E402
from pipeline.io.schemas import load_label_schema  # noqa: E402


def with_relations(record: dict[str, Any], schema: Any, limit: int = 5) -> dict[str, Any]:
    """Add up to ``limit`` relations between neighbouring entities whose types the schema allows."""
    entities = record["entities"]
    relations = []
    for head, tail in itertools.pairwise(entities):
        for relation in schema.relation_types:
            if relation.allows(head["label"], tail["label"]) and head["label"] in relation.head:
                relations.append({"id": f"R{len(relations) + 1}", "head": head["id"], "tail": tail["id"], "label": relation.name})
                break
        if len(relations) >= limit:
            break
    return {**record, "relations": relations}


def build(n: int, schema: Any) -> tuple[list[Document], dict[str, Any]]:
    documents, records = [], {}
    for document, record in iter_documents(n):
        text = normalise_text(document["text"])
        assert text == document["text"], document["id"]
        documents.append(Document(doc_id=document["id"], text=text, source="bench"))
        records[document["id"]] = record_from_json(with_relations(record, schema), layer="gold", path="bench", line=0)
    return documents, records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the doccano project afterwards")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "doccano.json")
    args = parser.parse_args(argv)

    schema = load_label_schema(REPO / "schemas" / "labels.yaml")
    started = time.monotonic()
    documents, records = build(args.n, schema)
    build_s = time.monotonic() - started
    n_entities = sum(len(r.entities) for r in records.values())
    n_relations = sum(len(r.relations) for r in records.values())
    characters = sum(len(d.text) for d in documents)

    config = ServerConfig()
    started_here = False
    url = os.environ.get(URL_ENV) or config.url
    if not os.environ.get(URL_ENV) and not srv.status(config).running:
        config.require_credentials()
        ensure_env(config)
        srv.start(config)
        started_here = True
    project = f"bench-doccano-{uuid.uuid4().hex[:8]}"
    timings: dict[str, float] = {}
    try:
        session = connect(url)
        with tempfile.TemporaryDirectory(prefix="doccano-bench-") as folder:
            out = Path(folder)
            t = time.monotonic()
            pushed = push(session, project=project, documents=documents, records=records, schema=schema)
            timings["push"] = time.monotonic() - t
            t = time.monotonic()
            pulled = pull(session, project=project, schema=schema, out_dir=out, confirmed_only=False)
            timings["pull"] = time.monotonic() - t
            t = time.monotonic()
            again = push(session, project=project, documents=documents, records=records, schema=schema)
            timings["push_again"] = time.monotonic() - t
            t = time.monotonic()
            pulled_again = pull(session, project=project, schema=schema, out_dir=out, confirmed_only=False)
            timings["pull_again"] = time.monotonic() - t
            layer = layer_path(out, session.username, project)
            back = [json.loads(line) for line in layer.read_text(encoding="utf-8").splitlines()]
        identical = all(
            sorted((e["id"], e["start"], e["end"], e["label"]) for e in r["entities"])
            == sorted((e.id, e.start, e.end, e.label) for e in records[r["doc_id"]].entities)
            and sorted((x["id"], x["head"], x["tail"], x["label"]) for x in r["relations"])
            == sorted((x.id, x.head, x.tail, x.label) for x in records[r["doc_id"]].relations)
            for r in back
        )
        checks = {
            "uploaded": pushed.created,
            "second_push_unchanged": again.unchanged,
            "second_push_uploaded_or_updated": again.created + again.updated,
            "pulled_records": len(back),
            "second_pull_files_written": len(pulled_again.written),
            "round_trip_identical": identical and len(back) == len(records) and not pulled.skipped,
        }
        if not args.keep:
            session.client.delete_project(pushed.project_id)
    except DoccanoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        if started_here:
            srv.stop(config)

    round_trip = timings["push"] + timings["pull"]
    result = {
        "benchmark": "doccano push + pull",
        "documents": args.n,
        "characters": characters,
        "entities": n_entities,
        "relations": n_relations,
        "seconds": {k: round(v, 2) for k, v in timings.items()}
        | {"push_plus_pull": round(round_trip, 2), "build_documents": round(build_s, 2)},
        "documents_per_second": {
            "push": round(args.n / timings["push"], 1),
            "pull": round(args.n / timings["pull"], 1),
            "push_plus_pull": round(args.n / round_trip, 1),
        },
        "checks": checks,
        "server": {
            "doccano": "1.8.4",
            "gunicorn_workers": config.workers,
            "celery": "eager (imports and exports run inside the request)",
            "url": url,
        },
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    print(f"{'step':<12} {'seconds':>8} {'docs/s':>8}")
    for step, seconds in timings.items():
        print(f"{step:<12} {seconds:>8.2f} {args.n / seconds:>8.1f}")
    print(f"{'push+pull':<12} {round_trip:>8.2f} {args.n / round_trip:>8.1f}")
    print(f"{args.n} documents, {characters} characters, {n_entities} entities, {n_relations} relations; checks: {json.dumps(checks)}")
    print(f"wrote {args.out}")
    return (
        0
        if checks["round_trip_identical"] and checks["second_push_uploaded_or_updated"] == 0 and checks["second_pull_files_written"] == 0
        else 1
    )


if __name__ == "__main__":
    raise SystemExit(main())
