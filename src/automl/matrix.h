// Dense data for the AutoML engine: a row-major double matrix, the target (class indices with
// their label names, or regression values) and a dataset bundling both with feature names.
// Plain values; no locking (callers share them read-only across threads).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace trainyard::automl {

enum class Task { kClassification, kRegression };

// "classification" / "regression"; ParseTask throws InvalidInput on anything else.
const char* TaskName(Task task);
Task ParseTask(const std::string& name);

// Row-major dense matrix of doubles. NaN marks a missing value.
struct Matrix {
  size_t rows = 0;
  size_t cols = 0;
  std::vector<double> data;

  Matrix() = default;
  Matrix(size_t r, size_t c, double fill = 0.0) : rows(r), cols(c), data(r * c, fill) {}

  double* Row(size_t i) { return data.data() + i * cols; }
  const double* Row(size_t i) const { return data.data() + i * cols; }
  double& At(size_t i, size_t j) { return data[i * cols + j]; }
  double At(size_t i, size_t j) const { return data[i * cols + j]; }
};

// The rows `idx` of `m`, in that order.
Matrix SelectRows(const Matrix& m, std::span<const size_t> idx);
template <typename T>
std::vector<T> SelectItems(const std::vector<T>& v, std::span<const size_t> idx) {
  std::vector<T> out;
  out.reserve(idx.size());
  for (size_t i : idx) out.push_back(v[i]);
  return out;
}

// The prediction target. Classification: `y` holds class indices 0..C-1 (as doubles) and
// `class_names` the C label names in index order. Regression: `y` holds the values.
struct Target {
  Task task = Task::kClassification;
  std::vector<double> y;
  std::vector<std::string> class_names;

  size_t NumClasses() const { return class_names.size(); }
};

struct Dataset {
  Matrix X;
  Target target;
  std::vector<std::string> feature_names;  // empty, or X.cols names
};

// Encodes raw labels as class indices. Numeric labels sort numerically and are named by their
// shortest round-trip text ("3", "0.5"); string labels sort as bytes (scikit-learn's
// LabelEncoder order). Throws InvalidInput on NaN/infinite labels or fewer than two classes.
Target EncodeNumericLabels(const std::vector<double>& labels);
Target EncodeStringLabels(const std::vector<std::string>& labels);
// Regression targets: throws InvalidInput on NaN/infinite values.
Target RegressionTarget(std::vector<double> values);

// Checks shapes and values before training: rows > 0, y size == rows, names size == cols,
// no infinite values in X; NaN in X only when `allow_nan` (featurization imputes them).
// Throws InvalidInput naming the first offending row/column.
void ValidateTrainingData(const Matrix& X, const Target& y, bool allow_nan);

// Shortest text that parses back to the same double ("3", "0.1", "1e+300").
std::string FormatNumber(double v);

}  // namespace trainyard::automl
