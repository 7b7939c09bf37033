#include "automl/table.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_set>

#include "common/error.h"

namespace trainyard::automl {

namespace {

uint32_t Fnv1a32(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

bool IsNumericType(ColumnType t) {
  return t == ColumnType::kInt || t == ColumnType::kFloat || t == ColumnType::kBool;
}

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

constexpr const char* kDatetimeParts[] = {"year", "month", "day", "dayofweek", "hour"};
constexpr size_t kNumDatetimeParts = 5;

// year, month, day, day of week (Monday 0), hour of a datetime cell; false when missing.
bool DatetimeParts(const CellValue& v, double out[kNumDatetimeParts]) {
  const auto* s = std::get_if<std::string>(&v);
  if (s == nullptr) return false;
  std::optional<std::string> norm = ParseDatetime(*s);
  if (!norm || norm->size() < 13) return false;
  const std::string& t = *norm;  // YYYY-MM-DDTHH:...
  int64_t y = std::strtoll(t.substr(0, 4).c_str(), nullptr, 10);
  unsigned m = static_cast<unsigned>(std::strtoul(t.substr(5, 2).c_str(), nullptr, 10));
  unsigned d = static_cast<unsigned>(std::strtoul(t.substr(8, 2).c_str(), nullptr, 10));
  unsigned h = static_cast<unsigned>(std::strtoul(t.substr(11, 2).c_str(), nullptr, 10));
  int64_t days = DaysFromCivil(y, m, d);
  int64_t dow = ((days % 7) + 7 + 3) % 7;  // 1970-01-01 was a Thursday (3)
  out[0] = static_cast<double>(y);
  out[1] = m;
  out[2] = d;
  out[3] = static_cast<double>(dow);
  out[4] = h;
  return true;
}

double NumericValue(const CellValue& v) {
  if (const auto* s = std::get_if<std::string>(&v)) {
    if (s->empty() || IsMissingToken(*s)) return std::nan("");
    char* end = nullptr;
    double d = std::strtod(s->c_str(), &end);
    return end == s->c_str() + s->size() ? d : std::nan("");
  }
  if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* b = std::get_if<bool>(&v)) return *b ? 1.0 : 0.0;
  return std::nan("");
}

bool IsMissing(const CellValue& v) { return std::holds_alternative<std::monostate>(v); }

}  // namespace

std::string CellText(const CellValue& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&v)) return FormatNumber(*d);
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  return "";
}

const char* TableFeaturizer::HandlingName(Handling h) {
  switch (h) {
    case Handling::kNumeric:
      return "numeric";
    case Handling::kDatetime:
      return "datetime";
    case Handling::kOneHot:
      return "onehot";
    case Handling::kHash:
      return "hash";
    case Handling::kHashCount:
      return "hash_count";
    case Handling::kDropConstant:
      return "dropped_constant";
    case Handling::kDropId:
      return "dropped_id";
  }
  return "?";
}

