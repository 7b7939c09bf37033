#include <libsvm/svm.h>
#include <xgboost/c_api.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <numeric>
#include <random>

#include "automl/other_learners.h"
#include "common/error.h"

namespace trainyard::automl {

namespace {

void Quiet(const char*) {}

// ---- SVM (libsvm) -------------------------------------------------------------------------

// Platt's sigmoid fit P(+1 | f) = 1 / (1 + exp(A f + B)) by Newton's method with a line search
// on the smoothed targets (Lin, Lin & Weng 2007, "A note on Platt's probabilistic outputs"),
// libsvm's sigmoid_train (BSD), which libsvm does not export. labels: > 0 positive.
void SigmoidTrain(const std::vector<double>& f, const std::vector<double>& labels, double& A,
                  double& B) {
  double prior1 = 0, prior0 = 0;
  for (double l : labels) (l > 0 ? prior1 : prior0) += 1;
  const double hi = (prior1 + 1.0) / (prior1 + 2.0), lo = 1 / (prior0 + 2.0);
  std::vector<double> t(labels.size());
  for (size_t i = 0; i < t.size(); ++i) t[i] = labels[i] > 0 ? hi : lo;
  auto objective = [&](double a, double b) {
    double v = 0;
    for (size_t i = 0; i < f.size(); ++i) {
      double z = f[i] * a + b;
      v += z >= 0 ? t[i] * z + std::log1p(std::exp(-z)) : (t[i] - 1) * z + std::log1p(std::exp(z));
    }
    return v;
  };
  A = 0.0;
  B = std::log((prior0 + 1.0) / (prior1 + 1.0));
  double fval = objective(A, B);
  for (int iter = 0; iter < 100; ++iter) {
    double h11 = 1e-12, h22 = 1e-12, h21 = 0, g1 = 0, g2 = 0;
    for (size_t i = 0; i < f.size(); ++i) {
      double z = f[i] * A + B;
      double p = z >= 0 ? std::exp(-z) / (1.0 + std::exp(-z)) : 1.0 / (1.0 + std::exp(z));
      double q = 1 - p;
      double d2 = p * q;
      h11 += f[i] * f[i] * d2;
      h22 += d2;
      h21 += f[i] * d2;
      double d1 = t[i] - p;
      g1 += f[i] * d1;
      g2 += d1;
    }
    if (std::fabs(g1) < 1e-5 && std::fabs(g2) < 1e-5) break;
    double det = h11 * h22 - h21 * h21;
    double dA = -(h22 * g1 - h21 * g2) / det, dB = -(-h21 * g1 + h11 * g2) / det;
    double gd = g1 * dA + g2 * dB;
    double step = 1;
    while (step >= 1e-10) {
      double na = A + step * dA, nb = B + step * dB, nf = objective(na, nb);
      if (nf < fval + 1e-4 * step * gd) {
        A = na;
        B = nb;
        fval = nf;
        break;
      }
      step /= 2;
    }
    if (step < 1e-10) break;
  }
}

// C-SVC / epsilon-SVR with an RBF kernel. The fitted libsvm model is copied into vectors this
// class owns (support vectors stored densely); a svm_model view over them is rebuilt after
// Fit and Load, so prediction calls libsvm itself (pairwise-coupled Platt probabilities).
//
// Probabilities: libsvm's own probability=1 refits every class pair 5 times (its internal
// 5-fold CV, one pair at a time, one thread): on 4,800 rows x 21 that was 4x the cost of the
// model itself. Here the multiclass model is refitted once per fold (every pair at once), with
// 5 folds up to 1,000 rows (libsvm's and scikit-learn's choice), 3 up to 2,000 and 2 beyond,
// the folds and the final model on ctx.threads threads; each pair's sigmoid is fitted on its
// rows' out-of-fold decision values as libsvm does.
class Svm : public Learner {
 public:
  std::string name() const override { return "SVM"; }

