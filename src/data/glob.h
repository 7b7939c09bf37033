// Glob patterns over '/'-separated relative paths, as Azure ML's Dataset.File.from_files takes
// them: '*' matches within one path segment, '?' one character, '[abc]' / '[!a-z]' a class,
// and a whole segment '**' any number of segments (including none), so 'a/**/*.csv' matches
// 'a/x.csv' and 'a/b/c/x.csv', and 'data/**' matches every file under data/.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace trainyard {

// True when the pattern has a wildcard character (* ? [).
bool HasGlobChars(std::string_view pattern);

// Matches a whole relative path against a pattern (both '/'-separated).
bool GlobMatch(std::string_view pattern, std::string_view path);

// The longest leading run of segments without wildcards ("data/2020/*.csv" -> "data/2020")
// and the rest of the pattern ("*.csv"). A pattern without wildcards is all base.
struct GlobParts {
  std::string base;
  std::string rest;
};
GlobParts SplitGlob(std::string_view pattern);

// Regular files under `root` whose path relative to `root` matches `pattern`, sorted.
// Symbolic links to files are followed; directories are walked without following links.
std::vector<std::string> ExpandGlob(const std::filesystem::path& root, std::string_view pattern);

}  // namespace trainyard
