// Small generated datasets for the AutoML engine tests.
#pragma once

#include <cmath>
#include <random>

#include "automl/matrix.h"

namespace trainyard::automl::testing {

// Gaussian blobs: `classes` centers on a circle of radius 4 in the first two of `cols`
// features (the rest is noise), unit variance.
inline Dataset Blobs(size_t rows, size_t cols, size_t classes, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, 1.0);
  Dataset d;
  d.X = Matrix(rows, cols);
  d.target.task = Task::kClassification;
  for (size_t c = 0; c < classes; ++c) d.target.class_names.push_back("c" + std::to_string(c));
  for (size_t i = 0; i < rows; ++i) {
    size_t c = i % classes;
    double angle = 2 * M_PI * static_cast<double>(c) / static_cast<double>(classes);
    for (size_t j = 0; j < cols; ++j) d.X.At(i, j) = noise(rng);
    d.X.At(i, 0) += 4 * std::cos(angle);
    d.X.At(i, 1) += 4 * std::sin(angle);
    d.target.y.push_back(static_cast<double>(c));
  }
  return d;
}

// y = 3 x0 - 2 x1 + x2^2 + noise(0.1), x uniform in [0, 1).
inline Dataset Regression(size_t rows, size_t cols, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::normal_distribution<double> noise(0.0, 0.1);
  Dataset d;
  d.X = Matrix(rows, cols);
  d.target.task = Task::kRegression;
  for (size_t i = 0; i < rows; ++i) {
    for (size_t j = 0; j < cols; ++j) d.X.At(i, j) = u(rng);
    double x2 = cols > 2 ? d.X.At(i, 2) : 0.0;
    d.target.y.push_back(3 * d.X.At(i, 0) - 2 * d.X.At(i, 1) + x2 * x2 + noise(rng));
  }
  return d;
}

}  // namespace trainyard::automl::testing
