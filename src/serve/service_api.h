// The REST routes of web services (docs/REST.md, "Web services") over a ServiceManager:
//   POST   /api/v1/services                       deploy
//   GET    /api/v1/services                       list
//   GET    /api/v1/services/{name}                get
//   PATCH  /api/v1/services/{name}                update
//   DELETE /api/v1/services/{name}                delete
//   GET    /api/v1/services/{name}/logs?tail=N    the service log (text)
//   GET    /api/v1/services/{name}/keys           {"primaryKey", "secondaryKey"}
//   POST   /api/v1/services/{name}/regen_key      {"key": "Primary"|"Secondary"}
// Plain HttpRequest/HttpResponse; throws trainyard::Error like every API handler.
#pragma once

#include "net/http_types.h"
#include "serve/service_manager.h"

namespace trainyard {

// Handles the request when its path is under /api/v1/services; returns false otherwise.
bool HandleServiceRoute(ServiceManager& services, HttpRequest& req, HttpResponse& res);

}  // namespace trainyard
