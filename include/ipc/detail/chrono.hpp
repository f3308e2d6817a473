// ipc/detail/chrono.hpp: std::chrono's durations, time points, clocks and literals.
//
// With libstdc++ (g++ 12, and clang++ on Linux), C++20's <chrono> also brings
// <sstream> and the locale machinery for chrono's I/O and formatting: a sixth
// of the compile time of <ipc/channel.hpp>, for nothing ipc uses. So ipc takes
// the part that defines the types, <bits/chrono.h> (libstdc++ 11 and later),
// and every other library gets the whole <chrono>. A program that prints or
// formats a duration includes <chrono> itself, as it would anyway.
#pragma once

#include <version>

#if defined(__GLIBCXX__) && __has_include(<bits/chrono.h>)
#include <bits/chrono.h>
#else
#include <chrono>
#endif
