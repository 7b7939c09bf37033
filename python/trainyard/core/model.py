"""Registered models (``azureml.core.model``).

A model version is a set of files (content-addressed blobs on the server) under a root
name: a single file (``model.joblib``) or a folder (``model/...``). Versions of a name count
up from 1.
"""

import os

from trainyard._http import quote_path
from trainyard.exceptions import (ModelNotFoundException, ModelPathNotFoundException,
                                  UserErrorException, WebserviceException)

MODELS_DIR = "azureml-models"  # local cache folder used by Model.get_model_path


def _str_dict(values, what):
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise UserErrorException("{} must be a dict, got {}".format(what,
                                                                    type(values).__name__))
    return {str(k): "" if v is None else str(v) for k, v in values.items()}


def _sha256_and_size(path):
    import hashlib
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _collect_files(model_path, child_paths=None):
    """(path in the model, local path) for every file of ``model_path``."""
    local = os.path.abspath(os.path.expanduser(os.fspath(model_path)))
    if not os.path.exists(local):
        raise UserErrorException("Model path {} cannot be found".format(model_path))
    root = os.path.basename(os.path.normpath(local))
    if os.path.isfile(local):
        return root, [(root, local)]
    wanted = None
    if child_paths:
        wanted = {os.path.normpath(p).replace(os.sep, "/") for p in child_paths}
    files = []
    for folder, dirs, names in os.walk(local):
        dirs.sort()
        for name in sorted(names):
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, local).replace(os.sep, "/")
            if wanted is None or rel in wanted:
                files.append(("{}/{}".format(root, rel), full))
    if wanted is not None and len(files) != len(wanted):
        found = {f[0].split("/", 1)[1] for f in files}
        raise UserErrorException("child_paths not found under {}: {}".format(
            model_path, ", ".join(sorted(wanted - found))))
    if not files:
        raise UserErrorException("Model folder {} contains no files".format(model_path))
    return root, files


class InferenceConfig:
    """How a deployed model scores (``azureml.core.model.InferenceConfig``).

    ``entry_script`` defines ``init()`` (load the model, e.g. from
    ``Model.get_model_path(name)``) and ``run(raw_data)`` (the request body as a str; return
    something JSON-serializable). ``source_directory`` (default: the entry script's folder) is
    uploaded as a snapshot, with ``.amlignore``/``.gitignore`` rules and the 300 MB / 2000 file
    limits of runs; the entry script path is relative to it. ``environment`` is an
    :class:`~trainyard.core.environment.Environment` (``conda_file`` builds one from a conda
    YAML); none means the default environment.
    """

    def __init__(self, entry_script=None, runtime=None, conda_file=None,
                 extra_docker_file_steps=None, source_directory=None, enable_gpu=None,
                 description=None, base_image=None, base_image_registry=None,
                 cuda_version=None, environment=None):
        if not entry_script:
            raise WebserviceException("InferenceConfig needs an entry_script")
        self.entry_script = entry_script
        self.runtime = runtime
        self.conda_file = conda_file
        self.source_directory = source_directory
        self.description = description
        self.enable_gpu = enable_gpu
        self.base_image = base_image
        if environment is None and conda_file is not None:
            from trainyard.core.environment import Environment
            base = source_directory or "."
            path = conda_file if os.path.isabs(conda_file) else os.path.join(base, conda_file)
            environment = Environment.from_conda_specification("inference-env", path)
        self.environment = environment
        self.validate_configuration()

    def validate_configuration(self):
        source, entry = self._resolve()
        if not os.path.isdir(source):
            raise WebserviceException("source_directory {} does not exist".format(source))
        if not os.path.isfile(os.path.join(source, entry)):
            raise WebserviceException("entry_script {} not found in {}".format(entry, source))

    def _resolve(self):
        if self.source_directory:
            source = os.path.abspath(os.path.expanduser(os.fspath(self.source_directory)))
            entry = os.fspath(self.entry_script)
            if os.path.isabs(entry):
                entry = os.path.relpath(entry, source)
        else:
            full = os.path.abspath(os.fspath(self.entry_script))
            source, entry = os.path.dirname(full), os.path.basename(full)
        return source, entry.replace(os.sep, "/")

    def _to_body(self):
        from trainyard.core.script_run_config import _environment_spec
        source, entry = self._resolve()
        return {"entry_script": entry, "source_directory": source,
                "environment": _environment_spec(self.environment)}

    def __repr__(self):
        return "InferenceConfig(entry_script={!r}, source_directory={!r}, environment={})".format(
            self.entry_script, self.source_directory,
            getattr(self.environment, "name", None))


