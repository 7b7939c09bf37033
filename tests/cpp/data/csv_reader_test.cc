#include "data/csv_reader.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"

namespace trainyard {
namespace {

DataTable Read(std::string_view text, DelimitedOptions o = {}) { return ReadDelimited(text, o); }

TEST(CsvReaderTest, QuotedFieldsEscapesAndEmbeddedNewlines) {
  auto rows = ParseDelimited("a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\n\"multi\nline\",2\n", {});
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1][0], "x, y");
  EXPECT_EQ(rows[1][1], "say \"hi\"");
  EXPECT_EQ(rows[2][0], "multi\nline");
}

TEST(CsvReaderTest, InfersEachColumnType) {
  DataTable t = Read(
      "\xEF\xBB\xBFid,score,flag,when,name\n"
      "1,2.5,true,2020-01-31,alice\n"
      "2,3,False,2020-02-01 10:30:00,bob\n"
      "3,-1e3,TRUE,2020-02-02T08:00:00.250Z,carol\n");
  ASSERT_EQ(t.columns.size(), 5u);
  EXPECT_EQ(t.columns[0].name, "id");  // the BOM is skipped
  EXPECT_EQ(t.columns[0].type, ColumnType::kInt);
  EXPECT_EQ(t.columns[1].type, ColumnType::kFloat);
  EXPECT_EQ(t.columns[2].type, ColumnType::kBool);
  EXPECT_EQ(t.columns[3].type, ColumnType::kDatetime);
  EXPECT_EQ(t.columns[4].type, ColumnType::kString);
  EXPECT_EQ(std::get<double>(t.columns[1].values[1]), 3.0);  // an int in a float column
  EXPECT_EQ(std::get<std::string>(t.columns[3].values[0]), "2020-01-31T00:00:00");
  EXPECT_EQ(std::get<std::string>(t.columns[3].values[2]), "2020-02-02T08:00:00.250");
  EXPECT_EQ(t.num_rows, 3u);
}

TEST(CsvReaderTest, MissingValuesDoNotChangeTheType) {
  DataTable t = Read("a,b,c\n1,,x\nNA,2.5,\n3,NaN,null\n,4,y\n");
  EXPECT_EQ(t.columns[0].type, ColumnType::kInt);
  EXPECT_EQ(t.columns[1].type, ColumnType::kFloat);
  EXPECT_EQ(t.columns[2].type, ColumnType::kString);
  EXPECT_EQ(t.columns[0].MissingCount(), 2u);
  EXPECT_TRUE(t.columns[1].IsMissing(0));
  EXPECT_TRUE(std::isnan(t.columns[1].AsDouble(2)));
  EXPECT_EQ(t.columns[0].AsDouble(2), 3.0);
}

TEST(CsvReaderTest, MixedValuesFallBackToString) {
  DataTable t = Read("v\n1\nabc\n2020-01-01\n");
  EXPECT_EQ(t.columns[0].type, ColumnType::kString);
  EXPECT_EQ(std::get<std::string>(t.columns[0].values[0]), "1");
}

TEST(CsvReaderTest, NoHeaderNamesColumnsAndOtherSeparators) {
  DelimitedOptions o;
  o.header = false;
  o.separator = ';';
  DataTable t = Read("1;a\n2;b\n", o);
  EXPECT_EQ(t.columns[0].name, "Column1");
  EXPECT_EQ(t.columns[1].name, "Column2");
  EXPECT_EQ(t.num_rows, 2u);
}

TEST(CsvReaderTest, InferenceOffKeepsStrings) {
  DelimitedOptions o;
  o.infer_column_types = false;
  DataTable t = Read("a\n1\n2\n", o);
  EXPECT_EQ(t.columns[0].type, ColumnType::kString);
}

TEST(CsvReaderTest, ErrorsNameTheLine) {
  DelimitedOptions o;
  o.source_name = "train.csv";
  try {
    Read("a,b\n1,2\n1,2,3\n", o);
    FAIL() << "expected InvalidInput";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("train.csv, line 3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Read("a\n\"never closed\n", o), InvalidInput);
}

TEST(CsvReaderTest, ColumnTransformsAndAppend) {
  DataTable t = Read("a,b,c\n1,2,3\n4,5,6\n");
  DataTable u = Read("a,b,d\n7.5,x,9\n");
  t.Append(std::move(u));
  EXPECT_EQ(t.num_rows, 3u);
  EXPECT_EQ(t.columns[t.ColumnIndex("a")].type, ColumnType::kFloat);
  EXPECT_EQ(t.columns[t.ColumnIndex("b")].type, ColumnType::kString);
  EXPECT_TRUE(t.columns[t.ColumnIndex("d")].IsMissing(0));
  t.KeepColumns({"b", "a"});
  ASSERT_EQ(t.columns.size(), 2u);
  EXPECT_EQ(t.columns[0].name, "b");
  t.DropColumns({"b"});
  EXPECT_EQ(t.columns.size(), 1u);
  t.Take(1);
  EXPECT_EQ(t.num_rows, 1u);
  EXPECT_THROW(t.KeepColumns({"nope"}), InvalidInput);
}

TEST(CsvReaderTest, DatetimeParsing) {
  EXPECT_EQ(*ParseDatetime("2021/03/04"), "2021-03-04T00:00:00");
  EXPECT_EQ(*ParseDatetime("2021-03-04 05:06"), "2021-03-04T05:06:00");
  EXPECT_EQ(*ParseDatetime("2021-03-04T05:06:07+02:00"), "2021-03-04T05:06:07");
  EXPECT_FALSE(ParseDatetime("2021-13-04"));
  EXPECT_FALSE(ParseDatetime("04/03/2021"));
  EXPECT_FALSE(ParseDatetime("2021-03-04 25:00"));
}

}  // namespace
}  // namespace trainyard
