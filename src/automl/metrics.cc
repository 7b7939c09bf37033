#include "automl/metrics.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <numeric>

#include "common/error.h"

namespace trainyard::automl {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Ranks with ties averaged (1-based), as scipy.stats.rankdata(method='average').
std::vector<double> AverageRanks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> ranks(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    double r = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    for (size_t k = i; k <= j; ++k) ranks[order[k]] = r;
    i = j + 1;
  }
  return ranks;
}

void CheckShapes(const std::vector<double>& y_true, const Matrix& proba) {
  if (y_true.size() != proba.rows) {
    throw InvalidInput("metrics: y_true has " + std::to_string(y_true.size()) +
                       " values but the predictions have " + std::to_string(proba.rows) + " rows");
  }
  if (proba.cols < 2) throw InvalidInput("metrics: probabilities need at least two classes");
  for (double y : y_true) {
    if (!(y >= 0 && y < static_cast<double>(proba.cols))) {
      throw InvalidInput("metrics: y_true holds a class index outside 0.." +
                         std::to_string(proba.cols - 1));
    }
  }
}

struct PerClass {
  std::vector<double> tp, pred, support;  // per class counts
};

PerClass Confusion(const std::vector<double>& y_true, const std::vector<int>& y_pred, size_t C) {
  PerClass pc{std::vector<double>(C), std::vector<double>(C), std::vector<double>(C)};
  for (size_t i = 0; i < y_true.size(); ++i) {
    size_t t = static_cast<size_t>(y_true[i]);
    size_t p = static_cast<size_t>(y_pred[i]);
    pc.support[t] += 1;
    pc.pred[p] += 1;
    if (t == p) pc.tp[t] += 1;
  }
  return pc;
}

double Div(double a, double b) { return b == 0 ? 0.0 : a / b; }

double Average(const std::vector<double>& per_class, const std::vector<double>& support,
               bool weighted) {
  double num = 0, den = 0;
  for (size_t c = 0; c < per_class.size(); ++c) {
    double w = weighted ? support[c] : 1.0;
    num += w * per_class[c];
    den += w;
  }
  return den == 0 ? 0.0 : num / den;
}

}  // namespace

std::vector<int> ArgmaxRows(const Matrix& proba) {
  std::vector<int> out(proba.rows);
  for (size_t i = 0; i < proba.rows; ++i) {
    const double* r = proba.Row(i);
    out[i] = static_cast<int>(std::max_element(r, r + proba.cols) - r);
  }
  return out;
}

double Accuracy(const std::vector<double>& y_true, const std::vector<int>& y_pred) {
  if (y_true.empty()) return kNaN;
  size_t ok = 0;
  for (size_t i = 0; i < y_true.size(); ++i) ok += static_cast<int>(y_true[i]) == y_pred[i];
  return static_cast<double>(ok) / static_cast<double>(y_true.size());
}

double BinaryAuc(const std::vector<double>& score, const std::vector<bool>& positive) {
  double n_pos = 0, rank_sum = 0;
  std::vector<double> ranks = AverageRanks(score);
  for (size_t i = 0; i < score.size(); ++i) {
    if (positive[i]) {
      n_pos += 1;
      rank_sum += ranks[i];
    }
  }
  double n_neg = static_cast<double>(score.size()) - n_pos;
  if (n_pos == 0 || n_neg == 0) return kNaN;
  return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg);
}

double BinaryAveragePrecision(const std::vector<double>& score, const std::vector<bool>& positive) {
  std::vector<size_t> order(score.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return score[a] > score[b]; });
  double total_pos = 0;
  for (bool p : positive) total_pos += p;
  if (total_pos == 0) return kNaN;
  double tp = 0, fp = 0, prev_recall = 0, ap = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    positive[order[i]] ? tp += 1 : fp += 1;
    // A threshold ends where the next score differs (distinct thresholds only).
    if (i + 1 < order.size() && score[order[i + 1]] == score[order[i]]) continue;
    double recall = tp / total_pos;
    ap += (recall - prev_recall) * (tp / (tp + fp));
    prev_recall = recall;
  }
  return ap;
}

