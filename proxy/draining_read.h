#pragma once

// Reads that remember a drained socket.
//
// asio's epoll reactor tries every read on a socket at once (a "speculative" recv) unless the
// socket's last read found the end of the stream; when the peer has not answered yet, that
// recv fails with EAGAIN and the read then waits for epoll. On a proxy that is the common case
// twice per request: right after the request goes upstream, the response is not there yet,
// and right after the response goes back, neither is the client's next request. HAProxy
// remembers instead that a read emptied the socket (fd_cant_recv()) and waits for the poller.
//
// A receive into a DrainingBuffer does the same inside asio's own reactor, with asio's own
// flag. It asks the kernel, in the same recvmsg, how much is left to read (TCP_INQ, enabled per
// socket by enableDrainingReads()): when nothing is left it reports `done_and_exhausted`, the
// status asio already gives an end of stream, and the reactor clears the socket's
// `try_speculative_[read_op]` in the same critical section as the receive
// (epoll_reactor::start_op() / descriptor_state::perform_io()). The next read is then queued on
// the reactor without a system call (and without an epoll_ctl, unlike async_wait); the next
// epoll edge for the socket sets the flag again and performs it.
//
// No wake-up can be lost:
//  - nothing was left when the flag was cleared, and every byte that arrives later raises a
//    new edge (the socket is registered edge-triggered for input for its whole life);
//  - an end of stream that arrived with the last bytes raises no edge of its own once those
//    bytes are read, but the kernel reports it as something left (TCP_INQ is 1 after a FIN:
//    tcp_inq_hint()), so the flag stays set and the next read finds the end at once. A short
//    read alone would not tell (the bytes and the FIN of a close-delimited body arrive
//    together), which is why the receive asks.
//  - a socket without TCP_INQ (no control message comes back) is read as asio reads it.
//
// The hook is an explicit specialization of asio's reactive_socket_recv_op_base for
// DrainingBuffer (the derived operation uses only its constructor and reactor_op's members).
// It depends on asio's internals, so it is pinned to Boost 1.81 (the only Boost the project
// builds with; see the static_assert). With asio's io_uring back end (scripts/build.sh uring)
// the reactive operation is not used and a DrainingBuffer is an ordinary one-buffer sequence.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/socket_base.hpp>
// (asio's detail header below uses socket_base without including it.)
#include <boost/asio/detail/reactive_socket_recv_op.hpp>
#include <boost/asio/error.hpp>
#include <boost/version.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

static_assert(BOOST_VERSION / 100 == 1081,
              "proxy/draining_read.h specializes asio 1.81's reactive_socket_recv_op_base; "
              "check it against this Boost's reactive_socket_recv_op.hpp");

namespace meshdeck::proxy {

// One contiguous receive buffer whose receive asks what is left (see above).
struct DrainingBuffer {
  using value_type = boost::asio::mutable_buffer;
  using const_iterator = const boost::asio::mutable_buffer*;

  boost::asio::mutable_buffer buffer;

  const_iterator begin() const noexcept { return &buffer; }
  const_iterator end() const noexcept { return &buffer + 1; }
};

// Receives into a DrainingBuffer on this thread that found the socket empty (EAGAIN): the
// tests' measure of the receives the flag saves.
inline thread_local uint64_t draining_reads_would_block = 0;

// `buffers` as a DrainingBuffer when it is one contiguous buffer, else unchanged.
template <typename MutableBufferSequence>
decltype(auto) drainingBuffers(const MutableBufferSequence& buffers) {
  if constexpr (std::is_convertible_v<const MutableBufferSequence&, boost::asio::mutable_buffer>)
    return DrainingBuffer{boost::asio::mutable_buffer(buffers)};
  else
    return (buffers);
}

// Asks the kernel to report, with every receive on this TCP socket, how much is left to read
// (TCP_INQ). Without it a DrainingBuffer read behaves as asio's plain one. False if the socket
// refused (not TCP, or a kernel before 4.18).
inline bool enableDrainingReads(int fd) noexcept {
  const int on = 1;
  return ::setsockopt(fd, IPPROTO_TCP, TCP_INQ, &on, sizeof on) == 0;
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
    iovec iov{o->buffer_.data(), o->buffer_.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    for (;;) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      const ssize_t n = ::recvmsg(o->socket_, &msg, o->flags_);
      if (n > 0) {
        o->ec_ = boost::system::error_code();
        o->bytes_transferred_ = static_cast<size_t>(n);
        // Exhausted only when the kernel says nothing is left (not even an end of stream).
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
          if (c->cmsg_level == IPPROTO_TCP && c->cmsg_type == TCP_CM_INQ) {
            int left;
            std::memcpy(&left, CMSG_DATA(c), sizeof left);
            return left == 0 ? done_and_exhausted : done;
          }
        return done;
      }
      if (n == 0 && (o->state_ & socket_ops::stream_oriented) != 0) {
        o->ec_ = boost::asio::error::eof;  // asio's rule: exhausted, like any 0-byte result
        o->bytes_transferred_ = 0;
        return done_and_exhausted;
      }
      if (n == 0) {  // an empty datagram
        o->ec_ = boost::system::error_code();
        o->bytes_transferred_ = 0;
        return done;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        ++meshdeck::proxy::draining_reads_would_block;
        return not_done;
      }
      o->ec_ = boost::system::error_code(errno, boost::asio::error::get_system_category());
      o->bytes_transferred_ = 0;
      return done_and_exhausted;
    }
  }

 private:
  socket_type socket_;
  socket_ops::state_type state_;
  boost::asio::mutable_buffer buffer_;
  socket_base::message_flags flags_;
};

}  // namespace boost::asio::detail
