// ipc/detail/region.hpp: a mapped shared region, and the checks every named one shares.
#pragma once

#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>

#include "../error.hpp"
#include "name.hpp"

namespace ipc::detail {

// Owns one mapping of shared memory: an mmap(2) area or a System V
// attachment (shmat), released the matching way. Move-only.
class mapping {
public:
    enum class kind : unsigned char { mmap, sysv };

    mapping() noexcept = default;
    mapping(void* p, std::size_t n, kind k) noexcept : p_(p), n_(n), kind_(k) {}
    mapping(mapping&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)), kind_(o.kind_) {}
    mapping& operator=(mapping&& o) noexcept {
        if (this != &o) {
            reset();
            p_ = std::exchange(o.p_, nullptr);
            n_ = std::exchange(o.n_, 0);
            kind_ = o.kind_;
        }
        return *this;
    }
    mapping(const mapping&) = delete;
    mapping& operator=(const mapping&) = delete;
    ~mapping() { reset(); }

    void reset() noexcept {
        if (!p_) return;
        if (kind_ == kind::mmap) ::munmap(p_, n_);
        else ::shmdt(p_);
        p_ = nullptr;
        n_ = 0;
    }
    explicit operator bool() const noexcept { return p_ != nullptr; }
    std::span<std::byte> bytes() const noexcept { return {static_cast<std::byte*>(p_), n_}; }

    // Maps n bytes of fd shared, read-write.
    static mapping map_fd(int fd, std::size_t n, std::error_code& ec) noexcept {
        void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            ec = last_error();
            return {};
        }
        return {p, n, kind::mmap};
    }

private:
    void* p_ = nullptr;
    std::size_t n_ = 0;
    kind kind_ = kind::mmap;
};

// Creates a region object of `size` bytes behind fd, as made by an O_EXCL
// open: exact permissions (no umask surprise), sized, mapped.
inline mapping size_and_map(int fd, std::size_t size, ::mode_t mode, std::error_code& ec) noexcept {
    if (::fchmod(fd, mode) != 0 || ::ftruncate(fd, static_cast<off_t>(size)) != 0) {
        ec = last_error();
        return {};
    }
    return mapping::map_fd(fd, size, ec);
}

// Maps all of an existing region object (its size is whatever it is now; the
// ring's header is checked against it afterwards).
inline mapping map_existing(int fd, std::error_code& ec) noexcept {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        ec = last_error();
        return {};
    }
    if (st.st_size <= 0) return {};  // not sized yet: the creator is still at work
    return mapping::map_fd(fd, static_cast<std::size_t>(st.st_size), ec);
}

}  // namespace ipc::detail
