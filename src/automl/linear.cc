#include "automl/linear.h"

#include <linear.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <numeric>
#include <random>

#include "common/error.h"

namespace trainyard::automl {

double LinearModel::Margin(size_t k, const double* x) const {
  const double* c = coef.data() + k * n_features;
  double m = intercept[k];
  for (size_t j = 0; j < n_features; ++j) m += c[j] * x[j];
  return m;
}

void LinearModel::Save(ByteWriter& w) const {
  w.U64(n_margins);
  w.U64(n_features);
  w.Doubles(coef);
  w.Doubles(intercept);
  w.Doubles(feature_mean);
  w.U8(static_cast<uint8_t>(link));
}

void LinearModel::Load(ByteReader& r) {
  n_margins = r.U64();
  n_features = r.U64();
  coef = r.Doubles();
  intercept = r.Doubles();
  feature_mean = r.Doubles();
  uint8_t l = r.U8();
  if (l > 2 || n_margins == 0 || coef.size() != n_margins * n_features ||
      intercept.size() != n_margins || feature_mean.size() != n_features) {
    r.Fail("linear model");
  }
  link = static_cast<Link>(l);
}

namespace {

double Sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

std::vector<double> ColumnMeans(const Matrix& X) {
  std::vector<double> m(X.cols, 0.0);
  for (size_t i = 0; i < X.rows; ++i) {
    for (size_t j = 0; j < X.cols; ++j) m[j] += X.At(i, j);
  }
  for (auto& v : m) v /= static_cast<double>(std::max<size_t>(X.rows, 1));
  return m;
}

// Base for learners whose fitted state is a LinearModel.
class LinearLearner : public Learner {
 public:
  Matrix Predict(const Matrix& X) const override {
    CheckPredictInput(X);
    Matrix out(X.rows, n_outputs_);
    for (size_t i = 0; i < X.rows; ++i) {
      const double* x = X.Row(i);
      double* o = out.Row(i);
      if (task_ == Task::kRegression) {
        o[0] = lm_.Margin(0, x);
      } else if (lm_.n_margins == 1) {
        o[1] = ProbaOf(lm_.Margin(0, x));
        o[0] = 1 - o[1];
      } else if (lm_.link == LinearModel::Link::kSoftmax) {
        double mx = -INFINITY, sum = 0;
        for (size_t k = 0; k < lm_.n_margins; ++k) mx = std::max(mx, o[k] = lm_.Margin(k, x));
        for (size_t k = 0; k < lm_.n_margins; ++k) sum += (o[k] = std::exp(o[k] - mx));
        for (size_t k = 0; k < lm_.n_margins; ++k) o[k] /= sum;
      } else {
        double sum = 0;
        for (size_t k = 0; k < lm_.n_margins; ++k) sum += (o[k] = ProbaOf(lm_.Margin(k, x)));
        for (size_t k = 0; k < lm_.n_margins; ++k) {
          o[k] = sum > 0 ? o[k] / sum : 1.0 / static_cast<double>(lm_.n_margins);
        }
      }
    }
    return out;
  }
  void SaveState(ByteWriter& w) const override {
    SaveShape(w);
    lm_.Save(w);
  }
  void LoadState(ByteReader& r) override {
    LoadShape(r);
    lm_.Load(r);
    if (lm_.n_features != n_features_) r.Fail("linear model width");
    size_t want = task_ == Task::kRegression ? 1 : (n_outputs_ == 2 ? 1 : n_outputs_);
    if (lm_.n_margins != want) r.Fail("linear model margins");
  }
  const LinearModel* linear() const override { return &lm_; }

 protected:
  // Per-margin probability (before one-vs-rest normalization).
  virtual double ProbaOf(double margin) const { return Sigmoid(margin); }

  void Start(const Matrix& X, const Target& y) {
    n_features_ = X.cols;
    n_outputs_ = task_ == Task::kClassification ? y.NumClasses() : 1;
    lm_ = LinearModel();
    lm_.n_features = X.cols;
    lm_.n_margins = task_ == Task::kRegression ? 1 : (n_outputs_ == 2 ? 1 : n_outputs_);
    lm_.coef.assign(lm_.n_margins * X.cols, 0.0);
    lm_.intercept.assign(lm_.n_margins, 0.0);
    lm_.feature_mean = ColumnMeans(X);
    lm_.link =
        task_ == Task::kRegression ? LinearModel::Link::kIdentity : LinearModel::Link::kLogistic;
  }
  void CheckFinite() const {
    for (double v : lm_.coef) {
      if (!std::isfinite(v)) {
        throw InvalidInput(name() +
                           " diverged (non-finite weights); scale the features (e.g. "
                           "Standardize) or lower the learning rate");
      }
    }
  }

