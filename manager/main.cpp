// duet-manager: one of the two identical managers of a Duet pair.

#include <CLI/CLI.hpp>
#include <iostream>

#include "common/config.h"
#include "common/crash_report.h"
#include "common/log.h"
#include "duet/version.h"
#include "manager/manager.h"

int main(int argc, char** argv) {
  CLI::App app{"duet-manager: one manager of a Duet pair (see docs/)", "duet-manager"};
  std::string config_file;
  app.add_option("-c,--config", config_file, "YAML configuration file")->required();
  app.set_version_flag("--version", std::string("duet-manager ") + DUET_VERSION);
  CLI11_PARSE(app, argc, argv);

  duet::ManagerConfig config;
  try {
    config = duet::load_manager_config(config_file);
  } catch (const duet::ConfigError& e) {
    std::cerr << "config error: " << e.what() << "\n";
    return 2;
  }
  if (auto s = duet::setup_logging(config.log, "duet-manager"); !s.ok()) {
    std::cerr << "config error: " << config_file << ": log.file: " << s.error().to_string() << "\n";
    return 2;
  }
  duet::install_crash_report("duet-manager", config.log.file);
  duet::manager::Manager manager(std::move(config));
  return manager.run();
}
