"""The training views' feature spec: every description derived from it agrees with the others and
with what is published (Arrow schema, ``datasets`` metadata, dataset card)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.core import features
from pipeline.io import tables
from pipeline.io.schemas import load_label_schema

REPO = Path(__file__).resolve().parents[2]
SCHEMA = load_label_schema(REPO / "schemas" / "labels.yaml")


def bio_labels(published: Path) -> list[str]:
    return json.loads((published / "manifest.json").read_text(encoding="utf-8"))["label_schema"]["bio_labels"]


def card_header(published: Path) -> dict:
    card = (published / "README.md").read_text(encoding="utf-8")
    return yaml.safe_load(card[4 : card.index("\n---", 4)])


# --------------------------------------------------------------------------- the spec alone


def test_arrow_schema_of_a_view_is_its_columns_in_order():
    schema = features.arrow_schema(features.NER)
    assert schema.names == [column.name for column in features.NER.columns]
    assert schema.field("ner_tags").type == pa.list_(pa.int64())
    assert schema.field("sent_idx").type == pa.int32()
    assert all(field.nullable for field in schema)


def test_the_table_schemas_of_the_views_are_the_derived_ones():
    assert tables.SCHEMAS["ner"] is tables.NER and tables.NER.equals(features.arrow_schema(features.NER), check_metadata=True)
    assert tables.SCHEMAS["re"] is tables.RE and tables.RE.equals(features.arrow_schema(features.RE), check_metadata=True)
    assert tuple(features.VIEWS) == tables.SPLIT_TABLES


def test_a_struct_column_becomes_an_arrow_struct():
    head = features.arrow_schema(features.RE).field("head").type
    assert head == pa.struct(
        [("id", pa.string()), ("start", pa.int64()), ("end", pa.int64()), ("text", pa.string()), ("label", pa.string())]
    )


def test_class_names_are_the_ones_handed_in():
    names = ["O", "B-X", "I-X"]
    assert features.hf_features(features.NER, names)["ner_tags"]["feature"] == {"names": names, "_type": "ClassLabel"}
    ner_tags = next(f for f in features.card_features(features.NER, names) if f["name"] == "ner_tags")
    assert ner_tags == {"name": "ner_tags", "sequence": {"class_label": {"names": {"0": "O", "1": "B-X", "2": "I-X"}}}}


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="column 'x': kind 'list' is not one of"):
        features.Column("x", "list", "string")


def test_a_struct_without_fields_is_refused():
    with pytest.raises(ValueError, match="column 'x': a struct has fields and no dtype"):
        features.Column("x", features.STRUCT)


def test_only_views_that_declare_features_get_huggingface_metadata():
    assert set(tables.huggingface_metadata("ner", SCHEMA.bio_labels)) == {tables.HF_METADATA_KEY}
    assert tables.huggingface_metadata("re", SCHEMA.bio_labels) == {}
    assert tables.huggingface_metadata("entities", SCHEMA.bio_labels) == {}


@pytest.mark.parametrize("name", sorted(features.VIEWS))
def test_datasets_reads_the_hf_features_as_the_arrow_schema(name: str):
    import datasets

    view = features.VIEWS[name]
    read = datasets.Features.from_dict(features.hf_features(view, SCHEMA.bio_labels))
    assert read.arrow_schema.equals(features.arrow_schema(view))


@pytest.mark.parametrize("name", sorted(features.VIEWS))
def test_the_card_features_describe_the_same_features(name: str):
    import datasets

    view = features.VIEWS[name]
    # how datasets reads a card's dataset_info.features (DatasetInfo._from_yaml_dict uses it)
    from_card = datasets.Features._from_yaml_list(features.card_features(view, SCHEMA.bio_labels))
    assert from_card == datasets.Features.from_dict(features.hf_features(view, SCHEMA.bio_labels))


# --------------------------------------------------------------------------- what is published


@pytest.mark.e2e
@pytest.mark.parametrize("name", sorted(features.VIEWS))
def test_published_files_have_the_derived_arrow_schema(published: Path, name: str, tmp_path: Path):
    derived = features.arrow_schema(features.VIEWS[name])
    # Parquet names a list's child ``element`` (Arrow: ``item``): compare with the derived schema as written.
    tables.write_parquet(derived.empty_table(), tmp_path / "derived.parquet")
    written = pq.read_schema(tmp_path / "derived.parquet")
    paths = sorted((published / name).glob("*.parquet"))
    assert paths
    for path in paths:
        stored = pq.read_schema(path).remove_metadata()
        assert stored.equals(derived) and stored.equals(written, check_metadata=True), path


@pytest.mark.e2e
@pytest.mark.parametrize("name", sorted(features.VIEWS))
def test_published_files_carry_the_derived_huggingface_metadata(published: Path, name: str):
    expected = tables.huggingface_metadata(name, bio_labels(published))
    for path in sorted((published / name).glob("*.parquet")):
        metadata = pq.read_schema(path).metadata
        assert {key: metadata[key] for key in metadata if key == tables.HF_METADATA_KEY} == expected, path


@pytest.mark.e2e
def test_datasets_reads_the_published_ner_view_with_class_labels(published: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    import datasets

    names = bio_labels(published)
    data_files = {path.name.split("-")[0]: str(path) for path in sorted((published / "ner").glob("*.parquet"))}
    loaded = datasets.load_dataset("parquet", data_files=data_files, cache_dir=str(tmp_path / "cache"))
    for split in loaded.values():
        assert split.features["ner_tags"] == datasets.Sequence(datasets.ClassLabel(names=names))
        assert split.features == datasets.Features.from_dict(features.hf_features(features.NER, names))


@pytest.mark.e2e
def test_the_card_lists_the_features_of_the_views_that_declare_them(published: Path):
    infos = {info["config_name"]: info for info in card_header(published)["dataset_info"]}
    names = bio_labels(published)
    for name, view in features.VIEWS.items():
        if view.declares_features:
            assert infos[name]["features"] == features.card_features(view, names)
        else:
            assert "features" not in infos[name]
