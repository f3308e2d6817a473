// ipc_bench's cases (cases.hpp): shm channels that wait on an eventfd or a semaphore.
#include "cases_shm.hpp"

namespace bench::cases {

namespace {

const case_entry shm_kernel_table[] = {
    {"ipc.shm.eventfd", sleep_floor, shm::run<spsc, sy::eventfd, mode::copy>, ring, mem},
    {"ipc.shm.eventfd.loan", sleep_floor, shm::run<spsc, sy::eventfd, mode::loan>, ring},
    {"ipc.shm.eventfd.batch", sleep_floor, shm::run<spsc, sy::eventfd, mode::batch>, ring, mem},
    {"ipc.shm_mpmc.eventfd", sleep_floor, shm::run<mpmc, sy::eventfd, mode::copy>, ring, mem},
    {"ipc.shm_bytes.eventfd", sleep_floor, shm::run<spsc, sy::eventfd, mode::bytes>, ring, mem},
    {"ipc.shm.posix_sem", sleep_floor, shm::run<spsc, sy::posix_sem, mode::copy>, ring, mem},
    {"ipc.shm.posix_sem.loan", sleep_floor, shm::run<spsc, sy::posix_sem, mode::loan>, ring},
    {"ipc.shm.posix_sem.batch", sleep_floor, shm::run<spsc, sy::posix_sem, mode::batch>, ring, mem},
    {"ipc.shm_mpmc.posix_sem", sleep_floor, shm::run<mpmc, sy::posix_sem, mode::copy>, ring, mem},
    {"ipc.shm_bytes.posix_sem", sleep_floor, shm::run<spsc, sy::posix_sem, mode::bytes>, ring, mem},
    {"ipc.shm.sysv_sem", sleep_floor, shm::run<spsc, sy::sysv_sem, mode::copy>, ring, mem},
    {"ipc.shm.sysv_sem.loan", sleep_floor, shm::run<spsc, sy::sysv_sem, mode::loan>, ring},
    {"ipc.shm.sysv_sem.batch", sleep_floor, shm::run<spsc, sy::sysv_sem, mode::batch>, ring, mem},
    {"ipc.shm_mpmc.sysv_sem", sleep_floor, shm::run<mpmc, sy::sysv_sem, mode::copy>, ring, mem},
    {"ipc.shm_bytes.sysv_sem", sleep_floor, shm::run<spsc, sy::sysv_sem, mode::bytes>, ring, mem},
};

}  // namespace

std::span<const case_entry> shm_kernel_cases() { return shm_kernel_table; }

}  // namespace bench::cases
