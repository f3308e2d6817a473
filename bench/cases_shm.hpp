// bench/cases_shm.hpp: the names the shared-memory parts of ipc_bench's case
// table (cases_shm.cpp, cases_shm_kernel.cpp) write their rows with: the sync
// policies, the ring kinds and shm::run's modes. Only they include it: it
// brings in shm.hpp, which the other parts need not compile.
#pragma once

#include "cases.hpp"
#include "shm.hpp"

namespace bench::cases {

namespace sy = ipc::sync;
// One template parameter, as shm::run's RingOf wants (clang 14 does not match a defaulted second one).
template <class T>
using mpmc = ipc::ring::mpmc<T>;
using ipc::ring::spsc;
using shm::mode;

}  // namespace bench::cases
