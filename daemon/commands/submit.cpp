#include "common/names.hpp"
#include "common/notify.hpp"
#include "common/platform_env.hpp"
#include "common/printable.hpp"
#include "common/size.hpp"
#include "daemon/backend/container_args.hpp"
#include "daemon/commands/command.hpp"
#include "daemon/commands/job_ref.hpp"
#include "daemon/commands/submit.hpp"

#include "common/platform_env.hpp"
#include "daemon/daemon.hpp"
#include "daemon/policy/submit_args.hpp"
#include "daemon/policy/submit_policy.hpp"
#include "daemon/scheduler/queue_plan.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <sys/statvfs.h>
#include <map>
#include <set>
#include <span>

namespace jobman::daemon::commands {

namespace {

constexpr std::size_t k_max_batch = 10000;
constexpr std::size_t k_max_dependencies = 1000;      // jobs one job waits for, arrays expanded
constexpr std::size_t k_max_array_dependencies = 100000; // ... and for all the jobs of one array
using policy::k_max_admin_priority;
using policy::read_submit_args;
using policy::SubmitArgs;

// The submitter's mounts, checked once per request: every job of a batch has the same
// submitter and templates, and each check forks a child (a 10,000-job batch forked 10,000).
// Awaited, off the daemon's thread: a path that hangs (NFS, the user's FUSE) holds this
// request only. The result is reported where build_job checks mounts.
using MountCheck = Result<std::vector<Mount>>;

policy::Submitter submitter_of(const CommandContext& ctx) {
  return {ctx.peer.uid, ctx.peer.gid, ctx.peer.user, ctx.peer.home, std::vector<std::uint32_t>(ctx.peer.groups.begin(), ctx.peer.groups.end())};
}

asio::awaitable<MountCheck> check_mounts(CommandContext& ctx) {
  // Named, then moved in: GCC 12 destroys a temporary passed by value inside co_await twice.
  std::vector<MountTemplate> templates = ctx.daemon.config.mounts;
  policy::Submitter submitter = submitter_of(ctx);
  auto checked = co_await policy::resolve_mounts_async(std::move(templates), std::move(submitter));
  co_return checked;
}

// The image's home and writable copies (images/image_home.hpp) of every image the
// requests name, probed once per new image; what cannot be resolved is left to build().
using Homes = std::map<std::string, images::ImageHome>;
asio::awaitable<Homes> homes_of(CommandContext& ctx, const policy::Catalogue& catalogue, const std::vector<SubmitArgs>& jobs) {
  // Copies of images no longer in the catalogue (removed, rebuilt) are deleted first.
  std::set<std::string> ids;
  for (const auto& image : catalogue.all) ids.insert(image.id);
  ctx.daemon.homes.prune(ids);
  Homes homes;
  for (const auto& s : jobs) {
    auto entry = policy::resolve_image(catalogue, s.request.image);
    if (!entry || homes.contains(entry->image.id)) continue;
    policy::ImageInfo image = entry->image;
    auto home = co_await ctx.daemon.homes.get(std::move(image));
    if (!home) throw Error(home.error().code, home.error().message);
    homes.emplace(entry->image.id, std::move(*home));
  }
  co_return homes;
}

// A request without -i runs images.default, or is refused saying so.
void apply_default_image(CommandContext& ctx, std::vector<SubmitArgs>& jobs) {
  const std::string& fallback = ctx.daemon.config.images.default_image;
  for (auto& s : jobs) {
    if (!s.request.image.empty()) continue;
    if (fallback.empty())
      throw Error(ErrorCode::InvalidArgument, "submit needs -i IMAGE: this platform has no default image (images.default); "
                                              "`jobman images` lists the catalogue");
    s.request.image = fallback;
    s.defaulted_image = true;
  }
}

// What the submitter should know: the default image used, what stays read-only.
json notes_for(const std::vector<SubmitArgs>& asked, const std::vector<Job>& jobs, const Homes& homes) {
  std::set<std::string> notes;
  for (std::size_t i = 0; i < jobs.size() && i < asked.size(); ++i) {
    if (asked[i].defaulted_image) notes.insert(fmt::format("no -i given: using the platform's default image {}", jobs[i].spec.image));
    if (auto home = homes.find(jobs[i].spec.image_id); home != homes.end())
      for (const auto& note : home->second.notes) notes.insert(fmt::format("image {}: {}", jobs[i].spec.image, note));
  }
  return json(std::vector<std::string>(notes.begin(), notes.end()));
}

// Validates one job of a submit. `batch_names` maps names of earlier jobs of the same
// batch to their 1-based index, which `--after` may refer to.
Job build(CommandContext& ctx, const policy::Catalogue& catalogue, const SubmitArgs& s, const std::map<std::string, std::size_t>& batch_names,
          const MountCheck& checked, const Homes& homes) {
  const Config& config = ctx.daemon.config;
  auto mounts = [&checked](const policy::Submitter&) { return checked; };
  auto home = [&homes](const std::string& id) -> const images::ImageHome* {
    auto it = homes.find(id);
    return it == homes.end() ? nullptr : &it->second;
  };
  // On Slurm the cluster's GPUs count, not this machine's: sbatch refuses what no node has.
  const int gpu_count = ctx.daemon.backend->queues_jobs() ? 1 << 20 : ctx.daemon.gpus.total();
  Job job = policy::build_job({config, catalogue, gpu_count, mounts, home}, submitter_of(ctx), s.request).value();

  const int max_priority = ctx.peer.admin ? k_max_admin_priority : scheduler::k_max_user_priority;
  if (s.priority > max_priority || s.priority < -scheduler::k_max_user_priority)
    throw Error(ErrorCode::InvalidArgument, fmt::format("--priority must be between {} and {}{}", -scheduler::k_max_user_priority, max_priority,
                                                        ctx.peer.admin ? "" : " (admins may go higher, ahead of other users)"));
  job.spec.priority = s.priority;
  if (s.retries > config.limits.max_retries)
    throw Error(ErrorCode::LimitExceeded, fmt::format("--retries {}: at most {} on this platform (limits.max_retries)", s.retries,
                                                      config.limits.max_retries));
  job.spec.retries = s.retries;
  job.held = s.hold;
  if (!s.notify.empty()) {
    if (config.notify.command.empty())
      throw Error(ErrorCode::InvalidArgument, "--notify: this platform has no notification hook (notify.command in jobman.json); ask the platform admin");
    const auto wanted = notify_states(s.notify);
    const bool any_allowed = std::any_of(wanted.begin(), wanted.end(), [&](JobState state) {
      return std::find(config.notify.states.begin(), config.notify.states.end(), to_string(state)) != config.notify.states.end();
    });
    if (!any_allowed)
      throw Error(ErrorCode::InvalidArgument, fmt::format("--notify {}: this platform notifies only on {} (notify.states)", join_notify_words(s.notify),
                                                          fmt::join(config.notify.states, ", ")));
    job.spec.notify = s.notify;
  }

  for (const auto& typed : s.after) {
    // [KIND:]JOB: a job name never holds ':'.
    AfterKind kind = AfterKind::Ok;
    std::string ref = typed;
    if (auto colon = typed.find(':'); colon != std::string::npos) {
      auto parsed = after_kind_from_string(std::string_view(typed).substr(0, colon));
      if (!parsed)
        throw Error(ErrorCode::InvalidArgument,
                    fmt::format("--after {}: '{}' is not a kind of dependency; use ok:JOB (it succeeded, the default), any:JOB "
                                "(it ended) or notok:JOB (it ended otherwise)",
                                escape_controls(std::string_view(typed).substr(0, 80)), escape_controls(std::string_view(typed).substr(0, std::min<std::size_t>(colon, 40)))));
      kind = *parsed;
      ref = typed.substr(colon + 1);
    }
    if (auto earlier = batch_names.find(ref); earlier != batch_names.end()) {
      job.spec.after.push_back({-static_cast<JobId>(earlier->second), kind});
      continue;
    }
    // A whole array: each of its elements (Slurm's afterok:ARRAY waits for all its tasks).
    for (const Job& dep : find_targets(ctx.daemon.store, ctx.peer, ref).jobs) {
      if (dep.uid != ctx.peer.uid)
        throw Error(ErrorCode::InvalidArgument, fmt::format("--after {}: job {} is {}'s; a job may only wait for your own jobs", ref, dep.id, dep.user));
      if (dependency_met(kind, dep.state) == false)
        throw Error(ErrorCode::InvalidArgument,
                    fmt::format("--after {}: job {} already ended {}{}", typed, dep.id, to_string(dep.state),
                                kind == AfterKind::NotOk ? " (notok: waits for it to end otherwise)" : ""));
      job.spec.after.push_back({dep.id, kind});
    }
  }
  // Arrays count each of their jobs: every one is a row the queue reads at each plan.
  if (job.spec.after.size() > k_max_dependencies)
    throw Error(ErrorCode::LimitExceeded, fmt::format("--after names {} jobs in all (an array counts each of its jobs); at most {}",
                                                      job.spec.after.size(), k_max_dependencies));
  return job;
}

void check_queue_room(CommandContext& ctx, std::size_t adding) {
  const int limit = ctx.daemon.config.limits.max_queued_per_user;
  const int queued = ctx.daemon.store.count_queued(ctx.peer.uid) + ctx.daemon.inserts.pending_of(ctx.peer.uid);
  if (queued + static_cast<std::int64_t>(adding) > limit)
    throw Error(ErrorCode::LimitExceeded, fmt::format("you have {} queued job{}; {} more would pass the limit of {} "
                                                      "(limits.max_queued_per_user); wait for some to start or delete some",
                                                      queued, queued == 1 ? "" : "s", adding, limit));
}

// limits.max_active_per_user: queued and running jobs together (CHAIMELEON: one).
void check_active_room(CommandContext& ctx, std::size_t adding) {
  const int limit = ctx.daemon.config.limits.max_active_per_user;
  if (limit <= 0) return;
  const std::vector<JobId> active = ctx.daemon.store.active_ids(ctx.peer.uid);
  adding += static_cast<std::size_t>(ctx.daemon.inserts.pending_of(ctx.peer.uid)); // submitted, not yet committed
  if (static_cast<std::int64_t>(active.size() + adding) <= limit) return;
  std::string ids;
  for (std::size_t i = 0; i < active.size() && i < 20; ++i) ids += fmt::format("{}{}", i ? ", " : "", active[i]);
  if (active.size() > 20) ids += ", ...";
  throw Error(ErrorCode::LimitExceeded,
              fmt::format("you have {} active job{} (queued or running: {}); {} more would pass the limit of {} per user "
                          "(limits.max_active_per_user); wait for one to end or delete one",
                          active.size(), active.size() == 1 ? "" : "s", active.empty() ? "none" : ids, adding, limit));
}

asio::awaitable<std::shared_ptr<const policy::Catalogue>> catalogue_with(CommandContext& ctx, const std::vector<SubmitArgs>& jobs) {
  // Refresh once if an image is not in the cached catalogue: it may have just arrived.
  auto catalogue = co_await ctx.daemon.catalogue.get();
  for (const auto& s : jobs)
    if (auto found = policy::resolve_image(*catalogue, s.request.image); !found && found.error().code == ErrorCode::ImageNotFound)
      co_return co_await ctx.daemon.catalogue.get(true);
  co_return catalogue;
}

// Issue 9, V6: one user's stored args (twice: args and the argv) could fill the state
// disk at ~23 MB/s. Each user's rows are held to limits.max_stored_bytes_per_user, and no
// submit is taken when the state disk is below limits.min_free_disk.
void check_storage_room(CommandContext& ctx, std::span<const Job> jobs) {
  const auto& limits = ctx.daemon.config.limits;
  std::int64_t adding = 0;
  for (const Job& job : jobs) {
    // As stored: args and env as JSON, and the argv, which holds them again.
    std::int64_t spec_bytes = 0;
    for (const auto& arg : job.spec.args) spec_bytes += static_cast<std::int64_t>(arg.size()) + 3;
    for (const auto& [key, value] : job.spec.env) spec_bytes += static_cast<std::int64_t>(key.size() + value.size()) + 6;
    adding += 2 * spec_bytes + 4096; // and the forced flags
  }
  const std::int64_t stored = ctx.daemon.store.stored_bytes(ctx.peer.uid);
  if (stored + adding > limits.max_stored_bytes_per_user)
    throw Error(ErrorCode::LimitExceeded,
                fmt::format("your jobs' arguments and environment take {} in jobmand's database and this would add {}, past the {} "
                            "each user may have (limits.max_stored_bytes_per_user); ended jobs are purged after retention.days ({}) "
                            "or by an admin's 'jobman cleanup'",
                            format_size(stored), format_size(adding), format_size(limits.max_stored_bytes_per_user),
                            ctx.daemon.config.retention.days));
  // Logs: running jobs share what is left (the scheduler cuts their middles); none is
  // taken once the user's ended jobs' logs have reached the total.
  const std::int64_t logged = ctx.daemon.store.log_bytes(ctx.peer.uid);
  if (logged >= limits.max_log_bytes_per_user)
    throw Error(ErrorCode::LimitExceeded,
                fmt::format("your jobs' logs take {} on jobmand's state disk, the most each user may have "
                            "(limits.max_log_bytes_per_user, {}); ended jobs and their logs are purged after retention.days ({}) "
                            "or by an admin's 'jobman cleanup'",
                            format_size(logged), format_size(limits.max_log_bytes_per_user), ctx.daemon.config.retention.days));
  struct statvfs fs {};
  if (limits.min_free_disk > 0 && ::statvfs(ctx.daemon.config.state_dir.c_str(), &fs) == 0) {
    const auto free_bytes = static_cast<std::int64_t>(fs.f_bavail) * static_cast<std::int64_t>(fs.f_frsize);
    if (free_bytes < limits.min_free_disk)
      throw Error(ErrorCode::Unavailable, fmt::format("jobmand's state disk has {} free, below limits.min_free_disk ({}); no jobs are "
                                                      "taken until the platform admin frees space",
                                                      format_size(free_bytes), format_size(limits.min_free_disk)));
  }
}

void check_not_shutting_down(CommandContext& ctx) {
  if (ctx.daemon.scheduler.is_shutting_down()) throw Error(ErrorCode::Unavailable, "jobmand is shutting down; submit again in a moment");
}

} // namespace

asio::awaitable<json> submit(CommandContext& ctx) {
  SubmitArgs asked = read_submit_args(ctx.args);
  const bool dry_run = ctx.args.optional_bool("dry_run");
  const std::string array_text = ctx.args.optional_string("array");
  ctx.args.finish();
  std::optional<ArraySpec> array;
  if (!array_text.empty()) { // "": no array
    auto parsed = parse_array_spec(array_text, ctx.daemon.config.limits.max_array_size);
    if (auto* error = std::get_if<std::string>(&parsed)) throw Error(ErrorCode::InvalidArgument, *error);
    array = std::get<ArraySpec>(std::move(parsed));
  }
  co_return co_await submit_one(ctx, std::move(asked), dry_run, {}, array ? &*array : nullptr);
}

namespace {
// An array's elements from its built job: each with its index, {index} in its args.
std::vector<Job> array_elements_of(const Job& job, const ArraySpec& array) {
  std::vector<Job> elements;
  elements.reserve(array.indices.size());
  for (int index : array.indices) {
    Job e = job;
    e.array = Job::ArrayPart{0, index, array.limit, static_cast<int>(array.indices.size())};
    for (auto& arg : e.spec.args) arg = with_index(arg, index);
    elements.push_back(std::move(e));
  }
  return elements;
}

json array_reply(const std::vector<Job>& elements, const ArraySpec& array) {
  std::vector<int> indices;
  json ids = json::array();
  for (const auto& e : elements) {
    indices.push_back(e.array->index);
    ids.push_back(e.id);
  }
  return json{{"id", elements.front().array->id}, {"count", elements.size()}, {"indices", format_indices(indices)}, {"limit", array.limit},
              {"ids", ids}};
}
} // namespace

asio::awaitable<json> submit_one(CommandContext& ctx, policy::SubmitArgs asked, bool dry_run, const std::function<void(Job&)>& adjust,
                                 const ArraySpec* array) {
  std::vector<SubmitArgs> one{std::move(asked)};
  check_not_shutting_down(ctx);
  apply_default_image(ctx, one);
  auto catalogue = co_await catalogue_with(ctx, one);
  const Homes homes = co_await homes_of(ctx, *catalogue, one);
  const MountCheck checked = co_await check_mounts(ctx);
  check_not_shutting_down(ctx);
  Job job = build(ctx, *catalogue, one.front(), {}, checked, homes);
  if (adjust) adjust(job);
  const json notes = notes_for(one, {job}, homes);
  const Config& config = ctx.daemon.config;
  const backend::Backend& backend = *ctx.daemon.backend;
  auto argv_for = [&backend](const Job& j) { return backend.engine_argv(j); };
  std::vector<Job> elements;
  if (array) {
    elements = array_elements_of(job, *array);
    job = elements.front(); // what a dry run shows
  }
  if (dry_run) {
    if (job.spec.name.empty()) job.spec.name = "(assigned at submit)";
    job.instance = ctx.daemon.store.instance();
    // The devices it would get if it started now (they are picked when it starts).
    const int gpus = job.spec.resources.gpus;
    job.gpu_devices = ctx.daemon.gpus.peek(gpus).value_or(std::vector<std::string>(static_cast<std::size_t>(gpus), "?"));
    job.container = container_name(job.instance, 0);
    job.argv = argv_for(job);
    json reply{{"dry_run", true}, {"job", protocol::job_to_json(job)}, {"notes", notes}};
    reply["platform_env"] = protocol::platform_env_to_json(resolve_platform_env(config, job)); // secrets as ***
    if (json described = backend.describe(job); !described.is_null()) reply["backend"] = std::move(described);
    if (array) reply["array"] = array_reply(elements, *array);
    co_return reply;
  }
  if (array) {
    if (elements.size() * job.spec.after.size() > k_max_array_dependencies)
      throw Error(ErrorCode::LimitExceeded,
                  fmt::format("--array of {} jobs, each --after {} jobs: {} waits in all; at most {} (wait for fewer jobs, or for "
                              "a job that waits for them)",
                              elements.size(), job.spec.after.size(), elements.size() * job.spec.after.size(), k_max_array_dependencies));
    check_queue_room(ctx, elements.size());
    check_active_room(ctx, elements.size());
    check_storage_room(ctx, elements);
    auto inserted = ctx.daemon.store.insert_array(std::move(elements), argv_for);
    ctx.daemon.scheduler.queued(); // stored: whatever happens next, the reply says so
    std::optional<Job> first;
    try {
      first = ctx.daemon.store.get(inserted.front().id);
    } catch (const std::exception&) {
    }
    co_return json{{"job", protocol::job_to_json(first.value_or(inserted.front()))}, {"array", array_reply(inserted, *array)}, {"notes", notes}};
  }
  check_queue_room(ctx, 1);
  check_active_room(ctx, 1);
  check_storage_room(ctx, {&job, 1});
  // With the other submits of this turn, in one commit; answered once it is on disk.
  // The group's commit also plans the queue once (GroupCommit's after_commit): a job whose
  // client left meanwhile is stored and scheduled all the same.
  store::JobStore::ArgvFor store_argv = argv_for; // named, then moved in (GCC 12)
  store::GroupCommit::Committed committed = co_await ctx.daemon.inserts.insert(std::move(job), std::move(store_argv));
  Job queued = std::move(committed.job);
  std::optional<Job> now;
  if (committed.planned) {
    try {
      now = ctx.daemon.store.get(queued.id); // STARTING already, if a slot was free
    } catch (const std::exception&) {
    }
  }
  co_return json{{"job", protocol::job_to_json(now.value_or(queued))}, {"notes", notes}};
}

asio::awaitable<json> submit_batch(CommandContext& ctx) {
  std::vector<json> items = ctx.args.required_object_list("jobs", k_max_batch);
  const bool dry_run = ctx.args.optional_bool("dry_run");
  ctx.args.finish();
  check_not_shutting_down(ctx);
  std::vector<SubmitArgs> requests;
  for (std::size_t i = 0; i < items.size(); ++i) {
    try {
      protocol::Args args(items[i], "submit_batch");
      requests.push_back(read_submit_args(args));
      args.finish();
    } catch (const Error& e) {
      throw Error(e.code(), fmt::format("job {} of {}: {}", i + 1, items.size(), e.what()));
    }
  }
  apply_default_image(ctx, requests);
  auto catalogue = co_await catalogue_with(ctx, requests);
  const Homes homes = co_await homes_of(ctx, *catalogue, requests);
  // All validated before anything is stored: the batch is queued whole or not at all.
  std::vector<Job> jobs;
  std::map<std::string, std::size_t> names;
  const MountCheck checked = co_await check_mounts(ctx);
  check_not_shutting_down(ctx);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    try {
      jobs.push_back(build(ctx, *catalogue, requests[i], names, checked, homes));
      const std::string& name = requests[i].request.name;
      if (!name.empty() && !names.emplace(name, i + 1).second)
        throw Error(ErrorCode::Conflict, fmt::format("the name '{}' is used twice in this batch", name));
      if (!name.empty() && !ctx.daemon.store.find_by_name(name, ctx.peer.uid).empty())
        throw Error(ErrorCode::Conflict, fmt::format("you already have a job named '{}'", name));
    } catch (const Error& e) {
      throw Error(e.code(), fmt::format("job {} of {}: {}", i + 1, requests.size(), e.what()));
    }
  }
  check_queue_room(ctx, jobs.size());
  check_active_room(ctx, jobs.size());
  const json notes = notes_for(requests, jobs, homes);
  if (dry_run) co_return json{{"dry_run", true}, {"count", jobs.size()}, {"notes", notes}};
  check_storage_room(ctx, jobs);
  const Config& config = ctx.daemon.config;
  const backend::Backend& backend = *ctx.daemon.backend;
  auto inserted = ctx.daemon.store.insert_batch(std::move(jobs), [&backend](const Job& j) { return backend.engine_argv(j); });
  ctx.daemon.scheduler.queued(); // stored: whatever happens next, the reply says so
  json ids = json::array(), names_out = json::array();
  for (const auto& job : inserted) {
    ids.push_back(job.id);
    names_out.push_back(job.spec.name);
  }
  co_return json{{"ids", ids}, {"names", names_out}, {"notes", notes}};
}

} // namespace jobman::daemon::commands
