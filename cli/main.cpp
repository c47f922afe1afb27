#include "cli/cli_main.hpp"

int main(int argc, char** argv) { return jobman::cli::cli_main(argc, argv); }
