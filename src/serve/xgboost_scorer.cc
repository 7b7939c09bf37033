#include "serve/xgboost_scorer.h"

#include <xgboost/c_api.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>

#include "common/error.h"
#include "common/json_limits.h"
#include "common/utf8.h"

namespace trainyard::serve {
namespace {

using Json = nlohmann::json;

struct Cursor {
  std::string_view s;
  size_t i = 0;
  void Ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) ++i;
  }
  bool Eat(char c) {
    Ws();
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  bool Peek(char c) {
    Ws();
    return i < s.size() && s[i] == c;
  }
};

bool ParseNumber(Cursor& c, float* out) {
  c.Ws();
  if (c.s.substr(c.i, 4) == "null") {
    c.i += 4;
    *out = std::numeric_limits<float>::quiet_NaN();
    return true;
  }
  const char* b = c.s.data() + c.i;
  const char* e = c.s.data() + c.s.size();
  double d;
  auto r = std::from_chars(b, e, d);
  if (r.ec != std::errc()) return false;
  c.i += static_cast<size_t>(r.ptr - b);
  *out = static_cast<float>(d);
  return true;
}

// One row "[n, n, ...]".
bool ParseRow(Cursor& c, std::vector<float>* values, size_t* n) {
  if (!c.Eat('[')) return false;
  *n = 0;
  if (c.Eat(']')) return true;
  for (;;) {
    float v;
    if (!ParseNumber(c, &v)) return false;
    values->push_back(v);
    ++*n;
    if (c.Eat(']')) return true;
    if (!c.Eat(',')) return false;
  }
}

bool ParseMatrix(Cursor& c, std::vector<float>* values, size_t* rows, size_t* cols,
                 std::string* error) {
  // Either a list of rows or one row.
  size_t save = c.i;
  if (!c.Eat('[')) {
    *error = "'data' must be a list of rows (lists of numbers)";
    return false;
  }
  if (!c.Peek('[')) {
    c.i = save;
    size_t n;
    if (!ParseRow(c, values, &n) || n == 0) {
      *error = "'data' must be a list of rows (lists of numbers)";
      return false;
    }
    *rows = 1;
    *cols = n;
    return true;
  }
  *rows = 0;
  for (;;) {
    size_t n;
    if (!ParseRow(c, values, &n)) {
      *error = "'data' must be a list of rows (lists of numbers or null)";
      return false;
    }
    if (*rows == 0) {
      *cols = n;
    } else if (n != *cols) {
      *error = "row " + std::to_string(*rows) + " has " + std::to_string(n) +
               " values; row 0 has " + std::to_string(*cols);
      return false;
    }
    ++*rows;
    if (c.Eat(']')) break;
    if (!c.Eat(',')) {
      *error = "'data' must be a list of rows";
      return false;
    }
  }
  return true;
}

[[noreturn]] void ThrowXgb(const std::string& what) {
  throw ScorerInitError(what + ": " + XGBGetLastError(), "");
}

void AppendFloat(std::string& out, float v) {
  if (std::isnan(v) || std::isinf(v)) {
    out += "null";
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

}  // namespace

// The trees of a gbtree model as flat arrays; see the header.
struct XGBoostScorer::CompiledForest {
  struct Node {
    int32_t left;  // -1 for a leaf
    int32_t right;
    uint32_t feature;
    float value;  // split condition, or the leaf value
    bool default_left;
  };
  enum class Output { kIdentity, kSigmoid, kExp, kSoftmax, kArgmax };
  std::vector<Node> nodes;
  std::vector<uint32_t> roots;   // index of each tree's root in `nodes`
  std::vector<uint32_t> groups;  // output group of each tree
  uint32_t num_groups = 1;
  uint32_t num_features = 0;
  float base_margin = 0;
  Output output = Output::kIdentity;

  // Builds from the model's JSON; nullptr (with *why) when the model is not supported.
  static std::unique_ptr<CompiledForest> FromJson(const Json& model, std::string* why);
  // Predictions for `rows` rows into out (rows x per_row()).
  void Predict(const float* x, size_t rows, std::vector<float>* out) const;
  size_t per_row() const { return output == Output::kSoftmax ? num_groups : 1; }
};

namespace {
float NumberOf(const Json& j) {
  if (j.is_number()) return j.get<float>();
  if (j.is_string()) return std::stof(j.get<std::string>());
  throw std::runtime_error("expected a number");
}
}  // namespace

std::unique_ptr<XGBoostScorer::CompiledForest> XGBoostScorer::CompiledForest::FromJson(
    const Json& model, std::string* why) {
  try {
    const Json& learner = model.at("learner");
    const Json& booster = learner.at("gradient_booster");
    if (booster.at("name") != "gbtree") {
      *why = "booster " + booster.at("name").get<std::string>();
      return nullptr;
    }
    auto f = std::make_unique<CompiledForest>();
    const Json& param = learner.at("learner_model_param");
    int num_class = static_cast<int>(NumberOf(param.value("num_class", Json("0"))));
    if (param.contains("num_target") && NumberOf(param["num_target"]) > 1) {
      *why = "multi-target model";
      return nullptr;
    }
    f->num_groups = num_class > 1 ? static_cast<uint32_t>(num_class) : 1;
    f->num_features = static_cast<uint32_t>(NumberOf(param.at("num_feature")));
    float base_score = NumberOf(param.at("base_score"));
    std::string objective = learner.at("objective").at("name");
    if (objective == "binary:logistic" || objective == "reg:logistic") {
      f->output = Output::kSigmoid;
      f->base_margin = -std::log(1.0f / base_score - 1.0f);
    } else if (objective == "binary:logitraw") {
      f->base_margin = -std::log(1.0f / base_score - 1.0f);
    } else if (objective == "reg:squarederror" || objective == "reg:linear" ||
               objective == "reg:squaredlogerror" || objective == "reg:pseudohubererror" ||
               objective == "reg:absoluteerror") {
      f->base_margin = base_score;
    } else if (objective == "count:poisson" || objective == "reg:gamma" ||
               objective == "reg:tweedie") {
      f->output = Output::kExp;
      f->base_margin = std::log(base_score);
    } else if (objective == "multi:softprob") {
      f->output = Output::kSoftmax;
      f->base_margin = base_score;
    } else if (objective == "multi:softmax") {
      f->output = Output::kArgmax;
      f->base_margin = base_score;
    } else {
      *why = "objective " + objective;
      return nullptr;
    }
    const Json& m = booster.at("model");
    const Json& trees = m.at("trees");
    const Json& info = m.at("tree_info");
    for (size_t t = 0; t < trees.size(); ++t) {
      const Json& tree = trees[t];
      const auto& left = tree.at("left_children");
      const auto& right = tree.at("right_children");
      const auto& idx = tree.at("split_indices");
      const auto& cond = tree.at("split_conditions");
      const auto& dleft = tree.at("default_left");
      if (tree.contains("split_type")) {
        for (auto& st : tree["split_type"]) {
          if (st.get<int>() != 0) {
            *why = "categorical splits";
            return nullptr;
          }
        }
      }
      uint32_t base = static_cast<uint32_t>(f->nodes.size());
      f->roots.push_back(base);
      uint32_t group = info.at(t).get<uint32_t>();
      if (group >= f->num_groups) {
        *why = "tree group out of range";
        return nullptr;
      }
      f->groups.push_back(group);
      for (size_t n = 0; n < left.size(); ++n) {
        Node node;
        int l = left[n].get<int>(), r = right[n].get<int>();
        node.left = l < 0 ? -1 : static_cast<int32_t>(base) + l;
        node.right = r < 0 ? -1 : static_cast<int32_t>(base) + r;
        node.feature = idx[n].get<uint32_t>();
        node.value = cond[n].get<float>();
        node.default_left = dleft[n].is_boolean() ? dleft[n].get<bool>() : dleft[n].get<int>() != 0;
        if (node.left >= 0 && node.feature >= f->num_features) {
          *why = "split on a feature beyond num_feature";
          return nullptr;
        }
        f->nodes.push_back(node);
      }
    }
    return f;
  } catch (const std::exception& e) {
    *why = std::string("unexpected model JSON: ") + e.what();
    return nullptr;
  }
}

void XGBoostScorer::CompiledForest::Predict(const float* x, size_t rows,
                                            std::vector<float>* out) const {
  out->assign(rows * per_row(), 0.0f);
  std::vector<float> margin(num_groups);
  for (size_t r = 0; r < rows; ++r) {
    const float* row = x + r * num_features;
    std::fill(margin.begin(), margin.end(), base_margin);
    for (size_t t = 0; t < roots.size(); ++t) {
      const Node* n = &nodes[roots[t]];
      while (n->left >= 0) {
        float v = row[n->feature];
        int32_t next = std::isnan(v) ? (n->default_left ? n->left : n->right)
                                     : (v < n->value ? n->left : n->right);
        n = &nodes[static_cast<size_t>(next)];
      }
      margin[groups[t]] += n->value;
    }
    switch (output) {
      case Output::kIdentity:
        (*out)[r] = margin[0];
        break;
      case Output::kSigmoid:
        (*out)[r] = 1.0f / (1.0f + std::exp(-margin[0]));
        break;
      case Output::kExp:
        (*out)[r] = std::exp(margin[0]);
        break;
      case Output::kSoftmax: {
        float mx = *std::max_element(margin.begin(), margin.end());
        float sum = 0;
        for (float& m : margin) sum += (m = std::exp(m - mx));
        for (size_t g = 0; g < num_groups; ++g) (*out)[r * num_groups + g] = margin[g] / sum;
        break;
      }
      case Output::kArgmax:
        (*out)[r] =
            static_cast<float>(std::max_element(margin.begin(), margin.end()) - margin.begin());
        break;
    }
  }
}

bool ParseDenseRows(std::string_view body, std::vector<float>* values, size_t* rows, size_t* cols,
                    std::string* error) {
  values->clear();
  Cursor c{body};
  if (c.Peek('{')) {
    // {"data": ...} with no other keys on the fast path; anything else via the JSON parser.
    c.Eat('{');
    size_t save = c.i;
    if (c.Eat('"') && body.substr(c.i, 5) == "data\"") {
      c.i += 5;
      if (c.Eat(':') && ParseMatrix(c, values, rows, cols, error) && c.Eat('}')) {
        c.Ws();
        if (c.i == body.size()) return true;
      }
    }
    c.i = save;
    // Bounded (common/json_limits.h): a "data" nested 60k deep would overflow the stack in
    // dump() below.
    std::string why;
    std::optional<Json> parsed = TryParseJsonBounded(body, JsonLimits{}, &why);
    if (!parsed) {
      *error = EscapeInvalidUtf8("the body " + why);
      return false;
    }
    Json j = std::move(*parsed);
    if (!j.is_object() || !j.contains("data")) {
      *error = "the body must be {\"data\": [[...], ...]}";
      return false;
    }
    std::string data = j["data"].dump();
    values->clear();
    Cursor d{data};
    return ParseMatrix(d, values, rows, cols, error) && (d.Ws(), d.i == data.size());
  }
  if (!ParseMatrix(c, values, rows, cols, error)) return false;
  c.Ws();
  if (c.i != body.size()) {
    *error = "unexpected text after the rows";
    return false;
  }
  return true;
}

XGBoostScorer::XGBoostScorer(const Json& config) {
  model_file_ = config.value("model_file", "");
  nthread_ = std::max(1, config.value("nthread", 1));
  if (model_file_.empty()) throw InvalidInput("xgboost scorer config needs model_file");
  predict_config_ =
      "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, "
      "\"strict_shape\": false, \"missing\": NaN, \"cache_id\": 0}";
}

XGBoostScorer::~XGBoostScorer() {
  if (booster_) XGBoosterFree(booster_);
}

void XGBoostScorer::Start() {
  BoosterHandle h = nullptr;
  if (XGBoosterCreate(nullptr, 0, &h) != 0) ThrowXgb("cannot create an XGBoost booster");
  booster_ = h;
  if (XGBoosterLoadModel(h, model_file_.c_str()) != 0) {
    ThrowXgb("cannot load the XGBoost model " + model_file_);
  }
  if (XGBoosterSetParam(h, "nthread", std::to_string(nthread_).c_str()) != 0) {
    ThrowXgb("cannot set nthread");
  }
  bst_ulong n = 0;
  if (XGBoosterGetNumFeature(h, &n) != 0) ThrowXgb("cannot read the model's feature count");
  num_features_ = n;

  // Compile the trees, then check the compiled forest against libxgboost on generated rows.
  bst_ulong len = 0;
  const char* buf = nullptr;
  std::string why;
  if (XGBoosterSaveModelToBuffer(h, "{\"format\": \"json\"}", &len, &buf) != 0) {
    why = std::string("cannot export the model as JSON: ") + XGBGetLastError();
  } else {
    std::unique_ptr<CompiledForest> f;
    try {
      f = CompiledForest::FromJson(Json::parse(std::string_view(buf, len)), &why);
    } catch (const Json::exception& e) {
      why = e.what();
    }
    if (f && f->num_features == num_features_ && num_features_ > 0) {
      const size_t rows = 256, cols = num_features_;
      std::vector<float> x(rows * cols);
      uint64_t state = 0x9e3779b97f4a7c15ull;
      // Values around the split thresholds, and some missing.
      std::vector<float> thresholds;
      for (auto& node : f->nodes)
        if (node.left >= 0) thresholds.push_back(node.value);
      for (size_t i = 0; i < x.size(); ++i) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t r = static_cast<uint32_t>(state >> 33);
        if (r % 17 == 0) {
          x[i] = std::numeric_limits<float>::quiet_NaN();
        } else if (!thresholds.empty() && r % 3 != 0) {
          float t = thresholds[r % thresholds.size()];
          x[i] = t + (static_cast<float>(r % 2001) - 1000.0f) * 1e-3f * (1.0f + std::fabs(t));
        } else {
          x[i] = (static_cast<float>(r % 20001) - 10000.0f) / 100.0f;
        }
      }
      std::vector<float> want, got;
      size_t per_row = 0;
      std::string err;
      if (PredictWithLibrary(x.data(), rows, cols, &want, &per_row, &err) &&
          per_row == f->per_row()) {
        f->Predict(x.data(), rows, &got);
        size_t bad = 0;
        for (size_t i = 0; i < got.size(); ++i) {
          float tol = 1e-4f * std::max(1.0f, std::fabs(want[i]));
          if (!(std::fabs(got[i] - want[i]) <= tol)) ++bad;
        }
        if (bad == 0) {
          forest_ = std::move(f);
        } else {
          why = std::to_string(bad) + " of " + std::to_string(got.size()) +
                " check predictions differ from libxgboost";
        }
      } else {
        why = "libxgboost check prediction failed: " + err;
      }
    } else if (f) {
      why = "feature count mismatch";
    }
  }
  std::cerr << "trainyard serve: XGBoost model " << model_file_ << " (" << num_features_
            << " features): "
            << (forest_ ? "scored by the compiled forest"
                        : "scored through libxgboost (" + why + ")")
            << std::endl;
}

bool XGBoostScorer::PredictWithLibrary(const float* values, size_t rows, size_t cols,
                                       std::vector<float>* out, size_t* per_row,
                                       std::string* error) const {
  char iface[160];
  std::snprintf(iface, sizeof iface,
                "{\"data\": [%llu, true], \"shape\": [%zu, %zu], \"typestr\": \"<f4\", "
                "\"version\": 3}",
                static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(values)), rows, cols);
  bst_ulong const* shape = nullptr;
  bst_ulong dim = 0;
  const float* res = nullptr;
  if (XGBoosterPredictFromDense(booster_, iface, predict_config_.c_str(), nullptr, &shape, &dim,
                                &res) != 0) {
    *error = XGBGetLastError();
    return false;
  }
  *per_row = 1;
  for (bst_ulong d = 1; d < dim; ++d) *per_row *= shape[d];
  out->assign(res, res + rows * *per_row);
  return true;
}

