#include "automl/pipeline.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
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

std::unique_ptr<Pipeline> Pipeline::Fit(const PipelineSpec& spec, const DataTable& X,
                                        const Target& y, const FitContext& ctx) {
  auto f = std::make_shared<TableFeaturizer>();
  f->Fit(X, spec.featurization);
  auto p = Fit(spec, f->Transform(X), y, ctx);
  p->SetTableFeaturizer(std::move(f));
  return p;
}

void Pipeline::SetTableFeaturizer(std::shared_ptr<const TableFeaturizer> f) {
  if (f && f->output_names().size() != input_columns()) {
    throw InvalidInput("the table featurizer makes " + std::to_string(f->output_names().size()) +
                       " features but the model takes " + std::to_string(input_columns()));
  }
  if (f) feature_names_ = f->output_names();
  table_ = std::move(f);
}

Matrix Pipeline::FeaturizeTable(const DataTable& X) const {
  if (!table_) {
    throw InvalidInput(
        "this model was trained on a numeric matrix, not a table; pass a numeric matrix with " +
        std::to_string(input_columns()) + " columns");
  }
  return table_->Transform(X);
}

const Learner& Pipeline::learner() const {
  if (!learner_) {
    throw InvalidInput("this model is a " + Label() + "; it has no single learner");
  }
  return *learner_;
}

size_t Pipeline::input_columns() const {
  return is_ensemble() ? members_[0]->input_columns() : featurizer_.input_columns();
}

std::unique_ptr<Pipeline> Pipeline::MakeEnsemble(Kind kind,
                                                 std::vector<std::unique_ptr<Pipeline>> members,
                                                 std::vector<double> weights,
                                                 std::unique_ptr<Learner> meta) {
  if (kind == Kind::kSingle || members.empty()) {
    throw InvalidInput("an ensemble needs a kind and at least one member");
  }
  if (kind == Kind::kVoting && weights.size() != members.size()) {
    throw InvalidInput("a voting ensemble needs one weight per member");
  }
  if (kind == Kind::kStack && !meta) throw InvalidInput("a stack ensemble needs a meta learner");
  for (const auto& m : members) {
    if (m->is_ensemble() || m->task_ != members[0]->task_ ||
        m->class_names_ != members[0]->class_names_ ||
        m->input_columns() != members[0]->input_columns()) {
      throw InvalidInput(
          "ensemble members must be single pipelines with the same task, classes and inputs");
    }
  }
  auto p = std::make_unique<Pipeline>();
  p->kind_ = kind;
  p->task_ = members[0]->task_;
  p->class_names_ = members[0]->class_names_;
  p->feature_names_ = members[0]->feature_names_;
  p->table_ = members[0]->table_;
  p->weights_ = std::move(weights);
  p->members_ = std::move(members);
  p->meta_ = std::move(meta);
  return p;
}

Matrix Pipeline::MemberOutputs(const Matrix& X) const {
  std::vector<Matrix> outs;
  size_t cols = 0;
  for (const auto& m : members_) {
    outs.push_back(m->PredictRaw(X));
    cols += outs.back().cols;
  }
  Matrix z(X.rows, cols);
  size_t off = 0;
  for (const auto& o : outs) {
    for (size_t i = 0; i < X.rows; ++i) std::copy_n(o.Row(i), o.cols, z.Row(i) + off);
    off += o.cols;
  }
  return z;
}

Matrix Pipeline::Transform(const Matrix& X) const {
  if (is_ensemble()) throw InternalError("an ensemble has no single feature transform");
  if (X.cols != input_columns()) {
    throw InvalidInput("X has " + std::to_string(X.cols) + " columns but the model expects " +
                       std::to_string(input_columns()));
  }
  Matrix Z = featurizer_.Transform(X);
  scaler_.TransformInPlace(Z);
  return Z;
}

Matrix Pipeline::PredictRaw(const Matrix& X) const {
  if (kind_ == Kind::kSingle) return learner_->Predict(Transform(X));
  if (kind_ == Kind::kStack) return meta_->Predict(MemberOutputs(X));
  Matrix out;
  for (size_t m = 0; m < members_.size(); ++m) {
    if (weights_[m] == 0) continue;
    Matrix o = members_[m]->PredictRaw(X);
    if (out.rows == 0 && out.cols == 0) out = Matrix(o.rows, o.cols);
    for (size_t k = 0; k < o.data.size(); ++k) out.data[k] += weights_[m] * o.data[k];
  }
  return out;
}

