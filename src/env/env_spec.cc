#include "env/env_spec.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/json_limits.h"
#include "common/utf8.h"
#include "common/validation.h"
#include "env/python_finder.h"

namespace trainyard {
using json = nlohmann::json;

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string Quote(std::string_view v) {
  std::string s(v.substr(0, 120));
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  }
  return "'" + s + (v.size() > 120 ? "...'" : "'");
}

[[noreturn]] void Bad(std::string_view where, std::string_view entry, const std::string& why) {
  throw InvalidInput(std::string(where) + ": invalid " + Quote(entry) + ": " + why);
}

bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

bool AllOf(std::string_view s, std::string_view allowed_punct, char* bad_char) {
  for (char c : s) {
    if (!IsAlnum(c) && allowed_punct.find(c) == std::string_view::npos) {
      *bad_char = c;
      return false;
    }
  }
  return true;
}

std::string CharName(char c) {
  if (c == ' ') return "a space";
  if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "a control character";
  return std::string("'") + c + "'";
}

void RejectControlChars(std::string_view where, std::string_view entry) {
  for (char c : entry) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      Bad(where, entry, "contains a control character");
    }
  }
}

// Length of a PEP 508 project name at the start of `s` (0 when there is none).
size_t NameLength(std::string_view s) {
  size_t n = 0;
  while (n < s.size() && (IsAlnum(s[n]) || s[n] == '.' || s[n] == '_' || s[n] == '-')) ++n;
  while (n > 0 && !IsAlnum(s[n - 1])) --n;  // must end with a letter or digit
  return n > 0 && IsAlnum(s[0]) ? n : 0;
}

bool LooksLikeUrl(std::string_view s) {
  size_t scheme = s.find("://");
  if (scheme != std::string_view::npos && scheme > 0) {
    char bad = 0;
    return AllOf(s.substr(0, scheme), "+-.", &bad);
  }
  return s.substr(0, 5) == "file:";
}

// pip's global options usable in a requirements file or a conda "pip:" list.
struct PipOption {
  const char* short_name;
  const char* long_name;
  bool takes_value;
};
constexpr PipOption kPipOptions[] = {
    {"-i", "--index-url", true},  {"", "--extra-index-url", true},
    {"-f", "--find-links", true}, {"", "--trusted-host", true},
    {"", "--pre", false},         {"", "--prefer-binary", false},
    {"", "--only-binary", true},  {"", "--no-binary", true},
    {"", "--no-index", false},
};

void ValidatePipOption(std::string_view where, std::string_view entry) {
  size_t end = 0;
  while (end < entry.size() && entry[end] != '=' &&
         !std::isspace(static_cast<unsigned char>(entry[end]))) {
    ++end;
  }
  std::string_view name = entry.substr(0, end);
  std::string_view value = Trim(end < entry.size() ? entry.substr(end + 1) : std::string_view());
  if (name == "-r" || name == "--requirement" || name == "-c" || name == "--constraint") {
    Bad(where, entry,
        "requirement and constraint files (-r, -c) are not supported: list the packages in the "
        "environment spec itself");
  }
  if (name == "-e" || name == "--editable") {
    Bad(where, entry,
        "editable installs (-e) are not supported: the environment is built from packages, "
        "not from local checkouts; put local code in the source directory instead");
  }
  for (const PipOption& opt : kPipOptions) {
    if (name != opt.long_name && name != opt.short_name) continue;
    if (opt.takes_value) {
      if (value.empty()) Bad(where, entry, std::string(opt.long_name) + " needs a value");
      for (char c : value) {
        if (std::isspace(static_cast<unsigned char>(c))) {
          Bad(where, entry, std::string(opt.long_name) + " takes a single value");
        }
      }
    } else if (!value.empty()) {
      Bad(where, entry, std::string(opt.long_name) + " takes no value");
    }
    return;
  }
  Bad(where, entry,
      "unsupported pip option; supported: --index-url, --extra-index-url, --find-links, "
      "--trusted-host, --pre, --prefer-binary, --only-binary, --no-binary, --no-index");
}

