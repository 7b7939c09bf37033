#include "data/csv_reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

#include "common/error.h"

namespace trainyard {

namespace {

std::string Where(const DelimitedOptions& o, size_t line) {
  return (o.source_name.empty() ? std::string("delimited text") : o.source_name) + ", line " +
         std::to_string(line);
}

bool ParseInt(std::string_view s, int64_t* out) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool ParseFloat(std::string_view s, double* out) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  // from_chars accepts "inf"/"nan" spellings; only plain decimal numbers count here.
  char c = s[0] == '-' ? (s.size() > 1 ? s[1] : '\0') : s[0];
  if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.')) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool ParseBool(std::string_view s, bool* out) {
  std::string l(s);
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
  if (l == "true") {
    *out = true;
    return true;
  }
  if (l == "false") {
    *out = false;
    return true;
  }
  return false;
}

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

ColumnType Unify(ColumnType a, ColumnType b) {
  if (a == b) return a;
  auto numeric = [](ColumnType t) { return t == ColumnType::kInt || t == ColumnType::kFloat; };
  if (numeric(a) && numeric(b)) return ColumnType::kFloat;
  return ColumnType::kString;
}

// Converts a column's raw strings to typed cells per the inferred type.
DataColumn TypedColumn(std::string name, const std::vector<std::string>& raw, bool infer) {
  DataColumn col;
  col.name = std::move(name);
  bool all_int = true, all_float = true, all_bool = true, all_dt = true, any = false;
  for (const std::string& s : raw) {
    if (IsMissingToken(s)) continue;
    any = true;
    int64_t i;
    double d;
    bool b;
    if (all_int && !ParseInt(s, &i)) all_int = false;
    if (all_float && !ParseFloat(s, &d)) all_float = false;
    if (all_bool && !ParseBool(s, &b)) all_bool = false;
    if (all_dt && !ParseDatetime(s)) all_dt = false;
    if (!all_int && !all_float && !all_bool && !all_dt) break;
  }
  if (!infer || !any) {
    col.type = ColumnType::kString;
  } else if (all_int) {
    col.type = ColumnType::kInt;
  } else if (all_float) {
    col.type = ColumnType::kFloat;
  } else if (all_bool) {
    col.type = ColumnType::kBool;
  } else if (all_dt) {
    col.type = ColumnType::kDatetime;
  } else {
    col.type = ColumnType::kString;
  }
  col.values.reserve(raw.size());
  for (const std::string& s : raw) {
    if (IsMissingToken(s)) {
      col.values.emplace_back(std::monostate{});
      continue;
    }
    switch (col.type) {
      case ColumnType::kInt: {
        int64_t v = 0;
        ParseInt(s, &v);
        col.values.emplace_back(v);
        break;
      }
      case ColumnType::kFloat: {
        double v = 0;
        ParseFloat(s, &v);
        col.values.emplace_back(v);
        break;
      }
      case ColumnType::kBool: {
        bool v = false;
        ParseBool(s, &v);
        col.values.emplace_back(v);
        break;
      }
      case ColumnType::kDatetime:
        col.values.emplace_back(*ParseDatetime(s));
        break;
      case ColumnType::kString:
        col.values.emplace_back(s);
        break;
    }
  }
  return col;
}

std::string CellToString(const CellValue& v) {
  struct V {
    std::string operator()(std::monostate) const { return ""; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const {
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, d);
      return std::string(buf, r.ptr);
    }
    std::string operator()(bool b) const { return b ? "True" : "False"; }
    std::string operator()(const std::string& s) const { return s; }
  };
  return std::visit(V{}, v);
}

// Re-types a column in place to `to` (a wider type from Unify).
void Widen(DataColumn& col, ColumnType to) {
  if (col.type == to) return;
  for (CellValue& v : col.values) {
    if (std::holds_alternative<std::monostate>(v)) continue;
    if (to == ColumnType::kFloat && std::holds_alternative<int64_t>(v)) {
      v = static_cast<double>(std::get<int64_t>(v));
    } else if (to == ColumnType::kString) {
      v = CellToString(v);
    }
  }
  col.type = to;
}

}  // namespace

const char* ColumnTypeName(ColumnType t) {
  switch (t) {
    case ColumnType::kInt:
      return "int";
    case ColumnType::kFloat:
      return "float";
    case ColumnType::kBool:
      return "bool";
    case ColumnType::kDatetime:
      return "datetime";
    case ColumnType::kString:
      return "string";
  }
  return "string";
}