void TableFeaturizer::Fit(const DataTable& table, Featurizer::Mode mode) {
  if (table.columns.empty()) throw InvalidInput("the table has no feature columns");
  if (table.num_rows == 0) throw InvalidInput("the table has no rows to train on");
  mode_ = mode;
  raw_.clear();
  const size_t n = table.num_rows;
  for (const DataColumn& col : table.columns) {
    RawColumn rc;
    rc.name = col.name;
    rc.type = col.type;
    const size_t missing = col.MissingCount();
    const size_t present = n - missing;
    if (mode == Featurizer::Mode::kOff) {
      if (!IsNumericType(col.type)) {
        throw InvalidInput("column '" + col.name + "' holds " + ColumnTypeName(col.type) +
                           " values and featurization is off (preprocess=False), which takes "
                           "numeric columns only; use featurization='auto' (preprocess=True) "
                           "to encode it, or drop the column");
      }
      raw_.push_back(std::move(rc));
      continue;
    }
    if (IsNumericType(col.type) || col.type == ColumnType::kDatetime) {
      rc.handling = col.type == ColumnType::kDatetime ? Handling::kDatetime : Handling::kNumeric;
      std::unordered_set<std::string> distinct;
      bool constant = true;
      double first = std::nan("");
      for (size_t i = 0; i < n && constant; ++i) {
        if (IsMissing(col.values[i])) continue;
        if (col.type == ColumnType::kDatetime) {
          distinct.insert(CellText(col.values[i]));
          constant = distinct.size() <= 1;
        } else {
          double v = col.AsDouble(i);
          if (std::isnan(first))
            first = v;
          else if (v != first)
            constant = false;
        }
      }
      if (present == 0 || (constant && missing == 0)) {
        rc.handling = Handling::kDropConstant;
      } else if (col.type == ColumnType::kInt && missing == 0 && n > kMaxOneHot) {
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        std::unordered_set<int64_t> ints;
        bool all_ints = true;
        for (const CellValue& v : col.values) {
          const auto* x = std::get_if<int64_t>(&v);
          if (x == nullptr) {
            all_ints = false;
            break;
          }
          lo = std::min(lo, *x);
          hi = std::max(hi, *x);
          ints.insert(*x);
        }
        if (all_ints && ints.size() == n &&
            static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo) + 1 == n) {
          rc.handling = Handling::kDropId;
        }
      }
      rc.missing_indicator = rc.handling == Handling::kNumeric && missing > 0;
      raw_.push_back(std::move(rc));
      continue;
    }
    // Categorical.
    std::map<std::string, size_t> counts;
    for (const CellValue& v : col.values) {
      if (!IsMissing(v)) ++counts[CellText(v)];
    }
    if (counts.empty() || (counts.size() == 1 && missing == 0)) {
      rc.handling = Handling::kDropConstant;
    } else if (counts.size() > kMaxOneHot &&
               static_cast<double>(counts.size()) >= 0.95 * static_cast<double>(present)) {
      rc.handling = Handling::kDropId;
    } else {
      size_t best = 0;
      for (const auto& [value, c] : counts) {
        if (c > best) {  // map order: ties keep the bytewise smallest
          best = c;
          rc.fill = value;
        }
      }
      if (counts.size() <= kMaxOneHot) {
        rc.handling = Handling::kOneHot;
        for (const auto& kv : counts) rc.values.push_back(kv.first);
      } else {
        rc.handling = Handling::kHashCount;
        const double total = static_cast<double>(col.values.size());
        for (const auto& [value, c] : counts) {
          rc.values.push_back(value);
          rc.shares.push_back(static_cast<double>(c + (value == rc.fill ? missing : 0)) / total);
        }
      }
    }
    raw_.push_back(std::move(rc));
  }
  BuildOutputs();
  if (out_names_.empty()) {
    throw InvalidInput(
        "every feature column is constant, empty or ID-like; featurization dropped them all and "
        "nothing is left to learn from");
  }
}

void TableFeaturizer::BuildOutputs() {
  out_names_.clear();
  out_source_.clear();
  for (size_t c = 0; c < raw_.size(); ++c) {
    const RawColumn& rc = raw_[c];
    auto add = [&](std::string name) {
      out_names_.push_back(std::move(name));
      out_source_.push_back(c);
    };
    switch (rc.handling) {
      case Handling::kNumeric:
        add(rc.name);
        if (rc.missing_indicator) add(rc.name + "_missing");
        break;
      case Handling::kDatetime:
        for (const char* part : kDatetimeParts) add(rc.name + "_" + part);
        break;
      case Handling::kOneHot:
        for (const std::string& v : rc.values) add(rc.name + "_" + v);
        break;
      case Handling::kHash:
      case Handling::kHashCount:
        for (size_t b = 0; b < kHashBuckets; ++b) add(rc.name + "_hash" + std::to_string(b));
        if (rc.handling == Handling::kHashCount) add(rc.name + "_count");
        break;
      case Handling::kDropConstant:
      case Handling::kDropId:
        break;
    }
  }
}

std::vector<std::string> TableFeaturizer::raw_names() const {
  std::vector<std::string> names;
  for (const RawColumn& rc : raw_) names.push_back(rc.name);
  return names;
}