void ValidateVersionSpecifiers(std::string_view where, std::string_view entry,
                               std::string_view specs) {
  specs = Trim(specs);
  if (!specs.empty() && specs.front() == '(' && specs.back() == ')') {
    specs = Trim(specs.substr(1, specs.size() - 2));
  }
  size_t start = 0;
  while (start <= specs.size()) {
    size_t comma = specs.find(',', start);
    if (comma == std::string_view::npos) comma = specs.size();
    std::string_view clause = Trim(specs.substr(start, comma - start));
    size_t op_len = 0;
    for (std::string_view op : {"===", "==", "!=", "<=", ">=", "~=", "<", ">"}) {
      if (clause.substr(0, op.size()) == op) {
        op_len = op.size();
        break;
      }
    }
    if (op_len == 0) {
      if (!clause.empty() && clause[0] == '=') {
        Bad(where, entry, "pip versions use '==' (a single '=' is conda syntax)");
      }
      Bad(where, entry,
          "expected version specifiers like ==1.2, >=1.0,<2 or ~=1.4 after the package name");
    }
    std::string_view version = Trim(clause.substr(op_len));
    char bad = 0;
    if (version.empty()) Bad(where, entry, "missing version after '" + std::string(clause) + "'");
    if (!AllOf(version, ".*+!-_", &bad)) {
      Bad(where, entry, "version contains " + CharName(bad));
    }
    start = comma + 1;
  }
}

void ValidateRequirement(std::string_view where, std::string_view entry, std::string_view req) {
  if (LooksLikeUrl(req)) {
    for (char c : req) {
      if (std::isspace(static_cast<unsigned char>(c))) Bad(where, entry, "URL contains a space");
    }
    return;
  }
  size_t n = NameLength(req);
  if (n == 0) {
    Bad(where, entry,
        "a package spec must start with a package name (letters, digits, '.', '_', '-')");
  }
  std::string_view rest = Trim(req.substr(n));
  if (!rest.empty() && rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) Bad(where, entry, "unclosed '[' in extras");
    char bad = 0;
    if (!AllOf(rest.substr(1, close - 1), "._-, ", &bad)) {
      Bad(where, entry, "extras contain " + CharName(bad));
    }
    rest = Trim(rest.substr(close + 1));
  }
  size_t semi = rest.find(';');
  std::string_view marker = semi == std::string_view::npos ? "" : Trim(rest.substr(semi + 1));
  std::string_view spec = Trim(rest.substr(0, semi));
  if (!spec.empty() && spec[0] == '@') {
    std::string_view url = Trim(spec.substr(1));
    if (url.empty() || !LooksLikeUrl(url)) Bad(where, entry, "expected a URL after '@'");
    for (char c : url) {
      if (std::isspace(static_cast<unsigned char>(c))) Bad(where, entry, "URL contains a space");
    }
  } else if (!spec.empty()) {
    if (std::string_view("<>=!~(").find(spec[0]) == std::string_view::npos) {
      Bad(where, entry,
          "unexpected " + CharName(spec[0]) + " after the package name (expected [extras], " +
              "a version like ==1.0, '@ url' or '; marker')");
    }
    ValidateVersionSpecifiers(where, entry, spec);
  }
  if (semi != std::string_view::npos) {
    char bad = 0;
    if (marker.empty()) Bad(where, entry, "empty environment marker after ';'");
    if (!AllOf(marker, " ._-'\"()<>=!~,*+", &bad)) {
      Bad(where, entry, "environment marker contains " + CharName(bad));
    }
  }
}

void ValidateChannel(std::string_view where, std::string_view channel) {
  char bad = 0;
  if (channel.empty()) Bad(where, channel, "a channel name must not be empty");
  if (!AllOf(channel, "._-/:+", &bad)) Bad(where, channel, "contains " + CharName(bad));
}

// JSON helpers. Find() looks a key up under its snake_case and camelCase spellings.
const json* Find(const json& obj, const char* snake, const char* camel = nullptr) {
  auto it = obj.find(snake);
  if (it != obj.end() && !it->is_null()) return &*it;
  if (camel != nullptr) {
    it = obj.find(camel);
    if (it != obj.end() && !it->is_null()) return &*it;
  }
  return nullptr;
}

std::string GetString(const json* v, const std::string& where) {
  if (v == nullptr) return "";
  if (!v->is_string()) throw InvalidInput(where + ": must be a string");
  return v->get<std::string>();
}

