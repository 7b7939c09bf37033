// A pipeline = featurizer + scaler + learner, fitted together, and its model file. An
// ensemble (VotingEnsemble, StackEnsemble; ensemble.h) is a Pipeline too, whose members are
// single pipelines.
//
// Model file (version 2; version 1 files, without the table featurizer, still load),
// little-endian:
//   "TYAUTOML"  u32 format_version  u64 header_len  header (JSON, for people and tools:
//   format, version, task, learner, scaler, featurization, classes, feature_names, params,
//   raw_columns, engine)  body (binary: u8 kind (0 single, 1 voting, 2 stack), task, class
//   names, feature names, [v2: u8 has_table, the TableFeaturizer's state]; single: featurizer,
//   scaler, learner name, params, learner state (XGBoost boosters inside via their own UBJSON
//   save-to-buffer); ensembles: the members' model files, weights, and for stacking the meta
//   learner)  u64 FNV-1a 64 of every byte before it.
// Loading checks the magic, the version (newer versions are refused with a clear message),
// the checksum, and every length.
// A fitted Pipeline is immutable; Predict* are thread-safe.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "automl/learner.h"
#include "automl/metrics.h"
#include "automl/preprocess.h"
#include "automl/splitter.h"
#include "automl/table.h"

namespace trainyard::automl {

inline constexpr uint32_t kModelFormatVersion = 2;

struct PipelineSpec {
  std::string learner;  // registry name
  Params params;
  Scaler::Kind scaler = Scaler::Kind::kNone;
  Featurizer::Mode featurization = Featurizer::Mode::kAuto;
};

class Pipeline {
 public:
  enum class Kind { kSingle = 0, kVoting = 1, kStack = 2 };

  // Validates the data (NaN allowed only with featurization 'auto'), then fits all stages.
  static std::unique_ptr<Pipeline> Fit(const PipelineSpec& spec, const Matrix& X, const Target& y,
                                       const FitContext& ctx,
                                       std::vector<std::string> feature_names = {});

  // A raw table: fits a TableFeaturizer (spec.featurization) on it, then the pipeline on the
  // engineered features, and keeps the featurizer (the model then predicts raw tables).
  static std::unique_ptr<Pipeline> Fit(const PipelineSpec& spec, const DataTable& X,
                                       const Target& y, const FitContext& ctx);

  // Attaches the table featurizer whose engineered features this pipeline was trained on
  // (feature names become its output names); InvalidInput when the widths differ.
  void SetTableFeaturizer(std::shared_ptr<const TableFeaturizer> f);
  // Null for models trained on numeric matrices.
  const TableFeaturizer* table_featurizer() const { return table_.get(); }
  // The engineered features of a raw table (InvalidInput without a table featurizer).
  Matrix FeaturizeTable(const DataTable& X) const;

  // Matrix inputs are in the engineered space (the raw matrix when there is no table
  // featurizer). Classification: rows x C probabilities. Regression: rows x 1 predictions.
  Matrix PredictRaw(const Matrix& X) const;
  // Classification: class indices (first argmax); regression: values.
  std::vector<double> Predict(const Matrix& X) const;
  // Featurized and scaled rows, as the learner sees them.
  Matrix Transform(const Matrix& X) const;

  std::string Serialize() const;
  static std::unique_ptr<Pipeline> Deserialize(std::string_view bytes);
  void Save(const std::filesystem::path& path) const;
  static std::unique_ptr<Pipeline> Load(const std::filesystem::path& path);
  // The JSON header of a model file without loading the model.
  static std::string ReadHeader(std::string_view bytes);

  // Ensembles: fitted single-pipeline members with weights (voting: the soft-vote weights,
  // summing to 1; stack: unused) and, for stacking, a meta learner fitted on the members'
  // concatenated outputs. Members must share task, classes and input width.
  static std::unique_ptr<Pipeline> MakeEnsemble(Kind kind,
                                                std::vector<std::unique_ptr<Pipeline>> members,
                                                std::vector<double> weights,
                                                std::unique_ptr<Learner> meta = nullptr);
  // The members' outputs side by side (the stack meta learner's input).
  Matrix MemberOutputs(const Matrix& X) const;

  Kind kind() const { return kind_; }
  bool is_ensemble() const { return kind_ != Kind::kSingle; }
  const std::vector<std::unique_ptr<Pipeline>>& members() const { return members_; }
  const std::vector<double>& weights() const { return weights_; }

  Task task() const { return task_; }
  const std::vector<std::string>& class_names() const { return class_names_; }
  const std::vector<std::string>& feature_names() const { return feature_names_; }
  const Featurizer& featurizer() const { return featurizer_; }
  const Scaler& scaler() const { return scaler_; }
  // Single pipelines only (InternalError on an ensemble).
  const Learner& learner() const;
  size_t input_columns() const;
  // "Standardize SGD classifier"
  std::string Label() const;
  std::string HeaderJson() const;

 private:
  void SaveBody(ByteWriter& w) const;
  static std::unique_ptr<Pipeline> LoadBody(ByteReader& r, bool allow_ensemble, uint32_t version);

  Kind kind_ = Kind::kSingle;
  std::vector<std::unique_ptr<Pipeline>> members_;
  std::vector<double> weights_;
  std::unique_ptr<Learner> meta_;
  Task task_ = Task::kClassification;
  std::vector<std::string> class_names_, feature_names_;
  std::shared_ptr<const TableFeaturizer> table_;
  Featurizer featurizer_;
  Scaler scaler_;
  std::unique_ptr<Learner> learner_;
};

// Mean of each metric over the folds (Azure's cross-validation score), plus the out-of-fold
// predictions. `valid_X/valid_y` set: fit on all rows, score on them (explicit validation).
struct Evaluation {
  Scores scores;
  size_t folds = 0;
  // Predictions for the validation rows (CV: every row once; holdout: the holdout rows;
  // explicit: the validation data), in `rows` order: what ensemble selection works on.
  Matrix predictions;
  std::vector<size_t> rows;
};
Evaluation EvaluatePipeline(const PipelineSpec& spec, const Matrix& X, const Target& y,
                            const std::vector<Fold>& folds, const FitContext& ctx,
                            const Matrix* valid_X = nullptr, const Target* valid_y = nullptr);

}  // namespace trainyard::automl
