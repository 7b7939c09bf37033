#include <algorithm>
#include <cmath>
#include <numeric>

#include "automl/other_learners.h"
#include "common/error.h"

namespace trainyard::automl {

namespace {

void SoftmaxRow(double* v, size_t n) {
  double m = *std::max_element(v, v + n), sum = 0;
  for (size_t k = 0; k < n; ++k) sum += (v[k] = std::exp(v[k] - m));
  for (size_t k = 0; k < n; ++k) v[k] /= sum;
}

// Naive Bayes, scikit-learn's three variants. State: per-class log prior and per-class,
// per-feature parameters (Gaussian: mean and variance; multinomial/Bernoulli: log
// probabilities).
class NaiveBayes : public Learner {
 public:
  enum class Kind { kGaussian, kMultinomial, kBernoulli };
  explicit NaiveBayes(Kind kind) : kind_(kind) {}

  std::string name() const override {
    switch (kind_) {
      case Kind::kGaussian:
        return "NaiveBayes";
      case Kind::kMultinomial:
        return "MultinomialNaiveBayes";
      case Kind::kBernoulli:
        return "BernoulliNaiveBayes";
    }
    return "";
  }

  void Fit(const Matrix& X, const Target& y, const FitContext&) override {
    if (task_ != Task::kClassification) throw InvalidInput(name() + " is for classification");
    const size_t C = y.NumClasses(), F = X.cols;
    n_outputs_ = C;
    n_features_ = F;
    if (kind_ == Kind::kMultinomial) {
      for (double v : X.data) {
        if (v < 0) {
          throw InvalidInput(
              "MultinomialNaiveBayes needs non-negative features (counts); use the scaler "
              "'Scale 0/1' or none");
        }
      }
    }
    std::vector<double> count(C, 0.0);
    a_.assign(C * F, 0.0);
    b_.assign(C * F, 0.0);
    for (size_t i = 0; i < X.rows; ++i) {
      size_t c = static_cast<size_t>(y.y[i]);
      count[c] += 1;
      for (size_t j = 0; j < F; ++j) {
        double v = X.At(i, j);
        if (kind_ == Kind::kBernoulli) v = v > 0 ? 1.0 : 0.0;
        a_[c * F + j] += v;
        if (kind_ == Kind::kGaussian) b_[c * F + j] += v * v;
      }
    }
    log_prior_.assign(C, -INFINITY);
    for (size_t c = 0; c < C; ++c) {
      if (count[c] > 0) log_prior_[c] = std::log(count[c] / static_cast<double>(X.rows));
    }
    const double alpha = params_.Num("alpha", 1.0);
    if (kind_ == Kind::kGaussian) {
      // var_smoothing * the largest feature variance, added to every variance.
      double max_var = 0;
      for (size_t j = 0; j < F; ++j) {
        double s = 0, ss = 0;
        for (size_t i = 0; i < X.rows; ++i) {
          s += X.At(i, j);
          ss += X.At(i, j) * X.At(i, j);
        }
        double m = s / static_cast<double>(X.rows);
        max_var = std::max(max_var, ss / static_cast<double>(X.rows) - m * m);
      }
      const double eps = params_.Num("var_smoothing", 1e-9) * max_var;
      for (size_t c = 0; c < C; ++c) {
        for (size_t j = 0; j < F; ++j) {
          double n = std::max(count[c], 1.0);
          double m = a_[c * F + j] / n;
          double var = std::max(0.0, b_[c * F + j] / n - m * m) + eps;
          a_[c * F + j] = m;
          b_[c * F + j] = var > 0 ? var : 1e-300;
        }
      }
    } else if (kind_ == Kind::kMultinomial) {
      for (size_t c = 0; c < C; ++c) {
        double total = 0;
        for (size_t j = 0; j < F; ++j) total += a_[c * F + j] + alpha;
        for (size_t j = 0; j < F; ++j) a_[c * F + j] = std::log((a_[c * F + j] + alpha) / total);
      }
    } else {
      for (size_t c = 0; c < C; ++c) {
        for (size_t j = 0; j < F; ++j) {
          double p = (a_[c * F + j] + alpha) / (count[c] + 2 * alpha);
          a_[c * F + j] = std::log(p);
          b_[c * F + j] = std::log(1 - p);
        }
      }
    }
  }