  LinearModel lm_;
};

// ---- liblinear --------------------------------------------------------------------------

void Quiet(const char*) {}

class LiblinearLearner : public LinearLearner {
 public:
  explicit LiblinearLearner(bool svm) : svm_(svm) {}
  std::string name() const override { return svm_ ? "LinearSVM" : "LogisticRegression"; }

  void Fit(const Matrix& X, const Target& y, const FitContext& ctx) override {
    if (task_ != Task::kClassification) throw InvalidInput(name() + " is for classification");
    Start(X, y);
    if (!svm_ && lm_.n_margins > 1) {
      FitMultinomial(X, y, ctx);
      return;
    }
    static std::once_flag quiet;
    std::call_once(quiet, [] { set_print_string_function(&Quiet); });
    const double C = params_.Num("C", 1.0);
    if (!(C > 0)) throw InvalidInput(name() + ": C must be > 0");
    // Sparse rows (zeros skipped) plus the bias feature, as liblinear's train tool builds them.
    std::vector<feature_node> nodes;
    std::vector<size_t> starts;
    nodes.reserve(X.rows * (X.cols + 2));
    const int bias_index = static_cast<int>(X.cols) + 1;
    for (size_t i = 0; i < X.rows; ++i) {
      starts.push_back(nodes.size());
      for (size_t j = 0; j < X.cols; ++j) {
        if (X.At(i, j) != 0) nodes.push_back({static_cast<int>(j) + 1, X.At(i, j)});
      }
      nodes.push_back({bias_index, 1.0});
      nodes.push_back({-1, 0.0});
    }
    std::vector<feature_node*> rows(X.rows);
    for (size_t i = 0; i < X.rows; ++i) rows[i] = nodes.data() + starts[i];
    std::vector<double> labels(y.y);
    problem prob{};
    prob.l = static_cast<int>(X.rows);
    prob.n = bias_index;
    prob.y = labels.data();
    prob.x = rows.data();
    prob.bias = 1.0;
    parameter param{};
    // LinearSVM: scikit-learn's dual='auto' (its default since 1.5) — the primal Newton solver
    // when there are more rows than features, the dual coordinate descent otherwise. The dual
    // on 3,800 x 21 non-separable rows ran into liblinear's 1,000-iteration cap (0.4 s a fit);
    // the primal converges in a few Newton steps.
    param.solver_type = !svm_ ? L2R_LR : (X.rows > X.cols ? L2R_L2LOSS_SVC : L2R_L2LOSS_SVC_DUAL);
    param.eps = params_.Num("tol", svm_ ? 1e-3 : 1e-4);
    param.C = C;
    param.p = 0.1;
    if (const char* err = check_parameter(&prob, &param)) {
      throw InvalidInput(name() + ": " + err);
    }
    (void)ctx;
    model* m = train(&prob, &param);
    if (!m) throw InternalError(name() + ": liblinear returned no model");
    // liblinear orders classes by first appearance; map its weights to class indices. A
    // class missing from this training set (a small fold) gets a margin of -kAbsent: never
    // predicted, probability ~0.
    constexpr double kAbsent = 30.0;
    const int nr_class = m->nr_class;
    const size_t F = X.cols;
    auto weight = [&](size_t j, int k) {  // feature j (F = bias) of liblinear column k
      return m->w[j * static_cast<size_t>(nr_class == 2 ? 1 : nr_class) + static_cast<size_t>(k)];
    };
    auto set_margin = [&](size_t cls, double sign, int k) {
      for (size_t j = 0; j < F; ++j) lm_.coef[cls * F + j] = sign * weight(j, k);
      lm_.intercept[cls] = sign * weight(F, k);
    };
    if (lm_.n_margins == 1) {
      // Two classes, one margin for class 1.
      if (nr_class == 2) {
        set_margin(0, m->label[0] == 1 ? 1.0 : -1.0, 0);  // positive margin means label[0]
      } else {
        lm_.intercept[0] = m->label[0] == 1 ? kAbsent : -kAbsent;  // one class seen
      }
    } else {
      std::fill(lm_.intercept.begin(), lm_.intercept.end(), -kAbsent);
      if (nr_class == 2) {
        set_margin(static_cast<size_t>(m->label[0]), 1.0, 0);
        set_margin(static_cast<size_t>(m->label[1]), -1.0, 0);
      } else if (nr_class == 1) {
        lm_.intercept[static_cast<size_t>(m->label[0])] = kAbsent;
      } else {
        for (int k = 0; k < nr_class; ++k) set_margin(static_cast<size_t>(m->label[k]), 1.0, k);
      }
    }
    free_and_destroy_model(&m);
    CheckFinite();
  }