class Model:
    """A registered model version.

    ``Model(workspace, name)`` is the latest version, ``Model(workspace, name, version=3)``
    or ``Model(workspace, id='name:3')`` a given one; tags/properties/run_id pick the newest
    version that matches. Raises ModelNotFoundException (a WebserviceException) when none.
    """

    class Framework:
        CUSTOM = "Custom"
        MULTI = "Multi"
        ONNX = "Onnx"
        PYTORCH = "PyTorch"
        SCIKITLEARN = "ScikitLearn"
        TENSORFLOW = "TensorFlow"
        XGBOOST = "XGBoost"  # Trainyard: no-code deployment scores these natively

    def __init__(self, workspace, name=None, id=None, tags=None, properties=None,
                 version=None, run_id=None, model_framework=None, expand=True, **kwargs):
        self._workspace = workspace
        dto = kwargs.get("_model_dto")
        if dto is None:
            if id is not None:
                if ":" not in id:
                    raise UserErrorException("Model id must be 'name:version', got "
                                             "{!r}".format(id))
                name, version = id.rsplit(":", 1)
            if not name:
                raise UserErrorException("Model needs a name or an id")
            dto = self._lookup(workspace, name, version, tags, properties, run_id,
                               model_framework)
        self._apply(dto)

    @staticmethod
    def _lookup(workspace, name, version, tags, properties, run_id, model_framework):
        client = workspace._client
        where = "{}:{}".format(name, version) if version is not None else name
        try:
            if version is not None:
                return client.get("/api/v1/models/{}/versions/{}".format(
                    quote_path(name), quote_path(str(version))))
            if tags is None and properties is None and run_id is None and \
                    model_framework is None:
                return client.get("/api/v1/models/{}".format(quote_path(name)))
        except UserErrorException as exc:
            if exc.status_code == 404:
                raise ModelNotFoundException(
                    "ModelNotFound: Model with id {} not found in provided workspace".format(
                        where), status_code=404) from None
            raise
        matches = Model.list(workspace, name=name, tags=tags, properties=properties,
                             run_id=run_id, model_framework=model_framework)
        if not matches:
            raise ModelNotFoundException("ModelNotFound: no version of model {} matches the "
                                         "given filters".format(name), status_code=404)
        return matches[0]._dto

    @classmethod
    def _from_dto(cls, workspace, dto):
        return cls(workspace, _model_dto=dto)

    def _apply(self, dto):
        from trainyard.core.resource_configuration import ResourceConfiguration
        self._dto = dto
        self.id = dto.get("id") or "{}:{}".format(dto.get("name"), dto.get("version"))
        self.name = dto.get("name")
        self.version = dto.get("version")
        self.description = dto.get("description")
        self.tags = dict(dto.get("tags") or {})
        self.properties = dict(dto.get("properties") or {})
        self.run_id = dto.get("run_id")
        self.experiment_name = dto.get("experiment")
        self.created_time = dto.get("created_utc")
        self.model_framework = dto.get("model_framework")
        self.model_framework_version = dto.get("model_framework_version")
        self.resource_configuration = ResourceConfiguration.deserialize(
            dto.get("resource_configuration"))
        self.datasets = list(dto.get("datasets") or [])

    @property
    def workspace(self):
        return self._workspace

    @property
    def run(self):
        """The Run that produced the model, or None."""
        if not self.run_id:
            return None
        from trainyard.core.run import Run
        return Run.get(self._workspace, self.run_id)

    # -- registration --------------------------------------------------------------------

    @staticmethod
    def _registration_body(model_name, tags, properties, description, datasets,
                           model_framework, model_framework_version, resource_configuration):
        if not isinstance(model_name, str) or not model_name:
            raise UserErrorException("model_name must be a non-empty string")
        if resource_configuration is not None and hasattr(resource_configuration,
                                                          "serialize"):
            resource_configuration = resource_configuration.serialize()
        dataset_refs = []
        for entry in datasets or ():
            scenario, dataset = entry if isinstance(entry, (tuple, list)) else (None, entry)
            dataset_refs.append({"scenario": scenario, "id": getattr(dataset, "id", None),
                                 "name": getattr(dataset, "name", None)})
        return {"name": model_name, "description": description,
                "tags": _str_dict(tags, "tags"), "properties": _str_dict(properties,
                                                                         "properties"),
                "model_framework": model_framework,
                "model_framework_version": model_framework_version,
                "resource_configuration": resource_configuration,
                "datasets": dataset_refs}

    @staticmethod
    def register(workspace, model_path, model_name, tags=None, properties=None,
                 description=None, datasets=None, model_framework=None,
                 model_framework_version=None, child_paths=None, sample_input_dataset=None,
                 sample_output_dataset=None, resource_configuration=None):
        """Uploads a local file or folder and registers it as a new version of
        ``model_name``. Files the server already holds are not sent again."""
        body = Model._registration_body(model_name, tags, properties, description, datasets,
                                        model_framework, model_framework_version,
                                        resource_configuration)
        root, files = _collect_files(model_path, child_paths)
        print("Registering model {}".format(model_name))
        client = workspace._client
        entries = []
        local_by_sha = {}
        for path, local in files:
            sha, size = _sha256_and_size(local)
            entries.append({"path": path, "sha256": sha, "size": size})
            local_by_sha.setdefault(sha, local)
        missing = client.post("/api/v1/blobs/missing", {"sha256": sorted(local_by_sha)},
                              idempotent=True).get("missing", [])
        for sha in missing:
            client.put_file("/api/v1/blobs/{}".format(sha), local_by_sha[sha])
        body["files"] = entries
        body["path"] = root
        dto = client.post("/api/v1/models", body)
        return Model._from_dto(workspace, dto)

    @staticmethod
    def list(workspace, name=None, tags=None, properties=None, run_id=None, latest=False,
             dataset_id=None, expand=True, page_count=255, model_framework=None):
        """Registered models, newest first, filtered by name, tags (keys or key=value
        pairs), properties, run and framework; ``latest`` keeps the newest of each name."""
        from trainyard.core.experiment import filter_params
        params = filter_params(tags, properties)
        params["name"] = name
        params["latest"] = True if latest else None
        answer = workspace._client.get("/api/v1/models", params=params)
        models = []
        for dto in answer.get("models", []):
            if run_id is not None and dto.get("run_id") != run_id:
                continue
            if model_framework is not None and dto.get("model_framework") != model_framework:
                continue
            models.append(Model._from_dto(workspace, dto))
        return models

    # -- files ---------------------------------------------------------------------------

    def download(self, target_dir=".", exist_ok=False, exists_ok=None):
        """Downloads the model's files under ``target_dir`` and returns the path of the
        model's root file or folder there. Raises if it exists and not ``exist_ok``."""
        if exists_ok is not None:
            exist_ok = exists_ok
        root_name = self._dto.get("path") or self.name
        root = os.path.join(target_dir, root_name)
        if os.path.exists(root) and not exist_ok:
            raise WebserviceException("File {} already exists. To overwrite, set exist_ok to "
                                      "True.".format(root))
        base = os.path.abspath(target_dir)
        for entry in self._dto.get("files") or []:
            target = os.path.normpath(os.path.join(base, entry["path"]))
            if not target.startswith(base + os.sep):
                raise WebserviceException("Model file {!r} escapes the target "
                                          "folder".format(entry["path"]))
            self._workspace._client.download("/api/v1/blobs/{}".format(entry["sha256"]),
                                             target)
        return root

    @staticmethod
    def get_model_path(model_name, version=None, _workspace=None):
        """The local path of a model's root file or folder.

        In a deployment (``AZUREML_MODEL_DIR`` set) the model is looked up there (as
        ``<dir>/<name>/<version>/<root>`` or, for a single model, ``<dir>/<root>``).
        Elsewhere a copy under ``./azureml-models/<name>/<version>/`` is used, downloaded
        first from the workspace (the run's, ``_workspace``, or the configured one).
        """
        model_dir = os.environ.get("AZUREML_MODEL_DIR")
        if model_dir:
            return _path_in_model_dir(model_dir, model_name, version)
        cached = _cached_model_path(model_name, version)
        if cached:
            return cached
        workspace = _workspace or _workspace_for_model_path()
        if workspace is None:
            raise ModelPathNotFoundException(
                "Model {} not found in {} and no Trainyard workspace is configured to "
                "download it from.".format(model_name, os.path.abspath(MODELS_DIR)))
        model = Model(workspace, model_name, version=version)
        target = os.path.join(MODELS_DIR, model.name, str(model.version))
        return model.download(target_dir=target, exist_ok=True)

    # -- deployment ----------------------------------------------------------------------

    @staticmethod
    def deploy(workspace, name, models, inference_config=None, deployment_config=None,
               deployment_target=None, overwrite=False, show_output=False):
        """Deploys ``models`` as the web service ``name`` and returns its
        :class:`~trainyard.core.webservice.Webservice` (state Transitioning; call
        ``wait_for_deployment()``).

        Without ``inference_config`` the deployment is no-code: one model registered with
        ``model_framework=Model.Framework.SCIKITLEARN`` (scored by ``model.predict`` on
        ``{"data": rows}``) or XGBoost (scored natively). Otherwise the entry script's
        ``init()``/``run(raw_data)`` score. Without ``deployment_config`` the model's
        resource_configuration gives cpu_cores and memory_gb."""
        from trainyard.core.webservice.webservice import (AciWebservice, Webservice,
                                                          _class_for, _model_refs)
        if deployment_target is not None:
            raise WebserviceException("deployment_target: Trainyard runs services on the "
                                      "workspace's machine; pass None and choose settings "
                                      "with AciWebservice/LocalWebservice.deploy_configuration()")
        refs = _model_refs(models)
        if inference_config is None:
            for m in models:
                framework = getattr(m, "model_framework", None)
                if len(models) != 1 or (framework is not None and
                                        framework.lower() not in ("scikitlearn", "xgboost")):
                    raise WebserviceException(
                        "No-code deployment needs one model registered with "
                        "model_framework=Model.Framework.SCIKITLEARN; model {} has "
                        "model_framework={}. Pass an InferenceConfig(entry_script='score.py', "
                        "environment=env) whose init() loads the model and run(raw_data) "
                        "scores.".format(getattr(m, "id", m), framework))
        if deployment_config is None:
            cpu, memory = None, None
            for m in models:
                rc = getattr(m, "resource_configuration", None)
                if rc is not None:
                    cpu = getattr(rc, "cpu", None) or cpu
                    memory = getattr(rc, "memory_in_gb", None) or memory
            deployment_config = AciWebservice.deploy_configuration(cpu_cores=cpu,
                                                                   memory_gb=memory)
        if not hasattr(deployment_config, "_to_body"):
            raise WebserviceException("deployment_config must come from "
                                      "AciWebservice/LocalWebservice.deploy_configuration()")
        body = {"name": name, "models": refs, "overwrite": bool(overwrite),
                "deployment_config": deployment_config._to_body(),
                "inference_config": inference_config._to_body() if inference_config else None}
        try:
            dto = workspace._client.post("/api/v1/services", body)
        except UserErrorException as exc:
            raise WebserviceException(str(exc), status_code=exc.status_code,
                                      code=exc.code) from None
        service = _class_for(dto.get("compute_type"))(workspace, _dto=dto)
        if show_output:
            service.wait_for_deployment(show_output=True)
        return service

    def serialize(self):
        """The model as stored by the server (a dict)."""
        return dict(self._dto)

    def __eq__(self, other):
        return isinstance(other, Model) and other.id == self.id and \
            other._workspace == self._workspace

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return "Model(workspace={!r}, name={}, id={}, version={}, tags={}, " \
               "properties={})".format(self._workspace, self.name, self.id, self.version,
                                       self.tags, self.properties)


