"""Webservice objects and deployment configurations (see the package docstring).

Contract:
- ``Webservice(workspace, name)`` fetches a deployed service (WebserviceException with
  status_code 404 when there is none) and returns the subclass of its compute type.
- ``wait_for_deployment(show_output=False)`` waits for the current deploy/update to finish;
  it raises WebserviceException (message, error and a hint to ``get_logs()``) when the
  service ends Failed or the update failed (the previous version then keeps serving).
- ``run(input_data)`` POSTs ``input_data`` (a JSON string; dicts/lists are serialized) to the
  scoring URI with the primary key when auth is on, and returns the decoded JSON answer;
  non-200 answers raise WebserviceException carrying ``status_code`` and the service's message.
"""

import json
import threading
import time

from trainyard._http import quote_path
from trainyard.exceptions import UserErrorException, WebserviceException

_POLL_S = 0.25


class WebserviceDeploymentConfiguration:
    """Settings of a deployment (common to every compute type)."""

    _compute_type = "ACI"

    def __init__(self, cpu_cores=None, memory_gb=None, tags=None, properties=None,
                 description=None, auth_enabled=None, workers=None, replicas=None,
                 scoring_timeout_ms=None, max_request_bytes=None, port=None,
                 primary_key=None, secondary_key=None, **kwargs):
        self.cpu_cores = cpu_cores
        self.memory_gb = memory_gb
        self.tags = tags
        self.properties = properties
        self.description = description
        self.auth_enabled = auth_enabled
        # One process scores requests at a time; ``replicas`` is accepted as another name.
        self.workers = workers if workers is not None else replicas
        self.scoring_timeout_ms = scoring_timeout_ms
        self.max_request_bytes = max_request_bytes
        self.port = port
        self.primary_key = primary_key
        self.secondary_key = secondary_key
        self.validate_configuration()

    def validate_configuration(self):
        for name in ("cpu_cores", "memory_gb"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, float)) or value <= 0):
                raise WebserviceException("Invalid configuration, {} must be greater than "
                                          "zero.".format(name))
        if self.workers is not None and (not isinstance(self.workers, int) or
                                         not 1 <= self.workers <= 64):
            raise WebserviceException("Invalid configuration, workers must be an integer "
                                      "from 1 to 64.")
        if self.auth_enabled is not None and not isinstance(self.auth_enabled, bool):
            raise WebserviceException("Invalid configuration, auth_enabled must be a bool.")
        for name in ("tags", "properties"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, dict):
                raise WebserviceException("Invalid configuration, {} must be a dict.".format(
                    name))

    def _to_body(self):
        body = {"compute_type": self._compute_type}
        for key in ("cpu_cores", "memory_gb", "tags", "properties", "description",
                    "auth_enabled", "workers", "scoring_timeout_ms", "max_request_bytes",
                    "port"):
            value = getattr(self, key)
            if value is not None:
                body[key] = value
        return body


class AciServiceDeploymentConfiguration(WebserviceDeploymentConfiguration):
    _compute_type = "ACI"


class LocalWebserviceDeploymentConfiguration(WebserviceDeploymentConfiguration):
    _compute_type = "Local"


