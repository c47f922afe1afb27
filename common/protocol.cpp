#include "common/protocol.hpp"

#include "common/job_json.hpp"
#include "common/json_depth.hpp"
#include "common/platform_env.hpp"

#include <fmt/format.h>
#include <limits>

namespace jobman::protocol {

namespace {
std::string dump(const json& value) {
  // Job output is not always valid UTF-8; replace bad bytes rather than fail.
  return value.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

json parse_frame(std::string_view frame, std::size_t max_bytes) {
  if (frame.size() > max_bytes)
    throw Error(ErrorCode::FrameTooLarge, fmt::format("frame of {} bytes exceeds the {} byte limit", frame.size(), max_bytes));
  if (auto problem = json_depth_problem(frame)) throw Error(ErrorCode::BadRequest, "frame: " + *problem);
  json value = json::parse(frame.begin(), frame.end(), nullptr, false);
  if (value.is_discarded()) throw Error(ErrorCode::BadRequest, "frame is not valid JSON");
  if (!value.is_object()) throw Error(ErrorCode::BadRequest, "frame must be a JSON object");
  return value;
}

std::int64_t frame_id(const json& value) {
  auto it = value.find("id");
  if (it == value.end() || !it->is_number_integer())
    throw Error(ErrorCode::BadRequest, "frame needs an integer \"id\"");
  return it->get<std::int64_t>();
}
} // namespace

Request parse_request(std::string_view frame, std::int64_t* id_out) {
  json value = parse_frame(frame, k_max_frame_bytes);
  Request request;
  request.id = frame_id(value);
  if (id_out) *id_out = request.id; // so errors found below can still answer this id
  auto op = value.find("op");
  if (op == value.end() || !op->is_string()) throw Error(ErrorCode::BadRequest, "request needs a string \"op\"");
  request.op = op->get<std::string>();
  if (auto args = value.find("args"); args != value.end()) {
    if (!args->is_object()) throw Error(ErrorCode::BadRequest, "request \"args\" must be an object");
    request.args = *args;
  }
  for (const auto& [key, _] : value.items())
    if (key != "id" && key != "op" && key != "args")
      throw Error(ErrorCode::BadRequest, fmt::format("unknown request field \"{}\"", key));
  return request;
}

std::string encode_request(const Request& request) {
  return dump(json{{"id", request.id}, {"op", request.op}, {"args", request.args}});
}

std::string encode_result(std::int64_t id, const json& result) {
  return dump(json{{"id", id}, {"ok", true}, {"result", result}});
}

std::string encode_error(std::int64_t id, const ErrorInfo& error) {
  return dump(json{{"id", id}, {"ok", false}, {"error", {{"code", to_string(error.code)}, {"message", error.message}}}});
}

std::string encode_event(std::int64_t id, const json& event) { return dump(json{{"id", id}, {"event", event}}); }

Reply parse_reply(std::string_view frame) {
  json value = parse_frame(frame, k_max_reply_bytes);
  Reply reply;
  reply.id = frame_id(value);
  if (auto event = value.find("event"); event != value.end()) {
    reply.kind = Reply::Kind::Event;
    reply.body = *event;
    return reply;
  }
  auto ok = value.find("ok");
  if (ok == value.end() || !ok->is_boolean()) throw Error(ErrorCode::BadRequest, "reply needs a boolean \"ok\" or an \"event\"");
  if (ok->get<bool>()) {
    reply.kind = Reply::Kind::Result;
    reply.body = value.value("result", json::object());
    return reply;
  }
  reply.kind = Reply::Kind::Error;
  const json error = value.value("error", json::object());
  if (!error.is_object()) throw Error(ErrorCode::BadRequest, "reply \"error\" must be an object");
  reply.error.code = error_code_from_string(error.value("code", std::string{"INTERNAL"}));
  reply.error.message = error.value("message", std::string{"(no message)"});
  return reply;
}

Args::Args(const json& args, std::string_view op) : m_args(args), m_op(op) {}

const json* Args::find(const char* key) {
  m_seen.insert(key);
  auto it = m_args.find(key);
  if (it == m_args.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string Args::required_string(const char* key) {
  const json* value = find(key);
  if (!value) throw Error(ErrorCode::BadRequest, fmt::format("{}: argument \"{}\" is required", m_op, key));
  if (!value->is_string()) throw Error(ErrorCode::BadRequest, fmt::format("{}: argument \"{}\" must be a string", m_op, key));
  return value->get<std::string>();
}

std::string Args::optional_string(const char* key, std::string fallback) {
  const json* value = find(key);
  if (!value) return fallback;
  if (!value->is_string()) throw Error(ErrorCode::BadRequest, fmt::format("{}: argument \"{}\" must be a string", m_op, key));
  return value->get<std::string>();
}

bool Args::optional_bool(const char* key, bool fallback) {
  const json* value = find(key);
  if (!value) return fallback;
  if (!value->is_boolean()) throw Error(ErrorCode::BadRequest, fmt::format("{}: argument \"{}\" must be true or false", m_op, key));
  return value->get<bool>();
}

std::int64_t Args::optional_int(const char* key, std::int64_t fallback, std::int64_t min, std::int64_t max) {
  const json* value = find(key);
  if (!value) return fallback;
  if (!value->is_number_integer())
    throw Error(ErrorCode::BadRequest, fmt::format("{}: argument \"{}\" must be an integer", m_op, key));
  // 2^64-1 parses as unsigned and would wrap to -1 as int64 (issue 9: priority).
  const bool too_big =
    value->is_number_unsigned() && value->get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  auto n = too_big ? std::int64_t{0} : value->get<std::int64_t>();
  if (too_big || n < min || n > max)
    throw Error(ErrorCode::InvalidArgument, fmt::format("{}: argument \"{}\" must be between {} and {}", m_op, key, min, max));
  return n;
}

std::vector<std::string> Args::optional_string_list(const char* key) {
  const json* value = find(key);
  if (!value) return {};
  auto bad = [&] { return Error(ErrorCode::BadRequest, fmt::format("{}: argument \"{}\" must be a list of strings", m_op, key)); };
  if (!value->is_array()) throw bad();
  std::vector<std::string> out;
  for (const auto& item : *value) {
    if (!item.is_string()) throw bad();
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::vector<json> Args::required_object_list(const char* key, std::size_t max_items) {
  const json* value = find(key);
  auto bad = [&] { return Error(ErrorCode::BadRequest, fmt::format("{}: argument \"{}\" must be a list of objects", m_op, key)); };
  if (!value || !value->is_array()) throw bad();
  if (value->empty()) throw Error(ErrorCode::InvalidArgument, fmt::format("{}: argument \"{}\" is empty", m_op, key));
  if (value->size() > max_items)
    throw Error(ErrorCode::LimitExceeded, fmt::format("{}: {} items in \"{}\"; at most {}", m_op, value->size(), key, max_items));
  std::vector<json> out;
  for (const auto& item : *value) {
    if (!item.is_object()) throw bad();
    out.push_back(item);
  }
  return out;
}

void Args::finish() const {
  for (const auto& [key, _] : m_args.items())
    if (!m_seen.contains(key)) throw Error(ErrorCode::BadRequest, fmt::format("{}: unknown argument \"{}\"", m_op, key));
}

namespace {
json array_to_json(const Job& job) {
  if (!job.array) return nullptr;
  return json{{"id", job.array->id}, {"index", job.array->index}, {"limit", job.array->limit}, {"count", job.array->count}};
}
} // namespace
json platform_env_to_json(const std::vector<PlatformEnvVar>& env) {
  json out = json::array();
  for (const auto& var : env) out.push_back({{"name", var.name}, {"value", shown_value(var)}, {"secret", var.secret}});
  return out;
}

json job_to_row_json(const Job& job) {
  return json{
    {"id", job.id},
    {"name", job.spec.name},
    {"user", job.user},
    {"uid", job.uid},
    {"gid", job.gid},
    {"image", job.spec.image},
    {"flavor", job.spec.flavor},
    {"state", to_string(job.state)},
    {"held", job.held},
    {"exit_code", job.exit_code ? json(*job.exit_code) : json(nullptr)},
    {"submitted_at", job.submitted_at},
    {"started_at", job.started_at ? json(*job.started_at) : json(nullptr)},
    {"ended_at", job.ended_at ? json(*job.ended_at) : json(nullptr)},
    {"array", array_to_json(job)},
  };
}

// Every field: the table's row (job_to_row_json) and the rest.
json job_to_json(const Job& job) {
  json out = job_to_row_json(job);
  json env = json::object();
  for (const auto& [k, v] : job.spec.env) env[k] = v;
  out.update(json{
    {"image_id", job.spec.image_id},
    {"image_home", job.spec.image_home},
    {"args", job.spec.args},
    {"replace_entrypoint", job.spec.replace_entrypoint},
    {"env", env},
    {"reason", job.reason},
    {"argv", job.argv},
    {"container", job.container},
    {"backend_id", job.backend_id},
    {"node", job.node},
    {"resources", job.spec.resources},
    {"gpu_devices", job.gpu_devices},
    {"mounts", job.spec.mounts},
    {"priority", job.spec.priority},
    {"retries", job.spec.retries},
    {"attempt", job.attempt},
    {"notify", job.spec.notify},
  });
  // Each kind of dependency apart: `after` (must succeed) as in every version 1 reply.
  json after = json::array(), after_any = json::array(), after_notok = json::array();
  for (const auto& dep : job.spec.after)
    (dep.kind == AfterKind::Ok ? after : dep.kind == AfterKind::Any ? after_any : after_notok).push_back(dep.id);
  out["after"] = std::move(after);
  out["after_any"] = std::move(after_any);
  out["after_notok"] = std::move(after_notok);
  out["not_before"] = job.not_before ? json(*job.not_before) : json(nullptr);
  out["resubmit_of"] = job.resubmit_of ? json(*job.resubmit_of) : json(nullptr);
  out["usage"] = job.usage ? json(*job.usage) : json(nullptr);
  out["notified_at"] = job.notified_at ? json(*job.notified_at) : json(nullptr);
  return out;
}


Job job_from_json(const json& value) {
  try {
    Job job;
    job.id = value.at("id").get<JobId>();
    job.spec.name = value.at("name").get<std::string>();
    job.user = value.at("user").get<std::string>();
    job.uid = value.at("uid").get<std::uint32_t>();
    job.gid = value.at("gid").get<std::uint32_t>();
    job.spec.image = value.at("image").get<std::string>();
    job.spec.image_id = value.value("image_id", std::string{});
    job.spec.image_home = value.value("image_home", std::string{});
    job.spec.args = value.value("args", std::vector<std::string>{});
    job.spec.replace_entrypoint = value.value("replace_entrypoint", false);
    const json env = value.value("env", json::object());
    for (const auto& [k, v] : env.items()) job.spec.env.emplace_back(k, v.get<std::string>());
    auto state = job_state_from_string(value.at("state").get<std::string>());
    if (!state) throw Error(ErrorCode::BadRequest, "job has an unknown state");
    job.state = *state;
    job.reason = value.value("reason", std::string{});
    job.argv = value.value("argv", std::vector<std::string>{});
    job.container = value.value("container", std::string{});
    job.backend_id = value.value("backend_id", std::string{});
    job.node = value.value("node", std::string{});
    job.submitted_at = value.at("submitted_at").get<TimePoint>();
    job.spec.flavor = value.value("flavor", std::string{});
    job.spec.resources = value.value("resources", json::object()).get<Resources>();
    job.gpu_devices = value.value("gpu_devices", std::vector<std::string>{});
    job.spec.mounts = value.value("mounts", json::array()).get<std::vector<Mount>>();
    job.spec.priority = value.value("priority", 0);
    for (const auto& [key, kind] : {std::pair{"after", AfterKind::Ok}, {"after_any", AfterKind::Any}, {"after_notok", AfterKind::NotOk}})
      for (JobId id : value.value(key, std::vector<JobId>{})) job.spec.after.push_back({id, kind});
    job.spec.retries = value.value("retries", 0);
    job.attempt = value.value("attempt", 1);
    job.held = value.value("held", false);
    job.spec.notify = value.value("notify", std::vector<std::string>{});
    if (value.contains("notified_at") && !value["notified_at"].is_null()) job.notified_at = value["notified_at"].get<TimePoint>();
    if (value.contains("not_before") && !value["not_before"].is_null()) job.not_before = value["not_before"].get<TimePoint>();
    if (value.contains("resubmit_of") && !value["resubmit_of"].is_null()) job.resubmit_of = value["resubmit_of"].get<JobId>();
    if (value.contains("exit_code") && !value["exit_code"].is_null()) job.exit_code = value["exit_code"].get<int>();
    if (value.contains("started_at") && !value["started_at"].is_null()) job.started_at = value["started_at"].get<TimePoint>();
    if (value.contains("ended_at") && !value["ended_at"].is_null()) job.ended_at = value["ended_at"].get<TimePoint>();
    if (value.contains("usage") && !value["usage"].is_null()) job.usage = value["usage"].get<Usage>();
    if (value.contains("array") && !value["array"].is_null()) {
      const json& a = value["array"];
      job.array = Job::ArrayPart{a.at("id").get<JobId>(), a.at("index").get<int>(), a.value("limit", 0), a.value("count", 0)};
    }
    return job;
  } catch (const json::exception& e) {
    throw Error(ErrorCode::BadRequest, fmt::format("malformed job object: {}", e.what()));
  }
}

} // namespace jobman::protocol
