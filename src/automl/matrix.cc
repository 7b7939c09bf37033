#include "automl/matrix.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

#include "common/error.h"

namespace trainyard::automl {

const char* TaskName(Task task) {
  return task == Task::kClassification ? "classification" : "regression";
}

Task ParseTask(const std::string& name) {
  if (name == "classification") return Task::kClassification;
  if (name == "regression") return Task::kRegression;
  throw InvalidInput("task '" + name + "' is not supported; use 'classification' or 'regression'");
}

Matrix SelectRows(const Matrix& m, std::span<const size_t> idx) {
  Matrix out(idx.size(), m.cols);
  for (size_t k = 0; k < idx.size(); ++k) {
    std::copy_n(m.Row(idx[k]), m.cols, out.Row(k));
  }
  return out;
}

std::string FormatNumber(double v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

namespace {
void RequireTwoClasses(const Target& t) {
  if (t.class_names.size() < 2) {
    throw InvalidInput("classification needs at least two classes in y; found " +
                       std::to_string(t.class_names.size()) +
                       (t.class_names.empty() ? "" : " ('" + t.class_names[0] + "')"));
  }
}
}  // namespace

Target EncodeNumericLabels(const std::vector<double>& labels) {
  Target t;
  t.task = Task::kClassification;
  std::map<double, size_t> index;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (!std::isfinite(labels[i])) {
      throw InvalidInput("y has a missing or infinite label at row " + std::to_string(i) +
                         "; remove those rows or fill them in");
    }
    index.emplace(labels[i] == 0.0 ? 0.0 : labels[i], 0);
  }
  size_t k = 0;
  for (auto& [value, pos] : index) {
    pos = k++;
    t.class_names.push_back(FormatNumber(value));
  }
  RequireTwoClasses(t);
  t.y.reserve(labels.size());
  for (double v : labels) t.y.push_back(static_cast<double>(index[v == 0.0 ? 0.0 : v]));
  return t;
}

Target EncodeStringLabels(const std::vector<std::string>& labels) {
  Target t;
  t.task = Task::kClassification;
  std::map<std::string, size_t> index;
  for (const auto& s : labels) index.emplace(s, 0);
  size_t k = 0;
  for (auto& [name, pos] : index) {
    pos = k++;
    t.class_names.push_back(name);
  }
  RequireTwoClasses(t);
  t.y.reserve(labels.size());
  for (const auto& s : labels) t.y.push_back(static_cast<double>(index[s]));
  return t;
}

Target RegressionTarget(std::vector<double> values) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      throw InvalidInput("y has a missing or infinite value at row " + std::to_string(i) +
                         "; remove those rows or fill them in");
    }
  }
  Target t;
  t.task = Task::kRegression;
  t.y = std::move(values);
  return t;
}

void ValidateTrainingData(const Matrix& X, const Target& y, bool allow_nan) {
  if (X.rows == 0) throw InvalidInput("X has no rows; training needs data");
  if (X.cols == 0) throw InvalidInput("X has no columns; training needs at least one feature");
  if (X.data.size() != X.rows * X.cols) throw InvalidInput("X: data size does not match shape");
  if (y.y.size() != X.rows) {
    throw InvalidInput("y has " + std::to_string(y.y.size()) + " values but X has " +
                       std::to_string(X.rows) + " rows; they must match");
  }
  if (y.task == Task::kClassification) {
    const double c = static_cast<double>(y.NumClasses());
    if (y.NumClasses() < 2) throw InvalidInput("classification needs at least two classes in y");
    for (size_t i = 0; i < y.y.size(); ++i) {
      if (!(y.y[i] >= 0 && y.y[i] < c) || y.y[i] != std::floor(y.y[i])) {
        throw InvalidInput("y[" + std::to_string(i) + "] is not a class index");
      }
    }
  } else {
    for (size_t i = 0; i < y.y.size(); ++i) {
      if (!std::isfinite(y.y[i])) {
        throw InvalidInput("y has a missing or infinite value at row " + std::to_string(i));
      }
    }
  }
  for (size_t i = 0; i < X.rows; ++i) {
    const double* r = X.Row(i);
    for (size_t j = 0; j < X.cols; ++j) {
      if (std::isinf(r[j])) {
        throw InvalidInput("X has an infinite value at row " + std::to_string(i) + ", column " +
                           std::to_string(j));
      }
      if (std::isnan(r[j]) && !allow_nan) {
        throw InvalidInput("X has a missing value (NaN) at row " + std::to_string(i) + ", column " +
                           std::to_string(j) +
                           "; turn featurization on ('auto') to impute, or fill it in");
      }
    }
  }
}

}  // namespace trainyard::automl