 private:
  // Multinomial logistic regression, scikit-learn's lbfgs objective:
  //   C * sum_i -log softmax(W x_i + b)[y_i] + 0.5 * |W|^2   (intercepts not penalized),
  // minimized by L-BFGS (10 corrections, Armijo backtracking) until the largest gradient
  // entry is below tol (default 1e-4) or max_iter (default 100) iterations.
  void FitMultinomial(const Matrix& X, const Target& y, const FitContext& ctx) {
    const size_t K = lm_.n_margins, F = X.cols, n = X.rows;
    const size_t dim = K * (F + 1);  // per class: F weights then the intercept
    const double C = params_.Num("C", 1.0);
    if (!(C > 0)) throw InvalidInput("LogisticRegression: C must be > 0");
    const double tol = params_.Num("tol", 1e-4);
    const size_t max_iter = static_cast<size_t>(std::max(1.0, params_.Num("max_iter", 100)));
    std::vector<double> margins(K);
    auto objective = [&](const std::vector<double>& w, std::vector<double>& g) {
      std::fill(g.begin(), g.end(), 0.0);
      double loss = 0;
      for (size_t i = 0; i < n; ++i) {
        const double* x = X.Row(i);
        double mx = -INFINITY;
        for (size_t k = 0; k < K; ++k) {
          const double* wk = &w[k * (F + 1)];
          double m = wk[F];
          for (size_t j = 0; j < F; ++j) m += wk[j] * x[j];
          margins[k] = m;
          mx = std::max(mx, m);
        }
        double sum = 0;
        for (size_t k = 0; k < K; ++k) sum += std::exp(margins[k] - mx);
        const double lse = mx + std::log(sum);
        const size_t yi = static_cast<size_t>(y.y[i]);
        loss += C * (lse - margins[yi]);
        for (size_t k = 0; k < K; ++k) {
          double d = C * (std::exp(margins[k] - lse) - (k == yi ? 1.0 : 0.0));
          double* gk = &g[k * (F + 1)];
          for (size_t j = 0; j < F; ++j) gk[j] += d * x[j];
          gk[F] += d;
        }
      }
      for (size_t k = 0; k < K; ++k) {
        for (size_t j = 0; j < F; ++j) {
          loss += 0.5 * w[k * (F + 1) + j] * w[k * (F + 1) + j];
          g[k * (F + 1) + j] += w[k * (F + 1) + j];
        }
      }
      return loss;
    };
    std::vector<double> w(dim, 0.0), g(dim), w_new(dim), g_new(dim), d(dim);
    double f = objective(w, g);
    const size_t m = 10;
    std::vector<std::vector<double>> S, Y;
    std::vector<double> rho;
    auto max_abs = [](const std::vector<double>& v) {
      double r = 0;
      for (double x : v) r = std::max(r, std::fabs(x));
      return r;
    };
    // scikit-learn's scaled objective divides by C * n: compare the gradient on that scale.
    const double gscale = 1.0 / (C * static_cast<double>(n));
    for (size_t it = 0; it < max_iter && max_abs(g) * gscale > tol; ++it) {
      if (ctx.Cancelled()) throw Cancelled();
      // Two-loop recursion: d = -H g.
      d = g;
      std::vector<double> alpha(S.size());
      for (size_t k = S.size(); k-- > 0;) {
        alpha[k] = rho[k] * std::inner_product(S[k].begin(), S[k].end(), d.begin(), 0.0);
        for (size_t j = 0; j < dim; ++j) d[j] -= alpha[k] * Y[k][j];
      }
      if (!S.empty()) {
        const auto& s_ = S.back();
        const auto& y_ = Y.back();
        double gamma = std::inner_product(s_.begin(), s_.end(), y_.begin(), 0.0) /
                       std::inner_product(y_.begin(), y_.end(), y_.begin(), 0.0);
        for (double& v : d) v *= gamma;
      } else {
        double gn = std::sqrt(std::inner_product(g.begin(), g.end(), g.begin(), 0.0));
        for (double& v : d) v /= std::max(gn, 1.0);
      }
      for (size_t k = 0; k < S.size(); ++k) {
        double beta = rho[k] * std::inner_product(Y[k].begin(), Y[k].end(), d.begin(), 0.0);
        for (size_t j = 0; j < dim; ++j) d[j] += S[k][j] * (alpha[k] - beta);
      }
      for (double& v : d) v = -v;
      double slope = std::inner_product(g.begin(), g.end(), d.begin(), 0.0);
      if (slope >= 0) {  // not a descent direction: restart from steepest descent
        S.clear();
        Y.clear();
        rho.clear();
        for (size_t j = 0; j < dim; ++j) d[j] = -g[j];
        slope = -std::inner_product(g.begin(), g.end(), g.begin(), 0.0);
      }
      double step = 1.0, f_new = f;
      for (int ls = 0; ls < 40; ++ls, step *= 0.5) {
        for (size_t j = 0; j < dim; ++j) w_new[j] = w[j] + step * d[j];
        f_new = objective(w_new, g_new);
        if (f_new <= f + 1e-4 * step * slope) break;
      }
      if (!(f_new < f)) break;  // no progress possible
      std::vector<double> s_(dim), y_(dim);
      for (size_t j = 0; j < dim; ++j) {
        s_[j] = w_new[j] - w[j];
        y_[j] = g_new[j] - g[j];
      }
      double sy = std::inner_product(s_.begin(), s_.end(), y_.begin(), 0.0);
      if (sy > 1e-12) {
        if (S.size() == m) {
          S.erase(S.begin());
          Y.erase(Y.begin());
          rho.erase(rho.begin());
        }
        S.push_back(std::move(s_));
        Y.push_back(std::move(y_));
        rho.push_back(1.0 / sy);
      }
      w.swap(w_new);
      g.swap(g_new);
      f = f_new;
    }
    lm_.link = LinearModel::Link::kSoftmax;
    for (size_t k = 0; k < K; ++k) {
      for (size_t j = 0; j < F; ++j) lm_.coef[k * F + j] = w[k * (F + 1) + j];
      lm_.intercept[k] = w[k * (F + 1) + F];
    }
    CheckFinite();
  }

