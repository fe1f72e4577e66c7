// duet-witness: grants the master lease of a Duet manager pair to one node at
// a time (see docs/witness.md).

#include <CLI/CLI.hpp>
#include <iostream>

#include "common/config.h"
#include "common/crash_report.h"
#include "common/log.h"
#include "duet/version.h"
#include "witness/witness_server.h"

int main(int argc, char** argv) {
  CLI::App app{"duet-witness: grants the master lease of Duet manager pairs (see docs/witness.md)",
               "duet-witness"};
  std::string config_file;
  app.add_option("-c,--config", config_file, "YAML configuration file")->required();
  app.set_version_flag("--version", std::string("duet-witness ") + DUET_VERSION);
  CLI11_PARSE(app, argc, argv);

  duet::WitnessConfig config;
  try {
    config = duet::load_witness_config(config_file);
  } catch (const duet::ConfigError& e) {
    std::cerr << "config error: " << e.what() << "\n";
    return 2;
  }
  if (auto s = duet::setup_logging(config.log, "duet-witness"); !s.ok()) {
    std::cerr << "config error: " << config_file << ": log.file: " << s.error().to_string() << "\n";
    return 2;
  }
  duet::install_crash_report("duet-witness", config.log.file);
  duet::witness::WitnessServer server(std::move(config));
  return server.run();
}
