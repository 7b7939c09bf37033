// REST routes of compute targets (docs/REST.md, "Compute targets"):
//   GET    /api/v1/compute-targets              list
//   GET    /api/v1/compute-targets/{name}       one, with its queue, slots and nodes
//   PUT    /api/v1/compute-targets/{name}       attach (validated, then provisioned in the
//                                               background: poll GET for progress)
//   DELETE /api/v1/compute-targets/{name}[?force=true]   detach
#pragma once

#include "compute/compute_service.h"
#include "net/http_types.h"

namespace trainyard {

// True when the request was a compute-target route (answered into `res`).
bool HandleComputeRoute(ComputeService& compute, HttpRequest& req, HttpResponse& res);

}  // namespace trainyard
