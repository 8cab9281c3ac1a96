"""The semantic diff of two published datasets, and the version bump it calls for (pure).

What changed is computed from the tables, not from git: documents added, removed, with changed
text (``text_sha256``), metadata or split; entities added, removed, relabelled or moved (paired
by span first, ids only last: :data:`ENTITY_PASSES`); relations added, removed, relabelled or re-argued (paired by
their arguments: :data:`RELATION_PASSES`);
counts per label and per split before → after; the schema (tables, columns and their types, label
lists); and, for the other tables (sentences, tokens, the training views), whether their rows
changed. The caller streams: it hands one shard of both versions at a time to
:meth:`DiffBuilder.add_shard` (rows as dicts), so memory is bounded by a shard; only counts and
the first :data:`DETAIL_LIMIT` items of each list are kept.

The bump (:func:`required_bump`) follows semantic versioning for data:

* **major**: a table, column or label removed or retyped (a rename is a removal plus an addition),
  or labels reordered so that a kept label's ClassLabel id changes;
* **minor**: documents or annotations added, removed or changed, a table, column or label added
  (old readers keep working: they select the columns and labels they know), a relation type's
  head/tail constraint changed, any other table's rows changed;
* **patch**: nothing above — only card or metadata text (description, licence note) changed.

Pure: no files, no processes. It is over 400 lines because the diff, the bump rules and the Markdown
rendering of one diff belong together: each reads the same dict shape, and a split would spread it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MAJOR, MINOR, PATCH = "major", "minor", "patch"
BUMPS = (PATCH, MINOR, MAJOR)
DETAIL_LIMIT = 1000
"""How many items of each list (documents added, entities relabelled, …) the diff keeps; the
counts are always complete."""

#: How entities of the two versions are paired, pass by pass, within a document: the same span and
#: label; then the same span (relabelled); then the same ``ent_id`` (moved). Ids are not stable
#: across versions (layers number them in span order), so the span comes first.
ENTITY_PASSES = (("start", "end", "label"), ("start", "end"), ("ent_id",))
#: Relations are paired by their arguments' identities (the entity pairs above) and label; then by
#: arguments (relabelled); then by ``rel_id`` (arguments changed).
RELATION_PASSES = (("_args", "label"), ("_args",), ("rel_id",))
#: Columns that follow from what the passes compare (or are derived from the spans), so not "changed".
ENTITY_DERIVED = ("doc_id", "ent_id", "label", "start", "end", "text", "level", "parent")
RELATION_DERIVED = ("doc_id", "rel_id", "label", "head", "tail", "_args")
LABEL_KINDS = ("entity_types", "relation_types", "bio_labels")


def parse_version(version: str) -> tuple[int, int, int]:
    """``MAJOR.MINOR.PATCH`` as integers (a release version has no pre-release or build part)."""
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() and (p == "0" or not p.startswith("0")) for p in parts):
        raise ValueError(f"version {version!r}: expected MAJOR.MINOR.PATCH, three integers without leading zeros (such as 0.2.0)")
    return int(parts[0]), int(parts[1]), int(parts[2])


def bump_of(previous: str, version: str) -> str | None:
    """Which part ``version`` raises over ``previous`` (``None`` if it is not greater)."""
    old, new = parse_version(previous), parse_version(version)
    if new <= old:
        return None
    if new[0] > old[0]:
        return MAJOR
    if new[1] > old[1]:
        return MINOR
    return PATCH


@dataclass
class _Listed:
    """A count with the first :data:`DETAIL_LIMIT` items."""

    count: int = 0
    items: list[Any] = field(default_factory=list)

    def add(self, item: Any) -> None:
        self.count += 1
        if len(self.items) < DETAIL_LIMIT:
            self.items.append(item)

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "items": sorted(self.items, key=_sort_key), "truncated": self.count > len(self.items)}


def _sort_key(item: Any) -> Any:
    if isinstance(item, Mapping):
        return tuple(str(item.get(k, "")) for k in ("doc_id", "ent_id", "rel_id", "table", "column"))
    return str(item)


def _differing(old: Mapping[str, Any], new: Mapping[str, Any], skip: Sequence[str]) -> list[str]:
    """Columns both rows have (other than ``skip``) whose values differ."""
    return sorted(c for c in old.keys() & new.keys() if c not in skip and old[c] != new[c])


class DiffBuilder:
    """Accumulates the diff shard by shard; :meth:`result` gives the whole diff as a dict."""

    def __init__(self) -> None:
        self.documents = {k: _Listed() for k in ("added", "removed", "text_changed", "metadata_changed", "split_changed")}
        self.entities = {k: _Listed() for k in ("added", "removed", "relabelled", "moved", "changed")}
        self.relations = {k: _Listed() for k in ("added", "removed", "relabelled", "arguments_changed", "changed")}
        self.in_added_documents: Counter[str] = Counter()
        self.in_removed_documents: Counter[str] = Counter()
        self.counts: dict[str, dict[str, Counter[str]]] = {
            side: {"entities_by_label": Counter(), "relations_by_label": Counter(), "documents_by_split": Counter()}
            for side in ("before", "after")
        }
        self.tables_changed: Counter[str] = Counter()

    def add_shard(self, old: Mapping[str, Sequence[Mapping[str, Any]]], new: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        """One shard of both versions: ``documents``, ``entities``, ``relations`` rows by table
        (a missing table is no rows). Every document of the shard must be in this call."""
        old_docs = {r["doc_id"]: r for r in old.get("documents", ())}
        new_docs = {r["doc_id"]: r for r in new.get("documents", ())}
        self._documents(old_docs, new_docs)
        added = new_docs.keys() - old_docs.keys()
        removed = old_docs.keys() - new_docs.keys()
        self._annotations(
            old.get("entities", ()), new.get("entities", ()), old.get("relations", ()), new.get("relations", ()), added, removed
        )

    def add_table_change(self, table: str, changed: bool) -> None:
        """A shard of a table without a row-level diff: whether its rows differ (all columns both have)."""
        self.tables_changed[table] += int(changed)

    def _documents(self, old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]) -> None:
        for side, rows in (("before", old), ("after", new)):
            self.counts[side]["documents_by_split"].update(r.get("split") for r in rows.values())
        for doc_id in new.keys() - old.keys():
            self.documents["added"].add(doc_id)
        for doc_id in old.keys() - new.keys():
            self.documents["removed"].add(doc_id)
        for doc_id in old.keys() & new.keys():
            before, after = old[doc_id], new[doc_id]
            if before.get("text_sha256") != after.get("text_sha256"):
                self.documents["text_changed"].add(doc_id)
            if before.get("split") != after.get("split"):
                self.documents["split_changed"].add({"doc_id": doc_id, "old": before.get("split"), "new": after.get("split")})
            columns = _differing(before, after, ("doc_id", "text", "text_sha256", "split"))
            if columns:
                self.documents["metadata_changed"].add({"doc_id": doc_id, "columns": columns})

    def _annotations(
        self,
        old_entities: Sequence[Mapping[str, Any]],
        new_entities: Sequence[Mapping[str, Any]],
        old_relations: Sequence[Mapping[str, Any]],
        new_relations: Sequence[Mapping[str, Any]],
        added_docs: set[str],
        removed_docs: set[str],
    ) -> None:
        for side, entities, relations in (("before", old_entities, old_relations), ("after", new_entities, new_relations)):
            self.counts[side]["entities_by_label"].update(r.get("label") for r in entities)
            self.counts[side]["relations_by_label"].update(r.get("label") for r in relations)
        entity_pairs = _match(old_entities, new_entities, ENTITY_PASSES)
        # an entity's identity across the versions: its matched pair (ids may be renumbered)
        identity: dict[tuple[str, str, str], int] = {}
        for n, (before, after) in enumerate(entity_pairs):
            if before is not None:
                identity[("old", before["doc_id"], before["ent_id"])] = n
            if after is not None:
                identity[("new", after["doc_id"], after["ent_id"])] = n

        def arguments(side: str, row: Mapping[str, Any]) -> tuple[Any, Any]:
            return tuple(identity.get((side, row["doc_id"], row[arg]), ("unmatched", row[arg])) for arg in ("head", "tail"))  # type: ignore[return-value]

        old_keyed = [dict(r, _args=arguments("old", r)) for r in old_relations]
        new_keyed = [dict(r, _args=arguments("new", r)) for r in new_relations]
        relation_pairs = _match(old_keyed, new_keyed, RELATION_PASSES)
        for table, pairs in (("entities", entity_pairs), ("relations", relation_pairs)):
            self._pairs(table, pairs, added_docs, removed_docs)

    def _pairs(
        self,
        table: str,
        pairs: Sequence[tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]],
        added_docs: set[str],
        removed_docs: set[str],
    ) -> None:
        listed = self.entities if table == "entities" else self.relations
        ident = "ent_id" if table == "entities" else "rel_id"
        for before, after in pairs:
            if before is None:
                if after["doc_id"] in added_docs:  # type: ignore[index]
                    self.in_added_documents[table] += 1
                else:
                    listed["added"].add(_brief(table, after))  # type: ignore[arg-type]
                continue
            if after is None:
                if before["doc_id"] in removed_docs:
                    self.in_removed_documents[table] += 1
                else:
                    listed["removed"].add(_brief(table, before))
                continue
            named = {"doc_id": after["doc_id"], ident: after[ident]}
            if before.get("label") != after.get("label"):
                listed["relabelled"].add(named | {"old": before.get("label"), "new": after.get("label")})
            if table == "entities":
                if (before.get("start"), before.get("end")) != (after.get("start"), after.get("end")):
                    listed["moved"].add(
                        named | {"old": [before.get("start"), before.get("end")], "new": [after.get("start"), after.get("end")]}
                    )
            elif before["_args"] != after["_args"]:
                listed["arguments_changed"].add(
                    named | {"old": [before.get("head"), before.get("tail")], "new": [after.get("head"), after.get("tail")]}
                )
            columns = _differing(before, after, ENTITY_DERIVED if table == "entities" else RELATION_DERIVED)
            if columns:
                listed["changed"].add(named | {"columns": columns})

    def result(
        self,
        old_schema: Mapping[str, Any],
        new_schema: Mapping[str, Any],
        rows: Mapping[str, Mapping[str, int]],
        old_name: str,
        new_name: str,
    ) -> dict[str, Any]:
        """The whole diff. ``*_schema``: ``{"tables": {table: {column: type}}, "labels":
        label schema metadata}`` of each side; ``rows``: ``{"before"/"after": {table: rows}}``."""
        schema = schema_changes(old_schema, new_schema)
        diff: dict[str, Any] = {
            "old": old_name,
            "new": new_name,
            "schema": schema,
            "documents": {k: v.to_dict() for k, v in self.documents.items()},
            "entities": {k: v.to_dict() for k, v in self.entities.items()}
            | {"in_added_documents": self.in_added_documents["entities"], "in_removed_documents": self.in_removed_documents["entities"]},
            "relations": {k: v.to_dict() for k, v in self.relations.items()}
            | {
                "in_added_documents": self.in_added_documents["relations"],
                "in_removed_documents": self.in_removed_documents["relations"],
            },
            "counts": {
                name: _before_after(self.counts["before"][name], self.counts["after"][name])
                for name in ("entities_by_label", "relations_by_label", "documents_by_split")
            },
            "rows": _before_after(rows.get("before", {}), rows.get("after", {})),
            "tables_changed": {t: n for t, n in sorted(self.tables_changed.items()) if n},
        }
        diff["bump"], diff["reasons"] = required_bump(diff)
        return diff


def _match(
    old_rows: Sequence[Mapping[str, Any]], new_rows: Sequence[Mapping[str, Any]], passes: Sequence[tuple[str, ...]]
) -> list[tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]]:
    """Rows of the two versions paired within each document, one pass per key in ``passes`` (a row
    pairs at most once, in row order); the unpaired come last as ``(old, None)`` / ``(None, new)``."""
    old_left: dict[str, list[Mapping[str, Any]]] = {}
    new_left: dict[str, list[Mapping[str, Any]]] = {}
    for rows, left in ((old_rows, old_left), (new_rows, new_left)):
        for row in rows:
            left.setdefault(row["doc_id"], []).append(row)
    pairs: list[tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]] = []
    for doc_id in sorted(old_left.keys() | new_left.keys()):
        olds, news = old_left.get(doc_id, []), new_left.get(doc_id, [])
        for key in passes:
            waiting: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
            for row in olds:
                waiting.setdefault(tuple(row.get(k) for k in key), []).append(row)
            unpaired = []
            for row in news:
                candidates = waiting.get(tuple(row.get(k) for k in key))
                if candidates:
                    pairs.append((candidates.pop(0), row))
                else:
                    unpaired.append(row)
            paired = {id(before) for before, _ in pairs}
            olds, news = [row for row in olds if id(row) not in paired], unpaired
        pairs.extend((row, None) for row in olds)
        pairs.extend((None, row) for row in news)
    return pairs


def _brief(table: str, row: Mapping[str, Any]) -> dict[str, Any]:
    if table == "entities":
        return {k: row.get(k) for k in ("doc_id", "ent_id", "label", "start", "end", "text")}
    return {k: row.get(k) for k in ("doc_id", "rel_id", "label", "head", "tail")}


def _before_after(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, list[int]]:
    return {k: [int(before.get(k, 0)), int(after.get(k, 0))] for k in sorted(set(before) | set(after), key=str)}


def schema_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Tables, columns (with types) and labels added, removed or retyped between two schemas."""
    old_tables, new_tables = old.get("tables", {}), new.get("tables", {})
    columns: dict[str, dict[str, Any]] = {}
    for table in sorted(old_tables.keys() & new_tables.keys()):
        before, after = old_tables[table], new_tables[table]
        change = {
            "added": [{"column": c, "type": after[c]} for c in after if c not in before],
            "removed": [{"column": c, "type": before[c]} for c in before if c not in after],
            "retyped": [{"column": c, "old": before[c], "new": after[c]} for c in before if c in after and before[c] != after[c]],
        }
        if any(change.values()):
            columns[table] = change
    labels: dict[str, dict[str, list[str]]] = {}
    old_labels, new_labels = old.get("labels", {}), new.get("labels", {})
    for kind in LABEL_KINDS:
        before, after = list(old_labels.get(kind, ())), list(new_labels.get(kind, ()))
        change: dict[str, Any] = {"added": [x for x in after if x not in before], "removed": [x for x in before if x not in after]}
        # a ClassLabel id is a position in the list: kept labels whose position moved break old readers
        if not change["removed"] and after[: len(before)] != before:
            change["renumbered"] = [x for i, x in enumerate(before) if after.index(x) != i]
        if any(change.values()):
            labels[kind] = change
    old_relations, new_relations = old_labels.get("relation_types", {}), new_labels.get("relation_types", {})
    constraints = sorted(
        name
        for name in set(old_relations) & set(new_relations)
        if isinstance(old_relations, Mapping) and _constraint(old_relations[name]) != _constraint(new_relations[name])
    )
    return {
        "tables": {"added": sorted(new_tables.keys() - old_tables.keys()), "removed": sorted(old_tables.keys() - new_tables.keys())},
        "columns": columns,
        "labels": labels,
        "relation_constraints_changed": constraints,
    }