std::vector<double> Pipeline::Predict(const Matrix& X) const {
  Matrix raw = PredictRaw(X);
  if (task_ == Task::kRegression) return raw.data;
  std::vector<int> idx = ArgmaxRows(raw);
  return std::vector<double>(idx.begin(), idx.end());
}

std::string Pipeline::Label() const {
  if (kind_ == Kind::kVoting) return "VotingEnsemble";
  if (kind_ == Kind::kStack) return "StackEnsemble";
  return PipelineLabel(Scaler::DisplayName(scaler_.kind()), learner_->name(), task_);
}

namespace {
void AddRawColumns(nlohmann::json& h, const TableFeaturizer* table) {
  if (!table) return;
  nlohmann::json cols = nlohmann::json::array();
  for (const auto& rc : table->raw_columns()) {
    cols.push_back({{"name", rc.name},
                    {"type", ColumnTypeName(rc.type)},
                    {"handling", TableFeaturizer::HandlingName(rc.handling)}});
  }
  h["raw_columns"] = cols;
  h["table_featurization"] = table->mode() == Featurizer::Mode::kAuto ? "auto" : "off";
}
}  // namespace

std::string Pipeline::HeaderJson() const {
  if (is_ensemble()) {
    nlohmann::json members = nlohmann::json::array();
    for (size_t m = 0; m < members_.size(); ++m) {
      members.push_back({{"pipeline", members_[m]->Label()},
                         {"learner", members_[m]->learner_->name()},
                         {"weight", kind_ == Kind::kVoting ? weights_[m] : 0.0}});
    }
    nlohmann::json h = {
        {"format", "trainyard-automl-model"},
        {"version", kModelFormatVersion},
        {"task", TaskName(task_)},
        {"learner", Label()},
        {"pipeline", Label()},
        {"members", members},
        {"classes", class_names_},
        {"n_features", input_columns()},
        {"feature_names", feature_names_},
        {"engine", "trainyard " TRAINYARD_VERSION},
    };
    if (meta_) h["meta_learner"] = meta_->name();
    AddRawColumns(h, table_.get());
    return h.dump();
  }
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
  AddRawColumns(h, table_.get());
  return h.dump();
}

std::string Pipeline::Serialize() const {
  ByteWriter w;
  w.Raw(kMagic, sizeof kMagic);
  w.U32(kModelFormatVersion);
  w.Str(HeaderJson());
  SaveBody(w);
  w.U64(Fnv1a(w.buffer()));
  return std::move(w.buffer());
}

void Pipeline::SaveBody(ByteWriter& w) const {
  w.U8(static_cast<uint8_t>(kind_));
  w.U8(task_ == Task::kClassification ? 0 : 1);
  w.Strings(class_names_);
  w.Strings(feature_names_);
  w.U8(table_ != nullptr);
  if (table_) table_->Save(w);
  if (is_ensemble()) {
    w.U64(members_.size());
    for (const auto& m : members_) m->SaveBody(w);
    w.Doubles(weights_);
    if (kind_ == Kind::kStack) {
      w.Str(meta_->name());
      meta_->params().Save(w);
      meta_->SaveState(w);
    }
    return;
  }
  featurizer_.Save(w);
  scaler_.Save(w);
  w.Str(learner_->name());
  learner_->params().Save(w);
  learner_->SaveState(w);
}

namespace {
// Checks magic, version and checksum; returns a reader positioned after the version.
ByteReader OpenModel(std::string_view bytes, uint32_t* version_out = nullptr) {
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
  if (version_out) *version_out = version;
  return r;
}
}  // namespace

std::string Pipeline::ReadHeader(std::string_view bytes) { return OpenModel(bytes).Str(); }

std::unique_ptr<Pipeline> Pipeline::Deserialize(std::string_view bytes) {
  uint32_t version = 0;
  ByteReader r = OpenModel(bytes, &version);
  r.Str();  // JSON header
  auto p = LoadBody(r, true, version);
  if (r.remaining() != 8) r.Fail("trailing bytes");
  return p;
}

