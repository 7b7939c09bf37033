// Tabular (raw) input for the AutoML engine: a DataTable (data/csv_reader.h: numeric, bool,
// datetime and string columns with missing values) turned into the numeric matrix the
// pipelines train on, and the labels of a CSV's label column.
//
// TableFeaturizer 'auto' (docs/AUTOML.md "Featurization of tables"), per raw column:
//   int / float / bool      numeric; values pass through with NaN for missing (the pipeline's
//                           matrix Featurizer mean-imputes them), plus a "<name>_missing"
//                           0/1 column when the training column had missing values.
//   datetime                numeric parts <name>_year, _month, _day, _dayofweek (Monday 0),
//                           _hour (NaN when missing; constant parts are dropped downstream).
//   string (categorical)    most-frequent imputation (ties: the bytewise smallest value);
//                           <= kMaxOneHot distinct training values: one-hot "<name>_<value>"
//                           in bytewise value order, an unseen value -> all zeros; more:
//                           feature hashing, FNV-1a 32 of the UTF-8 bytes mod kHashBuckets
//                           into "<name>_hash<b>" (an unseen value lands in its bucket),
//                           plus "<name>_count": the value's share of the training rows
//                           (count encoding; unseen 0).
//   dropped                 constant (at most one distinct non-missing value and no missing
//                           values, or all missing) and ID-like columns: a string column whose
//                           distinct non-missing values are > kMaxOneHot and >= 95% of its
//                           non-missing values, or an int column without missing values whose
//                           values are all distinct, more than kMaxOneHot, and consecutive
//                           (max - min + 1 == rows: a row number / sequential key).
// 'off': numeric (int/float/bool) columns only, passed through; a string or datetime column is
// an InvalidInput naming it and the fix (featurization='auto').
// Transform matches columns by name: a missing column is an error naming it, extra columns
// are ignored; a numeric column read as text converts its values (unparseable -> missing).
// Fitted objects are immutable; Transform is thread-safe.
#pragma once

#include <string>
#include <vector>

#include "automl/bytes.h"
#include "automl/matrix.h"
#include "automl/preprocess.h"
#include "data/csv_reader.h"

namespace trainyard::automl {

inline constexpr size_t kMaxOneHot = 32;
inline constexpr size_t kHashBuckets = 64;

class TableFeaturizer {
 public:
  enum class Handling : uint8_t {
    kNumeric = 0,
    kDatetime = 1,
    kOneHot = 2,
    kHash = 3,
    kDropConstant = 4,
    kDropId = 5,
    // High cardinality: the hash buckets plus "<name>_count", the value's share of the
    // training rows (count encoding; an unseen value 0). `values` holds the categories and
    // `shares` their shares, in bytewise order.
    kHashCount = 6,
  };
  static const char* HandlingName(Handling h);

  struct RawColumn {
    std::string name;
    ColumnType type = ColumnType::kFloat;
    Handling handling = Handling::kNumeric;
    bool missing_indicator = false;   // numeric: training had missing values
    std::string fill;                 // categorical: most frequent value
    std::vector<std::string> values;  // one-hot: the categories in output order
    std::vector<double> shares;       // kHashCount: each value's share of the training rows
  };

  // Learns the per-column handling from the training table. Throws InvalidInput for an empty
  // table, a text column with 'off', or when every column is dropped.
  void Fit(const DataTable& table, Featurizer::Mode mode);
  // Engineered features (rows x output_names().size()), NaN where a numeric value is missing.
  Matrix Transform(const DataTable& table) const;

  Featurizer::Mode mode() const { return mode_; }
  const std::vector<RawColumn>& raw_columns() const { return raw_; }
  std::vector<std::string> raw_names() const;
  const std::vector<std::string>& output_names() const { return out_names_; }
  // Raw column index of each engineered feature.
  const std::vector<size_t>& output_source() const { return out_source_; }

  void Save(ByteWriter& w) const;
  void Load(ByteReader& r);

 private:
  void BuildOutputs();

  Featurizer::Mode mode_ = Featurizer::Mode::kAuto;
  std::vector<RawColumn> raw_;
  std::vector<std::string> out_names_;
  std::vector<size_t> out_source_;
};

// A table's features and its label column, as read from a CSV.
struct LabeledTable {
  DataTable features;
  std::string label_column;  // empty: no labels
  Target target;
};

// Reads CSV text with the project's reader (type inference on). `label_column` (optional) is
// taken out of the features and encoded for `task` ("classification" / "regression"; empty:
// classification for a text label column, else regression). Errors (InvalidInput, naming
// `source`): an empty file or no data rows, an unknown label column (listing the columns),
// missing labels (count and first CSV line), non-numeric regression labels, a single class.
LabeledTable ReadCsvTable(std::string_view text, const std::string& source,
                          const std::string& label_column, const std::string& task);

// Delimited files read as one table (a TabularDataset's files): each file read with the
// project's reader (types inferred), appended by column name, then the dataset's transforms
// in order (keep_columns / drop_columns / take, as the server applies them).
struct TableTransform {
  enum class Kind { kKeep, kDrop, kTake } kind = Kind::kKeep;
  std::vector<std::string> columns;
  size_t n = 0;
};
struct CsvSource {
  std::vector<std::string> paths;
  char separator = ',';
  bool header = true;
  std::vector<TableTransform> transforms;
};
// A dataset definition's transforms in JSON: [{"keep_columns": [..]}, {"drop_columns": [..]},
// {"take": N}]; InvalidInput on anything else.
std::vector<TableTransform> ParseTransforms(std::string_view json);
// Errors as ReadCsvTable's; a missing file is NotFound.
LabeledTable ReadCsvFiles(const CsvSource& source, const std::string& label_column,
                          const std::string& task);

// Takes `label_column` out of `t` and encodes it for `task` (same rules and errors as
// ReadCsvTable; `where` names the data in messages, e.g. "the CSV train.csv").
LabeledTable SplitLabel(DataTable t, const std::string& label_column, const std::string& task,
                        const std::string& where);
// The rows `rows` (features and labels) in that order.
LabeledTable SelectTableRows(const LabeledTable& t, const std::vector<size_t>& rows);

// CSV text read for a fitted featurizer: numeric columns of the schema parsed as numbers,
// categorical columns kept as their text (so "007" stays "007").
DataTable ReadCsvForFeaturizer(std::string_view text, const std::string& source,
                               const TableFeaturizer& f);

// Types a column of strings (missing = monostate) as the CSV reader would: int, float, bool,
// datetime when every non-missing value parses as that type, else string.
void InferColumnType(DataColumn& column);

// Types the string columns of `t` (as read without type inference) by the featurizer's
// schema: numeric and datetime columns parsed (unparseable -> missing), categorical ones kept
// as their text. Columns the schema does not know stay as they are.
void ConformTable(DataTable& t, const TableFeaturizer& f);

// A table as the numeric matrix of a model trained on a matrix: the columns `names` when the
// table has them all, else all its columns in order (there must be `width`); int/float/bool
// values, missing -> NaN. A text column is an InvalidInput naming it.
Matrix NumericMatrix(const DataTable& t, const std::vector<std::string>& names, size_t width);

// Text of a cell as a category ("" for missing): strings as they are, numbers in their
// shortest round-trip form, bools "true"/"false".
std::string CellText(const CellValue& v);

}  // namespace trainyard::automl
