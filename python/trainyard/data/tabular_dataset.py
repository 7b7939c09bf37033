"""TabularDataset (``azureml.data.tabular_dataset``): rows parsed from delimited files by the
server (C++ CSV reader with type inference); transforms are recorded in the definition and
applied when the data is read."""

from trainyard.data.abstract_dataset import AbstractDataset
from trainyard.exceptions import UserErrorException


def _columns_to_frame(table):
    try:
        import pandas as pd
    except ImportError:
        raise UserErrorException("to_pandas_dataframe needs pandas in this Python environment "
                                 "(pip install pandas)") from None
    data = {}
    for col in table["columns"]:
        values = col["values"]
        kind = col["type"]
        missing = any(v is None for v in values)
        if kind == "int":
            series = pd.Series(values, dtype="float64" if missing else "int64")
        elif kind == "float":
            series = pd.Series([float("nan") if v is None else v for v in values],
                               dtype="float64")
        elif kind == "bool":
            series = pd.Series(values, dtype="object" if missing else "bool")
        elif kind == "datetime":
            series = pd.to_datetime(pd.Series(values, dtype="object"))
        else:
            series = pd.Series(values, dtype="object")
        data[col["name"]] = series
    return pd.DataFrame(data, columns=[c["name"] for c in table["columns"]])


class TabularDataset(AbstractDataset):
    """Rows and typed columns from delimited files."""

    def _rows(self, take=0):
        ws = self._require_workspace("reading rows")
        return ws._client.post("/api/v1/dataset-rows",
                               {"definition": self._definition, "take": int(take)},
                               idempotent=True, timeout=3600)

    def _with_transform(self, transform):
        definition = dict(self._definition)
        definition["transforms"] = list(definition.get("transforms") or []) + [transform]
        return self._derived(definition)

    def to_pandas_dataframe(self, on_error="null", out_of_range_datetime="null"):
        """The rows as a pandas DataFrame (pandas is needed in this environment only)."""
        return _columns_to_frame(self._rows())

    def _column_types(self):
        """{column name: 'int'|'float'|'bool'|'datetime'|'string'} as inferred."""
        return {c["name"]: c["type"] for c in self._rows(take=1)["columns"]}

    def take(self, count):
        """A dataset of the first ``count`` rows."""
        if not isinstance(count, int) or count < 0:
            raise UserErrorException("take: count must be a non-negative integer")
        return self._with_transform({"take": count})

    def keep_columns(self, columns, validate=False):
        if isinstance(columns, str):
            columns = [columns]
        return self._with_transform({"keep_columns": list(columns)})

    def drop_columns(self, columns):
        if isinstance(columns, str):
            columns = [columns]
        return self._with_transform({"drop_columns": list(columns)})

    def as_mount(self, path_on_compute=None):
        raise UserErrorException("a TabularDataset is consumed directly: use "
                                 "as_named_input(name) and input_datasets[name] in the script")

    def as_download(self, path_on_compute=None):
        return self.as_mount(path_on_compute)
