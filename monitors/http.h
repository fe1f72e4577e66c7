#pragma once

// The HTTP(S) monitor, through libcurl: one request, or a scenario of several
// that share cookies (a login, then the page behind it: monitoring from the
// user's side). Each step checks the status code and, if asked, a regex over
// the body; the result has each step's status and time and, for HTTPS, the
// days until the server certificate expires.
//
// Blocking, each step within `timeout`: run it on a worker thread.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace duet::monitors {

struct HttpStep {
  std::string url;
  std::string method = "GET";        // GET, HEAD, POST, PUT, DELETE
  std::string body;                  // sent with POST/PUT
  std::vector<std::string> headers;  // "Name: value"
  std::vector<int> expect_status;    // empty: any 2xx or 3xx
  std::string body_regex;            // ECMAScript; empty: the body is not checked
};

struct HttpCheck {
  std::vector<HttpStep> steps;               // one: a simple check; more: a scenario
  std::chrono::milliseconds timeout{10000};  // per step
  bool verify_tls = true;                    // certificate chain and host name
  std::string ca_file;                       // trust these CAs (PEM) besides the system's
  bool follow_redirects = false;
};

struct HttpStepResult {
  std::string url;
  int status = 0;  // 0: no response
  std::chrono::microseconds time{0};
  std::string error;  // empty: the step passed
  std::optional<double> cert_days_left;
};

struct HttpResult {
  std::vector<HttpStepResult> steps;  // up to the first that failed
  std::size_t of = 0;                 // steps in the check
  std::chrono::microseconds total_time{0};
  std::optional<double> cert_days_left;  // the soonest expiry seen
  bool ok() const;
  std::string error() const;  // the failed step's, prefixed with its number
};

// Never throws; an invalid regex or an empty scenario fails the first step.
HttpResult check_http(const HttpCheck& check);

}  // namespace duet::monitors
