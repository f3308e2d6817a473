// ipc/eos.hpp: when a receiver's stream ends, on channels whose senders come and go.
#pragma once

namespace ipc {

// What a receiver takes as the end of its stream (status::closed, after
// everything sent has been received). The receiver chooses, for its own end:
//
//   shared-memory rings    rx.transport().end_of_stream(eos::never)
//     spsc, bytes          default when_all_senders_left: one sender, whose
//                          leaving is the end (a restarted one is a new stream)
//     mpmc                 default never: producers come and go, and a count
//                          that drops to zero says nothing of the next one
//     broadcast            default never: a feed outlives its publisher (a
//                          restarted one carries on); a dead publisher is
//                          still peer_dead to a subscriber with nothing to read
//   FIFO readers           rx.transport().end_of_stream(eos::never)
//                          default when_all_senders_left: closed once a writer
//                          came and every writer left; never waits for the next
//   pipes, sockets         end of file, from the kernel (not a choice)
//   POSIX, System V queues never: the kernel keeps no count of senders, so a
//                          queue cannot tell that the last one left
enum class eos : unsigned char {
    // Closed once every sender has left and the stream is drained (a sender
    // attaching later starts it again). A receiver whose senders all died
    // gets status::peer_dead instead.
    when_all_senders_left,
    // Never closed: a receiver waits for the next sender (until its deadline);
    // senders that leave or die end nothing.
    never,
};

}  // namespace ipc
