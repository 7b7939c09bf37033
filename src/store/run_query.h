// Server-side run queries: the filter / order_by grammar (a subset of MLflow's search_runs
// syntax, docs/REST.md "Run queries") and the SQL a page of runs is read with (keyset paging
// with an opaque cursor). Pure functions over text: no SQLite calls, so the grammar is tested
// on its own.
//
//   filter   := term { AND term }
//   term     := ident op value | ident [NOT] IN '(' value {',' value} ')'
//   ident    := [prefix '.'] key        prefix: metrics|metric, params|param|properties|
//                                       property, tags|tag, attributes|attribute|attr|run
//               key: [A-Za-z0-9_\-./:]+ or "quoted" or `quoted`; no prefix = attribute
//   op       := = | != | <> | < | <= | > | >= | LIKE | ILIKE
//   value    := 'string' | "string" | number
//   order_by := ident [ASC|DESC] {',' ident [ASC|DESC]}
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace trainyard {

struct RunFilter;

using SqlValue = std::variant<std::monostate, int64_t, double, std::string>;

enum class RunField { kMetric, kParam, kTag, kAttribute };

struct FilterTerm {
  RunField field = RunField::kAttribute;
  std::string key;  // metric / param / tag name, or the canonical attribute name
  std::string op;   // = != < <= > >= LIKE ILIKE IN NOT IN
  std::vector<SqlValue> values;
  size_t pos = 0;  // offset of the term in the filter text
};

struct OrderTerm {
  RunField field = RunField::kAttribute;
  std::string key;
  bool desc = false;
};

// Both throw InvalidInput naming the offending token and its position (0-based character
// offset), e.g. "filter: expected an operator at position 12 ('acc'): ...".
std::vector<FilterTerm> ParseRunFilter(std::string_view text);
std::vector<OrderTerm> ParseRunOrderBy(std::string_view text);

// The attributes a filter or order_by may name (canonical names).
const std::vector<std::string>& RunAttributeNames();

// A page query. `select_columns` is the run column list (prefixed with "r."); the statement
// returns those, then one column per sort key (the cursor is built from the last row's).
struct RunPageSql {
  std::string sql;
  std::vector<SqlValue> binds;
  std::string count_sql;  // same conditions, no keyset and no limit
  std::vector<SqlValue> count_binds;
  size_t sort_columns = 0;  // number of trailing sort-key columns
  std::string signature;    // identifies the query a cursor belongs to
};

// Builds the SQL for a page of runs in `scope` (experiment or parent, statuses, kind, tag and
// property key[=value] filters) matching `filter`, ordered by `order` and then by creation
// (newest first for experiment listings, oldest first for children), after `cursor`.
// Throws InvalidInput for a cursor of another query or a malformed one.
RunPageSql BuildRunPageSql(const RunFilter& scope, const std::vector<FilterTerm>& filter,
                           const std::vector<OrderTerm>& order, const std::string& cursor,
                           int limit, const std::string& select_columns,
                           const std::string& filter_text, const std::string& order_text);

// The cursor for the row whose sort-key values are `keys`.
std::string EncodeRunCursor(const std::string& signature, const std::vector<SqlValue>& keys);

}  // namespace trainyard
