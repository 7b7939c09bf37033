#include "automl/trees.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "common/error.h"

namespace trainyard::automl {

namespace {

constexpr size_t kMaxBins = 256;

// Each feature binned once per fit: codes (column-major) and each bin's smallest and largest
// training value, which place thresholds between neighbouring bins.
struct Bins {
  size_t rows = 0, cols = 0;
  std::vector<uint8_t> code;
  std::vector<std::vector<double>> lo, hi;

  const uint8_t* Column(size_t f) const { return code.data() + f * rows; }
};

Bins BinMatrix(const Matrix& X) {
  Bins b;
  b.rows = X.rows;
  b.cols = X.cols;
  b.code.resize(X.rows * X.cols);
  b.lo.resize(X.cols);
  b.hi.resize(X.cols);
  std::vector<double> col(X.rows);
  for (size_t f = 0; f < X.cols; ++f) {
    for (size_t i = 0; i < X.rows; ++i) col[i] = X.At(i, f);
    std::vector<double> sorted = col;
    std::sort(sorted.begin(), sorted.end());
    std::vector<double> distinct = sorted;
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    std::vector<double> upper;  // bin b holds values in (upper[b-1], upper[b]]
    if (distinct.size() <= kMaxBins) {
      upper = distinct;
    } else {
      for (size_t k = 1; k < kMaxBins; ++k) {
        double v = sorted[k * sorted.size() / kMaxBins];
        if (upper.empty() || v > upper.back()) upper.push_back(v);
      }
      if (upper.back() < distinct.back()) upper.push_back(distinct.back());
    }
    auto& lo = b.lo[f];
    auto& hi = b.hi[f];
    lo.assign(upper.size(), INFINITY);
    hi.assign(upper.size(), -INFINITY);
    uint8_t* codes = b.code.data() + f * X.rows;
    for (size_t i = 0; i < X.rows; ++i) {
      size_t bin = std::lower_bound(upper.begin(), upper.end(), col[i]) - upper.begin();
      codes[i] = static_cast<uint8_t>(bin);
      lo[bin] = std::min(lo[bin], col[i]);
      hi[bin] = std::max(hi[bin], col[i]);
    }
  }
  return b;
}

enum class Criterion { kGini, kEntropy, kSquaredError };

struct BuildConfig {
  bool classification = true;
  size_t n_classes = 2;
  Criterion criterion = Criterion::kGini;
  size_t max_depth = 0;  // 0: unlimited
  size_t min_samples_split = 2;
  size_t min_samples_leaf = 1;
  size_t max_features = 0;  // features tried per node
  bool random_thresholds = false;
};

// Grows one tree on the rows with weight > 0.
class TreeBuilder {
 public:
  TreeBuilder(const Bins& bins, const BuildConfig& cfg, const std::vector<double>& y,
              const std::vector<double>& w, uint64_t seed)
      : bins_(bins), cfg_(cfg), y_(y), w_(w), rng_(seed) {
    k_ = cfg.classification ? cfg.n_classes : 2;
    stride_ = k_ + 2;
    out_ = cfg.classification ? cfg.n_classes : 1;
  }

