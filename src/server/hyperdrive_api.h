// The REST route of HyperDrive sweeps (docs/REST.md, "HyperDrive"), plugged into Api through
// ApiContext::extensions like the web services' routes:
//   POST /api/v1/experiments/{name}/hyperdrive   create a sweep -> 201 parent run object
// Everything else about a sweep uses the ordinary run routes (the parent is a run of kind
// "hyperdrive": status, children, metrics, cancel, logs).
//
// ApiRunSubmitter gives the sweep controller the server's own request path for creating and
// canceling runs, so a child is validated, snapshotted and scheduled exactly like a run a
// client submits (on whatever compute target its config names).
#pragma once

#include <functional>
#include <string>

#include "hyperdrive/sweep_controller.h"
#include "net/http_types.h"
#include "runner/submission.h"

namespace trainyard {

class ApiRunSubmitter : public hyperdrive::RunSubmitter {
 public:
  using Handler = std::function<void(HttpRequest&, HttpResponse&)>;
  // `handler` is the server's request handler (Api::Handle); `token` its bearer token.
  ApiRunSubmitter(Handler handler, std::string token)
      : handler_(std::move(handler)), token_(std::move(token)) {}
  Json CreateRun(const std::string& experiment, const Json& body) override;
  void CancelRun(const std::string& run_id) override;

 private:
  HttpResponse Call(const std::string& method, const std::string& target, std::string body);
  Handler handler_;
  std::string token_;
};

// Handles the request when it is a HyperDrive route; returns false otherwise. The child run
// config is validated (source directory, script, environment, compute target) before the
// sweep is created.
bool HandleHyperDriveRoute(hyperdrive::SweepController& sweeps, BlobStore& blobs,
                           const SubmissionLimits& limits, HttpRequest& req, HttpResponse& res);

}  // namespace trainyard