  Matrix Predict(const Matrix& X) const override {
    CheckPredictInput(X);
    const size_t C = n_outputs_, F = n_features_;
    Matrix out(X.rows, C);
    for (size_t i = 0; i < X.rows; ++i) {
      const double* x = X.Row(i);
      double* o = out.Row(i);
      for (size_t c = 0; c < C; ++c) {
        double ll = log_prior_[c];
        const double* a = &a_[c * F];
        const double* b = &b_[c * F];
        for (size_t j = 0; j < F; ++j) {
          if (kind_ == Kind::kGaussian) {
            double d = x[j] - a[j];
            ll -= 0.5 * (std::log(2 * M_PI * b[j]) + d * d / b[j]);
          } else if (kind_ == Kind::kMultinomial) {
            ll += x[j] * a[j];
          } else {
            ll += x[j] > 0 ? a[j] : b[j];
          }
        }
        o[c] = ll;
      }
      SoftmaxRow(o, C);
    }
    return out;
  }

  void SaveState(ByteWriter& w) const override {
    SaveShape(w);
    w.Doubles(log_prior_);
    w.Doubles(a_);
    w.Doubles(b_);
  }
  void LoadState(ByteReader& r) override {
    LoadShape(r);
    log_prior_ = r.Doubles();
    a_ = r.Doubles();
    b_ = r.Doubles();
    if (log_prior_.size() != n_outputs_ || a_.size() != n_outputs_ * n_features_ ||
        b_.size() != a_.size()) {
      r.Fail("naive Bayes arrays");
    }
  }

 private:
  Kind kind_;
  std::vector<double> log_prior_, a_, b_;
};

// Brute-force k nearest neighbours (Euclidean or Manhattan), uniform or distance weights.
// The training rows are part of the model.
class Knn : public Learner {
 public:
  std::string name() const override { return "KNN"; }

  void Fit(const Matrix& X, const Target& y, const FitContext& ctx) override {
    n_features_ = X.cols;
    n_outputs_ = task_ == Task::kClassification ? y.NumClasses() : 1;
    threads_ = std::max<size_t>(1, ctx.threads);
    k_ = static_cast<size_t>(std::max(1.0, params_.Num("n_neighbors", 5)));
    p_ = params_.Num("p", 2);
    if (p_ != 1 && p_ != 2) throw InvalidInput("KNN: p must be 1 (Manhattan) or 2 (Euclidean)");
    std::string weights = params_.Str("weights", "uniform");
    if (weights != "uniform" && weights != "distance") {
      throw InvalidInput("KNN: weights must be 'uniform' or 'distance'");
    }
    distance_weights_ = weights == "distance";
    X_ = X;
    y_ = y.y;
    Norms();
  }

