// Who may do what (docs/REST.md, "Credentials"): the workspace token can do everything; a run
// token (store/run_tokens.h) only what a run needs:
//   - its own run and its descendants (child runs, AutoML iterations): everything but minting
//     tokens; its ancestors: reads and metric posts (run.parent.log); any other run: 403;
//   - child runs of those (POST /experiments/{e}/runs with such a parent_id);
//   - workspace reads the SDK makes inside a run: the workspace, experiments, models,
//     datasets, datastores, environments (GET);
//   - blobs: uploads (PUT, POST missing); downloads (GET) only of blobs the run is entitled
//     to: its snapshot, its dataset inputs, files of datasets pinned through it, artifacts of
//     its own runs, registered models' files;
//   - dataset reads (POST dataset-files / dataset-rows, dataset-definitions) that make the
//     server read nothing on its own disks but the blob store (no local-path sources);
//   - model registration from its runs (or from uploaded blobs).
// Not: other runs, listing runs, web services (keys!), datastore and environment changes,
// the environment cache, dataset registration. A run token is refused (401) once its run is
// in a terminal state.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "net/http_types.h"
#include "store/blob_store.h"
#include "store/metadata_store.h"

namespace trainyard {

class RunAccess {
 public:
  RunAccess(MetadataStore& store, BlobStore& blobs) : store_(store), blobs_(blobs) {}

  // Checks the Authorization header. Returns "" for the workspace token, the run id for a
  // valid run token; throws Unauthorized otherwise.
  std::string Authenticate(const std::string& authorization, const std::string& workspace_token);

  // For a run token's request (caller_run != ""): throws 403 Forbidden, before any work, when
  // the token may not make it. `segs` are the decoded path segments.
  void Authorize(const std::string& caller_run, const HttpRequest& req,
                 const std::vector<std::string>& segs);
  // After a run token's request was answered: remembers the blobs the answer entitled the run
  // to (the files of POST /dataset-files).
  void Observe(const std::string& caller_run, const std::vector<std::string>& segs,
               const HttpResponse& res);
  // For handlers writing to a run other than the one in the path (spool lines naming a child):
  // throws 403 unless the caller may write to `run_id`. No-op for the workspace token.
  void RequireRunWrite(const HttpRequest& req, const std::string& run_id);

  // POST /api/v1/runs/{id}/token (workspace token only): a new token for a non-terminal run,
  // for agents started by hand or by another machine. Returns true when it handled `req`.
  bool HandleRoute(const std::string& caller_run, HttpRequest& req, HttpResponse& res,
                   const std::vector<std::string>& segs);

 private:
  enum class Relation { kNone, kSelfOrDescendant, kAncestor };
  Relation RelationTo(const std::string& caller_run, const std::string& run_id);
  void RequireRun(const std::string& caller_run, const std::string& run_id, bool write);
  bool BlobAllowed(const std::string& caller_run, const std::string& sha);
  void CheckDefinitionReadsOnlyBlobs(const nlohmann::json& definition);

  MetadataStore& store_;
  BlobStore& blobs_;
  std::mutex mu_;
  std::map<std::string, std::string> token_runs_;        // token hash -> run id
  std::map<std::string, std::set<std::string>> family_;  // caller -> descendants seen
  std::map<std::string, std::set<std::string>> grants_;  // caller -> blobs
};

}  // namespace trainyard
