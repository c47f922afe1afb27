#pragma once
// Finding the job a user means by `-j`: an id or a name, among the jobs they may see.

#include "common/job.hpp"
#include "daemon/server/peer_identity.hpp"
#include "daemon/store/job_store.hpp"

#include <string>

namespace jobman::daemon::commands {

// Resolves `reference` (id or name) to a listed job `peer` may see: their own, or any for
// admins. Another user's job is reported as not found, so ids reveal nothing.
Job find_job(const store::JobStore& store, const server::PeerIdentity& peer, const std::string& reference);

} // namespace jobman::daemon::commands
