#include "monitors/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <regex>

namespace duet::monitors {
namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::size_t collect(char* data, std::size_t size, std::size_t n, void* out) {
  auto* body = static_cast<std::string*>(out);
  constexpr std::size_t kMaxBody = 4 << 20;  // what a regex is run over, at most
  const std::size_t bytes = size * n;
  if (body->size() < kMaxBody) body->append(data, std::min(bytes, kMaxBody - body->size()));
  return bytes;
}

// "Expire date:Nov 21 10:00:00 2027 GMT" (OpenSSL's form through CERTINFO).
std::optional<double> days_left(CURL* curl) {
  curl_certinfo* info = nullptr;
  if (curl_easy_getinfo(curl, CURLINFO_CERTINFO, &info) != CURLE_OK || info == nullptr ||
      info->num_of_certs < 1) {
    return std::nullopt;
  }
  for (curl_slist* s = info->certinfo[0]; s != nullptr; s = s->next) {
    const std::string line = s->data;
    constexpr const char* kKey = "Expire date:";
    if (line.rfind(kKey, 0) != 0) continue;
    std::tm tm{};
    if (strptime(line.c_str() + std::strlen(kKey), "%b %d %H:%M:%S %Y GMT", &tm) == nullptr) {
      return std::nullopt;
    }
    const double expires = static_cast<double>(timegm(&tm));
    return (expires - static_cast<double>(std::time(nullptr))) / 86400.0;
  }
  return std::nullopt;
}

bool status_ok(const HttpStep& step, int status) {
  if (step.expect_status.empty()) return status >= 200 && status < 400;
  return std::find(step.expect_status.begin(), step.expect_status.end(), status) !=
         step.expect_status.end();
}

}  // namespace

bool HttpResult::ok() const {
  return !steps.empty() && std::all_of(steps.begin(), steps.end(),
                                       [](const HttpStepResult& s) { return s.error.empty(); });
}

std::string HttpResult::error() const {
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (!steps[i].error.empty()) {
      return of <= 1 ? steps[i].error
                               : "step " + std::to_string(i + 1) + ": " + steps[i].error;
    }
  }
  return steps.empty() ? "no steps" : "";
}

HttpResult check_http(const HttpCheck& check) {
  global_init();
  HttpResult result;
  result.of = check.steps.size();
  if (check.steps.empty()) {
    result.steps.push_back(HttpStepResult{"", 0, {}, "the check has no steps", std::nullopt});
    return result;
  }
  // One handle for the scenario: its cookie engine carries the session.
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) {
    result.steps.push_back(HttpStepResult{check.steps[0].url, 0, {}, "libcurl: no handle", {}});
    return result;
  }
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_COOKIEFILE, "");  // cookies on, in memory only
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CERTINFO, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, check.verify_tls ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, check.verify_tls ? 2L : 0L);
  if (!check.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, check.ca_file.c_str());
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, check.follow_redirects ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(check.timeout.count()));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "duet-monitor/1");

  for (const HttpStep& step : check.steps) {
    HttpStepResult r;
    r.url = step.url;
    std::optional<std::regex> re;
    if (!step.body_regex.empty()) {
      try {
        re.emplace(step.body_regex);
      } catch (const std::regex_error& e) {
        r.error = "invalid body_regex '" + step.body_regex + "': " + e.what();
        result.steps.push_back(std::move(r));
        break;
      }
    }
    std::string body;
    curl_easy_setopt(h, CURLOPT_URL, step.url.c_str());
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_NOBODY, step.method == "HEAD" ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST,
                     step.method == "GET" || step.method == "HEAD" ? nullptr : step.method.c_str());
    if (step.method == "POST" || step.method == "PUT") {
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, step.body.c_str());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(step.body.size()));
    } else {
      curl_easy_setopt(h, CURLOPT_HTTPGET, step.method == "HEAD" ? 0L : 1L);
    }
    curl_slist* headers = nullptr;
    for (const auto& hd : step.headers) headers = curl_slist_append(headers, hd.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    char errbuf[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);

    const CURLcode rc = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
    curl_slist_free_all(headers);
    curl_off_t micros = 0;
    curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &micros);
    r.time = std::chrono::microseconds(micros);
    result.total_time += r.time;
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    r.status = static_cast<int>(status);
    r.cert_days_left = days_left(h);
    if (r.cert_days_left &&
        (!result.cert_days_left || *r.cert_days_left < *result.cert_days_left)) {
      result.cert_days_left = r.cert_days_left;
    }
    if (rc != CURLE_OK) {
      r.error = std::string(errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
    } else if (!status_ok(step, r.status)) {
      r.error = "status " + std::to_string(r.status) + " not expected";
    } else if (re && !std::regex_search(body, *re)) {
      r.error = "body does not match '" + step.body_regex + "'";
    }
    const bool failed = !r.error.empty();
    result.steps.push_back(std::move(r));
    if (failed) break;
  }
  return result;
}

}  // namespace duet::monitors
