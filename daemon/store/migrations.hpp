#pragma once
// Schema versions of jobman.db, kept in PRAGMA user_version.

namespace SQLite {
class Database;
}

namespace jobman::daemon::store {

// The schema this binary writes. A database with a higher user_version is refused.
constexpr int k_current_schema_version = 15;

// Brings `db` from its user_version up to k_current_schema_version, one numbered
// migration per transaction. Throws Error(Internal) for a database newer than this binary.
void migrate(SQLite::Database& db, const char* path);

} // namespace jobman::daemon::store
