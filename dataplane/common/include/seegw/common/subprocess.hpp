// Runs another program (RAUC for the appliance's updates) and collects what it says: no shell,
// the arguments as given, standard input from /dev/null, a deadline after which it is killed.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "seegw/common/error.hpp"

namespace seegw {

struct ProgramResult {
  int exit_status = -1;  // the program's exit status; -1 when a signal ended it
  std::string output;    // standard output and standard error together, at most max_output bytes
};

// An error only when the program could not be started or ran past `timeout` (it is killed);
// a program that fails is a result with its exit status.
Result<ProgramResult> run_program(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout,
                                  std::size_t max_output = 1 << 20);

}  // namespace seegw
