// The run object of docs/REST.md (GET /runs/{id}) written straight to JSON text, and the small
// JSON text writers the run listings share. Writing text directly (no nlohmann tree: no
// allocation per key and value) makes a page of runs several times cheaper to answer; the
// bytes are the same as nlohmann's dump of the equivalent tree (keys in its sorted order,
// strings escaped and invalid UTF-8 replaced the same way).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/metadata_store.h"

namespace trainyard {

// A JSON string literal (plain printable ASCII as is, anything else through nlohmann).
void AppendJsonString(std::string& out, std::string_view s);
// Any JSON value as nlohmann dumps it (compact, invalid UTF-8 replaced).
void AppendJsonDump(std::string& out, const nlohmann::json& v);
// An ISO 8601 time ("2026-11-23T10:00:00.123Z") or null for ms <= 0.
void AppendJsonTime(std::string& out, int64_t ms);
// An object of string values (tags, properties) with non-strings dumped.
void AppendJsonStringMap(std::string& out, const nlohmann::json& obj);

struct RunJsonParts {
  const std::string* server_url = nullptr;                              // for portal_url, log URLs
  const std::vector<std::pair<std::string, uint64_t>>* logs = nullptr;  // live logs (rel, size)
  const std::vector<RunInputRecord>* inputs = nullptr;                  // lineage
  const nlohmann::json* metrics = nullptr;  // latest metrics: adds "metrics" when set
};

// Appends the run object.
void AppendRunJson(std::string& out, const RunRecord& r, const RunJsonParts& parts);

}  // namespace trainyard