bool GetBool(const json* v, const std::string& where) {
  if (v == nullptr) return false;
  if (!v->is_boolean()) throw InvalidInput(where + ": must be true or false");
  return v->get<bool>();
}

// Environment variable values: strings; numbers and booleans are written as JSON would.
std::string EnvValue(const json& v, const std::string& where) {
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    if (s.find('\0') != std::string::npos) throw InvalidInput(where + ": must not contain NUL");
    return s;
  }
  if (v.is_number() || v.is_boolean()) return v.dump();
  throw InvalidInput(where + ": must be a string");
}

CondaDependencies ParseCondaJson(const json& j, const std::string& where) {
  if (!j.is_object()) throw InvalidInput(where + ": must be an object");
  CondaDependencies conda;
  conda.name = GetString(Find(j, "name"), where + ".name");
  if (const json* channels = Find(j, "channels")) {
    if (!channels->is_array()) throw InvalidInput(where + ".channels: must be a list of strings");
    for (size_t i = 0; i < channels->size(); ++i) {
      std::string w = where + ".channels[" + std::to_string(i) + "]";
      std::string c = GetString(&(*channels)[i], w);
      ValidateChannel(w, c);
      conda.channels.push_back(c);
    }
  }
  const json* deps = Find(j, "dependencies");
  if (deps == nullptr) return conda;
  if (!deps->is_array()) throw InvalidInput(where + ".dependencies: must be a list");
  for (size_t i = 0; i < deps->size(); ++i) {
    const json& d = (*deps)[i];
    std::string w = where + ".dependencies[" + std::to_string(i) + "]";
    if (d.is_string()) {
      std::string spec(Trim(d.get<std::string>()));
      ValidateCondaSpec(w, spec);
      conda.conda_packages.push_back(spec);
      continue;
    }
    if (!d.is_object() || d.size() != 1 || !d.contains("pip")) {
      throw InvalidInput(w + ": must be a package spec string or {\"pip\": [...]}, got " +
                         d.dump().substr(0, 120));
    }
    const json& pip = d["pip"];
    if (!pip.is_array()) throw InvalidInput(w + ".pip: must be a list of strings");
    for (size_t k = 0; k < pip.size(); ++k) {
      std::string wk = w + ".pip[" + std::to_string(k) + "]";
      if (!pip[k].is_string()) {
        throw InvalidInput(wk + ": must be a string, got " + pip[k].dump().substr(0, 120));
      }
      std::string entry(Trim(pip[k].get<std::string>()));
      ValidatePipEntry(wk, entry);
      conda.pip_packages.push_back(entry);
    }
  }
  return conda;
}

// YAML helpers: errors name the 1-based line.
std::string Line(const YAML::Node& n) {
  return "conda environment file, line " + std::to_string(n.Mark().line + 1);
}

std::string ScalarOf(const YAML::Node& n, const std::string& what) {
  if (!n.IsScalar()) throw InvalidInput(Line(n) + ": " + what + " must be a single value");
  // The file itself is checked to be UTF-8, but yaml-cpp decodes the double-quoted escapes
  // "\N" and "\_" to the single bytes 0x85 and 0xA0, which are not UTF-8 (found by fuzzing:
  // the spec's JSON dump then threw). Refused here, naming the line.
  if (!IsValidUtf8(n.Scalar())) {
    throw InvalidInput(Line(n) + ": " + what +
                       " is not valid UTF-8 after YAML unescaping (the escapes \\N and \\_ "
                       "are not supported: write the character itself)");
  }
  return n.Scalar();
}

}  // namespace

