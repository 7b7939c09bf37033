#include "store/run_tokens.h"

#include "common/util.h"

namespace trainyard {

bool IsRunTokenShape(std::string_view token) {
  if (token.size() != kRunTokenPrefix.size() + 64 || !token.starts_with(kRunTokenPrefix)) {
    return false;
  }
  for (char c : token.substr(kRunTokenPrefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string HashRunToken(std::string_view token) { return Sha256Hex(token); }

std::string MintRunToken(MetadataStore& store, const std::string& run_id) {
  std::string token = std::string(kRunTokenPrefix) + RandomHex(32);
  store.AddRunToken(run_id, HashRunToken(token));
  return token;
}

}  // namespace trainyard