  void Fit(const Matrix& X, const Target& y, const FitContext& ctx) override {
    static std::once_flag quiet;
    std::call_once(quiet, [] { svm_set_print_string_function(&Quiet); });
    n_features_ = X.cols;
    const bool cls = task_ == Task::kClassification;
    n_outputs_ = cls ? y.NumClasses() : 1;
    // gamma 'scale' = 1 / (n_features * X.var()), scikit-learn's default.
    double mean = 0, var = 0;
    for (double v : X.data) mean += v;
    mean /= static_cast<double>(X.data.size());
    for (double v : X.data) var += (v - mean) * (v - mean);
    var /= static_cast<double>(X.data.size());
    double gamma = params_.Num("gamma", 0);
    if (gamma <= 0) gamma = var > 0 ? 1.0 / (static_cast<double>(X.cols) * var) : 1.0;
    svm_parameter p{};
    p.svm_type = cls ? C_SVC : EPSILON_SVR;
    p.kernel_type = RBF;
    p.gamma = gamma;
    p.cache_size = 200;
    p.eps = params_.Num("tol", 1e-3);
    p.C = params_.Num("C", 1.0);
    p.p = params_.Num("epsilon", 0.1);
    p.shrinking = 1;
    p.probability = 0;
    std::vector<svm_node> nodes;
    std::vector<size_t> starts;
    for (size_t i = 0; i < X.rows; ++i) {
      starts.push_back(nodes.size());
      for (size_t j = 0; j < X.cols; ++j) {
        if (X.At(i, j) != 0) nodes.push_back({static_cast<int>(j) + 1, X.At(i, j)});
      }
      nodes.push_back({-1, 0});
    }
    auto row = [&](size_t i) { return nodes.data() + starts[i]; };
    // Trains on the rows `idx`; the caller frees the model.
    auto train = [&](const std::vector<size_t>& idx) {
      std::vector<svm_node*> rows(idx.size());
      std::vector<double> labels(idx.size());
      for (size_t k = 0; k < idx.size(); ++k) {
        rows[k] = row(idx[k]);
        labels[k] = y.y[idx[k]];
      }
      svm_problem prob{static_cast<int>(idx.size()), labels.data(), rows.data()};
      if (const char* err = svm_check_parameter(&prob, &p))
        throw InvalidInput("SVM: " + std::string(err));
      svm_model* m = svm_train(&prob, &p);
      if (!m) throw InternalError("SVM: libsvm returned no model");
      return m;
    };
    std::vector<size_t> all(X.rows);
    std::iota(all.begin(), all.end(), 0);
    const size_t C = n_outputs_;
    std::vector<int> seen(C, 0);
    if (cls) {
      for (double v : y.y) seen[static_cast<size_t>(v)] = 1;
    }
    const bool calibrate = cls && std::count(seen.begin(), seen.end(), 1) > 1;
    const size_t folds = !calibrate ? 0 : X.rows <= 1000 ? 5 : X.rows <= 2000 ? 3 : 2;
    // Stratified folds: each class's rows, shuffled, dealt round-robin.
    std::vector<size_t> fold_of(X.rows, 0);
    if (folds > 0) {
      std::mt19937_64 rng(ctx.seed * 2654435761ULL + 99);
      std::vector<std::vector<size_t>> by_class(C);
      for (size_t i = 0; i < X.rows; ++i) by_class[static_cast<size_t>(y.y[i])].push_back(i);
      size_t next = 0;
      for (auto& rows : by_class) {
        std::shuffle(rows.begin(), rows.end(), rng);
        for (size_t i : rows) fold_of[i] = next++ % folds;
      }
    }
    // Out-of-fold decision values per class pair (a < b, positive = class a), with +1/-1 labels.
    auto pair_index = [C](size_t a, size_t b) { return a * C - a * (a + 1) / 2 + (b - a - 1); };
    std::vector<std::vector<double>> pair_f(folds + 1), pair_l(folds + 1);
    std::vector<std::vector<size_t>> pair_of(folds + 1);
    svm_model* full = nullptr;
    std::vector<svm_model*> fold_models(folds, nullptr);
    try {
      ParallelFor(folds + 1, ctx.threads, [&](size_t job) {
        if (ctx.Cancelled()) throw Cancelled();
        if (job == 0) {
          full = train(all);
          return;
        }
        const size_t f = job - 1;
        std::vector<size_t> tr, va;
        for (size_t i = 0; i < X.rows; ++i) (fold_of[i] == f ? va : tr).push_back(i);
        svm_model* m = fold_models[f] = train(tr);
        std::vector<int> pos(C, -1);
        for (int k = 0; k < m->nr_class; ++k) pos[static_cast<size_t>(m->label[k])] = k;
        const size_t nr = static_cast<size_t>(m->nr_class);
        std::vector<double> dec(std::max<size_t>(1, nr * (nr - 1) / 2));
        for (size_t i : va) {
          if (nr < 2) break;  // one class in this fold's training rows: no pair to score
          const size_t c = static_cast<size_t>(y.y[i]);
          if (pos[c] < 0) continue;
          svm_predict_values(m, row(i), dec.data());
          for (size_t d = 0; d < C; ++d) {
            if (d == c || pos[d] < 0) continue;
            size_t pc = static_cast<size_t>(pos[c]), pd = static_cast<size_t>(pos[d]);
            // libsvm's pair (p < q) in its label order, positive = label[p].
            size_t lo = std::min(pc, pd), hi = std::max(pc, pd);
            double v = dec[lo * nr - lo * (lo + 1) / 2 + (hi - lo - 1)];
            if (pc > pd) v = -v;  // now positive = class c
            size_t a = std::min(c, d), b = std::max(c, d);
            pair_of[job].push_back(pair_index(a, b));
            pair_f[job].push_back(c == a ? v : -v);  // positive = class a
            pair_l[job].push_back(c == a ? 1.0 : -1.0);
          }
        }
      });
    } catch (...) {
      for (auto*& m : fold_models) svm_free_and_destroy_model(&m);
      if (full) svm_free_and_destroy_model(&full);
      throw;
    }
    for (auto*& m : fold_models) svm_free_and_destroy_model(&m);
    svm_model* m = full;
    param_ = m->param;
    nr_class_ = m->nr_class;
    l_ = m->l;
    const size_t pairs = static_cast<size_t>(nr_class_ * (nr_class_ - 1) / 2);
    sv_.assign(static_cast<size_t>(l_) * n_features_, 0.0);
    for (int s = 0; s < l_; ++s) {
      for (const svm_node* n = m->SV[s]; n->index != -1; ++n) {
        sv_[static_cast<size_t>(s) * n_features_ + static_cast<size_t>(n->index - 1)] = n->value;
      }
    }
    coef_.clear();
    for (int k = 0; k < nr_class_ - 1; ++k)
      coef_.insert(coef_.end(), m->sv_coef[k], m->sv_coef[k] + l_);
    rho_.assign(m->rho, m->rho + pairs);
    label_.clear();
    n_sv_.clear();
    if (m->label) label_.assign(m->label, m->label + nr_class_);
    if (m->nSV) n_sv_.assign(m->nSV, m->nSV + nr_class_);
    svm_free_and_destroy_model(&m);
    prob_a_.clear();
    prob_b_.clear();
    if (calibrate) {
      // The final model's pair k = (label_[i], label_[j]), i < j, positive = label_[i].
      for (int i = 0; i < nr_class_; ++i) {
        for (int j = i + 1; j < nr_class_; ++j) {
          size_t ci = static_cast<size_t>(label_[static_cast<size_t>(i)]);
          size_t cj = static_cast<size_t>(label_[static_cast<size_t>(j)]);
          size_t want = pair_index(std::min(ci, cj), std::max(ci, cj));
          const double sign = ci < cj ? 1.0 : -1.0;
          std::vector<double> f, l;
          for (size_t job = 1; job <= folds; ++job) {
            for (size_t k = 0; k < pair_of[job].size(); ++k) {
              if (pair_of[job][k] != want) continue;
              f.push_back(sign * pair_f[job][k]);
              l.push_back(sign * pair_l[job][k]);
            }
          }
          double A = 0, B = 0;
          SigmoidTrain(f, l, A, B);
          prob_a_.push_back(A);
          prob_b_.push_back(B);
        }
      }
    }
    BuildView();
  }

