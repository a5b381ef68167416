#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
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

}  // namespace meshdeck::proxy
