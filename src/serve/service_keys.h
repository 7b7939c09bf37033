// Bearer-key authentication of a web service's scoring route: a primary and a secondary key
// (either is accepted, so a client can move to a regenerated key without downtime), compared in
// constant time. Keys live in the service's keys file, written by the workspace server and
// re-read by the front on SIGHUP.
//
// Thread-safe: Check() may run on any thread while Set() swaps the keys.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace trainyard::serve {

struct KeyPair {
  std::string primary, secondary;
};

// A fresh random key (32 bytes of OS randomness, base64url without padding: 43 characters).
std::string GenerateServiceKey();

class ServiceKeys {
 public:
  void Set(KeyPair keys);
  // True when `authorization` is "Bearer <primary>" or "Bearer <secondary>" (the scheme is
  // case-insensitive). An empty key never matches.
  bool Check(std::string_view authorization) const;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const KeyPair> keys_ = std::make_shared<KeyPair>();
};

// Reads {"primaryKey", "secondaryKey"} from a keys file. Throws InvalidInput / NotFound.
KeyPair LoadKeyFile(const std::filesystem::path& path);
// Writes the keys file atomically with mode 0600.
void SaveKeyFile(const std::filesystem::path& path, const KeyPair& keys);

}  // namespace trainyard::serve
