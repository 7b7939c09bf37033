// The search space of a HyperDrive sweep: named parameter expressions with Azure ML's
// semantics (azureml.train.hyperdrive.parameter_expressions, after hyperopt):
//   choice(options...)          one of the options, uniformly
//   randint(upper)              an integer in [0, upper)
//   uniform(lo, hi)             uniform on [lo, hi]
//   quniform(lo, hi, q)         round(uniform(lo, hi) / q) * q
//   loguniform(lo, hi)          exp(uniform(lo, hi))
//   qloguniform(lo, hi, q)      round(exp(uniform(lo, hi)) / q) * q
//   normal(mu, sigma)           normal with mean mu and standard deviation sigma
//   qnormal(mu, sigma, q)       round(normal(mu, sigma) / q) * q
//   lognormal(mu, sigma)        exp(normal(mu, sigma))
//   qlognormal(mu, sigma, q)    round(exp(normal(mu, sigma)) / q) * q
// (round is round-half-to-even, as numpy's.) The wire form of an expression is Azure's:
// ["choice", [[1, 2, 3]]], ["uniform", [0, 1]], ["quniform", [0, 10, 2]], ...
//
// Values are immutable after parsing; all functions are thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace trainyard::hyperdrive {

using Json = nlohmann::json;

enum class ExpressionType {
  kChoice,
  kRandint,
  kUniform,
  kQUniform,
  kLogUniform,
  kQLogUniform,
  kNormal,
  kQNormal,
  kLogNormal,
  kQLogNormal,
};

struct ParameterExpression {
  std::string name;  // as the user wrote it: "--learning-rate" or "learning_rate"
  ExpressionType type = ExpressionType::kChoice;
  std::vector<Json> options;   // choice
  double a = 0, b = 0, q = 0;  // (lo, hi) or (mu, sigma); q for the q-variants; randint: a = upper

  // The expression's type name ("choice", "loguniform", ...).
  std::string TypeName() const;
  // The value for a uniform draw u in [0, 1) and, for normal types, a standard normal draw z.
  Json FromDraws(double u, double z) const;
  // Draws one value.
  Json Sample(std::mt19937_64& rng) const;
  // Exact CDF of the (unquantized, continuous) distribution at x; used by tests.
  double Cdf(double x) const;
  // The flag passed to the script: the name itself when it starts with '-', else "--name".
  std::string Flag() const;
};

struct ParameterSpace {
  std::vector<ParameterExpression> parameters;  // in the order the user gave them

  // Parses the wire form: [{"name": "--lr", "expression": ["loguniform", [-6, -1]]}, ...] (or an
  // object name -> expression, in key order). Throws InvalidInput naming the parameter and rule
  // (e.g. quniform's q must be > 0).
  static ParameterSpace Parse(const Json& wire);
  Json ToWire() const;
};

// round-half-to-even(x / q) * q, as numpy.round.
double Quantize(double x, double q);
// Formats a sampled value as a command-line argument the way Python's str() does (1.0, 0.001,
// 1e-05, 'rbf' -> rbf, True).
std::string FormatArgument(const Json& v);
// A 64-bit seed for draw `index` of a sweep seeded with `seed` (SplitMix64 of both): draws do
// not depend on the order or timing in which children are created.
uint64_t DrawSeed(uint64_t seed, uint64_t index);

}  // namespace trainyard::hyperdrive
