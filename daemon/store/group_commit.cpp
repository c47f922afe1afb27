#include "daemon/store/group_commit.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace jobman::daemon::store {

namespace asio = boost::asio;

struct GroupCommit::Pending {
  explicit Pending(asio::any_io_executor executor) : done(std::move(executor), asio::steady_timer::time_point::max()) {}
  Job job;
  JobStore::ArgvFor argv_for;
  asio::steady_timer done; // cancelled by flush() once `result` is set
  std::optional<JobStore::Inserted> result;
  bool planned = false;
};

GroupCommit::GroupCommit(asio::any_io_executor executor, JobStore& store)
  : m_executor(executor), m_store(store), m_gather(std::move(executor)) {}

asio::awaitable<GroupCommit::Committed> GroupCommit::insert(Job job, JobStore::ArgvFor argv_for) {
  auto pending = std::make_shared<Pending>(m_executor);
  pending->job = std::move(job);
  pending->argv_for = std::move(argv_for);
  m_pending.push_back(pending);
  if (m_pending.size() >= k_max_group) {
    m_gather.cancel(); // a full group goes at once
  } else if (!m_flush_posted) {
    // A moment for the submits already on their way to join: every other connection's
    // request is served meanwhile (the wait is on the loop, not in it).
    m_flush_posted = true;
    m_gather.expires_after(k_gather);
    m_gather.async_wait([this](const boost::system::error_code&) { flush(); });
  }
  boost::system::error_code ec;
  co_await pending->done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  // Woken without a result: the request was cancelled (its client left). The job is still
  // stored with its group; nobody is told.
  if (!pending->result) throw boost::system::system_error(asio::error::operation_aborted);
  if (auto* error = std::get_if<std::exception_ptr>(&*pending->result)) std::rethrow_exception(*error);
  co_return Committed{std::get<Job>(std::move(*pending->result)), pending->planned};
}

int GroupCommit::pending_of(std::uint32_t uid) const {
  int n = 0;
  for (const auto& p : m_pending)
    if (p->job.uid == uid) ++n;
  return n;
}

void GroupCommit::flush() {
  m_flush_posted = false;
  std::vector<std::shared_ptr<Pending>> group;
  group.swap(m_pending);
  if (group.empty()) return;
  std::vector<std::pair<Job, JobStore::ArgvFor>> jobs;
  jobs.reserve(group.size());
  for (auto& p : group) jobs.emplace_back(std::move(p->job), std::move(p->argv_for));
  std::vector<JobStore::Inserted> results;
  try {
    results = m_store.insert_group(std::move(jobs));
  } catch (...) {
    const std::exception_ptr error = std::current_exception();
    for (auto& p : group) {
      p->result = error;
      p->done.cancel();
    }
    return;
  }
  ++m_groups;
  m_jobs += group.size();
  bool planned = false;
  if (m_after_commit) {
    try {
      planned = m_after_commit();
    } catch (const std::exception&) { // the next end or submit plans again
    }
  }
  for (std::size_t i = 0; i < group.size(); ++i) {
    group[i]->result = std::move(results[i]);
    group[i]->planned = planned;
    group[i]->done.cancel();
  }
}

} // namespace jobman::daemon::store
