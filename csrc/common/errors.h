// Error helpers: native code reports bad input by throwing, never by aborting.
// pybind11 maps std::invalid_argument to ValueError and std::runtime_error to
// RuntimeError, so every failure reaches Python as an exception.
#pragma once

#include <cstdio>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace fastgan {

// Message formatting without iostreams: no std::locale or stream state is touched on the error
// path, which keeps the messages independent of whatever locale the host process has set.
namespace detail {
inline void append(std::string& s, const std::string& v) { s += v; }
inline void append(std::string& s, const char* v) { s += v; }
inline void append(std::string& s, char v) { s += v; }
inline void append(std::string& s, bool v) { s += v ? "true" : "false"; }
template <typename T>
std::enable_if_t<std::is_integral_v<T>> append(std::string& s, T v) {
  s += std::to_string(v);
}
template <typename T>
std::enable_if_t<std::is_floating_point_v<T>> append(std::string& s, T v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(v));
  s += buf;
}
}  // namespace detail

template <typename... Args>
std::string str_cat(const Args&... args) {
  std::string s;
  (detail::append(s, args), ...);
  return s;
}

}  // namespace fastgan

// FASTGAN_CHECK_ARG(cond, "message", parts...) -> ValueError in Python.
#define FASTGAN_CHECK_ARG(cond, ...)                                        \
  do {                                                                      \
    if (!(cond)) throw std::invalid_argument(::fastgan::str_cat(__VA_ARGS__)); \
  } while (0)

// FASTGAN_CHECK_RT(cond, "message", parts...) -> RuntimeError in Python.
#define FASTGAN_CHECK_RT(cond, ...)                                         \
  do {                                                                      \
    if (!(cond)) throw std::runtime_error(::fastgan::str_cat(__VA_ARGS__)); \
  } while (0)
