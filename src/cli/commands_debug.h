// Hidden developer commands (not in the usage text): fast seeding of a workspace store for
// tests and benchmarks at realistic size.
#pragma once

#include <string>
#include <vector>

namespace trainyard::cli {

// trainyard debug-seed-runs --data DIR --experiment E --runs N [--first I] [--series-points P]
//   [--series K]
// Writes N runs (ids <E>_seed_<i>, i from I) straight through the metadata store in batches:
// properties lr / depth / algo, tags team / split, metrics acc and loss (one point each), status
// Completed (every 10th Failed), created = 1,700,000,000,000 + i ms. With --series-points, one
// more run <E>_series holds K series s0..s(K-1) of P points each (step i, value sin-like, with
// a spike: s0's maximum 1000 at step P/3 and minimum -1000 at step 2P/3). Prints a JSON summary.
int CmdDebugSeedRuns(const std::vector<std::string>& args);

}  // namespace trainyard::cli