def _constraint(spec: Any) -> Any:
    if not isinstance(spec, Mapping):
        return spec
    return {k: spec.get(k) for k in ("head", "tail", "symmetric")}


def required_bump(diff: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The smallest bump that states ``diff`` (:data:`MAJOR`, :data:`MINOR` or :data:`PATCH`) and
    the reasons for it, one line each."""
    major: list[str] = []
    minor: list[str] = []
    schema = diff["schema"]
    if schema["tables"]["removed"]:
        major.append(f"tables removed: {', '.join(schema['tables']['removed'])}")
    if schema["tables"]["added"]:
        minor.append(f"tables added: {', '.join(schema['tables']['added'])}")
    for table, change in schema["columns"].items():
        if change["removed"]:
            major.append(f"{table}: columns removed: {', '.join(c['column'] for c in change['removed'])}")
        if change["retyped"]:
            retyped = ", ".join(f"{c['column']} {c['old']} → {c['new']}" for c in change["retyped"])
            major.append(f"{table}: columns retyped: {retyped}")
        if change["added"]:
            minor.append(f"{table}: columns added: {', '.join(c['column'] for c in change['added'])}")
    for kind, change in schema["labels"].items():
        if change["removed"]:
            major.append(f"{kind} removed: {', '.join(change['removed'])}")
        if change.get("renumbered"):
            major.append(f"{kind} renumbered (their ClassLabel ids change): {', '.join(change['renumbered'])}")
        if change["added"]:
            minor.append(f"{kind} added: {', '.join(change['added'])}")
    if schema["relation_constraints_changed"]:
        minor.append(f"relation head/tail constraints changed: {', '.join(schema['relation_constraints_changed'])}")
    for table in ("documents", "entities", "relations"):
        for kind, listed in diff[table].items():
            count = listed["count"] if isinstance(listed, Mapping) else listed
            if count:
                minor.append(f"{table} {kind.replace('_', ' ')}: {count}")
    for table, shards in diff["tables_changed"].items():
        minor.append(f"{table}: rows changed in {shards} shard(s)")
    if major:
        return MAJOR, major + minor
    if minor:
        return MINOR, minor
    return PATCH, ["no table, column, label, document or annotation changed: card or metadata text only"]


def render_markdown(diff: Mapping[str, Any]) -> str:
    """The diff as a Markdown summary (what ``pipeline diff`` prints and the changelog holds)."""
    lines = [f"Changes from `{diff['old']}` to `{diff['new']}` — at least a **{diff['bump']}** version bump:", ""]
    lines += [f"- {reason}" for reason in diff["reasons"]]
    schema = diff["schema"]
    schema_lines = []
    for table, change in schema["columns"].items():
        schema_lines += [f"- `{table}`: column `{c['column']}` ({c['type']}) added" for c in change["added"]]
        schema_lines += [f"- `{table}`: column `{c['column']}` ({c['type']}) removed" for c in change["removed"]]
        schema_lines += [f"- `{table}`: column `{c['column']}` retyped {c['old']} → {c['new']}" for c in change["retyped"]]
    for kind, change in schema["labels"].items():
        schema_lines += [f"- {kind}: `{x}` added" for x in change["added"]]
        schema_lines += [f"- {kind}: `{x}` removed" for x in change["removed"]]
        schema_lines += [f"- {kind}: `{x}` renumbered (its ClassLabel id changes)" for x in change.get("renumbered", ())]
    schema_lines += [f"- table `{t}` added" for t in schema["tables"]["added"]]
    schema_lines += [f"- table `{t}` removed" for t in schema["tables"]["removed"]]
    if schema_lines:
        lines += ["", "### Schema", "", *schema_lines]
    docs = diff["documents"]
    lines += ["", "### Documents", ""]
    lines.append("- added: " + _ids(docs["added"]))
    lines.append("- removed: " + _ids(docs["removed"]))
    lines.append("- text changed: " + _ids(docs["text_changed"]))
    lines.append("- metadata changed: " + _ids(docs["metadata_changed"], lambda i: "{} ({})".format(i["doc_id"], ", ".join(i["columns"]))))
    lines.append("- split changed (should be none): " + _ids(docs["split_changed"], lambda i: "{doc_id} {old} → {new}".format(**i)))
    for table, key in (("entities", "ent_id"), ("relations", "rel_id")):
        part = diff[table]
        moved = "moved" if table == "entities" else "arguments_changed"

        def named(item: Mapping[str, Any], rest: str, key: str = key) -> str:
            return f"{item['doc_id']}/{item[key]} {rest}"

        lines += ["", f"### {table.capitalize()}", ""]
        lines.append("- added: " + _ids(part["added"], lambda i, n=named: n(i, i["label"])))
        lines.append("- removed: " + _ids(part["removed"], lambda i, n=named: n(i, i["label"])))
        lines.append("- relabelled: " + _ids(part["relabelled"], lambda i, n=named: n(i, f"{i['old']} → {i['new']}")))
        lines.append(f"- {moved.replace('_', ' ')}: " + _ids(part[moved], lambda i, n=named: n(i, f"{i['old']} → {i['new']}")))
        lines.append("- other columns changed: " + _ids(part["changed"], lambda i, n=named: n(i, "(" + ", ".join(i["columns"]) + ")")))
        lines.append(f"- in added documents: {part['in_added_documents']}; in removed documents: {part['in_removed_documents']}")
    lines += ["", "### Counts (before → after)", "", "| what | value | before | after |", "|---|---|---|---|"]
    for name, values in diff["counts"].items():
        lines += [f"| {name.replace('_', ' ')} | {value} | {b} | {a} |" for value, (b, a) in values.items() if b != a]
    lines += [f"| rows | {table} | {b} | {a} |" for table, (b, a) in diff["rows"].items() if b != a]
    if lines[-1] == "|---|---|---|---|":
        lines[-3:] = ["(no count changed)"]
    if diff["tables_changed"]:
        lines += ["", "Other tables whose rows changed (shards): " + ", ".join(f"{t} ({n})" for t, n in diff["tables_changed"].items())]
    return "\n".join(lines) + "\n"


def _ids(listed: Mapping[str, Any], show: Any = str) -> str:
    if not listed["count"]:
        return "none"
    shown = ", ".join(f"`{show(item)}`" for item in listed["items"][:20])
    more = listed["count"] - min(20, len(listed["items"]))
    return f"{listed['count']} — {shown}" + (f" and {more} more (diff.json)" if more > 0 else "")
