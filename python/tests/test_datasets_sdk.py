"""SDK-side pieces of datasets (no server needed): how sources, consumption configs and
transforms are sent (docs/REST.md "Datasets", "Dataset inputs of a run"). The server side is
tested end to end in tests/e2e/test_e2e_datasets.py."""
import os

import pytest

from trainyard.core.script_run_config import ScriptRunConfig, build_script_submission
from trainyard.data.dataset_factory import _source
from trainyard.data.file_dataset import FileDataset
from trainyard.data.tabular_dataset import TabularDataset
from trainyard.exceptions import UserErrorException
from trainyard.train.estimator import Estimator

DEFINITION = {"type": "file", "sources": ["http://h/a.gz"], "validated": True,
              "files": [{"path": "a.gz", "source": {"url": "http://h/a.gz"}}]}


class _Store:
    name = "workspaceblobstore"


def test_sources_are_urls_absolute_paths_or_datastore_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _source("https://x/y.gz") == "https://x/y.gz"
    assert _source("data/**/*.csv") == os.path.join(str(tmp_path), "data/**/*.csv")
    assert _source("folder/").endswith("folder/")
    assert _source((_Store(), "mnist/**")) == {"datastore": "workspaceblobstore",
                                              "path": "mnist/**"}
    with pytest.raises(UserErrorException):
        _source(42)


def test_consumption_configs_in_arguments_and_estimator_inputs(tmp_path):
    (tmp_path / "train.py").write_text("print(1)\n")
    registered = FileDataset(DEFINITION, None, {"id": "guid-1", "name": "mnist-dataset",
                                                "version": 2})
    inline = FileDataset(DEFINITION, None, None)
    src = ScriptRunConfig(str(tmp_path), script="train.py",
                          arguments=["--data", registered.as_mount(), "--other",
                                     inline.as_named_input("raw").as_download("/tmp/x")])
    args = build_script_submission(src)["config"]["arguments"]
    assert args[1] == {"dataset_input": {"name": "mnist-dataset", "mode": "mount",
                                         "path_on_compute": None,
                                         "dataset": {"id": "guid-1", "name": "mnist-dataset",
                                                     "version": 2}}}
    assert args[3]["dataset_input"]["mode"] == "download"
    assert args[3]["dataset_input"]["dataset"] == {"definition": DEFINITION}
    est = Estimator(str(tmp_path), entry_script="train.py",
                    script_params={"--data-folder": registered.as_named_input("d").as_mount()},
                    inputs=[inline.as_named_input("extra")])
    config = build_script_submission(est)["config"]
    assert config["arguments"][1]["dataset_input"]["name"] == "d"
    assert config["inputs"] == [{"dataset_input": {"name": "extra", "mode": "direct",
                                                   "path_on_compute": None,
                                                   "dataset": {"definition": DEFINITION}}}]


def test_tabular_transforms_are_recorded_not_applied():
    tab = TabularDataset(dict(DEFINITION, type="tabular", transforms=[]), None, None)
    derived = tab.drop_columns("a").keep_columns(["b", "c"]).take(5)
    assert derived._definition["transforms"] == [{"drop_columns": ["a"]},
                                                 {"keep_columns": ["b", "c"]}, {"take": 5}]
    assert tab._definition["transforms"] == []  # the original is unchanged (immutable)
    with pytest.raises(UserErrorException):
        tab.as_mount()
    with pytest.raises(UserErrorException):
        tab.as_named_input("t").as_mount()


def test_to_path_lists_dataset_paths():
    assert FileDataset(DEFINITION, None, None).to_path() == ["/a.gz"]
    with pytest.raises(UserErrorException, match="needs a workspace"):
        FileDataset(DEFINITION, None, None).download()
