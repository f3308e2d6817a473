// The two name rules (detail/name.hpp), as a table: each name, what it
// becomes or the exact error it gets.
#include "support.hpp"

#include <ipc/detail/name.hpp>

#include <limits.h>

#include <string>

namespace {

struct posix_case {
    std::string name;
    std::size_t prefix;
    std::string normalized;  // empty: refused with errc::name_invalid
};

struct path_case {
    std::string path;
    ipc::detail::parent_refs parents;
    bool ok;
};

using ipc::detail::no_name_prefix;
using ipc::detail::parent_refs;
using ipc::detail::sem_name_prefix;

}  // namespace

TEST_CASE("posix_ipc_name: optional '/', 1..NAME_MAX-prefix of [A-Za-z0-9._-], not '.' or '..'") {
    const std::string longest(NAME_MAX, 'x');
    const std::string longest_sem(NAME_MAX - sem_name_prefix, 's');
    const posix_case table[] = {
        {"jobs", no_name_prefix, "/jobs"},
        {"/jobs", no_name_prefix, "/jobs"},
        {"A-z_0.9", no_name_prefix, "/A-z_0.9"},
        {".hidden", no_name_prefix, "/.hidden"},
        {"...", no_name_prefix, "/..."},
        {longest, no_name_prefix, "/" + longest},
        {"/" + longest, no_name_prefix, "/" + longest},
        {longest_sem, sem_name_prefix, "/" + longest_sem},
        // refused
        {"", no_name_prefix, ""},
        {"/", no_name_prefix, ""},
        {"//x", no_name_prefix, ""},
        {"/a/b", no_name_prefix, ""},
        {"a/b", no_name_prefix, ""},
        {"../../etc/passwd", no_name_prefix, ""},
        {".", no_name_prefix, ""},
        {"/.", no_name_prefix, ""},
        {"..", no_name_prefix, ""},
        {"/..", no_name_prefix, ""},
        {"sp ace", no_name_prefix, ""},
        {"tab\there", no_name_prefix, ""},
        {"new\nline", no_name_prefix, ""},
        {std::string("nul\0x", 5), no_name_prefix, ""},
        {"caf\xc3\xa9", no_name_prefix, ""},
        {"star*", no_name_prefix, ""},
        {longest + "x", no_name_prefix, ""},
        {longest_sem + "s", sem_name_prefix, ""},
        {"x", NAME_MAX, ""},  // a prefix that leaves no room
    };
    for (const auto& c : table) {
        INFO("name \"", c.name, "\" prefix ", c.prefix);
        std::string out = "junk";
        std::error_code ec;
        const bool ok = ipc::detail::posix_ipc_name(c.name, out, ec, c.prefix);
        CHECK(ok == !c.normalized.empty());
        CHECK(out == c.normalized);
        if (c.normalized.empty()) {
            CHECK(ec == ipc::errc::name_invalid);
        } else {
            CHECK_FALSE(ec);
        }
    }
}

TEST_CASE("fs_path: non-empty, no NUL, < PATH_MAX, components <= NAME_MAX, names an object, no '..' unless allowed") {
    std::string long_ok;  // PATH_MAX - 1 bytes in components of NAME_MAX
    while (long_ok.size() + NAME_MAX + 1 < PATH_MAX) long_ok += "/" + std::string(NAME_MAX, 'p');
    long_ok += "/" + std::string(PATH_MAX - 2 - long_ok.size(), 'q');
    REQUIRE(long_ok.size() == PATH_MAX - 1);
    const path_case table[] = {
        {"/run/app/log", parent_refs::refuse, true},
        {"relative/log", parent_refs::refuse, true},
        {"log", parent_refs::refuse, true},
        {"/a/..b/c..", parent_refs::refuse, true},  // names that merely contain dots
        {"/a/./b", parent_refs::refuse, true},
        {"/" + std::string(NAME_MAX, 'c') + "/x", parent_refs::refuse, true},
        {"/a/.../b", parent_refs::refuse, true},
        {long_ok, parent_refs::refuse, true},
        {"../x", parent_refs::allow, true},
        {"/a/../b", parent_refs::allow, true},
        // refused
        {"", parent_refs::refuse, false},
        {"", parent_refs::allow, false},
        {"..", parent_refs::refuse, false},
        {"../x", parent_refs::refuse, false},
        {"/a/../b", parent_refs::refuse, false},
        {"/a/..", parent_refs::refuse, false},
        {"a//../b", parent_refs::refuse, false},
        {"/dir/", parent_refs::refuse, false},  // the last component must name an object
        {"/dir/.", parent_refs::refuse, false},
        {"/dir/..", parent_refs::allow, false},
        {"/" + std::string(NAME_MAX + 1, 'c') + "/x", parent_refs::refuse, false},
        {std::string("/a\0b", 4), parent_refs::refuse, false},
        {std::string("/a\0b", 4), parent_refs::allow, false},
        {long_ok + "p", parent_refs::allow, false},
    };
    for (const auto& c : table) {
        INFO("path \"", c.path.substr(0, 40), "\" (", c.path.size(), " bytes) parents ", c.parents == parent_refs::allow);
        std::error_code ec;
        CHECK(ipc::detail::fs_path(c.path, ec, c.parents) == c.ok);
        if (c.ok) {
            CHECK_FALSE(ec);
        } else {
            CHECK(ec == ipc::errc::name_invalid);
        }
    }
}