void ValidatePipEntry(std::string_view where, std::string_view entry) {
  entry = Trim(entry);
  if (entry.empty()) throw InvalidInput(std::string(where) + ": a pip entry must not be empty");
  RejectControlChars(where, entry);
  for (char c : {'`', '\\', '$', '{', '}'}) {
    if (entry.find(c) != std::string_view::npos) {
      Bad(where, entry, "contains " + CharName(c) + ", which is not allowed in a package spec");
    }
  }
  if (entry[0] == '-') {
    ValidatePipOption(where, entry);
    return;
  }
  // "pkg==1.0 --hash=sha256:..." : per-requirement hash options after the requirement.
  size_t opts = std::string_view::npos;
  for (size_t i = 1; i + 2 < entry.size(); ++i) {
    if (std::isspace(static_cast<unsigned char>(entry[i])) && entry[i + 1] == '-' &&
        entry[i + 2] == '-') {
      opts = i;
      break;
    }
  }
  ValidateRequirement(where, entry, Trim(entry.substr(0, opts)));
  if (opts == std::string_view::npos) return;
  std::string_view rest = Trim(entry.substr(opts));
  while (!rest.empty()) {
    size_t sp = 0;
    while (sp < rest.size() && !std::isspace(static_cast<unsigned char>(rest[sp]))) ++sp;
    std::string_view opt = rest.substr(0, sp);
    size_t colon = opt.find(':');
    char bad = 0;
    if (opt.substr(0, 7) != "--hash=" || colon == std::string_view::npos ||
        !AllOf(opt.substr(7), ":", &bad) || colon + 1 >= opt.size()) {
      Bad(where, entry, "only --hash=<algorithm>:<digest> may follow a requirement");
    }
    rest = Trim(rest.substr(sp));
  }
}

void ValidateCondaSpec(std::string_view where, std::string_view spec) {
  spec = Trim(spec);
  if (spec.empty()) throw InvalidInput(std::string(where) + ": a package spec must not be empty");
  RejectControlChars(where, spec);
  if (spec.find('[') != std::string_view::npos) {
    Bad(where, spec,
        "bracket match specs (like numpy[version='>=1.0']) are not supported; write "
        "numpy>=1.0");
  }
  std::string_view rest = spec;
  size_t colons = rest.rfind("::");
  if (colons != std::string_view::npos) {
    ValidateChannel(where, rest.substr(0, colons));
    rest = rest.substr(colons + 2);
  }
  size_t n = 0;
  while (n < rest.size() &&
         (IsAlnum(rest[n]) || rest[n] == '.' || rest[n] == '_' || rest[n] == '-')) {
    ++n;
  }
  if (n == 0 || rest[0] == '.' || rest[0] == '-') {
    Bad(where, spec, "a conda package spec must start with a package name");
  }
  char bad = 0;
  if (!AllOf(rest.substr(n), ".*+!=<>~,|_ ", &bad)) {
    Bad(where, spec,
        "contains " + CharName(bad) + ", which is not allowed in a conda package spec");
  }
  if (rest.substr(0, n) == "python") {
    PythonPin::Parse(rest, where);  // throws for a malformed version
  } else if (rest.find('|') != std::string_view::npos) {
    Bad(where, spec, "'|' (or) version constraints are only supported for python");
  }
}

void ValidateEnvVarName(std::string_view where, std::string_view name) {
  bool ok = !name.empty() && name.size() <= 255 &&
            (std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_');
  for (char c : name) ok = ok && (IsAlnum(c) || c == '_');
  if (!ok) {
    throw InvalidInput(std::string(where) + ": invalid environment variable name " + Quote(name) +
                       ": must start with a letter or '_' and contain only letters, digits and "
                       "'_' (at most 255 characters)");
  }
}

PipRequirements ParsePipRequirements(std::string_view text, std::string_view where) {
  PipRequirements out;
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    // One logical line: physical lines joined while they end with a backslash.
    std::string logical;
    int first_line = line_no + 1;
    for (;;) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string_view::npos) nl = text.size();
      std::string_view line = text.substr(pos, nl - pos);
      pos = nl + 1;
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!line.empty() && line.back() == '\\' && pos < text.size()) {
        logical.append(line.substr(0, line.size() - 1));
        continue;
      }
      logical.append(line);
      break;
    }
    // Comments: '#' at the start or after whitespace.
    for (size_t i = 0; i < logical.size(); ++i) {
      if (logical[i] == '#' &&
          (i == 0 || std::isspace(static_cast<unsigned char>(logical[i - 1])))) {
        logical.resize(i);
        break;
      }
    }
    std::string_view entry = Trim(logical);
    if (entry.empty()) continue;
    std::string w = std::string(where) + " line " + std::to_string(first_line);
    ValidatePipEntry(w, entry);
    (entry[0] == '-' ? out.options : out.requirements).emplace_back(entry);
  }
  return out;
}

