"""Datastores (``azureml.core.datastore``): named places that hold a workspace's data files.

- ``workspaceblobstore`` — the default datastore of every workspace (``ws.get_default_datastore()``):
  a directory in the workspace store whose files are content-addressed blobs (a file uploaded
  twice is stored once).
- Local directories registered with :meth:`Datastore.register_local_directory` — a folder on the
  server's machine, read and written in place.

Files are uploaded by the server from paths on this machine (the SDK runs beside the server,
as for run snapshots), so large uploads are hashed and stored by the C++ side.
"""

import os

from trainyard._http import quote_path
from trainyard.exceptions import UserErrorException

DEFAULT_DATASTORE = "workspaceblobstore"


class Datastore:
    """A datastore of a workspace: ``Datastore(ws, name)`` / ``Datastore.get(ws, name)``."""

    def __init__(self, workspace, name=None, _dto=None):
        self.workspace = workspace
        if _dto is None:
            name = name or DEFAULT_DATASTORE
            _dto = workspace._client.get("/api/v1/datastores/{}".format(quote_path(name)))
        self._dto = _dto

    # -- lookups -------------------------------------------------------------------------

    @staticmethod
    def get(workspace, datastore_name):
        return Datastore(workspace, datastore_name)

    @staticmethod
    def get_default(workspace):
        return Datastore(workspace, DEFAULT_DATASTORE)

    @staticmethod
    def list(workspace):
        """All datastores of the workspace (the default one first)."""
        answer = workspace._client.get("/api/v1/datastores")
        return [Datastore(workspace, _dto=d) for d in answer.get("datastores", [])]

    @staticmethod
    def register_local_directory(workspace, datastore_name, directory, overwrite=False):
        """Registers an existing folder on the server's machine as a datastore named
        ``datastore_name`` (Trainyard's counterpart of Azure's ``register_azure_blob_container``).
        ``overwrite=True`` re-points an existing name."""
        if not isinstance(directory, (str, os.PathLike)):
            raise UserErrorException("directory must be a path, got {!r}".format(directory))
        path = os.path.abspath(os.path.expanduser(os.fspath(directory)))
        dto = workspace._client.post("/api/v1/datastores", {
            "name": datastore_name, "type": "local_directory", "path": path,
            "overwrite": bool(overwrite)})
        return Datastore(workspace, _dto=dto)

    # -- properties ----------------------------------------------------------------------

    @property
    def name(self):
        return self._dto["name"]

    @property
    def datastore_type(self):
        return self._dto.get("datastore_type")

    @property
    def is_default(self):
        return bool(self._dto.get("is_default"))

    @property
    def path_on_server(self):
        """The directory behind a local-directory datastore (workspace folder for the default)."""
        return self._dto.get("path")

    # -- files -----------------------------------------------------------------------------

    def path(self, path=None, data_reference_name=None):
        """A reference to ``path`` in this datastore (usable in Dataset.File.from_files)."""
        from trainyard.data.datapath import DataPath
        return DataPath(self, path or "")

    def upload(self, src_dir, target_path=None, overwrite=False, show_progress=True):
        """Uploads every file under ``src_dir`` to ``target_path`` (default: the datastore's
        root) keeping the folder structure. Existing files are skipped unless ``overwrite``.
        Returns a DataPath to ``target_path``."""
        src_dir = os.path.abspath(os.path.expanduser(os.fspath(src_dir)))
        if not os.path.isdir(src_dir):
            raise UserErrorException("upload: src_dir {} is not a folder".format(src_dir))
        files = []
        for root, dirs, names in os.walk(src_dir):
            dirs.sort()
            for n in sorted(names):
                full = os.path.join(root, n)
                if os.path.isfile(full):
                    files.append(full)
        return self._upload(files, src_dir, target_path, overwrite, show_progress)

    def upload_files(self, files, relative_root=None, target_path=None, overwrite=False,
                     show_progress=True):
        """Uploads the given files. Their paths in the datastore are relative to
        ``relative_root`` (default: their common folder), under ``target_path``."""
        if isinstance(files, (str, os.PathLike)):
            files = [files]
        paths = [os.path.abspath(os.path.expanduser(os.fspath(f))) for f in files]
        if not paths:
            raise UserErrorException("upload_files: no files given")
        for p in paths:
            if not os.path.isfile(p):
                raise UserErrorException("upload_files: {} is not a file".format(p))
        if relative_root is None:
            relative_root = os.path.commonpath([os.path.dirname(p) for p in paths])
        relative_root = os.path.abspath(os.path.expanduser(os.fspath(relative_root)))
        for p in paths:
            if os.path.commonpath([p, relative_root]) != relative_root:
                raise UserErrorException("upload_files: {} is not under relative_root {}".format(
                    p, relative_root))
        return self._upload(paths, relative_root, target_path, overwrite, show_progress)

    def _upload(self, paths, root, target_path, overwrite, show_progress):
        target = (target_path or "").strip("/")
        entries = []
        for p in paths:
            rel = os.path.relpath(p, root).replace(os.sep, "/")
            entries.append({"src": p, "path": "{}/{}".format(target, rel) if target else rel})
        if show_progress:
            print("Uploading {} files to datastore '{}'{}".format(
                len(entries), self.name, " under " + target if target else ""))
        client = self.workspace._client
        if getattr(client, "is_run_token", False):
            answer = self._upload_as_blobs(client, entries, overwrite)
        else:
            answer = client.post(
                "/api/v1/datastores/{}/upload".format(quote_path(self.name)),
                {"files": entries, "overwrite": bool(overwrite)}, timeout=3600)
        if show_progress:
            print("Uploaded {} files ({} added, {} replaced, {} skipped as already present)".format(
                answer.get("added", 0) + answer.get("replaced", 0), answer.get("added", 0),
                answer.get("replaced", 0), answer.get("skipped", 0)))
        return self.path(target)

    def _upload_as_blobs(self, client, entries, overwrite):
        """Inside a run (run token, maybe on another machine): the files' contents are sent as
        blobs, then added to the datastore by hash."""
        from .model import _sha256_and_size
        files, local_by_sha = [], {}
        for e in entries:
            sha, size = _sha256_and_size(e["src"])
            files.append({"path": e["path"], "sha256": sha, "size": size})
            local_by_sha[sha] = e["src"]
        missing = client.post("/api/v1/blobs/missing", {"sha256": sorted(local_by_sha)})
        for sha in missing.get("missing", []):
            client.put_file("/api/v1/blobs/{}".format(sha), local_by_sha[sha])
        return client.post("/api/v1/datastores/{}/files".format(quote_path(self.name)),
                           {"files": files, "overwrite": bool(overwrite)}, timeout=3600)

    def _list_files(self, prefix=None):
        answer = self.workspace._client.get(
            "/api/v1/datastores/{}/files".format(quote_path(self.name)),
            params={"prefix": prefix})
        return answer.get("files", [])

    def __eq__(self, other):
        return isinstance(other, Datastore) and other.name == self.name and \
            other.workspace == self.workspace

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return "Datastore(name={!r}, type={!r})".format(self.name, self.datastore_type)