  Matrix Predict(const Matrix& X) const override {
    CheckPredictInput(X);
    Matrix out(X.rows, n_outputs_);
    std::vector<svm_node> x(n_features_ + 1);
    std::vector<double> est(static_cast<size_t>(std::max(nr_class_, 2)));
    for (size_t i = 0; i < X.rows; ++i) {
      size_t k = 0;
      for (size_t j = 0; j < n_features_; ++j) {
        if (X.At(i, j) != 0) x[k++] = {static_cast<int>(j) + 1, X.At(i, j)};
      }
      x[k] = {-1, 0};
      if (task_ == Task::kRegression) {
        out.At(i, 0) = svm_predict(&view_, x.data());
        continue;
      }
      if (nr_class_ == 1) {  // one class seen in training
        out.At(i, static_cast<size_t>(label_[0])) = 1.0;
        continue;
      }
      svm_predict_probability(&view_, x.data(), est.data());
      for (int c = 0; c < nr_class_; ++c) out.At(i, static_cast<size_t>(label_[c])) = est[c];
    }
    return out;
  }

  void SaveState(ByteWriter& w) const override {
    SaveShape(w);
    w.U64(static_cast<uint64_t>(param_.svm_type));
    w.F64(param_.gamma);
    w.I64(nr_class_);
    w.I64(l_);
    w.Doubles(sv_);
    w.Doubles(coef_);
    w.Doubles(rho_);
    w.Doubles(prob_a_);
    w.Doubles(prob_b_);
    std::vector<int32_t> label(label_.begin(), label_.end()), nsv(n_sv_.begin(), n_sv_.end());
    w.Ints(label);
    w.Ints(nsv);
  }

