#pragma once
// JSON forms of the job model's small value types, shared by the wire protocol and the
// database (which stores them as JSON columns).

#include "common/job.hpp"

#include <nlohmann/json.hpp>

namespace jobman {

void to_json(nlohmann::json& out, const Resources& resources);
void from_json(const nlohmann::json& in, Resources& resources);
void to_json(nlohmann::json& out, const Mount& mount);
void from_json(const nlohmann::json& in, Mount& mount);
// Figures not measured are null.
void to_json(nlohmann::json& out, const Usage& usage);
void from_json(const nlohmann::json& in, Usage& usage);

} // namespace jobman
