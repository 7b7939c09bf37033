// Native decision trees and the tree learners built on them: DecisionTree, RandomForest,
// ExtremeRandomTrees (classification and regression) and GradientBoosting.
//
// Splits are found on per-feature histograms: each feature is binned once per fit into at most
// 256 bins; a feature with at most 256 distinct values gets one bin per value, so its splits
// are exact (thresholds are midpoints between neighbouring values, as scikit-learn). Rows go
// left when x[feature] <= threshold. Trees of an ensemble are grown in parallel on
// FitContext::threads threads.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "automl/learner.h"

namespace trainyard::automl {

// A fitted binary tree in flat arrays (node 0 is the root).
struct Tree {
  std::vector<int32_t> feature;  // -1 at leaves
  std::vector<double> threshold;
  std::vector<int32_t> left, right;
  std::vector<double> cover;  // weighted training rows that reached the node
  std::vector<double> value;  // nodes x n_outputs: the node's prediction (leaves are used)
  size_t n_outputs = 1;

  size_t size() const { return feature.size(); }
  // Leaf node index for one row.
  int32_t Apply(const double* x) const {
    int32_t n = 0;
    while (feature[n] >= 0) n = x[feature[n]] <= threshold[n] ? left[n] : right[n];
    return n;
  }
  const double* Value(int32_t node) const { return value.data() + node * n_outputs; }
  void Save(ByteWriter& w) const;
  void Load(ByteReader& r);
};

// An additive ensemble: output[k] = base[k] + scale * sum_t tree_t.value[k] (k < n_outputs).
// Random forests average probabilities (scale 1/T, base 0, `margin` false); boosting adds
// margins (scale = learning rate, base = initial score) and `margin` is true: probabilities
// are sigmoid (one output, binary) or softmax of the margins.
struct TreeEnsemble {
  std::vector<Tree> trees;
  std::vector<double> base;
  double scale = 1.0;
  size_t n_outputs = 1;
  bool margin = false;
  // For boosting, tree t contributes to output `tree_output[t]` only (its value has one
  // column); empty means every tree has n_outputs columns.
  std::vector<int32_t> tree_output;

  // rows x n_outputs raw outputs (probabilities for forests, margins for boosting).
  Matrix Raw(const Matrix& X) const;
};

// Builds learners; params as scikit-learn's names (n_estimators, max_depth (0 = none),
// min_samples_split, min_samples_leaf, max_features (fraction, or "sqrt"/"log2"/"all"),
// criterion ("gini"/"entropy" or "squared_error"), bootstrap (0/1)).
std::unique_ptr<Learner> MakeDecisionTree();
std::unique_ptr<Learner> MakeRandomForest();
std::unique_ptr<Learner> MakeExtraTrees();
// GradientBoosting: n_estimators, learning_rate, max_depth, min_samples_leaf, subsample,
// max_features (as above); log-loss (binary/multinomial) or squared error, Newton leaf steps.
std::unique_ptr<Learner> MakeGradientBoosting();

std::vector<ParamSpec> ForestParamSpecs(bool extra);
std::vector<ParamSpec> DecisionTreeParamSpecs();
std::vector<ParamSpec> GradientBoostingParamSpecs();

}  // namespace trainyard::automl
