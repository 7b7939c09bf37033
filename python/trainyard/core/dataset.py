"""``azureml.core.dataset.Dataset``: the entry point for datasets.

``Dataset.File.from_files(...)``, ``Dataset.Tabular.from_delimited_files(...)``,
``Dataset.get_by_name(ws, name, version='latest')``, ``Dataset.get_by_id(ws, id)``,
``Dataset.get_all(ws)``.
"""

from trainyard.data.abstract_dataset import AbstractDataset
from trainyard.data.dataset_factory import FileDatasetFactory, TabularDatasetFactory


class Dataset(AbstractDataset):
    File = FileDatasetFactory
    Tabular = TabularDatasetFactory

    get_by_name = staticmethod(AbstractDataset.get_by_name)
    get_by_id = staticmethod(AbstractDataset.get_by_id)
    get_all = staticmethod(AbstractDataset.get_all)
