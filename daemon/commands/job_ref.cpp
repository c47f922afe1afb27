#include "daemon/commands/job_ref.hpp"

#include "common/array_spec.hpp"
#include "common/errors.hpp"
#include "common/names.hpp"
#include "common/printable.hpp"

#include <fmt/format.h>

namespace jobman::daemon::commands {

namespace {

Error not_found(const server::PeerIdentity& peer, const std::string& reference) {
  return Error(ErrorCode::JobNotFound,
               fmt::format("no job '{}'{}; `jobman list` shows your jobs", escape_controls(reference), peer.admin ? "" : " of yours"));
}

// The array `id` as `peer` may see it: its listed elements; nothing if none.
std::optional<Targets> whole_array(const store::JobStore& store, const server::PeerIdentity& peer, JobId id) {
  auto elements = store.array_elements(id);
  if (elements.empty() || (!peer.admin && elements.front().uid != peer.uid)) return std::nullopt;
  return Targets{std::move(elements), id};
}

// An id or a name, whole arrays included.
Targets find_plain(const store::JobStore& store, const server::PeerIdentity& peer, const std::string& reference) {
  if (is_job_id(reference)) {
    const JobId id = std::stoll(reference);
    if (auto array = whole_array(store, peer, id)) return std::move(*array); // an array's id: the array
    auto job = store.get_listed(id);
    if (!job || (!peer.admin && job->uid != peer.uid)) throw not_found(peer, reference);
    return Targets{{*job}, std::nullopt};
  }
  if (auto problem = job_name_problem(reference)) throw Error(ErrorCode::InvalidArgument, *problem);
  const std::optional<std::uint32_t> only = peer.admin ? std::nullopt : std::optional<std::uint32_t>(peer.uid);
  auto jobs = store.find_by_name(reference, only);
  auto arrays = store.arrays_named(reference, only);
  if (jobs.empty() && arrays.empty()) throw not_found(peer, reference);
  // Only admins can see several users' jobs of one name; prefer their own.
  for (const auto& job : jobs)
    if (job.uid == peer.uid) return Targets{{job}, std::nullopt};
  for (const auto& [array, uid] : arrays)
    if (uid == peer.uid)
      if (auto found = whole_array(store, peer, array)) return std::move(*found);
  if (jobs.size() + arrays.size() > 1) {
    std::string which;
    for (const auto& job : jobs) which += fmt::format("{}{} ({})", which.empty() ? "" : ", ", job.id, job.user);
    for (const auto& [array, uid] : arrays) which += fmt::format("{}{} (an array, uid {})", which.empty() ? "" : ", ", array, uid);
    throw Error(ErrorCode::Ambiguous, fmt::format("several users have a job named '{}': {}; use the id", reference, which));
  }
  if (!jobs.empty()) return Targets{{jobs.front()}, std::nullopt};
  if (auto found = whole_array(store, peer, arrays.front().first)) return std::move(*found);
  throw not_found(peer, reference);
}

} // namespace

Targets find_targets(const store::JobStore& store, const server::PeerIdentity& peer, const std::string& reference) {
  if (reference.empty()) throw Error(ErrorCode::InvalidArgument, "job reference is empty; give a job name or id");
  // REF[N]: element N of array REF.
  if (reference.size() > 2 && reference.back() == ']') {
    const auto open = reference.rfind('[');
    const std::string base = open == std::string::npos ? "" : reference.substr(0, open);
    const std::string digits = open == std::string::npos ? "" : reference.substr(open + 1, reference.size() - open - 2);
    if (base.empty() || !is_job_id(digits) || digits.size() > 7)
      throw Error(ErrorCode::InvalidArgument,
                  fmt::format("'{}' is not a job reference: JOB[N] takes an array's id or name and an element's index, as seg[7]",
                              escape_controls(std::string_view(reference).substr(0, 80))));
    const int index = std::stoi(digits);
    Targets array = find_plain(store, peer, base);
    if (!array.array) {
      // An element's own id names its array too (as Slurm's 42_7 with 42 any of its tasks).
      const Job& job = array.jobs.front();
      if (!job.array) throw Error(ErrorCode::InvalidArgument, fmt::format("job {} ({}) is not an array: no element [{}]", job.id, job.spec.name, index));
      auto whole = whole_array(store, peer, job.array->id);
      if (!whole) throw not_found(peer, reference);
      array = std::move(*whole);
    }
    for (auto& job : array.jobs)
      if (job.array && job.array->index == index) return Targets{{std::move(job)}, std::nullopt};
    std::vector<int> indices;
    for (const auto& job : array.jobs) indices.push_back(job.array->index);
    throw Error(ErrorCode::JobNotFound, fmt::format("array {} has no listed element [{}]; its elements: [{}]", *array.array, index,
                                                    format_indices(indices)));
  }
  return find_plain(store, peer, reference);
}

protocol::json states_json(const store::ArraySummary& summary) {
  protocol::json states = protocol::json::object();
  for (const auto& [state, n] : summary.states) states[std::string(to_string(state))] = n;
  return states;
}

Job find_job(const store::JobStore& store, const server::PeerIdentity& peer, const std::string& reference) {
  Targets found = find_targets(store, peer, reference);
  if (found.array) {
    const Job& first = found.jobs.front();
    const std::string_view name = array_name(first.spec.name);
    throw Error(ErrorCode::InvalidArgument,
                fmt::format("'{}' is array {} ({} jobs); name one of its elements, as {}[{}] or {}[{}]", escape_controls(reference),
                            *found.array, found.jobs.size(), name, first.array->index, *found.array, first.array->index));
  }
  return std::move(found.jobs.front());
}

} // namespace jobman::daemon::commands
