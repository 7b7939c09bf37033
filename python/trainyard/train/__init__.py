"""Training configurations (``azureml.train``)."""