  bool svm_;
};

// ---- SGD --------------------------------------------------------------------------------

class SgdLearner : public LinearLearner {
 public:
  std::string name() const override { return "SGD"; }

  void Fit(const Matrix& X, const Target& y, const FitContext& ctx) override {
    Start(X, y);
    const bool cls = task_ == Task::kClassification;
    loss_ = params_.Str("loss", cls ? "log_loss" : "squared_error");
    if (cls && loss_ != "log_loss" && loss_ != "log" && loss_ != "modified_huber" &&
        loss_ != "hinge") {
      throw InvalidInput("SGD: loss '" + loss_ + "' is not supported for classification (" +
                         "log_loss, modified_huber, hinge)");
    }
    if (!cls && loss_ != "squared_error") {
      throw InvalidInput("SGD: regression supports loss 'squared_error' only");
    }
    const double alpha = params_.Num("alpha", 1e-4);
    const size_t max_iter = static_cast<size_t>(std::max(1.0, params_.Num("max_iter", 1000)));
    const double tol = params_.Num("tol", 1e-3);
    if (!(alpha > 0)) throw InvalidInput("SGD: alpha must be > 0");
    ParallelFor(lm_.n_margins, ctx.threads, [&](size_t k) {
      std::vector<double> target(X.rows);
      for (size_t i = 0; i < X.rows; ++i) {
        if (!cls)
          target[i] = y.y[i];
        else if (lm_.n_margins == 1)
          target[i] = y.y[i] == 1.0 ? 1.0 : -1.0;
        else
          target[i] = static_cast<size_t>(y.y[i]) == k ? 1.0 : -1.0;
      }
      FitOne(X, target, k, alpha, max_iter, tol, ctx);
    });
    CheckFinite();
  }

 protected:
  double ProbaOf(double m) const override {
    if (loss_ == "modified_huber") return (std::clamp(m, -1.0, 1.0) + 1.0) / 2.0;
    return Sigmoid(m);
  }
  void SaveState(ByteWriter& w) const override {
    LinearLearner::SaveState(w);
    w.Str(loss_);
  }
  void LoadState(ByteReader& r) override {
    LinearLearner::LoadState(r);
    loss_ = r.Str();
  }

