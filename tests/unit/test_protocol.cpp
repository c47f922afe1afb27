// Tests for common/protocol.hpp: request and reply frames, Args, job wire conversion.

#include "common/protocol.hpp"

#include "matchers.hpp"

#include <algorithm>
#include <catch2/catch.hpp>

using namespace jobman;
using namespace jobman::protocol;
using jobman::test::IsError;

namespace {

std::string without_newline(std::string frame) {
  REQUIRE(!frame.empty());
  REQUIRE(frame.back() == '\n');
  frame.pop_back();
  // One frame is one line: the encoder must never emit a newline inside it.
  REQUIRE(frame.find('\n') == std::string::npos);
  return frame;
}

Job full_job() {
  Job job;
  job.id = 42;
  job.spec.name = "train-v2";
  job.spec.image = "app:1.10";
  job.spec.image_id = "sha256:0123456789abcdef";
  job.spec.args = {"python", "-c", "print('hi there')", ""};
  job.spec.replace_entrypoint = true;
  job.spec.env = {{"ALPHA", "1"}, {"BETA", "x=y"}, {"EMPTY", ""}};
  job.uid = 1001;
  job.gid = 1002;
  job.user = "alice";
  job.state = JobState::Succeeded;
  job.exit_code = 3;
  job.reason = "the container exited";
  job.argv = {"podman", "run", "--name", "jobman-42", "sha256:0123456789abcdef"};
  job.container = "jobman-42";
  job.submitted_at = 1700000000123;
  job.started_at = 1700000001000;
  job.ended_at = 1700000002000;
  job.usage = Usage{312LL << 20, 100LL << 20, 80'000, 70'000, std::nullopt, "cgroup v2"};
  job.spec.after = {{40, AfterKind::Ok}, {38, AfterKind::Any}, {39, AfterKind::NotOk}, {41, AfterKind::Ok}};
  job.spec.retries = 2;
  job.attempt = 3;
  job.not_before = 1700000003000;
  job.resubmit_of = 17;
  return job;
}

void require_same_job(const Job& a, const Job& b) {
  CHECK(a.id == b.id);
  CHECK(a.spec.name == b.spec.name);
  CHECK(a.spec.image == b.spec.image);
  CHECK(a.spec.image_id == b.spec.image_id);
  CHECK(a.spec.args == b.spec.args);
  CHECK(a.spec.replace_entrypoint == b.spec.replace_entrypoint);
  CHECK(a.spec.env == b.spec.env);
  CHECK(a.uid == b.uid);
  CHECK(a.gid == b.gid);
  CHECK(a.user == b.user);
  CHECK(a.state == b.state);
  CHECK(a.exit_code == b.exit_code);
  CHECK(a.reason == b.reason);
  CHECK(a.argv == b.argv);
  CHECK(a.container == b.container);
  CHECK(a.submitted_at == b.submitted_at);
  CHECK(a.started_at == b.started_at);
  CHECK(a.ended_at == b.ended_at);
  CHECK(a.usage == b.usage);
  CHECK(a.spec.retries == b.spec.retries);
  CHECK(a.attempt == b.attempt);
  CHECK(a.not_before == b.not_before);
  CHECK(a.resubmit_of == b.resubmit_of);
  // Kinds apart on the wire; read back grouped by kind, each kind in its order.
  std::vector<Dependency> sorted_a = a.spec.after, sorted_b = b.spec.after;
  auto by_kind = [](const Dependency& x, const Dependency& y) { return static_cast<int>(x.kind) < static_cast<int>(y.kind); };
  std::stable_sort(sorted_a.begin(), sorted_a.end(), by_kind);
  std::stable_sort(sorted_b.begin(), sorted_b.end(), by_kind);
  CHECK(sorted_a == sorted_b);
}

} // namespace

TEST_CASE("parse_request accepts a well-formed request", "[protocol]") {
  Request r = parse_request(R"({"id":7,"op":"submit","args":{"image":"app","args":["a","b"]}})");
  CHECK(r.id == 7);
  CHECK(r.op == "submit");
  CHECK(r.args == json{{"image", "app"}, {"args", {"a", "b"}}});
}