  void LoadState(ByteReader& r) override {
    LoadShape(r);
    param_ = svm_parameter{};
    param_.svm_type = static_cast<int>(r.U64());
    param_.kernel_type = RBF;
    param_.gamma = r.F64();
    nr_class_ = static_cast<int>(r.I64());
    l_ = static_cast<int>(r.I64());
    sv_ = r.Doubles();
    coef_ = r.Doubles();
    rho_ = r.Doubles();
    prob_a_ = r.Doubles();
    prob_b_ = r.Doubles();
    auto label = r.Ints(), nsv = r.Ints();
    label_.assign(label.begin(), label.end());
    n_sv_.assign(nsv.begin(), nsv.end());
    const size_t pairs = static_cast<size_t>(std::max(nr_class_, 1) * (nr_class_ - 1) / 2);
    const bool cls = task_ == Task::kClassification;
    if ((param_.svm_type != C_SVC && param_.svm_type != EPSILON_SVR) || nr_class_ < 1 || l_ < 0 ||
        sv_.size() != static_cast<size_t>(l_) * n_features_ ||
        coef_.size() != static_cast<size_t>(std::max(nr_class_ - 1, 0)) * static_cast<size_t>(l_) ||
        rho_.size() != pairs ||
        (cls && (label_.size() != static_cast<size_t>(nr_class_) || n_sv_.size() != label_.size() ||
                 (nr_class_ > 1 && prob_a_.size() != pairs)))) {
      r.Fail("SVM model");
    }
    for (int c : label_) {
      if (c < 0 || c >= static_cast<int>(n_outputs_)) r.Fail("SVM labels");
    }
    // libsvm indexes each class's coefficients by the running sum of nSV.
    long total = 0;
    for (int k : n_sv_) {
      if (k < 0) r.Fail("SVM support vector counts");
      total += k;
    }
    if (cls && total != l_) r.Fail("SVM support vector counts");
    BuildView();
  }

 private:
  // Points a svm_model at the owned arrays (sparse SV nodes rebuilt from the dense copy).
  void BuildView() {
    sv_nodes_.clear();
    std::vector<size_t> starts;
    for (int s = 0; s < l_; ++s) {
      starts.push_back(sv_nodes_.size());
      for (size_t j = 0; j < n_features_; ++j) {
        double v = sv_[static_cast<size_t>(s) * n_features_ + j];
        if (v != 0) sv_nodes_.push_back({static_cast<int>(j) + 1, v});
      }
      sv_nodes_.push_back({-1, 0});
    }
    sv_ptrs_.resize(static_cast<size_t>(l_));
    for (int s = 0; s < l_; ++s)
      sv_ptrs_[static_cast<size_t>(s)] = sv_nodes_.data() + starts[static_cast<size_t>(s)];
    coef_ptrs_.clear();
    for (int k = 0; k < nr_class_ - 1; ++k)
      coef_ptrs_.push_back(coef_.data() + static_cast<size_t>(k) * static_cast<size_t>(l_));
    view_ = svm_model{};
    view_.param = param_;
    view_.param.kernel_type = RBF;
    view_.nr_class = nr_class_;
    view_.l = l_;
    view_.SV = sv_ptrs_.data();
    view_.sv_coef = coef_ptrs_.data();
    view_.rho = rho_.data();
    view_.probA = prob_a_.empty() ? nullptr : prob_a_.data();
    view_.probB = prob_b_.empty() ? nullptr : prob_b_.data();
    view_.label = label_.empty() ? nullptr : label_.data();
    view_.nSV = n_sv_.empty() ? nullptr : n_sv_.data();
    view_.free_sv = 0;
  }

