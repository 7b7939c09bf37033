// The frame protocol between a `trainyard serve` front and its Python scoring workers.
//
// Each frame is a 4-byte big-endian payload length, one kind byte, then the payload:
//   'R' request      front -> worker   the raw request body
//   'I' ready        worker -> front   init() returned; payload empty
//   'F' init failed  worker -> front   JSON {"message", "traceback"}
//   'O' ok           worker -> front   the JSON text of run()'s result
//   'B' bad request  worker -> front   JSON {"message"}: the input was wrong (answered 400)
//   'E' error        worker -> front   JSON {"message", "traceback"}: run() raised (500)
// The length counts the payload only. Frames larger than kMaxFramePayload are refused.
//
// FrameDecoder is not thread-safe; use one per stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace trainyard::serve {

inline constexpr size_t kFrameHeader = 5;
inline constexpr uint32_t kMaxFramePayload = 1u << 30;

struct Frame {
  char kind = 0;
  std::string payload;
};

// Header and payload, ready to write.
std::string EncodeFrame(char kind, std::string_view payload);

// Accumulates bytes from a stream and yields complete frames.
class FrameDecoder {
 public:
  void Append(const char* data, size_t n) { buf_.append(data, n); }
  // The next complete frame, or nullopt when more bytes are needed. Throws InvalidInput for a
  // length above kMaxFramePayload (the stream is then unusable).
  std::optional<Frame> Next();
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  std::string buf_;
  size_t pos_ = 0;
};

}  // namespace trainyard::serve