  Tree Build() {
    std::vector<uint32_t> idx;
    for (size_t i = 0; i < w_.size(); ++i) {
      if (w_[i] > 0) idx.push_back(static_cast<uint32_t>(i));
    }
    tree_.n_outputs = out_;
    hist_.resize(kMaxBins * stride_);
    features_.resize(bins_.cols);
    std::iota(features_.begin(), features_.end(), 0);
    NewNode();
    // Every feature tried at every node (boosting, single trees): keep each node's histograms
    // of all features, build the smaller child's and subtract it from the parent's for the
    // larger one, so each level scans at most half of the rows.
    full_ = cfg_.max_features >= bins_.cols && !cfg_.random_thresholds;
    if (full_) {
      off_.assign(bins_.cols + 1, 0);
      for (size_t f = 0; f < bins_.cols; ++f) off_[f + 1] = off_[f] + bins_.lo[f].size() * stride_;
    }
    struct Task {
      int32_t node;
      size_t begin, end, depth;
      std::vector<double> hist;  // full_: the node's histograms, when already known
    };
    std::vector<Task> stack;
    stack.push_back({0, 0, idx.size(), 0, {}});
    std::vector<double> stats(stride_);
    while (!stack.empty()) {
      Task t = std::move(stack.back());
      stack.pop_back();
      NodeStats(idx, t.begin, t.end, stats);
      SetValue(t.node, stats);
      const double imp = Impurity(stats.data());
      const size_t count = t.end - t.begin;
      if ((cfg_.max_depth && t.depth >= cfg_.max_depth) || count < cfg_.min_samples_split ||
          count < 2 * cfg_.min_samples_leaf || imp <= 1e-12) {
        continue;
      }
      if (full_ && t.hist.empty()) BuildAll(idx, t.begin, t.end, t.hist);
      Split s = BestSplit(idx, t.begin, t.end, stats, imp, full_ ? t.hist.data() : nullptr);
      if (s.feature < 0) continue;
      const uint8_t* col = bins_.Column(s.feature);
      auto mid = std::partition(idx.begin() + t.begin, idx.begin() + t.end,
                                [&](uint32_t i) { return col[i] <= s.bin; });
      size_t m = mid - idx.begin();
      int32_t l = NewNode(), r = NewNode();
      tree_.feature[t.node] = s.feature;
      tree_.threshold[t.node] = s.threshold;
      tree_.left[t.node] = l;
      tree_.right[t.node] = r;
      std::vector<double> left_hist, right_hist;
      if (full_ && !(cfg_.max_depth && t.depth + 1 >= cfg_.max_depth)) {
        const bool left_smaller = m - t.begin <= t.end - m;
        std::vector<double>& small = left_smaller ? left_hist : right_hist;
        std::vector<double>& large = left_smaller ? right_hist : left_hist;
        if (left_smaller)
          BuildAll(idx, t.begin, m, small);
        else
          BuildAll(idx, m, t.end, small);
        large = std::move(t.hist);
        for (size_t k = 0; k < large.size(); ++k) large[k] -= small[k];
      }
      stack.push_back({r, m, t.end, t.depth + 1, std::move(right_hist)});
      stack.push_back({l, t.begin, m, t.depth + 1, std::move(left_hist)});
    }
    return std::move(tree_);
  }

 private:
  struct Split {
    int32_t feature = -1;
    int bin = 0;
    double threshold = 0;
    double gain = 0;
  };

  int32_t NewNode() {
    tree_.feature.push_back(-1);
    tree_.threshold.push_back(0);
    tree_.left.push_back(-1);
    tree_.right.push_back(-1);
    tree_.cover.push_back(0);
    tree_.value.resize(tree_.value.size() + out_, 0.0);
    return static_cast<int32_t>(tree_.feature.size() - 1);
  }

  // stats: [count, weight, class weights... | sum wy, sum wy^2]
  void Add(double* s, size_t i) const {
    s[0] += 1;
    s[1] += w_[i];
    if (cfg_.classification) {
      s[2 + static_cast<size_t>(y_[i])] += w_[i];
    } else {
      s[2] += w_[i] * y_[i];
      s[3] += w_[i] * y_[i] * y_[i];
    }
  }

  void NodeStats(const std::vector<uint32_t>& idx, size_t b, size_t e,
                 std::vector<double>& s) const {
    std::fill(s.begin(), s.end(), 0.0);
    for (size_t k = b; k < e; ++k) Add(s.data(), idx[k]);
  }

  void SetValue(int32_t node, const std::vector<double>& s) {
    double W = s[1];
    tree_.cover[node] = W;
    double* v = tree_.value.data() + node * out_;
    if (cfg_.classification) {
      for (size_t c = 0; c < out_; ++c) v[c] = W > 0 ? s[2 + c] / W : 0.0;
    } else {
      v[0] = W > 0 ? s[2] / W : 0.0;
    }
  }

