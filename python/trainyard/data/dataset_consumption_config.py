"""How a dataset enters a run (``azureml.data.dataset_consumption_config``).

Put one in ScriptRunConfig ``arguments`` (or Estimator ``script_params``/``inputs``); the agent
resolves it on the compute, before the script starts, to a real path (``mount``: read-only,
``download``: a writable copy) or, in ``direct`` mode, hands the dataset itself to
``Run.get_context().input_datasets[name]``.
"""

from trainyard.exceptions import UserErrorException

_MODES = ("direct", "mount", "download")


class DatasetConsumptionConfig:
    def __init__(self, name, dataset, mode="direct", path_on_compute=None):
        if mode not in _MODES:
            raise UserErrorException("mode must be one of {}, got {!r}".format(_MODES, mode))
        self.name = name
        self.dataset = dataset
        self.mode = mode
        self.path_on_compute = path_on_compute

    def as_mount(self, path_on_compute=None):
        from trainyard.data.file_dataset import FileDataset
        if not isinstance(self.dataset, FileDataset):
            raise UserErrorException("only a FileDataset can be mounted; a TabularDataset is "
                                     "consumed directly (input_datasets[name])")
        return DatasetConsumptionConfig(self.name, self.dataset, "mount", path_on_compute)

    def as_download(self, path_on_compute=None):
        from trainyard.data.file_dataset import FileDataset
        if not isinstance(self.dataset, FileDataset):
            raise UserErrorException("only a FileDataset can be downloaded; a TabularDataset is "
                                     "consumed directly (input_datasets[name])")
        return DatasetConsumptionConfig(self.name, self.dataset, "download", path_on_compute)

    def _to_argument(self):
        """The JSON form sent in a run config (docs/REST.md "Dataset inputs")."""
        return {"dataset_input": {"name": self.name, "mode": self.mode,
                                  "path_on_compute": self.path_on_compute,
                                  "dataset": self.dataset._reference()}}

    def __str__(self):
        return "DatasetConsumptionConfig:{}".format(self.name)

    def __repr__(self):
        return "DatasetConsumptionConfig(name={!r}, mode={!r}, path_on_compute={!r})".format(
            self.name, self.mode, self.path_on_compute)
