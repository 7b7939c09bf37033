"""A path in a datastore (``azureml.data.datapath.DataPath``)."""


class DataPath:
    def __init__(self, datastore=None, path_on_datastore=None, name=None):
        self.datastore = datastore
        self.path_on_datastore = path_on_datastore or ""
        self.name = name

    @property
    def datastore_name(self):
        return self.datastore.name if self.datastore is not None else None

    def _to_source(self):
        return {"datastore": self.datastore_name, "path": self.path_on_datastore}

    def __repr__(self):
        return "DataPath(datastore={!r}, path={!r})".format(self.datastore_name,
                                                           self.path_on_datastore)
