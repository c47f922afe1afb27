#pragma once
// jobman wire protocol v1: newline-delimited JSON over a SOCK_STREAM Unix socket.
// doc/protocol.md is the normative description; keep both in the same commit.
//
//   client -> daemon  {"id":N,"op":"submit","args":{...}}
//   daemon -> client  {"id":N,"ok":true,"result":{...}}
//                     {"id":N,"ok":false,"error":{"code":"IMAGE_NOT_FOUND","message":"..."}}
//                     {"id":N,"event":{...}}            (streams: logs follow, wait)
// The first request on a connection must be "hello".

#include "common/config.hpp"
#include "common/errors.hpp"
#include "common/job.hpp"

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace jobman::protocol {

using nlohmann::json;

constexpr int k_version = 1;
// A request frame (one line, without its newline) may not be larger than this.
constexpr std::size_t k_max_frame_bytes = 1024 * 1024;
// Replies may be larger (a long job list; escaped log data); still bounded.
constexpr std::size_t k_max_reply_bytes = 64 * 1024 * 1024;

namespace op {
constexpr std::string_view hello = "hello";
constexpr std::string_view images = "images";
constexpr std::string_view image_details = "image_details";
constexpr std::string_view submit = "submit";
constexpr std::string_view list = "list";
constexpr std::string_view details = "details";
constexpr std::string_view logs = "logs";
constexpr std::string_view remove = "delete";
constexpr std::string_view wait = "wait";
constexpr std::string_view resources_flavors = "resources_flavors";
constexpr std::string_view submit_batch = "submit_batch";
constexpr std::string_view queue = "queue";
constexpr std::string_view cleanup = "cleanup";
constexpr std::string_view stats = "stats";
constexpr std::string_view resubmit = "resubmit";
constexpr std::string_view hold = "hold";
constexpr std::string_view release = "release";
} // namespace op

struct Request {
  std::int64_t id = 0;
  std::string op;
  json args = json::object();
};

// Parses one request frame. Throws Error(BadRequest) naming what is wrong; once the
// frame's id is known it is stored in `id_out`, so the error can answer it.
Request parse_request(std::string_view frame, std::int64_t* id_out = nullptr);
std::string encode_request(const Request& request);

std::string encode_result(std::int64_t id, const json& result);
std::string encode_error(std::int64_t id, const ErrorInfo& error);
std::string encode_event(std::int64_t id, const json& event);

// A frame from the daemon, as the client sees it.
struct Reply {
  enum class Kind { Result, Error, Event };
  std::int64_t id = 0;
  Kind kind = Kind::Result;
  json body;       // result or event
  ErrorInfo error; // when kind == Error
};
// Parses one reply frame. Throws Error(BadRequest) when it is not one.
Reply parse_reply(std::string_view frame);

// Typed, strict access to a request's "args": wrong types and unknown keys are errors
// that name the argument.
class Args {
public:
  Args(const json& args, std::string_view op);
  std::string required_string(const char* key);
  std::string optional_string(const char* key, std::string fallback = {});
  bool optional_bool(const char* key, bool fallback = false);
  std::int64_t optional_int(const char* key, std::int64_t fallback, std::int64_t min, std::int64_t max);
  std::vector<std::string> optional_string_list(const char* key);
  // A list of JSON objects (e.g. submit_batch's jobs), each to be read with its own Args.
  std::vector<json> required_object_list(const char* key, std::size_t max_items);
  // Throws if the request carried a key none of the getters asked for.
  void finish() const;

private:
  const json* find(const char* key);
  const json& m_args;
  std::string m_op;
  std::set<std::string> m_seen;
};

// Job <-> wire conversion. The wire shape is documented in doc/protocol.md.
json job_to_json(const Job& job);
// What `list`'s table shows of a job (its `view: "table"`): id, name, user, uid, gid, image,
// flavor, state, held, exit_code, the three times and array; job_from_json reads it back.
json job_to_row_json(const Job& job);
Job job_from_json(const json& value);
// The platform's environment of a job (`details`, `submit --dry-run`: `platform_env`):
// [{"name", "value", "secret"}], a secret's value "***".
json platform_env_to_json(const std::vector<PlatformEnvVar>& env);

} // namespace jobman::protocol
