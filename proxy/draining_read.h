#pragma once

// Reads that remember a drained socket.
//
// asio's epoll reactor tries every read on a socket at once (a "speculative" recv) unless the
// socket's last read found the end of the stream; when the peer has not answered yet, that
// recv fails with EAGAIN and the read then waits for epoll. On a proxy that is the common case
// twice per request: right after the request goes upstream, the response is not there yet,
// and right after the response goes back, neither is the client's next request. HAProxy
// remembers instead that a read which returned less than it asked for emptied the socket
// (raw_sock_to_buf(): fd_cant_recv()), and waits for the poller without trying.
//
// DrainingBuffer does the same inside asio's own reactor, with asio's own flag: a receive into
// a DrainingBuffer reports a short read as `done_and_exhausted`, the status asio already gives
// an end of stream. The reactor then clears the socket's `try_speculative_[read_op]` in the same
// critical section as the recv (epoll_reactor::start_op() / descriptor_state::perform_io()),
// so the next read is queued on the reactor without a system call (and without an epoll_ctl,
// unlike async_wait). The next epoll edge for the socket sets the flag again and performs the
// queued read. No edge can be lost: the flag is cleared only right after a recv that emptied
// the receive queue, and every byte that arrives after that recv raises a new edge (the socket
// is registered edge-triggered for input for its whole life).
//
// A full read (as many bytes as asked for) leaves the flag set, so a pipelined or large message
// is read on at once. Only a single contiguous buffer is wrapped (drainingBuffers()); buffer
// sequences keep asio's plain receive.
//
// The hook is an explicit specialization of asio's reactive_socket_recv_op_base for
// DrainingBuffer (the derived operation uses only its constructor and reactor_op's members).
// It depends on asio's internals, so it is pinned to Boost 1.81 (the only Boost the project
// builds with; see the static_assert). With asio's io_uring back end (scripts/build.sh uring)
// the reactive operation is not used and a DrainingBuffer is an ordinary one-buffer sequence.

#include <boost/asio/buffer.hpp>
#include <boost/asio/socket_base.hpp>
// (asio's detail header below uses socket_base without including it.)
#include <boost/asio/detail/reactive_socket_recv_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#include <boost/version.hpp>
#include <cstddef>
#include <cstdint>
#include <type_traits>

static_assert(BOOST_VERSION / 100 == 1081,
              "proxy/draining_read.h specializes asio 1.81's reactive_socket_recv_op_base; "
              "check it against this Boost's reactive_socket_recv_op.hpp");

namespace meshdeck::proxy {

// One contiguous receive buffer whose short read marks the socket drained (see above).
struct DrainingBuffer {
  using value_type = boost::asio::mutable_buffer;
  using const_iterator = const boost::asio::mutable_buffer*;

  boost::asio::mutable_buffer buffer;

  const_iterator begin() const noexcept { return &buffer; }
  const_iterator end() const noexcept { return &buffer + 1; }
};

// Receives into a DrainingBuffer on this thread that found the socket empty (EAGAIN): the
// tests' measure of the reads the flag saves.
inline thread_local uint64_t draining_reads_would_block = 0;

// `buffers` as a DrainingBuffer when it is one contiguous buffer, else unchanged.
template <typename MutableBufferSequence>
decltype(auto) drainingBuffers(const MutableBufferSequence& buffers) {
  if constexpr (std::is_convertible_v<const MutableBufferSequence&, boost::asio::mutable_buffer>)
    return DrainingBuffer{boost::asio::mutable_buffer(buffers)};
  else
    return (buffers);
}

}  // namespace meshdeck::proxy

namespace boost::asio::detail {

template <>
class reactive_socket_recv_op_base<meshdeck::proxy::DrainingBuffer> : public reactor_op {
 public:
  reactive_socket_recv_op_base(const boost::system::error_code& success_ec, socket_type socket,
                               socket_ops::state_type state,
                               const meshdeck::proxy::DrainingBuffer& buffers,
                               socket_base::message_flags flags, func_type complete_func)
      : reactor_op(success_ec, &reactive_socket_recv_op_base::do_perform, complete_func),
        socket_(socket),
        state_(state),
        buffer_(buffers.buffer),
        flags_(flags) {}

  static status do_perform(reactor_op* base) {
    auto* o = static_cast<reactive_socket_recv_op_base*>(base);
    const bool stream = (o->state_ & socket_ops::stream_oriented) != 0;
    if (!socket_ops::non_blocking_recv1(o->socket_, o->buffer_.data(), o->buffer_.size(), o->flags_,
                                        stream, o->ec_, o->bytes_transferred_)) {
      ++meshdeck::proxy::draining_reads_would_block;
      return not_done;
    }
    // An end of stream (asio's own rule), an error, or a short read: nothing more to read
    // until the next edge.
    if (stream && o->bytes_transferred_ < o->buffer_.size()) return done_and_exhausted;
    return done;
  }

 private:
  socket_type socket_;
  socket_ops::state_type state_;
  boost::asio::mutable_buffer buffer_;
  socket_base::message_flags flags_;
};

}  // namespace boost::asio::detail