 private:
  // d loss / d margin for target t in {-1, 1} (classification) or the value (regression).
  double DLoss(double p, double t) const {
    if (loss_ == "squared_error") return p - t;
    double z = p * t;
    if (loss_ == "modified_huber") {
      if (z >= 1) return 0;
      if (z >= -1) return -2 * (1 - z) * t;
      return -4 * t;
    }
    if (loss_ == "hinge") return z <= 1 ? -t : 0;
    if (z > 18) return -t * std::exp(-z);  // log loss, numerically stable tails
    if (z < -18) return -t;
    return -t / (std::exp(z) + 1);
  }
  double Loss(double p, double t) const {
    if (loss_ == "squared_error") return 0.5 * (p - t) * (p - t);
    double z = p * t;
    if (loss_ == "modified_huber") return z >= 1 ? 0 : (z >= -1 ? (1 - z) * (1 - z) : -4 * z);
    if (loss_ == "hinge") return std::max(0.0, 1 - z);
    return z > 18 ? std::exp(-z) : (z < -18 ? -z : std::log1p(std::exp(-z)));
  }

  // Plain SGD as scikit-learn's: "optimal" schedule (classification) or invscaling
  // (regression), L2 decay, one pass per epoch over shuffled rows, stop when the epoch loss
  // has not improved by tol for 5 epochs.
  void FitOne(const Matrix& X, const std::vector<double>& target, size_t k, double alpha,
              size_t max_iter, double tol, const FitContext& ctx) {
    const size_t F = X.cols;
    double* w = lm_.coef.data() + k * F;
    double& b = lm_.intercept[k];
    const bool optimal = task_ == Task::kClassification;
    const double eta0 = params_.Num("eta0", 0.01), power_t = params_.Num("power_t", 0.25);
    double t0 = 1.0;
    if (optimal) {
      double typw = std::sqrt(1.0 / std::sqrt(alpha));
      double initial_eta0 = typw / std::max(1.0, std::fabs(DLoss(-typw, 1.0)));
      t0 = 1.0 / (initial_eta0 * alpha);
    }
    std::vector<size_t> order(X.rows);
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 rng(ctx.seed * 31 + k);
    double t = 1, best_loss = INFINITY;
    size_t no_improve = 0;
    for (size_t epoch = 0; epoch < max_iter; ++epoch) {
      if (ctx.Cancelled()) throw Cancelled();
      std::shuffle(order.begin(), order.end(), rng);
      double sum_loss = 0;
      for (size_t i : order) {
        const double* x = X.Row(i);
        double p = b;
        for (size_t j = 0; j < F; ++j) p += w[j] * x[j];
        sum_loss += Loss(p, target[i]);
        double eta = optimal ? 1.0 / (alpha * (t0 + t - 1)) : eta0 / std::pow(t, power_t);
        double g = std::clamp(DLoss(p, target[i]), -1e12, 1e12);
        double decay = std::max(0.0, 1.0 - eta * alpha);
        for (size_t j = 0; j < F; ++j) w[j] = w[j] * decay - eta * g * x[j];
        b -= eta * g;
        t += 1;
      }
      if (!std::isfinite(sum_loss)) break;
      if (sum_loss > best_loss - tol * static_cast<double>(X.rows)) {
        if (++no_improve >= 5) break;
      } else {
        no_improve = 0;
      }
      best_loss = std::min(best_loss, sum_loss);
    }
  }

  std::string loss_;
};

// ---- ElasticNet -------------------------------------------------------------------------

class ElasticNetLearner : public LinearLearner {
 public:
  std::string name() const override { return "ElasticNet"; }

