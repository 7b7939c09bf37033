"""``Dataset.File`` and ``Dataset.Tabular`` (``azureml.data.dataset_factory``)."""

import os

from trainyard.exceptions import UserErrorException


def _source(path):
    """One source as sent to the server: a URL, an absolute local path (glob allowed), or
    {"datastore", "path"} for a (datastore, 'path/**') tuple or a DataPath."""
    from trainyard.data.datapath import DataPath
    if isinstance(path, DataPath):
        return path._to_source()
    if isinstance(path, tuple):
        if len(path) != 2:
            raise UserErrorException("a datastore source is a (datastore, 'path') tuple")
        store, sub = path
        name = getattr(store, "name", store)
        return {"datastore": name, "path": sub or ""}
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str) or not path:
        raise UserErrorException("a dataset path must be a string, a (datastore, path) tuple or "
                                 "a DataPath, got {!r}".format(path))
    if "://" in path:
        return path
    expanded = os.path.abspath(os.path.expanduser(path))
    if path.endswith("/") and not expanded.endswith("/"):
        expanded += "/"
    return expanded


def _sources(path):
    if isinstance(path, (list,)):
        return [_source(p) for p in path]
    return [_source(path)]


def _workspace_for(path, workspace):
    if workspace is not None:
        return workspace
    items = path if isinstance(path, list) else [path]
    for p in items:
        store = p[0] if isinstance(p, tuple) else getattr(p, "datastore", None)
        ws = getattr(store, "workspace", None)
        if ws is not None:
            return ws
    from trainyard.core.workspace import Workspace  # the run's, inside a run
    return Workspace.from_config()


class FileDatasetFactory:
    @staticmethod
    def from_files(path, validate=True, partition_format=None, is_file=False, workspace=None):
        """A FileDataset of ``path``: a local file/folder/glob (``**`` allowed), an http(s)
        URL, a ``(datastore, 'path/**')`` tuple, or a list of those. With ``validate`` the
        files are checked now (URLs downloaded once into the workspace cache, checksums
        recorded)."""
        from trainyard.data.file_dataset import FileDataset
        ws = _workspace_for(path, workspace)
        definition = ws._client.post("/api/v1/dataset-definitions", {
            "type": "file", "paths": _sources(path), "validate": bool(validate)},
            timeout=3600)
        return FileDataset(definition, ws)


class TabularDatasetFactory:
    @staticmethod
    def from_delimited_files(path, validate=True, include_path=False, infer_column_types=True,
                             set_column_types=None, separator=",", header=True,
                             partition_format=None, support_multi_line=False,
                             empty_as_string=False, encoding="utf8", workspace=None):
        """A TabularDataset of delimited (CSV) files; column types are inferred by the server
        (int, float, bool, datetime, string) unless ``infer_column_types=False``."""
        from trainyard.data.tabular_dataset import TabularDataset
        if not isinstance(header, bool):
            # Azure's PromoteHeadersBehavior values: anything but "no headers" means a header.
            header = getattr(header, "value", header) not in (0, "NO_HEADERS", False)
        ws = _workspace_for(path, workspace)
        definition = ws._client.post("/api/v1/dataset-definitions", {
            "type": "tabular", "paths": _sources(path), "validate": bool(validate),
            "options": {"separator": separator, "header": bool(header),
                        "infer_column_types": bool(infer_column_types),
                        "include_path": bool(include_path)}}, timeout=3600)
        return TabularDataset(definition, ws)

    @staticmethod
    def from_delimited_files_with_workspace(workspace, path, **kwargs):
        return TabularDatasetFactory.from_delimited_files(path, workspace=workspace, **kwargs)
