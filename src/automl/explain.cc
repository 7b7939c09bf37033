#include "automl/explain.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <thread>

#include "automl/learner.h"
#include "automl/linear.h"
#include "automl/pipeline.h"
#include "common/error.h"

namespace trainyard::automl {

namespace {

// ---- TreeSHAP (path-dependent), after Lundberg's reference implementation --------------

struct PathElement {
  int feature = -1;
  double zero_fraction = 0, one_fraction = 0, pweight = 0;
};

void ExtendPath(PathElement* path, unsigned depth, double zero_fraction, double one_fraction,
                int feature) {
  path[depth] = {feature, zero_fraction, one_fraction, depth == 0 ? 1.0 : 0.0};
  for (int i = static_cast<int>(depth) - 1; i >= 0; --i) {
    path[i + 1].pweight += one_fraction * path[i].pweight * (i + 1) / (depth + 1.0);
    path[i].pweight = zero_fraction * path[i].pweight * (depth - i) / (depth + 1.0);
  }
}

void UnwindPath(PathElement* path, unsigned depth, unsigned index) {
  const double one = path[index].one_fraction, zero = path[index].zero_fraction;
  double next = path[depth].pweight;
  for (int i = static_cast<int>(depth) - 1; i >= 0; --i) {
    if (one != 0) {
      const double tmp = path[i].pweight;
      path[i].pweight = next * (depth + 1.0) / ((i + 1) * one);
      next = tmp - path[i].pweight * zero * (depth - i) / (depth + 1.0);
    } else {
      path[i].pweight = path[i].pweight * (depth + 1.0) / (zero * (depth - i));
    }
  }
  for (unsigned i = index; i < depth; ++i) {
    path[i].feature = path[i + 1].feature;
    path[i].zero_fraction = path[i + 1].zero_fraction;
    path[i].one_fraction = path[i + 1].one_fraction;
  }
}

double UnwoundPathSum(const PathElement* path, unsigned depth, unsigned index) {
  const double one = path[index].one_fraction, zero = path[index].zero_fraction;
  double next = path[depth].pweight, total = 0;
  for (int i = static_cast<int>(depth) - 1; i >= 0; --i) {
    if (one != 0) {
      const double tmp = next * (depth + 1.0) / ((i + 1) * one);
      total += tmp;
      next = path[i].pweight - tmp * zero * ((depth - i) / (depth + 1.0));
    } else if (zero != 0) {
      total += (path[i].pweight / zero) / ((depth - i) / (depth + 1.0));
    }
  }
  return total;
}

// phi: cols x n_outputs accumulator for one row.
void Recurse(const Tree& t, const double* x, double* phi, int32_t node, PathElement* parent,
             unsigned depth, double zero_fraction, double one_fraction, int feature) {
  PathElement* path = parent + depth + 1;
  std::copy(parent, parent + depth + 1, path);
  ExtendPath(path, depth, zero_fraction, one_fraction, feature);
  const size_t K = t.n_outputs;
  if (t.feature[node] < 0) {
    const double* v = t.Value(node);
    for (unsigned i = 1; i <= depth; ++i) {
      const double w = UnwoundPathSum(path, depth, i);
      const PathElement& el = path[i];
      const double s = w * (el.one_fraction - el.zero_fraction);
      for (size_t k = 0; k < K; ++k) phi[el.feature * K + k] += s * v[k];
    }
    return;
  }
  const int f = t.feature[node];
  const int32_t hot = x[f] <= t.threshold[node] ? t.left[node] : t.right[node];
  const int32_t cold = hot == t.left[node] ? t.right[node] : t.left[node];
  const double w = t.cover[node];
  const double hot_zero = w > 0 ? t.cover[hot] / w : 0, cold_zero = w > 0 ? t.cover[cold] / w : 0;
  double in_zero = 1, in_one = 1;
  unsigned index = 0;
  for (; index <= depth; ++index) {
    if (path[index].feature == f) break;
  }
  if (index != depth + 1) {
    in_zero = path[index].zero_fraction;
    in_one = path[index].one_fraction;
    UnwindPath(path, depth, index);
    depth -= 1;
  }
  Recurse(t, x, phi, hot, path, depth + 1, hot_zero * in_zero, in_one, f);
  Recurse(t, x, phi, cold, path, depth + 1, cold_zero * in_zero, 0, f);
}

size_t Depth(const Tree& t, int32_t node) {
  if (t.feature[node] < 0) return 0;
  return 1 + std::max(Depth(t, t.left[node]), Depth(t, t.right[node]));
}

// Cover-weighted mean of the leaves under `node`.
void ExpectedValue(const Tree& t, int32_t node, double weight, std::vector<double>& out) {
  if (t.feature[node] < 0) {
    const double* v = t.Value(node);
    for (size_t k = 0; k < t.n_outputs; ++k) out[k] += weight * v[k];
    return;
  }
  const double c = t.cover[node];
  const double wl = c > 0 ? t.cover[t.left[node]] / c : 0.5;
  const double wr = c > 0 ? t.cover[t.right[node]] / c : 0.5;
  ExpectedValue(t, t.left[node], weight * wl, out);
  ExpectedValue(t, t.right[node], weight * wr, out);
}

void CondExpect(const Tree& t, int32_t node, const double* x, const std::vector<bool>& known,
                double weight, std::vector<double>& out) {
  if (t.feature[node] < 0) {
    const double* v = t.Value(node);
    for (size_t k = 0; k < t.n_outputs; ++k) out[k] += weight * v[k];
    return;
  }
  const int f = t.feature[node];
  if (known[f]) {
    CondExpect(t, x[f] <= t.threshold[node] ? t.left[node] : t.right[node], x, known, weight, out);
    return;
  }
  const double c = t.cover[node];
  CondExpect(t, t.left[node], x, known, weight * t.cover[t.left[node]] / c, out);
  CondExpect(t, t.right[node], x, known, weight * t.cover[t.right[node]] / c, out);
}

// Expands Z-space attributions to the raw input columns (featurizer's kept columns).
Matrix ToRaw(const Pipeline& p, const Matrix& z_values) {
  const auto& kept = p.featurizer().kept_columns();
  Matrix out(z_values.rows, p.input_columns());
  for (size_t i = 0; i < z_values.rows; ++i) {
    for (size_t k = 0; k < kept.size(); ++k) out.At(i, kept[k]) = z_values.At(i, k);
  }
  return out;
}

// Binary models explain one margin (class 1); class 0 is its negation.
void ExpandBinary(Explanation& e) {
  Matrix neg = e.values[0];
  for (double& v : neg.data) v = -v;
  std::vector<double> out0 = e.model_output[0];
  for (double& v : out0) v = -v;
  e.values.insert(e.values.begin(), neg);
  e.expected_values.insert(e.expected_values.begin(), -e.expected_values[0]);
  e.model_output.insert(e.model_output.begin(), out0);
}

Explanation ExplainTrees(const Pipeline& p, const Matrix& X) {
  const TreeEnsemble& ens = *p.learner().trees();
  Matrix Z = p.Transform(X);
  Explanation e;
  e.method = "tree";
  std::vector<double> expected;
  std::vector<Matrix> vals = TreeShap(ens, Z, &expected);
  Matrix raw = ens.Raw(Z);
  for (size_t k = 0; k < vals.size(); ++k) {
    e.values.push_back(ToRaw(p, vals[k]));
    e.expected_values.push_back(expected[k]);
    std::vector<double> col(Z.rows);
    for (size_t i = 0; i < Z.rows; ++i) col[i] = raw.At(i, k);
    e.model_output.push_back(col);
  }
  if (p.task() == Task::kRegression) {
    e.output = "value";
  } else if (ens.margin) {
    e.output = "margin";
    if (vals.size() == 1) ExpandBinary(e);
  } else {
    e.output = "probability";
  }
  return e;
}

Explanation ExplainNative(const Pipeline& p, const Matrix& X, std::vector<Matrix> contrib) {
  Explanation e;
  e.method = "tree";
  e.output = p.task() == Task::kRegression ? "value" : "margin";
  const size_t F = contrib[0].cols - 1;
  for (const Matrix& c : contrib) {
    Matrix z(c.rows, F);
    std::vector<double> total(c.rows, 0.0);
    for (size_t i = 0; i < c.rows; ++i) {
      for (size_t j = 0; j <= F; ++j) total[i] += c.At(i, j);
      std::copy_n(c.Row(i), F, z.Row(i));
    }
    e.values.push_back(ToRaw(p, z));
    // XGBoost reports the bias per row; it is the same for every row.
    e.expected_values.push_back(c.rows ? c.At(0, F) : 0.0);
    e.model_output.push_back(total);
  }
  if (p.task() == Task::kClassification && contrib.size() == 1) ExpandBinary(e);
  (void)X;
  return e;
}

Explanation ExplainLinear(const Pipeline& p, const Matrix& X, const Matrix* background) {
  const LinearModel& lm = *p.learner().linear();
  Matrix Z = p.Transform(X);
  std::vector<double> mean = lm.feature_mean;
  if (background) {
    Matrix B = p.Transform(*background);
    std::fill(mean.begin(), mean.end(), 0.0);
    for (size_t i = 0; i < B.rows; ++i) {
      for (size_t j = 0; j < B.cols; ++j) mean[j] += B.At(i, j) / static_cast<double>(B.rows);
    }
  }
  Explanation e;
  e.method = "linear";
  e.output = p.task() == Task::kRegression ? "value" : "margin";
  for (size_t k = 0; k < lm.n_margins; ++k) {
    const double* c = lm.coef.data() + k * lm.n_features;
    Matrix v(Z.rows, Z.cols);
    std::vector<double> out(Z.rows);
    for (size_t i = 0; i < Z.rows; ++i) {
      for (size_t j = 0; j < Z.cols; ++j) v.At(i, j) = c[j] * (Z.At(i, j) - mean[j]);
      out[i] = lm.Margin(k, Z.Row(i));
    }
    e.values.push_back(ToRaw(p, v));
    e.expected_values.push_back(lm.Margin(k, mean.data()));
    e.model_output.push_back(std::move(out));
  }
  if (p.task() == Task::kClassification && lm.n_margins == 1) ExpandBinary(e);
  return e;
}

Explanation ExplainPermutation(const Pipeline& p, const Matrix& X, const Matrix& background,
                               const ExplainOptions& opt) {
  if (background.rows == 0) throw InvalidInput("the permutation explainer needs background rows");
  if (background.cols != X.cols) {
    throw InvalidInput("background has " + std::to_string(background.cols) + " columns, X has " +
                       std::to_string(X.cols));
  }
  std::mt19937_64 rng(opt.seed + 7);
  // Background sample.
  std::vector<size_t> rows(background.rows);
  std::iota(rows.begin(), rows.end(), 0);
  std::shuffle(rows.begin(), rows.end(), rng);
  rows.resize(std::min(rows.size(), std::max<size_t>(1, opt.max_background)));
  Matrix B = SelectRows(background, rows);
  const size_t F = X.cols, nb = B.rows;
  size_t perms = opt.permutations ? opt.permutations : 10;
  perms += perms % 2;  // antithetic pairs
  Matrix base_out = p.PredictRaw(B);
  const size_t K = base_out.cols;
  std::vector<double> expected(K, 0.0);
  for (size_t b = 0; b < nb; ++b) {
    for (size_t k = 0; k < K; ++k) expected[k] += base_out.At(b, k) / static_cast<double>(nb);
  }
  Explanation e;
  e.method = "permutation";
  e.output = p.task() == Task::kRegression ? "value" : "probability";
  e.values.assign(K, Matrix(X.rows, F));
  e.expected_values = expected;
  e.model_output.assign(K, std::vector<double>(X.rows));
  // Rows are explained side by side (each writes only its own row of the result), each with
  // its own random stream: the values do not depend on the number of threads.
  const size_t threads =
      opt.threads ? opt.threads : std::max(1u, std::thread::hardware_concurrency());
  ParallelFor(X.rows, threads, [&](size_t i) {
    std::seed_seq seq{opt.seed + 7, static_cast<uint64_t>(i)};
    std::mt19937_64 row_rng(seq);
    std::vector<size_t> order(F);
    std::iota(order.begin(), order.end(), 0);
    // One batch per permutation: (F + 1) blocks of the background with a growing prefix of
    // the permutation's features set to x.
    Matrix batch((F + 1) * nb, F);
    const double* x = X.Row(i);
    for (size_t q = 0; q < perms; ++q) {
      if (q % 2 == 0)
        std::shuffle(order.begin(), order.end(), row_rng);
      else
        std::reverse(order.begin(), order.end());
      for (size_t s = 0; s <= F; ++s) {
        for (size_t b = 0; b < nb; ++b) {
          double* r = batch.Row(s * nb + b);
          std::copy_n(B.Row(b), F, r);
          for (size_t m = 0; m < s; ++m) r[order[m]] = x[order[m]];
        }
      }
      Matrix out = p.PredictRaw(batch);
      std::vector<double> prev(K), cur(K);
      for (size_t s = 0; s <= F; ++s) {
        std::fill(cur.begin(), cur.end(), 0.0);
        for (size_t b = 0; b < nb; ++b) {
          for (size_t k = 0; k < K; ++k) cur[k] += out.At(s * nb + b, k) / static_cast<double>(nb);
        }
        if (s > 0) {
          for (size_t k = 0; k < K; ++k) {
            e.values[k].At(i, order[s - 1]) += (cur[k] - prev[k]) / static_cast<double>(perms);
          }
        }
        prev = cur;
      }
      // With every feature set, each block row equals x: the model output itself.
      for (size_t k = 0; k < K; ++k) e.model_output[k][i] = cur[k];
    }
  });
  // Exact additivity: the telescoping sums start at the background mean of each batch,
  // which equals `expected` (same background rows).
  return e;
}

}  // namespace

std::vector<double> TreeConditionalExpectation(const Tree& tree, const double* x,
                                               const std::vector<bool>& known) {
  std::vector<double> out(tree.n_outputs, 0.0);
  CondExpect(tree, 0, x, known, 1.0, out);
  return out;
}

std::vector<Matrix> TreeShap(const TreeEnsemble& ens, const Matrix& Z,
                             std::vector<double>* expected) {
  const size_t K = ens.n_outputs, F = Z.cols;
  std::vector<Matrix> out(K, Matrix(Z.rows, F));
  std::vector<double> exp_sum(K, 0.0);
  std::vector<double> phi;
  std::vector<PathElement> path;
  for (size_t t = 0; t < ens.trees.size(); ++t) {
    const Tree& tree = ens.trees[t];
    const size_t TK = tree.n_outputs;
    const size_t d = Depth(tree, 0) + 2;
    path.assign(d * (d + 1) / 2 + d, PathElement{});
    std::vector<double> ev(TK, 0.0);
    ExpectedValue(tree, 0, 1.0, ev);
    for (size_t i = 0; i < Z.rows; ++i) {
      phi.assign(F * TK, 0.0);
      Recurse(tree, Z.Row(i), phi.data(), 0, path.data(), 0, 1, 1, -1);
      for (size_t j = 0; j < F; ++j) {
        for (size_t k = 0; k < TK; ++k) {
          size_t o = ens.tree_output.empty() ? k : static_cast<size_t>(ens.tree_output[t]);
          out[o].At(i, j) += ens.scale * phi[j * TK + k];
        }
      }
    }
    for (size_t k = 0; k < TK; ++k) {
      size_t o = ens.tree_output.empty() ? k : static_cast<size_t>(ens.tree_output[t]);
      exp_sum[o] += ev[k];
    }
  }
  if (expected) {
    expected->assign(K, 0.0);
    for (size_t k = 0; k < K; ++k) (*expected)[k] = ens.base[k] + ens.scale * exp_sum[k];
  }
  return out;
}

ExplanationSummary Summarize(const Explanation& e, const std::vector<std::string>& feature_names,
                             bool per_class) {
  ExplanationSummary out;
  if (e.values.empty()) return out;
  const size_t F = e.values[0].cols;
  std::vector<std::string> names = feature_names;
  if (names.size() != F) {
    names.clear();
    for (size_t j = 0; j < F; ++j) names.push_back(std::to_string(j));
  }
  auto sorted = [&](const std::vector<double>& imp, std::vector<double>& values,
                    std::vector<std::string>& order) {
    std::vector<size_t> idx(F);
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return imp[a] > imp[b]; });
    for (size_t j : idx) {
      values.push_back(imp[j]);
      order.push_back(names[j]);
    }
  };
  std::vector<double> overall(F, 0.0);
  for (const Matrix& v : e.values) {
    std::vector<double> imp(F, 0.0);
    for (size_t i = 0; i < v.rows; ++i) {
      for (size_t j = 0; j < F; ++j) imp[j] += std::fabs(v.At(i, j));
    }
    for (size_t j = 0; j < F; ++j) {
      imp[j] /= static_cast<double>(std::max<size_t>(v.rows, 1));
      overall[j] += imp[j] / static_cast<double>(e.values.size());
    }
    if (per_class) {
      out.per_class_summary.emplace_back();
      out.per_class_imp.emplace_back();
      sorted(imp, out.per_class_summary.back(), out.per_class_imp.back());
    }
  }
  sorted(overall, out.overall_summary, out.overall_imp);
  return out;
}

