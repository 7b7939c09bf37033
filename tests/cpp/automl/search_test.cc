#include "automl/search.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <thread>

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
  std::map<std::string, double> seconds;
  std::vector<std::string> first;
  for (int i = 0; i < 60; ++i) {
    Trial t = *s.Next();
    if (i < 3) first.push_back(t.spec.learner);
    if (t.spec.learner == "RandomForest" && i < 3) {
      EXPECT_EQ(t.spec.params.Num("n_estimators", 0), 10);  // cheapest configuration first
    }
    seconds[t.spec.learner] += FakeSeconds(t.spec);
    s.Report({t.id, FakeScore(t.spec), FakeSeconds(t.spec), false});
  }
  // First round: strong cheap learners first (SearchProfile::first_round), not cheapest first.
  EXPECT_EQ(first, (std::vector<std::string>{"KNN", "RandomForest", "NaiveBayes"}));
  EXPECT_EQ(s.learners(), first);
  // Time goes where improvement is (cheap flat NaiveBayes may get many short trials).
  EXPECT_GT(seconds["RandomForest"], 10 * seconds["NaiveBayes"]);
  EXPECT_GT(s.best_score(), 0.96);  // it grew the forest past KNN's 0.95
}

TEST(Search, IsDeterministicForASeedAndValidates) {
  SearchSpace space;
  space.metric = "accuracy";
  space.seed = 9;
  SearchStrategy a(space), b(space);
  for (int i = 0; i < 25; ++i) {
    Trial ta = *a.Next(), tb = *b.Next();
    ASSERT_EQ(ta.label, tb.label);
    ASSERT_EQ(ta.spec.params.num, tb.spec.params.num);
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
      Trial t = *s.Next();
      EXPECT_NO_THROW(CreateLearner(t.spec.learner, task, t.spec.params)) << t.label;
      s.Report({t.id, 0.5 + 0.001 * i, 0.01, false});
    }
  }
}

TEST(Search, ProfilesAreValidSpacesOfTheLearners) {
  for (Task task : {Task::kClassification, Task::kRegression}) {
    for (const auto& name : LearnerNames(task)) {
      SearchProfile p = SearchProfileOf(name, task);
      EXPECT_FALSE(p.space.empty()) << name;
      auto params = FindLearner(name, task).params();
      for (const ParamSpec& d : p.space) {
        EXPECT_TRUE(std::any_of(params.begin(), params.end(),
                                [&](const ParamSpec& q) { return q.name == d.name; }))
            << name << " has no hyperparameter " << d.name;
        if (d.type == ParamSpec::Type::kChoice) {
          EXPECT_NE(std::find(d.choices.begin(), d.choices.end(), d.default_str), d.choices.end());
        } else {
          EXPECT_LE(d.low, d.default_num) << name << "." << d.name;
          EXPECT_GE(d.high, d.default_num) << name << "." << d.name;
        }
      }
    }
  }
  EXPECT_THROW(SearchProfileOf("ElasticNet", Task::kClassification), InvalidInput);
}

TEST(Search, EveryLearnerFirstAtItsInitialPointThenAroundTheBest) {
  // KNN peaks at 12 neighbors; the initial point is 5.
  SearchSpace space;
  space.allowed = {"DecisionTree", "KNN", "LogisticRegression"};
  space.seed = 5;
  SearchStrategy s(space);
  std::vector<Trial> first;
  for (int i = 0; i < 3; ++i) first.push_back(*s.Next());
  EXPECT_EQ(first[0].spec.learner, "LogisticRegression");
  EXPECT_EQ(first[1].spec.learner, "KNN");
  EXPECT_EQ(first[2].spec.learner, "DecisionTree");
  EXPECT_EQ(first[1].spec.params.Num("n_neighbors", 0), 5);
  EXPECT_EQ(first[1].spec.scaler, Scaler::Kind::kStandard);
  EXPECT_EQ(first[2].spec.scaler, Scaler::Kind::kMaxAbs);  // not scale-sensitive: fixed
  EXPECT_EQ(first[1].label, "Standardize kNN");
  auto knn = [](const PipelineSpec& p) {
    return 0.95 - 0.002 * std::fabs(p.params.Num("n_neighbors", 5) - 12);
  };
  auto score = [&](const PipelineSpec& p) {
    return p.learner == "KNN" ? knn(p) : p.learner == "DecisionTree" ? 0.7 : 0.8;
  };
  for (const Trial& t : first) s.Report({t.id, score(t.spec), 0.1, false});
  size_t knn_trials = 0;
  double best_k = 5;
  for (int i = 0; i < 60; ++i) {
    Trial t = *s.Next();
    const double v = score(t.spec);
    if (t.spec.learner == "KNN") {
      ++knn_trials;
      if (v >= s.best_score()) best_k = t.spec.params.Num("n_neighbors", 0);
    }
    s.Report({t.id, v, 0.1, false});
  }
  EXPECT_GT(knn_trials, 30u);  // the leader gets most of the trials
  EXPECT_NEAR(best_k, 12, 3);  // and moved from 5 towards its optimum
  EXPECT_GT(s.best_score(), knn(first[1].spec));
}