double AucOvr(const std::vector<double>& y_true, const Matrix& proba, bool weighted) {
  CheckShapes(y_true, proba);
  std::vector<double> scores, weights;
  std::vector<double> col(proba.rows);
  std::vector<bool> pos(proba.rows);
  for (size_t c = 0; c < proba.cols; ++c) {
    double support = 0;
    for (size_t i = 0; i < proba.rows; ++i) {
      col[i] = proba.At(i, c);
      pos[i] = static_cast<size_t>(y_true[i]) == c;
      support += pos[i];
    }
    double auc = BinaryAuc(col, pos);
    if (std::isnan(auc)) continue;
    scores.push_back(auc);
    weights.push_back(support);
  }
  if (scores.empty()) return kNaN;
  return Average(scores, weights, weighted);
}

double AveragePrecisionOvr(const std::vector<double>& y_true, const Matrix& proba, bool weighted) {
  CheckShapes(y_true, proba);
  std::vector<double> scores, weights;
  std::vector<double> col(proba.rows);
  std::vector<bool> pos(proba.rows);
  for (size_t c = 0; c < proba.cols; ++c) {
    double support = 0;
    for (size_t i = 0; i < proba.rows; ++i) {
      col[i] = proba.At(i, c);
      pos[i] = static_cast<size_t>(y_true[i]) == c;
      support += pos[i];
    }
    if (support == 0) continue;
    scores.push_back(BinaryAveragePrecision(col, pos));
    weights.push_back(support);
  }
  if (scores.empty()) return kNaN;
  return Average(scores, weights, weighted);
}

double LogLoss(const std::vector<double>& y_true, const Matrix& proba) {
  CheckShapes(y_true, proba);
  double sum = 0;
  for (size_t i = 0; i < proba.rows; ++i) {
    double p = proba.At(i, static_cast<size_t>(y_true[i]));
    p = std::clamp(p, DBL_EPSILON, 1.0 - DBL_EPSILON);
    sum -= std::log(p);
  }
  return sum / static_cast<double>(proba.rows);
}

Scores ClassificationScores(const std::vector<double>& y_true, const Matrix& proba) {
  CheckShapes(y_true, proba);
  const size_t C = proba.cols;
  std::vector<int> y_pred = ArgmaxRows(proba);
  PerClass pc = Confusion(y_true, y_pred, C);
  std::vector<double> precision(C), recall(C), f1(C);
  double present = 0, recall_present = 0;
  for (size_t c = 0; c < C; ++c) {
    precision[c] = Div(pc.tp[c], pc.pred[c]);
    recall[c] = Div(pc.tp[c], pc.support[c]);
    f1[c] = Div(2 * pc.tp[c], pc.pred[c] + pc.support[c]);
    if (pc.support[c] > 0) {
      present += 1;
      recall_present += recall[c];
    }
  }
  Scores s;
  s["accuracy"] = Accuracy(y_true, y_pred);
  s["AUC_weighted"] = AucOvr(y_true, proba, true);
  s["AUC_macro"] = AucOvr(y_true, proba, false);
  s["average_precision_score_weighted"] = AveragePrecisionOvr(y_true, proba, true);
  s["average_precision_score_macro"] = AveragePrecisionOvr(y_true, proba, false);
  s["precision_score_weighted"] = Average(precision, pc.support, true);
  s["precision_score_macro"] = Average(precision, pc.support, false);
  s["recall_score_weighted"] = Average(recall, pc.support, true);
  s["recall_score_macro"] = Average(recall, pc.support, false);
  s["f1_score_weighted"] = Average(f1, pc.support, true);
  s["f1_score_macro"] = Average(f1, pc.support, false);
  const double chance = 1.0 / static_cast<double>(C);
  s["norm_macro_recall"] = std::max(0.0, (s["recall_score_macro"] - chance) / (1.0 - chance));
  s["balanced_accuracy"] = present == 0 ? kNaN : recall_present / present;
  s["log_loss"] = LogLoss(y_true, proba);
  return s;
}

double SpearmanCorrelation(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> ra = AverageRanks(a), rb = AverageRanks(b);
  const double n = static_cast<double>(a.size());
  double ma = std::accumulate(ra.begin(), ra.end(), 0.0) / n;
  double mb = std::accumulate(rb.begin(), rb.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < ra.size(); ++i) {
    sab += (ra[i] - ma) * (rb[i] - mb);
    saa += (ra[i] - ma) * (ra[i] - ma);
    sbb += (rb[i] - mb) * (rb[i] - mb);
  }
  if (saa == 0 || sbb == 0) return kNaN;
  return sab / std::sqrt(saa * sbb);
}

