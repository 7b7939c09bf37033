// `trainyard serve --dir SERVICE_DIR`: the HTTP front of one web service. Started and
// supervised by the workspace server's ServiceManager; also runnable by hand.
//
// Reads SERVICE_DIR/serve.json (written by the server):
//   {"name", "host": "127.0.0.1", "port": N, "generation": G, "auth_enabled": bool,
//    "keys_file": path, "timeout_ms": 60000, "max_body_bytes": 104857600, "threads": 0,
//    "scorer": {...scorer.h...}, "swagger": {"input_example", "output_example"}|null}
// and reports to SERVICE_DIR/status.json: {"generation", "state": "Healthy"|"Failed",
// "error": {"message", "traceback"}|null, "pid", "port"}.
//
// Routes: GET / (probe: "Healthy"), GET /swagger.json, GET /metrics (Prometheus), POST /score
// (Bearer key when auth is on; JSON bodies only). Errors are {"message": ...} with 400, 401,
// 404, 405, 413, 415, 500, 503 or 504. Every answer carries x-request-id (the client's, or a
// new UUID) and x-ms-request-id.
//
// Signals: SIGHUP re-reads serve.json and the keys file. A changed scorer is started next to
// the serving one and swapped in atomically once ready; the old one finishes its requests and
// is released (no request is dropped). If the new scorer fails to start the old one keeps
// serving and status.json says Failed for the new generation. SIGTERM/SIGINT: stop accepting,
// finish queued requests, exit 0. With --watch-parent the front exits when its parent (the
// workspace server) goes away. Exit code 3 when the first scorer fails to start.
#pragma once

#include <string>

namespace trainyard::serve {

struct ServeOptions {
  std::string service_dir;
  bool watch_parent = false;
};

int RunServe(const ServeOptions& opts);

}  // namespace trainyard::serve
