// Validation splits: stratified k-fold (classification), k-fold (regression), a shuffled
// train/validation holdout by fraction, and Azure's defaults. Deterministic for a seed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "automl/matrix.h"

namespace trainyard::automl {

struct Fold {
  std::vector<size_t> train;
  std::vector<size_t> valid;
};

// k folds over `target.y`'s rows. Classification folds are stratified: each class's rows are
// shuffled and dealt round-robin across folds (offset per class, so fold sizes differ by at
// most one), so every fold holds each class in proportion. Throws InvalidInput when k < 2,
// k > rows. A class with fewer than k
// rows is allowed (scikit-learn warns there).
std::vector<Fold> KFoldSplits(const Target& target, size_t k, uint64_t seed);

// One shuffled holdout: `valid_fraction` of the rows (stratified for classification, at least
// one row on each side). Throws InvalidInput when the fraction is not in (0, 1).
Fold HoldoutSplit(const Target& target, double valid_fraction, uint64_t seed);

// How an experiment validates, decided from the user's settings and the data (Azure's rules):
// explicit validation data wins; then validation_size; then n_cross_validations; otherwise
// more than 20,000 rows -> 10% holdout, else CV with 10 folds under 1,000 rows and 3 above.
struct ValidationPlan {
  enum class Kind { kCrossValidation, kHoldout, kExplicit } kind = Kind::kCrossValidation;
  size_t folds = 0;       // kCrossValidation
  double fraction = 0.0;  // kHoldout
};
ValidationPlan ChooseValidation(size_t rows, bool has_validation_data, double validation_size,
                                size_t n_cross_validations);

// The folds of a plan (kExplicit: one fold training on every row, validating on none — the
// caller scores on its validation data).
std::vector<Fold> MakeSplits(const ValidationPlan& plan, const Target& target, uint64_t seed);

}  // namespace trainyard::automl
