#pragma once
// Finding the job a user means by `-j`: an id or a name, among the jobs they may see; or a
// job array as a whole (its id or name), or one of its elements (`42[7]`, `seg[7]`).

#include "common/job.hpp"
#include "common/protocol.hpp"
#include "daemon/server/peer_identity.hpp"
#include "daemon/store/job_store.hpp"

#include <optional>
#include <string>
#include <vector>

namespace jobman::daemon::commands {

// What a reference names: one job, or a whole array (`array` set: every listed element
// in `jobs`, by index).
struct Targets {
  std::vector<Job> jobs;
  std::optional<JobId> array;
};

// Resolves `reference` among the listed jobs `peer` may see (their own, or any for admins;
// another user's job is reported as not found, so ids reveal nothing): an id or a name; an
// array's id (its first element's) or name is the whole array; `REF[N]` is element N of
// the array REF names.
Targets find_targets(const store::JobStore& store, const server::PeerIdentity& peer, const std::string& reference);

// An array's listed jobs by state, as the wire has them: {"RUNNING": 4, "QUEUED": 96}.
protocol::json states_json(const store::ArraySummary& summary);

// The same for commands of one job: a whole array is refused, naming an element to give.
Job find_job(const store::JobStore& store, const server::PeerIdentity& peer, const std::string& reference);

} // namespace jobman::daemon::commands