Scores RegressionScores(const std::vector<double>& y_true, const std::vector<double>& y_pred,
                        double y_range) {
  if (y_true.size() != y_pred.size() || y_true.empty()) {
    throw InvalidInput("metrics: y_true (" + std::to_string(y_true.size()) + ") and y_pred (" +
                       std::to_string(y_pred.size()) + ") must have the same, non-zero length");
  }
  const double n = static_cast<double>(y_true.size());
  double mean = std::accumulate(y_true.begin(), y_true.end(), 0.0) / n;
  double ss_res = 0, ss_tot = 0, abs_err = 0, err_sum = 0;
  for (size_t i = 0; i < y_true.size(); ++i) {
    double e = y_true[i] - y_pred[i];
    ss_res += e * e;
    ss_tot += (y_true[i] - mean) * (y_true[i] - mean);
    abs_err += std::fabs(e);
    err_sum += e;
  }
  double err_mean = err_sum / n, ss_err_centered = 0;
  for (size_t i = 0; i < y_true.size(); ++i) {
    double e = y_true[i] - y_pred[i] - err_mean;
    ss_err_centered += e * e;
  }
  if (y_range <= 0) {
    auto [lo, hi] = std::minmax_element(y_true.begin(), y_true.end());
    y_range = *hi - *lo;
  }
  Scores s;
  // scikit-learn's force_finite: a constant y_true scores 1 when predicted exactly, else 0.
  s["r2_score"] = ss_tot == 0 ? (ss_res == 0 ? 1.0 : 0.0) : 1.0 - ss_res / ss_tot;
  s["explained_variance"] =
      ss_tot == 0 ? (ss_err_centered == 0 ? 1.0 : 0.0) : 1.0 - ss_err_centered / ss_tot;
  s["root_mean_squared_error"] = std::sqrt(ss_res / n);
  s["mean_absolute_error"] = abs_err / n;
  s["normalized_root_mean_squared_error"] =
      y_range > 0 ? s["root_mean_squared_error"] / y_range : kNaN;
  s["normalized_mean_absolute_error"] = y_range > 0 ? s["mean_absolute_error"] / y_range : kNaN;
  s["spearman_correlation"] = SpearmanCorrelation(y_true, y_pred);
  return s;
}

const std::vector<std::string>& PrimaryMetrics(Task task) {
  static const std::vector<std::string> kClassification = {
      "accuracy", "AUC_weighted", "norm_macro_recall", "average_precision_score_weighted",
      "precision_score_weighted"};
  static const std::vector<std::string> kRegression = {
      "spearman_correlation", "normalized_root_mean_squared_error", "r2_score",
      "normalized_mean_absolute_error"};
  return task == Task::kClassification ? kClassification : kRegression;
}

bool IsKnownMetric(Task task, const std::string& name) {
  static const std::vector<std::string> kClassification = {"accuracy",
                                                           "AUC_weighted",
                                                           "AUC_macro",
                                                           "average_precision_score_weighted",
                                                           "average_precision_score_macro",
                                                           "precision_score_weighted",
                                                           "precision_score_macro",
                                                           "recall_score_weighted",
                                                           "recall_score_macro",
                                                           "f1_score_weighted",
                                                           "f1_score_macro",
                                                           "norm_macro_recall",
                                                           "balanced_accuracy",
                                                           "log_loss"};
  static const std::vector<std::string> kRegression = {"r2_score",
                                                       "explained_variance",
                                                       "root_mean_squared_error",
                                                       "mean_absolute_error",
                                                       "normalized_root_mean_squared_error",
                                                       "normalized_mean_absolute_error",
                                                       "spearman_correlation"};
  const auto& v = task == Task::kClassification ? kClassification : kRegression;
  return std::find(v.begin(), v.end(), name) != v.end();
}

bool HigherIsBetter(const std::string& name) {
  return !(name == "log_loss" || name.find("error") != std::string::npos);
}

}  // namespace trainyard::automl