  svm_parameter param_{};
  int nr_class_ = 0, l_ = 0;
  std::vector<double> sv_, coef_, rho_, prob_a_, prob_b_;
  std::vector<int> label_, n_sv_;
  std::vector<svm_node> sv_nodes_;
  std::vector<svm_node*> sv_ptrs_;
  std::vector<double*> coef_ptrs_;
  svm_model view_{};
};

// ---- XGBoost ------------------------------------------------------------------------------

void XgbCheck(int rc, const char* what) {
  if (rc != 0) throw InternalError(std::string("XGBoost ") + what + ": " + XGBGetLastError());
}

class DMatrix {
 public:
  DMatrix(const Matrix& X, const std::vector<double>* y) {
    std::vector<float> data(X.data.begin(), X.data.end());
    XgbCheck(XGDMatrixCreateFromMat(data.data(), X.rows, X.cols, NAN, &h_), "DMatrix");
    if (y) {
      std::vector<float> label(y->begin(), y->end());
      XgbCheck(XGDMatrixSetFloatInfo(h_, "label", label.data(), label.size()), "labels");
    }
  }
  ~DMatrix() { XGDMatrixFree(h_); }
  DMatrix(const DMatrix&) = delete;
  DMatrix& operator=(const DMatrix&) = delete;
  DMatrixHandle get() const { return h_; }

 private:
  DMatrixHandle h_ = nullptr;
};

class Xgboost : public Learner {
 public:
  ~Xgboost() override { Free(); }
  std::string name() const override {
    return task_ == Task::kClassification ? "XGBoostClassifier" : "XGBoostRegressor";
  }

  void Fit(const Matrix& X, const Target& y, const FitContext& ctx) override {
    n_features_ = X.cols;
    const bool cls = task_ == Task::kClassification;
    n_outputs_ = cls ? y.NumClasses() : 1;
    DMatrix train(X, &y.y);
    Free();
    DMatrixHandle dm = train.get();
    XgbCheck(XGBoosterCreate(&dm, 1, &booster_), "create");
    auto set = [&](const char* k, const std::string& v) {
      XgbCheck(XGBoosterSetParam(booster_, k, v.c_str()), k);
    };
    if (!cls)
      set("objective", "reg:squarederror");
    else if (n_outputs_ == 2)
      set("objective", "binary:logistic");
    else {
      set("objective", "multi:softprob");
      set("num_class", std::to_string(n_outputs_));
    }
    set("tree_method", "hist");
    // XGBoost's OpenMP barriers spin: on a loaded machine two threads on small data ran 50x
    // slower than one (18 s vs 0.34 s, 600 x 8 rows). Threads pay off only on large inputs;
    // AutoML parallelizes across iterations instead.
    const bool large = X.rows * X.cols >= (size_t{1} << 21);
    set("nthread", std::to_string(large ? std::max<size_t>(1, ctx.threads) : 1));
    set("seed", std::to_string(ctx.seed));
    set("verbosity", "0");
    auto num = [&](const char* xgb_name, const char* param, double def) {
      double v = params_.Num(param, def);
      // XGBoost parses integer parameters strictly ("6", not "6.000000").
      bool integral = v == std::floor(v) && std::fabs(v) < 1e15;
      set(xgb_name, integral ? std::to_string(static_cast<long long>(v)) : std::to_string(v));
    };
    num("max_depth", "max_depth", 6);
    num("eta", "learning_rate", 0.3);
    num("subsample", "subsample", 1.0);
    num("colsample_bytree", "colsample_bytree", 1.0);
    num("lambda", "reg_lambda", 1.0);
    num("alpha", "reg_alpha", 0.0);
    num("min_child_weight", "min_child_weight", 1.0);
    num("gamma", "gamma", 0.0);
    num("max_bin", "max_bin", 256);
    const int rounds = static_cast<int>(std::max(1.0, params_.Num("n_estimators", 100)));
    for (int it = 0; it < rounds; ++it) {
      if (ctx.Cancelled()) throw Cancelled();
      XgbCheck(XGBoosterUpdateOneIter(booster_, it, train.get()), "update");
    }
  }

  Matrix Predict(const Matrix& X) const override {
    CheckPredictInput(X);
    const std::vector<float> res = Run(X, 0);
    Matrix out(X.rows, n_outputs_);
    for (size_t i = 0; i < X.rows; ++i) {
      if (task_ == Task::kRegression) {
        out.At(i, 0) = res[i];
      } else if (n_outputs_ == 2) {
        out.At(i, 1) = res[i];
        out.At(i, 0) = 1.0 - res[i];
      } else {
        // float32 probabilities: renormalized in double so rows sum to 1.
        double sum = 0;
        for (size_t c = 0; c < n_outputs_; ++c) sum += (out.At(i, c) = res[i * n_outputs_ + c]);
        for (size_t c = 0; c < n_outputs_; ++c) out.At(i, c) /= sum;
      }
    }
    return out;
  }

