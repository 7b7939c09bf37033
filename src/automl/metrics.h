// Scoring metrics with scikit-learn's definitions (Azure AutoML's names). Inputs are class
// indices 0..C-1 and a rows x C probability matrix, or regression targets and predictions.
// Pure functions; thread-safe.
//
// Conventions (documented in docs/AUTOML.md):
//  - predicted class = first argmax of the probabilities (scikit-learn's predict).
//  - AUC_* and average_precision_score_* are one-vs-rest over the C label-binarized columns
//    (binary included, as Azure: both columns, weighted by support); a class with no
//    positives or no negatives in y_true has no AUC and is left out of the average.
//  - precision/recall/f1 averages run over all C classes (labels=range(C)); 0/0 counts as 0.
//  - norm_macro_recall = max(0, (macro_recall - 1/C) / (1 - 1/C)) (Azure).
//  - balanced_accuracy = mean recall over the classes present in y_true.
//  - log_loss clips probabilities to [eps, 1-eps] (eps = DBL_EPSILON).
//  - normalized_* regression metrics divide by (y_max - y_min); the caller passes the range
//    of the full training target (Azure), by default that of y_true.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "automl/matrix.h"

namespace trainyard::automl {

using Scores = std::map<std::string, double>;

// Every classification metric. `y_true` holds class indices < proba.cols.
Scores ClassificationScores(const std::vector<double>& y_true, const Matrix& proba);
// Every regression metric; y_range <= 0 means "use max(y_true) - min(y_true)".
Scores RegressionScores(const std::vector<double>& y_true, const std::vector<double>& y_pred,
                        double y_range = 0.0);

// Single metrics (same conventions).
double Accuracy(const std::vector<double>& y_true, const std::vector<int>& y_pred);
double AucOvr(const std::vector<double>& y_true, const Matrix& proba, bool weighted);
double AveragePrecisionOvr(const std::vector<double>& y_true, const Matrix& proba, bool weighted);
double LogLoss(const std::vector<double>& y_true, const Matrix& proba);
// Binary ROC AUC of scores for positives vs negatives (Mann-Whitney with mid-ranks for ties,
// equal to the trapezoidal area under scikit-learn's roc_curve). NaN when a side is empty.
double BinaryAuc(const std::vector<double>& score, const std::vector<bool>& positive);
// Binary average precision (scikit-learn's step-wise sum over distinct thresholds).
double BinaryAveragePrecision(const std::vector<double>& score, const std::vector<bool>& positive);
double SpearmanCorrelation(const std::vector<double>& a, const std::vector<double>& b);

// The first argmax per row.
std::vector<int> ArgmaxRows(const Matrix& proba);

// Metric catalogue.
const std::vector<std::string>& PrimaryMetrics(Task task);
bool IsKnownMetric(Task task, const std::string& name);
// True when a larger value is better (false for log_loss, errors).
bool HigherIsBetter(const std::string& name);

}  // namespace trainyard::automl