bool IsMissingToken(std::string_view s) {
  static const char* const kTokens[] = {"", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"};
  for (const char* t : kTokens) {
    if (s == t) return true;
  }
  return false;
}

std::optional<std::string> ParseDatetime(std::string_view s) {
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (s.size() < 10 || !Digits(s, 0, 4, &y) || (s[4] != '-' && s[4] != '/') ||
      !Digits(s, 5, 2, &mo) || s[7] != s[4] || !Digits(s, 8, 2, &d)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return std::nullopt;
  std::string frac;
  size_t i = 10;
  if (i < s.size()) {
    if (s[i] != 'T' && s[i] != ' ') return std::nullopt;
    if (!Digits(s, i + 1, 2, &h) || i + 3 >= s.size() + 0 || s[i + 3] != ':' ||
        !Digits(s, i + 4, 2, &mi)) {
      return std::nullopt;
    }
    i += 6;
    if (i < s.size() && s[i] == ':') {
      if (!Digits(s, i + 1, 2, &sec)) return std::nullopt;
      i += 3;
      if (i < s.size() && s[i] == '.') {
        size_t j = i + 1;
        while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
        if (j == i + 1) return std::nullopt;
        frac = std::string(s.substr(i, j - i));
        i = j;
      }
    }
    if (i < s.size()) {
      // Zone: Z or +HH:MM / -HH:MM / +HHMM (dropped: the value is kept as written).
      std::string_view z = s.substr(i);
      int zh, zm;
      bool ok = z == "Z" ||
                ((z[0] == '+' || z[0] == '-') &&
                 ((z.size() == 6 && Digits(z, 1, 2, &zh) && z[3] == ':' && Digits(z, 4, 2, &zm)) ||
                  (z.size() == 5 && Digits(z, 1, 4, &zh))));
      if (!ok) return std::nullopt;
    }
    if (h > 23 || mi > 59 || sec > 60) return std::nullopt;
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", y, mo, d, h, mi, sec);
  return std::string(buf) + frac;
}

std::optional<ColumnType> ParseColumnType(std::string_view n) {
  for (ColumnType t : {ColumnType::kInt, ColumnType::kFloat, ColumnType::kBool,
                       ColumnType::kDatetime, ColumnType::kString}) {
    if (n == ColumnTypeName(t)) return t;
  }
  return std::nullopt;
}

void ConvertColumn(DataColumn& col, ColumnType type) {
  if (col.type == type) return;
  for (CellValue& v : col.values) {
    auto* s = std::get_if<std::string>(&v);
    if (s == nullptr) continue;
    int64_t i;
    double d;
    bool b;
    switch (type) {
      case ColumnType::kInt:
        v = ParseInt(*s, &i) ? CellValue(i) : CellValue(std::monostate{});
        break;
      case ColumnType::kFloat:
        v = ParseFloat(*s, &d) ? CellValue(d) : CellValue(std::monostate{});
        break;
      case ColumnType::kBool:
        v = ParseBool(*s, &b) ? CellValue(b) : CellValue(std::monostate{});
        break;
      case ColumnType::kDatetime: {
        auto dt = ParseDatetime(*s);
        v = dt ? CellValue(*dt) : CellValue(std::monostate{});
        break;
      }
      case ColumnType::kString:
        break;
    }
  }
  col.type = type;
}

double DataColumn::AsDouble(size_t row) const {
  const CellValue& v = values[row];
  if (auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  if (auto* d = std::get_if<double>(&v)) return *d;
  if (auto* b = std::get_if<bool>(&v)) return *b ? 1.0 : 0.0;
  return std::nan("");
}

size_t DataColumn::MissingCount() const {
  return static_cast<size_t>(std::count_if(values.begin(), values.end(), [](const CellValue& v) {
    return std::holds_alternative<std::monostate>(v);
  }));
}

int DataTable::ColumnIndex(std::string_view name) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

namespace {
void RequireColumns(const DataTable& t, const std::vector<std::string>& names) {
  std::string unknown;
  for (const std::string& n : names) {
    if (t.ColumnIndex(n) < 0) unknown += (unknown.empty() ? "'" : ", '") + n + "'";
  }
  if (unknown.empty()) return;
  std::string known;
  for (const DataColumn& c : t.columns) known += (known.empty() ? "" : ", ") + c.name;
  throw InvalidInput("unknown column(s) " + unknown + "; the dataset has: " + known);
}
}  // namespace

void DataTable::KeepColumns(const std::vector<std::string>& names) {
  RequireColumns(*this, names);
  std::vector<DataColumn> kept;
  for (const std::string& n : names) {
    int i = ColumnIndex(n);
    if (i >= 0 &&
        std::none_of(kept.begin(), kept.end(), [&](const DataColumn& c) { return c.name == n; })) {
      kept.push_back(std::move(columns[static_cast<size_t>(i)]));
      columns[static_cast<size_t>(i)].name = "\x01moved";
    }
  }
  columns = std::move(kept);
}

void DataTable::DropColumns(const std::vector<std::string>& names) {
  RequireColumns(*this, names);
  std::erase_if(columns, [&](const DataColumn& c) {
    return std::find(names.begin(), names.end(), c.name) != names.end();
  });
}

void DataTable::Take(size_t n) {
  if (n >= num_rows) return;
  for (DataColumn& c : columns) c.values.resize(n);
  num_rows = n;
}

void DataTable::Append(DataTable other) {
  if (columns.empty() && num_rows == 0) {
    *this = std::move(other);
    return;
  }
  for (DataColumn& oc : other.columns) {
    int i = ColumnIndex(oc.name);
    if (i < 0) {
      DataColumn c;
      c.name = oc.name;
      c.type = oc.type;
      c.values.assign(num_rows, std::monostate{});
      columns.push_back(std::move(c));
      i = static_cast<int>(columns.size()) - 1;
    }
    DataColumn& mine = columns[static_cast<size_t>(i)];
    // An all-missing side takes the other side's type.
    bool mine_empty = mine.MissingCount() == mine.values.size();
    bool theirs_empty = oc.MissingCount() == oc.values.size();
    ColumnType t = mine_empty ? oc.type : theirs_empty ? mine.type : Unify(mine.type, oc.type);
    Widen(mine, t);
    Widen(oc, t);
    mine.type = t;
    for (CellValue& v : oc.values) mine.values.push_back(std::move(v));
  }
  size_t total = num_rows + other.num_rows;
  for (DataColumn& c : columns) c.values.resize(total, std::monostate{});
  num_rows = total;
}

std::vector<std::vector<std::string>> ParseDelimited(std::string_view text,
                                                     const DelimitedOptions& o) {
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  size_t i = 0, line = 1, quote_line = 0;
  bool in_quotes = false, quoted = false, row_has_content = false;
  const char sep = o.separator;
  auto end_field = [&] {
    row.push_back(std::move(field));
    field.clear();
    quoted = false;
  };
  auto end_row = [&] {
    end_field();
    // A blank line (one empty unquoted field) is skipped.
    if (row_has_content || row.size() > 1 || !row[0].empty()) rows.push_back(std::move(row));
    row.clear();
    row_has_content = false;
  };
  while (i < text.size()) {
    if (o.max_rows && rows.size() >= o.max_rows + (o.header ? 1 : 0)) break;
    char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field.push_back('"');
          i += 2;
          continue;
        }
        in_quotes = false;
        ++i;
        continue;
      }
      if (c == '\n') ++line;
      field.push_back(c);
      ++i;
      continue;
    }
    if (c == '"' && field.empty() && !quoted) {
      in_quotes = quoted = row_has_content = true;
      quote_line = line;
      ++i;
      continue;
    }
    if (c == sep) {
      end_field();
      row_has_content = true;
      ++i;
      continue;
    }
    if (c == '\r' || c == '\n') {
      end_row();
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      ++i;
      ++line;
      continue;
    }
    field.push_back(c);
    ++i;
  }
  if (in_quotes) {
    throw InvalidInput(Where(o, quote_line) +
                       ": a quoted field is never closed (a '\"' is missing)");
  }
  if (!field.empty() || !row.empty() || quoted) end_row();
  return rows;
}

DataTable ReadDelimited(std::string_view text, const DelimitedOptions& o) {
  std::vector<std::vector<std::string>> rows = ParseDelimited(text, o);
  DataTable t;
  std::vector<std::string> names;
  size_t first = 0;
  if (o.header && !rows.empty()) {
    names = rows[0];
    first = 1;
  }
  size_t width = names.size();
  for (size_t r = first; r < rows.size(); ++r) width = std::max(width, rows[r].size());
  if (o.header && width > names.size()) {
    for (size_t r = first; r < rows.size(); ++r) {
      if (rows[r].size() > names.size()) {
        throw InvalidInput(Where(o, r + 1) + ": the row has " + std::to_string(rows[r].size()) +
                           " fields but the header has " + std::to_string(names.size()) +
                           " (check the separator; set header=False when there is no header)");
      }
    }
  }
  // Header names: empty ones get ColumnN, repeats get a _N suffix.
  names.resize(width);
  std::map<std::string, int> seen;
  for (size_t c = 0; c < width; ++c) {
    if (names[c].empty()) names[c] = "Column" + std::to_string(c + 1);
    int n = seen[names[c]]++;
    if (n > 0) names[c] += "_" + std::to_string(n);
  }
  t.num_rows = rows.size() - first;
  if (o.max_rows && t.num_rows > o.max_rows) t.num_rows = o.max_rows;
  for (size_t c = 0; c < width; ++c) {
    std::vector<std::string> raw;
    raw.reserve(t.num_rows);
    for (size_t r = first; r < first + t.num_rows; ++r) {
      raw.push_back(c < rows[r].size() ? std::move(rows[r][c]) : std::string());
    }
    t.columns.push_back(TypedColumn(names[c], raw, o.infer_column_types));
  }
  return t;
}

}  // namespace trainyard