  // XGBoost's own exact TreeSHAP (pred_contribs) in margin space: per margin, rows x
  // (features + 1), the last column the expected value.
  bool has_native_shap() const override { return true; }
  std::vector<Matrix> NativeShap(const Matrix& X) const override {
    CheckPredictInput(X);
    const std::vector<float> res = Run(X, 2);
    const size_t groups = task_ == Task::kClassification && n_outputs_ > 2 ? n_outputs_ : 1;
    const size_t w = n_features_ + 1;
    std::vector<Matrix> out(groups, Matrix(X.rows, w));
    for (size_t i = 0; i < X.rows; ++i) {
      for (size_t g = 0; g < groups; ++g) {
        for (size_t j = 0; j < w; ++j) out[g].At(i, j) = res[(i * groups + g) * w + j];
      }
    }
    return out;
  }

  void SaveState(ByteWriter& w) const override {
    SaveShape(w);
    std::lock_guard<std::mutex> lock(mu_);
    bst_ulong len = 0;
    const char* buf = nullptr;
    XgbCheck(XGBoosterSaveModelToBuffer(booster_, R"({"format": "ubj"})", &len, &buf), "save");
    w.Str(std::string_view(buf, len));
  }

  void LoadState(ByteReader& r) override {
    LoadShape(r);
    std::string buf = r.Str();
    Free();
    XgbCheck(XGBoosterCreate(nullptr, 0, &booster_), "create");
    if (XGBoosterLoadModelFromBuffer(booster_, buf.data(), buf.size()) != 0) {
      r.Fail(std::string("XGBoost booster: ") + XGBGetLastError());
    }
  }

 private:
  // type 0: predictions, 2: contributions. XGBoost's result buffer belongs to the booster and
  // is overwritten by its next call: the mutex serializes the calls and the result is copied
  // out under it, so concurrent predictions (the permutation explainer's threads) are safe.
  std::vector<float> Run(const Matrix& X, int type) const {
    std::lock_guard<std::mutex> lock(mu_);
    DMatrix dm(X, nullptr);
    std::string config = R"({"type": )" + std::to_string(type) +
                         R"(, "training": false, "iteration_begin": 0, "iteration_end": 0, )"
                         R"("strict_shape": false})";
    const bst_ulong* shape = nullptr;
    bst_ulong dim = 0;
    const float* res = nullptr;
    XgbCheck(XGBoosterPredictFromDMatrix(booster_, dm.get(), config.c_str(), &shape, &dim, &res),
             "predict");
    bst_ulong n = 1;
    for (bst_ulong d = 0; d < dim; ++d) n *= shape[d];
    return std::vector<float>(res, res + n);
  }
  void Free() {
    if (booster_) XGBoosterFree(booster_);
    booster_ = nullptr;
  }

  BoosterHandle booster_ = nullptr;
  mutable std::mutex mu_;
};

}  // namespace

std::unique_ptr<Learner> MakeSvm() { return std::make_unique<Svm>(); }
std::unique_ptr<Learner> MakeXgboost() { return std::make_unique<Xgboost>(); }

std::vector<ParamSpec> SvmParamSpecs() {
  // gamma 0 = scikit-learn's 'scale' (the default); searched values are log-uniform.
  return {ParamSpec::Float("C", 1e-2, 1e3, 1.0, true), ParamSpec::Float("gamma", 1e-4, 10, 0, true),
          ParamSpec::Float("tol", 1e-5, 1e-1, 1e-3, true),
          ParamSpec::Float("epsilon", 1e-3, 1, 0.1, true)};
}
std::vector<ParamSpec> XgboostParamSpecs() {
  return {ParamSpec::Int("n_estimators", 4, 1000, 100, true),
          ParamSpec::Int("max_depth", 1, 12, 6, false),
          ParamSpec::Float("learning_rate", 0.01, 1.0, 0.3, true),
          ParamSpec::Float("subsample", 0.3, 1.0, 1.0, false),
          ParamSpec::Float("colsample_bytree", 0.3, 1.0, 1.0, false),
          ParamSpec::Float("reg_lambda", 1e-3, 100, 1.0, true),
          ParamSpec::Float("reg_alpha", 0, 10, 0.0, false),
          ParamSpec::Float("min_child_weight", 0.01, 20, 1.0, true),
          ParamSpec::Float("gamma", 0, 10, 0.0, false),
          ParamSpec::Int("max_bin", 16, 256, 256, false)};
}

}  // namespace trainyard::automl
