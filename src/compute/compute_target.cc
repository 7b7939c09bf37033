#include "compute/compute_target.h"

#include <filesystem>

#include "common/error.h"

namespace trainyard {

// The built-in kinds; each lives in its own file (local_target.cc, ssh_target.cc, ...).
void RegisterLocalComputeTarget(ComputeTargetRegistry& registry);
void RegisterSshComputeTarget(ComputeTargetRegistry& registry);
void RegisterSlurmComputeTarget(ComputeTargetRegistry& registry);

ComputeTargetRegistry::ComputeTargetRegistry() {
  RegisterLocalComputeTarget(*this);
  RegisterSshComputeTarget(*this);
  RegisterSlurmComputeTarget(*this);
}

ComputeTargetRegistry& ComputeTargetRegistry::Instance() {
  static ComputeTargetRegistry registry;
  return registry;
}

void ComputeTargetRegistry::Register(ComputeTargetKind kind) {
  std::string name = kind.kind;
  kinds_[name] = std::move(kind);
}

const ComputeTargetKind* ComputeTargetRegistry::Find(const std::string& kind) const {
  auto it = kinds_.find(kind);
  return it == kinds_.end() ? nullptr : &it->second;
}

std::vector<std::string> ComputeTargetRegistry::Kinds() const {
  std::vector<std::string> out;
  for (auto& [k, v] : kinds_) out.push_back(k);
  return out;
}

std::string ComputeTargetDir(const std::string& data_dir, const std::string& name) {
  return (std::filesystem::path(data_dir) / "compute" / name).string();
}

}  // namespace trainyard
