"""Exceptions raised by the Trainyard SDK, named after ``azureml.exceptions``.

Every exception derives from :class:`AzureMLException` (alias :class:`TrainyardException`).
Errors answered by the server carry ``status_code`` (the HTTP status) and ``code`` (the
server's machine-readable code, e.g. ``"InvalidInput"``); ``message`` is the server's text.
Mapping: 401 -> AuthenticationException, other 4xx -> UserErrorException,
5xx and unreachable server -> ServiceException.
"""


class AzureMLException(Exception):
    """Base class of all SDK errors."""

    def __init__(self, exception_message="", inner_exception=None, status_code=None,
                 code=None, **kwargs):
        super().__init__(exception_message)
        self.message = exception_message
        self.inner_exception = inner_exception
        self.status_code = status_code
        self.code = code

    def __str__(self):
        return self.message


TrainyardException = AzureMLException


class UserErrorException(AzureMLException):
    """The caller's input or usage was wrong; the message says what and how to fix it."""


class AuthenticationException(UserErrorException):
    """The server refused the workspace token (HTTP 401)."""


class ServiceException(AzureMLException):
    """The server failed (HTTP 5xx) or could not be reached."""


class ActivityFailedException(AzureMLException):
    """A run ended in ``Failed``; ``error_details`` holds the run's error as JSON text."""

    def __init__(self, error_details="", inner_exception=None, **kwargs):
        super().__init__("Activity Failed:\n{}".format(error_details), inner_exception, **kwargs)
        self.error_details = error_details


class ExperimentExecutionException(AzureMLException):
    """Submitting or executing an experiment failed."""


class RunEnvironmentException(AzureMLException):
    """The code runs outside the run context it needs (e.g. no submitted run)."""


class SnapshotException(AzureMLException):
    """Taking or restoring a snapshot failed."""


class ProjectSystemException(AzureMLException):
    """The workspace configuration could not be found or read."""


class WorkspaceException(AzureMLException):
    """A workspace operation failed."""


class ComputeTargetException(AzureMLException):
    """A compute target does not exist or cannot be used."""


class WebserviceException(AzureMLException):
    """A model or web service operation failed (also raised for a missing model)."""


class ModelNotFoundException(WebserviceException):
    """No registered model matches the given name/version."""


class ModelPathNotFoundException(AzureMLException):
    """``Model.get_model_path`` found no local copy of the model."""


class TrainingException(AzureMLException):
    """An estimator or training configuration is invalid."""


class RunConfigurationException(UserErrorException):
    """A run configuration is invalid."""
