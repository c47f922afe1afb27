#include "common/job_json.hpp"

namespace jobman {

void to_json(nlohmann::json& out, const Resources& r) {
  out = {{"cpus", r.cpus}, {"memory", r.memory}, {"shm", r.shm}, {"gpus", r.gpus}, {"time_limit", r.time_limit}};
}

void from_json(const nlohmann::json& in, Resources& r) {
  r.cpus = in.value("cpus", 0.0);
  r.memory = in.value("memory", std::int64_t{0});
  r.shm = in.value("shm", std::int64_t{0});
  r.gpus = in.value("gpus", 0);
  r.time_limit = in.value("time_limit", std::int64_t{0});
}

void to_json(nlohmann::json& out, const Mount& m) {
  out = {{"source", m.source}, {"target", m.target}, {"read_only", m.read_only}};
  if (!m.origin.empty()) out["origin"] = m.origin;
  if (m.image_copy) out["image_copy"] = true;
  if (!m.root.empty()) out["root"] = m.root;
  if (!m.copy_tar.empty()) out["copy_tar"] = m.copy_tar;
  if (m.copy_size != 0) out["copy_size"] = m.copy_size;
}

void from_json(const nlohmann::json& in, Mount& m) {
  m.source = in.at("source").get<std::string>();
  m.target = in.at("target").get<std::string>();
  m.read_only = in.value("read_only", true);
  m.origin = in.value("origin", std::string{});
  m.image_copy = in.value("image_copy", false);
  m.root = in.value("root", std::string{});
  m.copy_tar = in.value("copy_tar", std::string{});
  m.copy_size = in.value("copy_size", std::int64_t{0});
}

namespace {
nlohmann::json nullable(const std::optional<std::int64_t>& value) { return value ? nlohmann::json(*value) : nlohmann::json(nullptr); }
std::optional<std::int64_t> nullable_from(const nlohmann::json& in, const char* key) {
  if (!in.contains(key) || in[key].is_null()) return std::nullopt;
  return in[key].get<std::int64_t>();
}
} // namespace

void to_json(nlohmann::json& out, const Usage& u) {
  out = {{"peak_memory", nullable(u.peak_memory)},
         {"peak_resident", nullable(u.peak_resident)},
         {"cpu_ms", nullable(u.cpu_ms)},
         {"cpu_user_ms", nullable(u.cpu_user_ms)},
         {"cpu_system_ms", nullable(u.cpu_system_ms)},
         {"source", u.source}};
}

void from_json(const nlohmann::json& in, Usage& u) {
  u.peak_memory = nullable_from(in, "peak_memory");
  u.peak_resident = nullable_from(in, "peak_resident");
  u.cpu_ms = nullable_from(in, "cpu_ms");
  u.cpu_user_ms = nullable_from(in, "cpu_user_ms");
  u.cpu_system_ms = nullable_from(in, "cpu_system_ms");
  u.source = in.value("source", std::string{});
}

} // namespace jobman
