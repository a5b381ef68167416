#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace meshdeck::proxy {

// The proxy's coroutines run on the worker's io_context executor itself, like its sockets and
// timers (tls::MeshStream): with boost::asio::awaitable's default any_io_executor every resume
// and every co_await went through the type-erased executor (copies, prefer/require dispatch).
using Executor = boost::asio::io_context::executor_type;
template <typename T>
using Awaitable = boost::asio::awaitable<T, Executor>;

// Completion token of the data path: errors come back as values, never as exceptions.
inline constexpr auto kNoThrow = boost::asio::as_tuple(boost::asio::use_awaitable_t<Executor>{});

// The same for an operation co_awaited at once, where it is started: the coroutine awaits the
// operation itself (Asio's awaitable_async_op), as values too. use_awaitable's async_result makes
// a coroutine of its own for every co_await (a 208 to 256 byte frame from the thread's frame
// cache), and a request that holds one more frame than the cache keeps pays a malloc and a free
// for it (issue 20). Not for an operation kept, returned as an Awaitable or combined with the
// awaitable operators (||, &&): those need kNoThrow's awaitable.
inline constexpr auto kNoThrowOp = boost::asio::as_tuple(boost::asio::deferred);

}  // namespace meshdeck::proxy
