#include "automl/search.h"

#include <gtest/gtest.h>

#include <map>

#include "automl/registry.h"
#include "common/error.h"

namespace trainyard::automl {
namespace {

// A made-up landscape: RandomForest improves with more trees (up to 0.99), KNN is flat at
// 0.95, NaiveBayes flat at 0.80; costs grow with n_estimators.
double FakeScore(const PipelineSpec& s) {
  if (s.learner == "RandomForest") {
    double trees = s.params.Num("n_estimators", 100);
    return 0.90 + 0.09 * std::min(1.0, trees / 200.0);
  }
  return s.learner == "KNN" ? 0.95 : 0.80;
}

double FakeSeconds(const PipelineSpec& s) {
  return s.learner == "RandomForest" ? 0.01 * s.params.Num("n_estimators", 100) : 0.05;
}

TEST(Search, StartsCheapThenSpendsWhereImprovementIs) {
  SearchSpace space;
  space.task = Task::kClassification;
  space.metric = "AUC_weighted";
  space.allowed = {"RandomForest", "KNN", "NaiveBayes"};
  space.seed = 3;
  SearchStrategy s(space);
  std::map<std::string, int> count;
  std::vector<std::string> first;
  for (int i = 0; i < 60; ++i) {
    Trial t = s.Next();
    if (i < 3) first.push_back(t.spec.learner);
    if (t.spec.learner == "RandomForest" && i < 3) {
      EXPECT_EQ(t.spec.params.Num("n_estimators", 0), 10);  // cheapest configuration first
    }
    ++count[t.spec.learner];
    s.Report({t.id, FakeScore(t.spec), FakeSeconds(t.spec), false});
  }
  EXPECT_EQ(first, (std::vector<std::string>{"NaiveBayes", "KNN", "RandomForest"}));
  EXPECT_GT(count["RandomForest"], count["NaiveBayes"]);
  EXPECT_GT(s.best_score(), 0.96);  // it grew the forest past KNN's 0.95
}

TEST(Search, IsDeterministicForASeedAndValidates) {
  SearchSpace space;
  space.metric = "accuracy";
  space.seed = 9;
  SearchStrategy a(space), b(space);
  for (int i = 0; i < 25; ++i) {
    Trial ta = a.Next(), tb = b.Next();
    ASSERT_EQ(ta.label, tb.label);
    a.Report({ta.id, FakeScore(ta.spec), FakeSeconds(ta.spec), i % 7 == 3});
    b.Report({tb.id, FakeScore(tb.spec), FakeSeconds(tb.spec), i % 7 == 3});
  }
  space.metric = "r2_score";
  EXPECT_THROW(SearchStrategy{space}, InvalidInput);
  space.metric = "accuracy";
  space.allowed = {"KNN"};
  space.blocked = {"KNN"};
  EXPECT_THROW(SearchStrategy{space}, InvalidInput);
  space.blocked = {"ElasticNet"};  // a regression model: not valid here
  EXPECT_THROW(SearchStrategy{space}, InvalidInput);
  SearchStrategy ok([] {
    SearchSpace sp;
    sp.allowed = {"KNN"};
    return sp;
  }());
  EXPECT_THROW(ok.Report({42, 0.5, 1, false}), InvalidInput);
}

TEST(Search, EveryProposalIsAValidPipeline) {
  for (Task task : {Task::kClassification, Task::kRegression}) {
    SearchSpace space;
    space.task = task;
    space.metric = task == Task::kClassification ? "accuracy" : "r2_score";
    space.seed = 1;
    SearchStrategy s(space);
    for (int i = 0; i < 80; ++i) {
      Trial t = s.Next();
      EXPECT_NO_THROW(CreateLearner(t.spec.learner, task, t.spec.params)) << t.label;
      s.Report({t.id, 0.5 + 0.001 * i, 0.01, false});
    }
  }
}

}  // namespace
}  // namespace trainyard::automl
