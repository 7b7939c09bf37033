#include "automl/pipeline.h"

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "automl/registry.h"
#include "common/error.h"

namespace trainyard::automl {

namespace {

constexpr char kMagic[8] = {'T', 'Y', 'A', 'U', 'T', 'O', 'M', 'L'};

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

std::unique_ptr<Pipeline> Pipeline::Fit(const PipelineSpec& spec, const Matrix& X, const Target& y,
                                        const FitContext& ctx,
                                        std::vector<std::string> feature_names) {
  ValidateTrainingData(X, y, spec.featurization == Featurizer::Mode::kAuto);
  if (!feature_names.empty() && feature_names.size() != X.cols) {
    throw InvalidInput(std::to_string(feature_names.size()) + " feature names for " +
                       std::to_string(X.cols) + " columns");
  }
  auto p = std::make_unique<Pipeline>();
  p->task_ = y.task;
  p->class_names_ = y.class_names;
  p->feature_names_ = std::move(feature_names);
  p->learner_ = CreateLearner(spec.learner, y.task, spec.params);
  p->featurizer_.Fit(X, spec.featurization);
  Matrix Z = p->featurizer_.Transform(X);
  p->scaler_ = Scaler(spec.scaler);
  p->scaler_.Fit(Z);
  p->scaler_.TransformInPlace(Z);
  p->learner_->Fit(Z, y, ctx);
  return p;
}

Matrix Pipeline::Transform(const Matrix& X) const {
  if (X.cols != input_columns()) {
    throw InvalidInput("X has " + std::to_string(X.cols) + " columns but the model expects " +
                       std::to_string(input_columns()));
  }
  Matrix Z = featurizer_.Transform(X);
  scaler_.TransformInPlace(Z);
  return Z;
}

Matrix Pipeline::PredictRaw(const Matrix& X) const { return learner_->Predict(Transform(X)); }

std::vector<double> Pipeline::Predict(const Matrix& X) const {
  Matrix raw = PredictRaw(X);
  if (task_ == Task::kRegression) return raw.data;
  std::vector<int> idx = ArgmaxRows(raw);
  return std::vector<double>(idx.begin(), idx.end());
}

std::string Pipeline::Label() const {
  return PipelineLabel(Scaler::DisplayName(scaler_.kind()), learner_->name(), task_);
}

std::string Pipeline::HeaderJson() const {
  nlohmann::json params = nlohmann::json::object();
  for (const auto& [k, v] : learner_->params().num) params[k] = v;
  for (const auto& [k, v] : learner_->params().str) params[k] = v;
  nlohmann::json h = {
      {"format", "trainyard-automl-model"},
      {"version", kModelFormatVersion},
      {"task", TaskName(task_)},
      {"learner", learner_->name()},
      {"scaler", Scaler::DisplayName(scaler_.kind())},
      {"featurization", featurizer_.mode() == Featurizer::Mode::kAuto ? "auto" : "off"},
      {"pipeline", Label()},
      {"classes", class_names_},
      {"n_features", input_columns()},
      {"feature_names", feature_names_},
      {"params", params},
      {"engine", "trainyard " TRAINYARD_VERSION},
  };
  return h.dump();
}

std::string Pipeline::Serialize() const {
  ByteWriter w;
  w.Raw(kMagic, sizeof kMagic);
  w.U32(kModelFormatVersion);
  w.Str(HeaderJson());
  w.U8(task_ == Task::kClassification ? 0 : 1);
  w.Strings(class_names_);
  w.Strings(feature_names_);
  featurizer_.Save(w);
  scaler_.Save(w);
  w.Str(learner_->name());
  learner_->params().Save(w);
  learner_->SaveState(w);
  w.U64(Fnv1a(w.buffer()));
  return std::move(w.buffer());
}

namespace {
// Checks magic, version and checksum; returns a reader positioned after the version.
ByteReader OpenModel(std::string_view bytes) {
  if (bytes.size() < sizeof kMagic + 4 + 8 || std::memcmp(bytes.data(), kMagic, 8) != 0) {
    throw InvalidInput("not a Trainyard AutoML model file (magic 'TYAUTOML' missing)");
  }
  ByteReader r(bytes, "model file");
  r.Take(sizeof kMagic);
  uint32_t version = r.U32();
  if (version > kModelFormatVersion || version == 0) {
    throw InvalidInput("model file format version " + std::to_string(version) +
                       " is not supported by this engine (it reads up to version " +
                       std::to_string(kModelFormatVersion) + "); upgrade Trainyard");
  }
  uint64_t stored;
  std::memcpy(&stored, bytes.data() + bytes.size() - 8, 8);
  if (stored != Fnv1a(bytes.substr(0, bytes.size() - 8))) {
    throw InvalidInput("model file is corrupt (checksum mismatch)");
  }
  return r;
}
}  // namespace

std::string Pipeline::ReadHeader(std::string_view bytes) { return OpenModel(bytes).Str(); }

std::unique_ptr<Pipeline> Pipeline::Deserialize(std::string_view bytes) {
  ByteReader r = OpenModel(bytes.substr(0, bytes.size()));
  r.Str();  // JSON header
  auto p = std::make_unique<Pipeline>();
  uint8_t task = r.U8();
  if (task > 1) r.Fail("task");
  p->task_ = task == 0 ? Task::kClassification : Task::kRegression;
  p->class_names_ = r.Strings();
  p->feature_names_ = r.Strings();
  p->featurizer_.Load(r);
  p->scaler_.Load(r);
  std::string name = r.Str();
  Params params;
  params.Load(r);
  p->learner_ = CreateLearner(name, p->task_, params);
  p->learner_->LoadState(r);
  if (r.remaining() != 8) r.Fail("trailing bytes");
  if (p->task_ == Task::kClassification && p->learner_->num_outputs() != p->class_names_.size()) {
    r.Fail("class count");
  }
  if (!p->feature_names_.empty() && p->feature_names_.size() != p->input_columns()) {
    r.Fail("feature names");
  }
  if (p->scaler_.IsColumnwise() && p->scaler_.kind() != Scaler::Kind::kNone &&
      p->scaler_.shift().size() != p->featurizer_.kept_columns().size()) {
    r.Fail("scaler width");
  }
  return p;
}

void Pipeline::Save(const std::filesystem::path& path) const {
  std::string bytes = Serialize();
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw InvalidInput("cannot write the model file " + path.string());
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw InternalError("writing " + tmp.string() + " failed");
  }
  std::filesystem::rename(tmp, path);
}

std::unique_ptr<Pipeline> Pipeline::Load(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw NotFound("model file " + path.string() + " cannot be opened");
  std::ostringstream ss;
  ss << in.rdbuf();
  return Deserialize(ss.str());
}

Evaluation EvaluatePipeline(const PipelineSpec& spec, const Matrix& X, const Target& y,
                            const std::vector<Fold>& folds, const FitContext& ctx,
                            const Matrix* valid_X, const Target* valid_y) {
  Evaluation ev;
  auto score = [&](const Pipeline& p, const Matrix& VX, const Target& vy) {
    Matrix raw = p.PredictRaw(VX);
    if (y.task == Task::kClassification) return ClassificationScores(vy.y, raw);
    auto [lo, hi] = std::minmax_element(y.y.begin(), y.y.end());
    return RegressionScores(vy.y, raw.data, *hi - *lo);
  };
  auto accumulate = [&](const Scores& s) {
    for (const auto& [k, v] : s) ev.scores[k] += v;
    ++ev.folds;
  };
  if (valid_X) {
    auto p = Pipeline::Fit(spec, X, y, ctx);
    accumulate(score(*p, *valid_X, *valid_y));
  } else {
    for (const Fold& f : folds) {
      Target ty = y;
      ty.y = SelectItems(y.y, f.train);
      Target vy = y;
      vy.y = SelectItems(y.y, f.valid);
      auto p = Pipeline::Fit(spec, SelectRows(X, f.train), ty, ctx);
      accumulate(score(*p, SelectRows(X, f.valid), vy));
    }
  }
  for (auto& [k, v] : ev.scores) v /= static_cast<double>(ev.folds);
  return ev;
}

}  // namespace trainyard::automl
