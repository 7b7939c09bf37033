// Little-endian binary writer/reader used by the dataset handover format and the model file.
// The reader checks every length against the remaining bytes and throws InvalidInput naming
// the source ("model file", "dataset") when the input is truncated or corrupt.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace trainyard::automl {

class ByteWriter {
 public:
  void U8(uint8_t v) { buf_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) { Raw(&v, sizeof v); }
  void U64(uint64_t v) { Raw(&v, sizeof v); }
  void I64(int64_t v) { Raw(&v, sizeof v); }
  void F64(double v) { Raw(&v, sizeof v); }
  void Str(std::string_view s) {
    U64(s.size());
    buf_.append(s);
  }
  void Doubles(const std::vector<double>& v) {
    U64(v.size());
    Raw(v.data(), v.size() * sizeof(double));
  }
  void Ints(const std::vector<int32_t>& v) {
    U64(v.size());
    Raw(v.data(), v.size() * sizeof(int32_t));
  }
  void Strings(const std::vector<std::string>& v) {
    U64(v.size());
    for (const auto& s : v) Str(s);
  }
  void Raw(const void* p, size_t n) {
    if (n > 0) buf_.append(static_cast<const char*>(p), n);
  }
  std::string& buffer() { return buf_; }

 private:
  std::string buf_;
};

class ByteReader {
 public:
  ByteReader(std::string_view data, std::string source) : data_(data), source_(std::move(source)) {}

  uint8_t U8() { return static_cast<uint8_t>(*Take(1)); }
  uint32_t U32() { return Pod<uint32_t>(); }
  uint64_t U64() { return Pod<uint64_t>(); }
  int64_t I64() { return Pod<int64_t>(); }
  double F64() { return Pod<double>(); }
  std::string Str() {
    uint64_t n = Count(1);
    return std::string(Take(n), n);
  }
  std::vector<double> Doubles() {
    uint64_t n = Count(sizeof(double));
    std::vector<double> v(n);
    CopyOut(v.data(), n * sizeof(double));
    return v;
  }
  std::vector<int32_t> Ints() {
    uint64_t n = Count(sizeof(int32_t));
    std::vector<int32_t> v(n);
    CopyOut(v.data(), n * sizeof(int32_t));
    return v;
  }
  std::vector<std::string> Strings() {
    uint64_t n = Count(8);
    std::vector<std::string> v;
    v.reserve(n);
    for (uint64_t i = 0; i < n; ++i) v.push_back(Str());
    return v;
  }
  // Reads `n` raw bytes.
  const char* Take(size_t n);
  // Reads `n` bytes into `dst` (may be null when n is 0: an empty vector's data()).
  void CopyOut(void* dst, size_t n) {
    const char* src = Take(n);
    if (n > 0) std::memcpy(dst, src, n);
  }
  size_t remaining() const { return data_.size() - pos_; }
  [[noreturn]] void Fail(const std::string& what) const;

 private:
  template <typename T>
  T Pod() {
    T v;
    std::memcpy(&v, Take(sizeof v), sizeof v);
    return v;
  }
  // A length prefix whose elements of `elem` bytes must fit in what is left.
  uint64_t Count(size_t elem) {
    uint64_t n = U64();
    if (n > remaining() / elem) Fail("a length field exceeds the data");
    return n;
  }

  std::string_view data_;
  size_t pos_ = 0;
  std::string source_;
};

}  // namespace trainyard::automl