  double Impurity(const double* s) const {
    double W = s[1];
    if (W <= 0) return 0;
    if (!cfg_.classification) {
      double m = s[2] / W;
      return std::max(0.0, s[3] / W - m * m);
    }
    double imp = cfg_.criterion == Criterion::kEntropy ? 0.0 : 1.0;
    for (size_t c = 0; c < k_; ++c) {
      double p = s[2 + c] / W;
      if (cfg_.criterion == Criterion::kEntropy) {
        if (p > 0) imp -= p * std::log(p);
      } else {
        imp -= p * p;
      }
    }
    return imp;
  }

  // Weighted impurity decrease of splitting `parent` into left `l` and the rest.
  double Gain(const double* parent, const double* l, double parent_imp, double* r) const {
    for (size_t k = 0; k < stride_; ++k) r[k] = parent[k] - l[k];
    return parent[1] * parent_imp - l[1] * Impurity(l) - r[1] * Impurity(r);
  }

  // Histograms of every feature over rows idx[b, e), at off_[f] per feature.
  void BuildAll(const std::vector<uint32_t>& idx, size_t b, size_t e,
                std::vector<double>& out) const {
    out.assign(off_.back(), 0.0);
    for (size_t f = 0; f < bins_.cols; ++f) {
      const uint8_t* col = bins_.Column(f);
      double* h = out.data() + off_[f];
      for (size_t k = b; k < e; ++k) Add(h + col[idx[k]] * stride_, idx[k]);
    }
  }

  // node_hist: the node's histograms of all features (full_), or null to build per feature.
  Split BestSplit(const std::vector<uint32_t>& idx, size_t b, size_t e,
                  const std::vector<double>& parent, double parent_imp, const double* node_hist) {
    Split best;
    std::vector<double> left(stride_), right(stride_);
    size_t tried = 0;
    const size_t F = bins_.cols;
    // Features in random order; constant ones do not count towards max_features.
    for (size_t visited = 0; visited < F && tried < cfg_.max_features; ++visited) {
      std::uniform_int_distribution<size_t> pick(visited, F - 1);
      std::swap(features_[visited], features_[pick(rng_)]);
      const size_t f = features_[visited];
      const size_t nb = bins_.lo[f].size();
      if (node_hist) {
        cur_ = node_hist + off_[f];
      } else {
        std::fill(hist_.begin(), hist_.begin() + nb * stride_, 0.0);
        const uint8_t* col = bins_.Column(f);
        for (size_t k = b; k < e; ++k) Add(&hist_[col[idx[k]] * stride_], idx[k]);
        cur_ = hist_.data();
      }
      size_t first = 0, last = nb - 1;
      while (first < nb && cur_[first * stride_] == 0) ++first;
      while (last > first && cur_[last * stride_] == 0) --last;
      if (first >= last) continue;  // constant in this node
      ++tried;
      std::fill(left.begin(), left.end(), 0.0);
      if (cfg_.random_thresholds) {
        std::uniform_real_distribution<double> u(bins_.lo[f][first], bins_.hi[f][last]);
        double t = u(rng_);
        size_t split_bin = first;  // the last non-empty bin going left
        for (size_t bin = first; bin < last; ++bin) {
          if (cur_[bin * stride_] == 0) continue;
          if (bins_.hi[f][bin] <= t) split_bin = bin;
        }
        for (size_t bin = first; bin <= split_bin; ++bin) {
          for (size_t k = 0; k < stride_; ++k) left[k] += cur_[bin * stride_ + k];
        }
        if (left[0] < cfg_.min_samples_leaf || parent[0] - left[0] < cfg_.min_samples_leaf) {
          continue;
        }
        double gain = Gain(parent.data(), left.data(), parent_imp, right.data());
        if (best.feature < 0 || gain > best.gain) best = MakeSplit(f, split_bin, last, gain, t);
        continue;
      }
      for (size_t bin = first; bin < last; ++bin) {
        const double* h = &cur_[bin * stride_];
        if (h[0] == 0) continue;
        for (size_t k = 0; k < stride_; ++k) left[k] += h[k];
        if (left[0] < cfg_.min_samples_leaf) continue;
        if (parent[0] - left[0] < cfg_.min_samples_leaf) break;
        double gain = Gain(parent.data(), left.data(), parent_imp, right.data());
        if (gain > best.gain + 1e-12 || best.feature < 0) best = MakeSplit(f, bin, last, gain);
      }
    }
    if (best.feature >= 0 && best.gain <= 0 && !cfg_.random_thresholds) best.feature = -1;
    return best;
  }

