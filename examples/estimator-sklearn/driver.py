# Seed 001 ("Train models with Azure Machine Learning using Estimator"), single-node form, with
# `azureml` replaced by `trainyard` in the import lines only.
#
#   cd examples/estimator-sklearn && python driver.py    (after `trainyard init` + `trainyard up`)
from trainyard.core import Workspace, Experiment
from trainyard.train.estimator import Estimator

ws = Workspace.from_config()
experiment = Experiment(ws, 'estimator-sklearn')

# The seed runs on an AmlCompute cluster object; the local machine is the compute target here.
compute_target = 'local'

script_params = {
    # to mount files referenced by mnist dataset
    # '--data-folder': ds.as_named_input('mnist').as_mount(),
    #   ^ works in Trainyard (see examples/keras-mnist for a mounted FileDataset); this
    #     example's train.py uses scikit-learn's bundled digits data instead.
    '--regularization': 0.8
}

sk_est = Estimator(source_directory='./my-sklearn-proj',
                   script_params=script_params,
                   compute_target=compute_target,
                   entry_script='train.py',
                   conda_packages=['scikit-learn'])

run = experiment.submit(sk_est)
print(run.get_portal_url())

run.wait_for_completion(show_output=True)

# Registering a model (the seed: model_path=None registers the run's outputs; Trainyard needs
# the path of the file or folder among the run's files).
model = run.register_model(model_name='sklearn-sample', model_path='outputs/model.pkl')

print('Run ID:', run.id)
print('Status:', run.get_status())
for name, value in sorted(run.get_metrics().items()):
    print('Metric: {} = {}'.format(name, value))
print('Files:', ', '.join(run.get_file_names()))
print('Model ID:', model.id)