ScoreResult XGBoostScorer::ScoreNow(std::string_view body) const {
  thread_local std::vector<float> values;
  size_t rows = 0, cols = 0;
  std::string error;
  if (!ParseDenseRows(body, &values, &rows, &cols, &error)) return {400, ErrorBody(error)};
  if (num_features_ != 0 && cols != num_features_) {
    return {400, ErrorBody("each row needs " + std::to_string(num_features_) +
                           " values (the model's features); got " + std::to_string(cols))};
  }
  thread_local std::vector<float> preds;
  size_t per_row = 1;
  if (forest_) {
    forest_->Predict(values.data(), rows, &preds);
    per_row = forest_->per_row();
  } else if (!PredictWithLibrary(values.data(), rows, cols, &preds, &per_row, &error)) {
    return {500, ErrorBody("XGBoost prediction failed: " + error)};
  }
  const float* out = preds.data();
  std::string res;
  res.reserve(rows * per_row * 12 + 2);
  res.push_back('[');
  for (size_t r = 0; r < rows; ++r) {
    if (r) res.push_back(',');
    if (per_row == 1) {
      AppendFloat(res, out[r]);
      continue;
    }
    res.push_back('[');
    for (size_t k = 0; k < per_row; ++k) {
      if (k) res.push_back(',');
      AppendFloat(res, out[r * per_row + k]);
    }
    res.push_back(']');
  }
  res.push_back(']');
  return {200, std::move(res)};
}

void XGBoostScorer::Score(std::string body, Clock::time_point, ScoreCallback done) {
  done(ScoreNow(body));
}

}  // namespace trainyard::serve
