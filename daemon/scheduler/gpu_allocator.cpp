#include "daemon/scheduler/gpu_allocator.hpp"

#include <algorithm>

namespace jobman::daemon::scheduler {

GpuAllocator::GpuAllocator(std::vector<std::string> devices) : m_devices(std::move(devices)) {}

std::optional<std::vector<std::string>> GpuAllocator::peek(int count) const {
  if (count <= 0) return std::vector<std::string>{};
  if (count > free_count()) return std::nullopt;
  std::vector<std::string> picked;
  for (const auto& device : m_devices) {
    if (static_cast<int>(picked.size()) == count) break;
    if (!m_taken.contains(device)) picked.push_back(device);
  }
  return picked;
}

std::optional<std::vector<std::string>> GpuAllocator::allocate(int count) {
  auto picked = peek(count);
  if (picked) m_taken.insert(picked->begin(), picked->end());
  return picked;
}

void GpuAllocator::reserve(const std::vector<std::string>& devices) {
  for (const auto& device : devices)
    if (std::find(m_devices.begin(), m_devices.end(), device) != m_devices.end()) m_taken.insert(device);
}

void GpuAllocator::release(const std::vector<std::string>& devices) {
  for (const auto& device : devices) m_taken.erase(device);
}

std::vector<std::string> parse_nvidia_smi_list(std::string_view output) {
  std::vector<std::string> devices;
  while (!output.empty()) {
    auto nl = output.find('\n');
    std::string_view line = output.substr(0, nl);
    output = nl == std::string_view::npos ? std::string_view{} : output.substr(nl + 1);
    if (line.rfind("GPU ", 0) != 0) continue;
    auto colon = line.find(':');
    std::string_view index = line.substr(4, colon == std::string_view::npos ? std::string_view::npos : colon - 4);
    if (!index.empty() && index.find_first_not_of("0123456789") == std::string_view::npos) devices.emplace_back(index);
  }
  return devices;
}

} // namespace jobman::daemon::scheduler