TEST(Search, OutOfOrderAndFailedReports) {
  SearchSpace space;
  space.allowed = {"KNN", "NaiveBayes", "DecisionTree", "SGD"};
  space.seed = 11;
  SearchStrategy s(space);
  // Four trials in flight before any result (max_concurrent_iterations = 4).
  std::vector<Trial> flight;
  for (int i = 0; i < 4; ++i) flight.push_back(*s.Next());
  std::set<std::string> names;
  for (const auto& t : flight) names.insert(t.spec.learner);
  EXPECT_EQ(names.size(), 4u);  // the first round is not repeated while results are pending
  // More proposals with nothing reported: only learners already tried (nothing is known).
  Trial extra = *s.Next();
  EXPECT_TRUE(names.count(extra.spec.learner));
  flight.push_back(extra);
  s.Report({flight[3].id, 0.6, 0.2, false});
  s.Report({flight[0].id, NAN, 0.1, true});  // failed
  s.Report({flight[4].id, 0.0, 0.1, true});  // failed: its score is ignored
  s.Report({flight[2].id, 0.7, 0.2, false});
  s.Report({flight[1].id, 0.65, 0.2, false});
  EXPECT_DOUBLE_EQ(s.best_score(), 0.7);
  EXPECT_THROW(s.Report({flight[1].id, 0.9, 0.2, false}), InvalidInput);  // twice
  EXPECT_THROW(s.Report({999, 0.9, 0.2, false}), InvalidInput);           // never proposed
  // A learner whose every trial failed is rarely drawn afterwards.
  std::map<std::string, int> count;
  for (int i = 0; i < 60; ++i) {
    Trial t = *s.Next();
    ++count[t.spec.learner];
    const bool fail = t.spec.learner == flight[0].spec.learner;
    s.Report({t.id, fail ? NAN : 0.6, 0.2, fail});
  }
  EXPECT_LT(count[flight[0].spec.learner], 10);
}

TEST(Search, NeverProposesATrialExpectedToOutlastTheTimeLeft) {
  SearchSpace space;
  space.allowed = {"KNN", "RandomForest", "GradientBoosting"};
  space.seed = 2;
  SearchStrategy s(space);
  Trial t = *s.Next(0.01);  // nothing measured: the first trial always fits
  EXPECT_EQ(t.spec.learner, "KNN");
  EXPECT_EQ(t.expected_seconds, 0);
  s.Report({t.id, 0.9, 1.0, false});
  EXPECT_FALSE(s.Next(0.5).has_value());  // KNN took 1 s; the others are expected slower
  // A forest trial costs 0.1 s per tree; with 30 s left no proposal exceeds it.
  for (int i = 0; i < 40; ++i) {
    std::optional<Trial> n = s.Next(30.0);
    ASSERT_TRUE(n.has_value());
    EXPECT_LE(n->expected_seconds, 30.0) << n->label;
    double seconds = n->spec.learner == "KNN" ? 1.0 : 0.1 * n->spec.params.Num("n_estimators", 0);
    if (n->spec.learner == "RandomForest") {
      EXPECT_LE(seconds, 30.0 + 1e-9);
    }
    s.Report({n->id, n->spec.learner == "KNN" ? 0.9 : 0.92, seconds, false});
  }
}

