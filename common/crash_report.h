#pragma once

// A crash leaves its trace: on a fatal signal (SIGSEGV, SIGBUS, SIGFPE,
// SIGILL, SIGABRT) or std::terminate (an uncaught exception, a pure virtual
// call), the process writes one "fatal:" line and the stack's return
// addresses to standard error, and to the log file when there is one, then
// dies of the same signal as before (so a core is still dumped where the
// system keeps them). Each frame reads "binary(function+0xN) [0xADDR]" or
// "binary(+0xOFFSET)": `addr2line -f -C -e binary 0xOFFSET` names it.

#include <string>

namespace duet {

// Installs the handlers for `process`. `log_file` may be empty. Call once,
// after the logging is set up.
void install_crash_report(const std::string& process, const std::string& log_file);

}  // namespace duet
