#include "automl/data_io.h"

#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "automl/bytes.h"
#include "common/error.h"

namespace trainyard::automl {

namespace {
constexpr char kMagic[4] = {'T', 'Y', 'D', 'S'};
constexpr uint32_t kVersion = 1;
// 2^40 doubles: a sanity bound that rejects corrupt headers before allocating.
constexpr uint64_t kMaxCells = uint64_t{1} << 40;

std::string ShortStr(ByteReader& r) {
  uint32_t n = r.U32();
  return std::string(r.Take(n), n);
}
void PutShortStr(ByteWriter& w, const std::string& s) {
  w.U32(static_cast<uint32_t>(s.size()));
  w.Raw(s.data(), s.size());
}
}  // namespace

RawDataset ParseHandover(std::string_view bytes) {
  ByteReader r(bytes, "dataset");
  if (bytes.size() < 4 || std::memcmp(r.Take(4), kMagic, 4) != 0) {
    throw InvalidInput("dataset: not a Trainyard handover file (magic 'TYDS' missing)");
  }
  uint32_t version = r.U32();
  if (version != kVersion) {
    throw InvalidInput("dataset: handover format version " + std::to_string(version) +
                       " is not supported (this engine reads version 1)");
  }
  RawDataset ds;
  uint64_t rows = r.U64(), cols = r.U64();
  if (cols != 0 && rows > kMaxCells / cols) r.Fail("the shape is too large");
  uint32_t n_names = r.U32();
  if (n_names != 0 && n_names != cols) {
    throw InvalidInput("dataset: " + std::to_string(n_names) + " feature names for " +
                       std::to_string(cols) + " columns");
  }
  for (uint32_t i = 0; i < n_names; ++i) ds.feature_names.push_back(ShortStr(r));
  if (rows * cols * 8 > r.remaining()) r.Fail("X is shorter than its shape");
  ds.X = Matrix(rows, cols);
  r.CopyOut(ds.X.data.data(), rows * cols * 8);
  uint8_t kind = r.U8();
  if (kind == 1) {
    ds.y_kind = RawDataset::YKind::kNumeric;
    if (rows * 8 > r.remaining()) r.Fail("y is shorter than X's rows");
    ds.y_numeric.resize(rows);
    r.CopyOut(ds.y_numeric.data(), rows * 8);
  } else if (kind == 2) {
    ds.y_kind = RawDataset::YKind::kLabels;
    uint32_t n_labels = r.U32();
    if (n_labels > r.remaining() / 4) r.Fail("the label count exceeds the data");
    std::vector<std::string> labels;
    for (uint32_t i = 0; i < n_labels; ++i) labels.push_back(ShortStr(r));
    if (rows * 4 > r.remaining()) r.Fail("y is shorter than X's rows");
    ds.y_labels.reserve(rows);
    for (uint64_t i = 0; i < rows; ++i) {
      uint32_t k = r.U32();
      if (k >= n_labels) {
        throw InvalidInput("dataset: y[" + std::to_string(i) + "] refers to label " +
                           std::to_string(k) + " of " + std::to_string(n_labels));
      }
      ds.y_labels.push_back(labels[k]);
    }
  } else if (kind != 0) {
    throw InvalidInput("dataset: unknown y kind " + std::to_string(kind) + " (0, 1 or 2)");
  }
  if (r.remaining() != 0) r.Fail("trailing bytes after y");
  return ds;
}

RawDataset ReadHandover(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw NotFound("dataset file " + path.string() + " cannot be opened");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ParseHandover(ss.str());
}

std::string SerializeHandover(const RawDataset& ds) {
  ByteWriter w;
  w.Raw(kMagic, 4);
  w.U32(kVersion);
  w.U64(ds.X.rows);
  w.U64(ds.X.cols);
  w.U32(static_cast<uint32_t>(ds.feature_names.size()));
  for (const auto& n : ds.feature_names) PutShortStr(w, n);
  w.Raw(ds.X.data.data(), ds.X.data.size() * 8);
  w.U8(static_cast<uint8_t>(ds.y_kind));
  if (ds.y_kind == RawDataset::YKind::kNumeric) {
    w.Raw(ds.y_numeric.data(), ds.y_numeric.size() * 8);
  } else if (ds.y_kind == RawDataset::YKind::kLabels) {
    std::map<std::string, uint32_t> index;
    std::vector<const std::string*> order;
    for (const auto& s : ds.y_labels) {
      if (index.emplace(s, static_cast<uint32_t>(order.size())).second) order.push_back(&s);
    }
    w.U32(static_cast<uint32_t>(order.size()));
    for (const auto* s : order) PutShortStr(w, *s);
    for (const auto& s : ds.y_labels) w.U32(index[s]);
  }
  return std::move(w.buffer());
}

Target MakeTarget(const RawDataset& ds, Task task) {
  switch (ds.y_kind) {
    case RawDataset::YKind::kNone:
      throw InvalidInput("the dataset has no y (labels); the data script must return \"y\"");
    case RawDataset::YKind::kNumeric:
      return task == Task::kClassification ? EncodeNumericLabels(ds.y_numeric)
                                           : RegressionTarget(ds.y_numeric);
    case RawDataset::YKind::kLabels:
      if (task == Task::kRegression) {
        throw InvalidInput("regression needs numeric y; the dataset's y holds text labels");
      }
      return EncodeStringLabels(ds.y_labels);
  }
  throw InternalError("unknown y kind");
}

}  // namespace trainyard::automl
