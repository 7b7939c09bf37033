#include "serve/xgboost_scorer.h"

#include <xgboost/c_api.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

#include "common/error.h"

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
    Json j;
    try {
      j = Json::parse(body);
    } catch (const Json::exception& e) {
      *error = std::string("the body is not valid JSON: ") + e.what();
      return false;
    }
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
  char iface[160];
  std::snprintf(iface, sizeof iface,
                "{\"data\": [%llu, true], \"shape\": [%zu, %zu], \"typestr\": \"<f4\", "
                "\"version\": 3}",
                static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(values.data())), rows,
                cols);
  bst_ulong const* shape = nullptr;
  bst_ulong dim = 0;
  const float* out = nullptr;
  if (XGBoosterPredictFromDense(booster_, iface, predict_config_.c_str(), nullptr, &shape, &dim,
                                &out) != 0) {
    return {500, ErrorBody(std::string("XGBoost prediction failed: ") + XGBGetLastError())};
  }
  size_t per_row = 1;
  for (bst_ulong d = 1; d < dim; ++d) per_row *= shape[d];
  std::string res;
  res.reserve(rows * per_row * 12 + 2);
  res.push_back('[');
  for (size_t r = 0; r < rows; ++r) {
    if (r) res.push_back(',');
    if (dim <= 1) {
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
