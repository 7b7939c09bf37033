"""Compute resources of a model deployment (``azureml.core.resource_configuration``)."""

from trainyard.exceptions import UserErrorException


class ResourceConfiguration:
    """CPU cores, memory (GB) and GPUs a deployed model needs."""

    def __init__(self, cpu=None, memory_in_gb=None, gpu=None):
        self.cpu = cpu
        self.memory_in_gb = memory_in_gb
        self.gpu = gpu
        self._validate()

    def _validate(self):
        for name in ("cpu", "memory_in_gb", "gpu"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise UserErrorException("ResourceConfiguration.{} must be a positive number, "
                                         "got {!r}".format(name, value))
        if self.gpu is not None and int(self.gpu) != self.gpu:
            raise UserErrorException("ResourceConfiguration.gpu must be a whole number")

    def serialize(self):
        """The JSON form stored with a model."""
        return {"cpu": self.cpu, "memory_in_gb": self.memory_in_gb, "gpu": self.gpu}

    @staticmethod
    def deserialize(payload_obj):
        if not payload_obj:
            return None
        return ResourceConfiguration(cpu=payload_obj.get("cpu"),
                                     memory_in_gb=payload_obj.get("memory_in_gb"),
                                     gpu=payload_obj.get("gpu"))

    def __eq__(self, other):
        return isinstance(other, ResourceConfiguration) and \
            other.serialize() == self.serialize()

    def __repr__(self):
        return "ResourceConfiguration(cpu={!r}, memory_in_gb={!r}, gpu={!r})".format(
            self.cpu, self.memory_in_gb, self.gpu)