Matrix TableFeaturizer::Transform(const DataTable& table) const {
  const size_t n = table.num_rows;
  Matrix out(n, out_names_.size(), 0.0);
  size_t off = 0;
  for (const RawColumn& rc : raw_) {
    if (rc.handling == Handling::kDropConstant || rc.handling == Handling::kDropId) continue;
    int idx = table.ColumnIndex(rc.name);
    if (idx < 0) {
      std::string known;
      for (const DataColumn& c : table.columns) known += (known.empty() ? "" : ", ") + c.name;
      throw InvalidInput("column '" + rc.name +
                         "' the model was trained on is missing from the data; its columns "
                         "are: " +
                         known);
    }
    const DataColumn& col = table.columns[static_cast<size_t>(idx)];
    switch (rc.handling) {
      case Handling::kNumeric:
        for (size_t i = 0; i < n; ++i) {
          double v = NumericValue(col.values[i]);
          out.At(i, off) = v;
          if (rc.missing_indicator) out.At(i, off + 1) = std::isnan(v) ? 1.0 : 0.0;
        }
        off += rc.missing_indicator ? 2 : 1;
        break;
      case Handling::kDatetime:
        for (size_t i = 0; i < n; ++i) {
          double parts[kNumDatetimeParts];
          if (!DatetimeParts(col.values[i], parts)) std::fill_n(parts, kNumDatetimeParts, NAN);
          std::copy_n(parts, kNumDatetimeParts, out.Row(i) + off);
        }
        off += kNumDatetimeParts;
        break;
      case Handling::kOneHot:
        for (size_t i = 0; i < n; ++i) {
          std::string v = IsMissing(col.values[i]) ? rc.fill : CellText(col.values[i]);
          auto it = std::lower_bound(rc.values.begin(), rc.values.end(), v);
          if (it != rc.values.end() && *it == v) out.At(i, off + (it - rc.values.begin())) = 1.0;
        }
        off += rc.values.size();
        break;
      case Handling::kHash:
      case Handling::kHashCount:
        for (size_t i = 0; i < n; ++i) {
          std::string v = IsMissing(col.values[i]) ? rc.fill : CellText(col.values[i]);
          out.At(i, off + Fnv1a32(v) % kHashBuckets) = 1.0;
          if (rc.handling == Handling::kHashCount) {
            auto it = std::lower_bound(rc.values.begin(), rc.values.end(), v);
            out.At(i, off + kHashBuckets) =
                it != rc.values.end() && *it == v
                    ? rc.shares[static_cast<size_t>(it - rc.values.begin())]
                    : 0.0;
          }
        }
        off += kHashBuckets + (rc.handling == Handling::kHashCount ? 1 : 0);
        break;
      default:
        break;
    }
  }
  return out;
}

void TableFeaturizer::Save(ByteWriter& w) const {
  w.U8(mode_ == Featurizer::Mode::kAuto);
  w.U64(raw_.size());
  for (const RawColumn& rc : raw_) {
    w.Str(rc.name);
    w.U8(static_cast<uint8_t>(rc.type));
    w.U8(static_cast<uint8_t>(rc.handling));
    w.U8(rc.missing_indicator);
    w.Str(rc.fill);
    w.Strings(rc.values);
    if (rc.handling == Handling::kHashCount) {
      w.U64(rc.shares.size());
      for (double x : rc.shares) w.F64(x);
    }
  }
}

void TableFeaturizer::Load(ByteReader& r) {
  mode_ = r.U8() ? Featurizer::Mode::kAuto : Featurizer::Mode::kOff;
  uint64_t count = r.U64();
  if (count > r.remaining()) r.Fail("raw column count");
  raw_.clear();
  for (uint64_t c = 0; c < count; ++c) {
    RawColumn rc;
    rc.name = r.Str();
    uint8_t type = r.U8();
    if (type > static_cast<uint8_t>(ColumnType::kString)) r.Fail("raw column type");
    rc.type = static_cast<ColumnType>(type);
    uint8_t handling = r.U8();
    if (handling > static_cast<uint8_t>(Handling::kHashCount)) r.Fail("raw column handling");
    rc.handling = static_cast<Handling>(handling);
    rc.missing_indicator = r.U8() != 0;
    rc.fill = r.Str();
    rc.values = r.Strings();
    if (!std::is_sorted(rc.values.begin(), rc.values.end())) r.Fail("one-hot categories");
    if (rc.handling == Handling::kHashCount) {
      uint64_t k = r.U64();
      if (k != rc.values.size()) r.Fail("category shares");
      for (uint64_t j = 0; j < k; ++j) rc.shares.push_back(r.F64());
    }
    raw_.push_back(std::move(rc));
  }
  BuildOutputs();
}

namespace {
void CheckNotEmpty(const DataTable& t, const std::string& source) {
  if (t.columns.empty()) {
    throw InvalidInput("the CSV " + source + " is empty: it needs a header row and data rows");
  }
  if (t.num_rows == 0) {
    throw InvalidInput("the CSV " + source + " has a header but no data rows");
  }
}
}  // namespace

