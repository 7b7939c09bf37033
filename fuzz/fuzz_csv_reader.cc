// libFuzzer target: the delimited-text reader (src/data/csv_reader): RFC 4180 records, type
// inference, column conversion. The first byte chooses the options.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"
#include "data/csv_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  trainyard::DelimitedOptions o;
  const char seps[] = {',', ';', '\t', '|'};
  o.separator = seps[data[0] & 3];
  o.header = data[0] & 4;
  o.infer_column_types = data[0] & 8;
  o.max_rows = (data[0] & 16) ? 3 : 0;
  o.source_name = "fuzz.csv";
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    (void)trainyard::ParseDelimited(text, o);
    trainyard::DataTable t = trainyard::ReadDelimited(text, o);
    (void)t;
  } catch (const trainyard::Error&) {
  }
  (void)trainyard::ParseDatetime(text.substr(0, 64));
  (void)trainyard::IsMissingToken(text.substr(0, 16));
  return 0;
}
