#include "serve/service_keys.h"

#include <openssl/rand.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/util.h"
#include "net/http_types.h"

namespace trainyard::serve {

std::string GenerateServiceKey() {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) throw InternalError("no randomness for a service key");
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : raw) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
  return out;
}

void ServiceKeys::Set(KeyPair keys) {
  auto p = std::make_shared<const KeyPair>(std::move(keys));
  std::lock_guard lk(mu_);
  keys_ = std::move(p);
}

bool ServiceKeys::Check(std::string_view authorization) const {
  std::shared_ptr<const KeyPair> k;
  {
    std::lock_guard lk(mu_);
    k = keys_;
  }
  // The same parse as the workspace server's (net/http_types.h): scheme case-insensitive.
  auto given = BearerToken(authorization);
  if (!given) return false;
  // Evaluate both comparisons so the time does not tell which key matched.
  bool a = SecretEquals(*given, k->primary);
  bool b = SecretEquals(*given, k->secondary);
  return a || b;
}

KeyPair LoadKeyFile(const std::filesystem::path& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ReadFile(path));
  } catch (const nlohmann::json::exception& e) {
    throw InvalidInput("keys file " + path.string() + " is not valid JSON: " + e.what());
  }
  KeyPair k;
  k.primary = j.value("primaryKey", "");
  k.secondary = j.value("secondaryKey", "");
  return k;
}

void SaveKeyFile(const std::filesystem::path& path, const KeyPair& keys) {
  nlohmann::json j = {{"primaryKey", keys.primary}, {"secondaryKey", keys.secondary}};
  WriteFileAtomic(path, j.dump(), 0600);
}

}  // namespace trainyard::serve
