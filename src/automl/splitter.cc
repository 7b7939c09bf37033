#include "automl/splitter.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "common/error.h"

namespace trainyard::automl {

namespace {

// Row indices grouped by class (one group for regression), each group shuffled.
std::vector<std::vector<size_t>> ShuffledGroups(const Target& target, std::mt19937_64& rng) {
  size_t groups = target.task == Task::kClassification ? target.NumClasses() : 1;
  std::vector<std::vector<size_t>> g(std::max<size_t>(groups, 1));
  for (size_t i = 0; i < target.y.size(); ++i) {
    size_t c = target.task == Task::kClassification ? static_cast<size_t>(target.y[i]) : 0;
    g.at(c).push_back(i);
  }
  for (auto& v : g) std::shuffle(v.begin(), v.end(), rng);
  return g;
}

}  // namespace

std::vector<Fold> KFoldSplits(const Target& target, size_t k, uint64_t seed) {
  const size_t n = target.y.size();
  if (k < 2) throw InvalidInput("n_cross_validations must be at least 2; got " + std::to_string(k));
  if (k > n) {
    throw InvalidInput("n_cross_validations (" + std::to_string(k) + ") exceeds the " +
                       std::to_string(n) + " training rows");
  }
  std::mt19937_64 rng(seed);
  auto groups = ShuffledGroups(target, rng);
  std::vector<size_t> fold_of(n);
  size_t next = 0;  // continues across classes so fold sizes stay balanced
  for (const auto& g : groups) {
    for (size_t i : g) fold_of[i] = next++ % k;
  }
  std::vector<Fold> folds(k);
  for (size_t i = 0; i < n; ++i) {
    for (size_t f = 0; f < k; ++f) (fold_of[i] == f ? folds[f].valid : folds[f].train).push_back(i);
  }
  return folds;
}

Fold HoldoutSplit(const Target& target, double valid_fraction, uint64_t seed) {
  if (!(valid_fraction > 0.0 && valid_fraction < 1.0)) {
    throw InvalidInput("validation_size must be between 0 and 1 (exclusive)");
  }
  const size_t n = target.y.size();
  if (n < 2) throw InvalidInput("a train/validation split needs at least two rows");
  std::mt19937_64 rng(seed);
  auto groups = ShuffledGroups(target, rng);
  Fold fold;
  // Stratify: take round(fraction * size) of each class, carrying the rounding remainder.
  double carry = 0;
  for (const auto& g : groups) {
    double want = valid_fraction * static_cast<double>(g.size()) + carry;
    size_t take = std::min(g.size(), static_cast<size_t>(want + 0.5));
    carry = want - static_cast<double>(take);
    fold.valid.insert(fold.valid.end(), g.begin(), g.begin() + static_cast<ptrdiff_t>(take));
    fold.train.insert(fold.train.end(), g.begin() + static_cast<ptrdiff_t>(take), g.end());
  }
  if (fold.valid.empty()) {
    fold.valid.push_back(fold.train.back());
    fold.train.pop_back();
  }
  if (fold.train.empty()) {
    fold.train.push_back(fold.valid.back());
    fold.valid.pop_back();
  }
  std::sort(fold.train.begin(), fold.train.end());
  std::sort(fold.valid.begin(), fold.valid.end());
  return fold;
}

ValidationPlan ChooseValidation(size_t rows, bool has_validation_data, double validation_size,
                                size_t n_cross_validations) {
  ValidationPlan p;
  if (has_validation_data) {
    if (validation_size > 0 || n_cross_validations > 0) {
      throw InvalidInput(
          "give either validation data (X_valid/y_valid) or validation_size / "
          "n_cross_validations, not both");
    }
    p.kind = ValidationPlan::Kind::kExplicit;
    return p;
  }
  if (validation_size > 0 && n_cross_validations > 0) {
    throw InvalidInput("give either validation_size or n_cross_validations, not both");
  }
  if (validation_size > 0) {
    if (validation_size >= 1.0) throw InvalidInput("validation_size must be below 1.0");
    p.kind = ValidationPlan::Kind::kHoldout;
    p.fraction = validation_size;
    return p;
  }
  if (n_cross_validations > 0) {
    p.kind = ValidationPlan::Kind::kCrossValidation;
    p.folds = n_cross_validations;
    return p;
  }
  if (rows > 20000) {
    p.kind = ValidationPlan::Kind::kHoldout;
    p.fraction = 0.1;
  } else {
    p.kind = ValidationPlan::Kind::kCrossValidation;
    p.folds = rows < 1000 ? 10 : 3;
  }
  return p;
}

std::vector<Fold> MakeSplits(const ValidationPlan& plan, const Target& target, uint64_t seed) {
  switch (plan.kind) {
    case ValidationPlan::Kind::kCrossValidation:
      return KFoldSplits(target, plan.folds, seed);
    case ValidationPlan::Kind::kHoldout:
      return {HoldoutSplit(target, plan.fraction, seed)};
    case ValidationPlan::Kind::kExplicit: {
      Fold f;
      f.train.resize(target.y.size());
      std::iota(f.train.begin(), f.train.end(), 0);
      return {f};
    }
  }
  throw InternalError("unknown validation plan");
}

}  // namespace trainyard::automl
