#pragma once
// jobmand's components, wired together once at start. Commands reach everything through it.

#include "common/config.hpp"
#include "daemon/backend/backend.hpp"
#include "daemon/engine/command_runner.hpp"
#include "daemon/images/catalogue_cache.hpp"
#include "daemon/images/image_home.hpp"
#include "daemon/logs/log_watch.hpp"
#include "daemon/notify/notifier.hpp"
#include "daemon/scheduler/gpu_allocator.hpp"
#include "daemon/scheduler/job_watch.hpp"
#include "daemon/scheduler/scheduler.hpp"
#include "daemon/store/group_commit.hpp"
#include "daemon/store/job_store.hpp"
#include "daemon/store/report_thread.hpp"

#include <boost/asio/io_context.hpp>
#include <memory>

namespace jobman::daemon {

struct Daemon {
  Daemon(boost::asio::io_context& io, Config config);

  boost::asio::io_context& io;
  Config config;
  store::JobStore store;
  store::GroupCommit inserts; // submits' jobs, one commit per turn of the loop
  std::unique_ptr<engine::CommandRunner> runner;
  std::unique_ptr<backend::Backend> backend;
  notify::Notifier notifier; // the admin's hook at jobs' ends (config notify)
  scheduler::JobWatch watch;
  logs::LogWatch log_watch; // wakes `logs -f` on new output
  scheduler::GpuAllocator gpus;
  scheduler::Scheduler scheduler;
  images::CatalogueCache catalogue;
  images::ImageHomes homes;
  store::ReportThread reports; // stats, off the event loop
};

// jobmand's main(): parses `argv`, runs until SIGTERM/SIGINT, returns the exit code.
int daemon_main(int argc, char** argv);

} // namespace jobman::daemon