  // at: extra trees' random threshold, kept when it falls in the gap between the two bins
  // (scikit-learn's ExtraTrees split at the drawn value, not at the gap's midpoint: on data
  // with wide gaps — grunfeld's firm values — the midpoint cost 0.024 test R^2); otherwise
  // (NaN, or drawn inside a multi-value bin) the midpoint.
  Split MakeSplit(size_t f, size_t bin, size_t last, double gain, double at = NAN) const {
    // The next non-empty bin in the node sets the upper side of the midpoint.
    size_t next = bin + 1;
    while (next < last && cur_[next * stride_] == 0) ++next;
    Split s;
    s.feature = static_cast<int32_t>(f);
    s.bin = static_cast<int>(bin);
    s.threshold = (bins_.hi[f][bin] + bins_.lo[f][next]) / 2.0;
    // Guard against midpoint rounding onto the upper value.
    if (s.threshold >= bins_.lo[f][next]) s.threshold = bins_.hi[f][bin];
    if (at >= bins_.hi[f][bin] && at < bins_.lo[f][next]) s.threshold = at;
    s.gain = gain;
    return s;
  }

  const Bins& bins_;
  BuildConfig cfg_;
  const std::vector<double>& y_;
  const std::vector<double>& w_;
  std::mt19937_64 rng_;
  size_t k_, stride_, out_;
  std::vector<double> hist_;
  const double* cur_ = nullptr;  // histogram of the feature being scanned
  bool full_ = false;
  std::vector<size_t> off_;
  std::vector<size_t> features_;
  Tree tree_;
};

size_t ResolveMaxFeatures(const Params& p, size_t n_features, const std::string& fallback) {
  std::string s = p.Str("max_features", "");
  double frac = p.Num("max_features", -1);
  if (s.empty() && frac < 0) s = fallback;
  size_t k = n_features;
  if (s == "sqrt") {
    k = static_cast<size_t>(std::sqrt(static_cast<double>(n_features)));
  } else if (s == "log2") {
    k = static_cast<size_t>(std::log2(static_cast<double>(n_features)));
  } else if (s == "all" || s == "None" || s.empty()) {
    if (frac > 0) k = static_cast<size_t>(std::ceil(frac * static_cast<double>(n_features)));
  } else {
    throw InvalidInput("max_features '" + s +
                       "' is not supported; use sqrt, log2, all or a fraction");
  }
  return std::clamp<size_t>(k, 1, n_features);
}

Criterion ParseCriterion(const Params& p, bool classification) {
  std::string c = p.Str("criterion", classification ? "gini" : "squared_error");
  if (classification && c == "gini") return Criterion::kGini;
  if (classification && (c == "entropy" || c == "log_loss")) return Criterion::kEntropy;
  if (!classification && (c == "squared_error" || c == "mse" || c == "friedman_mse"))
    return Criterion::kSquaredError;
  throw InvalidInput("criterion '" + c + "' does not fit this task");
}

double Sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

void Softmax(double* v, size_t n) {
  double m = *std::max_element(v, v + n), sum = 0;
  for (size_t k = 0; k < n; ++k) sum += (v[k] = std::exp(v[k] - m));
  for (size_t k = 0; k < n; ++k) v[k] /= sum;
}

enum class Kind { kDecisionTree, kRandomForest, kExtraTrees, kGradientBoosting };

class TreeLearner : public Learner {
 public:
  explicit TreeLearner(Kind kind) : kind_(kind) {}

