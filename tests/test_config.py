"""The typed config: params.yaml checked once, defaults in the dataclasses, stages see what they declare."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline import config as config_module
from pipeline.config import READS, Config, FrozenDict, PublishConfig, RuntimeConfig, StageConfig, load_config, parse_config

REPO = Path(__file__).resolve().parent.parent
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
IDENTITY = {"dataset_name": "d", "pretty_name": "D", "version": "1.0.0"}


def params_with(dotted: str, value: Any) -> dict[str, Any]:
    """The repository's params with the value at ``dotted`` replaced (or deleted, for ``...``)."""
    data = copy.deepcopy(PARAMS)
    *parents, last = dotted.split(".")
    target = data
    for name in parents:
        target = target[name]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return data


def write_params(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_repository_params_load_typed():
    config = load_config(REPO / "params.yaml")
    assert config.schemas.labels == Path("schemas/labels.yaml")
    assert config.runtime.workers == "auto" and config.runtime.shards == 64
    assert config.annotate.layer_priority[0] == "gold" and isinstance(config.annotate.layer_priority, tuple)
    assert list(config.annotate.splits) == ["train", "dev", "test"]
    assert config.validate.chunk_rows == 1_000_000
    germeval = config.preannotate.external["germeval2014_dev"]
    assert germeval.file == "germeval2014-dev.tsv" and germeval.mapping == Path("schemas/mappings/germeval2014.yaml")
    assert config.publish.version == "0.1.0"


def test_every_default_is_the_dataclass_default():
    config = parse_config({"publish": IDENTITY})
    assert config == Config(publish=PublishConfig(**IDENTITY))
    for section in dataclasses.fields(Config):
        for setting in dataclasses.fields(getattr(config, section.name)):
            if setting.name in IDENTITY:
                continue
            default = setting.default if setting.default is not dataclasses.MISSING else setting.default_factory()
            assert getattr(getattr(config, section.name), setting.name) == default, f"{section.name}.{setting.name}"


def test_params_yaml_names_every_key():
    config = parse_config(PARAMS)
    for section in dataclasses.fields(config):
        keys = {f.name for f in dataclasses.fields(getattr(config, section.name))}
        assert set(PARAMS[section.name]) == keys, f"params.yaml section {section.name!r} should show every key"


BAD_VALUES = [
    ("schemas.labels", ""),
    ("schemas.document", 3),
    ("runtime.shards", 0),
    ("runtime.shards", "64"),
    ("runtime.shards", True),
    ("runtime.workers", 0),
    ("runtime.workers", "many"),
    ("runtime.workers", None),
    ("runtime.cache_dir", None),
    ("ingest.seeds_dir", "  "),
    ("ingest.language", "German"),
    ("annotate.layer_priority", []),
    ("annotate.layer_priority", "gold"),
    ("annotate.splits", {"train": 0.8, "test": 0.1}),
    ("annotate.splits", {}),
    ("annotate.splits", [0.8, 0.2]),
    ("annotate.splits.train", -0.1),
    ("annotate.splits.dev", "0.1"),
    ("annotate.splits.test", float("nan")),
    ("validate.whitespace_spans", "ignore"),
    ("validate.chunk_rows", 0),
    ("validate.report", None),
    ("preannotate.gold_layer", ""),
    ("preannotate.documents", "some"),
    ("preannotate.external", ["germeval2014_dev"]),
    ("preannotate.external.germeval2014_dev.file", ""),
    ("preannotate.external.germeval2014_dev.mapping", 3),
    ("publish.dataset_name", "my dataset"),
    ("publish.version", "1.0"),
    ("publish.version", 1.0),
    ("publish.version", "v1.0.0"),
    ("publish.description", None),
    ("publish.pretty_name", ""),
]


@pytest.mark.parametrize("dotted, value", BAD_VALUES, ids=[f"{k}={v!r}" for k, v in BAD_VALUES])
def test_a_bad_value_names_its_key_and_value(dotted: str, value: Any):
    with pytest.raises(ValueError, match=re.escape(f"params.yaml: {dotted}: expected ")) as caught:
        parse_config(params_with(dotted, value))
    assert str(caught.value).endswith(f", got {value!r}")


def test_a_bad_list_item_is_named_by_its_index():
    with pytest.raises(
        ValueError, match=re.escape("params.yaml: annotate.layer_priority[1]: expected a non-empty fnmatch pattern, got ''")
    ):
        parse_config(params_with("annotate.layer_priority", ["gold", ""]))


def test_ratios_that_do_not_sum_to_one_say_their_sum():
    with pytest.raises(ValueError, match=re.escape("annotate.splits: expected ratios summing to 1 (they sum to 0.9")):
        parse_config(params_with("annotate.splits", {"train": 0.8, "test": 0.1}))


def test_a_version_yaml_reads_as_a_number_says_to_quote_it(tmp_path: Path):
    text = (REPO / "params.yaml").read_text(encoding="utf-8").replace("version: 0.1.0", "version: 0.1")
    with pytest.raises(ValueError, match=re.escape("publish.version: expected a semantic version string such as 1.2.3 (quote it")):
        load_config(write_params(tmp_path, text))


@pytest.mark.parametrize(
    "dotted, suggestion",
    [("annotat", "annotate"), ("annotate.layer_priorty", "layer_priority"), ("preannotate.external.germeval2014_dev.mappng", "mapping")],
)
def test_an_unknown_key_is_rejected_with_its_dotted_name(dotted: str, suggestion: str):
    with pytest.raises(ValueError, match=re.escape(f"params.yaml: {dotted}: unknown ") + f".*did you mean '{suggestion}'"):
        parse_config(params_with(dotted, "x"))


@pytest.mark.parametrize("dotted", ["publish.version", "publish", "preannotate.external.germeval2014_dev.file"])
def test_a_missing_required_key_is_named(dotted: str):
    with pytest.raises(ValueError, match=re.escape(f"params.yaml: {dotted}: missing")):
        parse_config(params_with(dotted, ...))


def test_a_key_written_twice_is_an_error(tmp_path: Path):
    path = write_params(tmp_path, "publish: {dataset_name: d, pretty_name: D, version: 1.0.0}\nruntime:\n  shards: 8\n  shards: 16\n")
    with pytest.raises(ValueError, match=r"found the key 'shards' twice[\s\S]*line 4"):
        load_config(path)


def test_a_file_that_is_not_a_mapping_is_an_error(tmp_path: Path):
    with pytest.raises(ValueError, match=re.escape("params.yaml: params: expected a mapping, got ['a']")):
        load_config(write_params(tmp_path, "- a\n"))


def test_values_built_in_code_are_checked_too():
    with pytest.raises(ValueError, match=re.escape("runtime.shards: expected an integer >= 1, got 0")):
        RuntimeConfig(shards=0)


@pytest.mark.parametrize("cores, expected", [(32, 8), (3, 3), (1, 1), (None, 1)])
def test_auto_workers_are_the_cores_capped_at_eight(monkeypatch: pytest.MonkeyPatch, cores: int | None, expected: int):
    monkeypatch.setattr(config_module.os, "cpu_count", lambda: cores)
    assert RuntimeConfig(workers="auto").worker_count() == expected


def test_a_configured_worker_count_is_taken_as_it_is(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(config_module.os, "cpu_count", lambda: 2)
    assert RuntimeConfig(workers=12).worker_count() == 12


def test_the_config_cannot_change():
    config = parse_config(PARAMS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.runtime.shards = 1  # type: ignore[misc]
    with pytest.raises(TypeError, match="cannot change"):
        config.annotate.splits["train"] = 1.0  # type: ignore[index]


def test_mappings_serialise_and_pickle_like_plain_dicts():
    config = parse_config(PARAMS)
    assert json.dumps(config.annotate.splits) == json.dumps(PARAMS["annotate"]["splits"])
    assert pickle.loads(pickle.dumps(config)) == config
    assert isinstance(pickle.loads(pickle.dumps(FrozenDict(a=1))), FrozenDict)


def test_a_stage_sees_its_declared_keys():
    view = parse_config(PARAMS).for_stage("annotate")
    assert view.annotate.splits["train"] == 0.8  # its own section, whole
    assert view.validate.whitespace_spans == "error" and view.publish.version == "0.1.0"
    assert view.runtime.worker_count() >= 1  # a method reads through the view
    with pytest.raises(AttributeError, match=re.escape("stage 'annotate' does not declare validate.report: add it to READS")):
        _ = view.validate.report


def test_a_method_needing_an_undeclared_key_fails():
    view = parse_config(PARAMS).for_stage("publish")
    with pytest.raises(AttributeError, match=re.escape("does not declare runtime.workers")):
        view.runtime.worker_count()


def test_a_stage_view_cannot_change_and_pickles():
    view = parse_config(PARAMS).for_stage("validate")
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.validate.chunk_rows = 1  # type: ignore[misc]
    again = pickle.loads(pickle.dumps(view))
    assert again.stage == "validate" and again.annotate.splits == view.annotate.splits


def test_a_stage_view_has_every_section():
    assert [f.name for f in dataclasses.fields(StageConfig)] == ["stage"] + [f.name for f in dataclasses.fields(Config)]


def test_an_unknown_stage_is_an_error():
    with pytest.raises(ValueError, match="unknown stage 'anotate'"):
        parse_config(PARAMS).for_stage("anotate")


def test_reads_names_only_existing_keys():
    config = parse_config(PARAMS)
    for stage, reads in READS.items():
        assert len(set(reads.keys())) == len(reads.keys()), stage
        for key in reads.keys():  # noqa: SIM118 - Reads is a mapping view without __iter__
            section, _, name = key.partition(".")
            assert section in Config.__dataclass_fields__, f"{stage}: {key}"
            assert not name or name in getattr(config, section).__dataclass_fields__, f"{stage}: {key}"


def test_dvc_yaml_params_are_what_each_stage_reads():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    assert set(READS) == set(stages) | {"doccano", "formats", "review", "release"}
    for name, stage in stages.items():
        assert stage.get("params", []) == list(READS[name].params), (
            f"dvc.yaml stage {name!r}: declare exactly these params (pipeline.config.READS):\n"
            + "\n".join(f"      - {k}" for k in READS[name].params)
        )


def test_the_dvc_artifact_is_named_after_the_dataset():
    artifacts = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["artifacts"]
    name = load_config(REPO / "params.yaml").publish.dataset_name
    assert list(artifacts) == [name], f"dvc.yaml artifacts {list(artifacts)} must be exactly publish.dataset_name {name!r}"
    assert artifacts[name]["path"] == str(load_config(REPO / "params.yaml").publish.out_dir)
    assert artifacts[name]["type"] == "dataset"