TEST_CASE("parse_request without args gives an empty object", "[protocol]") {
  Request r = parse_request(R"({"op":"hello","id":1})");
  CHECK(r.id == 1);
  CHECK(r.op == "hello");
  CHECK(r.args.is_object());
  CHECK(r.args.empty());
}

TEST_CASE("parse_request accepts large and negative ids", "[protocol]") {
  CHECK(parse_request(R"({"id":9007199254740993,"op":"list"})").id == 9007199254740993LL);
  CHECK(parse_request(R"({"id":-3,"op":"list"})").id == -3);
}

TEST_CASE("parse_request rejects malformed frames naming the problem", "[protocol]") {
  SECTION("not JSON") {
    CHECK_THROWS_MATCHES(parse_request("{id: 1"), Error, IsError(ErrorCode::BadRequest, {"not valid JSON"}));
    CHECK_THROWS_MATCHES(parse_request(""), Error, IsError(ErrorCode::BadRequest, {"not valid JSON"}));
    CHECK_THROWS_MATCHES(parse_request(R"({"id":1,"op":"list"} {"id":2})"), Error, IsError(ErrorCode::BadRequest, {"not valid JSON"}));
  }
  SECTION("not an object") {
    CHECK_THROWS_MATCHES(parse_request(R"([{"id":1,"op":"list"}])"), Error, IsError(ErrorCode::BadRequest, {"JSON object"}));
    CHECK_THROWS_MATCHES(parse_request("42"), Error, IsError(ErrorCode::BadRequest, {"JSON object"}));
    CHECK_THROWS_MATCHES(parse_request(R"("hello")"), Error, IsError(ErrorCode::BadRequest, {"JSON object"}));
  }
  SECTION("missing id") {
    CHECK_THROWS_MATCHES(parse_request(R"({"op":"list"})"), Error, IsError(ErrorCode::BadRequest, {"\"id\""}));
  }
  SECTION("non-integer id") {
    CHECK_THROWS_MATCHES(parse_request(R"({"id":1.5,"op":"list"})"), Error, IsError(ErrorCode::BadRequest, {"integer", "\"id\""}));
    CHECK_THROWS_MATCHES(parse_request(R"({"id":"1","op":"list"})"), Error, IsError(ErrorCode::BadRequest, {"integer", "\"id\""}));
    CHECK_THROWS_MATCHES(parse_request(R"({"id":null,"op":"list"})"), Error, IsError(ErrorCode::BadRequest, {"\"id\""}));
  }
  SECTION("missing or non-string op") {
    CHECK_THROWS_MATCHES(parse_request(R"({"id":1})"), Error, IsError(ErrorCode::BadRequest, {"\"op\""}));
    CHECK_THROWS_MATCHES(parse_request(R"({"id":1,"op":5})"), Error, IsError(ErrorCode::BadRequest, {"string", "\"op\""}));
  }
  SECTION("args not an object") {
    CHECK_THROWS_MATCHES(parse_request(R"({"id":1,"op":"list","args":[]})"), Error, IsError(ErrorCode::BadRequest, {"\"args\"", "object"}));
    CHECK_THROWS_MATCHES(parse_request(R"({"id":1,"op":"list","args":"x"})"), Error, IsError(ErrorCode::BadRequest, {"\"args\""}));
  }
  SECTION("unknown top-level field") {
    CHECK_THROWS_MATCHES(parse_request(R"({"id":1,"op":"list","verbose":true})"), Error,
                         IsError(ErrorCode::BadRequest, {"unknown request field", "\"verbose\""}));
  }
}

TEST_CASE("parse_request enforces k_max_frame_bytes exactly", "[protocol]") {
  const std::string head = R"({"id":1,"op":")";
  const std::string tail = R"("})";
  std::string at_limit = head + std::string(k_max_frame_bytes - head.size() - tail.size(), 'x') + tail;
  REQUIRE(at_limit.size() == k_max_frame_bytes);
  CHECK(parse_request(at_limit).op.size() == k_max_frame_bytes - head.size() - tail.size());

  std::string over = head + std::string(k_max_frame_bytes - head.size() - tail.size() + 1, 'x') + tail;
  REQUIRE(over.size() == k_max_frame_bytes + 1);
  CHECK_THROWS_MATCHES(parse_request(over), Error,
                       IsError(ErrorCode::FrameTooLarge, {std::to_string(k_max_frame_bytes + 1), std::to_string(k_max_frame_bytes)}));
  // Too large is reported before any attempt to parse, even for garbage.
  CHECK_THROWS_MATCHES(parse_request(std::string(k_max_frame_bytes + 1, '{')), Error, IsError(ErrorCode::FrameTooLarge));
}

