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

bool IsDiskFullErrno(int err) { return err == ENOSPC || err == EDQUOT || err == EFBIG; }

void ThrowOsError(int err, const std::string& what) {
  if (IsDiskFullErrno(err)) {
    throw InsufficientStorage("the server's disk is full (" + std::string(std::strerror(err)) +
                              ") while trying to " + what +
                              "; nothing was stored: free space on the server and retry");
  }
  throw InternalError(what + ": " + std::strerror(err));
}

void ThrowErrno(const std::string& what) { ThrowOsError(errno, what); }

}  // namespace trainyard
