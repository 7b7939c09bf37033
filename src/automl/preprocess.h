// Featurization and scaling: the first two stages of a pipeline.
//
// Featurizer 'auto' (numeric matrices): mean-imputes NaN (column mean over the non-missing
// training values) and drops constant columns (one distinct value, or all missing); 'off'
// passes columns through and rejects NaN at fit and transform time.
//
// Scalers, named as Azure AutoML's table: "Standardize" (StandardScalerWrapper), "Scale 0/1"
// (MinMaxScaler), "Scale MaxAbs 1" (MaxAbsScaler), "Robust Scaler" (RobustScaler),
// "Normalizer" (row L2 norm), and "" (none). All but Normalizer are per-column affine maps
// z = (x - shift) * scale, with scikit-learn's rules for zero spread (scale 1).
// Fitted objects are immutable; Transform is thread-safe.
#pragma once

#include <string>
#include <vector>

#include "automl/bytes.h"
#include "automl/matrix.h"

namespace trainyard::automl {

class Featurizer {
 public:
  enum class Mode { kOff, kAuto };
  // "auto" / "off" (also accepts true/false spellings "on"); throws InvalidInput otherwise.
  static Mode ParseMode(const std::string& s);

  void Fit(const Matrix& X, Mode mode);
  Matrix Transform(const Matrix& X) const;

  Mode mode() const { return mode_; }
  size_t input_columns() const { return input_cols_; }
  // Input column index of each output column.
  const std::vector<size_t>& kept_columns() const { return kept_; }
  const std::vector<double>& fill_values() const { return fill_; }

  void Save(ByteWriter& w) const;
  void Load(ByteReader& r);

 private:
  Mode mode_ = Mode::kOff;
  size_t input_cols_ = 0;
  std::vector<size_t> kept_;
  std::vector<double> fill_;  // per input column (auto)
};

class Scaler {
 public:
  enum class Kind { kNone, kStandard, kMinMax, kMaxAbs, kRobust, kNormalizer };
  // Accepts the Azure display names above and the class names (StandardScalerWrapper,
  // MinMaxScaler, MaxAbsScaler, RobustScaler, Normalizer, none/""); InvalidInput otherwise.
  static Kind Parse(const std::string& name);
  static std::string DisplayName(Kind kind);
  static const std::vector<Kind>& All();

  explicit Scaler(Kind kind = Kind::kNone) : kind_(kind) {}
  void Fit(const Matrix& X);
  Matrix Transform(const Matrix& X) const;
  void TransformInPlace(Matrix& X) const;

  Kind kind() const { return kind_; }
  bool IsColumnwise() const { return kind_ != Kind::kNormalizer; }
  const std::vector<double>& shift() const { return shift_; }
  const std::vector<double>& scale() const { return scale_; }

  void Save(ByteWriter& w) const;
  void Load(ByteReader& r);

 private:
  Kind kind_;
  std::vector<double> shift_, scale_;
};

}  // namespace trainyard::automl