TEST_CASE("parse_reply allows replies up to k_max_reply_bytes", "[protocol]") {
  REQUIRE(k_max_reply_bytes > k_max_frame_bytes);
  // A reply larger than a request may be, e.g. a long job list.
  const std::string head = R"({"id":1,"ok":true,"result":{"data":")";
  const std::string tail = R"("}})";
  std::string big = head + std::string(k_max_frame_bytes, 'x') + tail;
  CHECK(parse_reply(big).body["data"].get<std::string>().size() == k_max_frame_bytes);
  CHECK_THROWS_MATCHES(parse_reply(std::string(k_max_reply_bytes + 1, '{')), Error,
                       IsError(ErrorCode::FrameTooLarge, {std::to_string(k_max_reply_bytes)}));
}

TEST_CASE("parse_request reports the id of a request it then refuses", "[protocol]") {
  std::int64_t id = -1;
  CHECK_THROWS_MATCHES(parse_request(R"({"id":17,"op":"list","extra":1})", &id), Error, IsError(ErrorCode::BadRequest, {"\"extra\""}));
  CHECK(id == 17);
  id = -1;
  CHECK_THROWS_MATCHES(parse_request(R"({"id":18,"args":{}})", &id), Error, IsError(ErrorCode::BadRequest, {"\"op\""}));
  CHECK(id == 18);
  // Without a usable id there is nothing to report.
  id = -1;
  CHECK_THROWS(parse_request(R"({"id":"x","op":"list"})", &id));
  CHECK(id == -1);
  CHECK_THROWS(parse_request("not json", &id));
  CHECK(id == -1);
  // On success it holds the id too.
  CHECK(parse_request(R"({"id":19,"op":"list"})", &id).id == 19);
  CHECK(id == 19);
}

TEST_CASE("encode_request round-trips through parse_request", "[protocol]") {
  Request in{12, "logs", json{{"job", "train"}, {"follow", true}, {"tail", 100}}};
  std::string frame = without_newline(encode_request(in));
  Request out = parse_request(frame);
  CHECK(out.id == 12);
  CHECK(out.op == "logs");
  CHECK(out.args == in.args);
}

TEST_CASE("encode_result round-trips through parse_reply", "[protocol]") {
  json result = {{"jobs", {{{"id", 1}}, {{"id", 2}}}}, {"count", 2}};
  Reply reply = parse_reply(without_newline(encode_result(5, result)));
  CHECK(reply.id == 5);
  CHECK(reply.kind == Reply::Kind::Result);
  CHECK(reply.body == result);
}

TEST_CASE("a result reply without a result body gives an empty object", "[protocol]") {
  Reply reply = parse_reply(R"({"id":3,"ok":true})");
  CHECK(reply.kind == Reply::Kind::Result);
  CHECK(reply.body == json::object());
}

TEST_CASE("encode_error round-trips every error code through parse_reply", "[protocol]") {
  const ErrorCode codes[] = {
    ErrorCode::BadRequest,     ErrorCode::UnsupportedVersion, ErrorCode::FrameTooLarge, ErrorCode::InvalidArgument,
    ErrorCode::ImageNotFound,  ErrorCode::ImageRejected,      ErrorCode::JobNotFound,   ErrorCode::Ambiguous,
    ErrorCode::PermissionDenied, ErrorCode::Conflict,         ErrorCode::LimitExceeded, ErrorCode::EngineError,
    ErrorCode::Unavailable,    ErrorCode::Internal,
  };
  for (ErrorCode code : codes) {
    CAPTURE(code);
    std::string frame = without_newline(encode_error(9, {code, "image 'foo:1.0' has no 'version' label"}));
    CHECK(json::parse(frame)["error"]["code"] == std::string(to_string(code)));
    Reply reply = parse_reply(frame);
    CHECK(reply.id == 9);
    CHECK(reply.kind == Reply::Kind::Error);
    CHECK(reply.error.code == code);
    CHECK(reply.error.message == "image 'foo:1.0' has no 'version' label");
  }
}

