// ipc/transport/memfd.hpp: a ring in an anonymous region, shared by fork or fd passing.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>

#include "../basic_channel.hpp"
#include "../detail/fd.hpp"
#include "../detail/fd_passing.hpp"
#include "../framing/length_prefixed.hpp"
#include "../fwd.hpp"
#include "../sync/futex.hpp"
#include "ring_region.hpp"

namespace ipc::transport {

// No name, nothing to clean up: the region lives while a descriptor or a
// mapping of it does. Hand it to a forked child (it inherits the object; make
// a new one there with memfd::open(share())) or to any process over a Unix socket
// (detail::send_fd / receive_fd). The size is sealed, so a peer cannot shrink
// the region under our mapping (which would be SIGBUS, not an error code).
template <class Ring>
class memfd : public ring_region<Ring> {
    using base = ring_region<Ring>;

public:
    memfd() noexcept = default;

    // A new region with `capacity` slots (bytes for ring::bytes), a power of two.
    [[nodiscard]] static memfd create(std::uint64_t capacity) {
        std::error_code ec;
        memfd r = create(capacity, ec);
        ipc::detail::throw_if(ec, "memfd::create");
        return r;
    }
    [[nodiscard]] static memfd create(std::uint64_t capacity, std::error_code& ec) noexcept {
        ec.clear();
        memfd r;
        const std::uint64_t size = ring::required_size<Ring>(capacity);
        if (size == 0) {
            ec = ring::capacity_error<Ring>(capacity);
            return r;
        }
        ipc::detail::unique_fd fd(::memfd_create("ipc.ring", MFD_CLOEXEC | MFD_ALLOW_SEALING));
        if (!fd) {
            ec = ipc::detail::last_error();
            return r;
        }
        auto m = ipc::detail::size_and_map(fd.get(), size, 0600, ec);
        if (ec) return r;
        if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
            ec = ipc::detail::last_error();
            return r;
        }
        Ring rg = ring::format<Ring>(m.bytes(), capacity, ec);
        if (ec) return r;
        r.base::operator=(base(std::move(m), rg));
        r.fd_ = std::move(fd);
        return r;
    }

    // Attaches to a region received as a descriptor (share(), SCM_RIGHTS),
    // checked like a named region's open: errc::layout_mismatch names the field.
    [[nodiscard]] static memfd open(ipc::detail::unique_fd fd) {
        std::error_code ec;
        memfd r = open(std::move(fd), ec);
        ipc::detail::throw_if(ec, "memfd::open");
        return r;
    }
    [[nodiscard]] static memfd open(ipc::detail::unique_fd fd, std::error_code& ec) noexcept {
        ec.clear();
        memfd r;
        auto m = ipc::detail::map_existing(fd.get(), ec);
        if (ec) return r;
        if (!m) {
            ec = ipc::detail::explain(make_error_code(errc::corrupt), "memfd: the descriptor's region is empty");
            return r;
        }
        Ring rg = ring::attach<Ring>(m.bytes(), ec);
        if (ec) return r;
        r.base::operator=(base(std::move(m), rg));
        r.fd_ = std::move(fd);
        return r;
    }

    // The region's descriptor (owned by this object).
    int fd() const noexcept { return fd_.get(); }
    // A new descriptor for the same region, to send to another process or to
    // build a second memfd from.
    ipc::detail::unique_fd share(std::error_code& ec) const noexcept {
        ipc::detail::unique_fd d(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
        if (!d) ec = ipc::detail::last_error();
        return d;
    }
    ipc::detail::unique_fd share() const {
        std::error_code ec;
        auto d = share(ec);
        ipc::detail::throw_if(ec, "memfd share");
        return d;
    }

private:
    ipc::detail::unique_fd fd_;
};

}  // namespace ipc::transport

// Channels over a memfd region (defined in ipc/fwd.hpp, included above):
// ipc::memfd_channel<T>::create(1024), then ipc::memfd_channel<T>::open(fd) in
// the process that received the descriptor; also ipc::memfd_mpmc_channel<T>
// and ipc::memfd_message_channel<T = std::string>.
