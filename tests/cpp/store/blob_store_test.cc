#include "store/blob_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

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

size_t FilesIn(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.is_regular_file() ? 1 : 0;
  return n;
}

// A batch of kSyncfsMin or more blobs (the syncfs path): nothing is visible under its hash until
// Commit(); then every blob is in place, read-only, and tmp/ is empty.
TEST_F(BlobStoreTest, BatchBlobsAppearOnlyAtCommit) {
  BlobStore s(dir_ / "objects");
  std::string before = s.Put("already stored");
  BlobBatch b(s);
  std::vector<std::string> shas;
  for (int i = 0; i < 40; ++i) shas.push_back(b.Put("blob " + std::to_string(i)));
  EXPECT_EQ(b.Put("blob 3"), shas[3]);  // duplicate within the batch: stored once
  EXPECT_EQ(b.Put("already stored"), before);
  fs::path big = dir_ / "big.bin";
  std::string data(300000, 'z');
  std::ofstream(big, std::ios::binary) << data;
  b.PutFileWithHash(big, Sha256Hex(data));
  shas.push_back(Sha256Hex(data));
  fs::path owned = s.TempDir() / "upload-2";
  std::ofstream(owned) << "owned payload";
  shas.push_back(b.PutOwnedFile(owned));
  EXPECT_EQ(b.pending(), 42u);
  EXPECT_EQ(FilesIn(s.TempDir()), 42u);
  for (const auto& sha : shas) {
    EXPECT_FALSE(s.Has(sha)) << "visible before Commit: " << sha;
    EXPECT_TRUE(b.Has(sha));
  }
  EXPECT_EQ(b.Commit(), 42u);
  EXPECT_EQ(b.pending(), 0u);
  EXPECT_EQ(FilesIn(s.TempDir()), 0u);
  for (const auto& sha : shas) ASSERT_TRUE(s.Has(sha)) << sha;
  EXPECT_EQ(s.Get(shas[7]), "blob 7");
  EXPECT_EQ(s.Get(Sha256Hex(data)), data);
  EXPECT_EQ(s.Get(shas.back()), "owned payload");
  EXPECT_EQ(fs::status(s.PathOf(shas[0])).permissions() & fs::perms::all, fs::perms(0444));
  EXPECT_EQ(b.Commit(), 0u);  // nothing pending
}

// A small batch takes the fsync-per-file path; same outcome.
TEST_F(BlobStoreTest, SmallBatchCommits) {
  BlobStore s(dir_ / "objects");
  BlobBatch b(s);
  std::string a = b.Put("one");
  std::string c = b.Put("two");
  EXPECT_FALSE(s.Has(a));
  EXPECT_EQ(b.Commit(), 2u);
  EXPECT_EQ(s.Get(a), "one");
  EXPECT_EQ(s.Get(c), "two");
  EXPECT_EQ(FilesIn(s.TempDir()), 0u);
}

// A batch given up (an error before Commit) leaves neither blobs nor temp files.
TEST_F(BlobStoreTest, UncommittedBatchLeavesNothing) {
  BlobStore s(dir_ / "objects");
  std::string sha;
  {
    BlobBatch b(s);
    for (int i = 0; i < 20; ++i) sha = b.Put("x" + std::to_string(i));
    fs::path f = dir_ / "f.txt";
    std::ofstream(f) << "actual";
    EXPECT_THROW(b.PutFileWithHash(f, Sha256Hex("expected")), InvalidInput);
  }
  EXPECT_FALSE(s.Has(sha));
  EXPECT_EQ(FilesIn(s.TempDir()), 0u);
}

// Several threads adding to one batch (the node cache's parallel downloads).
TEST_F(BlobStoreTest, BatchIsThreadSafe) {
  BlobStore s(dir_ / "objects");
  BlobBatch b(s);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&b] {
      for (int i = 0; i < 50; ++i) b.Put("shared " + std::to_string(i));  // all threads, same 50
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(b.Commit(), 50u);
  EXPECT_EQ(FilesIn(s.TempDir()), 0u);
  EXPECT_EQ(s.Get(Sha256Hex("shared 49")), "shared 49");
}

}  // namespace
}  // namespace trainyard