TEST_CASE("encode_error uses the documented wire spelling of codes", "[protocol]") {
  CHECK(json::parse(encode_error(1, {ErrorCode::ImageNotFound, "x"}))["error"]["code"] == "IMAGE_NOT_FOUND");
  CHECK(json::parse(encode_error(1, {ErrorCode::FrameTooLarge, "x"}))["error"]["code"] == "FRAME_TOO_LARGE");
  CHECK(json::parse(encode_error(1, {ErrorCode::BadRequest, "x"})) ==
        json{{"id", 1}, {"ok", false}, {"error", {{"code", "BAD_REQUEST"}, {"message", "x"}}}});
}

TEST_CASE("parse_reply maps an unknown error code to Internal and keeps the message", "[protocol]") {
  Reply reply = parse_reply(R"({"id":4,"ok":false,"error":{"code":"FROM_THE_FUTURE","message":"m"}})");
  CHECK(reply.kind == Reply::Kind::Error);
  CHECK(reply.error.code == ErrorCode::Internal);
  CHECK(reply.error.message == "m");
}

TEST_CASE("parse_reply rejects frames that are not replies", "[protocol]") {
  CHECK_THROWS_MATCHES(parse_reply(R"({"id":1})"), Error, IsError(ErrorCode::BadRequest, {"\"ok\""}));
  CHECK_THROWS_MATCHES(parse_reply(R"({"id":1,"ok":"yes"})"), Error, IsError(ErrorCode::BadRequest, {"\"ok\""}));
  CHECK_THROWS_MATCHES(parse_reply(R"({"ok":true})"), Error, IsError(ErrorCode::BadRequest, {"\"id\""}));
  CHECK_THROWS_MATCHES(parse_reply(R"({"id":1,"ok":false,"error":"boom"})"), Error, IsError(ErrorCode::BadRequest, {"\"error\""}));
  CHECK_THROWS_MATCHES(parse_reply("not json"), Error, IsError(ErrorCode::BadRequest, {"not valid JSON"}));
}

TEST_CASE("encode_event round-trips through parse_reply", "[protocol]") {
  json event = {{"type", "log"}, {"stream", "stdout"}, {"data", "line 1\nline 2\n"}};
  std::string frame = without_newline(encode_event(8, event));
  Reply reply = parse_reply(frame);
  CHECK(reply.id == 8);
  CHECK(reply.kind == Reply::Kind::Event);
  CHECK(reply.body == event);
}

TEST_CASE("invalid UTF-8 in event data is replaced, not thrown", "[protocol]") {
  const std::string bad = std::string("ok ") + "\xff" + " then " + "\xc3" + "!";
  std::string encoded;
  REQUIRE_NOTHROW(encoded = encode_event(2, json{{"data", bad}}));
  std::string frame = without_newline(encoded);
  Reply reply = parse_reply(frame); // the replaced text must itself be valid JSON/UTF-8
  REQUIRE(reply.kind == Reply::Kind::Event);
  CHECK(reply.body["data"].get<std::string>() == "ok \xEF\xBF\xBD then \xEF\xBF\xBD!");
  // Valid multi-byte UTF-8 passes through untouched.
  Reply good = parse_reply(without_newline(encode_event(2, json{{"data", "Grüße ✓"}})));
  CHECK(good.body["data"] == "Grüße ✓");
}

TEST_CASE("Args reads typed arguments", "[protocol][args]") {
  const json raw = {{"image", "app"}, {"follow", true}, {"tail", 10}, {"env", {"A=1", "B=2"}}, {"name", nullptr}};
  Args args(raw, "submit");
  CHECK(args.required_string("image") == "app");
  CHECK(args.optional_bool("follow") == true);
  CHECK(args.optional_int("tail", 0, 0, 100) == 10);
  CHECK(args.optional_string_list("env") == std::vector<std::string>{"A=1", "B=2"});
  // null counts as absent
  CHECK(args.optional_string("name", "fallback") == "fallback");
  // absent keys give the fallback
  CHECK(args.optional_string("user", "me") == "me");
  CHECK(args.optional_bool("all", true) == true);
  CHECK(args.optional_int("limit", 50, 1, 1000) == 50);
  CHECK(args.optional_string_list("args").empty());
  CHECK_NOTHROW(args.finish());
}

