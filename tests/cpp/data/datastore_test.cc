#include "data/datastore.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/util.h"
#include "data/dataset.h"

namespace trainyard {
namespace {
namespace fs = std::filesystem;
using Json = nlohmann::json;

class DatastoreTest : public ::testing::Test {
 protected:
  DatastoreTest()
      : dir_(fs::temp_directory_path() / ("ty-ds-" + RandomHex(4))),
        store_(
            (fs::create_directories(dir_), OpenSqliteMetadataStore((dir_ / "meta.db").string()))),
        blobs_(dir_ / "objects"),
        ctx_(dir_, *store_, blobs_) {}
  ~DatastoreTest() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
  std::unique_ptr<MetadataStore> store_;
  BlobStore blobs_;
  DataContext ctx_;
};

TEST_F(DatastoreTest, DefaultDatastoreIsAManifestOfBlobs) {
  std::string a = blobs_.Put("alpha"), b = blobs_.Put("beta");
  UploadCounts c = ctx_.datastores.AddFiles(
      kDefaultDatastore, {{"mnist/a.gz", a, 5}, {"mnist/sub/b.gz", b, 4}}, false);
  EXPECT_EQ(c.added, 2u);
  // Uploading again without overwrite skips; with overwrite replaces.
  c = ctx_.datastores.AddFiles(kDefaultDatastore, {{"mnist/a.gz", b, 4}}, false);
  EXPECT_EQ(c.skipped, 1u);
  EXPECT_EQ(ctx_.datastores.ListFiles(kDefaultDatastore)[0].sha256, a);
  c = ctx_.datastores.AddFiles(kDefaultDatastore, {{"mnist/a.gz", b, 4}}, true);
  EXPECT_EQ(c.replaced, 1u);
  auto files = ctx_.datastores.ListFiles(kDefaultDatastore);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].path, "mnist/a.gz");
  EXPECT_EQ(files[0].sha256, b);
  Json manifest = Json::parse(ReadFile(dir_ / "datastores" / kDefaultDatastore / "manifest.json"));
  EXPECT_EQ(manifest["files"]["mnist/sub/b.gz"]["sha256"], b);
}

TEST_F(DatastoreTest, RejectsBadPathsAndMissingBlobsBeforeWriting) {
  std::string a = blobs_.Put("alpha");
  EXPECT_THROW(
      ctx_.datastores.AddFiles(kDefaultDatastore, {{"ok.txt", a, 5}, {"../evil", a, 5}}, false),
      InvalidInput);
  EXPECT_THROW(
      ctx_.datastores.AddFiles(kDefaultDatastore, {{"x.txt", std::string(64, 'a'), 1}}, false),
      InvalidInput);
  EXPECT_TRUE(ctx_.datastores.ListFiles(kDefaultDatastore).empty());
  EXPECT_THROW(ctx_.datastores.Get("nope"), NotFound);
}

TEST_F(DatastoreTest, LocalDirectoryDatastoreAndGlobDataset) {
  fs::path data = dir_ / "external";
  fs::create_directories(data / "csv" / "2020");
  std::ofstream(data / "csv" / "2020" / "a.csv") << "x,y\n1,2\n";
  std::ofstream(data / "csv" / "b.csv") << "x,y\n3,4.5\n";
  std::ofstream(data / "notes.txt") << "n";
  EXPECT_THROW(ctx_.datastores.RegisterLocalDirectory("ext", "relative/dir", false), InvalidInput);
  DatastoreInfo info = ctx_.datastores.RegisterLocalDirectory("ext", data.string(), false);
  EXPECT_EQ(info.type, "local_directory");
  EXPECT_THROW(ctx_.datastores.RegisterLocalDirectory("ext", dir_.string(), false), Conflict);
  ASSERT_EQ(ctx_.datastores.List().size(), 2u);

  Json def = CreateDatasetDefinition(
      {{"type", "tabular"}, {"paths", {{{"datastore", "ext"}, {"path", "csv/**/*.csv"}}}}}, ctx_);
  ASSERT_EQ(def["files"].size(), 2u);
  EXPECT_EQ(def["files"][0]["path"], "2020/a.csv");  // relative to the glob's base
  EXPECT_TRUE(def["files"][0].contains("sha256"));
  DataTable t = LoadTabularDataset(def, ctx_, 0);
  EXPECT_EQ(t.num_rows, 2u);
  EXPECT_EQ(t.columns[1].type, ColumnType::kFloat);

  EXPECT_THROW(
      CreateDatasetDefinition({{"paths", {{{"datastore", "ext"}, {"path", "nothing/**"}}}}}, ctx_),
      InvalidInput);

  // include_path adds the file each row came from; transforms apply lazily, in order.
  Json with_path =
      CreateDatasetDefinition({{"type", "tabular"},
                               {"paths", {{{"datastore", "ext"}, {"path", "csv/**/*.csv"}}}},
                               {"options", {{"include_path", true}}}},
                              ctx_);
  with_path["transforms"] = Json::array({{{"drop_columns", {"x"}}}, {{"take", 1}}});
  DataTable p = LoadTabularDataset(ValidateDatasetDefinition(with_path), ctx_, 0);
  ASSERT_EQ(p.columns.size(), 2u);
  EXPECT_EQ(p.columns[0].name, "Path");
  EXPECT_EQ(std::get<std::string>(p.columns[0].values[0]), "/2020/a.csv");
  EXPECT_EQ(p.num_rows, 1u);
}

TEST_F(DatastoreTest, DefinitionHashFollowsContentNotOrderOfKeys) {
  fs::path f = dir_ / "one.txt";
  std::ofstream(f) << "v1";
  Json d1 = CreateDatasetDefinition({{"paths", f.string()}}, ctx_);
  Json d2 = CreateDatasetDefinition({{"paths", f.string()}}, ctx_);
  EXPECT_EQ(DatasetDefinitionHash(d1), DatasetDefinitionHash(d2));
  std::ofstream(f) << "v2";
  Json d3 = CreateDatasetDefinition({{"paths", f.string()}}, ctx_);
  EXPECT_NE(DatasetDefinitionHash(d1), DatasetDefinitionHash(d3));
  // Content was snapshotted into the blob store: the first version still reads "v1".
  fs::path out = dir_ / "out";
  MaterializeDataset(d1, out, MaterializeMode::kDownload, false, ctx_);
  EXPECT_EQ(ReadFile(out / "one.txt"), "v1");
  EXPECT_THROW(MaterializeDataset(d1, out, MaterializeMode::kDownload, false, ctx_), Conflict);
}

}  // namespace
}  // namespace trainyard
