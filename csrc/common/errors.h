// Error helpers: native code reports bad input by throwing, never by aborting.
// pybind11 maps std::invalid_argument to ValueError and std::runtime_error to
// RuntimeError, so every failure reaches Python as an exception.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace fastgan {

template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
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
