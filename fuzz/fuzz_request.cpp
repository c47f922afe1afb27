// A request frame as a client sends it: parse_request (frame size, nesting, id, op, args),
// then the op's args read as its command reads them, and for submit and submit_batch the
// validation a job gets (read_submit_args, build_job) and the argv and reply built from it.
// Error is what the server answers a bad request with; anything else escaping is a bug
// (the server would answer INTERNAL, or crash).

#include "common/duration.hpp"
#include "common/errors.hpp"
#include "common/job.hpp"
#include "common/names.hpp"
#include "common/protocol.hpp"
#include "daemon/backend/container_args.hpp"
#include "daemon/policy/submit_args.hpp"
#include "daemon/policy/submit_policy.hpp"
#include "fuzz/fixtures.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace {

using namespace jobman;
using jobman::fuzz::expect;
using protocol::json;
namespace op = protocol::op;
namespace policy = daemon::policy;

const policy::Submitter k_submitter{1000, 1000, "alice", "/home/alice", {1000, 27}};

// What find_job checks before it asks the store: an id must fit an int64 (std::stoll).
void check_job_ref(const std::string& reference) {
  if (reference.empty()) return;
  if (is_job_id(reference)) {
    expect(std::stoll(reference) >= 0, "a job id is not negative");
    return;
  }
  (void)job_name_problem(reference);
}

void validate(const policy::SubmitArgs& s) {
  const Config& config = fuzz::fixed_config();
  auto mounts = [](const policy::Submitter& who) -> Result<std::vector<Mount>> {
    return std::vector<Mount>{{"/home/" + who.user + "/datasets", "/data", true, {}}};
  };
  Job job = policy::build_job({config, fuzz::fixed_catalogue(), 2, mounts}, k_submitter, s.request).value();

  const Flavor* flavor = config.find_flavor(job.spec.flavor);
  expect(flavor != nullptr, "a built job has one of the config's flavors");
  expect(job.spec.resources.time_limit > 0 && job.spec.resources.time_limit <= flavor->max_time.count(),
         "a built job's time limit is positive and within its flavor's");
  expect(job.spec.resources.gpus >= 0 && job.spec.resources.gpus <= flavor->gpus, "a built job's GPUs are within its flavor's");
  expect(job.spec.image_id.rfind("sha256:", 0) == 0, "a built job is pinned to an image id");
  expect(job.spec.name.empty() || !job_name_problem(job.spec.name), "a built job's name is valid");
  for (const auto& [key, value] : job.spec.env)
    expect(is_valid_env_name(key) && !policy::reserved_env_problem(key) && value.find('\0') == std::string::npos,
           "a built job's environment names are valid and not reserved");
  for (const auto& arg : job.spec.args) expect(arg.find('\0') == std::string::npos, "a built job's args hold no NUL");
  expect(!job.spec.replace_entrypoint || (!job.spec.args.empty() && !job.spec.args.front().empty()),
         "a job that replaces the entrypoint has a command");

  // What the daemon does next with a valid job (a dry run): the engine argv and the reply.
  job.spec.priority = s.priority;
  job.instance = "0123456789ab";
  job.container = container_name(job.instance, 0);
  job.argv = daemon::backend::container_argv(config, job);
  expect(!job.argv.empty() && job.argv.front() == config.engine.binary, "the argv starts with the engine");
  const std::string reply = protocol::encode_result(1, json{{"dry_run", true}, {"job", protocol::job_to_json(job)}});
  expect(!reply.empty() && reply.back() == '\n' && reply.find('\n') == reply.size() - 1, "a reply is one line");
}

void serve(const protocol::Request& request) {
  protocol::Args args(request.args, request.op);
  const std::string_view name = request.op;
  if (name == op::hello) {
    (void)args.optional_int("version", 0, 0, 1'000'000);
    (void)args.optional_string("client");
    args.finish();
  } else if (name == op::submit) {
    policy::SubmitArgs s = policy::read_submit_args(args);
    (void)args.optional_bool("dry_run");
    args.finish();
    expect(s.after.size() <= policy::k_max_after, "--after is bounded");
    for (const auto& ref : s.after) check_job_ref(ref);
    validate(s);
  } else if (name == op::submit_batch) {
    std::vector<json> items = args.required_object_list("jobs", 10000);
    (void)args.optional_bool("dry_run");
    args.finish();
    std::vector<policy::SubmitArgs> jobs;
    for (const json& item : items) {
      protocol::Args job_args(item, "submit_batch");
      jobs.push_back(policy::read_submit_args(job_args));
      job_args.finish();
    }
    for (const auto& s : jobs) validate(s);
  } else if (name == op::list) {
    (void)args.optional_bool("all_users");
    const std::string state = args.optional_string("state");
    const auto limit = args.optional_int("limit", 50, 1, 10000);
    (void)args.optional_int("before", 0, 0, std::numeric_limits<std::int64_t>::max());
    args.finish();
    expect(limit >= 1 && limit <= 10000, "optional_int keeps to its range");
    if (auto state_value = job_state_from_string(state)) expect(to_string(*state_value) == state, "job states round-trip");
  } else if (name == op::details || name == op::wait) {
    const std::string reference = args.required_string("job");
    args.finish();
    check_job_ref(reference);
  } else if (name == op::logs) {
    const std::string reference = args.required_string("job");
    (void)args.optional_bool("follow");
    (void)args.optional_int("tail", 0, 0, 100'000'000);
    args.finish();
    check_job_ref(reference);
  } else if (name == op::remove) {
    const std::string reference = args.optional_string("job");
    (void)args.optional_bool("all");
    args.finish();
    check_job_ref(reference);
  } else if (name == op::image_details) {
    const std::string reference = args.required_string("image");
    args.finish();
    (void)policy::resolve_image(fuzz::fixed_catalogue(), reference);
  } else if (name == op::images) {
    (void)args.optional_bool("refresh", true);
    args.finish();
  } else if (name == op::queue || name == op::resources_flavors) {
    args.finish();
  } else if (name == op::cleanup) {
    const std::string older_than = args.optional_string("older_than");
    (void)args.optional_bool("dry_run");
    args.finish();
    if (!older_than.empty()) (void)parse_duration(older_than);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view frame(reinterpret_cast<const char*>(data), size);
  std::int64_t id = -1;
  try {
    const protocol::Request request = protocol::parse_request(frame, &id);
    expect(id == request.id, "parse_request reports the id it parsed");
    expect(request.args.is_object(), "a request's args are an object");
    serve(request);
  } catch (const Error&) {
    // The server answers these as the request's error.
  }
  return 0;
}