def _only_entry(folder):
    entries = [e for e in os.listdir(folder) if not e.startswith(".")]
    return os.path.join(folder, entries[0]) if len(entries) == 1 else folder


def _latest_version_dir(folder, version):
    if version is not None:
        candidate = os.path.join(folder, str(version))
        return candidate if os.path.isdir(candidate) else None
    versions = [v for v in os.listdir(folder) if v.isdigit() and
                os.path.isdir(os.path.join(folder, v))]
    return os.path.join(folder, max(versions, key=int)) if versions else None


def _path_in_model_dir(model_dir, model_name, version):
    named = os.path.join(model_dir, model_name)
    if os.path.isdir(named):
        version_dir = _latest_version_dir(named, version)
        if version_dir:
            return _only_entry(version_dir)
    if os.path.isdir(model_dir) and os.listdir(model_dir):
        return _only_entry(model_dir)
    raise ModelPathNotFoundException("Model {} not found in AZUREML_MODEL_DIR={}".format(
        model_name, model_dir))


def _cached_model_path(model_name, version):
    named = os.path.join(MODELS_DIR, model_name)
    if not os.path.isdir(named):
        return None
    version_dir = _latest_version_dir(named, version)
    if not version_dir or not os.listdir(version_dir):
        return None
    return _only_entry(version_dir)


def _workspace_for_model_path():
    from trainyard.core.workspace import Workspace
    try:
        return Workspace.from_config()
    except UserErrorException:
        return None
