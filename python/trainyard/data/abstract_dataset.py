"""The base of FileDataset and TabularDataset (``azureml.data.abstract_dataset``).

A dataset is a definition held by the server's rules (docs/REST.md "Datasets"): which files
(with checksums once validated) and, for tabular data, how to parse them. Registering stores an
immutable version under a name; ``Dataset.get_by_name`` brings it back.
"""

import hashlib
import json

from trainyard._http import quote_path
from trainyard.exceptions import UserErrorException


def _dataset_from_dto(workspace, dto):
    definition = dto["definition"]
    if definition.get("type") == "tabular":
        from trainyard.data.tabular_dataset import TabularDataset
        cls = TabularDataset
    else:
        from trainyard.data.file_dataset import FileDataset
        cls = FileDataset
    return cls(definition, workspace, registration=dto)


class AbstractDataset:
    def __init__(self, definition, workspace=None, registration=None):
        self._definition = definition
        self._workspace = workspace
        self._registration = registration

    # -- identity ------------------------------------------------------------------------

    @property
    def name(self):
        return self._registration["name"] if self._registration else None

    @property
    def version(self):
        return self._registration["version"] if self._registration else None

    @property
    def id(self):
        return self._registration["id"] if self._registration else None

    @property
    def description(self):
        return self._registration.get("description") if self._registration else None

    @property
    def tags(self):
        return dict(self._registration.get("tags") or {}) if self._registration else {}

    @property
    def workspace(self):
        return self._workspace

    @property
    def data_changed_time(self):
        return self._registration.get("created_utc") if self._registration else None

    def _require_workspace(self, what):
        if self._workspace is None:
            raise UserErrorException("{} needs a workspace: create the dataset with a workspace "
                                     "(Dataset.get_by_name(ws, ...)) or register it".format(what))
        return self._workspace

    def _derived(self, definition):
        """A new, unregistered dataset with another definition (transforms)."""
        return type(self)(definition, self._workspace, None)

    def _definition_hash(self):
        return hashlib.sha256(json.dumps(self._definition, sort_keys=True).encode()).hexdigest()

    # -- registration --------------------------------------------------------------------

    def register(self, workspace, name, description=None, tags=None, create_new_version=False):
        """Registers this dataset as ``name`` in ``workspace`` and returns the registered
        version. The same name with a different definition needs ``create_new_version=True``."""
        dto = workspace._client.post("/api/v1/datasets", {
            "name": name, "description": description, "tags": tags or {},
            "create_new_version": bool(create_new_version), "definition": self._definition})
        return _dataset_from_dto(workspace, dto)

    @staticmethod
    def get_by_name(workspace, name, version="latest"):
        """The registered dataset ``name`` (``version``: 'latest' or a number)."""
        params = {"version": None if version in (None, "latest") else str(int(version))}
        dto = workspace._client.get("/api/v1/datasets/{}".format(quote_path(name)),
                                    params=params)
        return _dataset_from_dto(workspace, dto)

    @staticmethod
    def get_by_id(workspace, id, **kwargs):
        dto = workspace._client.get("/api/v1/datasets", params={"id": id})
        return _dataset_from_dto(workspace, dto)

    @staticmethod
    def get_all(workspace):
        """Registered datasets (latest versions) by name."""
        answer = workspace._client.get("/api/v1/datasets")
        return {d["name"]: _dataset_from_dto(workspace, d) for d in answer.get("datasets", [])}

    def _get_versions(self):
        ws = self._require_workspace("listing versions")
        answer = ws._client.get("/api/v1/datasets/{}/versions".format(quote_path(self.name)))
        return [_dataset_from_dto(ws, d) for d in answer.get("datasets", [])]

    def _consumers(self):
        """Runs that consumed this registered version: [{run_id, input_name, mode}]."""
        ws = self._require_workspace("lineage")
        dto = ws._client.get("/api/v1/datasets/{}/versions/{}".format(
            quote_path(self.name), self.version))
        return dto.get("runs", [])

    # -- consumption ---------------------------------------------------------------------

    def _reference(self):
        if self.id:
            return {"id": self.id, "name": self.name, "version": self.version}
        return {"definition": self._definition}

    def _default_input_name(self):
        if self.name:
            cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.name)
            return cleaned if cleaned[:1].isalnum() else "input_" + cleaned
        return "input_" + self._definition_hash()[:8]

    def as_named_input(self, name):
        """A consumption config that names this dataset in the run
        (``Run.get_context().input_datasets[name]``)."""
        from trainyard.data.dataset_consumption_config import DatasetConsumptionConfig
        return DatasetConsumptionConfig(name, self)

    def __repr__(self):
        info = {"source": self._definition.get("sources"),
                "definition": "{} file(s)".format(len(self._definition.get("files", [])))}
        if self._registration:
            info["registration"] = {"id": self.id, "name": self.name, "version": self.version,
                                    "description": self.description, "tags": self.tags}
        return "{}\n{}".format(type(self).__name__, json.dumps(info, indent=2))
