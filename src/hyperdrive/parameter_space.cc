#include "hyperdrive/parameter_space.h"

#include <charconv>
#include <cmath>
#include <map>
#include <numbers>

#include "common/error.h"

namespace trainyard::hyperdrive {
namespace {

const std::map<std::string, ExpressionType>& TypesByName() {
  static const std::map<std::string, ExpressionType> k = {
      {"choice", ExpressionType::kChoice},         {"randint", ExpressionType::kRandint},
      {"uniform", ExpressionType::kUniform},       {"quniform", ExpressionType::kQUniform},
      {"loguniform", ExpressionType::kLogUniform}, {"qloguniform", ExpressionType::kQLogUniform},
      {"normal", ExpressionType::kNormal},         {"qnormal", ExpressionType::kQNormal},
      {"lognormal", ExpressionType::kLogNormal},   {"qlognormal", ExpressionType::kQLogNormal},
  };
  return k;
}

double Uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// Box-Muller (not std::normal_distribution, whose draws differ between standard libraries).
double StandardNormal(std::mt19937_64& rng) {
  double u1 = Uniform01(rng);
  double u2 = Uniform01(rng);
  if (u1 <= 0) u1 = 0x1.0p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

double NormalCdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

bool IsNormalFamily(ExpressionType t) {
  return t == ExpressionType::kNormal || t == ExpressionType::kQNormal ||
         t == ExpressionType::kLogNormal || t == ExpressionType::kQLogNormal;
}

bool IsQuantized(ExpressionType t) {
  return t == ExpressionType::kQUniform || t == ExpressionType::kQLogUniform ||
         t == ExpressionType::kQNormal || t == ExpressionType::kQLogNormal;
}

double Number(const Json& v, const std::string& what) {
  if (!v.is_number() || v.is_boolean()) throw InvalidInput(what + " must be a number");
  double d = v.get<double>();
  if (!std::isfinite(d)) throw InvalidInput(what + " must be finite");
  return d;
}

ParameterExpression ParseOne(const std::string& name, const Json& expr) {
  if (name.empty()) throw InvalidInput("a hyperparameter name must not be empty");
  std::string where = "hyperparameter '" + name + "'";
  if (!expr.is_array() || expr.size() != 2 || !expr[0].is_string() || !expr[1].is_array()) {
    throw InvalidInput(where +
                       ": expected a parameter expression such as choice(1, 2) or "
                       "uniform(0, 1) (wire form [\"uniform\", [0, 1]])");
  }
  auto it = TypesByName().find(expr[0].get<std::string>());
  if (it == TypesByName().end()) {
    throw InvalidInput(where + ": unknown parameter expression '" + expr[0].get<std::string>() +
                       "'; use choice, randint, uniform, quniform, loguniform, qloguniform, "
                       "normal, qnormal, lognormal or qlognormal");
  }
  ParameterExpression p;
  p.name = name;
  p.type = it->second;
  const Json& args = expr[1];
  std::string tn = p.TypeName();
  if (p.type == ExpressionType::kChoice) {
    // Azure's form is ["choice", [[o1, o2, ...]]]; ["choice", [o1, o2]] is accepted too.
    const Json& opts = args.size() == 1 && args[0].is_array() ? args[0] : args;
    if (opts.empty()) throw InvalidInput(where + ": choice() needs at least one option");
    for (auto& o : opts) {
      if (!o.is_primitive() || o.is_null()) {
        throw InvalidInput(where + ": choice options must be numbers, strings or booleans");
      }
      p.options.push_back(o);
    }
    return p;
  }
  if (p.type == ExpressionType::kRandint) {
    if (args.size() != 1) throw InvalidInput(where + ": randint(upper) takes one argument");
    double upper = Number(args[0], where + ": randint's upper");
    if (upper != std::floor(upper) || upper < 1) {
      throw InvalidInput(where + ": randint(upper) needs an integer upper >= 1, got " +
                         args[0].dump());
    }
    p.a = upper;
    return p;
  }
  size_t want = IsQuantized(p.type) ? 3 : 2;
  bool normal = IsNormalFamily(p.type);
  std::string sig = normal ? "(mu, sigma" : "(min_value, max_value";
  if (args.size() != want) {
    throw InvalidInput(where + ": " + tn + sig + (want == 3 ? ", q)" : ")") + " takes " +
                       std::to_string(want) + " arguments, got " + std::to_string(args.size()));
  }
  p.a = Number(args[0], where + ": " + tn + "'s first argument");
  p.b = Number(args[1], where + ": " + tn + "'s second argument");
  if (want == 3) {
    p.q = Number(args[2], where + ": " + tn + "'s q");
    if (p.q <= 0) {
      throw InvalidInput(where + ": " + tn +
                         "'s q must be > 0 (the values are round(x / q) * q), "
                         "got " +
                         args[2].dump());
    }
  }
  if (normal) {
    if (p.b <= 0) throw InvalidInput(where + ": " + tn + "'s sigma must be > 0");
  } else if (p.a >= p.b) {
    throw InvalidInput(where + ": " + tn + " needs min_value < max_value, got (" + args[0].dump() +
                       ", " + args[1].dump() + ")");
  }
  return p;
}

}  // namespace

std::string ParameterExpression::TypeName() const {
  for (auto& [n, t] : TypesByName())
    if (t == type) return n;
  return "?";
}

std::string ParameterExpression::Flag() const {
  return !name.empty() && name[0] == '-' ? name : "--" + name;
}

double Quantize(double x, double q) { return std::nearbyint(x / q) * q; }

Json ParameterExpression::FromDraws(double u, double z) const {
  switch (type) {
    case ExpressionType::kChoice: {
      size_t k = std::min(options.size() - 1, static_cast<size_t>(u * options.size()));
      return options[k];
    }
    case ExpressionType::kRandint:
      return static_cast<int64_t>(std::min(a - 1, std::floor(u * a)));
    case ExpressionType::kUniform:
      return a + u * (b - a);
    case ExpressionType::kQUniform:
      return Quantize(a + u * (b - a), q);
    case ExpressionType::kLogUniform:
      return std::exp(a + u * (b - a));
    case ExpressionType::kQLogUniform:
      return Quantize(std::exp(a + u * (b - a)), q);
    case ExpressionType::kNormal:
      return a + b * z;
    case ExpressionType::kQNormal:
      return Quantize(a + b * z, q);
    case ExpressionType::kLogNormal:
      return std::exp(a + b * z);
    case ExpressionType::kQLogNormal:
      return Quantize(std::exp(a + b * z), q);
  }
  return nullptr;
}

Json ParameterExpression::Sample(std::mt19937_64& rng) const {
  if (IsNormalFamily(type)) return FromDraws(0, StandardNormal(rng));
  return FromDraws(Uniform01(rng), 0);
}

double ParameterExpression::Cdf(double x) const {
  switch (type) {
    case ExpressionType::kUniform:
    case ExpressionType::kQUniform:
      return std::clamp((x - a) / (b - a), 0.0, 1.0);
    case ExpressionType::kLogUniform:
    case ExpressionType::kQLogUniform:
      return x <= 0 ? 0.0 : std::clamp((std::log(x) - a) / (b - a), 0.0, 1.0);
    case ExpressionType::kNormal:
    case ExpressionType::kQNormal:
      return NormalCdf((x - a) / b);
    case ExpressionType::kLogNormal:
    case ExpressionType::kQLogNormal:
      return x <= 0 ? 0.0 : NormalCdf((std::log(x) - a) / b);
    case ExpressionType::kRandint:
      return std::clamp((std::floor(x) + 1) / a, 0.0, 1.0);
    case ExpressionType::kChoice:
      break;
  }
  return 0;
}

ParameterSpace ParameterSpace::Parse(const Json& wire) {
  ParameterSpace space;
  if (wire.is_object()) {
    for (auto& [k, v] : wire.items()) space.parameters.push_back(ParseOne(k, v));
  } else if (wire.is_array()) {
    for (auto& item : wire) {
      if (!item.is_object() || !item.contains("name") || !item["name"].is_string()) {
        throw InvalidInput("parameter_space entries must be {\"name\": ..., \"expression\": ...}");
      }
      space.parameters.push_back(ParseOne(item["name"], item.value("expression", Json())));
    }
  } else {
    throw InvalidInput("parameter_space must be a dictionary of name -> parameter expression");
  }
  if (space.parameters.empty()) {
    throw InvalidInput("the parameter space is empty: give at least one hyperparameter");
  }
  for (size_t i = 0; i < space.parameters.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (space.parameters[i].Flag() == space.parameters[j].Flag()) {
        throw InvalidInput("hyperparameter '" + space.parameters[i].name + "' is given twice");
      }
    }
  }
  return space;
}

Json ParameterSpace::ToWire() const {
  Json out = Json::array();
  for (auto& p : parameters) {
    Json args;
    if (p.type == ExpressionType::kChoice) {
      args = Json::array({Json(p.options)});
    } else if (p.type == ExpressionType::kRandint) {
      args = Json::array({static_cast<int64_t>(p.a)});
    } else if (IsQuantized(p.type)) {
      args = Json::array({p.a, p.b, p.q});
    } else {
      args = Json::array({p.a, p.b});
    }
    out.push_back({{"name", p.name}, {"expression", Json::array({p.TypeName(), args})}});
  }
  return out;
}

std::string FormatArgument(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
  if (v.is_number_integer()) return v.dump();
  if (!v.is_number()) return v.dump();
  double d = v.get<double>();
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  // Python's repr: the shortest round-trip digits, fixed notation for 1e-4 <= |d| < 1e16.
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, r.ptr);  // "-1.2345e-05"
  size_t epos = sci.find('e');
  int exp10 = std::atoi(sci.c_str() + epos + 1);
  std::string mant = sci.substr(0, epos);
  bool neg = !mant.empty() && mant[0] == '-';
  if (neg) mant.erase(0, 1);
  std::string digits;
  for (char c : mant)
    if (c != '.') digits += c;
  std::string out;
  if (exp10 >= -5 + 1 && exp10 < 16) {
    if (exp10 < 0) {
      out = "0." + std::string(static_cast<size_t>(-exp10 - 1), '0') + digits;
    } else if (static_cast<size_t>(exp10) + 1 >= digits.size()) {
      out = digits + std::string(static_cast<size_t>(exp10) + 1 - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, static_cast<size_t>(exp10) + 1) + "." +
            digits.substr(static_cast<size_t>(exp10) + 1);
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char e[16];
    std::snprintf(e, sizeof e, "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
    out += e;
  }
  return (neg ? "-" : "") + out;
}

uint64_t DrawSeed(uint64_t seed, uint64_t index) {
  auto mix = [](uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  return mix(mix(seed) ^ index);
}

}  // namespace trainyard::hyperdrive
