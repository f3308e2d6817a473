// tests/shared_memory.hpp: memory both sides of a fork() share, for a child's answers.
#pragma once

#include <doctest/doctest.h>

#include <sys/mman.h>

#include <new>

namespace ipc_test {

// One T in an anonymous MAP_SHARED mapping, as a real program would map it:
// what a forked child writes there, the parent reads. Unmapped on destruction.
template <class T>
class shared {
public:
    shared() {
        void* p = ::mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        REQUIRE(p != MAP_FAILED);
        p_ = new (p) T{};
    }
    ~shared() { ::munmap(p_, sizeof(T)); }
    shared(const shared&) = delete;
    shared& operator=(const shared&) = delete;
    T* operator->() const { return p_; }
    T& operator*() const { return *p_; }

private:
    T* p_;
};

}  // namespace ipc_test