std::unique_ptr<Pipeline> Pipeline::LoadBody(ByteReader& r, bool allow_ensemble, uint32_t version) {
  auto p = std::make_unique<Pipeline>();
  uint8_t kind = r.U8();
  if (kind > 2 || (kind != 0 && !allow_ensemble)) r.Fail("pipeline kind");
  p->kind_ = static_cast<Kind>(kind);
  uint8_t task = r.U8();
  if (task > 1) r.Fail("task");
  p->task_ = task == 0 ? Task::kClassification : Task::kRegression;
  p->class_names_ = r.Strings();
  p->feature_names_ = r.Strings();
  if (version >= 2 && r.U8() != 0) {
    auto f = std::make_shared<TableFeaturizer>();
    f->Load(r);
    if (f->output_names() != p->feature_names_) r.Fail("table featurizer outputs");
    p->table_ = std::move(f);
  }
  if (p->is_ensemble()) {
    uint64_t n = r.U64();
    if (n == 0 || n > r.remaining()) r.Fail("member count");
    for (uint64_t m = 0; m < n; ++m) {
      p->members_.push_back(LoadBody(r, false, version));
      const Pipeline& mem = *p->members_.back();
      if (mem.task_ != p->task_ || mem.class_names_ != p->class_names_ ||
          mem.input_columns() != p->members_[0]->input_columns()) {
        r.Fail("ensemble member shape");
      }
    }
    p->weights_ = r.Doubles();
    if (p->kind_ == Kind::kVoting && p->weights_.size() != n) r.Fail("ensemble weights");
    if (p->kind_ == Kind::kStack) {
      std::string name = r.Str();
      Params params;
      params.Load(r);
      p->meta_ = CreateLearner(name, p->task_, params);
      p->meta_->LoadState(r);
      if (p->task_ == Task::kClassification && p->meta_->num_outputs() != p->class_names_.size()) {
        r.Fail("meta learner outputs");
      }
    }
    return p;
  }
  p->featurizer_.Load(r);
  p->scaler_.Load(r);
  std::string name = r.Str();
  Params params;
  params.Load(r);
  p->learner_ = CreateLearner(name, p->task_, params);
  p->learner_->LoadState(r);
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
  auto [lo, hi] = std::minmax_element(y.y.begin(), y.y.end());
  const double y_range = y.task == Task::kRegression ? *hi - *lo : 0.0;
  // Scores one validation block and files its predictions under `rows`.
  auto score = [&](const Matrix& raw, const Target& vy, const std::vector<size_t>& rows) {
    Scores s = y.task == Task::kClassification ? ClassificationScores(vy.y, raw)
                                               : RegressionScores(vy.y, raw.data, y_range);
    for (const auto& [k, v] : s) ev.scores[k] += v;
    ++ev.folds;
    if (ev.predictions.cols == 0) ev.predictions = Matrix(0, raw.cols);
    ev.predictions.data.insert(ev.predictions.data.end(), raw.data.begin(), raw.data.end());
    ev.predictions.rows += raw.rows;
    ev.rows.insert(ev.rows.end(), rows.begin(), rows.end());
  };
  if (valid_X) {
    if (!valid_y || valid_y->y.size() != valid_X->rows) {
      throw InvalidInput("validation data: y_valid must have one value per row of X_valid");
    }
    auto p = Pipeline::Fit(spec, X, y, ctx);
    std::vector<size_t> rows(valid_X->rows);
    std::iota(rows.begin(), rows.end(), 0);
    score(p->PredictRaw(*valid_X), *valid_y, rows);
  } else {
    // The folds are independent: with several cores they run side by side, each fold's fit
    // getting an equal share of the cores (most learners use one core per fit, so this is
    // where a trial's speed-up comes from). Results are merged in fold order: the scores and
    // predictions do not depend on the number of threads.
    const size_t outer = std::max<size_t>(1, std::min(ctx.threads, folds.size()));
    FitContext fold_ctx = ctx;
    fold_ctx.threads = std::max<size_t>(1, ctx.threads / outer);
    std::vector<Matrix> raw(folds.size());
    std::vector<Target> valid_targets(folds.size(), y);
    ParallelFor(folds.size(), outer, [&](size_t i) {
      if (ctx.Cancelled()) throw Cancelled();
      const Fold& f = folds[i];
      Target ty = y;
      ty.y = SelectItems(y.y, f.train);
      valid_targets[i].y = SelectItems(y.y, f.valid);
      auto p = Pipeline::Fit(spec, SelectRows(X, f.train), ty, fold_ctx);
      raw[i] = p->PredictRaw(SelectRows(X, f.valid));
    });
    for (size_t i = 0; i < folds.size(); ++i) score(raw[i], valid_targets[i], folds[i].valid);
  }
  for (auto& [k, v] : ev.scores) v /= static_cast<double>(ev.folds);
  return ev;
}

}  // namespace trainyard::automl