EnvSpec EnvSpec::FromJson(const json& j, std::string_view field) {
  EnvSpec spec;
  const std::string f(field);
  if (j.is_null()) return spec;
  if (!j.is_object()) throw InvalidInput(f + ": must be an object or null");
  spec.name = GetString(Find(j, "name"), f + ".name");
  if (!spec.name.empty()) ValidateName(f + ".name", spec.name);
  if (const json* v = Find(j, "version")) {
    if (v->is_string()) {
      spec.version = v->get<std::string>();
    } else if (v->is_number_integer()) {
      spec.version = v->dump();
    } else {
      throw InvalidInput(f + ".version: must be a string or null");
    }
  }
  if (const json* py = Find(j, "python")) {
    const std::string w = f + ".python";
    if (!py->is_object()) throw InvalidInput(w + ": must be an object or null");
    spec.user_managed_dependencies =
        GetBool(Find(*py, "user_managed_dependencies", "userManagedDependencies"),
                w + ".user_managed_dependencies");
    spec.interpreter_path =
        GetString(Find(*py, "interpreter_path", "interpreterPath"), w + ".interpreter_path");
    if (!spec.interpreter_path.empty()) {
      RejectControlChars(w + ".interpreter_path", spec.interpreter_path);
      if (spec.interpreter_path.find('\0') != std::string::npos) {
        throw InvalidInput(w + ".interpreter_path: must not contain NUL");
      }
    }
    if (const json* conda = Find(*py, "conda_dependencies", "condaDependencies")) {
      spec.conda_dependencies = ParseCondaJson(*conda, w + ".conda_dependencies");
    }
  }
  if (const json* req = Find(j, "pip_requirements", "pipRequirements")) {
    std::string text = GetString(req, f + ".pip_requirements");
    ParsePipRequirements(text, f + ".pip_requirements");
    spec.pip_requirements = std::move(text);
  }
  if (const json* vars = Find(j, "environment_variables", "environmentVariables")) {
    const std::string w = f + ".environment_variables";
    if (!vars->is_object()) throw InvalidInput(w + ": must be an object of name: value");
    for (const auto& [name, value] : vars->items()) {
      ValidateEnvVarName(w, name);
      spec.environment_variables[name] = EnvValue(value, w + "." + name);
    }
  }
  if (const json* docker = Find(j, "docker")) {
    const std::string w = f + ".docker";
    if (!docker->is_object()) throw InvalidInput(w + ": must be an object or null");
    spec.docker_enabled = GetBool(Find(*docker, "enabled"), w + ".enabled");
    spec.docker_base_image = GetString(Find(*docker, "base_image", "baseImage"), w + ".base_image");
    if (const json* reg = Find(*docker, "base_image_registry", "baseImageRegistry");
        reg != nullptr && !reg->is_null()) {
      const std::string wr = w + ".base_image_registry";
      if (!reg->is_object()) throw InvalidInput(wr + ": must be an object {address} or null");
      spec.docker_base_image_registry = GetString(Find(*reg, "address"), wr + ".address");
      for (const char* secret : {"username", "password"}) {
        const json* v = Find(*reg, secret);
        if (v != nullptr && !v->is_null() && !(v->is_string() && v->get<std::string>().empty())) {
          throw InvalidInput(
              wr + "." + secret +
              ": registry credentials are not accepted in an environment (they would be stored "
              "with every run that uses it); put them in the server's containers config "
              "(registries.\"<address>\".username/password, `trainyard server "
              "--containers-config FILE`) and leave base_image_registry with the address only");
        }
      }
    }
  }
  return spec;
}

