// libFuzzer target: path and name validation (src/common/validation) and confined opens
// (src/common/confined_fs). Invariants checked: a path that validates never has a '.'/'..'
// segment, a segment over 255 bytes or invalid UTF-8; a confined open that succeeds yields a
// file inside the root; error messages are valid UTF-8.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "common/confined_fs.h"
#include "common/error.h"
#include "common/utf8.h"
#include "common/validation.h"

namespace fs = std::filesystem;
using namespace trainyard;

namespace {

fs::path Root() {
  static fs::path root = [] {
    fs::path d = fs::temp_directory_path() / ("trainyard-fuzz-paths-" + std::to_string(getpid()));
    fs::remove_all(d);
    fs::create_directories(d / "root" / "a" / "b");
    std::ofstream(d / "root" / "a" / "f.txt") << "in";
    std::ofstream(d / "outside.txt") << "out";
    fs::create_symlink(d / "outside.txt", d / "root" / "a" / "link");
    fs::create_symlink(d, d / "root" / "up");
    return d / "root";
  }();
  return root;
}

void Check(bool ok, const char* what, std::string_view input) {
  if (!ok) {
    fprintf(stderr, "invariant broken: %s for input of %zu bytes\n", what, input.size());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  try {
    std::string p = ValidateRelativePath("path", in);
    Check(IsValidUtf8(p), "validated path is UTF-8", in);
    size_t start = 0;
    while (start <= p.size()) {
      size_t end = p.find('/', start);
      if (end == std::string::npos) end = p.size();
      std::string_view seg = std::string_view(p).substr(start, end - start);
      Check(!seg.empty() && seg != "." && seg != ".." && seg.size() <= 255, "segment rule", in);
      start = end + 1;
    }
    int fd = OpenBeneathRaw(Root(), p, O_RDONLY);
    if (fd >= 0) {
      char buf[4096];
      ssize_t n = readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), buf, sizeof buf - 1);
      close(fd);
      Check(n > 0 && std::string_view(buf, static_cast<size_t>(n)).rfind(Root().string(), 0) == 0,
            "confined open stays beneath root", in);
    }
  } catch (const Error& e) {
    Check(IsValidUtf8(e.what()), "error message is UTF-8", in);
  }
  for (auto fn : {+[](std::string_view v) { ValidateRunId("run id", v); },
                  +[](std::string_view v) { ValidateName("name", v); }}) {
    try {
      fn(in);
      Check(in != "." && in != ".." && in.size() <= 255 && IsValidUtf8(in), "id/name rule", in);
    } catch (const Error& e) {
      Check(IsValidUtf8(e.what()), "error message is UTF-8", in);
    }
  }
  try {  // tag keys and metric names are not paths ("." is a fine key) but are UTF-8
    ValidateKey("key", in);
    Check(IsValidUtf8(in), "key rule", in);
  } catch (const Error& e) {
    Check(IsValidUtf8(e.what()), "error message is UTF-8", in);
  }
  Check(IsValidUtf8(EscapeInvalidUtf8(in)), "escape yields UTF-8", in);
  return 0;
}
