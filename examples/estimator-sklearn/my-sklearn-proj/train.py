# The training script of the Estimator example: logistic regression on scikit-learn's bundled
# digits data, with the inverse regularization strength C = 1 / --regularization.
# Writes the model and a small report to ./outputs (uploaded to the run when it ends).
import argparse
import json
import os
import pickle

from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from azureml.core.run import Run

parser = argparse.ArgumentParser()
# parser.add_argument('--data-folder', type=str, dest='data_folder', help='data folder mounting point')
parser.add_argument('--regularization', type=float, dest='reg', default=0.01, help='regularization rate')
args = parser.parse_args()

run = Run.get_context()

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
print('Train/test sizes:', X_train.shape, X_test.shape, flush=True)

print('Train a logistic regression model with regularization rate of', args.reg, flush=True)
clf = LogisticRegression(C=1.0 / args.reg, max_iter=1000, random_state=42)
clf.fit(X_train, y_train)

acc = float(clf.score(X_test, y_test))
print('Accuracy is', acc, flush=True)

run.log('regularization rate', float(args.reg))
run.log('accuracy', acc)

os.makedirs('outputs', exist_ok=True)
with open('outputs/model.pkl', 'wb') as f:
    pickle.dump(clf, f)
with open('outputs/report.json', 'w') as f:
    json.dump({'regularization': args.reg, 'accuracy': acc}, f)
