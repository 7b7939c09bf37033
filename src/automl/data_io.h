// The dataset handover format: how a data script (get_data.py, run with the run's Python)
// hands X and y to the engine. Little-endian, written with Python's struct module or numpy:
//
//   "TYDS"  u32 version=1  u64 rows  u64 cols
//   u32 n_names (0 or cols), then per name: u32 byte length + UTF-8 bytes
//   f64[rows*cols]  X, row-major, NaN = missing
//   u8 y_kind: 0 none | 1 numeric (f64[rows]) | 2 labels
//     labels: u32 n_labels, per label u32 length + UTF-8 bytes; then u32[rows] label indices
//
// python/trainyard/_automl/handover.py writes and reads it (standard library only).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "automl/matrix.h"

namespace trainyard::automl {

// What a handover file holds before the task decides how y is encoded.
struct RawDataset {
  Matrix X;
  std::vector<std::string> feature_names;
  enum class YKind { kNone = 0, kNumeric = 1, kLabels = 2 } y_kind = YKind::kNone;
  std::vector<double> y_numeric;
  std::vector<std::string> y_labels;  // kLabels: one label per row
};

// Parses the format above; throws InvalidInput on a bad magic, version, size or truncation.
RawDataset ParseHandover(std::string_view bytes);
RawDataset ReadHandover(const std::filesystem::path& path);
std::string SerializeHandover(const RawDataset& ds);

// Builds the target for `task` from the raw y (classification: numeric or string labels,
// regression: numeric only). Throws InvalidInput when y is missing or does not fit the task.
Target MakeTarget(const RawDataset& ds, Task task);

}  // namespace trainyard::automl
