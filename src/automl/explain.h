// Model explanations (SHAP values) for a fitted pipeline, on the raw input features:
//  - "tree": exact path-dependent TreeSHAP (Lundberg et al. 2018, Algorithm 2) over the
//    native tree ensembles; XGBoost uses its own exact TreeSHAP (pred_contribs).
//  - "linear": exact linear SHAP with independent features: coef * (z - background mean).
//  - "permutation": sampling Shapley values through the whole pipeline, antithetic
//    permutations over a background sample; exact additivity by construction.
// "auto" picks tree or linear when the learner has that structure and the scaler is
// per-column (a column-wise monotone map keeps attributions on the raw column), else
// permutation. Dropped (constant) columns get 0.
// Additivity: expected_values[k] + sum_j values[k](i, j) == model_output[k][i] for the
// explained output space (`output`: "probability", "margin" (log-odds / one-vs-rest
// margins) or "value" for regression).
#pragma once

#include <string>
#include <vector>

#include "automl/matrix.h"
#include "automl/table.h"
#include "automl/trees.h"

namespace trainyard::automl {

class Pipeline;

struct ExplainOptions {
  std::string method = "auto";  // auto | tree | linear | permutation
  size_t permutations = 0;      // permutation explainer: 0 -> 10 (5 antithetic pairs)
  size_t max_background = 50;   // background rows sampled for the permutation explainer
  uint64_t seed = 0;
  // Permutation explainer: rows explained side by side on this many threads (0: one per
  // core); the values are the same for any number.
  size_t threads = 0;
};

struct Explanation {
  std::string method;
  std::string output;
  std::vector<std::string> output_names;          // class names, or {"y"} for regression
  std::vector<Matrix> values;                     // per output: rows x input features
  std::vector<double> expected_values;            // per output
  std::vector<std::vector<double>> model_output;  // per output: what values add up to
};

// Azure's retrieve_model_explanation summaries: overall_summary = mean |SHAP| over rows and
// outputs per feature, sorted descending, with overall_imp the feature names in that order;
// per_class_summary / per_class_imp the same per output (classification only, else empty).
// Features without names are named by their column index ("0", "1", ...).
struct ExplanationSummary {
  std::vector<double> overall_summary;
  std::vector<std::string> overall_imp;
  std::vector<std::vector<double>> per_class_summary;
  std::vector<std::vector<std::string>> per_class_imp;
};
ExplanationSummary Summarize(const Explanation& e, const std::vector<std::string>& feature_names,
                             bool per_class);

// `background`: rows in raw input space (the training data or a sample); required for the
// permutation explainer, optional for linear (defaults to the training means).
Explanation Explain(const Pipeline& p, const Matrix& X, const Matrix* background,
                    const ExplainOptions& options);

// A model with a table featurizer explained on its RAW columns: the SHAP values of each raw
// column's engineered features (one-hot / hash / missing indicator / datetime parts) summed,
// so additivity stays exact and the expected values are unchanged; dropped raw columns get 0.
// Columns of the values follow TableFeaturizer::raw_names().
Explanation ExplainTable(const Pipeline& p, const DataTable& X, const DataTable* background,
                         const ExplainOptions& options);
Explanation SumToRawColumns(Explanation e, const TableFeaturizer& f);

// Exact path-dependent TreeSHAP of an ensemble on rows already in the model's feature space.
// Returns per ensemble output a rows x cols matrix; `expected` gets the expected values.
std::vector<Matrix> TreeShap(const TreeEnsemble& ens, const Matrix& Z,
                             std::vector<double>* expected);

// Conditional expectation E[f(x) | x_S] of one tree (path-dependent: unknown features follow
// both children weighted by cover), the value function TreeSHAP computes Shapley values of.
// Exposed for the brute-force test.
std::vector<double> TreeConditionalExpectation(const Tree& tree, const double* x,
                                               const std::vector<bool>& known);

}  // namespace trainyard::automl
