#include "daemon/daemon.hpp"

int main(int argc, char** argv) { return jobman::daemon::daemon_main(argc, argv); }