  std::string name() const override {
    switch (kind_) {
      case Kind::kDecisionTree:
        return "DecisionTree";
      case Kind::kRandomForest:
        return "RandomForest";
      case Kind::kExtraTrees:
        return "ExtremeRandomTrees";
      case Kind::kGradientBoosting:
        return "GradientBoosting";
    }
    return "";
  }

  void Fit(const Matrix& X, const Target& y, const FitContext& ctx) override {
    n_features_ = X.cols;
    const bool cls = task_ == Task::kClassification;
    n_outputs_ = cls ? y.NumClasses() : 1;
    Bins bins = BinMatrix(X);
    if (kind_ == Kind::kGradientBoosting) {
      FitBoosting(X, y, bins, ctx);
      return;
    }
    BuildConfig cfg;
    cfg.classification = cls;
    cfg.n_classes = n_outputs_;
    cfg.criterion = ParseCriterion(params_, cls);
    cfg.max_depth = static_cast<size_t>(std::max(0.0, params_.Num("max_depth", 0)));
    cfg.min_samples_split = static_cast<size_t>(std::max(2.0, params_.Num("min_samples_split", 2)));
    cfg.min_samples_leaf = static_cast<size_t>(std::max(1.0, params_.Num("min_samples_leaf", 1)));
    cfg.random_thresholds = kind_ == Kind::kExtraTrees;
    const bool forest = kind_ != Kind::kDecisionTree;
    cfg.max_features = ResolveMaxFeatures(params_, X.cols, forest && cls ? "sqrt" : "all");
    const bool bootstrap = params_.Num("bootstrap", kind_ == Kind::kRandomForest ? 1 : 0) != 0;
    const size_t T =
        forest ? static_cast<size_t>(std::max(1.0, params_.Num("n_estimators", 100))) : 1;

    ens_ = TreeEnsemble();
    ens_.n_outputs = n_outputs_;
    ens_.base.assign(n_outputs_, 0.0);
    ens_.scale = 1.0 / static_cast<double>(T);
    ens_.trees.resize(T);
    ParallelFor(T, ctx.threads, [&](size_t t) {
      if (ctx.Cancelled()) throw Cancelled();
      uint64_t seed = ctx.seed * 1000003ULL + t * 7919ULL + 17;
      std::vector<double> w(X.rows, 1.0);
      if (bootstrap) {
        std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
        std::uniform_int_distribution<size_t> pick(0, X.rows - 1);
        std::fill(w.begin(), w.end(), 0.0);
        for (size_t i = 0; i < X.rows; ++i) w[pick(rng)] += 1;
      }
      ens_.trees[t] = TreeBuilder(bins, cfg, y.y, w, seed).Build();
    });
  }

  Matrix Predict(const Matrix& X) const override {
    CheckPredictInput(X);
    Matrix raw = ens_.Raw(X);
    if (!ens_.margin || task_ == Task::kRegression) return raw;
    Matrix proba(X.rows, n_outputs_);
    for (size_t i = 0; i < X.rows; ++i) {
      if (n_outputs_ == 2 && raw.cols == 1) {
        double p = Sigmoid(raw.At(i, 0));
        proba.At(i, 0) = 1 - p;
        proba.At(i, 1) = p;
      } else {
        std::copy_n(raw.Row(i), n_outputs_, proba.Row(i));
        Softmax(proba.Row(i), n_outputs_);
      }
    }
    return proba;
  }

  void SaveState(ByteWriter& w) const override {
    SaveShape(w);
    w.Doubles(ens_.base);
    w.F64(ens_.scale);
    w.U64(ens_.n_outputs);
    w.U8(ens_.margin);
    w.Ints(ens_.tree_output);
    w.U64(ens_.trees.size());
    for (const auto& t : ens_.trees) t.Save(w);
  }

