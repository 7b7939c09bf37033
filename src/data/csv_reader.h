// Delimited text (CSV) reading and column type inference, for TabularDataset and (later) the
// AutoML engine.
//
// ParseDelimited splits text into records (RFC 4180: quoted fields with "" escapes and embedded
// separators/newlines, CRLF or LF line ends, a UTF-8 BOM skipped). ReadDelimited turns the
// records of one file into a DataTable: header names (or Column1..N), and per column a type
// inferred from its non-missing values:
//   int      every value an integer (int64)          bool     true/false (any case)
//   float    every value a number (int or decimal)   datetime ISO 8601 dates/date-times
//   string   anything else
// Missing values: empty fields and NA, N/A, NaN, nan, null, NULL, None (any column type).
// Errors (InvalidInput) name the file and line: a row with more fields than the header, an
// unterminated quote.
//
// Thread-safety: free functions over values; a DataTable is a plain value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace trainyard {

enum class ColumnType { kInt, kFloat, kBool, kDatetime, kString };
// "int", "float", "bool", "datetime", "string".
const char* ColumnTypeName(ColumnType t);

// A missing value is std::monostate. Datetimes are kept as normalized ISO 8601 strings
// ("2020-01-31T10:00:00" or "2020-01-31T10:00:00.250"; a date alone gets T00:00:00).
using CellValue = std::variant<std::monostate, int64_t, double, bool, std::string>;

struct DataColumn {
  std::string name;
  ColumnType type = ColumnType::kString;
  std::vector<CellValue> values;

  bool IsMissing(size_t row) const { return std::holds_alternative<std::monostate>(values[row]); }
  // Numeric view for learners: int/float/bool as a double, NaN when missing or not numeric.
  double AsDouble(size_t row) const;
  size_t MissingCount() const;
};

struct DataTable {
  std::vector<DataColumn> columns;
  size_t num_rows = 0;

  // Index of the column named `name`, or -1.
  int ColumnIndex(std::string_view name) const;
  // Throws InvalidInput naming unknown columns (the message lists the known ones).
  void KeepColumns(const std::vector<std::string>& names);
  void DropColumns(const std::vector<std::string>& names);
  // Keeps the first n rows.
  void Take(size_t n);
  // Appends the rows of `other`; columns are matched by name (new names are added, missing
  // ones filled with missing values). Column types are re-unified (int+float -> float,
  // anything else mixed -> string).
  void Append(DataTable other);
};

struct DelimitedOptions {
  char separator = ',';
  bool header = true;
  bool infer_column_types = true;  // false: every column is a string
  size_t max_rows = 0;             // 0 = all rows
  std::string source_name;         // for error messages ("data/train.csv")
};

// Records of `text` (each a list of fields; a quoted empty field is "" like an unquoted one).
std::vector<std::vector<std::string>> ParseDelimited(std::string_view text,
                                                     const DelimitedOptions& options);

// One file's table.
DataTable ReadDelimited(std::string_view text, const DelimitedOptions& options);

// Re-types a string column (as read with infer_column_types=false) to `type`; values that do
// not parse as that type become missing (Azure's on_error='null').
void ConvertColumn(DataColumn& column, ColumnType type);
// "int" -> kInt ...; nullopt for an unknown name.
std::optional<ColumnType> ParseColumnType(std::string_view name);

// True for the spellings of a missing value (see above).
bool IsMissingToken(std::string_view s);
// Parses an ISO 8601 date or date-time ("2020-01-31", "2020-01-31 10:00", "2020-01-31T10:00:05Z",
// "2020-01-31T10:00:05.25+02:00" -> kept as local time) into the normalized form.
std::optional<std::string> ParseDatetime(std::string_view s);

}  // namespace trainyard