EnvSpec EnvSpec::FromCondaYaml(std::string_view yaml_text, std::string_view name) {
  CheckYamlBounds(yaml_text, "conda environment file");  // size and nesting, before yaml-cpp
  if (!IsValidUtf8(yaml_text)) {
    // Found by fuzzing: the spec goes on as JSON, whose dump() throws on such bytes. '\n' is
    // never part of a multi-byte sequence, so the first bad line is found line by line.
    size_t line = 1, pos = 0;
    for (;;) {
      size_t nl = yaml_text.find('\n', pos);
      if (nl == std::string_view::npos || !IsValidUtf8(yaml_text.substr(pos, nl - pos))) break;
      pos = nl + 1;
      ++line;
    }
    throw InvalidInput("conda environment file, line " + std::to_string(line) +
                       ": the file is not valid UTF-8; save it as UTF-8");
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    throw InvalidInput("conda environment file, line " + std::to_string(e.mark.line + 1) + ": " +
                       e.msg);
  }
  if (!root.IsMap()) {
    throw InvalidInput(
        "conda environment file: expected a mapping with 'name', 'channels' and "
        "'dependencies'");
  }
  EnvSpec spec;
  CondaDependencies conda;
  try {
    if (YAML::Node n = root["name"]; n && !n.IsNull()) conda.name = ScalarOf(n, "'name'");
    if (YAML::Node n = root["channels"]; n && !n.IsNull()) {
      if (!n.IsSequence()) throw InvalidInput(Line(n) + ": 'channels' must be a list");
      for (const YAML::Node& c : n) {
        std::string channel = ScalarOf(c, "a channel");
        ValidateChannel(Line(c), channel);
        conda.channels.push_back(channel);
      }
    }
    if (YAML::Node n = root["dependencies"]; n && !n.IsNull()) {
      if (!n.IsSequence()) throw InvalidInput(Line(n) + ": 'dependencies' must be a list");
      for (const YAML::Node& d : n) {
        if (d.IsScalar()) {
          std::string s(Trim(ScalarOf(d, "a dependency")));
          ValidateCondaSpec(Line(d), s);
          conda.conda_packages.push_back(s);
          continue;
        }
        if (!d.IsMap() || d.size() != 1 || !d["pip"]) {
          throw InvalidInput(Line(d) +
                             ": a dependency must be a package spec or a 'pip:' list of packages");
        }
        YAML::Node pip = d["pip"];
        if (!pip.IsSequence()) throw InvalidInput(Line(d) + ": 'pip:' must be a list of packages");
        for (const YAML::Node& p : pip) {
          std::string entry(Trim(ScalarOf(p, "a pip package")));
          ValidatePipEntry(Line(p), entry);
          conda.pip_packages.push_back(entry);
        }
      }
    }
    if (YAML::Node n = root["variables"]; n && !n.IsNull()) {
      if (!n.IsMap()) throw InvalidInput(Line(n) + ": 'variables' must be a mapping");
      for (const auto& kv : n) {
        std::string var = ScalarOf(kv.first, "a variable name");
        ValidateEnvVarName(Line(kv.first), var);
        spec.environment_variables[var] = ScalarOf(kv.second, "a variable value");
      }
    }
  } catch (const YAML::Exception& e) {
    throw InvalidInput("conda environment file, line " + std::to_string(e.mark.line + 1) + ": " +
                       e.msg);
  }
  spec.name = name.empty() ? conda.name : std::string(name);
  if (!spec.name.empty()) ValidateName("environment name", spec.name);
  spec.conda_dependencies = std::move(conda);
  return spec;
}

json EnvSpec::ToJson() const {
  json conda = nullptr;
  if (conda_dependencies) {
    json deps = json::array();
    for (const std::string& c : conda_dependencies->conda_packages) deps.push_back(c);
    if (!conda_dependencies->pip_packages.empty()) {
      deps.push_back(json{{"pip", conda_dependencies->pip_packages}});
    }
    conda = json{{"name", conda_dependencies->name},
                 {"channels", conda_dependencies->channels},
                 {"dependencies", std::move(deps)}};
  }
  json vars = json::object();
  for (const auto& [k, v] : environment_variables) vars[k] = v;
  json docker = {
      {"enabled", docker_enabled},
      {"base_image", docker_base_image.empty() ? json(nullptr) : json(docker_base_image)}};
  // Only when set: specs stored before it existed keep comparing equal.
  if (!docker_base_image_registry.empty()) {
    docker["base_image_registry"] = {{"address", docker_base_image_registry}};
  }
  return json{
      {"name", name},
      {"version", version ? json(*version) : json(nullptr)},
      {"python",
       {{"user_managed_dependencies", user_managed_dependencies},
        {"interpreter_path", interpreter_path.empty() ? json(nullptr) : json(interpreter_path)},
        {"conda_dependencies", std::move(conda)}}},
      {"pip_requirements", pip_requirements ? json(*pip_requirements) : json(nullptr)},
      {"environment_variables", std::move(vars)},
      {"docker", std::move(docker)}};
}

}  // namespace trainyard
