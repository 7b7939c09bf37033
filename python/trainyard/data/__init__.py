"""Datasets (``azureml.data``): FileDataset, TabularDataset, DataPath and the consumption
configurations that put a dataset into a run (``as_mount``, ``as_download``, ``as_named_input``)."""

from trainyard.data.file_dataset import FileDataset
from trainyard.data.tabular_dataset import TabularDataset
from trainyard.data.dataset_consumption_config import DatasetConsumptionConfig
from trainyard.data.datapath import DataPath

__all__ = ["FileDataset", "TabularDataset", "DatasetConsumptionConfig", "DataPath"]
