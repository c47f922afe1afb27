// What jobmand reads back from Slurm and from its batch script (daemon/backend/slurm_backend.hpp):
// squeue and sacct output, and the result file, all of which a broken or hostile cluster
// (or a node's root) can fill with anything. Each parser must never crash or hang, and:
//   - every job parsed has a numeric id and jobman's name prefix, and fields of bounded size;
//   - slurm_exit of any parsed record and result says at most one of lost / timed out /
//     cancelled / OOM / engine failure, and a message only of bounded size.

#include "daemon/backend/slurm_backend.hpp"
#include "fuzz/fixtures.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {
using namespace jobman;
using namespace jobman::daemon::backend;
using jobman::fuzz::expect;

constexpr std::string_view k_prefix = "jobman-0a1b2c3d-";

void check_jobs(const std::vector<SlurmJob>& jobs) {
  for (const auto& j : jobs) {
    expect(!j.id.empty() && j.id.find_first_not_of("0123456789") == std::string::npos, "a parsed job id is digits");
    expect(j.name.rfind(k_prefix, 0) == 0 && j.name.size() <= 200, "a parsed job has jobman's prefix and a bounded name");
    expect(j.state.size() <= 64 && j.reason.size() <= 200 && j.node.size() <= 256, "fields are bounded");
  }
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto queued = parse_squeue(text, k_prefix);
  check_jobs(queued);
  const auto accounted = parse_sacct(text, k_prefix);
  check_jobs(accounted);
  const auto result = parse_script_result(text);
  std::optional<SlurmJob> slurm;
  if (!queued.empty()) slurm = queued.front();
  else if (!accounted.empty()) slurm = accounted.front();
  const ContainerExit exit = slurm_exit(slurm, result, std::string(text.substr(0, 4096)));
  const int kinds = exit.lost + exit.timed_out + exit.cancelled + exit.oom_killed + exit.engine_failed;
  expect(kinds <= 1, "an end has one cause at most");
  expect(exit.message.size() <= 1024, "an end's message is bounded");
  return 0;
}
