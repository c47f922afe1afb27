#pragma once

namespace jobman::cli {

// jobman's main(): parses `argv`, talks to jobmand, returns the exit code (jobman(1)).
int cli_main(int argc, char** argv);

} // namespace jobman::cli