TEST(Search, RegressionSgdSearchesNoClassificationLoss) {
  SearchSpace space;
  space.task = Task::kRegression;
  space.metric = "normalized_root_mean_squared_error";
  space.allowed = {"SGD", "ElasticNet"};
  SearchStrategy s(space);
  EXPECT_EQ(s.learners(), (std::vector<std::string>{"ElasticNet", "SGD"}));
  for (int i = 0; i < 20; ++i) {
    Trial t = *s.Next();
    if (t.spec.learner == "SGD") {
      EXPECT_EQ(t.spec.params.Str("loss", "squared_error"), "squared_error");
      EXPECT_NE(t.label.find("SGD regressor"), std::string::npos);
      EXPECT_NO_THROW(CreateLearner("SGD", Task::kRegression, t.spec.params));
    }
    s.Report({t.id, 0.3 - 0.001 * i, 0.05, false});
  }
  EXPECT_NEAR(s.best_score(), 0.3 - 0.019, 1e-12);  // lower is better
}

TEST(Search, SequentialRunRecordsFailedTrials) {
  SearchSpace space;
  space.allowed = {"KNN", "NaiveBayes"};
  SearchStrategy s(space);
  auto records = RunSequentialSearch(s, 5, 0, [](const PipelineSpec& p) {
    if (p.learner == "NaiveBayes") throw InvalidInput("made-up failure");
    return 0.5;
  });
  ASSERT_EQ(records.size(), 5u);
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].trial.id, i);
    EXPECT_EQ(records[i].result.failed, records[i].trial.spec.learner == "NaiveBayes");
  }
}

TEST(Search, RowsScaleTheFirstEstimateOfQuadraticLearners) {
  for (size_t rows : {size_t{0}, size_t{20000}}) {
    SearchSpace space;
    space.allowed = {"LogisticRegression", "SVM"};
    space.rows = rows;
    SearchStrategy s(space);
    Trial lr = *s.Next();
    ASSERT_EQ(lr.spec.learner, "LogisticRegression");
    s.Report({lr.id, 0.9, 1.2, false});
    // SVM: relative cost 10 (x 10 at 20,000 rows) per unit of 1 s / 1.2.
    std::optional<Trial> svm = s.Next(50.0);
    if (rows == 0) {
      ASSERT_TRUE(svm.has_value());
      EXPECT_EQ(svm->spec.learner, "SVM");
      EXPECT_NEAR(svm->expected_seconds, 10.0, 1e-9);
    } else {
      // 100 s expected: not in the first round with 50 s left; LogisticRegression instead.
      ASSERT_TRUE(svm.has_value());
      EXPECT_EQ(svm->spec.learner, "LogisticRegression");
    }
  }
}

