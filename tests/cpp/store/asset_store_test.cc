// Versioned assets (datasets, environments, datastores) and run lineage in the SQLite store.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/error.h"
#include "common/util.h"
#include "store/metadata_store.h"

namespace trainyard {
namespace {
namespace fs = std::filesystem;

class AssetStoreTest : public ::testing::Test {
 protected:
  AssetStoreTest() : dir_(fs::temp_directory_path() / ("ty-assets-" + RandomHex(4))) {
    fs::create_directories(dir_);
    store_ = OpenSqliteMetadataStore((dir_ / "meta.db").string());
  }
  ~AssetStoreTest() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  AssetRecord Asset(const std::string& hash) {
    AssetRecord a;
    a.kind = "dataset";
    a.name = "mnist";
    a.id = RandomHex(8);
    a.definition = {{"h", hash}};
    a.definition_hash = hash;
    return a;
  }
  fs::path dir_;
  std::unique_ptr<MetadataStore> store_;
};

TEST_F(AssetStoreTest, VersioningPolicies) {
  bool created = false;
  AssetRecord v1 = store_->PutAsset(Asset("h1"), AssetVersioning::kSameOrConflict, &created);
  EXPECT_TRUE(created);
  EXPECT_EQ(v1.version, 1);
  // Same definition: the existing version, whatever the policy but kAlwaysNew.
  AssetRecord same = store_->PutAsset(Asset("h1"), AssetVersioning::kSameOrConflict, &created);
  EXPECT_FALSE(created);
  EXPECT_EQ(same.id, v1.id);
  EXPECT_EQ(store_->PutAsset(Asset("h1"), AssetVersioning::kNewIfChanged, &created).version, 1);
  EXPECT_THROW(store_->PutAsset(Asset("h2"), AssetVersioning::kSameOrConflict, &created), Conflict);
  EXPECT_EQ(store_->PutAsset(Asset("h2"), AssetVersioning::kNewIfChanged, &created).version, 2);
  EXPECT_EQ(store_->PutAsset(Asset("h2"), AssetVersioning::kAlwaysNew, &created).version, 3);
  EXPECT_EQ(store_->GetAsset("dataset", "mnist", 0)->version, 3);
  EXPECT_EQ(store_->GetAsset("dataset", "mnist", 1)->definition["h"], "h1");
  EXPECT_FALSE(store_->GetAsset("dataset", "mnist", 9));
  EXPECT_FALSE(store_->GetAsset("environment", "mnist", 0));  // kinds are separate
  EXPECT_EQ(store_->GetAssetById("dataset", v1.id)->version, 1);
  EXPECT_EQ(store_->ListAssets("dataset", "", true).size(), 1u);
  EXPECT_EQ(store_->ListAssets("dataset", "mnist", false).size(), 3u);
}

TEST_F(AssetStoreTest, RunInputsAreLineage) {
  store_->AddRunInputs({{"run1", "dataset", "mnist", 1, "id1", "train", "mount", 0},
                        {"run2", "dataset", "mnist", 2, "id2", "train", "download", 0},
                        {"run2", "dataset", "other", 1, "id3", "test", "mount", 0}});
  EXPECT_EQ(store_->ListRunInputs("run2").size(), 2u);
  auto consumers = store_->ListAssetConsumers("dataset", "mnist", 1);
  ASSERT_EQ(consumers.size(), 1u);
  EXPECT_EQ(consumers[0].run_id, "run1");
  EXPECT_EQ(store_->ListAssetConsumers("dataset", "mnist", 0).size(), 2u);
}

}  // namespace
}  // namespace trainyard
