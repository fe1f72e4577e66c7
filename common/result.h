#pragma once

// Errors as values. A function that can fail returns Result<T>: either a T or
// an Error (an std::error_code from a per-module enum, plus a message a person
// can act on). Result is [[nodiscard]], so a dropped result is a compile error
// under -Werror.

#include <cassert>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace duet {

struct Error {
  std::error_code code;
  std::string message;

  // "category: message", e.g. "store: schema version 7 is newer than this binary (3)".
  std::string to_string() const;
};

template <typename E>
requires std::is_error_code_enum_v<E> Error make_error(E e, std::string message) {
  return Error{std::error_code(e), std::move(message)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }
  Error&& take_error() && {
    assert(!ok());
    return std::get<1>(std::move(v_));
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT: implicit by design

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const {
    assert(failed_);
    return error_;
  }
  Error&& take_error() && {
    assert(failed_);
    return std::move(error_);
  }

 private:
  Error error_;
  bool failed_ = false;
};

using Status = Result<void>;

inline Status ok_status() { return {}; }

}  // namespace duet

// Propagates an error from an expression yielding Result<...>.
#define DUET_TRY(expr)                                 \
  do {                                                 \
    auto duet_try_result_ = (expr);                    \
    if (!duet_try_result_.ok()) {                      \
      return std::move(duet_try_result_).take_error(); \
    }                                                  \
  } while (false)

#define DUET_CONCAT_INNER(a, b) a##b
#define DUET_CONCAT(a, b) DUET_CONCAT_INNER(a, b)

// DUET_ASSIGN_OR_RETURN(auto x, expr): x = value of expr, or return its error.
#define DUET_ASSIGN_OR_RETURN(decl, expr) \
  DUET_ASSIGN_OR_RETURN_IMPL(DUET_CONCAT(duet_res_, __LINE__), decl, expr)
#define DUET_ASSIGN_OR_RETURN_IMPL(tmp, decl, expr)  \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return std::move(tmp).take_error(); \
  decl = std::move(tmp).value()
