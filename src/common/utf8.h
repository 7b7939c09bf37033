// UTF-8 checks shared by validation (names, paths) and error messages (which echo input).
#pragma once

#include <string>
#include <string_view>

namespace trainyard {

// True when `s` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF) — the same rule nlohmann::json::dump applies.
bool IsValidUtf8(std::string_view s);

// `s` with every byte that is not part of a well-formed UTF-8 sequence written as "\xNN", so
// that text echoing client input can always be sent as JSON. Valid input comes back as is.
std::string EscapeInvalidUtf8(std::string_view s);

}  // namespace trainyard
