#include "automl/ensemble.h"

#include <algorithm>
#include <cmath>

#include "automl/metrics.h"
#include "automl/registry.h"
#include "common/error.h"

namespace trainyard::automl {

double ScoreMetric(const std::string& metric, const Target& y, const Matrix& raw, double y_range) {
  if (!IsKnownMetric(y.task, metric)) {
    throw InvalidInput("metric '" + metric + "' is not a " + TaskName(y.task) + " metric");
  }
  // The common primary metrics alone (ensemble selection scores 15 x candidates blends: all
  // metrics of a 18,750-row, 7-class table took 21 s on a loaded machine); the same
  // functions ClassificationScores uses, so the values are identical.
  if (y.task == Task::kClassification) {
    if (metric == "AUC_weighted" || metric == "AUC_macro") {
      return AucOvr(y.y, raw, metric == "AUC_weighted");
    }
    if (metric == "average_precision_score_weighted" || metric == "average_precision_score_macro") {
      return AveragePrecisionOvr(y.y, raw, metric == "average_precision_score_weighted");
    }
    if (metric == "accuracy") return Accuracy(y.y, ArgmaxRows(raw));
  }
  Scores s = y.task == Task::kClassification ? ClassificationScores(y.y, raw)
                                             : RegressionScores(y.y, raw.data, y_range);
  return s.at(metric);
}

std::vector<double> CaruanaWeights(const std::vector<Matrix>& predictions, const Target& y_valid,
                                   const std::string& metric, size_t iterations, double y_range) {
  if (predictions.empty()) throw InvalidInput("ensemble selection needs candidates");
  if (iterations == 0) throw InvalidInput("ensemble selection needs at least one iteration");
  const Matrix& first = predictions[0];
  for (const auto& p : predictions) {
    if (p.rows != first.rows || p.cols != first.cols || p.rows != y_valid.y.size()) {
      throw InvalidInput("ensemble candidates must predict the same validation rows");
    }
  }
  const bool higher = HigherIsBetter(metric);
  std::vector<size_t> counts(predictions.size(), 0);
  Matrix sum(first.rows, first.cols, 0.0), trial(first.rows, first.cols);
  for (size_t it = 0; it < iterations; ++it) {
    double best = higher ? -INFINITY : INFINITY;
    size_t best_m = 0;
    const double n = static_cast<double>(it + 1);
    for (size_t m = 0; m < predictions.size(); ++m) {
      for (size_t k = 0; k < sum.data.size(); ++k) {
        trial.data[k] = (sum.data[k] + predictions[m].data[k]) / n;
      }
      double s = ScoreMetric(metric, y_valid, trial, y_range);
      if (std::isnan(s)) continue;
      if (higher ? s > best : s < best) {
        best = s;
        best_m = m;
      }
    }
    ++counts[best_m];
    for (size_t k = 0; k < sum.data.size(); ++k) sum.data[k] += predictions[best_m].data[k];
  }
  std::vector<double> w(predictions.size());
  for (size_t m = 0; m < w.size(); ++m) {
    w[m] = static_cast<double>(counts[m]) / static_cast<double>(iterations);
  }
  return w;
}

std::unique_ptr<Pipeline> MakeVotingEnsemble(std::vector<std::unique_ptr<Pipeline>> members,
                                             const std::vector<double>& weights) {
  if (members.size() != weights.size()) {
    throw InvalidInput("a voting ensemble needs one weight per member");
  }
  std::vector<std::unique_ptr<Pipeline>> kept;
  std::vector<double> w;
  double total = 0;
  for (size_t m = 0; m < members.size(); ++m) {
    if (!(weights[m] >= 0)) throw InvalidInput("ensemble weights must be >= 0");
    if (weights[m] == 0) continue;
    kept.push_back(std::move(members[m]));
    w.push_back(weights[m]);
    total += weights[m];
  }
  if (kept.empty()) throw InvalidInput("a voting ensemble needs a member with weight > 0");
  for (double& v : w) v /= total;
  return Pipeline::MakeEnsemble(Pipeline::Kind::kVoting, std::move(kept), std::move(w));
}

Matrix OutOfFoldInRowOrder(const Evaluation& ev, size_t n_rows) {
  if (ev.rows.size() != n_rows) {
    throw InvalidInput(
        "stacking needs out-of-fold predictions for every training row "
        "(cross-validation)");
  }
  Matrix out(n_rows, ev.predictions.cols);
  std::vector<bool> seen(n_rows, false);
  for (size_t k = 0; k < ev.rows.size(); ++k) {
    size_t r = ev.rows[k];
    if (r >= n_rows || seen[r]) throw InvalidInput("out-of-fold rows must cover each row once");
    seen[r] = true;
    std::copy_n(ev.predictions.Row(k), ev.predictions.cols, out.Row(r));
  }
  return out;
}

std::unique_ptr<Pipeline> MakeStackEnsemble(std::vector<std::unique_ptr<Pipeline>> members,
                                            const std::vector<Matrix>& oof, const Target& y,
                                            const FitContext& ctx) {
  if (members.empty() || members.size() != oof.size()) {
    throw InvalidInput("a stack ensemble needs one out-of-fold prediction matrix per member");
  }
  size_t cols = 0;
  for (const auto& o : oof) {
    if (o.rows != y.y.size()) throw InvalidInput("out-of-fold predictions must cover every row");
    cols += o.cols;
  }
  Matrix Z(y.y.size(), cols);
  size_t off = 0;
  for (const auto& o : oof) {
    for (size_t i = 0; i < o.rows; ++i) std::copy_n(o.Row(i), o.cols, Z.Row(i) + off);
    off += o.cols;
  }
  Params params;
  std::string meta_name = "LogisticRegression";
  if (y.task == Task::kRegression) {
    meta_name = "ElasticNet";
    params.num["alpha"] = 1e-3;
    params.num["l1_ratio"] = 0.5;
  }
  auto meta = CreateLearner(meta_name, y.task, params);
  meta->Fit(Z, y, ctx);
  std::vector<double> unused(members.size(), 0.0);
  return Pipeline::MakeEnsemble(Pipeline::Kind::kStack, std::move(members), std::move(unused),
                                std::move(meta));
}

}  // namespace trainyard::automl
