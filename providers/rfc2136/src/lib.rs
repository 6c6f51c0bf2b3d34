//! RFC 2136 adapter (in progress).
