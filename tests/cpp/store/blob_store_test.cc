#include "store/blob_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/util.h"

namespace trainyard {
namespace {
namespace fs = std::filesystem;

class BlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("blobtest-" + RandomHex(6));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(BlobStoreTest, PutIsContentAddressedAndIdempotent) {
  BlobStore s(dir_ / "objects");
  std::string a = s.Put("hello");
  EXPECT_EQ(a, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
  EXPECT_EQ(s.Put("hello"), a);
  EXPECT_TRUE(s.Has(a));
  EXPECT_EQ(s.Get(a), "hello");
  EXPECT_EQ(s.PathOf(a), dir_ / "objects" / "2c" / a.substr(2));
  // No temp files left behind.
  for (auto& e : fs::recursive_directory_iterator(dir_ / "objects")) {
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  }
}

TEST_F(BlobStoreTest, PutFileStreamsAndDedups) {
  BlobStore s(dir_ / "objects");
  fs::path f = dir_ / "big.bin";
  std::string data(300000, 'x');
  data[1234] = 'y';
  std::ofstream(f, std::ios::binary) << data;
  uint64_t size = 0;
  std::string sha = s.PutFile(f, &size);
  EXPECT_EQ(size, data.size());
  EXPECT_EQ(sha, Sha256Hex(data));
  EXPECT_EQ(s.Get(sha), data);
  EXPECT_EQ(s.PutFile(f), sha);
}

TEST_F(BlobStoreTest, PutOwnedFileMovesIntoPlace) {
  BlobStore s(dir_ / "objects");
  fs::path tmp = s.TempDir() / "upload-1";
  std::ofstream(tmp) << "payload";
  std::string sha = s.PutOwnedFile(tmp);
  EXPECT_FALSE(fs::exists(tmp));
  EXPECT_EQ(s.Get(sha), "payload");
}

TEST_F(BlobStoreTest, RejectsMalformedIdsAndMissingBlobs) {
  BlobStore s(dir_ / "objects");
  EXPECT_THROW(s.PathOf("../../etc/passwd"), InvalidInput);
  EXPECT_FALSE(s.Has("zz"));
  EXPECT_THROW(s.Get(std::string(64, 'a')), NotFound);
}

TEST_F(BlobStoreTest, CopyToSetsExecutableBit) {
  BlobStore s(dir_ / "objects");
  std::string sha = s.Put("#!/bin/sh\n");
  s.CopyTo(sha, dir_ / "out" / "run.sh", true);
  auto perms = fs::status(dir_ / "out" / "run.sh").permissions();
  EXPECT_NE(perms & fs::perms::owner_exec, fs::perms::none);
}

}  // namespace
}  // namespace trainyard
