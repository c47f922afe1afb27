#include "daemon/commands/job_ref.hpp"

#include "common/errors.hpp"
#include "common/names.hpp"

#include <fmt/format.h>

namespace jobman::daemon::commands {

Job find_job(const store::JobStore& store, const server::PeerIdentity& peer, const std::string& reference) {
  auto not_found = [&] {
    return Error(ErrorCode::JobNotFound, fmt::format("no job '{}'{}; `jobman list` shows your jobs", reference, peer.admin ? "" : " of yours"));
  };
  if (reference.empty()) throw Error(ErrorCode::InvalidArgument, "job reference is empty; give a job name or id");
  if (is_job_id(reference)) {
    auto job = store.get_listed(std::stoll(reference));
    if (!job || (!peer.admin && job->uid != peer.uid)) throw not_found();
    return *job;
  }
  if (auto problem = job_name_problem(reference)) throw Error(ErrorCode::InvalidArgument, *problem);
  auto jobs = store.find_by_name(reference, peer.admin ? std::nullopt : std::optional<std::uint32_t>(peer.uid));
  if (jobs.empty()) throw not_found();
  if (jobs.size() > 1) {
    // Only admins can see several users' jobs of one name; prefer their own.
    for (const auto& job : jobs)
      if (job.uid == peer.uid) return job;
    std::string which;
    for (const auto& job : jobs) which += fmt::format("{}{} ({})", which.empty() ? "" : ", ", job.id, job.user);
    throw Error(ErrorCode::Ambiguous, fmt::format("several users have a job named '{}': {}; use the id", reference, which));
  }
  return jobs.front();
}

} // namespace jobman::daemon::commands