  Matrix Predict(const Matrix& X) const override {
    CheckPredictInput(X);
    const size_t n = X_.rows, k = std::min(k_, n), F = n_features_;
    Matrix out(X.rows, n_outputs_);
    ParallelFor((X.rows + 63) / 64, threads_, [&](size_t block) {
      std::vector<std::pair<double, size_t>> d(n);
      for (size_t i = block * 64; i < std::min(X.rows, block * 64 + 64); ++i) {
        const double* q = X.Row(i);
        double qn = 0;
        for (size_t j = 0; j < F; ++j) qn += q[j] * q[j];
        for (size_t t = 0; t < n; ++t) {
          const double* x = X_.Row(t);
          double dist = 0;
          if (p_ == 2) {
            double dot = 0;
            for (size_t j = 0; j < F; ++j) dot += q[j] * x[j];
            dist = std::max(0.0, qn + norms_[t] - 2 * dot);
          } else {
            for (size_t j = 0; j < F; ++j) dist += std::fabs(q[j] - x[j]);
          }
          d[t] = {dist, t};
        }
        std::partial_sort(d.begin(), d.begin() + static_cast<ptrdiff_t>(k), d.end());
        double* o = out.Row(i);
        double total = 0;
        bool exact = distance_weights_ && d[0].first == 0;
        for (size_t m = 0; m < k; ++m) {
          double dist = p_ == 2 ? std::sqrt(d[m].first) : d[m].first;
          double w = 1.0;
          if (distance_weights_) w = exact ? (dist == 0 ? 1.0 : 0.0) : 1.0 / dist;
          total += w;
          double yv = y_[d[m].second];
          if (task_ == Task::kClassification)
            o[static_cast<size_t>(yv)] += w;
          else
            o[0] += w * yv;
        }
        for (size_t c = 0; c < n_outputs_; ++c) o[c] /= total;
      }
    });
    return out;
  }

  void SaveState(ByteWriter& w) const override {
    SaveShape(w);
    w.U64(k_);
    w.F64(p_);
    w.U8(distance_weights_);
    w.U64(X_.rows);
    w.Doubles(X_.data);
    w.Doubles(y_);
  }
  void LoadState(ByteReader& r) override {
    LoadShape(r);
    k_ = r.U64();
    p_ = r.F64();
    distance_weights_ = r.U8() != 0;
    X_.rows = r.U64();
    X_.cols = n_features_;
    X_.data = r.Doubles();
    y_ = r.Doubles();
    if (k_ == 0 || X_.rows == 0 || X_.data.size() != X_.rows * X_.cols || y_.size() != X_.rows) {
      r.Fail("KNN training rows");
    }
    for (double v : y_) {
      if (task_ == Task::kClassification && !(v >= 0 && v < static_cast<double>(n_outputs_))) {
        r.Fail("KNN labels");
      }
    }
    Norms();
  }

 private:
  void Norms() {
    norms_.assign(X_.rows, 0.0);
    for (size_t t = 0; t < X_.rows; ++t) {
      for (size_t j = 0; j < X_.cols; ++j) norms_[t] += X_.At(t, j) * X_.At(t, j);
    }
  }

  size_t k_ = 5;
  size_t threads_ = 1;  // the fit's max_cores_per_iteration (1 after loading)
  double p_ = 2;
  bool distance_weights_ = false;
  Matrix X_;
  std::vector<double> y_, norms_;
};

}  // namespace

std::unique_ptr<Learner> MakeGaussianNb() {
  return std::make_unique<NaiveBayes>(NaiveBayes::Kind::kGaussian);
}
std::unique_ptr<Learner> MakeMultinomialNb() {
  return std::make_unique<NaiveBayes>(NaiveBayes::Kind::kMultinomial);
}
std::unique_ptr<Learner> MakeBernoulliNb() {
  return std::make_unique<NaiveBayes>(NaiveBayes::Kind::kBernoulli);
}
std::unique_ptr<Learner> MakeKnn() { return std::make_unique<Knn>(); }

std::vector<ParamSpec> NaiveBayesParamSpecs() {
  return {ParamSpec::Float("alpha", 1e-3, 10, 1.0, true),
          ParamSpec::Float("var_smoothing", 1e-12, 1e-3, 1e-9, true)};
}
std::vector<ParamSpec> KnnParamSpecs() {
  ParamSpec w = ParamSpec::Choice("weights", {"uniform", "distance"}, "uniform");
  return {ParamSpec::Int("n_neighbors", 1, 50, 5, true), ParamSpec::Int("p", 1, 2, 2, false), w};
}

}  // namespace trainyard::automl
