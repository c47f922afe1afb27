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

} // namespace jobman
