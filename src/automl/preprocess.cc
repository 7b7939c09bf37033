#include "automl/preprocess.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace trainyard::automl {

namespace {

void CheckColumns(const Matrix& X, size_t want, const char* who) {
  if (X.cols != want) {
    throw InvalidInput(std::string(who) + ": X has " + std::to_string(X.cols) +
                       " columns but the model was trained on " + std::to_string(want));
  }
}

// Linear-interpolated quantile of sorted values (numpy's default), as RobustScaler.
double Quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0.0;
  double pos = q * static_cast<double>(sorted.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(pos));
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  double frac = pos - static_cast<double>(lo);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

}  // namespace

Featurizer::Mode Featurizer::ParseMode(const std::string& s) {
  if (s == "auto" || s == "on") return Mode::kAuto;
  if (s == "off") return Mode::kOff;
  throw InvalidInput("featurization '" + s + "' is not supported; use 'auto' or 'off'");
}

void Featurizer::Fit(const Matrix& X, Mode mode) {
  mode_ = mode;
  input_cols_ = X.cols;
  kept_.clear();
  fill_.assign(X.cols, 0.0);
  if (mode == Mode::kOff) {
    for (size_t j = 0; j < X.cols; ++j) kept_.push_back(j);
    return;
  }
  for (size_t j = 0; j < X.cols; ++j) {
    double sum = 0, first = NAN;
    size_t n = 0;
    bool constant = true;
    for (size_t i = 0; i < X.rows; ++i) {
      double v = X.At(i, j);
      if (std::isnan(v)) continue;
      if (n == 0)
        first = v;
      else if (v != first)
        constant = false;
      sum += v;
      ++n;
    }
    fill_[j] = n ? sum / static_cast<double>(n) : 0.0;
    // A column with missing values and one distinct value still carries the "was missing"
    // signal only through imputation, which makes it constant: dropped as well.
    if (n > 0 && !constant) kept_.push_back(j);
  }
  if (kept_.empty()) {
    throw InvalidInput(
        "every feature column is constant or empty; featurization dropped them all and "
        "nothing is left to learn from");
  }
}

Matrix Featurizer::Transform(const Matrix& X) const {
  CheckColumns(X, input_cols_, "featurization");
  Matrix out(X.rows, kept_.size());
  for (size_t i = 0; i < X.rows; ++i) {
    const double* in = X.Row(i);
    double* o = out.Row(i);
    for (size_t k = 0; k < kept_.size(); ++k) {
      double v = in[kept_[k]];
      if (std::isnan(v)) {
        if (mode_ == Mode::kOff) {
          throw InvalidInput("X has a missing value (NaN) at row " + std::to_string(i) +
                             ", column " + std::to_string(kept_[k]) +
                             " and featurization is off; fill it in or train with 'auto'");
        }
        v = fill_[kept_[k]];
      }
      o[k] = v;
    }
  }
  return out;
}

void Featurizer::Save(ByteWriter& w) const {
  w.U8(mode_ == Mode::kAuto);
  w.U64(input_cols_);
  std::vector<double> kept(kept_.begin(), kept_.end());
  w.Doubles(kept);
  w.Doubles(fill_);
}

void Featurizer::Load(ByteReader& r) {
  mode_ = r.U8() ? Mode::kAuto : Mode::kOff;
  input_cols_ = r.U64();
  std::vector<double> kept = r.Doubles();
  fill_ = r.Doubles();
  kept_.clear();
  for (double k : kept) {
    if (!(k >= 0 && k < static_cast<double>(input_cols_))) r.Fail("featurizer column index");
    kept_.push_back(static_cast<size_t>(k));
  }
  if (fill_.size() != input_cols_) r.Fail("featurizer fill values");
}

const std::vector<Scaler::Kind>& Scaler::All() {
  static const std::vector<Kind> kAll = {Kind::kNone,   Kind::kStandard, Kind::kMinMax,
                                         Kind::kMaxAbs, Kind::kRobust,   Kind::kNormalizer};
  return kAll;
}

