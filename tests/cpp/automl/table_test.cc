// Tables in the AutoML engine: CSV reading with labels, the TableFeaturizer ('auto' / 'off'),
// model file v2 (and v1 still loading), prediction and explanations on raw tables.
#include "automl/table.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>

#include "automl/bytes.h"
#include "automl/explain.h"
#include "automl/pipeline.h"
#include "common/error.h"

namespace trainyard::automl {
namespace {

uint32_t Fnv32(const std::string& s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

size_t Index(const std::vector<std::string>& names, const std::string& name) {
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return i;
  ADD_FAILURE() << "no feature " << name;
  return 0;
}

std::string ThrownMessage(const std::function<void()>& f) {
  try {
    f();
  } catch (const InvalidInput& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InvalidInput thrown";
  return "";
}

// 80 rows: numeric x (missing every 10th row), categorical color (3 values, missing every
// 7th), city (40 values, 2 rows each: hashed), a string ID, a sequential int ID, a constant,
// a non-consecutive unique int (a real feature), and a label that depends on x and color.
std::string MixedCsv() {
  const char* colors[] = {"red", "green", "blue"};
  std::string csv = "x,color,city,uid,row,const,score,label\n";
  for (int i = 0; i < 80; ++i) {
    std::string x = i % 10 == 3 ? "" : std::to_string(i % 17) + ".5";
    std::string color = i % 7 == 2 ? "" : colors[i % 3];
    double xv = (i % 17) + 0.5;
    bool pos = (i % 3 == 0) != (xv > 8);
    csv += x + "," + color + ",city" + std::to_string(i / 2) + ",u" + std::to_string(1000 + i) +
           "," + std::to_string(i + 1) + ",k," + std::to_string(i * 7 % 83) + "," +
           (pos ? "yes" : "no") + "\n";
  }
  return csv;
}

TEST(TableCsv, ReadsFeaturesAndLabels) {
  LabeledTable t = ReadCsvTable(MixedCsv(), "mixed.csv", "label", "classification");
  EXPECT_EQ(t.features.num_rows, 80u);
  EXPECT_EQ(t.features.columns.size(), 7u);
  EXPECT_EQ(t.features.ColumnIndex("label"), -1);
  EXPECT_EQ(t.target.class_names, (std::vector<std::string>{"no", "yes"}));
  EXPECT_EQ(t.features.columns[0].type, ColumnType::kFloat);
  EXPECT_EQ(t.features.columns[1].type, ColumnType::kString);
  LabeledTable r = ReadCsvTable("a,b\n1,2.5\n2,3.5\n", "r.csv", "b", "");
  EXPECT_EQ(r.target.task, Task::kRegression);
  EXPECT_EQ(r.target.y, (std::vector<double>{2.5, 3.5}));
}

TEST(TableCsv, BadInputIsRefusedWithClearMessages) {
  EXPECT_NE(ThrownMessage([] { ReadCsvTable("", "e.csv", "y", ""); }).find("e.csv is empty"),
            std::string::npos);
  EXPECT_NE(ThrownMessage([] { ReadCsvTable("a,y\n", "h.csv", "y", ""); }).find("no data rows"),
            std::string::npos);
  std::string m = ThrownMessage([] { ReadCsvTable("a,b\n1,2\n", "l.csv", "target", ""); });
  EXPECT_NE(m.find("label column 'target' is not in the CSV l.csv"), std::string::npos) << m;
  EXPECT_NE(m.find("its columns are: a, b"), std::string::npos) << m;
  m = ThrownMessage([] { ReadCsvTable("a,y\n1,2\n2,\n3,NaN\n", "n.csv", "y", "regression"); });
  EXPECT_NE(m.find("2 label(s) in column 'y'"), std::string::npos) << m;
  EXPECT_NE(m.find("first in data row 2"), std::string::npos) << m;
  m = ThrownMessage([] { ReadCsvTable("a,y\n1,x\n2,x\n", "o.csv", "y", "classification"); });
  EXPECT_NE(m.find("at least two"), std::string::npos) << m;
  m = ThrownMessage([] { ReadCsvTable("a,y\n1,x\n2,z\n", "t.csv", "y", "regression"); });
  EXPECT_NE(m.find("regression needs a numeric label column"), std::string::npos) << m;
}

TEST(TableFeaturizer, OneHotsImputesHashesAndDrops) {
  LabeledTable t = ReadCsvTable(MixedCsv(), "mixed.csv", "label", "classification");
  TableFeaturizer f;
  f.Fit(t.features, Featurizer::Mode::kAuto);
  using H = TableFeaturizer::Handling;
  const auto& raw = f.raw_columns();
  ASSERT_EQ(raw.size(), 7u);
  EXPECT_EQ(raw[0].handling, H::kNumeric);
  EXPECT_TRUE(raw[0].missing_indicator);
  EXPECT_EQ(raw[1].handling, H::kOneHot);
  EXPECT_EQ(raw[2].handling, H::kHashCount);  // 40 distinct of 80: not ID-like
  EXPECT_EQ(raw[3].handling, H::kDropId);     // u1000..u1079: every value distinct
  EXPECT_EQ(raw[4].handling, H::kDropId);     // 1..80: a row number
  EXPECT_EQ(raw[5].handling, H::kDropConstant);
  EXPECT_EQ(raw[6].handling, H::kNumeric);  // unique ints, not consecutive: a feature
  const auto& names = f.output_names();
  EXPECT_EQ(names[0], "x");
  EXPECT_EQ(names[1], "x_missing");
  EXPECT_EQ(names[2], "color_blue");
  EXPECT_EQ(names[3], "color_green");
  EXPECT_EQ(names[4], "color_red");
  EXPECT_EQ(names[5], "city_hash0");
  EXPECT_EQ(names[5 + kHashBuckets], "city_count");
  EXPECT_EQ(names.size(), 2 + 3 + kHashBuckets + 1 + 1);
  EXPECT_EQ(names.back(), "score");
  EXPECT_EQ(f.output_source()[5], 2u);
  EXPECT_EQ(f.output_source().back(), 6u);

  // Most frequent color: rows i%3 over the non-missing rows; red (i%3==0) is 24 of 80 rows
  // minus the missing ones. Count it from the data and check the imputation.
  size_t counts[3] = {0, 0, 0};
  for (int i = 0; i < 80; ++i)
    if (i % 7 != 2) ++counts[i % 3];
  const char* colors[] = {"red", "green", "blue"};
  size_t best = 0;
  for (size_t c = 1; c < 3; ++c)
    if (counts[c] > counts[best] ||
        (counts[c] == counts[best] && std::string(colors[c]) < std::string(colors[best])))
      best = c;
  EXPECT_EQ(raw[1].fill, colors[best]);

  Matrix Z = f.Transform(t.features);
  ASSERT_EQ(Z.cols, names.size());
  for (size_t i = 0; i < 80; ++i) {
    if (i % 10 == 3) {
      EXPECT_TRUE(std::isnan(Z.At(i, 0)));
      EXPECT_EQ(Z.At(i, 1), 1.0);
    } else {
      EXPECT_EQ(Z.At(i, 0), static_cast<double>(i % 17) + 0.5);
      EXPECT_EQ(Z.At(i, 1), 0.0);
    }
    std::string color = i % 7 == 2 ? colors[best] : colors[i % 3];
    EXPECT_EQ(Z.At(i, Index(names, "color_" + color)), 1.0);
    EXPECT_EQ(Z.At(i, 2) + Z.At(i, 3) + Z.At(i, 4), 1.0);
    std::string city = "city" + std::to_string(i / 2);
    double hashed = 0;
    for (size_t b = 0; b < kHashBuckets; ++b) hashed += Z.At(i, 5 + b);
    EXPECT_EQ(hashed, 1.0);
    EXPECT_EQ(Z.At(i, 5 + Fnv32(city) % kHashBuckets), 1.0) << city;
    EXPECT_EQ(Z.At(i, 5 + kHashBuckets), 2.0 / 80) << city;  // each city is in 2 of 80 rows
  }

  // Unseen values: a one-hot category -> all zeros, a hashed one -> its bucket (count 0).
  DataTable u = ReadCsvForFeaturizer("x,color,city,score\n2,purple,atlantis,5\n", "u.csv", f);
  Matrix U = f.Transform(u);
  EXPECT_EQ(U.At(0, 2) + U.At(0, 3) + U.At(0, 4), 0.0);
  EXPECT_EQ(U.At(0, 5 + Fnv32("atlantis") % kHashBuckets), 1.0);
  EXPECT_EQ(U.At(0, 5 + kHashBuckets), 0.0);  // an unseen value's count share
  EXPECT_EQ(U.At(0, 0), 2.0);
  EXPECT_EQ(U.At(0, 1), 0.0);
}

TEST(TableFeaturizer, PipelineMeanImputesAndDropsConstantParts) {
  LabeledTable t = ReadCsvTable(MixedCsv(), "mixed.csv", "label", "classification");
  PipelineSpec spec;
  spec.learner = "DecisionTree";
  FitContext ctx;
  auto p = Pipeline::Fit(spec, t.features, t.target, ctx);
  ASSERT_NE(p->table_featurizer(), nullptr);
  double sum = 0;
  size_t n = 0;
  for (int i = 0; i < 80; ++i) {
    if (i % 10 == 3) continue;
    sum += (i % 17) + 0.5;
    ++n;
  }
  EXPECT_DOUBLE_EQ(p->featurizer().fill_values()[0], sum / static_cast<double>(n));
  // A missing x is imputed with the training mean in what the learner sees.
  DataTable row =
      ReadCsvForFeaturizer("x,color,city,score\n,red,city1,3\n", "r.csv", *p->table_featurizer());
  Matrix Z = p->Transform(p->FeaturizeTable(row));
  EXPECT_DOUBLE_EQ(Z.At(0, 0), sum / static_cast<double>(n));
}

TEST(TableFeaturizer, DatetimesBecomeParts) {
  DataTable t = ReadDelimited("when,v\n2020-01-05,1\n2021-03-08 10:30,2\n,3\n", {});
  TableFeaturizer f;
  f.Fit(t, Featurizer::Mode::kAuto);
  ASSERT_EQ(f.output_names()[0], "when_year");
  Matrix Z = f.Transform(t);
  // 2020-01-05 was a Sunday (6), 2021-03-08 a Monday (0).
  EXPECT_EQ(Z.At(0, 0), 2020);
  EXPECT_EQ(Z.At(0, 1), 1);
  EXPECT_EQ(Z.At(0, 2), 5);
  EXPECT_EQ(Z.At(0, 3), 6);
  EXPECT_EQ(Z.At(0, 4), 0);
  EXPECT_EQ(Z.At(1, 3), 0);
  EXPECT_EQ(Z.At(1, 4), 10);
  EXPECT_TRUE(std::isnan(Z.At(2, 0)));
}

TEST(TableFeaturizer, OffTakesNumbersOnlyAndNamesTheTextColumn) {
  LabeledTable t = ReadCsvTable("a,city,y\n1,x,1\n2,z,0\n", "o.csv", "y", "classification");
  TableFeaturizer f;
  std::string m = ThrownMessage([&] { f.Fit(t.features, Featurizer::Mode::kOff); });
  EXPECT_NE(m.find("column 'city'"), std::string::npos) << m;
  EXPECT_NE(m.find("featurization='auto'"), std::string::npos) << m;
  t.features.DropColumns({"city"});
  f.Fit(t.features, Featurizer::Mode::kOff);
  EXPECT_EQ(f.output_names(), (std::vector<std::string>{"a"}));
}

TEST(TableFeaturizer, AllColumnsDroppedIsAnError) {
  LabeledTable t = ReadCsvTable("a,b,y\n1,k,1\n1,k,0\n", "c.csv", "y", "classification");
  TableFeaturizer f;
  std::string m = ThrownMessage([&] { f.Fit(t.features, Featurizer::Mode::kAuto); });
  EXPECT_NE(m.find("every feature column is constant"), std::string::npos) << m;
}

std::unique_ptr<Pipeline> FitMixed(const LabeledTable& t) {
  PipelineSpec spec;
  spec.learner = "RandomForest";
  spec.params.num["n_estimators"] = 10;
  spec.scaler = Scaler::Kind::kStandard;
  FitContext ctx;
  return Pipeline::Fit(spec, t.features, t.target, ctx);
}

TEST(TableModel, FileV2RoundTripPredictsRawTables) {
  LabeledTable t = ReadCsvTable(MixedCsv(), "mixed.csv", "label", "classification");
  auto p = FitMixed(t);
  std::string bytes = p->Serialize();
  uint32_t version;
  std::memcpy(&version, bytes.data() + 8, 4);
  EXPECT_EQ(version, 2u);
  std::string header = Pipeline::ReadHeader(bytes);
  EXPECT_NE(header.find("\"raw_columns\""), std::string::npos);
  EXPECT_NE(header.find("\"dropped_id\""), std::string::npos);
  auto q = Pipeline::Deserialize(bytes);
  ASSERT_NE(q->table_featurizer(), nullptr);
  EXPECT_EQ(q->feature_names(), p->feature_names());
  Matrix a = p->PredictRaw(p->FeaturizeTable(t.features));
  Matrix b = q->PredictRaw(q->FeaturizeTable(t.features));
  EXPECT_EQ(a.data, b.data);
  EXPECT_EQ(q->Serialize(), bytes);
}

TEST(TableModel, PredictMatchesColumnsByNameIgnoresExtrasAndNamesMissingOnes) {
  LabeledTable t = ReadCsvTable(MixedCsv(), "mixed.csv", "label", "classification");
  auto p = FitMixed(t);
  Matrix ref = p->PredictRaw(p->FeaturizeTable(t.features));
  // Reordered columns plus an extra one, and without the dropped ID/constant columns.
  DataTable r;
  r.num_rows = t.features.num_rows;
  for (const char* name : {"score", "extra", "city", "x", "color"}) {
    int idx = t.features.ColumnIndex(name);
    DataColumn c;
    if (idx < 0) {
      c.name = name;
      c.values.assign(r.num_rows, CellValue(std::string("zzz")));
    } else {
      c = t.features.columns[static_cast<size_t>(idx)];
    }
    r.columns.push_back(std::move(c));
  }
  EXPECT_EQ(p->PredictRaw(p->FeaturizeTable(r)).data, ref.data);
  r.columns.erase(r.columns.begin() + 2);  // city
  std::string m = ThrownMessage([&] { p->FeaturizeTable(r); });
  EXPECT_NE(m.find("column 'city'"), std::string::npos) << m;
  EXPECT_NE(m.find("is missing"), std::string::npos) << m;
}

// A version-1 file is a version-2 file of a matrix model without the has_table byte.
TEST(TableModel, VersionOneFilesStillLoad) {
  Matrix X(40, 2);
  Target y;
  y.task = Task::kRegression;
  for (size_t i = 0; i < 40; ++i) {
    X.At(i, 0) = static_cast<double>(i);
    X.At(i, 1) = static_cast<double>(i % 5);
    y.y.push_back(2.0 * static_cast<double>(i) - static_cast<double>(i % 5));
  }
  PipelineSpec spec;
  spec.learner = "ElasticNet";
  FitContext ctx;
  auto p = Pipeline::Fit(spec, X, y, ctx, {"a", "b"});
  std::string v2 = p->Serialize();
  ByteReader r(v2, "test");
  r.Take(12);
  r.Str();  // header
  r.U8();
  r.U8();
  r.Strings();
  r.Strings();
  const size_t flag_at = v2.size() - r.remaining();
  ASSERT_EQ(v2[flag_at], 0);
  std::string v1 = v2.substr(0, flag_at) + v2.substr(flag_at + 1, v2.size() - flag_at - 1 - 8);
  uint32_t one = 1;
  std::memcpy(v1.data() + 8, &one, 4);
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : v1) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  v1.append(reinterpret_cast<const char*>(&h), 8);
  auto q = Pipeline::Deserialize(v1);
  EXPECT_EQ(q->table_featurizer(), nullptr);
  EXPECT_EQ(q->PredictRaw(X).data, p->PredictRaw(X).data);
  EXPECT_EQ(q->Serialize(), v2);  // re-saved as version 2
}

TEST(TableModel, ExplanationsSumToRawColumnsAndStayAdditive) {
  LabeledTable t = ReadCsvTable(MixedCsv(), "mixed.csv", "label", "classification");
  auto p = FitMixed(t);
  ExplainOptions opt;
  Explanation eng = Explain(*p, p->FeaturizeTable(t.features), nullptr, opt);
  Explanation e = ExplainTable(*p, t.features, nullptr, opt);
  EXPECT_EQ(e.method, "tree");
  const auto& src = p->table_featurizer()->output_source();
  ASSERT_EQ(e.values.size(), 2u);
  for (size_t k = 0; k < e.values.size(); ++k) {
    ASSERT_EQ(e.values[k].cols, 7u);
    EXPECT_EQ(e.expected_values[k], eng.expected_values[k]);
    for (size_t i = 0; i < t.features.num_rows; ++i) {
      double total = e.expected_values[k];
      for (size_t j = 0; j < 7; ++j) total += e.values[k].At(i, j);
      EXPECT_NEAR(total, e.model_output[k][i], 1e-9);
      double city = 0;
      for (size_t j = 0; j < src.size(); ++j)
        if (src[j] == 2) city += eng.values[k].At(i, j);
      EXPECT_NEAR(e.values[k].At(i, 2), city, 1e-12);
      EXPECT_EQ(e.values[k].At(i, 3), 0.0);  // dropped ID column
      EXPECT_EQ(e.values[k].At(i, 5), 0.0);  // dropped constant column
    }
  }
}

}  // namespace
}  // namespace trainyard::automl
