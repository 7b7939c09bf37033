#include "automl/learner.h"

#include <exception>
#include <mutex>
#include <thread>

#include "common/error.h"

namespace trainyard::automl {

void Params::Save(ByteWriter& w) const {
  w.U64(num.size());
  for (const auto& [k, v] : num) {
    w.Str(k);
    w.F64(v);
  }
  w.U64(str.size());
  for (const auto& [k, v] : str) {
    w.Str(k);
    w.Str(v);
  }
}

void Params::Load(ByteReader& r) {
  num.clear();
  str.clear();
  uint64_t n = r.U64();
  if (n > r.remaining()) r.Fail("parameter count");
  for (uint64_t i = 0; i < n; ++i) {
    std::string k = r.Str();
    num[k] = r.F64();
  }
  n = r.U64();
  if (n > r.remaining()) r.Fail("parameter count");
  for (uint64_t i = 0; i < n; ++i) {
    std::string k = r.Str();
    str[k] = r.Str();
  }
}

void Learner::CheckPredictInput(const Matrix& X) const {
  if (X.cols != n_features_) {
    throw InvalidInput(name() + ": X has " + std::to_string(X.cols) +
                       " columns but the model was trained on " + std::to_string(n_features_));
  }
}

void Learner::SaveShape(ByteWriter& w) const {
  w.U64(n_outputs_);
  w.U64(n_features_);
}

void Learner::LoadShape(ByteReader& r) {
  n_outputs_ = r.U64();
  n_features_ = r.U64();
  if (n_outputs_ == 0 || n_outputs_ > (1u << 20) || n_features_ > (1u << 28)) r.Fail("shape");
}

ParamSpec ParamSpec::Float(std::string name, double low, double high, double init, bool log) {
  ParamSpec s;
  s.type = Type::kFloat;
  s.name = std::move(name);
  s.low = low;
  s.high = high;
  s.default_num = init;
  s.log = log;
  return s;
}

ParamSpec ParamSpec::Int(std::string name, double low, double high, double init, bool log) {
  ParamSpec s = Float(std::move(name), low, high, init, log);
  s.type = Type::kInt;
  return s;
}

ParamSpec ParamSpec::Choice(std::string name, std::vector<std::string> choices, std::string init) {
  ParamSpec s;
  s.type = Type::kChoice;
  s.name = std::move(name);
  s.choices = std::move(choices);
  s.default_str = std::move(init);
  return s;
}

void ParallelFor(size_t n, size_t threads, const std::function<void(size_t)>& fn) {
  threads = std::max<size_t>(1, std::min(threads, n));
  if (threads <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex mu;
  auto work = [&] {
    for (;;) {
      size_t i = next.fetch_add(1);
      if (i >= n) return;
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
        next.store(n);
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace trainyard::automl