TEST(Search, SequentialRunStopsTheRunningTrialWhenTheBudgetIsSpent) {
  SearchSpace space;
  space.allowed = {"KNN"};
  SearchStrategy s(space);
  std::atomic<bool> cancel{false};
  size_t calls = 0;
  auto records = RunSequentialSearch(
      s, 100, 0.2,
      [&](const PipelineSpec&) -> double {
        ++calls;
        // A trial that only ends when cancelled (or after a minute: then the test fails).
        for (int i = 0; i < 60000 && !cancel.load(); ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        if (cancel.load()) throw Cancelled();
        return 0.5;
      },
      &cancel);
  EXPECT_TRUE(cancel.load());
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(calls, 1u);
  EXPECT_TRUE(records[0].result.failed);
}

TEST(Search, ScalerProbesFollowWhatSuitsOtherLearners) {
  // Normalizer suits this data: KNN (cheap) finds it by probing; SVM then probes it first.
  SearchSpace space;
  space.allowed = {"KNN", "SVM"};
  space.seed = 4;
  SearchStrategy s(space);
  bool knn_found = false, svm_tried_normalizer = false, checked = false;
  for (int i = 0; i < 80 && !checked; ++i) {
    Trial t = *s.Next();
    const bool norm = t.spec.scaler == Scaler::Kind::kNormalizer;
    if (t.spec.learner == "SVM" && t.spec.scaler != Scaler::Kind::kStandard) {
      if (knn_found && !svm_tried_normalizer) {
        EXPECT_TRUE(norm) << t.label;  // the first SVM probe after KNN's finding
        checked = true;
      }
      svm_tried_normalizer = svm_tried_normalizer || norm;
    }
    double score = (t.spec.learner == "SVM" ? 0.8 : 0.7) + (norm ? 0.1 : 0.0);
    s.Report({t.id, score, t.spec.learner == "SVM" ? 1.0 : 0.05, false});
    if (t.spec.learner == "KNN" && norm) knn_found = true;
  }
  EXPECT_TRUE(checked);
}

TEST(Search, NoPipelineIsProposedTwice) {
  // Flat scores: every move fails, the step shrinks, moves clamp to the bounds of C and round
  // back to the best point; none of that may repeat a pipeline already evaluated.
  for (const char* learner : {"SVM", "KNN", "LinearSVM"}) {
    SearchSpace space;
    space.allowed = {learner};
    space.seed = 2;
    SearchStrategy s(space);
    std::set<std::string> seen;
    for (int i = 0; i < 40; ++i) {
      Trial t = *s.Next();
      std::string sig = t.label;
      for (const auto& [k, v] : t.spec.params.num) sig += ";" + k + "=" + std::to_string(v);
      for (const auto& [k, v] : t.spec.params.str) sig += ";" + k + "=" + v;
      EXPECT_TRUE(seen.insert(sig).second) << learner << " trial " << i << " repeats " << sig;
      s.Report({t.id, 0.9, 0.1, false});
    }
  }
}

TEST(Search, AWeakCheapLearnerGetsLittleOfTheTime) {
  // NaiveBayes is flat at 0.80 and 50 times cheaper than SVM, which leads at 0.95 and creeps
  // up with C. NaiveBayes's whole expected gain (a tenth of its distance to 1 per trial,
  // shrinking with every failure) cannot close the gap: most of the time goes to SVM.
  SearchSpace space;
  space.allowed = {"SVM", "NaiveBayes"};
  space.seed = 5;
  SearchStrategy s(space);
  std::map<std::string, double> seconds;
  double best_svm_c = 0;
  for (int i = 0; i < 40; ++i) {
    Trial t = *s.Next();
    const bool svm = t.spec.learner == "SVM";
    const double c = t.spec.params.Num("C", 1);
    const double score = svm ? 0.95 + 0.001 * std::log10(c + 1) : 0.80;
    seconds[t.spec.learner] += svm ? 1.0 : 0.02;
    if (svm) best_svm_c = std::max(best_svm_c, c);
    s.Report({t.id, score, svm ? 1.0 : 0.02, false});
  }
  EXPECT_LT(seconds["NaiveBayes"], 0.05 * seconds["SVM"]);
  EXPECT_GE(seconds["SVM"], 15.0);
  EXPECT_GT(best_svm_c, 100.0);  // SVM's search followed its improvement up in C
}

// Issue 18: on a large table the first trial is one depth-limited DecisionTree (cheap, robust);
// small tables keep the cheap strong learners first.
TEST(Search, LargeDataStartsWithACheapTree) {
  SearchSpace space;
  space.task = Task::kClassification;
  space.metric = "AUC_weighted";
  space.rows = 58000;
  space.cols = 54;
  SearchStrategy large(space);
  Trial t = *large.Next();
  EXPECT_EQ(t.spec.learner, "DecisionTree");
  EXPECT_EQ(t.spec.params.Num("max_depth", 0), 8);
  EXPECT_EQ(large.learners().front(), "DecisionTree");
  space.rows = 300;
  space.cols = 10;
  SearchStrategy small(space);
  EXPECT_EQ(small.Next()->spec.learner, "LogisticRegression");
  space.task = Task::kRegression;
  space.metric = "r2_score";
  space.rows = 100000;
  SearchStrategy regression(space);
  EXPECT_EQ(regression.Next()->spec.learner, "DecisionTree");
}

// A learner whose first trials all fail gets no more than kMaxFailuresWithoutResult: no storm
// of identical failures while the others work.
TEST(Search, ALearnerThatOnlyFailsIsDropped) {
  SearchSpace space;
  space.task = Task::kClassification;
  space.metric = "accuracy";
  space.allowed = {"KNN", "NaiveBayes"};
  space.seed = 1;
  SearchStrategy s(space);
  size_t knn = 0;
  for (int i = 0; i < 60; ++i) {
    std::optional<Trial> t = s.Next();
    ASSERT_TRUE(t.has_value());
    const bool fails = t->spec.learner == "KNN";
    knn += fails;
    s.Report({t->id, fails ? std::nan("") : 0.8, 0.001, fails});
  }
  EXPECT_EQ(knn, kMaxFailuresWithoutResult);
}

}  // namespace
}  // namespace trainyard::automl
