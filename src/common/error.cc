#include "common/error.h"

#include <cerrno>
#include <cstring>

namespace trainyard {

int Error::exit_code() const {
  switch (http_status_) {
    case 400:
    case 413:
      return 2;
    case 404:
      return 3;
    case 409:
      return 4;
    case 401:
    case 403:
      return 5;
    default:
      return 1;
  }
}

void ThrowErrno(const std::string& what) {
  throw InternalError(what + ": " + std::strerror(errno));
}

}  // namespace trainyard
