#include "automl/ensemble.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "synthetic.h"

namespace trainyard::automl {
namespace {

TEST(Caruana, PerfectCandidateTakesAllWeight) {
  Target y;
  y.task = Task::kClassification;
  y.class_names = {"a", "b"};
  y.y = {0, 1, 1, 0};
  Matrix perfect(4, 2), flat(4, 2, 0.5);
  for (size_t i = 0; i < 4; ++i) perfect.At(i, static_cast<size_t>(y.y[i])) = 1.0;
  auto w = CaruanaWeights({flat, perfect}, y, "log_loss", 4);
  EXPECT_EQ(w, (std::vector<double>{0.0, 1.0}));
  EXPECT_THROW(CaruanaWeights({flat, Matrix(3, 2)}, y, "accuracy"), InvalidInput);
  EXPECT_THROW(CaruanaWeights({flat}, y, "r2_score"), InvalidInput);
}

TEST(Ensembles, VotingAndStackRoundTrip) {
  Dataset d = testing::Blobs(180, 3, 3, 8);
  auto folds = KFoldSplits(d.target, 3, 2);
  std::vector<std::unique_ptr<Pipeline>> members, copies;
  std::vector<Matrix> oof;
  for (const char* learner : {"KNN", "DecisionTree", "NaiveBayes"}) {
    PipelineSpec spec;
    spec.learner = learner;
    spec.scaler = Scaler::Kind::kStandard;
    Evaluation ev = EvaluatePipeline(spec, d.X, d.target, folds, FitContext{});
    oof.push_back(OutOfFoldInRowOrder(ev, d.X.rows));
    members.push_back(Pipeline::Fit(spec, d.X, d.target, FitContext{}));
    copies.push_back(Pipeline::Deserialize(members.back()->Serialize()));
  }
  auto w = CaruanaWeights(oof, d.target, "AUC_weighted", 10);
  auto vote = MakeVotingEnsemble(std::move(members), w);
  auto back = Pipeline::Deserialize(vote->Serialize());
  EXPECT_EQ(back->Label(), "VotingEnsemble");
  EXPECT_EQ(back->PredictRaw(d.X).data, vote->PredictRaw(d.X).data);
  auto stack = MakeStackEnsemble(std::move(copies), oof, d.target, FitContext{});
  auto stack_back = Pipeline::Deserialize(stack->Serialize());
  EXPECT_EQ(stack_back->PredictRaw(d.X).data, stack->PredictRaw(d.X).data);
  EXPECT_GT(ClassificationScores(d.target.y, stack->PredictRaw(d.X))["accuracy"], 0.9);
  EXPECT_THROW(stack->learner(), InvalidInput);
}

}  // namespace
}  // namespace trainyard::automl