TEST_CASE("Args::required_string names a missing or mistyped argument", "[protocol][args]") {
  const json raw = {{"count", 3}};
  Args args(raw, "submit");
  CHECK_THROWS_MATCHES(args.required_string("image"), Error, IsError(ErrorCode::BadRequest, {"submit", "\"image\"", "required"}));
  CHECK_THROWS_MATCHES(args.required_string("count"), Error, IsError(ErrorCode::BadRequest, {"submit", "\"count\"", "string"}));

  const json null_image = {{"image", nullptr}};
  Args with_null(null_image, "submit");
  CHECK_THROWS_MATCHES(with_null.required_string("image"), Error, IsError(ErrorCode::BadRequest, {"\"image\"", "required"}));
}

TEST_CASE("Args getters reject wrong types naming the argument", "[protocol][args]") {
  const json raw = {{"name", 5}, {"follow", "yes"}, {"tail", 1.5}, {"tail_s", "10"}, {"env", "A=1"}, {"env2", {"A=1", 2}}};
  Args args(raw, "logs");
  CHECK_THROWS_MATCHES(args.optional_string("name"), Error, IsError(ErrorCode::BadRequest, {"logs", "\"name\"", "string"}));
  CHECK_THROWS_MATCHES(args.optional_bool("follow"), Error, IsError(ErrorCode::BadRequest, {"logs", "\"follow\"", "true or false"}));
  CHECK_THROWS_MATCHES(args.optional_int("tail", 0, 0, 10), Error, IsError(ErrorCode::BadRequest, {"\"tail\"", "integer"}));
  CHECK_THROWS_MATCHES(args.optional_int("tail_s", 0, 0, 10), Error, IsError(ErrorCode::BadRequest, {"\"tail_s\"", "integer"}));
  CHECK_THROWS_MATCHES(args.optional_string_list("env"), Error, IsError(ErrorCode::BadRequest, {"\"env\"", "list of strings"}));
  CHECK_THROWS_MATCHES(args.optional_string_list("env2"), Error, IsError(ErrorCode::BadRequest, {"\"env2\"", "list of strings"}));
}

TEST_CASE("Args::optional_int checks its range inclusively with InvalidArgument", "[protocol][args]") {
  const json raw = {{"low", -1}, {"min", 0}, {"max", 1000}, {"high", 1001}};
  Args args(raw, "list");
  CHECK(args.optional_int("min", 7, 0, 1000) == 0);
  CHECK(args.optional_int("max", 7, 0, 1000) == 1000);
  CHECK_THROWS_MATCHES(args.optional_int("low", 7, 0, 1000), Error,
                       IsError(ErrorCode::InvalidArgument, {"list", "\"low\"", "between 0 and 1000"}));
  CHECK_THROWS_MATCHES(args.optional_int("high", 7, 0, 1000), Error,
                       IsError(ErrorCode::InvalidArgument, {"list", "\"high\"", "between 0 and 1000"}));
}

TEST_CASE("Args::optional_int refuses integers past int64 instead of wrapping them", "[protocol][args]") {
  // Issue 9: a priority of 2^64-1 became -1.
  const json raw = json::parse(R"({"p": 18446744073709551615, "q": 9223372036854775808, "r": -9223372036854775808})");
  Args args(raw, "submit");
  CHECK_THROWS_MATCHES(args.optional_int("p", 0, -1000, 1000), Error, IsError(ErrorCode::InvalidArgument, {"\"p\"", "between"}));
  CHECK_THROWS_MATCHES(args.optional_int("q", 0, std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()),
                       Error, IsError(ErrorCode::InvalidArgument, {"\"q\""}));
  CHECK_THROWS_MATCHES(args.optional_int("r", 0, -1000, 1000), Error, IsError(ErrorCode::InvalidArgument, {"\"r\""}));
}

TEST_CASE("Args::finish detects an argument nobody asked for", "[protocol][args]") {
  const json raw = {{"image", "app"}, {"colour", "blue"}};
  Args args(raw, "submit");
  CHECK(args.required_string("image") == "app");
  CHECK_THROWS_MATCHES(args.finish(), Error, IsError(ErrorCode::BadRequest, {"submit", "unknown argument", "\"colour\""}));

  // Asking for a key, even one that turns out absent or null, marks it as known.
  const json with_null = {{"image", "app"}, {"name", nullptr}};
  Args args2(with_null, "submit");
  args2.required_string("image");
  CHECK_THROWS_MATCHES(args2.finish(), Error, IsError(ErrorCode::BadRequest, {"\"name\""}));
  args2.optional_string("name");
  CHECK_NOTHROW(args2.finish());
}

