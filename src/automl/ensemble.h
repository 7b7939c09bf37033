// Ensembles as AutoML's final iterations (Azure's VotingEnsemble and StackEnsemble).
//
// Both work from the iterations' validation predictions (Evaluation::predictions/rows of
// EvaluatePipeline), so no base model is trained again to choose or weigh them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "automl/pipeline.h"

namespace trainyard::automl {

// Caruana et al. (2004) ensemble selection with replacement: start empty, `iterations` times
// add the candidate whose inclusion gives the best `metric` of the averaged predictions; the
// weights are the selection counts divided by `iterations`. `predictions[m]` are candidate m's
// predictions for the same validation rows (rows x outputs; probabilities for
// classification). Ties go to the earlier candidate. Returns one weight per candidate.
std::vector<double> CaruanaWeights(const std::vector<Matrix>& predictions, const Target& y_valid,
                                   const std::string& metric, size_t iterations = 15,
                                   double y_range = 0.0);

// Weighted soft voting over fitted members (zero-weight members are dropped).
std::unique_ptr<Pipeline> MakeVotingEnsemble(std::vector<std::unique_ptr<Pipeline>> members,
                                             const std::vector<double>& weights);

// Stacking: a meta learner (multinomial LogisticRegression for classification, ElasticNet
// with a light penalty for regression) fitted on the members' out-of-fold outputs
// (`oof[m]`: member m's predictions for every training row, rows in training order), then
// applied to the fitted members' outputs at prediction time.
std::unique_ptr<Pipeline> MakeStackEnsemble(std::vector<std::unique_ptr<Pipeline>> members,
                                            const std::vector<Matrix>& oof, const Target& y,
                                            const FitContext& ctx);

// One metric of predictions `raw` against `y` (higher or lower is better per HigherIsBetter).
double ScoreMetric(const std::string& metric, const Target& y, const Matrix& raw,
                   double y_range = 0.0);

// Reorders out-of-fold predictions (Evaluation::predictions in Evaluation::rows order) into
// training-row order; every row must appear exactly once (cross-validation).
Matrix OutOfFoldInRowOrder(const Evaluation& ev, size_t n_rows);

}  // namespace trainyard::automl