  void LoadState(ByteReader& r) override {
    LoadShape(r);
    ens_ = TreeEnsemble();
    ens_.base = r.Doubles();
    ens_.scale = r.F64();
    ens_.n_outputs = r.U64();
    ens_.margin = r.U8() != 0;
    ens_.tree_output = r.Ints();
    uint64_t n = r.U64();
    if (n > r.remaining()) r.Fail("tree count");
    ens_.trees.resize(n);
    for (auto& t : ens_.trees) {
      t.Load(r);
      for (int32_t f : t.feature) {
        if (f >= static_cast<int32_t>(n_features_)) r.Fail("tree feature index");
      }
    }
    if (ens_.base.size() != ens_.n_outputs) r.Fail("ensemble base");
    if (!ens_.tree_output.empty() && ens_.tree_output.size() != n) r.Fail("tree outputs");
    for (size_t t = 0; t < n; ++t) {
      const size_t want = ens_.tree_output.empty() ? ens_.n_outputs : 1;
      if (ens_.trees[t].n_outputs != want) r.Fail("tree output width");
      if (!ens_.tree_output.empty() &&
          (ens_.tree_output[t] < 0 || static_cast<size_t>(ens_.tree_output[t]) >= ens_.n_outputs)) {
        r.Fail("tree output index");
      }
    }
    const size_t want_outputs =
        task_ == Task::kRegression ? 1 : (ens_.margin && n_outputs_ == 2 ? 1 : n_outputs_);
    if (ens_.n_outputs != want_outputs) r.Fail("ensemble outputs");
  }

  const TreeEnsemble* trees() const override { return &ens_; }

 private:
  void FitBoosting(const Matrix& X, const Target& y, const Bins& bins, const FitContext& ctx) {
    const bool cls = task_ == Task::kClassification;
    const size_t n = X.rows;
    const size_t K = cls ? (n_outputs_ == 2 ? 1 : n_outputs_) : 1;  // margins
    const size_t stages = static_cast<size_t>(std::max(1.0, params_.Num("n_estimators", 100)));
    const double lr = params_.Num("learning_rate", 0.1);
    const double subsample = params_.Num("subsample", 1.0);
    if (!(lr > 0) || !(subsample > 0 && subsample <= 1)) {
      throw InvalidInput("GradientBoosting: learning_rate must be > 0 and subsample in (0, 1]");
    }
    BuildConfig cfg;
    cfg.classification = false;
    cfg.criterion = Criterion::kSquaredError;
    cfg.max_depth = static_cast<size_t>(std::max(1.0, params_.Num("max_depth", 3)));
    cfg.min_samples_split = static_cast<size_t>(std::max(2.0, params_.Num("min_samples_split", 2)));
    cfg.min_samples_leaf = static_cast<size_t>(std::max(1.0, params_.Num("min_samples_leaf", 1)));
    cfg.max_features = ResolveMaxFeatures(params_, X.cols, "all");

    ens_ = TreeEnsemble();
    ens_.margin = cls;
    ens_.n_outputs = K;
    ens_.scale = lr;
    ens_.base.assign(K, 0.0);
    if (cls) {
      std::vector<double> prior(n_outputs_, 0.0);
      for (double v : y.y) prior[static_cast<size_t>(v)] += 1;
      for (auto& p : prior) p = std::max(p / static_cast<double>(n), 1e-12);
      if (K == 1) {
        ens_.base[0] = std::log(prior[1] / prior[0]);
      } else {
        for (size_t k = 0; k < K; ++k) ens_.base[k] = std::log(prior[k]);
      }
    } else {
      ens_.base[0] = std::accumulate(y.y.begin(), y.y.end(), 0.0) / static_cast<double>(n);
    }
    std::vector<double> F(n * K);
    for (size_t i = 0; i < n; ++i) std::copy(ens_.base.begin(), ens_.base.end(), F.begin() + i * K);
    std::vector<std::vector<double>> resid(K, std::vector<double>(n));
    std::vector<double> prob(n * K);
    std::mt19937_64 rng(ctx.seed + 12345);
    std::vector<double> w(n, 1.0);
    for (size_t stage = 0; stage < stages; ++stage) {
      if (ctx.Cancelled()) throw Cancelled();
      if (subsample < 1.0) {
        std::bernoulli_distribution keep(subsample);
        for (auto& v : w) v = keep(rng) ? 1.0 : 0.0;
      }
      // Residuals (negative gradients) and the probabilities behind them.
      for (size_t i = 0; i < n; ++i) {
        double* f = &F[i * K];
        double* p = &prob[i * K];
        if (!cls) {
          resid[0][i] = y.y[i] - f[0];
        } else if (K == 1) {
          p[0] = Sigmoid(f[0]);
          resid[0][i] = (y.y[i] == 1.0 ? 1.0 : 0.0) - p[0];
        } else {
          std::copy_n(f, K, p);
          Softmax(p, K);
          for (size_t k = 0; k < K; ++k) {
            resid[k][i] = (static_cast<size_t>(y.y[i]) == k ? 1.0 : 0.0) - p[k];
          }
        }
      }
      std::vector<Tree> stage_trees(K);
      ParallelFor(K, ctx.threads, [&](size_t k) {
        Tree t = TreeBuilder(bins, cfg, resid[k], w, ctx.seed + stage * 131 + k).Build();
        if (cls) NewtonLeaves(t, X, resid[k], w, K);
        stage_trees[k] = std::move(t);
      });
      for (size_t k = 0; k < K; ++k) {
        const Tree& t = stage_trees[k];
        for (size_t i = 0; i < n; ++i) F[i * K + k] += lr * t.Value(t.Apply(X.Row(i)))[0];
        ens_.trees.push_back(std::move(stage_trees[k]));
        ens_.tree_output.push_back(static_cast<int32_t>(k));
      }
    }
  }

