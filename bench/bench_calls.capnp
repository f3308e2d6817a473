# peer.capnp_rpc's interface (bench/peer_capnp_rpc.cpp): one method, a request
# of `size` bytes, the 8-byte reply of every call case (bench/calls.hpp).
@0xb0ffa9c78f17d293;

interface BenchCalls {
  call @0 (request :Data) -> (value :UInt64);
}
