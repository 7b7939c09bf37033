#include "automl/bytes.h"

#include "common/error.h"

namespace trainyard::automl {

const char* ByteReader::Take(size_t n) {
  if (n > remaining()) Fail("unexpected end of data");
  const char* p = data_.data() + pos_;
  pos_ += n;
  return p;
}

void ByteReader::Fail(const std::string& what) const {
  throw InvalidInput(source_ + " is truncated or corrupt (" + what + " at byte " +
                     std::to_string(pos_) + ")");
}

}  // namespace trainyard::automl