TEST_CASE("job_to_json and job_from_json round-trip a job with every field set", "[protocol][job]") {
  Job job = full_job();
  json wire = job_to_json(job);
  CHECK(wire["state"] == "SUCCEEDED");
  CHECK(wire["exit_code"] == 3);
  CHECK(wire["started_at"] == 1700000001000);
  CHECK(wire["env"] == json{{"ALPHA", "1"}, {"BETA", "x=y"}, {"EMPTY", ""}});
  CHECK(wire["argv"] == json(job.argv));
  CHECK(wire["replace_entrypoint"] == true);
  CHECK(wire["after"] == json{40, 41}); // as version 1 always said: the jobs that must succeed
  CHECK(wire["after_any"] == json{38});
  CHECK(wire["after_notok"] == json{39});
  CHECK(wire["resubmit_of"] == 17);
  CHECK(wire["usage"] == json{{"peak_memory", 312LL << 20}, {"peak_resident", 100LL << 20}, {"cpu_ms", 80'000}, {"cpu_user_ms", 70'000}, {"cpu_system_ms", nullptr},
                              {"source", "cgroup v2"}});
  require_same_job(job_from_json(wire), job);
  // and through the text form, as the client sees it
  require_same_job(job_from_json(json::parse(wire.dump())), job);
}

TEST_CASE("job_to_json writes unset optional fields as null and they come back unset", "[protocol][job]") {
  Job job = full_job();
  job.state = JobState::Queued;
  job.exit_code.reset();
  job.started_at.reset();
  job.ended_at.reset();
  job.usage.reset();
  json wire = job_to_json(job);
  CHECK(wire["usage"].is_null());
  CHECK(wire.contains("exit_code"));
  CHECK(wire["exit_code"].is_null());
  CHECK(wire["started_at"].is_null());
  CHECK(wire["ended_at"].is_null());
  Job back = job_from_json(wire);
  CHECK_FALSE(back.exit_code.has_value());
  CHECK_FALSE(back.started_at.has_value());
  CHECK_FALSE(back.ended_at.has_value());
  require_same_job(back, job);

  // An exit code of 0 is a value, not "unset".
  job.exit_code = 0;
  CHECK(job_from_json(job_to_json(job)).exit_code == std::optional<int>(0));

  // Absent optional keys are read as unset too.
  wire.erase("exit_code");
  wire.erase("started_at");
  wire.erase("ended_at");
  back = job_from_json(wire);
  CHECK_FALSE(back.exit_code.has_value());
  CHECK_FALSE(back.started_at.has_value());
}

TEST_CASE("job env travels as an object: keys come back sorted", "[protocol][job]") {
  Job job = full_job();
  job.spec.env = {{"ZED", "1"}, {"ALPHA", "2"}};
  CHECK(job_from_json(job_to_json(job)).spec.env == std::vector<EnvVar>{{"ALPHA", "2"}, {"ZED", "1"}});
}

TEST_CASE("job_from_json rejects malformed jobs with BadRequest", "[protocol][job]") {
  json wire = job_to_json(full_job());
  SECTION("missing required field") {
    wire.erase("state");
    CHECK_THROWS_MATCHES(job_from_json(wire), Error, IsError(ErrorCode::BadRequest, {"malformed job"}));
  }
  SECTION("unknown state") {
    wire["state"] = "DONE";
    CHECK_THROWS_MATCHES(job_from_json(wire), Error, IsError(ErrorCode::BadRequest, {"state"}));
  }
  SECTION("env value not a string") {
    wire["env"] = json{{"A", 1}};
    CHECK_THROWS_MATCHES(job_from_json(wire), Error, IsError(ErrorCode::BadRequest, {"malformed job"}));
  }
  SECTION("wrong type") {
    wire["id"] = "42";
    CHECK_THROWS_MATCHES(job_from_json(wire), Error, IsError(ErrorCode::BadRequest, {"malformed job"}));
  }
}
