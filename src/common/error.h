// Typed errors used inside Trainyard. Code throws these; each boundary (HTTP handler, CLI main,
// agent main) has one wrapper that maps them to its error form: {"error": {"code", "message"}}
// with Error::http_status() over HTTP, and Error::exit_code() for the CLI.
#pragma once

#include <stdexcept>
#include <string>

#include "common/utf8.h"

namespace trainyard {

// Messages may echo client input: bytes that are not UTF-8 are escaped ("\xNN") so the error
// can always be sent as JSON.
class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message, int http_status)
      : std::runtime_error(EscapeInvalidUtf8(message)),
        code_(std::move(code)),
        http_status_(http_status) {}

  // Machine-readable error code, e.g. "InvalidInput", "NotFound".
  const std::string& code() const { return code_; }
  int http_status() const { return http_status_; }
  // CLI exit code: 2 bad input, 3 not found, 4 conflict, 5 auth, 1 anything else.
  int exit_code() const;

 private:
  std::string code_;
  int http_status_;
};

// The caller's input was wrong; the message says which field and the rule.
class InvalidInput : public Error {
 public:
  explicit InvalidInput(const std::string& m, std::string code = "InvalidInput")
      : Error(std::move(code), m, 400) {}
};
class NotFound : public Error {
 public:
  explicit NotFound(const std::string& m) : Error("NotFound", m, 404) {}
};
class Conflict : public Error {
 public:
  explicit Conflict(const std::string& m) : Error("Conflict", m, 409) {}
};
class Unauthorized : public Error {
 public:
  explicit Unauthorized(const std::string& m) : Error("Unauthorized", m, 401) {}
};
class PayloadTooLarge : public Error {
 public:
  explicit PayloadTooLarge(const std::string& m, std::string code = "PayloadTooLarge")
      : Error(std::move(code), m, 413) {}
};
class Unavailable : public Error {
 public:
  explicit Unavailable(const std::string& m) : Error("Unavailable", m, 503) {}
};
// The server's disk is full (ENOSPC, EDQUOT, EFBIG): nothing was stored; retry after space
// is freed.
class InsufficientStorage : public Error {
 public:
  explicit InsufficientStorage(const std::string& m) : Error("InsufficientStorage", m, 507) {}
};
// A broken invariant or an OS failure that the caller cannot fix.
class InternalError : public Error {
 public:
  explicit InternalError(const std::string& m) : Error("InternalError", m, 500) {}
};
// Raised for OS-level failures (errno appended to the message): InsufficientStorage when the
// disk is full, InternalError otherwise.
[[noreturn]] void ThrowErrno(const std::string& what);
// The error a failed OS call with `err` (an errno value) becomes; `what` says what failed.
[[noreturn]] void ThrowOsError(int err, const std::string& what);
// True for the errno values that mean "the disk is full".
bool IsDiskFullErrno(int err);

}  // namespace trainyard
