// ipc/rpc.hpp: typed remote calls over Unix and TCP sockets, shared memory and pipes.
// Only includes: the parts live in ipc/rpc/.
#pragma once

#include "rpc/client.hpp"    // basic_client, pending, connect_unix/connect_tcp/open_shm
#include "rpc/link.hpp"      // socket_link, split_link, pipe_link_pair, shm_endpoint
#include "rpc/protocol.hpp"  // the wire format, its decoder, rpc::errc
#include "rpc/server.hpp"    // server: on(name, handler), serve(listener, stop), serve_link
