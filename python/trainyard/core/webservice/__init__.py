"""Web services (``azureml.core.webservice``): models deployed with ``Model.deploy``.

A service runs on this machine as a ``trainyard serve`` process supervised by the workspace
server: ``POST <scoring_uri>`` with a JSON body scores it, ``GET <swagger_uri>`` describes it.
``AciWebservice`` and ``LocalWebservice`` differ only in their defaults (both run locally);
``AksWebservice`` is accepted as an alias of ``AciWebservice`` so AKS-shaped code runs.
"""

from trainyard.core.webservice.webservice import (AciServiceDeploymentConfiguration,
                                                  AciWebservice, AksWebservice,
                                                  LocalWebservice,
                                                  LocalWebserviceDeploymentConfiguration,
                                                  Webservice, WebserviceDeploymentConfiguration)
from trainyard.exceptions import WebserviceException

__all__ = ["Webservice", "AciWebservice", "LocalWebservice", "AksWebservice",
           "WebserviceDeploymentConfiguration", "AciServiceDeploymentConfiguration",
           "LocalWebserviceDeploymentConfiguration", "WebserviceException"]
