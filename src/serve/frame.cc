#include "serve/frame.h"

#include "common/error.h"

namespace trainyard::serve {

std::string EncodeFrame(char kind, std::string_view payload) {
  if (payload.size() > kMaxFramePayload) {
    throw PayloadTooLarge("frame payload of " + std::to_string(payload.size()) +
                          " bytes is over the limit of " + std::to_string(kMaxFramePayload));
  }
  auto n = static_cast<uint32_t>(payload.size());
  std::string out;
  out.reserve(kFrameHeader + payload.size());
  out.push_back(static_cast<char>((n >> 24) & 0xff));
  out.push_back(static_cast<char>((n >> 16) & 0xff));
  out.push_back(static_cast<char>((n >> 8) & 0xff));
  out.push_back(static_cast<char>(n & 0xff));
  out.push_back(kind);
  out.append(payload);
  return out;
}

std::optional<Frame> FrameDecoder::Next() {
  if (buf_.size() - pos_ < kFrameHeader) return std::nullopt;
  auto b = [&](size_t i) {
    return static_cast<uint32_t>(static_cast<unsigned char>(buf_[pos_ + i]));
  };
  uint32_t n = (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
  if (n > kMaxFramePayload) {
    throw InvalidInput("frame length " + std::to_string(n) + " is over the limit of " +
                       std::to_string(kMaxFramePayload) + " (corrupt stream?)");
  }
  if (buf_.size() - pos_ < kFrameHeader + n) return std::nullopt;
  Frame f;
  f.kind = buf_[pos_ + 4];
  f.payload.assign(buf_, pos_ + kFrameHeader, n);
  pos_ += kFrameHeader + n;
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > (1u << 16) && pos_ * 2 > buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  return f;
}

}  // namespace trainyard::serve