LabeledTable ReadCsvTable(std::string_view text, const std::string& source,
                          const std::string& label_column, const std::string& task) {
  DelimitedOptions o;
  o.source_name = source;
  DataTable t = ReadDelimited(text, o);
  CheckNotEmpty(t, source);
  return SplitLabel(std::move(t), label_column, task, "the CSV " + source);
}

std::vector<TableTransform> ParseTransforms(std::string_view json) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_array()) throw InvalidInput("transforms must be a JSON list");
  std::vector<TableTransform> out;
  for (const auto& t : j) {
    TableTransform tr;
    if (t.is_object() && t.size() == 1 && t.contains("take") && t["take"].is_number_unsigned()) {
      tr.kind = TableTransform::Kind::kTake;
      tr.n = t["take"].get<size_t>();
    } else if (t.is_object() && t.size() == 1 &&
               (t.contains("keep_columns") || t.contains("drop_columns"))) {
      const bool keep = t.contains("keep_columns");
      const auto& cols = t.begin().value();
      if (!cols.is_array()) throw InvalidInput("keep_columns/drop_columns need a list of names");
      tr.kind = keep ? TableTransform::Kind::kKeep : TableTransform::Kind::kDrop;
      for (const auto& c : cols) {
        if (!c.is_string()) throw InvalidInput("column names must be strings");
        tr.columns.push_back(c.get<std::string>());
      }
    } else {
      throw InvalidInput(
          "each transform must be one of {\"keep_columns\": [..]}, "
          "{\"drop_columns\": [..]}, {\"take\": N}; got " +
          t.dump());
    }
    out.push_back(std::move(tr));
  }
  return out;
}

LabeledTable ReadCsvFiles(const CsvSource& source, const std::string& label_column,
                          const std::string& task) {
  if (source.paths.empty()) throw InvalidInput("no CSV files to read");
  DataTable all;
  std::string names;
  for (const std::string& path : source.paths) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw NotFound("CSV file " + path + " cannot be opened");
    std::ostringstream ss;
    ss << in.rdbuf();
    DelimitedOptions o;
    o.separator = source.separator;
    o.header = source.header;
    o.source_name = path;
    DataTable t = ReadDelimited(ss.str(), o);
    names += (names.empty() ? "" : ", ") + path;
    if (all.columns.empty())
      all = std::move(t);
    else
      all.Append(std::move(t));
  }
  for (const TableTransform& tr : source.transforms) {
    switch (tr.kind) {
      case TableTransform::Kind::kKeep:
        all.KeepColumns(tr.columns);
        break;
      case TableTransform::Kind::kDrop:
        all.DropColumns(tr.columns);
        break;
      case TableTransform::Kind::kTake:
        all.Take(tr.n);
        break;
    }
  }
  CheckNotEmpty(all, names);
  return SplitLabel(std::move(all), label_column, task, "the CSV " + names);
}

LabeledTable SplitLabel(DataTable t, const std::string& label_column, const std::string& task,
                        const std::string& where) {
  LabeledTable lt;
  if (label_column.empty()) {
    lt.features = std::move(t);
    return lt;
  }
  int li = t.ColumnIndex(label_column);
  if (li < 0) {
    std::string known;
    for (const DataColumn& c : t.columns) known += (known.empty() ? "" : ", ") + c.name;
    throw InvalidInput("label column '" + label_column + "' is not in " + where +
                       "; its columns are: " + known);
  }
  DataColumn label = std::move(t.columns[static_cast<size_t>(li)]);
  t.columns.erase(t.columns.begin() + li);
  if (t.columns.empty()) {
    throw InvalidInput(where + " has no feature columns besides the label '" + label_column + "'");
  }
  if (t.num_rows == 0) throw InvalidInput(where + " has no data rows");
  size_t missing = 0, first_missing = 0;
  for (size_t i = 0; i < t.num_rows; ++i) {
    if (label.IsMissing(i) && missing++ == 0) first_missing = i;
  }
  if (missing > 0) {
    throw InvalidInput(std::to_string(missing) + " label(s) in column '" + label_column + "' of " +
                       where + " are missing (empty/NaN), first in data row " +
                       std::to_string(first_missing + 1) +
                       ": drop those rows or fill in their labels");
  }
  const bool numeric = label.type == ColumnType::kInt || label.type == ColumnType::kFloat;
  Task tk = task.empty() ? (numeric ? Task::kRegression : Task::kClassification) : ParseTask(task);
  lt.label_column = label_column;
  if (tk == Task::kRegression) {
    if (!numeric) {
      throw InvalidInput("regression needs a numeric label column; '" + label_column + "' of " +
                         where + " holds " + ColumnTypeName(label.type) +
                         " values (use task='classification' for class labels)");
    }
    std::vector<double> y(t.num_rows);
    for (size_t i = 0; i < t.num_rows; ++i) y[i] = label.AsDouble(i);
    lt.target = RegressionTarget(std::move(y));
  } else if (numeric) {
    std::vector<double> y(t.num_rows);
    for (size_t i = 0; i < t.num_rows; ++i) y[i] = label.AsDouble(i);
    lt.target = EncodeNumericLabels(y);
  } else {
    std::vector<std::string> y(t.num_rows);
    for (size_t i = 0; i < t.num_rows; ++i) y[i] = CellText(label.values[i]);
    lt.target = EncodeStringLabels(y);
  }
  lt.features = std::move(t);
  return lt;
}