Scaler::Kind Scaler::Parse(const std::string& name) {
  if (name.empty() || name == "none" || name == "None") return Kind::kNone;
  if (name == "Standardize" || name == "StandardScalerWrapper" || name == "StandardScaler")
    return Kind::kStandard;
  if (name == "Scale 0/1" || name == "MinMaxScaler") return Kind::kMinMax;
  if (name == "Scale MaxAbs 1" || name == "MaxAbsScaler") return Kind::kMaxAbs;
  if (name == "Robust Scaler" || name == "RobustScaler") return Kind::kRobust;
  if (name == "Normalizer") return Kind::kNormalizer;
  throw InvalidInput("scaler '" + name +
                     "' is unknown; use one of Standardize, Scale 0/1, Scale MaxAbs 1, Robust "
                     "Scaler, Normalizer or none");
}

std::string Scaler::DisplayName(Kind kind) {
  switch (kind) {
    case Kind::kNone:
      return "";
    case Kind::kStandard:
      return "Standardize";
    case Kind::kMinMax:
      return "Scale 0/1";
    case Kind::kMaxAbs:
      return "Scale MaxAbs 1";
    case Kind::kRobust:
      return "Robust Scaler";
    case Kind::kNormalizer:
      return "Normalizer";
  }
  return "";
}

void Scaler::Fit(const Matrix& X) {
  shift_.assign(X.cols, 0.0);
  scale_.assign(X.cols, 1.0);
  if (kind_ == Kind::kNone || kind_ == Kind::kNormalizer) return;
  const double n = static_cast<double>(X.rows);
  std::vector<double> col(X.rows);
  for (size_t j = 0; j < X.cols; ++j) {
    for (size_t i = 0; i < X.rows; ++i) col[i] = X.At(i, j);
    switch (kind_) {
      case Kind::kStandard: {
        double mean = 0;
        for (double v : col) mean += v;
        mean /= n;
        double var = 0;
        for (double v : col) var += (v - mean) * (v - mean);
        double sd = std::sqrt(var / n);
        shift_[j] = mean;
        scale_[j] = sd > 0 ? 1.0 / sd : 1.0;
        break;
      }
      case Kind::kMinMax: {
        auto [lo, hi] = std::minmax_element(col.begin(), col.end());
        shift_[j] = *lo;
        scale_[j] = *hi > *lo ? 1.0 / (*hi - *lo) : 1.0;
        break;
      }
      case Kind::kMaxAbs: {
        double m = 0;
        for (double v : col) m = std::max(m, std::fabs(v));
        scale_[j] = m > 0 ? 1.0 / m : 1.0;
        break;
      }
      case Kind::kRobust: {
        std::sort(col.begin(), col.end());
        double iqr = Quantile(col, 0.75) - Quantile(col, 0.25);
        shift_[j] = Quantile(col, 0.5);
        scale_[j] = iqr > 0 ? 1.0 / iqr : 1.0;
        break;
      }
      default:
        break;
    }
  }
}

void Scaler::TransformInPlace(Matrix& X) const {
  if (kind_ == Kind::kNone) return;
  if (kind_ == Kind::kNormalizer) {
    for (size_t i = 0; i < X.rows; ++i) {
      double* r = X.Row(i);
      double ss = 0;
      for (size_t j = 0; j < X.cols; ++j) ss += r[j] * r[j];
      if (ss == 0) continue;
      double inv = 1.0 / std::sqrt(ss);
      for (size_t j = 0; j < X.cols; ++j) r[j] *= inv;
    }
    return;
  }
  CheckColumns(X, shift_.size(), "scaler");
  for (size_t i = 0; i < X.rows; ++i) {
    double* r = X.Row(i);
    for (size_t j = 0; j < X.cols; ++j) r[j] = (r[j] - shift_[j]) * scale_[j];
  }
}

Matrix Scaler::Transform(const Matrix& X) const {
  Matrix out = X;
  TransformInPlace(out);
  return out;
}

void Scaler::Save(ByteWriter& w) const {
  w.U8(static_cast<uint8_t>(kind_));
  w.Doubles(shift_);
  w.Doubles(scale_);
}

void Scaler::Load(ByteReader& r) {
  uint8_t k = r.U8();
  if (k > static_cast<uint8_t>(Kind::kNormalizer)) r.Fail("scaler kind");
  kind_ = static_cast<Kind>(k);
  shift_ = r.Doubles();
  scale_ = r.Doubles();
  if (shift_.size() != scale_.size()) r.Fail("scaler sizes");
}

}  // namespace trainyard::automl