  // Replace leaf values by one Newton step of the log loss (scikit-learn's
  // _update_terminal_regions): sum(r) / sum(|r|(1-|r|)), times (K-1)/K for K > 2 classes.
  static void NewtonLeaves(Tree& t, const Matrix& X, const std::vector<double>& r,
                           const std::vector<double>& w, size_t K) {
    std::vector<double> num(t.size(), 0.0), den(t.size(), 0.0);
    for (size_t i = 0; i < X.rows; ++i) {
      if (w[i] == 0) continue;
      int32_t leaf = t.Apply(X.Row(i));
      double a = std::fabs(r[i]);
      num[leaf] += r[i];
      den[leaf] += a * (1 - a);
    }
    const double factor = K > 1 ? static_cast<double>(K - 1) / static_cast<double>(K) : 1.0;
    for (size_t node = 0; node < t.size(); ++node) {
      if (t.feature[node] >= 0) continue;
      t.value[node] = den[node] < 1e-150 ? 0.0 : factor * num[node] / den[node];
    }
    // Internal nodes: cover-weighted mean of their leaves, bottom-up (children follow parents).
    for (size_t node = t.size(); node-- > 0;) {
      if (t.feature[node] < 0) continue;
      double cl = t.cover[t.left[node]], cr = t.cover[t.right[node]];
      double c = cl + cr;
      t.value[node] = c > 0 ? (cl * t.value[t.left[node]] + cr * t.value[t.right[node]]) / c : 0;
    }
  }

