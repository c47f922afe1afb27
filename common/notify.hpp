#pragma once
// `submit --notify`: the end states a user asks to be told about, in the words of Slurm's
// `sbatch --mail-type` (END, FAIL, TIME_LIMIT, ALL, NONE), and the admin's hook
// (config `notify`) that jobmand runs for them (daemon/notify/notifier.hpp).

#include "common/job.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace jobman {

constexpr std::size_t k_max_notify_words = 16;

// The words of `items` (each may itself be a comma list, any case): checked, upper case,
// each once, in the order ALL, END, FAIL, TIMEOUT (TIME_LIMIT is read as TIMEOUT). NONE
// alone gives nothing. Throws Error(InvalidArgument) naming a word it does not know
// (BEGIN and Slurm's other non-end words say that jobman notifies only at a job's end).
std::vector<std::string> parse_notify_words(const std::vector<std::string>& items);

// The end states `words` (as parse_notify_words gives them) ask for, in JobState order:
// END and ALL every end state; FAIL, as Slurm's, every end but SUCCEEDED and CANCELLED
// (FAILED, TIMEOUT, OOM_KILLED, LOST); TIMEOUT only TIMEOUT.
std::vector<JobState> notify_states(const std::vector<std::string>& words);
bool notify_wants(const std::vector<std::string>& words, JobState state);

// "END,FAIL": how the words are stored and shown ("" for none); and back.
std::string join_notify_words(const std::vector<std::string>& words);
std::vector<std::string> split_notify_words(std::string_view text);

} // namespace jobman
