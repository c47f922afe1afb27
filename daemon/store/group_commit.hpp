#pragma once
// Group commit of submits (issue 12, item 10): the jobs of submits that reach the store in
// the same turn of the event loop go into one transaction, committed (and with
// synchronous=FULL fsync'd) once; each submit is answered after that commit, so an
// acknowledged job is durable. While one group commits, the next one gathers.

#include "daemon/store/job_store.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

namespace jobman::daemon::store {

class GroupCommit {
public:
  GroupCommit(boost::asio::any_io_executor executor, JobStore& store);
  // Run once after each group's commit (the scheduler's queued()): true when it planned
  // (a slot was free, so a job of the group may have started).
  void after_commit(std::function<bool()> hook) { m_after_commit = std::move(hook); }
  struct Committed {
    Job job;              // as stored
    bool planned = false; // after_commit planned: re-read it for its state now
  };
  // Stores `job` (JobStore::insert's contract) with whatever else is queued in this turn,
  // resuming once the transaction has committed: the job as stored, or its own error
  // (a name taken), or the transaction's (nothing of the group stored).
  boost::asio::awaitable<Committed> insert(Job job, JobStore::ArgvFor argv_for);
  // Jobs of `uid` waiting for the next commit: the per-user limits count them as queued
  // (the check and the insert are no longer one step of the loop).
  int pending_of(std::uint32_t uid) const;
  // How many groups were committed and how many jobs they held (bench and tests).
  std::uint64_t groups() const { return m_groups; }
  std::uint64_t jobs() const { return m_jobs; }

private:
  struct Pending;
  void flush();

  static constexpr std::chrono::microseconds k_gather{1000}; // how long a group gathers
  static constexpr std::size_t k_max_group = 256;            // ... or until it has this many

  boost::asio::any_io_executor m_executor;
  std::function<bool()> m_after_commit;
  boost::asio::steady_timer m_gather;
  JobStore& m_store;
  std::vector<std::shared_ptr<Pending>> m_pending;
  bool m_flush_posted = false;
  std::uint64_t m_groups = 0, m_jobs = 0;
};

} // namespace jobman::daemon::store