class _ScoringClient:
    """Keep-alive HTTP connection per thread to one scoring URI."""

    def __init__(self, uri):
        from urllib.parse import urlsplit
        parts = urlsplit(uri)
        self.host, self.port, self.path = parts.hostname, parts.port, parts.path or "/score"
        self._local = threading.local()

    def post(self, body, headers, timeout):
        import http.client
        for attempt in (0, 1):
            conn = getattr(self._local, "conn", None)
            reused = conn is not None
            if conn is None:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
                self._local.conn = conn
            try:
                conn.request("POST", self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    self._local.conn = None
                return resp.status, data, resp.getheader("x-request-id")
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                self._local.conn = None
                if reused and attempt == 0:
                    continue  # the idle connection had been closed by the service
                raise WebserviceException("Cannot reach the service at {}:{}: {}".format(
                    self.host, self.port, exc)) from None


class Webservice:
    """A deployed web service. ``Webservice(workspace, name)`` gets an existing one."""

    _compute_type = None

    def __new__(cls, workspace=None, name=None, **kwargs):
        if cls is Webservice and workspace is not None and name is not None and \
                "_dto" not in kwargs:
            dto = Webservice._fetch(workspace, name)
            sub = _class_for(dto.get("compute_type"))
            obj = super().__new__(sub)
            obj._prefetched = dto
            return obj
        return super().__new__(cls)

    def __init__(self, workspace, name=None, _dto=None, **kwargs):
        self.workspace = workspace
        self._client_obj = None
        self._scoring = None
        dto = _dto or getattr(self, "_prefetched", None)
        if dto is None:
            if not name:
                raise WebserviceException("Webservice needs a name")
            dto = Webservice._fetch(workspace, name)
            if self._compute_type and dto.get("compute_type") != self._compute_type:
                raise WebserviceException(
                    "WebserviceNotFound: Webservice with name {} of type {} not found in "
                    "provided workspace (it is a {} service)".format(
                        name, self._compute_type, dto.get("compute_type")), status_code=404)
        self._apply(dto)

    # -- state ---------------------------------------------------------------------------

    @staticmethod
    def _fetch(workspace, name):
        try:
            return workspace._client.get("/api/v1/services/{}".format(quote_path(name)))
        except UserErrorException as exc:
            if exc.status_code == 404:
                raise WebserviceException(
                    "WebserviceNotFound: Webservice with name {} not found in provided "
                    "workspace".format(name), status_code=404) from None
            raise WebserviceException(str(exc), status_code=exc.status_code,
                                      code=exc.code) from None

    def _apply(self, dto):
        self._dto = dto
        self.name = dto.get("name")
        self.state = dto.get("state")
        self.error = dto.get("error")
        self.scoring_uri = dto.get("scoring_uri")
        self.swagger_uri = dto.get("swagger_uri")
        self.compute_type = dto.get("compute_type")
        self.auth_enabled = bool(dto.get("auth_enabled"))
        self.tags = dict(dto.get("tags") or {})
        self.properties = dict(dto.get("properties") or {})
        self.description = dto.get("description")
        self.created_time = dto.get("created_utc")
        self.updated_time = dto.get("updated_utc")
        self.deployment_status = (dto.get("last_operation") or {}).get("status")
        self.port = dto.get("port")
        if self._scoring is None or self._scoring.port != self.port:
            self._scoring = _ScoringClient(self.scoring_uri) if self.scoring_uri else None

    @property
    def models(self):
        """The deployed models (:class:`~trainyard.core.model.Model` objects)."""
        from trainyard.core.model import Model
        return [Model(self.workspace, name=m["name"], version=m["version"])
                for m in self._dto.get("models") or []]

    @property
    def image_id(self):
        return None

    def update_deployment_state(self):
        """Refreshes the object from the workspace."""
        self._apply(Webservice._fetch(self.workspace, self.name))

    def wait_for_deployment(self, show_output=False, timeout_sec=None):
        """Waits until the current deploy or update operation has finished."""
        deadline = None if timeout_sec is None else time.time() + timeout_sec
        shown = None
        while True:
            self.update_deployment_state()
            op = self._dto.get("last_operation") or {}
            running = op.get("status") == "Running" or self.state == "Transitioning"
            if show_output:
                if shown is None:
                    print("Tips: You can try get_logs(): https://aka.ms/debugimage#dockerlog "
                          "or local deployment: https://aka.ms/debugimage#debug-locally to "
                          "debug if deployment takes longer than 10 minutes.")
                    print("Running", end="", flush=True)
                    shown = "Running"
                else:
                    print(".", end="", flush=True)
            if not running:
                break
            if deadline is not None and time.time() > deadline:
                if show_output:
                    print()
                raise WebserviceException("Deployment of {} is still {} after {} s".format(
                    self.name, self.state, timeout_sec))
            time.sleep(_POLL_S)
        op = self._dto.get("last_operation") or {}
        failed = self.state == "Failed" or op.get("status") == "Failed"
        if show_output:
            print()
            print("Failed" if failed else "Succeeded")
            print("{} service creation operation finished, operation \"{}\"".format(
                self.compute_type, "Failed" if failed else "Succeeded"))
        if failed:
            error = op.get("error") or self.error or {}
            what = "update" if op.get("kind") == "update" else "deployment"
            message = "Service {} {} failed: {}".format(self.name, what,
                                                       error.get("message", "unknown error"))
            if error.get("traceback"):
                message += "\n" + error["traceback"]
            if what == "update" and self.state != "Failed":
                message += "\nThe previous version keeps serving."
            message += "\nMore details: service.get_logs()"
            raise WebserviceException(message)
        return self.state

    # -- scoring -------------------------------------------------------------------------

    def run(self, input_data):
        """Scores ``input_data`` (a JSON string, or a dict/list serialized here) and returns
        the service's answer decoded from JSON."""
        if self._scoring is None:
            raise WebserviceException("Service {} has no scoring URI".format(self.name))
        if isinstance(input_data, (bytes, bytearray)):
            body = bytes(input_data)
        elif isinstance(input_data, str):
            body = input_data.encode("utf-8")
        else:
            body = json.dumps(input_data).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.auth_enabled:
            key = getattr(self, "_key_cache", None)
            if key is None:
                key = self._key_cache = self.get_keys()[0]
            headers["Authorization"] = "Bearer " + key
        status, data, request_id = self._scoring.post(body, headers, timeout=300)
        if status == 401 and self.auth_enabled:
            # The keys may have been regenerated elsewhere: fetch them once more.
            self._key_cache = self.get_keys()[0]
            headers["Authorization"] = "Bearer " + self._key_cache
            status, data, request_id = self._scoring.post(body, headers, timeout=300)
        if status != 200:
            try:
                message = json.loads(data).get("message", data.decode(errors="replace"))
            except (ValueError, AttributeError):
                message = data.decode(errors="replace")
            raise WebserviceException(
                "Received bad response from service. More information can be found by "
                "calling `.get_logs()` on the webservice object.\nResponse Code: {}\n"
                "Request id: {}\nResponse Content: {}".format(status, request_id, message),
                status_code=status)
        try:
            return json.loads(data)
        except ValueError:
            return data.decode("utf-8", "replace")

    # -- keys, logs ----------------------------------------------------------------------

    def _url(self, suffix=""):
        return "/api/v1/services/{}{}".format(quote_path(self.name), suffix)

    def get_keys(self):
        """(primary_key, secondary_key) for ``Authorization: Bearer <key>``."""
        keys = self._call(self.workspace._client.get, self._url("/keys"))
        return keys.get("primaryKey"), keys.get("secondaryKey")

    def regen_key(self, key, set_key=None):
        """Regenerates the 'Primary' or 'Secondary' key (the service accepts the new key at
        once; the other key keeps working)."""
        if key not in ("Primary", "Secondary"):
            raise WebserviceException("key must be 'Primary' or 'Secondary', got {!r}".format(
                key))
        if set_key is not None:
            raise WebserviceException("set_key is not supported: keys are generated")
        self._call(self.workspace._client.post, self._url("/regen_key"), {"key": key})
        self._key_cache = None

    def get_logs(self, num_lines=5000, init=False):
        """The service log: environment build, the front's messages, and what init()/run()
        printed (tracebacks included); the last ``num_lines`` lines."""
        resp = self.workspace._client.request("GET", self._url("/logs"))
        text = resp.data.decode("utf-8", "replace")
        lines = text.splitlines()
        if num_lines and len(lines) > num_lines:
            lines = lines[-num_lines:]
        return "\n".join(lines) + ("\n" if lines else "")

    # -- changes -------------------------------------------------------------------------

    def update(self, models=None, inference_config=None, deployment_config=None,
               auth_enabled=None, tags=None, properties=None, description=None,
               cpu_cores=None, memory_gb=None, workers=None, replicas=None,
               scoring_timeout_ms=None, **kwargs):
        """Changes the models, the inference configuration or settings. The service keeps
        serving the current version until the new one is ready; call
        ``wait_for_deployment()`` to wait for the switch."""
        body = {}
        if models is not None:
            body["models"] = _model_refs(models)
        if inference_config is not None:
            body["inference_config"] = inference_config._to_body()
        dc = deployment_config._to_body() if deployment_config is not None else {}
        dc.pop("compute_type", None)
        for key, value in (("auth_enabled", auth_enabled), ("tags", tags),
                           ("properties", properties), ("description", description),
                           ("cpu_cores", cpu_cores), ("memory_gb", memory_gb),
                           ("workers", workers if workers is not None else replicas),
                           ("scoring_timeout_ms", scoring_timeout_ms)):
            if value is not None:
                dc[key] = value
        if dc:
            body["deployment_config"] = dc
        if not body:
            raise WebserviceException("update() needs at least one thing to change")
        self._apply(self._call(self.workspace._client.patch, self._url(), body))
        self._key_cache = None

    def delete(self):
        """Stops the service and removes it from the workspace."""
        self._call(self.workspace._client.request, "DELETE", self._url())
        self.state = "Deleted"

    def serialize(self):
        return dict(self._dto)

    @staticmethod
    def _call(fn, *args):
        try:
            return fn(*args)
        except UserErrorException as exc:
            raise WebserviceException(str(exc), status_code=exc.status_code,
                                      code=exc.code) from None

    @staticmethod
    def list(workspace, compute_type=None, image_name=None, image_id=None, model_name=None,
             model_id=None, tags=None, properties=None, image_digest=None):
        """The workspace's services, filtered by compute type, model and tags/properties
        (keys, or [key, value] pairs)."""
        answer = workspace._client.get("/api/v1/services")
        out = []
        for dto in answer.get("services", []):
            if compute_type is not None and dto.get("compute_type") != compute_type:
                continue
            models = dto.get("models") or []
            if model_name is not None and all(m["name"] != model_name for m in models):
                continue
            if model_id is not None and all(m["id"] != model_id for m in models):
                continue
            if not _matches(dto.get("tags") or {}, tags) or \
                    not _matches(dto.get("properties") or {}, properties):
                continue
            out.append(_class_for(dto.get("compute_type"))(workspace, _dto=dto))
        return out

    @staticmethod
    def deploy_configuration(**kwargs):
        return AciServiceDeploymentConfiguration(**kwargs)

    def __repr__(self):
        return "{}(workspace={!r}, name={}, state={}, scoring_uri={})".format(
            type(self).__name__, self.workspace, self.name, self.state, self.scoring_uri)


class AciWebservice(Webservice):
    """A service with ACI-style settings (runs on this machine)."""

    _compute_type = "ACI"

    @staticmethod
    def deploy_configuration(cpu_cores=None, memory_gb=None, tags=None, properties=None,
                             description=None, location=None, auth_enabled=None,
                             ssl_enabled=None, enable_app_insights=None, ssl_cert_pem_file=None,
                             ssl_key_pem_file=None, ssl_cname=None, dns_name_label=None,
                             primary_key=None, secondary_key=None, collect_model_data=None,
                             cmk_vault_base_url=None, cmk_key_name=None, cmk_key_version=None,
                             vnet_name=None, subnet_name=None, workers=None, replicas=None,
                             scoring_timeout_ms=None, max_request_bytes=None, port=None):
        """Azure's ACI settings; cpu_cores/memory_gb are recorded, ``workers`` (or
        ``replicas``) sets the number of scoring processes, ``port`` a fixed port."""
        if ssl_enabled:
            raise WebserviceException("ssl_enabled is not supported: services listen on "
                                      "127.0.0.1 over plain HTTP")
        if primary_key is not None or secondary_key is not None:
            raise WebserviceException("primary_key/secondary_key cannot be set: keys are "
                                      "generated (regen_key() makes new ones)")
        return AciServiceDeploymentConfiguration(
            cpu_cores=cpu_cores, memory_gb=memory_gb, tags=tags, properties=properties,
            description=description, auth_enabled=auth_enabled, workers=workers,
            replicas=replicas, scoring_timeout_ms=scoring_timeout_ms,
            max_request_bytes=max_request_bytes, port=port)


class AksWebservice(AciWebservice):
    """Accepted so AKS-shaped code runs; deploys like an ACI service."""

    @staticmethod
    def deploy_configuration(autoscale_enabled=None, autoscale_min_replicas=None,
                             autoscale_max_replicas=None, num_replicas=None, cpu_cores=None,
                             memory_gb=None, auth_enabled=None, scoring_timeout_ms=None,
                             tags=None, properties=None, description=None, **kwargs):
        return AciServiceDeploymentConfiguration(
            cpu_cores=cpu_cores, memory_gb=memory_gb, tags=tags, properties=properties,
            description=description, auth_enabled=auth_enabled,
            workers=kwargs.get("workers") or num_replicas,
            scoring_timeout_ms=scoring_timeout_ms)


class LocalWebservice(Webservice):
    """A local service (auth off by default, optional fixed port)."""

    _compute_type = "Local"

    @staticmethod
    def deploy_configuration(port=None, workers=None, auth_enabled=None,
                             scoring_timeout_ms=None, tags=None, description=None):
        return LocalWebserviceDeploymentConfiguration(
            port=port, workers=workers, auth_enabled=auth_enabled,
            scoring_timeout_ms=scoring_timeout_ms, tags=tags, description=description)


def _class_for(compute_type):
    return LocalWebservice if compute_type == "Local" else AciWebservice


def _matches(values, wanted):
    if not wanted:
        return True
    for item in wanted:
        if isinstance(item, (list, tuple)) and len(item) == 2:
            if values.get(item[0]) != item[1]:
                return False
        elif item not in values:
            return False
    return True


def _model_refs(models):
    if not isinstance(models, (list, tuple)) or not models:
        raise WebserviceException("models must be a non-empty list of Model objects")
    refs = []
    for m in models:
        if isinstance(m, str):
            name, _, version = m.partition(":")
            refs.append({"name": name, "version": int(version) if version else None})
        elif hasattr(m, "name") and hasattr(m, "version"):
            refs.append({"name": m.name, "version": m.version})
        else:
            raise WebserviceException("models must hold Model objects, got {}".format(
                type(m).__name__))
    return refs