Explanation Explain(const Pipeline& p, const Matrix& X, const Matrix* background,
                    const ExplainOptions& options) {
  if (X.cols != p.input_columns()) {
    throw InvalidInput("X has " + std::to_string(X.cols) + " columns but the model expects " +
                       std::to_string(p.input_columns()));
  }
  std::string method = options.method;
  if (p.is_ensemble()) {
    if (method != "auto" && method != "permutation") {
      throw InvalidInput("ensembles are explained with the permutation explainer");
    }
    if (!background)
      throw InvalidInput("the permutation explainer needs background data (e.g. X_train)");
    Explanation e = ExplainPermutation(p, X, *background, options);
    e.output_names =
        p.task() == Task::kClassification ? p.class_names() : std::vector<std::string>{"y"};
    return e;
  }
  const bool columnwise = p.scaler().IsColumnwise();
  const Learner& l = p.learner();
  if (method == "auto") {
    if (columnwise && (l.trees() || l.has_native_shap()))
      method = "tree";
    else if (columnwise && l.linear())
      method = "linear";
    else
      method = "permutation";
  }
  Explanation e;
  if (method == "tree") {
    if (!columnwise)
      throw InvalidInput("tree explanations need a per-column scaler (not Normalizer)");
    if (l.trees()) {
      e = ExplainTrees(p, X);
    } else {
      std::vector<Matrix> c = l.NativeShap(p.Transform(X));
      if (c.empty()) throw InvalidInput(l.name() + " is not a tree model; use 'permutation'");
      e = ExplainNative(p, X, std::move(c));
    }
  } else if (method == "linear") {
    if (!l.linear()) throw InvalidInput(l.name() + " is not a linear model; use 'permutation'");
    if (!columnwise)
      throw InvalidInput("linear explanations need a per-column scaler (not Normalizer)");
    e = ExplainLinear(p, X, background);
  } else if (method == "permutation") {
    if (!background)
      throw InvalidInput("the permutation explainer needs background data (e.g. X_train)");
    e = ExplainPermutation(p, X, *background, options);
  } else {
    throw InvalidInput("explanation method '" + method +
                       "' is unknown; use auto, tree, linear or permutation");
  }
  e.output_names =
      p.task() == Task::kClassification ? p.class_names() : std::vector<std::string>{"y"};
  return e;
}

Explanation SumToRawColumns(Explanation e, const TableFeaturizer& f) {
  const std::vector<size_t>& src = f.output_source();
  const size_t R = f.raw_columns().size();
  for (Matrix& v : e.values) {
    if (v.cols != src.size()) {
      throw InternalError("explanation width " + std::to_string(v.cols) +
                          " != " + std::to_string(src.size()) + " engineered features");
    }
    Matrix raw(v.rows, R, 0.0);
    for (size_t i = 0; i < v.rows; ++i) {
      for (size_t j = 0; j < v.cols; ++j) raw.At(i, src[j]) += v.At(i, j);
    }
    v = std::move(raw);
  }
  return e;
}

Explanation ExplainTable(const Pipeline& p, const DataTable& X, const DataTable* background,
                         const ExplainOptions& options) {
  Matrix Z = p.FeaturizeTable(X);
  Matrix B;
  if (background) B = p.FeaturizeTable(*background);
  return SumToRawColumns(Explain(p, Z, background ? &B : nullptr, options), *p.table_featurizer());
}

}  // namespace trainyard::automl
