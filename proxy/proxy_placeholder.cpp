// Replaced by the proxy implementation.
