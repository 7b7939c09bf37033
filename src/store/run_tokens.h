// Run-scoped credentials (docs/ARCHITECTURE.md, "Run tokens"): each started run gets its own
// random bearer token, `tyrun_` + 64 hex digits. Only its SHA-256 is stored (run_tokens table),
// tied to the run id; the store deletes a run's tokens when the run reaches a terminal state.
#pragma once

#include <string>
#include <string_view>

#include "store/metadata_store.h"

namespace trainyard {

inline constexpr std::string_view kRunTokenPrefix = "tyrun_";

// True when `token` has the shape of a run token (the prefix and 64 hex digits).
bool IsRunTokenShape(std::string_view token);
// SHA-256 hex of a token (what the store keeps).
std::string HashRunToken(std::string_view token);
// Creates a new token for `run_id`, stores its hash and returns the token (shown only here).
std::string MintRunToken(MetadataStore& store, const std::string& run_id);

}  // namespace trainyard
