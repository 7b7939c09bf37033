#include "serve/service_keys.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "common/error.h"
#include "common/util.h"

namespace trainyard::serve {
namespace {
namespace fs = std::filesystem;

TEST(ServiceKeysTest, GeneratedKeysAreLongUrlSafeAndDistinct) {
  std::set<std::string> keys;
  for (int i = 0; i < 50; ++i) {
    std::string k = GenerateServiceKey();
    EXPECT_EQ(k.size(), 43u);
    for (char c : k)
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
    keys.insert(k);
  }
  EXPECT_EQ(keys.size(), 50u);
}

TEST(ServiceKeysTest, AcceptsEitherKeyWithBearerScheme) {
  ServiceKeys k;
  k.Set({"primary-key", "secondary-key"});
  EXPECT_TRUE(k.Check("Bearer primary-key"));
  EXPECT_TRUE(k.Check("bearer secondary-key"));
  EXPECT_TRUE(k.Check("BEARER  primary-key"));
  EXPECT_FALSE(k.Check("Bearer primary-ke"));
  EXPECT_FALSE(k.Check("Bearer primary-keyX"));
  EXPECT_FALSE(k.Check("primary-key"));
  EXPECT_FALSE(k.Check("Basic primary-key"));
  EXPECT_FALSE(k.Check("Bearer "));
  EXPECT_FALSE(k.Check(""));
}

TEST(ServiceKeysTest, EmptyKeysNeverMatchAndRotationTakesEffect) {
  ServiceKeys k;
  EXPECT_FALSE(k.Check("Bearer "));
  k.Set({"a1", ""});
  EXPECT_FALSE(k.Check("Bearer "));
  EXPECT_TRUE(k.Check("Bearer a1"));
  k.Set({"a2", "b1"});
  EXPECT_FALSE(k.Check("Bearer a1"));
  EXPECT_TRUE(k.Check("Bearer a2"));
  EXPECT_TRUE(k.Check("Bearer b1"));
}

TEST(ServiceKeysTest, KeyFileRoundTripsWithPrivateMode) {
  fs::path dir = fs::temp_directory_path() / ("keystest-" + RandomHex(6));
  fs::create_directories(dir);
  SaveKeyFile(dir / "keys.json", {"p", "s"});
  KeyPair k = LoadKeyFile(dir / "keys.json");
  EXPECT_EQ(k.primary, "p");
  EXPECT_EQ(k.secondary, "s");
  EXPECT_EQ(fs::status(dir / "keys.json").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  WriteFileAtomic(dir / "bad.json", "{not json");
  EXPECT_THROW(LoadKeyFile(dir / "bad.json"), InvalidInput);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace trainyard::serve
