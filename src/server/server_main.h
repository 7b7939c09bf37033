// `trainyard server`: runs a workspace server in the foreground until SIGTERM/SIGINT.
#pragma once

#include <cstdint>
#include <string>

namespace trainyard {

struct ServerOptions {
  std::string data_dir;  // the workspace data directory (created if absent)
  std::string host = "127.0.0.1";
  int port = -1;                // -1: the port in config.json's server_url, else 0 (any free port)
  int max_concurrent_runs = 0;  // 0 = number of cores
  std::string name;             // workspace name when creating a new config
  // Local agents run HTTP-only with this node cache instead of sharing the data dir
  // (--agent-node-dir; what a remote node does, on this machine).
  std::string agent_node_dir;
  std::string agent_user;  // --agent-user: agents (and scripts) run as this account
  // The workspace's Slurm cluster (the `slurm` compute target). Given once: remembered in
  // <data>/slurm.json for later starts. "" = not given.
  std::string slurm_conf;      // SLURM_CONF for the Slurm commands
  std::string slurm_bin_dir;   // where sbatch/squeue/sinfo/scancel are (else PATH)
  std::string slurm_vm_sizes;  // vm-size map file (docs/REST.md "Slurm")
  // --containers-config FILE: podman and registry settings (env/container_runtime.h);
  // remembered in <data>/containers.json. "" = not given.
  std::string containers_config;
};

int RunServer(const ServerOptions& opts);

}  // namespace trainyard