  // Minimizes 1/(2n) |y - Xw - b|^2 + alpha*l1_ratio*|w|_1 + alpha*(1-l1_ratio)/2*|w|^2 by
  // cyclic coordinate descent on centered data (scikit-learn's objective); stops when the
  // largest coefficient change is below tol times the largest coefficient.
  void Fit(const Matrix& X, const Target& y, const FitContext& ctx) override {
    if (task_ != Task::kRegression) throw InvalidInput("ElasticNet is for regression");
    Start(X, y);
    const double alpha = params_.Num("alpha", 1.0), l1_ratio = params_.Num("l1_ratio", 0.5);
    const size_t max_iter = static_cast<size_t>(std::max(1.0, params_.Num("max_iter", 1000)));
    const double tol = params_.Num("tol", 1e-4);
    if (!(alpha >= 0) || !(l1_ratio >= 0 && l1_ratio <= 1)) {
      throw InvalidInput("ElasticNet: alpha must be >= 0 and l1_ratio in [0, 1]");
    }
    const size_t n = X.rows, F = X.cols;
    const double nd = static_cast<double>(n);
    const std::vector<double>& mean = lm_.feature_mean;
    double y_mean = std::accumulate(y.y.begin(), y.y.end(), 0.0) / nd;
    // Centered columns, column-major for the inner loops.
    std::vector<double> Xc(n * F), norm2(F, 0.0), r(n);
    for (size_t j = 0; j < F; ++j) {
      for (size_t i = 0; i < n; ++i) {
        double v = X.At(i, j) - mean[j];
        Xc[j * n + i] = v;
        norm2[j] += v * v;
      }
    }
    for (size_t i = 0; i < n; ++i) r[i] = y.y[i] - y_mean;
    const double l1 = alpha * l1_ratio * nd, l2 = alpha * (1 - l1_ratio) * nd;
    double* w = lm_.coef.data();
    for (size_t it = 0; it < max_iter; ++it) {
      if (ctx.Cancelled()) throw Cancelled();
      double max_change = 0, max_w = 0;
      for (size_t j = 0; j < F; ++j) {
        if (norm2[j] == 0) continue;
        const double* col = &Xc[j * n];
        double old = w[j], rho = 0;
        for (size_t i = 0; i < n; ++i) rho += col[i] * r[i];
        rho += norm2[j] * old;
        double updated = std::copysign(std::max(std::fabs(rho) - l1, 0.0), rho) / (norm2[j] + l2);
        if (updated != old) {
          double d = updated - old;
          for (size_t i = 0; i < n; ++i) r[i] -= d * col[i];
          w[j] = updated;
        }
        max_change = std::max(max_change, std::fabs(updated - old));
        max_w = std::max(max_w, std::fabs(updated));
      }
      if (max_w == 0 || max_change / max_w < tol) break;
    }
    double b = y_mean;
    for (size_t j = 0; j < F; ++j) b -= w[j] * mean[j];
    lm_.intercept[0] = b;
    CheckFinite();
  }
};

}  // namespace

std::unique_ptr<Learner> MakeLogisticRegression() {
  return std::make_unique<LiblinearLearner>(false);
}
std::unique_ptr<Learner> MakeLinearSvm() { return std::make_unique<LiblinearLearner>(true); }
std::unique_ptr<Learner> MakeSgd() { return std::make_unique<SgdLearner>(); }
std::unique_ptr<Learner> MakeElasticNet() { return std::make_unique<ElasticNetLearner>(); }

std::vector<ParamSpec> LogisticRegressionParamSpecs() {
  return {ParamSpec::Float("C", 1e-3, 1e3, 1.0, true),
          ParamSpec::Float("tol", 1e-6, 1e-1, 1e-4, true),
          ParamSpec::Int("max_iter", 10, 1000, 100, true)};
}
std::vector<ParamSpec> LinearSvmParamSpecs() {
  return {ParamSpec::Float("C", 1e-3, 1e3, 1.0, true),
          ParamSpec::Float("tol", 1e-6, 1e-1, 1e-3, true)};
}
std::vector<ParamSpec> SgdParamSpecs() {
  ParamSpec loss = ParamSpec::Choice(
      "loss", {"log_loss", "modified_huber", "hinge", "squared_error"}, "log_loss");
  return {ParamSpec::Float("alpha", 1e-6, 1e-1, 1e-4, true),
          ParamSpec::Int("max_iter", 5, 1000, 1000, true),
          ParamSpec::Float("tol", 1e-6, 1e-1, 1e-3, true),
          ParamSpec::Float("eta0", 1e-4, 1.0, 0.01, true),
          ParamSpec::Float("power_t", 0.1, 1.0, 0.25, false),
          loss};
}
std::vector<ParamSpec> ElasticNetParamSpecs() {
  return {ParamSpec::Float("alpha", 1e-4, 10.0, 1.0, true),
          ParamSpec::Float("l1_ratio", 0.0, 1.0, 0.5, false),
          ParamSpec::Int("max_iter", 10, 5000, 1000, true),
          ParamSpec::Float("tol", 1e-7, 1e-2, 1e-4, true)};
}

}  // namespace trainyard::automl
