#pragma once
// Exclusive GPU allocation: a job holds its devices from STARTING until it ends.

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace jobman::daemon::scheduler {

class GpuAllocator {
public:
  explicit GpuAllocator(std::vector<std::string> devices = {});
  int total() const { return static_cast<int>(m_devices.size()); }
  int free_count() const { return total() - static_cast<int>(m_taken.size()); }
  // `count` free devices, in configured order, now taken; nothing if not enough are free.
  std::optional<std::vector<std::string>> allocate(int count);
  // What allocate(`count`) would give now, without taking anything.
  std::optional<std::vector<std::string>> peek(int count) const;
  // Marks `devices` taken (jobs re-adopted after a restart keep what they had).
  void reserve(const std::vector<std::string>& devices);
  void release(const std::vector<std::string>& devices);

private:
  std::vector<std::string> m_devices;
  std::set<std::string> m_taken;
};

// Device indices from `nvidia-smi -L` output ("GPU 0: NVIDIA A100 (UUID: GPU-...)").
std::vector<std::string> parse_nvidia_smi_list(std::string_view output);

} // namespace jobman::daemon::scheduler