  Kind kind_;
  TreeEnsemble ens_;
};

}  // namespace

void Tree::Save(ByteWriter& w) const {
  w.U64(n_outputs);
  w.Ints(feature);
  w.Doubles(threshold);
  w.Ints(left);
  w.Ints(right);
  w.Doubles(cover);
  w.Doubles(value);
}

void Tree::Load(ByteReader& r) {
  n_outputs = r.U64();
  feature = r.Ints();
  threshold = r.Doubles();
  left = r.Ints();
  right = r.Ints();
  cover = r.Doubles();
  value = r.Doubles();
  const size_t n = feature.size();
  if (n == 0 || threshold.size() != n || left.size() != n || right.size() != n ||
      cover.size() != n || n_outputs == 0 || value.size() != n * n_outputs) {
    r.Fail("tree arrays");
  }
  // Children must come after their parent: guarantees Apply terminates.
  for (size_t i = 0; i < n; ++i) {
    if (feature[i] < 0) continue;
    if (left[i] <= static_cast<int32_t>(i) || right[i] <= static_cast<int32_t>(i) ||
        left[i] >= static_cast<int32_t>(n) || right[i] >= static_cast<int32_t>(n)) {
      r.Fail("tree child index");
    }
  }
}

Matrix TreeEnsemble::Raw(const Matrix& X) const {
  Matrix out(X.rows, n_outputs);
  for (size_t i = 0; i < X.rows; ++i) {
    double* o = out.Row(i);
    const double* x = X.Row(i);
    for (size_t t = 0; t < trees.size(); ++t) {
      const Tree& tree = trees[t];
      const double* v = tree.Value(tree.Apply(x));
      if (tree_output.empty()) {
        for (size_t k = 0; k < n_outputs; ++k) o[k] += v[k];
      } else {
        o[tree_output[t]] += v[0];
      }
    }
    for (size_t k = 0; k < n_outputs; ++k) o[k] = base[k] + scale * o[k];
  }
  return out;
}

std::unique_ptr<Learner> MakeDecisionTree() {
  return std::make_unique<TreeLearner>(Kind::kDecisionTree);
}
std::unique_ptr<Learner> MakeRandomForest() {
  return std::make_unique<TreeLearner>(Kind::kRandomForest);
}
std::unique_ptr<Learner> MakeExtraTrees() {
  return std::make_unique<TreeLearner>(Kind::kExtraTrees);
}
std::unique_ptr<Learner> MakeGradientBoosting() {
  return std::make_unique<TreeLearner>(Kind::kGradientBoosting);
}

std::vector<ParamSpec> ForestParamSpecs(bool extra) {
  return {ParamSpec::Int("n_estimators", 10, 500, 100, true),
          ParamSpec::Int("max_depth", 0, 64, 0),
          ParamSpec::Int("min_samples_split", 2, 40, 2, true),
          ParamSpec::Int("min_samples_leaf", 1, 20, 1, true),
          ParamSpec::Float("max_features", 0.05, 1.0, 0.0),
          ParamSpec::Choice("criterion", {"gini", "entropy", "squared_error"}, "gini"),
          ParamSpec::Int("bootstrap", 0, 1, extra ? 0 : 1)};
}

std::vector<ParamSpec> DecisionTreeParamSpecs() {
  return {ParamSpec::Int("max_depth", 0, 64, 0),
          ParamSpec::Int("min_samples_split", 2, 40, 2, true),
          ParamSpec::Int("min_samples_leaf", 1, 20, 1, true),
          ParamSpec::Float("max_features", 0.05, 1.0, 1.0),
          ParamSpec::Choice("criterion", {"gini", "entropy", "squared_error"}, "gini")};
}

std::vector<ParamSpec> GradientBoostingParamSpecs() {
  return {ParamSpec::Int("n_estimators", 10, 500, 100, true),
          ParamSpec::Float("learning_rate", 0.01, 1.0, 0.1, true),
          ParamSpec::Int("max_depth", 1, 10, 3),
          ParamSpec::Int("min_samples_split", 2, 40, 2, true),
          ParamSpec::Int("min_samples_leaf", 1, 20, 1, true),
          ParamSpec::Float("subsample", 0.3, 1.0, 1.0),
          ParamSpec::Float("max_features", 0.05, 1.0, 1.0)};
}

}  // namespace trainyard::automl
