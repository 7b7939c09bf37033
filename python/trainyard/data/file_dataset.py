"""FileDataset (``azureml.data.file_dataset``): files from local paths, datastores or URLs."""

import os
import shutil
import stat
import tempfile

from trainyard._http import quote_path
from trainyard.data.abstract_dataset import AbstractDataset
from trainyard.exceptions import UserErrorException


def _make_writable(root):
    for folder, dirs, _ in os.walk(root):
        os.chmod(folder, 0o755)
        for d in dirs:
            os.chmod(os.path.join(folder, d), 0o755)


class MountContext:
    """``with dataset.mount() as ctx: ctx.mount_point`` — the files, read-only, at
    ``mount_point`` for the block (removed afterwards when the folder was created here)."""

    def __init__(self, dataset, mount_point=None):
        self._dataset = dataset
        self._requested = mount_point
        self.mount_point = mount_point
        self._created = False

    def start(self):
        if self._requested is None:
            self.mount_point = tempfile.mkdtemp(prefix="trainyard-mount-")
            self._created = True
        else:
            self.mount_point = os.path.abspath(os.path.expanduser(os.fspath(self._requested)))
            if os.path.exists(self.mount_point) and os.listdir(self.mount_point):
                raise UserErrorException("mount point {} is not empty".format(self.mount_point))
            self._created = not os.path.exists(self.mount_point)
            os.makedirs(self.mount_point, exist_ok=True)
        self._dataset.download(self.mount_point, overwrite=True)
        for folder, dirs, files in os.walk(self.mount_point):
            for f in files:
                os.chmod(os.path.join(folder, f), stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        for folder, dirs, _ in os.walk(self.mount_point, topdown=False):
            os.chmod(folder, 0o555)
        return self

    def stop(self):
        if self.mount_point and os.path.isdir(self.mount_point):
            _make_writable(self.mount_point)
            if self._created:
                shutil.rmtree(self.mount_point, ignore_errors=True)
            else:
                for entry in os.listdir(self.mount_point):
                    full = os.path.join(self.mount_point, entry)
                    if os.path.isdir(full) and not os.path.islink(full):
                        shutil.rmtree(full, ignore_errors=True)
                    else:
                        os.unlink(full)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


class FileDataset(AbstractDataset):
    """A set of files. ``to_path()`` lists them; ``download``/``mount`` bring them here;
    ``as_mount``/``as_download`` put them into a run."""

    def to_path(self):
        """The dataset's file paths, as they appear under a mount or download folder
        (``['/train-images-idx3-ubyte.gz', ...]``)."""
        return ["/" + f["path"] for f in self._definition.get("files", [])]

    def download(self, target_path=None, overwrite=False):
        """Downloads the files under ``target_path`` (default: a new temporary folder) and
        returns their local paths. An existing file raises unless ``overwrite``."""
        ws = self._require_workspace("download")
        if target_path is None:
            target_path = tempfile.mkdtemp(prefix="trainyard-dataset-")
        target_path = os.path.abspath(os.path.expanduser(os.fspath(target_path)))
        files = ws._client.post("/api/v1/dataset-files", {"definition": self._definition},
                                idempotent=True, timeout=3600)["files"]
        out = []
        for f in files:
            dest = os.path.join(target_path, *f["path"].split("/"))
            if os.path.exists(dest) and not overwrite:
                raise UserErrorException("{} already exists; pass overwrite=True to replace "
                                         "it".format(dest))
            out.append(dest)
        for f, dest in zip(files, out):
            ws._client.download("/api/v1/blobs/{}".format(quote_path(f["sha256"])), dest)
        return out

    def mount(self, mount_point=None, **kwargs):
        """A context manager giving the files read-only at ``mount_point``."""
        self._require_workspace("mount")
        return MountContext(self, mount_point)

    def as_mount(self, path_on_compute=None):
        """Mounted read-only on the compute; the argument becomes the folder's path."""
        return self.as_named_input(self._default_input_name()).as_mount(path_on_compute)

    def as_download(self, path_on_compute=None):
        """Downloaded (a writable copy) on the compute; the argument becomes the folder's path."""
        return self.as_named_input(self._default_input_name()).as_download(path_on_compute)

    def file_metadata(self):
        return [{"path": "/" + f["path"], "size": f.get("size"), "sha256": f.get("sha256")}
                for f in self._definition.get("files", [])]