LabeledTable SelectTableRows(const LabeledTable& t, const std::vector<size_t>& rows) {
  LabeledTable out;
  out.label_column = t.label_column;
  out.target = t.target;
  if (!t.label_column.empty()) out.target.y = SelectItems(t.target.y, rows);
  out.features.num_rows = rows.size();
  for (const DataColumn& c : t.features.columns) {
    DataColumn d;
    d.name = c.name;
    d.type = c.type;
    d.values = SelectItems(c.values, rows);
    out.features.columns.push_back(std::move(d));
  }
  return out;
}

void InferColumnType(DataColumn& column) {
  const size_t missing = column.MissingCount();
  for (ColumnType t :
       {ColumnType::kInt, ColumnType::kFloat, ColumnType::kBool, ColumnType::kDatetime}) {
    DataColumn trial = column;
    trial.type = ColumnType::kString;
    ConvertColumn(trial, t);
    if (trial.MissingCount() == missing) {
      column = std::move(trial);
      column.type = t;
      return;
    }
  }
  column.type = ColumnType::kString;
}

Matrix NumericMatrix(const DataTable& t, const std::vector<std::string>& names, size_t width) {
  std::vector<size_t> cols;
  bool by_name = !names.empty();
  for (const std::string& n : names) {
    int i = t.ColumnIndex(n);
    if (i < 0) {
      by_name = false;
      break;
    }
    cols.push_back(static_cast<size_t>(i));
  }
  if (!by_name) {
    if (t.columns.size() != width) {
      throw InvalidInput("the model was trained on " + std::to_string(width) +
                         " numeric features but the table has " + std::to_string(t.columns.size()) +
                         " columns (and not all of the model's feature names)");
    }
    cols.clear();
    for (size_t j = 0; j < width; ++j) cols.push_back(j);
  }
  Matrix m(t.num_rows, cols.size());
  for (size_t k = 0; k < cols.size(); ++k) {
    const DataColumn& c = t.columns[cols[k]];
    if (!IsNumericType(c.type) && c.MissingCount() != t.num_rows) {
      throw InvalidInput("column '" + c.name + "' holds " + ColumnTypeName(c.type) +
                         " values but this model was trained on a numeric matrix; train on the "
                         "table (featurization='auto') to use text columns");
    }
    for (size_t i = 0; i < t.num_rows; ++i) m.At(i, k) = c.AsDouble(i);
  }
  return m;
}

DataTable ReadCsvForFeaturizer(std::string_view text, const std::string& source,
                               const TableFeaturizer& f) {
  DelimitedOptions o;
  o.source_name = source;
  o.infer_column_types = false;
  DataTable t = ReadDelimited(text, o);
  if (t.columns.empty()) {
    throw InvalidInput("the CSV " + source + " is empty: it needs a header row and data rows");
  }
  ConformTable(t, f);
  return t;
}

void ConformTable(DataTable& t, const TableFeaturizer& f) {
  for (const auto& rc : f.raw_columns()) {
    int idx = t.ColumnIndex(rc.name);
    if (idx < 0 || rc.type == ColumnType::kString) continue;
    ConvertColumn(t.columns[static_cast<size_t>(idx)],
                  rc.type == ColumnType::kInt ? ColumnType::kFloat : rc.type);
  }
}

}  // namespace trainyard::automl
